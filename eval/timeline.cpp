#include "eval/timeline.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "core/error.h"

namespace tenor::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

double escalated_probability(std::span<const double> row, data::TaskType type,
                             int escalated_class) {
  if (type == data::TaskType::kBinary) return row[1];
  double p = 0.0;
  for (size_t k = std::max(escalated_class, 0); k < row.size(); ++k) p += row[k];
  return p;
}

namespace {

/// Calls in order of first appearance, each with its segments of the configured speaker.
struct CallSegments {
  std::vector<std::string> ids;
  std::vector<std::vector<uint32_t>> segments;
};

/// Groups the segments of `speaker` (every speaker when empty) by call.
CallSegments group_by_call(const Segments& s, const std::string& speaker) {
  CallSegments out;
  std::map<std::string, size_t> index;
  for (uint32_t i = 0; i < s.size(); ++i) {
    if (!speaker.empty() && s.speakers[i] != speaker) continue;
    auto [it, inserted] = index.try_emplace(s.call_ids[i], out.segments.size());
    if (inserted) {
      out.segments.emplace_back();
      out.ids.push_back(s.call_ids[i]);
    }
    out.segments[it->second].push_back(i);
  }
  return out;
}

/// What decides an alert: the task's scores, its escalated class and the threshold.
struct AlertRule {
  const TaskPredictions& task;
  std::span<const double> probs;
  int classes;
  int escalated;
  double threshold;
};

/// One call's timeline from its segments in time order: the first escalated label, the first
/// alert, the false alarms and speech before the escalation; adds its speech to `total_s`.
CallTimeline call_timeline(const std::string& call_id, const std::vector<uint32_t>& segs,
                           const Segments& s, const AlertRule& rule, double& total_s) {
  CallTimeline t;
  t.call_id = call_id;
  for (uint32_t i : segs)
    if (rule.task.labels[i] >= rule.escalated) {
      t.first_escalation_s = s.start_s[i];
      break;
    }
  const bool has_escalation = !std::isnan(t.first_escalation_s);
  const int c = rule.classes;
  for (uint32_t i : segs) {
    const double p =
        escalated_probability(rule.probs.subspan(i * c, c), rule.task.type, rule.escalated);
    const double dur = s.end_s[i] - s.start_s[i];
    total_s += dur;
    const bool before = !has_escalation || s.start_s[i] < t.first_escalation_s;
    if (before) t.speech_s_at_risk += dur;
    if (p >= rule.threshold) {
      if (std::isnan(t.first_alert_s)) t.first_alert_s = s.start_s[i];
      if (before) ++t.false_alarms;
    }
  }
  return t;
}

/// Adds one call's counts to `out`, and its lead time to `leads` when it was alerted.
void count_call(CallTimeline& t, TimelineMetrics& out, std::vector<double>& leads) {
  ++out.calls;
  if (!std::isnan(t.first_escalation_s)) {
    ++out.calls_with_escalation;
    if (!std::isnan(t.first_alert_s)) {
      ++out.calls_alerted;
      t.lead_time_s = t.first_escalation_s - t.first_alert_s;
      out.calls_alerted_early += t.lead_time_s >= 0.0;
      leads.push_back(t.lead_time_s);
    }
  }
  out.false_alarms += t.false_alarms;
}

/// The mean and median lead time (NaN when no escalated call was alerted).
void summarise_leads(std::vector<double>& leads, TimelineMetrics& out) {
  out.mean_lead_time_s = out.median_lead_time_s = kNaN;
  if (leads.empty()) return;
  std::sort(leads.begin(), leads.end());
  const size_t m = leads.size();
  out.median_lead_time_s = m % 2 ? leads[m / 2] : (leads[m / 2 - 1] + leads[m / 2]) / 2;
  out.mean_lead_time_s = std::accumulate(leads.begin(), leads.end(), 0.0) / m;
}

}  // namespace

TimelineMetrics escalation_timeline(const EvalSet& set, const TaskPredictions& task,
                                    std::span<const double> probs, double threshold,
                                    const TimelineConfig& config) {
  const int c = static_cast<int>(task.num_classes());
  const int escalated = task.type == data::TaskType::kBinary ? 1 : config.escalated_class;
  if (escalated < 1 || escalated >= c)
    throw UsageError("timeline: escalated_class " + std::to_string(escalated) + " of task '" +
                     task.name + "' must be in 1.." + std::to_string(c - 1));
  if (std::isnan(threshold)) throw UsageError("timeline: the alert threshold is not set");
  TimelineMetrics out;
  out.threshold = threshold;
  const Segments& s = set.segments;
  CallSegments calls = group_by_call(s, config.speaker);
  const AlertRule rule{task, probs, c, escalated, threshold};
  double at_risk_s = 0.0, total_s = 0.0;
  std::vector<double> leads;
  for (size_t k = 0; k < calls.segments.size(); ++k) {
    auto& segs = calls.segments[k];
    if (std::none_of(segs.begin(), segs.end(), [&](uint32_t i) { return task.labels[i] >= 0; }))
      continue;
    std::stable_sort(segs.begin(), segs.end(),
                     [&](uint32_t a, uint32_t b) { return s.start_s[a] < s.start_s[b]; });
    CallTimeline t = call_timeline(calls.ids[k], segs, s, rule, total_s);
    count_call(t, out, leads);
    at_risk_s += t.speech_s_at_risk;
    out.per_call.push_back(std::move(t));
  }
  out.speech_hours_at_risk = at_risk_s / 3600.0;
  out.speech_hours_total = total_s / 3600.0;
  out.false_alarms_per_hour = at_risk_s > 0 ? out.false_alarms / out.speech_hours_at_risk : kNaN;
  summarise_leads(leads, out);
  return out;
}

}  // namespace tenor::eval
