#pragma once

#include <limits>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "eval/bootstrap.h"
#include "eval/eval_set.h"

namespace tenor::eval {

/// One task and metric of a comparison of run A (baseline) with run B (candidate).
struct MetricComparison {
  std::string task;
  Metric metric = Metric::kMacroF1;
  double a = 0.0, b = 0.0;
  double delta = 0.0;       ///< b - a
  Interval delta_interval;  ///< paired call-bootstrap percentile interval of b - a
  double p_value = 1.0;     ///< two-sided paired-bootstrap p (see PairedResult)
};

struct Comparison {
  int resamples = 0;
  std::vector<MetricComparison> rows;  ///< per task, the metrics that apply to its kind
  /// The binary decision threshold each run was scored with, per task (binary tasks only).
  std::map<std::string, double> thresholds_a, thresholds_b;
};

/// Binary decision thresholds per task name for each run (default 0.5 when absent).
struct CompareConfig {
  BootstrapConfig bootstrap;
  std::map<std::string, double> thresholds_a, thresholds_b;
};

/// Compares two runs on the same segments and labels (DataError otherwise): per task, every
/// applicable headline metric with the same call resamples for both runs.
Comparison compare_runs(const EvalSet& a, const EvalSet& b, const CompareConfig& config = {});

/// A gate condition `METRIC:TOL`: fail when B is worse than A by more than TOL.
struct GateSpec {
  std::string metric;
  double tolerance = 0.0;
};

/// Parses "macro_f1:0.01". Throws UsageError on an unknown metric (suggesting the nearest) or
/// a tolerance that is not a finite number >= 0.
GateSpec parse_gate(const std::string& spec);

struct GateResult {
  bool passed = true;
  /// The significance level the gate was applied with; NaN: none (every drop beyond the
  /// tolerance fails, significant or not).
  double alpha = std::numeric_limits<double>::quiet_NaN();
  /// One sentence per failure, e.g. "task 'escalation': macro_f1 got worse by 0.0230
  /// (0.7120 -> 0.6890), more than the tolerance 0.0100 (paired bootstrap p = 0.030)";
  /// with alpha, "... and significant (paired bootstrap p = 0.030 < alpha 0.05)".
  std::vector<std::string> failures;
  /// With alpha: one sentence per drop beyond the tolerance that did not fail the gate
  /// because it is not significant ("... but not significant (p = 0.41 >= alpha 0.05)").
  std::vector<std::string> passed_not_significant;
  std::string summary;  ///< "gate passed: ..." or the failures joined
};

/// Applies the gates to every task where the metric applies. "Worse" is lower for metrics
/// where higher is better and higher for mae. A drop fails the gate when it is larger than
/// the tolerance and, when `alpha` is given (in (0, 1); NaN: not given), also significant:
/// the paired call-bootstrap two-sided p-value of the delta (PairedResult::p_value) is below
/// alpha. Without alpha every drop beyond the tolerance fails. A metric that is undefined in
/// either run (NaN) fails the gate, since the release cannot be shown not to have regressed.
/// Throws UsageError when a gate's metric applies to no task of the comparison or alpha is
/// outside (0, 1).
GateResult apply_gate(const Comparison& comparison, std::span<const GateSpec> gates,
                      double alpha = std::numeric_limits<double>::quiet_NaN());

}  // namespace tenor::eval
