// Inference latency of the exported model: ONNX Runtime (CPU, one intra-op thread, through
// tools/ort/run.js, timing session.run only) against LibTorch's own forward (one thread) on
// the same inputs: one 10-second segment (1,000 LLD frames at 10 ms, 40 tokens, features
// precomputed) and a batch of 64 such segments. Default-size fusion model (train/config.h)
// with random weights; the weights do not change the cost.
//
// Then the cost of one call of one segment around the model run (bench "ort_call"): a new ONNX
// Runtime process per call (start, model load, run; what every call cost before the runner
// was kept for the process) against a call to the kept runner with the model loaded
// (OrtSession::run, as `tenor predict --bundle` makes it), wall time from C++.
//
//   bench_export [--repeat N] [--members K]
// prints one JSON line per (runtime, batch) with p50/p95 ms; --members K times an ensemble of
// K such models (model.members), the graph that `tenor export` writes for one.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/torch_compat.h"
#include "data/features/lld_config.h"
#include "export/onnx_layers.h"
#include "bench/percentile.h"
#include "export/ort_runner.h"
#include "export/parity.h"

namespace ox = tenor::onnx_export;
namespace train = tenor::train;

namespace {

using tenor::bench::percentile;

/// A store of `n` identical-length segments with random features.
train::TrainData make_data(int n, int frames, int tokens, int lld, int func) {
  train::TrainData d;
  auto& s = d.store;
  for (int c = 0; c < lld; ++c) s.layout.lld_columns.push_back("c" + std::to_string(c));
  for (int c = 0; c < func; ++c) s.layout.functional_columns.push_back("f" + std::to_string(c));
  s.frame_offsets = {0};
  s.token_offsets = {0};
  auto f = torch::randn({int64_t(n) * frames, lld});
  s.frames.assign(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  for (int i = 0; i < n; ++i) {
    tenor::features::StoreSegment seg;
    seg.call_id = "b" + std::to_string(i);
    seg.labels = {0, 0};
    s.segments.push_back(seg);
    s.frame_offsets.push_back(s.frame_offsets.back() + frames);
    for (int k = 0; k < tokens; ++k) s.tokens.push_back(1 + (i * 31 + k * 7) % 1999);
    s.token_offsets.push_back(s.token_offsets.back() + tokens);
    for (int c = 0; c < func; ++c)
      s.functionals.push_back(float(c % 7)), s.functional_mask.push_back(1);
  }
  d.task_columns = {0, 1};
  auto& stats = d.transform.norm;
  stats.lld_mean.assign(size_t(lld), 0.0f);
  stats.lld_std.assign(size_t(lld), 1.0f);
  stats.func_mean.assign(size_t(func), 0.0f);
  stats.func_std.assign(size_t(func), 1.0f);
  stats.func_dropped.assign(size_t(func), 0);
  return d;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

/// One segment's call: a new runner process per call against the kept runner.
void print_call_overhead(const std::filesystem::path& model, const train::TrainData& data,
                         int calls) {
  ox::OrtCase c;
  c.name = "call";
  c.inputs = ox::raw_inputs(data.store, {0}, data.transform);
  std::vector<double> per_process, kept;
  for (int i = 0; i < 5; ++i) {
    ox::shutdown_onnx_runtime();
    auto t0 = std::chrono::steady_clock::now();
    ox::run_onnx_runtime(model, {c});
    per_process.push_back(ms_since(t0));
  }
  ox::OrtSession session(model);
  for (int i = 0; i < calls + 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    session.run(c);
    if (i >= 5) kept.push_back(ms_since(t0));
  }
  for (const auto& [how, ms] : {std::pair<std::string, std::vector<double>>{
                                    "new ONNX Runtime process per call", per_process},
                                {"kept runner, model loaded", kept}}) {
    nlohmann::json j = {{"bench", "ort_call"}, {"measure", how}, {"batch", 1},
                        {"runs", ms.size()}, {"p50_ms", percentile(ms, 0.5)},
                        {"p95_ms", percentile(ms, 0.95)}};
    std::cout << j.dump() << std::endl;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 200, members = 1;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0) repeat = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--members") == 0) members = std::atoi(argv[i + 1]);
  }
  tenor::compat::set_cpu_threads(1);
  torch::manual_seed(1);
  torch::NoGradGuard no_grad;

  train::ModelConfig config;  // defaults: hidden 64, conv 64, embedding 64, 1 GRU layer
  config.members = std::clamp(members, 1, 32);
  const int lld = int(tenor::features::lld_column_names(tenor::features::LldConfig{}).size());
  const int func = 88, vocab = 2000, frames = 1000, tokens = 40;
  train::ModelShape shape;
  shape.lld_features = lld;
  shape.functional_features = func;
  shape.vocab_size = vocab;
  train::TaskSpec esc{"escalation", tenor::data::TaskType::kOrdinal, 4, "customer"};
  train::TaskSpec emp{"empathy", tenor::data::TaskType::kBinary, 2, "agent"};
  emp.prosody = emp.functionals = false;
  shape.tasks = {esc, emp};
  auto model = train::make_model(shape, config);
  model->eval();

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tenor-export-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto data64 = make_data(64, frames, tokens, lld, func);
  data64.shape = shape;
  train::TrainConfig run_config;
  run_config.model = config;
  data64.transform = train::make_input_transform(run_config, data64.transform.norm, {},
                                                 {true});
  auto proto = ox::build_onnx_model(*model, shape, config, data64.transform, {});
  std::ofstream(dir / "model.onnx", std::ios::binary) << ox::serialize(proto);

  for (int batch : {1, 64}) {
    std::vector<int64_t> rows(static_cast<size_t>(batch));
    for (int i = 0; i < batch; ++i) rows[size_t(i)] = i;
    const int n = batch == 1 ? repeat : std::max(10, repeat / 10);
    // LibTorch: make_batch outside the timing (features precomputed), logits + probabilities.
    auto b = train::make_batch(data64, rows);
    std::vector<double> torch_ms;
    for (int i = 0; i < n + 5; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      auto logits = model->logits(b);
      for (size_t k = 0; k < logits.size(); ++k)
        train::task_probabilities(shape.tasks[k], logits[k]);
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (i >= 5) torch_ms.push_back(ms);
    }
    ox::OrtCase c;
    c.name = "b" + std::to_string(batch);
    c.inputs = ox::raw_inputs(data64.store, rows, data64.transform);
    ox::OrtOptions options;
    options.threads = 1;
    options.repeat = n;
    options.warmup = 5;
    auto ort_ms = ox::run_onnx_runtime(dir / "model.onnx", {c}, options).at(0).latency_ms;
    for (const auto& [runtime, ms] :
         {std::pair<std::string, std::vector<double>>{"onnxruntime", ort_ms},
          {"libtorch", torch_ms}}) {
      nlohmann::json j = {{"bench", "export_latency"},
                          {"runtime", runtime},
                          {"batch", batch},
                          {"members", config.members},
                          {"frames", frames},
                          {"tokens", tokens},
                          {"threads", 1},
                          {"runs", ms.size()},
                          {"p50_ms", percentile(ms, 0.5)},
                          {"p95_ms", percentile(ms, 0.95)}};
      std::cout << j.dump() << std::endl;
    }
  }
  print_call_overhead(dir / "model.onnx", data64, std::max(20, repeat / 4));
  std::filesystem::remove_all(dir);
  return 0;
}
