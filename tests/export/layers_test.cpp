// Parity of every exportable layer: each LibTorch module with random weights against its
// ONNX graph in ONNX Runtime (CPU), max |delta| <= 1e-5 unless stated; plus the whole
// FusionModel and LinearModel on a hand-made store (normalisation in the graph included),
// the initializer names, and the refusal of an unsupported module.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "export/graph_builder.h"
#include "export/onnx_layers.h"
#include "export/ort_runner.h"
#include "export/parity.h"

namespace tenor::onnx_export {
namespace {
namespace fs = std::filesystem;
using onnx::TensorProto;

constexpr double kTol = 1e-5;

HostTensor to_host(const torch::Tensor& t) {
  auto c = t.contiguous();
  if (c.scalar_type() == torch::kLong) {
    std::vector<int64_t> v(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
    return HostTensor::from_i64(c.sizes().vec(), v);
  }
  c = c.to(torch::kFloat);
  std::vector<float> v(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return HostTensor::from_f32(c.sizes().vec(), v);
}

torch::Tensor from_host(const HostTensor& t) {
  return torch::from_blob(const_cast<float*>(t.f32()), t.dims, torch::kFloat).clone();
}

std::vector<Dim> dyn(int64_t rank) {
  static const char* names[] = {"d0", "d1", "d2", "d3"};
  std::vector<Dim> d;
  for (int64_t i = 0; i < rank; ++i) d.emplace_back(names[i]);
  return d;
}

void input(GraphBuilder& g, const std::string& name, const torch::Tensor& t) {
  g.input(name, t.scalar_type() == torch::kLong ? TensorProto::INT64 : TensorProto::FLOAT,
          dyn(t.dim()));
}

/// Checks the graph with onnx::checker, runs it in ONNX Runtime, returns output "y".
torch::Tensor run(GraphBuilder& g, const std::string& y, int64_t rank,
                  const std::map<std::string, torch::Tensor>& inputs) {
  g.output(y, "y", TensorProto::FLOAT, dyn(rank));
  auto model = make_model_proto(std::move(g), "test");
  check_model(model);
  fs::path file = fs::temp_directory_path() /
                  ("tenor-layer-" + std::to_string(::getpid()) + "-" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".onnx");
  std::ofstream(file, std::ios::binary) << serialize(model);
  OrtCase c;
  c.name = "case";
  for (const auto& [k, v] : inputs) c.inputs[k] = to_host(v);
  auto results = run_onnx_runtime(file, {c});
  fs::remove(file);
  return from_host(results.at(0).outputs.at("y"));
}

double max_delta(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
}

/// LibTorch's run_gru (train/model.cpp): packed over max(len, 1) steps, padded with 0.
torch::Tensor torch_gru(torch::nn::GRU& gru, const torch::Tensor& x, const torch::Tensor& len) {
  namespace rnn = torch::nn::utils::rnn;
  auto packed = rnn::pack_padded_sequence(x, len.clamp_min(1), true, false);
  auto out = std::get<0>(gru->forward_with_packed_input(packed));
  return std::get<0>(rnn::pad_packed_sequence(out, true, 0.0, x.size(1)));
}

class ExportLayers : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(7);
    try {
      require_onnx_runtime();
    } catch (const ExportError& e) {
      FAIL() << e.what();  // never skip: the gate depends on it
    }
  }
  torch::NoGradGuard no_grad;
};

TEST_F(ExportLayers, Linear2dAnd3d) {
  torch::nn::Linear lin(6, 4);
  auto x2 = torch::randn({3, 6}), x3 = torch::randn({2, 5, 6});
  {
    GraphBuilder g("t");
    input(g, "x", x2);
    auto y = run(g, emit_linear(g, "lin", *lin, "x", true), 2, {{"x", x2}});
    EXPECT_LE(max_delta(y, lin->forward(x2)), kTol);
  }
  {
    GraphBuilder g("t");
    input(g, "x", x3);
    auto y = run(g, emit_linear(g, "lin", *lin, "x", false), 3, {{"x", x3}});
    EXPECT_LE(max_delta(y, lin->forward(x3)), kTol);
  }
}

TEST_F(ExportLayers, Conv1d) {
  torch::nn::Conv1d conv(torch::nn::Conv1dOptions(5, 7, 5).padding(2));
  auto x = torch::randn({2, 5, 9});
  GraphBuilder g("t");
  input(g, "x", x);
  auto y = run(g, emit_conv1d(g, "conv", *conv, "x"), 3, {{"x", x}});
  EXPECT_LE(max_delta(y, conv->forward(x)), kTol);
}

TEST_F(ExportLayers, BidirectionalGruOneAndTwoLayersWithPaddingAndEmptyRows) {
  for (int layers : {1, 2}) {
    torch::nn::GRU gru(
        torch::nn::GRUOptions(4, 3).num_layers(layers).batch_first(true).bidirectional(true));
    auto x = torch::randn({4, 6, 4});
    auto len = torch::tensor({6, 3, 1, 0}, torch::kLong);
    GraphBuilder g("t");
    input(g, "x", x);
    input(g, "len", len);
    auto y = run(g, emit_gru(g, "gru", *gru, "x", "len"), 3, {{"x", x}, {"len", len}});
    EXPECT_LE(max_delta(y, torch_gru(gru, x, len)), kTol) << layers << " layers";
  }
}

TEST_F(ExportLayers, MaskedAttentionPool) {
  train::MaskedAttentionPool pool(6);
  auto h = torch::randn({3, 5, 6});
  auto len = torch::tensor({5, 2, 0}, torch::kLong);
  GraphBuilder g("t");
  input(g, "h", h);
  input(g, "len", len);
  auto y = run(g, emit_attention_pool(g, "pool", *pool, "h", "len"), 2, {{"h", h}, {"len", len}});
  EXPECT_LE(max_delta(y, pool->forward(h, len)), kTol);
}

TEST_F(ExportLayers, LayerNorm) {
  torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({8}));
  norm->weight.uniform_(0.5, 1.5);
  norm->bias.uniform_(-0.5, 0.5);
  auto x = torch::randn({4, 8}) * 3;
  GraphBuilder g("t");
  input(g, "x", x);
  auto y = run(g, emit_layer_norm(g, "norm", *norm, "x"), 2, {{"x", x}});
  EXPECT_LE(max_delta(y, norm->forward(x)), kTol);
}

TEST_F(ExportLayers, Embedding) {
  torch::nn::Embedding emb(torch::nn::EmbeddingOptions(11, 4).padding_idx(0));
  auto ids = torch::randint(0, 11, {3, 5}, torch::kLong);
  GraphBuilder g("t");
  input(g, "ids", ids);
  auto y = run(g, emit_embedding(g, "emb", *emb, "ids"), 3, {{"ids", ids}});
  EXPECT_LE(max_delta(y, emb->forward(ids)), kTol);
}

train::ModelConfig small_config() {
  train::ModelConfig c;
  c.hidden = 6;
  c.conv_channels = 5;
  c.embedding_dim = 4;
  c.gru_layers = 2;
  c.hash_buckets = 64;
  return c;
}

TEST_F(ExportLayers, ProsodyAndTextEncoders) {
  auto c = small_config();
  train::ProsodyEncoder pros(7, c);
  train::TextEncoder text(20, c);
  pros->eval(), text->eval();
  auto frames = torch::randn({3, 8, 7});
  auto flen = torch::tensor({8, 4, 0}, torch::kLong);
  auto tokens = torch::randint(1, 20, {3, 6}, torch::kLong);
  auto tlen = torch::tensor({6, 1, 3}, torch::kLong);
  tokens.index_put_({1, torch::indexing::Slice(1)}, 0);
  tokens.index_put_({2, torch::indexing::Slice(3)}, 0);
  {
    GraphBuilder g("t");
    input(g, "f", frames);
    input(g, "l", flen);
    auto y = run(g, emit_prosody_encoder(g, "prosody", *pros, "f", "l"), 2,
                 {{"f", frames}, {"l", flen}});
    EXPECT_LE(max_delta(y, pros->forward(frames, flen)), kTol);
  }
  {
    GraphBuilder g("t");
    input(g, "t", tokens);
    input(g, "l", tlen);
    auto y = run(g, emit_text_encoder(g, "text", *text, "t", "l"), 2, {{"t", tokens}, {"l", tlen}});
    EXPECT_LE(max_delta(y, text->forward(tokens, tlen)), kTol);
  }
}

TEST_F(ExportLayers, TaskProbabilitiesBinaryCategoricalOrdinal) {
  const std::pair<data::TaskType, int> heads[] = {{data::TaskType::kBinary, 1},
                                                  {data::TaskType::kCategorical, 4},
                                                  {data::TaskType::kOrdinal, 3}};
  for (const auto& [type, width] : heads) {
    train::TaskSpec t;
    t.name = "t";
    t.type = type;
    t.num_classes = type == data::TaskType::kBinary    ? 2
                    : type == data::TaskType::kOrdinal ? 4
                                                       : 4;
    auto z = torch::randn({5, width}) * 4;
    if (type == data::TaskType::kOrdinal)
      z[0] = torch::tensor({-1.0f, 2.0f, 0.5f});  // unordered: clip
    GraphBuilder g("t");
    input(g, "z", z);
    auto y = run(g, emit_probabilities(g, t, "z"), 2, {{"z", z}});
    EXPECT_LE(max_delta(y, train::task_probabilities(t, z)), kTol) << int(type);
  }
}

/// A hand-made store of `n` segments: random LLDs of varying length (one empty), functionals
/// with some undefined, tokens, two tasks (ordinal customer, binary agent).
train::TrainData synthetic_data(int n, bool loudness) {
  train::TrainData d;
  auto& s = d.store;
  s.layout.lld_columns = {"f0_hz", "intensity_db", "loudness", "mfcc_1", "logmel_0"};
  s.layout.functional_columns = {"a", "b", "c", "intensity_db_mean"};
  s.layout.tasks = {"escalation", "empathy"};
  s.task_classes = {{"escalation", {"calm", "annoyed", "angry", "furious"}},
                    {"empathy", {"no", "yes"}}};
  s.frame_offsets = {0};
  s.token_offsets = {0};
  torch::manual_seed(3);
  for (int i = 0; i < n; ++i) {
    features::StoreSegment seg;
    seg.call_id = "c" + std::to_string(i / 2);
    seg.segment = i % 2;
    seg.speaker = i % 2 ? "agent" : "customer";
    seg.split = "dev";
    seg.labels = {i % 4, i % 2};
    s.segments.push_back(seg);
    const int frames = i == 2 ? 0 : 3 + (i * 7) % 23;
    auto f = torch::randn({frames, 5}) * 3 + 10;
    s.frames.insert(s.frames.end(), f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
    s.frame_offsets.push_back(s.frame_offsets.back() + frames);
    const int tokens = i == 3 ? 0 : 1 + (i * 5) % 9;
    for (int k = 0; k < tokens; ++k) s.tokens.push_back(1 + (i * 13 + k * 7) % 29);
    s.token_offsets.push_back(s.token_offsets.back() + tokens);
    for (int c = 0; c < 4; ++c) {
      const bool on = (i + c) % 5 != 0 && i != 5;
      s.functionals.push_back(on ? float(std::sin(i + c) * 40) : std::nanf(""));
      s.functional_mask.push_back(on ? 1 : 0);
    }
    d.dev.push_back(i);
  }
  d.task_columns = {0, 1};
  d.previous = features::previous_segments(s);
  auto& stats = d.transform.norm;
  stats.lld_mean = {100, 60, 5, 0.1f, -3};
  stats.lld_std = {30, 8, 2, 1.5f, 4};
  stats.func_mean = {0.5f, -1, 2, 3};
  stats.func_std = {2, 3, 0.5f, 1};
  stats.func_dropped = {0, 0, 0, uint8_t(loudness ? 1 : 0)};
  stats.lld_dropped = {0, 0, 0, uint8_t(loudness ? 1 : 0), 0};  // drop_features
  d.transform.normalize_loudness = loudness;
  d.transform.level_lld_columns = {1, 2, 4};
  if (loudness)
    for (int c : d.transform.level_lld_columns) stats.lld_mean[size_t(c)] = 0;
  return d;
}

/// The transform a run of model `c` over synthetic_data gets (train::make_input_transform).
train::InputTransform synthetic_transform(const train::TrainData& d, const train::ModelConfig& c) {
  train::TrainConfig config;
  config.model = c;
  config.normalize_loudness = d.transform.normalize_loudness;
  return train::make_input_transform(config, d.transform.norm, d.transform.level_lld_columns,
                                     {true});
}

train::ModelShape synthetic_shape(const train::ModelConfig& c) {
  train::ModelShape shape;
  shape.lld_features = 5;
  shape.functional_features = 4;
  shape.vocab_size = 30;
  train::TaskSpec esc{"escalation", data::TaskType::kOrdinal, 4, "customer"};
  train::TaskSpec emp{"empathy", data::TaskType::kBinary, 2, "agent"};
  emp.prosody = emp.functionals = false;  // compliance default
  (void)c;
  shape.tasks = {esc, emp};
  return shape;
}

/// The whole model in ONNX Runtime on raw store values vs make_batch + logits in LibTorch.
void check_whole_model(const std::string& type, bool loudness, int max_frames, bool ngrams = true,
                       int context_tokens = 0) {
  auto c = small_config();
  c.type = type;
  c.ngrams = ngrams;
  c.context_tokens = context_tokens;
  c.max_frames = max_frames;
  auto shape = synthetic_shape(c);
  auto data = synthetic_data(9, loudness);
  data.shape = shape;
  auto model = train::make_model(shape, c);
  model->eval();
  // Random non-trivial weights everywhere (the ordinal thresholds too).
  for (auto& p : model->parameters()) p.uniform_(-0.6, 0.6);
  data.transform = synthetic_transform(data, c);
  EXPECT_EQ(data.transform.context_tokens, model->context_tokens()) << type;
  auto proto = build_onnx_model(*model, shape, c, data.transform, {{"k", "v"}});
  if (type == "fusion") {
    EXPECT_EQ(model->context_tokens(), context_tokens);
  }
  fs::path file =
      fs::temp_directory_path() / ("tenor-whole-" + std::to_string(::getpid()) + type + ".onnx");
  std::ofstream(file, std::ios::binary) << serialize(proto);
  std::vector<int64_t> rows(data.dev.begin(), data.dev.end());
  OrtCase oc;
  oc.name = "all";
  oc.inputs = raw_inputs(data.store, rows, data.transform);
  EXPECT_EQ(proto.graph().input_size(), model->context_tokens() > 0 ? 8 : 6);
  auto got = run_onnx_runtime(file, {oc}).at(0);
  fs::remove(file);
  auto logits = model->logits(train::make_batch(data, rows));
  for (size_t k = 0; k < shape.tasks.size(); ++k) {
    auto want = train::task_probabilities(shape.tasks[k], logits[k]);
    auto y = from_host(got.outputs.at(prob_output_name(shape.tasks[k].name)));
    EXPECT_LE(max_delta(y, want), 1e-5) << type << " " << shape.tasks[k].name;
  }
}

TEST_F(ExportLayers, WholeFusionModelWithNormalisationInTheGraph) {
  check_whole_model("fusion", false, 1500);
  check_whole_model("fusion", true, 10);  // loudness removal and the max_frames cut
  check_whole_model("fusion", false, 1500, /*ngrams=*/false);
}

TEST_F(ExportLayers, WholeFusionModelWithContext) {
  // The previous segment through the shared text encoder; 3 tokens cuts most contexts,
  // and the store has first segments (no context) and an empty previous segment.
  check_whole_model("fusion", false, 1500, true, 3);
  check_whole_model("fusion", true, 10, false, 64);
  // The linear baseline reads no context: its graph keeps the six inputs.
  check_whole_model("linear", false, 1500, true, 8);
}

TEST_F(ExportLayers, WholeLinearModel) {
  check_whole_model("linear", false, 1500);
  check_whole_model("linear", true, 10);
}

TEST_F(ExportLayers, InitializersAreTheCheckpointKeys) {
  auto c = small_config();
  auto shape = synthetic_shape(c);
  auto model = train::make_model(shape, c);
  auto data = synthetic_data(2, false);
  auto proto = build_onnx_model(*model, shape, c, synthetic_transform(data, c), {});
  std::set<std::string> names;
  for (const auto& t : proto.graph().initializer()) names.insert(t.name());
  for (const char* key :
       {"prosody.conv.weight", "prosody.gru.weight_ih_l0", "prosody.gru.weight_hh_l1_reverse",
        "prosody.pool.score.weight", "prosody.proj.bias", "functionals.weight", "text.embed.weight",
        "text.gru.bias_ih_l0", "gate.weight", "norm.weight", "head_escalation.weight",
        "bias_escalation", "head_empathy.bias"})
    EXPECT_TRUE(names.count(key)) << key;
  for (const auto& p : model->named_parameters()) EXPECT_TRUE(names.count(p.key())) << p.key();
  EXPECT_EQ(proto.opset_import(0).version(), 17);
  EXPECT_EQ(proto.ir_version(), 8);
}

TEST_F(ExportLayers, UnsupportedModuleFailsNamingIt) {
  auto c = small_config();
  auto shape = synthetic_shape(c);
  auto model = train::make_model(shape, c);
  model->register_module("extra", torch::nn::BatchNorm1d(4));
  auto data = synthetic_data(2, false);
  try {
    build_onnx_model(*model, shape, c, synthetic_transform(data, c), {});
    FAIL() << "export of an unknown module must fail";
  } catch (const ExportError& e) {
    EXPECT_NE(std::string(e.what()).find("'extra'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("BatchNorm1d"), std::string::npos) << e.what();
  }
}

// A runner whose process dies by a signal (as onnxruntime-node did on a 0-row batch) is an
// IoError naming the signal, not a bare exit status.
TEST(OrtRunner, AChildKilledByASignalIsReportedNamingTheSignal) {
  const fs::path dir =
      fs::temp_directory_path() / ("tenor-ort-crash-" + std::to_string(::getpid()));
  fs::create_directories(dir / "node_modules/onnxruntime-node");
  std::ofstream(dir / "node_modules/onnxruntime-node/package.json") << "{}";
  std::ofstream(dir / "run.js") << "process.kill(process.pid, 'SIGSEGV');\n";
  std::ofstream(dir / "model.onnx") << "unused";
  OrtCase c;
  c.name = "one";
  c.inputs["x"] = HostTensor::from_f32({1}, {1.0f});
  ::setenv("TENOR_ORT_DIR", dir.c_str(), 1);
  std::string message;
  try {
    run_onnx_runtime(dir / "model.onnx", std::vector<OrtCase>{c});
  } catch (const IoError& e) {
    message = e.what();
  }
  ::unsetenv("TENOR_ORT_DIR");
  fs::remove_all(dir);
  EXPECT_NE(message.find("crashed"), std::string::npos) << message;
  EXPECT_NE(message.find("signal 11 (SIGSEGV"), std::string::npos) << message;
  EXPECT_NE(message.find("model.onnx"), std::string::npos) << message;
}

}  // namespace
}  // namespace tenor::onnx_export

namespace tenor::onnx_export {
namespace {

// The gate's defaults come from the graph's precision in the export itself, so a caller of
// export_bundle other than the CLI gets the int8 gate with quantize int8; given values win.
TEST(ParityGate, DefaultsFollowTheGraphsPrecisionAndGivenValuesWin) {
  const ParityGate fp32 = gate_of(ParityConfig{}, false);
  EXPECT_EQ(fp32.tolerance, kParityTolerance);
  EXPECT_EQ(fp32.min_agreement, 1.0);
  const ParityGate int8 = gate_of(ParityConfig{}, true);
  EXPECT_EQ(int8.tolerance, kInt8ParityTolerance);
  EXPECT_EQ(int8.min_agreement, kInt8MinAgreement);

  ParityConfig given;
  given.tolerance = 1e-9;
  EXPECT_EQ(gate_of(given, true).tolerance, 1e-9);
  EXPECT_EQ(gate_of(given, true).min_agreement, kInt8MinAgreement);
  given.min_agreement = 0.5;
  EXPECT_EQ(gate_of(given, false).min_agreement, 0.5);

  ParityConfig bad;
  bad.min_agreement = 0.0;
  EXPECT_THROW(gate_of(bad, true), UsageError);
  bad.min_agreement = 1.5;
  EXPECT_THROW(gate_of(bad, false), UsageError);
  bad = ParityConfig{};
  bad.tolerance = -1e-4;
  EXPECT_THROW(gate_of(bad, false), UsageError);
}

}  // namespace
}  // namespace tenor::onnx_export
