#include "train/weight_average.h"

#include <torch/torch.h>

#include <algorithm>
#include <functional>

#include "core/error.h"

namespace tenor::train {
namespace {

/// Calls f(key, tensor) for every parameter and buffer, keyed as checkpoints key them.
void each_weight(const torch::nn::Module& model,
                 const std::function<void(const std::string&, const torch::Tensor&)>& f) {
  for (const auto& p : model.named_parameters()) f("model." + p.key(), p.value());
  for (const auto& b : model.named_buffers()) f("buffer." + b.key(), b.value());
}

}  // namespace

WeightAverage::WeightAverage(const torch::nn::Module& model, double decay) : decay_(decay) {
  if (!(decay > 0 && decay < 1))
    throw UsageError("a weight average needs a decay in (0, 1), got " + std::to_string(decay));
  reset(model);
}

void WeightAverage::reset(const torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  average_.clear();
  each_weight(model, [&](const std::string& key, const torch::Tensor& w) {
    average_[key] = w.detach().clone();
  });
}

void WeightAverage::update(const torch::nn::Module& model, int64_t step) {
  torch::NoGradGuard no_grad;
  const double d = std::min(decay_, double(1 + step) / double(10 + step));
  each_weight(model, [&](const std::string& key, const torch::Tensor& w) {
    torch::Tensor& a = average_.at(key);
    if (a.is_floating_point())
      a.lerp_(w.detach(), 1.0 - d);  // a + (1 - d)(w - a): exact when w == a
    else
      a.copy_(w.detach());
  });
}

void WeightAverage::swap(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  each_weight(model, [&](const std::string& key, const torch::Tensor& w) {
    torch::Tensor& a = average_.at(key);
    torch::Tensor held = w.detach().clone();
    w.detach().copy_(a);
    a.copy_(held);
  });
}

AveragedWeights::AveragedWeights(WeightAverage* average, torch::nn::Module& model)
    : average_(average), model_(model) {
  if (average_) average_->swap(model_);
}

AveragedWeights::~AveragedWeights() {
  if (average_) average_->swap(model_);
}

}  // namespace tenor::train
