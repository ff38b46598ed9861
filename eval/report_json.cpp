#include <cmath>

#include "core/text.h"
#include "eval/plots.h"
#include "eval/report.h"

namespace tenor::eval {
namespace {

using nlohmann::json;

constexpr size_t kMaxCurvePoints = 1000;

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// nlohmann::json refuses to dump invalid UTF-8; user strings (call ids, meta values) that are
// not valid UTF-8 are written with their bad bytes escaped as "\\xNN".
std::string utf8(const std::string& s) { return is_valid_utf8(s) ? s : printable(s, s.size() + 1); }

json utf8_list(const std::vector<std::string>& v) {
  json out = json::array();
  for (const auto& s : v) out.push_back(utf8(s));
  return out;
}

json calibration_json(const Calibration& c) {
  json bins = json::array();
  for (const ReliabilityBin& b : c.bins)
    bins.push_back({{"lower", b.lower},
                    {"upper", b.upper},
                    {"confidence", num(b.confidence)},
                    {"accuracy", num(b.accuracy)},
                    {"count", b.count}});
  return {{"ece", num(c.ece)}, {"n", c.n}, {"bins", bins}};
}

json curve_json(RankedScores::Curve c, const char* x, const char* y) {
  thin(c.x, c.y, kMaxCurvePoints);
  json xs = json::array(), ys = json::array();
  for (size_t i = 0; i < c.x.size(); ++i) {
    xs.push_back(num(c.x[i]));
    ys.push_back(num(c.y[i]));
  }
  return {{x, xs}, {y, ys}};
}

json timeline_json(const TimelineMetrics& t) {
  json calls = json::array();
  for (const CallTimeline& c : t.per_call)
    calls.push_back({{"call_id", utf8(c.call_id)},
                     {"first_alert_s", num(c.first_alert_s)},
                     {"first_escalation_s", num(c.first_escalation_s)},
                     {"lead_time_s", num(c.lead_time_s)},
                     {"false_alarms", c.false_alarms},
                     {"speech_s_at_risk", c.speech_s_at_risk}});
  return {{"threshold", t.threshold},
          {"calls", t.calls},
          {"calls_with_escalation", t.calls_with_escalation},
          {"calls_alerted", t.calls_alerted},
          {"calls_alerted_early", t.calls_alerted_early},
          {"median_lead_time_s", num(t.median_lead_time_s)},
          {"mean_lead_time_s", num(t.mean_lead_time_s)},
          {"false_alarms", t.false_alarms},
          {"speech_hours_at_risk", t.speech_hours_at_risk},
          {"speech_hours_total", t.speech_hours_total},
          {"false_alarms_per_hour", num(t.false_alarms_per_hour)},
          {"per_call", calls}};
}

json slice_json(const SliceResult& s, const std::vector<std::string>& classes) {
  return {{"field", utf8(s.field)},
          {"value", utf8(s.value)},
          {"n_labelled", s.n_labelled},
          {"n_calls", s.n_calls},
          {"empty", s.empty},
          {"macro_f1", num(s.macro_f1)},
          {"ci_low", num(s.interval.lo)},
          {"ci_high", num(s.interval.hi)},
          {"single_class",
           s.single_class >= 0 ? json(utf8(classes[size_t(s.single_class)])) : json(nullptr)},
          {"class_recall", num(s.class_recall)},
          {"class_recall_ci_low", num(s.class_recall_interval.lo)},
          {"class_recall_ci_high", num(s.class_recall_interval.hi)},
          {"small", s.small},
          {"flagged", s.flagged < 0   ? json("below")
                      : s.flagged > 0 ? json("above")
                                      : json(nullptr)},
          {"outside_overall", s.flagged != 0},
          {"note", utf8(slice_note(s, classes))}};
}

json task_json(const TaskReport& r) {
  json metrics = json::object();
  for (const MetricInfo& info : metric_infos()) {
    if (!applies(info.id, r.type)) continue;
    const size_t m = static_cast<size_t>(info.id);
    const Interval& ci = r.bootstrap.intervals[m];
    metrics[info.name] = {{"value", num(r.bootstrap.point[m])},
                          {"ci_low", num(ci.lo)},
                          {"ci_high", num(ci.hi)},
                          {"valid_resamples", ci.valid_resamples}};
  }
  json per_class = json::array();
  for (size_t k = 0; k < r.classes.size(); ++k) {
    const ClassScores& s = r.metrics.per_class[k];
    per_class.push_back({{"class", utf8(r.classes[k])},
                         {"precision", s.precision},
                         {"recall", s.recall},
                         {"f1", s.f1},
                         {"support", s.support}});
  }
  json matrix = json::array();
  for (int i = 0; i < r.confusion.num_classes; ++i) {
    json row = json::array();
    for (int j = 0; j < r.confusion.num_classes; ++j) row.push_back(r.confusion.at(i, j));
    matrix.push_back(row);
  }
  json calibration = {
      {"raw", calibration_json(r.calibration)}, {"temperature", nullptr}, {"scaled", nullptr}};
  if (r.temperature)
    calibration["temperature"] = {{"value", r.temperature->temperature},
                                  {"nll_before", r.temperature->nll_before},
                                  {"nll_after", r.temperature->nll_after},
                                  {"at_bound", r.temperature->at_bound},
                                  {"n_dev", r.temperature->n}};
  if (r.calibration_scaled) calibration["scaled"] = calibration_json(*r.calibration_scaled);
  json slices = json::array();
  for (const SliceResult& s : r.slices) slices.push_back(slice_json(s, r.classes));
  json decision = {{"threshold", nullptr}, {"source", nullptr}, {"dev_f1", nullptr}};
  if (r.type == data::TaskType::kBinary) {
    decision["threshold"] = r.threshold;
    decision["source"] = r.threshold_source;
    if (r.threshold_fit) decision["dev_f1"] = r.threshold_fit->f1;
  }
  json curves = nullptr;
  if (r.type == data::TaskType::kBinary)
    curves = {{"roc", curve_json(r.roc, "fpr", "tpr")},
              {"pr", curve_json(r.pr, "recall", "precision")}};
  return {{"name", utf8(r.name)},
          {"kind", data::to_string(r.type)},
          {"classes", utf8_list(r.classes)},
          {"n_labelled", r.n_labelled},
          {"n_calls", r.n_calls},
          {"note", r.note.empty() ? json(nullptr) : json(r.note)},
          {"decision", decision},
          {"metrics", metrics},
          {"per_class", per_class},
          {"confusion", matrix},
          {"calibration", calibration},
          {"curves", curves},
          {"slices", slices},
          {"timeline", r.timeline ? timeline_json(*r.timeline) : json(nullptr)}};
}

}  // namespace

json to_json(const EvalReport& report) {
  const EvalConfig& c = report.config;
  json tasks = json::array();
  for (const TaskReport& r : report.tasks) tasks.push_back(task_json(r));
  json unsliced = json::object();
  for (const auto& [field, values] : report.unsliced_fields) unsliced[utf8(field)] = values;
  return {{"schema", "tenor-eval-report"},
          {"schema_version", kReportSchemaVersion},
          {"n_segments", report.n_segments},
          {"n_calls", report.n_calls},
          {"config",
           {{"bootstrap",
             {{"resamples", c.bootstrap.resamples},
              {"confidence", c.bootstrap.confidence},
              {"seed", c.bootstrap.seed},
              {"unit", "call"},
              {"method", "percentile"}}},
            {"calibration_bins", c.calibration_bins},
            {"dev", report.has_dev},
            {"decision_rules_fitted_on", utf8(report.rules_fitted_on)},
            {"max_slice_values", c.max_slice_values},
            {"min_slice_calls", c.min_slice_calls},
            {"unsliced_fields", unsliced},
            {"timeline",
             {{"threshold", num(c.timeline.threshold)},
              {"escalated_class", c.timeline.escalated_class},
              {"speaker", utf8(c.timeline.speaker)}}}}},
          {"tasks", tasks}};
}

json to_json(const Comparison& comparison, const GateResult* gate) {
  json rows = json::array();
  for (const MetricComparison& m : comparison.rows)
    rows.push_back({{"task", utf8(m.task)},
                    {"metric", metric_infos()[static_cast<size_t>(m.metric)].name},
                    {"a", num(m.a)},
                    {"b", num(m.b)},
                    {"delta", num(m.delta)},
                    {"delta_ci_low", num(m.delta_interval.lo)},
                    {"delta_ci_high", num(m.delta_interval.hi)},
                    {"p_value", num(m.p_value)}});
  json out = {{"schema", "tenor-eval-comparison"},
              {"schema_version", kReportSchemaVersion},
              {"resamples", comparison.resamples},
              {"rows", rows},
              {"thresholds", {{"a", comparison.thresholds_a}, {"b", comparison.thresholds_b}}},
              {"gate", nullptr}};
  if (gate)
    out["gate"] = {{"passed", gate->passed},
                   {"alpha", num(gate->alpha)},
                   {"failures", utf8_list(gate->failures)},
                   {"passed_not_significant", utf8_list(gate->passed_not_significant)},
                   {"summary", utf8(gate->summary)}};
  return out;
}

}  // namespace tenor::eval
