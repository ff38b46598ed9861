// ONNX Runtime latency of one segment of an exported bundle, features precomputed, on one
// intra-op thread, through the runner tenor uses (export/ort_runner.h), and the cost of a
// call around it:
//   - `session.run`: the model alone, timed inside the runner (Node's onnxruntime-node), wall
//     time and CPU time (on a shared machine the wall time includes waiting for a core; with
//     one intra-op thread the CPU time is what the run costs);
//   - `tenor call`: OrtSession::run from C++, as BundlePredictor calls it (inputs to the
//     runner over its pipe, the run, outputs back);
//   - `process per call`: a new runner process for every call (node start, ONNX Runtime and
//     model load, the run), as tenor did before the runner was kept for the process.
// The segment: the bundle's parity fixture row with the most text tokens (its transcript,
// e.g. 96 WordPiece ids for a MiniLM bundle), or its first --tokens of them (a shorter
// transcript: the graph's token axis is dynamic and a one-segment call is as long as its
// transcript), and --frames LLD frames (1,000 = 10 s at 10 ms; seeded normal values, valid
// length --frames), functionals as stored.
//
//   bench_ort_latency BUNDLE [--repeat N] [--warmup W] [--cold N] [--frames F] [--tokens K]
//                     [--cases-out DIR]
//
// Prints one JSON line per measurement (p50/p95/p99 ms). --cases-out writes the segment and
// the runner's outputs (as expected values) for bench/ort_latency_ref.py.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>

#include <nlohmann/json.hpp>

#include "bench/percentile.h"
#include "export/ort_runner.h"

namespace ox = tenor::onnx_export;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using tenor::bench::percentile;

/// Row `row` of a [batch, ...] tensor as a [1, ...] tensor.
ox::HostTensor row_of(const ox::HostTensor& t, int64_t row) {
  ox::HostTensor r = t;
  const size_t row_bytes = t.bytes.size() / size_t(t.dims.at(0));
  r.dims[0] = 1;
  r.bytes = t.bytes.substr(size_t(row) * row_bytes, row_bytes);
  return r;
}

/// The first `k` columns of a [1, L] int64 tensor.
ox::HostTensor first_columns(const ox::HostTensor& t, int64_t k) {
  std::vector<int64_t> v(t.i64(), t.i64() + k);
  return ox::HostTensor::from_i64({1, k}, v);
}

/// Cuts the segment's transcript to its first `k` tokens (WordPiece ids of model.text_encoder,
/// or the tokens of the hashed text encoder); nothing when it has no more than `k`.
void cut_tokens(ox::OrtCase& seg, int64_t k) {
  if (auto it = seg.inputs.find("text_mask"); it != seg.inputs.end()) {
    if (it->second.dims.at(1) <= k) return;
    for (const char* name : {"text_ids", "text_type_ids", "text_mask"})
      seg.inputs[name] = first_columns(seg.inputs.at(name), k);
    return;
  }
  const auto& tokens = seg.inputs.at("tokens");
  if (tokens.dims.at(1) <= k) return;
  seg.inputs["tokens"] = first_columns(tokens, k);
  seg.inputs["token_len"] = ox::HostTensor::from_i64({1}, {std::min(k, seg.inputs.at("token_len").i64()[0])});
}

/// The fixture row with the most valid text tokens (at most `tokens` of them when > 0), with
/// `frames` seeded LLD frames.
ox::OrtCase one_segment(const fs::path& bundle, int frames, int64_t tokens) {
  auto cases = ox::read_cases(bundle / "parity/cases.json");
  const ox::OrtCase* best = nullptr;
  int64_t best_row = 0, best_len = -1;
  for (const auto& c : cases) {
    auto it = c.inputs.find("text_mask");
    const bool text = it != c.inputs.end();
    const ox::HostTensor& len = text ? it->second : c.inputs.at("token_len");
    for (int64_t r = 0; r < len.dims.at(0); ++r) {
      int64_t n = 0;
      if (text)
        for (int64_t k = 0; k < len.dims[1]; ++k) n += len.i64()[r * len.dims[1] + k];
      else
        n = len.i64()[r];
      if (n > best_len) best = &c, best_row = r, best_len = n;
    }
  }
  if (!best) throw std::runtime_error(bundle.string() + "/parity holds no fixture rows");
  ox::OrtCase seg;
  seg.name = "segment";
  for (const auto& [name, t] : best->inputs) seg.inputs[name] = row_of(t, best_row);
  const int64_t lld = seg.inputs.at("frames").dims.at(2);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> values(size_t(frames * lld));
  for (auto& v : values) v = normal(rng);
  seg.inputs["frames"] = ox::HostTensor::from_f32({1, frames, lld}, values);
  seg.inputs["frame_len"] = ox::HostTensor::from_i64({1}, {frames});
  if (tokens > 0 && tokens < best_len) cut_tokens(seg, tokens), best_len = tokens;
  seg.description = "row " + std::to_string(best_row) + " of " + best->name + ", " +
                    std::to_string(best_len) + " valid text tokens";
  return seg;
}

json stats(const std::string& what, const std::vector<double>& ms) {
  return {{"bench", "ort_latency"}, {"measure", what},        {"runs", ms.size()},
          {"p50_ms", percentile(ms, 0.5)}, {"p95_ms", percentile(ms, 0.95)},
          {"p99_ms", percentile(ms, 0.99)}, {"mean_ms", [&] {
             double s = 0;
             for (double v : ms) s += v;
             return s / double(ms.size());
           }()}};
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_ort_latency BUNDLE [--repeat N] [--warmup W] [--cold N] "
                 "[--frames F] [--tokens K] [--cases-out DIR]\n";
    return 2;
  }
  const fs::path bundle = argv[1];
  int repeat = 1000, warmup = 50, cold = 5, frames = 1000;
  int64_t tokens = 0;
  fs::path cases_out;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--repeat") repeat = std::stoi(v);
    else if (k == "--warmup") warmup = std::stoi(v);
    else if (k == "--cold") cold = std::stoi(v);
    else if (k == "--frames") frames = std::stoi(v);
    else if (k == "--tokens") tokens = std::stoll(v);
    else if (k == "--cases-out") cases_out = v;
  }
  ox::OrtCase seg = one_segment(bundle, frames, tokens);
  ox::OrtOptions timed;
  timed.threads = 1;
  timed.repeat = repeat;
  timed.warmup = warmup;
  const fs::path model = bundle / "model.onnx";

  std::vector<double> per_process;  // a new runner for every call: start, load, run
  for (int i = 0; i < cold; ++i) {
    ox::shutdown_onnx_runtime();
    const auto t0 = std::chrono::steady_clock::now();
    ox::OrtSession fresh(model, {});
    fresh.run(seg);
    per_process.push_back(ms_since(t0));
  }
  ox::OrtSession session(model, timed);
  auto result = session.run(seg);
  ox::OrtSession calls(model, {});
  for (int i = 0; i < warmup; ++i) calls.run(seg);
  std::vector<double> call_ms;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    calls.run(seg);
    call_ms.push_back(ms_since(t0));
  }
  json head = {{"bench", "ort_latency"}, {"bundle", bundle.string()}, {"segment", seg.description},
               {"frames", frames}, {"tokens", tokens}, {"threads", 1}, {"warmup", warmup}};
  std::cout << head.dump() << "\n"
            << stats("session.run in the runner, wall", result.latency_ms).dump() << "\n"
            << stats("session.run in the runner, CPU time", result.cpu_ms).dump() << "\n"
            << stats("tenor call (C++ -> runner -> C++)", call_ms).dump() << "\n";
  if (!per_process.empty())
    std::cout << stats("process per call (start, load, run)", per_process).dump() << "\n";
  if (!cases_out.empty()) {
    seg.expected = result.outputs;
    ox::write_cases(cases_out, {seg});
  }
  return 0;
}
