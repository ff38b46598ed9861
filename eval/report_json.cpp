#include <cmath>
#include <fstream>

#include "core/text.h"
#include "eval/bootstrap.h"
#include "eval/html_parts.h"
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

/// Per class, against the rest: support, average precision and the curve (html::class_pr_curves,
/// what the page draws).
json pr_per_class_json(const TaskReport& r, const TaskPredictions& task) {
  json out = json::array();
  const auto curves = html::class_pr_curves(r, task);
  for (size_t k = 0; k < curves.size(); ++k) {
    const html::ClassPr& pr = curves[k];
    json entry = curve_json({pr.recall, pr.precision}, "recall", "precision");
    entry["class"] = utf8(r.classes[k]);
    entry["support"] = pr.support;
    entry["average_precision"] = num(pr.average_precision);
    out.push_back(std::move(entry));
  }
  return out;
}

json error_rows_json(const std::vector<html::ErrorRow>& rows, const TaskReport& r,
                     const TaskPredictions& task, const EvalSet& test) {
  const Segments& s = test.segments;
  json out = json::array();
  for (const html::ErrorRow& e : rows)
    out.push_back({{"call_id", utf8(s.call_ids[e.index])},
                   {"segment", s.indices.empty() ? json(nullptr) : json(s.indices[e.index])},
                   {"start_s", s.start_s[e.index]},
                   {"end_s", s.end_s[e.index]},
                   {"speaker", utf8(s.speakers[e.index])},
                   {"text", s.texts.empty() ? json(nullptr) : json(utf8(s.texts[e.index]))},
                   {"score", num(e.score)},
                   {"label", utf8(r.classes[size_t(task.labels[e.index])])},
                   {"decision", utf8(r.classes[size_t(html::decision(r, e.index))])}});
  return out;
}

/// The page's worst-error tables (html::worst_errors): false alarms and misses, or the errors
/// of a categorical task; `score` is what they are ranked by (`score_name`).
json worst_errors_json(const TaskReport& r, const TaskPredictions& task, const EvalSet& test,
                       size_t n) {
  if (n == 0) return nullptr;
  const html::WorstErrors e = html::worst_errors(r, task, test, n);
  if (r.type == data::TaskType::kCategorical)
    return {{"score_name", "P(decision)"}, {"errors", error_rows_json(e.alarms, r, task, test)}};
  return {{"score_name", utf8(html::score_name(r))},
          {"false_alarms", error_rows_json(e.alarms, r, task, test)},
          {"misses", error_rows_json(e.misses, r, task, test)}};
}

json task_json(const TaskReport& r, const EvalSet& test, size_t worst_errors) {
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
          {"pr_per_class", pr_per_class_json(r, test.task(r.name))},
          {"worst_errors", worst_errors_json(r, test.task(r.name), test, worst_errors)},
          {"slices", slices},
          {"timeline", r.timeline ? timeline_json(*r.timeline) : json(nullptr)}};
}

}  // namespace

json to_json(const EvalReport& report, const EvalSet& test, size_t worst_errors) {
  const EvalConfig& c = report.config;
  json tasks = json::array();
  for (const TaskReport& r : report.tasks) tasks.push_back(task_json(r, test, worst_errors));
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
            {"worst_errors", worst_errors},
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

// --- predictions.jsonl and the training curves ----------------------------------------------

namespace {

/// One task's entry of a segment's line: label, raw and calibrated probabilities, decision.
json task_prediction(const TaskReport& r, const TaskPredictions& task, size_t i) {
  const size_t c = task.num_classes();
  const auto raw = task.prob_row(i);
  const auto scored = std::span<const double>(r.scored_probs).subspan(i * c, c);
  const int label = task.labels[i];
  return {{"label", label >= 0 ? json(utf8(task.classes[size_t(label)])) : json(nullptr)},
          {"probs", std::vector<double>(raw.begin(), raw.end())},
          {"calibrated", std::vector<double>(scored.begin(), scored.end())},
          {"decision", utf8(task.classes[size_t(predict(scored, r.type, r.threshold))])}};
}

double number_or_nan(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}

/// An epoch's record from its metrics.jsonl line; false when the line is not one.
bool epoch_record(const std::string& line, EpochRecord& e) {
  const json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("epoch") || !j["epoch"].is_number())
    return false;
  e.epoch = j["epoch"].get<double>();
  e.train_loss = number_or_nan(j, "train_loss");
  e.dev_loss = number_or_nan(j, "dev_loss");
  e.dev_score = number_or_nan(j, "dev_score");
  if (j.contains("dev") && j["dev"].is_object())
    for (const auto& [task, m] : j["dev"].items())
      if (m.is_object()) e.dev_macro_f1[task] = number_or_nan(m, "macro_f1");
  return true;
}

}  // namespace

std::string predictions_jsonl(const EvalReport& report, const EvalSet& test) {
  const Segments& s = test.segments;
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    json tasks = json::object();
    for (const TaskReport& r : report.tasks) {
      const TaskPredictions& task = test.task(r.name);
      if (task.speaker.empty() || task.speaker == s.speakers[i])
        tasks[utf8(r.name)] = task_prediction(r, task, i);
    }
    json line = {{"call_id", utf8(s.call_ids[i])},
                 {"segment", s.indices.empty() ? json(nullptr) : json(s.indices[i])},
                 {"speaker", utf8(s.speakers[i])},
                 {"start_s", s.start_s[i]},
                 {"end_s", s.end_s[i]},
                 {"text", s.texts.empty() ? json(nullptr) : json(utf8(s.texts[i]))},
                 {"tasks", tasks}};
    out += line.dump() + "\n";
  }
  return out;
}

TrainingHistory read_training_history(const std::filesystem::path& metrics_jsonl) {
  TrainingHistory h;
  h.source = metrics_jsonl.string();
  std::ifstream in(metrics_jsonl);
  if (!in) {
    h.problem = "no training curves: " + h.source + " cannot be read";
    return h;
  }
  std::string line;
  for (int no = 1; std::getline(in, line); ++no) {
    if (line.empty()) continue;
    EpochRecord e;
    if (!epoch_record(line, e)) {
      h.problem = h.source + ":" + std::to_string(no) +
                  ": not an epoch's metrics line; the curves stop at the line before it";
      break;
    }
    h.epochs.push_back(std::move(e));
  }
  if (h.epochs.empty() && h.problem.empty())
    h.problem = "no training curves: " + h.source + " holds no epoch yet";
  return h;
}

}  // namespace tenor::eval
