#include "eval/evaluate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/error.h"
#include "core/text.h"

namespace tenor::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kMacroF1 = static_cast<size_t>(Metric::kMacroF1);

/// The rule of `task` in `rules`; DataError when the rules do not cover the task.
const TaskRule& rule_of(const DecisionRules& rules, const TaskPredictions& task) {
  const TaskRule* rule = rules.find(task.name);
  if (!rule || rule->type != task.type)
    throw DataError("the decision rules (fitted on " + rules.fitted_on + ") " +
                    (rule ? "give task '" + printable(task.name) + "' another type"
                          : "lack task '" + printable(task.name) + "'") +
                    "; fit them on the dev split of the same model's predictions");
  return *rule;
}

/// Applies `rule` to the task's report: scaled probabilities, their ECE and the threshold.
void apply_rule(const TaskPredictions& task, const TaskRule& rule, const EvalConfig& config,
                TaskReport& r) {
  if (!rule.temperature_fit) return;
  const size_t c = task.num_classes();
  r.temperature = rule.temperature_fit;
  r.scored_probs = apply_temperature(task_logits(task), c, rule.temperature);
  r.calibration_scaled =
      expected_calibration_error(r.scored_probs, task.labels, c, config.calibration_bins);
  if (task.type != data::TaskType::kBinary) return;
  r.threshold = rule.threshold;
  r.threshold_source = rule.threshold_source;
  r.threshold_fit = rule.threshold_fit;
}

/// Segment indices per slice value, for the speaker and every requested meta field.
std::vector<std::pair<std::string, std::map<std::string, std::vector<uint32_t>>>> slice_groups(
    const EvalSet& set, const EvalConfig& config, std::map<std::string, size_t>& unsliced) {
  const Segments& s = set.segments;
  std::vector<std::string> fields = config.slice_fields;
  if (fields.empty()) {
    std::set<std::string> seen;
    for (const auto& m : s.meta)
      for (const auto& [k, v] : m) seen.insert(k);
    fields.assign(seen.begin(), seen.end());
  }
  std::vector<std::pair<std::string, std::map<std::string, std::vector<uint32_t>>>> out;
  if (config.slice_by_speaker) {
    auto& g = out.emplace_back("speaker", std::map<std::string, std::vector<uint32_t>>{}).second;
    for (uint32_t i = 0; i < s.size(); ++i) g[s.speakers[i]].push_back(i);
  }
  for (const std::string& field : fields) {
    auto& g = out.emplace_back(field, std::map<std::string, std::vector<uint32_t>>{}).second;
    for (uint32_t i = 0; i < s.meta.size(); ++i) {
      auto it = s.meta[i].find(field);
      if (it != s.meta[i].end()) g[it->second].push_back(i);
    }
    if (g.empty())
      throw UsageError("slice field '" + printable(field) +
                       "' occurs in no segment's meta; check the field name");
    if (config.slice_fields.empty() && g.size() > config.max_slice_values) {
      unsliced[field] = g.size();
      out.pop_back();
    }
  }
  return out;
}

using SliceGroups =
    std::vector<std::pair<std::string, std::map<std::string, std::vector<uint32_t>>>>;

/// The one class the labelled segments of `segments` hold, or -1 (none or several).
int only_class(const TaskPredictions& task, const std::vector<uint32_t>& segments) {
  int only = -1;
  for (uint32_t i : segments) {
    const int label = task.labels[i];
    if (label < 0 || label == only) continue;
    if (only >= 0) return -1;
    only = label;
  }
  return only;
}

/// One slice: its macro-F1 (or, single-class, its class's recall) with the interval, and
/// whether its interval lies outside the task's `overall` one.
SliceResult slice_result(const EvalSet& test, const TaskPredictions& task, const TaskReport& r,
                         const std::vector<uint32_t>& segments, const Interval& overall,
                         const EvalConfig& config) {
  SliceResult sr;
  const TaskSample slice(test, task, r.scored_probs, r.threshold, segments, false);
  sr.n_labelled = slice.num_labelled();
  sr.n_calls = slice.num_calls();
  sr.empty = sr.n_labelled == 0;
  if (sr.empty) return sr;
  const BootstrapResult b = bootstrap(slice, config.bootstrap);
  sr.macro_f1 = b.point[kMacroF1];
  sr.interval = b.intervals[kMacroF1];
  sr.small = sr.n_calls < config.min_slice_calls;
  sr.single_class = only_class(task, segments);
  if (sr.single_class >= 0) {
    // Every labelled segment is of that class: recall of the class = accuracy on the slice.
    constexpr size_t kAccuracy = static_cast<size_t>(Metric::kAccuracy);
    sr.class_recall = b.point[kAccuracy];
    sr.class_recall_interval = b.intervals[kAccuracy];
    return sr;
  }
  if (sr.small || std::isnan(overall.lo) || std::isnan(sr.interval.lo)) return sr;
  sr.flagged = sr.interval.hi < overall.lo ? -1 : sr.interval.lo > overall.hi ? 1 : 0;
  return sr;
}

/// Every slice of `groups`, each against the task's overall macro-F1 interval.
std::vector<SliceResult> slice_results(const EvalSet& test, const TaskPredictions& task,
                                       const TaskReport& r, const SliceGroups& groups,
                                       const EvalConfig& config) {
  const Interval overall = r.bootstrap.intervals[kMacroF1];
  std::vector<SliceResult> out;
  for (const auto& [field, values] : groups)
    for (const auto& [value, segments] : values) {
      SliceResult sr = slice_result(test, task, r, segments, overall, config);
      sr.field = field;
      sr.value = value;
      out.push_back(std::move(sr));
    }
  return out;
}

/// Everything reported for one task of `test` under `rules` (may be null).
TaskReport task_report(const EvalSet& test, const TaskPredictions& task, const EvalConfig& config,
                       const DecisionRules* rules, const SliceGroups& groups) {
  TaskReport r;
  r.name = task.name;
  r.type = task.type;
  r.classes = task.classes;
  const size_t c = task.num_classes();
  r.calibration = expected_calibration_error(task.probs, task.labels, c, config.calibration_bins);
  r.scored_probs = task.probs;
  if (rules) apply_rule(task, rule_of(*rules, task), config, r);

  const TaskSample sample(test, task, r.scored_probs, r.threshold, {});
  r.n_labelled = sample.num_labelled();
  r.n_calls = sample.num_calls();
  if (r.n_labelled == 0) r.note = "no labelled segments";
  std::vector<double> ones(sample.num_calls(), 1.0);
  r.confusion = sample.confusion(ones);
  r.metrics = classification_metrics(r.confusion);
  r.bootstrap = bootstrap(sample, config.bootstrap);
  if (task.type == data::TaskType::kBinary) {
    r.roc = sample.ranked().roc_curve();
    r.pr = sample.ranked().pr_curve();
  }
  r.slices = slice_results(test, task, r, groups, config);

  const auto& tt = config.timeline_tasks;
  if (task.type != data::TaskType::kCategorical &&
      std::find(tt.begin(), tt.end(), task.name) != tt.end()) {
    double threshold = config.timeline.threshold;
    if (std::isnan(threshold)) threshold = task.type == data::TaskType::kBinary ? r.threshold : 0.5;
    r.timeline = escalation_timeline(test, task, r.scored_probs, threshold, config.timeline);
  }
  return r;
}

void check_config(const EvalConfig& config) {
  if (config.bootstrap.resamples < 0 || !(config.bootstrap.confidence > 0.0) ||
      !(config.bootstrap.confidence < 1.0))
    throw ConfigError("bootstrap: resamples must be >= 0 and confidence in (0, 1), got " +
                      std::to_string(config.bootstrap.resamples) + " and " +
                      format_number(config.bootstrap.confidence));
  if (config.calibration_bins < 1)
    throw ConfigError("calibration_bins must be >= 1, got " +
                      std::to_string(config.calibration_bins));
}

}  // namespace

std::string slice_note(const SliceResult& slice, const std::vector<std::string>& classes) {
  if (slice.empty) return "empty";
  std::vector<std::string> parts;
  if (slice.single_class >= 0) {
    const size_t k = static_cast<size_t>(slice.single_class);
    parts.push_back("single-class (" + (k < classes.size() ? classes[k] : std::to_string(k)) +
                    "): recall of its class shown");
  }
  if (slice.small)
    parts.push_back("small (" + std::to_string(slice.n_calls) +
                    (slice.n_calls == 1 ? " call)" : " calls)"));
  if (slice.flagged != 0)
    parts.push_back(slice.flagged < 0 ? "below the overall interval"
                                      : "above the overall interval");
  return join(parts, "; ");
}

EvalReport evaluate(const EvalSet& test, const EvalConfig& config, const DecisionRules* rules) {
  validate(test);
  check_config(config);
  EvalReport report;
  report.config = config;
  report.has_dev = rules && rules->fitted();
  if (rules) report.rules_fitted_on = rules->fitted_on;
  report.n_segments = test.segments.size();
  report.n_calls =
      std::set<std::string>(test.segments.call_ids.begin(), test.segments.call_ids.end()).size();
  const auto groups = slice_groups(test, config, report.unsliced_fields);
  for (const TaskPredictions& task : test.tasks)
    report.tasks.push_back(task_report(test, task, config, rules, groups));
  return report;
}

}  // namespace tenor::eval
