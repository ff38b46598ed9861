#include "eval/compare.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "core/text.h"

namespace tenor::eval {
namespace {

std::string fixed(double v, int digits = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

double threshold_for(const std::map<std::string, double>& m, const std::string& task) {
  auto it = m.find(task);
  return it == m.end() ? 0.5 : it->second;
}

}  // namespace

Comparison compare_runs(const EvalSet& a, const EvalSet& b, const CompareConfig& config) {
  validate(a);
  validate(b);
  require_same_segments(a, b);
  Comparison out;
  out.resamples = config.bootstrap.resamples;
  for (size_t k = 0; k < a.tasks.size(); ++k) {
    const TaskPredictions &ta = a.tasks[k], &tb = b.tasks[k];
    const TaskSample sa(a, ta, ta.probs, threshold_for(config.thresholds_a, ta.name), {});
    const TaskSample sb(b, tb, tb.probs, threshold_for(config.thresholds_b, tb.name), {});
    const PairedResult p = paired_bootstrap(sa, sb, config.bootstrap);
    if (ta.type == data::TaskType::kBinary) {
      out.thresholds_a[ta.name] = threshold_for(config.thresholds_a, ta.name);
      out.thresholds_b[ta.name] = threshold_for(config.thresholds_b, ta.name);
    }
    for (const MetricInfo& info : metric_infos()) {
      if (!applies(info.id, ta.type)) continue;
      const size_t m = static_cast<size_t>(info.id);
      out.rows.push_back(
          {ta.name, info.id, p.a[m], p.b[m], p.delta[m], p.delta_intervals[m], p.p_value[m]});
    }
  }
  return out;
}

GateSpec parse_gate(const std::string& spec) {
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos)
    throw UsageError("gate '" + printable(spec) + "' is not METRIC:TOL; write e.g. macro_f1:0.01");
  GateSpec g;
  g.metric = metric_info(spec.substr(0, colon)).name;
  const std::string tol = spec.substr(colon + 1);
  char* end = nullptr;
  g.tolerance = std::strtod(tol.c_str(), &end);
  if (tol.empty() || *end != '\0' || !std::isfinite(g.tolerance) || g.tolerance < 0.0)
    throw UsageError("gate '" + printable(spec) + "': tolerance '" + printable(tol) +
                     "' is not a number >= 0; write e.g. macro_f1:0.01");
  return g;
}

namespace {

/// One gate on one row: a failure or (with alpha) a drop that passes as not significant is
/// appended to `r` as a sentence.
void check_row(const MetricComparison& row, const MetricInfo& info, const GateSpec& g,
               double alpha, GateResult& r) {
  const std::string head = "task '" + row.task + "': " + info.name;
  if (std::isnan(row.a) || std::isnan(row.b)) {
    r.failures.push_back(head + " cannot be compared: it is undefined in run " +
                         (std::isnan(row.a) ? "A" : "B") +
                         " (e.g. a split without both classes)");
    return;
  }
  // Worse = lower when higher is better, higher for error metrics such as mae.
  const double worse_by = info.higher_is_better ? row.a - row.b : row.b - row.a;
  if (!(worse_by > g.tolerance)) return;
  const std::string drop = head + " got worse by " + fixed(worse_by) + " (" + fixed(row.a) +
                           " -> " + fixed(row.b) + "), more than the tolerance " +
                           fixed(g.tolerance);
  const std::string p = std::isnan(row.p_value) ? std::string("undefined: no resamples")
                                                : "= " + fixed(row.p_value, 3);
  if (std::isnan(alpha)) {
    r.failures.push_back(drop + " (paired bootstrap p " + p + ")");
    return;
  }
  // An undefined p cannot show the drop to be noise: the gate fails closed.
  if (std::isnan(row.p_value) || row.p_value < alpha)
    r.failures.push_back(drop + ", and significant (paired bootstrap p " + p + " < alpha " +
                         fixed(alpha, 3) + ")");
  else
    r.passed_not_significant.push_back(drop + ", but not significant (paired bootstrap p " + p +
                                       " >= alpha " + fixed(alpha, 3) + ")");
}

}  // namespace

GateResult apply_gate(const Comparison& comparison, std::span<const GateSpec> gates,
                      double alpha) {
  if (!std::isnan(alpha) && !(alpha > 0.0 && alpha < 1.0))
    throw UsageError("--alpha " + fixed(alpha, 3) +
                     " is not a significance level in (0, 1); write e.g. --alpha 0.05");
  GateResult r;
  r.alpha = alpha;
  size_t checked = 0;
  for (const GateSpec& g : gates) {
    const MetricInfo& info = metric_info(g.metric);
    bool any = false;
    for (const MetricComparison& row : comparison.rows) {
      if (row.metric != info.id) continue;
      any = true;
      ++checked;
      check_row(row, info, g, alpha, r);
    }
    if (!any)
      throw UsageError("gate metric '" + g.metric +
                       "' applies to no task of this comparison (qwk/mae: ordinal tasks, "
                       "auroc/auprc: binary tasks)");
  }
  r.passed = r.failures.empty();
  const std::string noise =
      r.passed_not_significant.empty() ? "" : "; " + join(r.passed_not_significant, "; ");
  r.summary = r.passed ? "gate passed: " + std::to_string(checked) +
                             " task metric(s) within tolerance" +
                             (r.passed_not_significant.empty() ? "" : " or not significantly worse") +
                             noise
                       : "gate failed: " + join(r.failures, "; ") + noise;
  return r;
}

}  // namespace tenor::eval
