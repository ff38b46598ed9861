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
  // Calls in order of first appearance, each with its segments of the configured speaker.
  std::map<std::string, size_t> index;
  std::vector<std::vector<uint32_t>> calls;
  std::vector<std::string> ids;
  for (uint32_t i = 0; i < s.size(); ++i) {
    if (!config.speaker.empty() && s.speakers[i] != config.speaker) continue;
    auto [it, inserted] = index.try_emplace(s.call_ids[i], calls.size());
    if (inserted) {
      calls.emplace_back();
      ids.push_back(s.call_ids[i]);
    }
    calls[it->second].push_back(i);
  }
  double at_risk_s = 0.0, total_s = 0.0;
  std::vector<double> leads;
  for (size_t k = 0; k < calls.size(); ++k) {
    auto& segs = calls[k];
    if (std::none_of(segs.begin(), segs.end(), [&](uint32_t i) { return task.labels[i] >= 0; }))
      continue;
    std::stable_sort(segs.begin(), segs.end(),
                     [&](uint32_t a, uint32_t b) { return s.start_s[a] < s.start_s[b]; });
    CallTimeline t;
    t.call_id = ids[k];
    for (uint32_t i : segs)
      if (task.labels[i] >= escalated) {
        t.first_escalation_s = s.start_s[i];
        break;
      }
    const bool has_escalation = !std::isnan(t.first_escalation_s);
    for (uint32_t i : segs) {
      const double p = escalated_probability(probs.subspan(i * c, c), task.type, escalated);
      const double dur = s.end_s[i] - s.start_s[i];
      total_s += dur;
      const bool before = !has_escalation || s.start_s[i] < t.first_escalation_s;
      if (before) t.speech_s_at_risk += dur;
      if (p >= threshold) {
        if (std::isnan(t.first_alert_s)) t.first_alert_s = s.start_s[i];
        if (before) ++t.false_alarms;
      }
    }
    ++out.calls;
    if (has_escalation) {
      ++out.calls_with_escalation;
      if (!std::isnan(t.first_alert_s)) {
        ++out.calls_alerted;
        t.lead_time_s = t.first_escalation_s - t.first_alert_s;
        out.calls_alerted_early += t.lead_time_s >= 0.0;
        leads.push_back(t.lead_time_s);
      }
    }
    out.false_alarms += t.false_alarms;
    at_risk_s += t.speech_s_at_risk;
    out.per_call.push_back(std::move(t));
  }
  out.speech_hours_at_risk = at_risk_s / 3600.0;
  out.speech_hours_total = total_s / 3600.0;
  out.false_alarms_per_hour = at_risk_s > 0 ? out.false_alarms / out.speech_hours_at_risk : kNaN;
  out.mean_lead_time_s = out.median_lead_time_s = kNaN;
  if (!leads.empty()) {
    std::sort(leads.begin(), leads.end());
    const size_t m = leads.size();
    out.median_lead_time_s = m % 2 ? leads[m / 2] : (leads[m / 2 - 1] + leads[m / 2]) / 2;
    out.mean_lead_time_s = std::accumulate(leads.begin(), leads.end(), 0.0) / m;
  }
  return out;
}

}  // namespace tenor::eval
