// Benchmark of tenor::eval: full evaluation (metrics, 1,000-resample call-bootstrap intervals
// of every metric incl. AUROC/AUPRC, calibration with dev temperature scaling and threshold,
// slices by speaker and two meta fields, escalation timeline) and the JSON + HTML reports, on
// synthetic predictions: by default 100,000 segments in 10,000 calls with an ordinal
// 4-class task and a binary task. Prints one markdown table row; run via bench/run.sh.
//   bench_eval [segments] [calls] [resamples]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "eval/evaluate.h"
#include "eval/report.h"

using namespace tenor::eval;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// xorshift64*: a fixed sequence on every platform.
struct Rng {
  uint64_t s;
  double uniform() {
    s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
    return static_cast<double>((s * 2685821657736338717ull) >> 11) * 0x1.0p-53;
  }
};

/// `segments` segments spread evenly over `calls` calls, alternating customer and agent;
/// escalation (ordinal, customer segments) rises within some calls; empathy (binary) is
/// labelled on agent segments. Scores are noisy functions of the labels.
EvalSet make_set(int segments, int calls, uint64_t seed) {
  Rng rng{seed};
  EvalSet set;
  TaskPredictions esc, emp;
  esc.name = "escalation";
  esc.type = tenor::data::TaskType::kOrdinal;
  esc.classes = {"calm", "frustrated", "angry", "hostile"};
  emp.name = "empathy";
  emp.type = tenor::data::TaskType::kBinary;
  emp.classes = {"absent", "present"};
  const int per_call = std::max(1, segments / calls);
  for (int i = 0; i < segments; ++i) {
    const int call = i / per_call, pos = i % per_call;
    const bool customer = pos % 2 == 0;
    const bool escalating = call % 4 == 0;
    set.segments.call_ids.push_back("call-" + std::to_string(call));
    set.segments.speakers.push_back(customer ? "customer" : "agent");
    set.segments.start_s.push_back(6.0 * pos);
    set.segments.end_s.push_back(6.0 * pos + 5.0);
    set.segments.meta.push_back(
        {{"site", call % 3 ? "north" : "south"}, {"channel", call % 5 ? "phone" : "chat"}});
    // Escalation: 0..3, rising through escalating calls.
    int level = escalating ? std::min(3, pos * 4 / per_call) : (rng.uniform() < 0.1);
    esc.labels.push_back(customer ? level : -1);
    double z[4], sum = 0.0;
    for (int k = 0; k < 4; ++k)
      sum += z[k] = std::exp(-std::abs(k - level) * 1.5 + rng.uniform() * 2);
    for (int k = 0; k < 4; ++k) esc.probs.push_back(z[k] / sum);
    const int present = rng.uniform() < 0.3;
    emp.labels.push_back(customer ? -1 : present);
    const double p = std::clamp(0.3 + 0.35 * present + (rng.uniform() - 0.5) * 0.6, 0.0, 1.0);
    emp.probs.push_back(1.0 - p);
    emp.probs.push_back(p);
  }
  set.tasks = {std::move(esc), std::move(emp)};
  return set;
}

}  // namespace

int main(int argc, char** argv) {
  const int segments = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int calls = argc > 2 ? std::atoi(argv[2]) : 10000;
  const int resamples = argc > 3 ? std::atoi(argv[3]) : 1000;
  const EvalSet test = make_set(segments, calls, 1);
  const EvalSet dev = make_set(segments / 5, std::max(1, calls / 5), 2);
  EvalConfig config;
  config.bootstrap.resamples = resamples;

  auto t0 = Clock::now();
  const DecisionRules rules = fit_decision_rules(dev, "dev");
  const EvalReport report = evaluate(test, config, &rules);
  const double eval_s = since(t0);
  t0 = Clock::now();
  const std::string json = to_json(report, test).dump();
  const std::string html = to_html(report, test);
  const double report_s = since(t0);

  const auto& esc = report.tasks[0];
  const auto& emp = report.tasks[1];
  const auto auroc = static_cast<size_t>(Metric::kAuroc);
  std::printf(
      "| segments | calls | resamples | slices per task | evaluate (s) | JSON + HTML (s) | "
      "report sizes (KiB) | empathy AUROC [95%% CI] | escalation QWK |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---|---:|\n");
  std::printf("| %d | %d | %d | %zu | %.2f | %.2f | %zu + %zu | %.3f [%.3f, %.3f] | %.3f |\n",
              segments, calls, resamples, esc.slices.size(), eval_s, report_s, json.size() / 1024,
              html.size() / 1024, emp.bootstrap.point[auroc], emp.bootstrap.intervals[auroc].lo,
              emp.bootstrap.intervals[auroc].hi, esc.metrics.qwk);
  return 0;
}
