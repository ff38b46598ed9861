// The weight average of optim.ema_decay (train/weight_average.h): its arithmetic, the swap
// the trainer scores dev with, and its round trip through a checkpoint.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "tests/data/fixtures.h"
#include "train/checkpoint.h"
#include "train/weight_average.h"

namespace tenor::test {
namespace {

using train::WeightAverage;

/// A 3 -> 2 linear layer with weight `w` everywhere and bias 0.25.
torch::nn::Linear layer(float w) {
  torch::nn::Linear l(3, 2);
  torch::NoGradGuard no_grad;
  l->weight.fill_(w);
  l->bias.fill_(0.25);
  return l;
}

TEST(WeightAverage, FollowsTheWeightsAfterTensorflowsWarmUp) {
  torch::nn::Linear model = layer(0);
  WeightAverage average(*model, 0.9);
  {
    torch::NoGradGuard no_grad;
    model->weight.fill_(1);
  }
  // Step 0: d = min(0.9, 1 / 10) = 0.1, so the average moves 0.9 of the way.
  average.update(*model, 0);
  EXPECT_NEAR(average.tensors().at("model.weight")[0][0].item<double>(), 0.9, 1e-6);
  // Late in training d = decay: 0.9 * 0.9 + 0.1 * 1.
  average.update(*model, 1000);
  EXPECT_NEAR(average.tensors().at("model.weight")[0][0].item<double>(), 0.91, 1e-6);
  // A weight that never changed (a frozen layer) keeps its exact bits.
  EXPECT_TRUE(torch::equal(average.tensors().at("model.bias"), model->bias));
}

TEST(WeightAverage, SwapGivesTheModelTheAverageAndTwiceRestoresBoth) {
  torch::nn::Linear model = layer(0);
  WeightAverage average(*model, 0.5);
  {
    torch::NoGradGuard no_grad;
    model->weight.fill_(1);
  }
  average.update(*model, 1000);  // 0.5
  const torch::Tensor trained = model->weight.detach().clone();
  const void* storage = model->weight.data_ptr();  // the optimizer's tensor: swapped in place
  {
    const train::AveragedWeights averaged(&average, *model);
    EXPECT_NEAR(model->weight[1][2].item<double>(), 0.5, 1e-6);
    EXPECT_EQ(storage, model->weight.data_ptr());
  }
  EXPECT_TRUE(torch::equal(model->weight, trained));
  EXPECT_NEAR(average.tensors().at("model.weight")[1][2].item<double>(), 0.5, 1e-6);
  { const train::AveragedWeights none(nullptr, *model); }  // no average: no change
  EXPECT_TRUE(torch::equal(model->weight, trained));
}

TEST(WeightAverage, RefusesADecayOutsideZeroToOne) {
  torch::nn::Linear model = layer(0);
  EXPECT_THROW(WeightAverage(*model, 1.0), UsageError);
  EXPECT_THROW(WeightAverage(*model, 0.0), UsageError);
}

TEST(WeightAverage, TravelsInTheCheckpointAndIsRequiredOnResume) {
  const fs::path dir = make_temp_dir("weight-average");
  torch::nn::Linear model = layer(0);
  WeightAverage average(*model, 0.9);
  {
    torch::NoGradGuard no_grad;
    model->weight.fill_(2);
  }
  average.update(*model, 1000);  // 0.2
  train::save_checkpoint(dir / "last.pt", *model, nullptr, {}, &average);
  train::save_checkpoint(dir / "plain.pt", *model, nullptr, {});

  torch::nn::Linear other = layer(5);
  WeightAverage restored(*other, 0.9);
  train::load_checkpoint(dir / "last.pt", *other, nullptr, false, &restored);
  EXPECT_TRUE(torch::equal(other->weight, model->weight));  // the training weights
  EXPECT_TRUE(torch::equal(restored.tensors().at("model.weight"),
                           average.tensors().at("model.weight")));
  // A checkpoint without the average cannot resume a run that averages.
  try {
    train::load_checkpoint(dir / "plain.pt", *other, nullptr, false, &restored);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("has no weight average for 'model."),
              std::string::npos)
        << e.what();
  }
  // Eval, export and predict read the weights alone.
  torch::nn::Linear reader = layer(7);
  train::load_checkpoint(dir / "last.pt", *reader, nullptr, false);
  EXPECT_TRUE(torch::equal(reader->weight, model->weight));
}

}  // namespace
}  // namespace tenor::test
