#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/torch_compat.h"
#include "train/checkpoint.h"
#include "train/model.h"
#include "train/predict.h"

namespace tenor::train {
namespace {

ModelShape shape() {
  ModelShape s;
  s.lld_features = 5;
  s.functional_features = 4;
  s.vocab_size = 50;
  s.tasks = {{"escalation", data::TaskType::kOrdinal, 4, "customer", true, true, true},
             {"empathy", data::TaskType::kBinary, 2, "agent", false, false, true},
             {"topic", data::TaskType::kCategorical, 3, "customer", true, true, true}};
  return s;
}

Batch batch(int64_t b) {
  Batch x;
  x.frames = torch::randn({b, 7, 5});
  x.frame_len = torch::tensor(std::vector<int64_t>{7, 3, 0}).slice(0, 0, b);
  x.functionals = torch::randn({b, 4});
  x.func_mask = torch::ones({b, 4});
  x.tokens = torch::randint(1, 50, {b, 6}, torch::kLong);
  x.token_len = torch::tensor(std::vector<int64_t>{6, 0, 2}).slice(0, 0, b);
  x.labels =
      torch::tensor(std::vector<int64_t>{3, 1, -1, 0, -1, 2, 1, 0, 0}).view({3, 3}).slice(0, 0, b);
  return x;
}

// shape.json stores each task's type with data::to_string; reading it back gives the same
// types, and a type it does not know is a DataError naming the file and the task (it was
// read as binary without a word before issue 17).
TEST(Shape, TaskTypesRoundTripAndAnUnknownTypeIsRefused) {
  const ModelShape s = shape();
  const ModelShape back = shape_from_json(shape_to_json(s), "RUN/shape.json");
  ASSERT_EQ(back.tasks.size(), s.tasks.size());
  for (size_t k = 0; k < s.tasks.size(); ++k) EXPECT_EQ(back.tasks[k].type, s.tasks[k].type);
  EXPECT_EQ(shape_to_json(s)["tasks"][2]["type"], "categorical");

  nlohmann::json j = shape_to_json(s);
  j["tasks"][2]["type"] = "nominal";
  try {
    shape_from_json(j, "RUN/shape.json");
    FAIL() << "an unknown task type was accepted";
  } catch (const DataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("RUN/shape.json, task 'topic' has type 'nominal'"), std::string::npos)
        << what;
  }
  j["tasks"][2]["type"] = 3;
  EXPECT_THROW(shape_from_json(j, "RUN/shape.json"), DataError);
}

TEST(Model, StableParameterNames) {
  torch::manual_seed(0);
  auto m = make_model(shape(), ModelConfig{});
  std::vector<std::string> names;
  for (const auto& p : m->named_parameters()) names.push_back(p.key());
  // Checkpoint keys and ONNX initializer names: changing them breaks saved runs.
  for (const char* expected :
       {"prosody.conv.weight", "prosody.gru.weight_ih_l0", "prosody.gru.weight_hh_l0_reverse",
        "prosody.pool.score.weight", "prosody.proj.weight", "functionals.weight",
        "text.embed.weight", "text.gru.weight_ih_l0", "gate.weight", "ngrams.weight", "norm.weight",
        "head_escalation.weight", "bias_escalation", "head_empathy.weight", "head_empathy.bias",
        "head_topic.weight"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  ModelConfig linear;
  linear.type = "linear";
  auto l = make_model(shape(), linear);
  std::vector<std::string> lnames;
  for (const auto& p : l->named_parameters()) lnames.push_back(p.key());
  // A module's own parameters come before its submodules'.
  EXPECT_EQ(lnames,
            (std::vector<std::string>{"bias_escalation", "ngrams.weight", "head_escalation.weight",
                                      "head_empathy.weight", "head_empathy.bias",
                                      "head_topic.weight", "head_topic.bias"}));
}

// model.members: each member its own fusion model under "member<i>." (the checkpoint keys and
// ONNX initializer names), from its own random start; the ensemble's logits are their mean.
TEST(Model, AnEnsembleScoresTheMeanOfItsMembersFromTheirOwnStarts) {
  torch::manual_seed(0);
  ModelConfig c;
  c.members = 3;
  auto m = make_model(shape(), c);
  ASSERT_NE(dynamic_cast<EnsembleModel*>(m.get()), nullptr);
  const auto members = m->members();
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(as_fusion(*m), members[0]);
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : m->named_parameters()) params[p.key()] = p.value();
  for (const char* expected : {"member0.prosody.conv.weight", "member1.text.embed.weight",
                               "member2.head_escalation.weight", "member2.bias_escalation"})
    EXPECT_TRUE(params.count(expected)) << expected;
  EXPECT_EQ(params.size(), 3 * make_model(shape(), ModelConfig{})->named_parameters().size());
  EXPECT_FALSE(torch::equal(params["member0.prosody.conv.weight"],
                            params["member1.prosody.conv.weight"]));
  m->eval();
  const Batch b = batch(3);
  const auto mean = m->logits(b);
  ASSERT_EQ(mean.size(), 3u);
  for (size_t t = 0; t < mean.size(); ++t) {
    auto sum = torch::zeros_like(mean[t]);
    for (auto* member : members) sum += member->logits(b)[t];
    EXPECT_TRUE(torch::allclose(mean[t], sum / 3, 1e-6, 1e-6)) << t;
    EXPECT_FALSE(torch::allclose(mean[t], members[0]->logits(b)[t])) << t;
  }
  // One model is its own only member.
  auto one = make_model(shape(), ModelConfig{});
  EXPECT_EQ(one->members(), std::vector<TaskModel*>{one.get()});
}

// Each member's gradients are clipped to the norm on their own: a member with a huge gradient
// does not shrink another's step. The returned norm is over all gradients, before clipping.
TEST(Model, EachMemberOfAnEnsembleIsClippedOnItsOwn) {
  torch::manual_seed(0);
  ModelConfig c;
  c.members = 2;
  auto m = make_model(shape(), c);
  const auto members = m->members();
  double n0 = 0, n1 = 0;
  for (auto& p : members[0]->parameters()) {
    p.mutable_grad() = torch::full_like(p, 10.0);
    n0 += 100.0 * double(p.numel());
  }
  for (auto& p : members[1]->parameters()) {
    p.mutable_grad() = torch::full_like(p, 1e-4);
    n1 += 1e-8 * double(p.numel());
  }
  const double norm = clip_member_gradients(*m, 1.0);
  EXPECT_NEAR(norm, std::sqrt(n0 + n1), 1e-3 * std::sqrt(n0 + n1));
  double after0 = 0;
  for (auto& p : members[0]->parameters()) after0 += p.grad().pow(2).sum().item<double>();
  EXPECT_NEAR(std::sqrt(after0), 1.0, 1e-4);
  for (auto& p : members[1]->parameters())
    EXPECT_TRUE(torch::allclose(p.grad(), torch::full_like(p, 1e-4))) << "member 1 was clipped";
}

TEST(Model, BidirectionalGruOnPaddedBatchesEqualsPackedSequences) {
  namespace rnn = torch::nn::utils::rnn;
  for (int layers : {1, 2}) {
    torch::manual_seed(layers);
    torch::nn::GRU gru(
        torch::nn::GRUOptions(4, 3).num_layers(layers).batch_first(true).bidirectional(true));
    auto x = torch::randn({4, 6, 4}, torch::requires_grad());
    auto len = torch::tensor({6, 3, 1, 0}, torch::kLong);
    // Reference: packed over max(len, 1) steps, zeros after.
    auto packed = rnn::pack_padded_sequence(x, len.clamp_min(1), true, false);
    auto want = std::get<0>(rnn::pad_packed_sequence(
        std::get<0>(gru->forward_with_packed_input(packed)), true, 0.0, 6));
    auto got = run_bigru(gru, x, len);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-6) << layers << " layers";
    // Same gradients for the weights and the input.
    auto w = torch::randn_like(want);
    auto gw = torch::autograd::grad({(want * w).sum()}, {x, gru->parameters()[0]});
    auto gg = torch::autograd::grad({(got * w).sum()}, {x, gru->parameters()[0]});
    for (size_t i = 0; i < gw.size(); ++i)
      EXPECT_LE((gw[i] - gg[i]).abs().max().item<double>(), 1e-5) << layers << " layers";
  }
}

TEST(Model, ShapesProbabilitiesAndMissingModalities) {
  torch::manual_seed(0);
  for (const char* type : {"fusion", "linear"}) {
    ModelConfig c;
    c.type = type;
    auto m = make_model(shape(), c);
    m->eval();
    auto out = m->logits(batch(3));
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].sizes(), (std::vector<int64_t>{3, 3}));  // ordinal: K - 1 cumulative logits
    EXPECT_EQ(out[1].sizes(), (std::vector<int64_t>{3, 1}));
    EXPECT_EQ(out[2].sizes(), (std::vector<int64_t>{3, 3}));
    for (size_t k = 0; k < 3; ++k) {
      auto p = task_probabilities(m->tasks()[k], out[k]);
      EXPECT_TRUE(torch::allclose(p.sum(1), torch::ones({3}), 1e-5, 1e-5)) << type;
      EXPECT_TRUE(p.isfinite().all().item<bool>()) << type;
    }
  }
}

TEST(Model, AgentTaskIgnoresVoiceUnlessOptedIn) {
  // Changing only the acoustic inputs must not move a text-only (agent) task's output.
  torch::manual_seed(0);
  auto m = make_model(shape(), ModelConfig{});
  m->eval();
  auto a = batch(3);
  auto b = a;
  b.frames = torch::randn({3, 7, 5});
  b.functionals = torch::randn({3, 4});
  auto la = m->logits(a), lb = m->logits(b);
  EXPECT_TRUE(torch::allclose(la[1], lb[1], 0, 0)) << "empathy (agent) used the voice";
  EXPECT_FALSE(torch::allclose(la[0], lb[0])) << "escalation (customer) should use the voice";
}

TEST(Model, ContextConditionsTextTasksOnlyWhereThereIsAPreviousSegment) {
  torch::manual_seed(0);
  ModelConfig c;
  c.context_tokens = 4;
  auto m = make_model(shape(), c);
  EXPECT_EQ(m->context_tokens(), 4);
  EXPECT_EQ(make_model(shape(), ModelConfig{})->context_tokens(), 0);
  m->eval();
  for (auto& p : m->parameters()) p.data().uniform_(-0.5, 0.5);
  auto a = batch(3);
  a.ctx_tokens = torch::randint(1, 50, {3, 4}, torch::kLong);
  a.ctx_len = torch::tensor(std::vector<int64_t>{4, 2, 0});
  auto b = a;
  b.ctx_tokens = torch::randint(1, 50, {3, 4}, torch::kLong);
  auto la = m->logits(a), lb = m->logits(b);
  // Row 0 has text and a previous segment: another context moves its text task.
  EXPECT_FALSE(torch::allclose(la[1][0], lb[1][0])) << "context ignored";
  // Row 2 has no previous segment (ctx_len 0): its outputs do not depend on ctx_tokens.
  for (size_t k = 0; k < la.size(); ++k) EXPECT_TRUE(torch::equal(la[k][2], lb[k][2])) << k;
  // Without the context fields (a batch from before context) the model still runs.
  auto plain = m->logits(batch(3));
  EXPECT_EQ(plain.size(), 3u);
}

TEST(Model, LossesAreFiniteAndSkipUnlabelledRows) {
  auto s = shape();
  auto m = make_model(s, ModelConfig{});
  auto x = batch(3);
  auto out = m->logits(x);
  for (const char* loss : {"ce", "balanced", "focal"}) {
    for (size_t k = 0; k < 3; ++k) {
      auto l = task_loss(s.tasks[k], out[k], x.labels.select(1, int64_t(k)),
                         torch::ones({s.tasks[k].num_classes}), loss, 2.0);
      ASSERT_TRUE(l.defined());
      EXPECT_TRUE(std::isfinite(l.item<double>()));
    }
  }
  EXPECT_FALSE(
      task_loss(s.tasks[0], out[0], torch::full({3}, -1, torch::kLong), {}, "ce", 0).defined());
}

TEST(Model, OrdinalProbabilitiesFollowThresholds) {
  TaskSpec t{"e", data::TaskType::kOrdinal, 3, "customer"};
  // P(y > 0) = 0.9, P(y > 1) = 0.2 -> P = [0.1, 0.7, 0.2].
  auto logits =
      torch::tensor({std::log(0.9 / 0.1), std::log(0.2 / 0.8)}).view({1, 2}).to(torch::kFloat);
  auto p = task_probabilities(t, logits);
  EXPECT_NEAR(p[0][0].item<float>(), 0.1, 1e-5);
  EXPECT_NEAR(p[0][1].item<float>(), 0.7, 1e-5);
  EXPECT_NEAR(p[0][2].item<float>(), 0.2, 1e-5);
}

}  // namespace
}  // namespace tenor::train

namespace tenor::train {
namespace {

TEST(Autocast, Bf16InsideTheScopeOnlyAndTrainingStillWorks) {
  // The same guard runs CUDA autocast in training; on CPU it shows the mechanism works.
  auto linear = torch::nn::Linear(8, 4);
  auto x = torch::randn({2, 8});
  {
    compat::Autocast amp(torch::kCPU, true, torch::kBFloat16);
    EXPECT_EQ(linear->forward(x).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(linear->forward(x).scalar_type(), torch::kFloat);
  {
    compat::Autocast off(torch::kCPU, false, torch::kBFloat16);
    EXPECT_EQ(linear->forward(x).scalar_type(), torch::kFloat);
  }
  // A fusion model's loss under bf16 autocast is finite and backpropagates into fp32 weights.
  torch::manual_seed(0);
  auto s = shape();
  auto m = make_model(s, ModelConfig{});
  torch::Tensor loss;
  {
    compat::Autocast amp(torch::kCPU, true, torch::kBFloat16);
    auto out = m->logits(batch(3));
    loss = task_loss(s.tasks[0], out[0], batch(3).labels.select(1, 0), {}, "ce", 0);
  }
  loss.backward();
  for (const auto& p : m->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat);
  }
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
}

/// A pool as older tenor versions built it: the score Linear with a bias.
struct LegacyPoolImpl : torch::nn::Module {
  explicit LegacyPoolImpl(int dim) { score = register_module("score", torch::nn::Linear(dim, 1)); }
  torch::nn::Linear score{nullptr};
};
TORCH_MODULE(LegacyPool);

template <typename Pool>
struct HolderImpl : torch::nn::Module {
  explicit HolderImpl(Pool p) : pool(register_module("pool", p)) {}
  Pool pool;
};

// Checkpoints written before the pool lost its bias: the weights load (the bias is ignored;
// softmax over time does not see a constant shift, so the outputs are those the old model
// computed), resuming is refused with a message, and any other unknown parameter is refused.
TEST(Checkpoint, LegacyPoolBiasIsIgnoredForWeightsAndRefusedForResume) {
  torch::manual_seed(0);
  const auto file = std::filesystem::temp_directory_path() /
                    ("tenor-legacy-" + std::to_string(::getpid()) + ".pt");
  auto old_pool = LegacyPool(4);
  {
    torch::NoGradGuard no_grad;
    old_pool->score->bias.fill_(3.0);
  }
  auto old_model = std::make_shared<HolderImpl<LegacyPool>>(old_pool);
  save_checkpoint(file, *old_model, nullptr, TrainState{});

  auto model = std::make_shared<HolderImpl<MaskedAttentionPool>>(MaskedAttentionPool(4));
  load_checkpoint(file, *model, nullptr, false);
  auto h = torch::randn({2, 5, 4});
  auto len = torch::tensor(std::vector<int64_t>{5, 2});
  auto s = old_pool->score->forward(h).squeeze(-1).masked_fill(
      ~(torch::arange(5).unsqueeze(0) < len.unsqueeze(1)), -1e9);
  auto mask = (torch::arange(5).unsqueeze(0) < len.unsqueeze(1)).to(torch::kFloat);
  auto old_out = ((torch::softmax(s, 1) * mask).unsqueeze(-1) * h).sum(1);
  EXPECT_LE((model->pool->forward(h, len) - old_out).abs().max().item<double>(), 1e-6);

  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-3));
  try {
    load_checkpoint(file, *model, &optimizer, false);
    ADD_FAILURE() << "resuming from a checkpoint with a pool bias must fail";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("'pool.score.bias', an attention-pool score bias of an "
                                         "older tenor"),
              std::string::npos)
        << e.what();
  }

  auto other = std::make_shared<HolderImpl<torch::nn::Linear>>(torch::nn::Linear(4, 1));
  save_checkpoint(file, *other, nullptr, TrainState{});
  auto no_bias = std::make_shared<HolderImpl<torch::nn::Linear>>(
      torch::nn::Linear(torch::nn::LinearOptions(4, 1).bias(false)));
  EXPECT_THROW(load_checkpoint(file, *no_bias, nullptr, false), DataError);
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace tenor::train
