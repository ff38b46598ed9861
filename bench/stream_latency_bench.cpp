// Latency of one finished turn of a streamed call (issue 21, item 5): what a product waits
// between giving tenor::scoring::Stream a turn and having its scores, i.e. the turn's checks,
// its features (audio read and resampled, LLDs, functionals, tokens) and the bundle's model in
// the ONNX Runtime runner, on one CPU thread (at::set_num_threads(1); the runner's session has
// one intra-op thread). Product path: Scorer::open_stream, Stream::push in 100 ms chunks,
// Stream::push_turn as each turn's audio is in.
//
// The call: a generated stereo call of --turns turns of --turn-s seconds (alternating
// customer and agent, 0.5 s apart), each a harmonic voice with a changing pitch and level on
// its speaker's channel, each with a transcript of about 25 words.
//
//   bench_stream_latency BUNDLE [--turns N] [--turn-s S] [--warmup W] [--windows]
//
// Prints one JSON line: wall time and CPU time (this process and the runner child together)
// of push_turn, p50/p95/p99 ms, over the turns after the first W, and of finish() (every
// segment's final score: re-scoring for a `speaker_normalization: call` bundle). With --windows the stream
// is opened without turn events (StreamOptions::windows, windows of S seconds) and what is
// timed is each push that completes a window: both roles' windows scored.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/percentile.h"
#include "core/torch_compat.h"
#include "export/ort_runner.h"
#include "scoring/scoring.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using tenor::bench::percentile;

/// CPU time of this process (every thread) in ms.
double own_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

/// CPU time of the ONNX Runtime runner child in ms: the sum over its threads of the time on
/// a CPU (/proc/PID/task/*/schedstat, nanoseconds); 0 when it is not running.
double runner_cpu_ms() {
  const int pid = tenor::onnx_export::onnx_runtime_pid();
  if (pid <= 0) return 0;
  double ns = 0;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "schedstat");
    double on_cpu = 0;
    if (in >> on_cpu) ns += on_cpu;
  }
  return ns / 1e6;
}

const char* const kWords[] = {"I",      "have",   "been",  "waiting", "for",    "my",
                              "refund", "three",  "weeks", "and",     "nobody", "called",
                              "back",   "this",   "is",    "not",     "what",   "you",
                              "said",   "please", "check", "the",     "order",  "again"};

struct Turn {
  double start_s, end_s;
  std::string speaker, text;
};

/// The generated call: per channel its samples, and its turns.
std::vector<std::vector<float>> generate(int turns, double turn_s, int rate,
                                         std::vector<Turn>& out) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  const double gap_s = 0.5;
  const size_t n = size_t((turns * (turn_s + gap_s) + 1) * rate);
  std::vector<std::vector<float>> ch(2, std::vector<float>(n));
  for (auto& c : ch)
    for (auto& x : c) x = float(0.002 * (u(rng) - 0.5));
  for (int k = 0; k < turns; ++k) {
    const double start = 0.5 + k * (turn_s + gap_s);
    std::string text;
    for (int w = 0; w < 25; ++w) text += (w ? " " : "") + std::string(kWords[(k * 7 + w) % 24]);
    out.push_back({start, start + turn_s, k % 2 ? "agent" : "customer", text});
    auto& c = ch[k % 2 ? 0 : 1];
    const double f0 = 100 + 20.0 * (k % 6), level = 0.05 + 0.04 * (k % 4);
    for (size_t i = size_t(start * rate); i < size_t((start + turn_s) * rate); ++i) {
      const double t = double(i) / rate;
      const double pitch = f0 * (1 + 0.1 * std::sin(2 * M_PI * 0.5 * t));
      c[i] += float(level * (std::sin(2 * M_PI * pitch * t) + 0.4 * std::sin(4 * M_PI * pitch * t)) *
                    (0.5 + 0.5 * std::sin(2 * M_PI * 4 * t)));
    }
  }
  return ch;
}

json stats(const std::vector<double>& v) {
  return {{"p50_ms", percentile(v, 0.5)}, {"p95_ms", percentile(v, 0.95)},
          {"p99_ms", percentile(v, 0.99)}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_stream_latency BUNDLE [--turns N] [--turn-s S] [--warmup W] "
                 "[--windows]\n";
    return 2;
  }
  int turns = 60, warmup = 4;
  double turn_s = 10;
  bool windows = false;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--windows")) windows = true;
    if (i + 1 >= argc) continue;
    if (!std::strcmp(argv[i], "--turns")) turns = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--turn-s")) turn_s = std::stod(argv[i + 1]);
    if (!std::strcmp(argv[i], "--warmup")) warmup = std::stoi(argv[i + 1]);
  }
  try {
    tenor::compat::set_cpu_threads(1);
    const int rate = 16000;
    std::vector<Turn> plan;
    const auto channels = generate(turns, turn_s, rate, plan);
    tenor::scoring::Scorer scorer(argv[1]);
    tenor::scoring::StreamOptions options;
    options.roles = {{"agent", 0}, {"customer", 1}};
    options.windows = windows;
    options.window_s = turn_s;
    options.max_turn_s = std::max(options.max_turn_s, 2 * turn_s);
    tenor::scoring::Stream stream = scorer.open_stream(options);
    std::vector<double> wall, cpu;
    size_t next = 0, scored = 0;
    const size_t chunk = rate / 10, n = channels[0].size();
    for (size_t at = 0; at < n; at += chunk) {
      const double c0 = own_cpu_ms() + runner_cpu_ms();
      const auto t0 = std::chrono::steady_clock::now();
      const size_t got =
          stream.push({channels[0].data() + at, channels[1].data() + at}, std::min(chunk, n - at))
              .size();
      if (got > 0 && int(++scored) > warmup) {  // windows: the push that completes one
        wall.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        cpu.push_back(own_cpu_ms() + runner_cpu_ms() - c0);
      }
      while (!windows && next < plan.size() && plan[next].end_s <= stream.pushed_s()) {
        const Turn& t = plan[next++];
        const double c0 = own_cpu_ms() + runner_cpu_ms();
        const auto t0 = std::chrono::steady_clock::now();
        stream.push_turn({t.start_s, t.end_s, t.speaker, t.text});
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        const double c = own_cpu_ms() + runner_cpu_ms() - c0;
        if (int(next) > warmup) wall.push_back(ms), cpu.push_back(c);
      }
    }
    const double f0 = own_cpu_ms() + runner_cpu_ms();
    const auto t0 = std::chrono::steady_clock::now();
    const size_t finals = stream.finish().size();
    const json finish = {
        {"segments", finals},
        {"wall_ms",
         std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()},
        {"cpu_ms", own_cpu_ms() + runner_cpu_ms() - f0}};
    std::cout << json{{"bundle", fs::path(argv[1]).filename().string()},
                      {"finish", finish},
                      {"mode", windows ? "windows (both roles per push)" : "turns"},
                      {"turn_s", turn_s},
                      {"turns", wall.size()},
                      {"warmup", warmup},
                      {"threads", 1},
                      {"wall", stats(wall)},
                      {"cpu", stats(cpu)}}
                     .dump()
              << "\n";
  } catch (const std::exception& e) {
    std::cerr << "bench_stream_latency: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
