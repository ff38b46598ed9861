#pragma once

#include <limits>
#include <span>
#include <string>
#include <vector>

#include "eval/eval_set.h"

namespace tenor::eval {

/// What counts as an alert and an escalation on a call's timeline.
struct TimelineConfig {
  /// Alert when the escalated probability >= threshold; NaN = the task's decision threshold
  /// (dev-chosen for binary tasks, else 0.5).
  double threshold = std::numeric_limits<double>::quiet_NaN();
  /// Classes >= this index count as escalated (binary: 1, the positive class).
  int escalated_class = 1;
  /// Only this speaker's segments are scored and counted as speech; empty = every speaker.
  std::string speaker = "customer";
};

/// One call's timeline.
struct CallTimeline {
  std::string call_id;
  double first_alert_s = std::numeric_limits<double>::quiet_NaN();  ///< start of the first alerting
                                                                    ///< segment; NaN when none
  double first_escalation_s =
      std::numeric_limits<double>::quiet_NaN();  ///< start of the first segment labelled escalated;
                                                 ///< NaN when none
  double lead_time_s =
      std::numeric_limits<double>::quiet_NaN();  ///< first_escalation_s - first_alert_s; > 0 =
                                                 ///< early; NaN if either is
  int false_alarms = 0;  ///< alerting segments before the escalation (or in a call without)
  double speech_s_at_risk = 0.0;  ///< speaker's speech before the escalation (all if none)
};

/// Lead time and false alarms over the calls that have at least one labelled segment.
struct TimelineMetrics {
  double threshold = 0.5;
  int calls = 0;
  int calls_with_escalation = 0;
  int calls_alerted = 0;        ///< escalated calls with an alert at any time
  int calls_alerted_early = 0;  ///< escalated calls alerted at or before the escalation
  double median_lead_time_s =
      std::numeric_limits<double>::quiet_NaN();  ///< over alerted escalated calls; NaN when none
  double mean_lead_time_s = std::numeric_limits<double>::quiet_NaN();
  int false_alarms = 0;
  double speech_hours_at_risk = 0.0;  ///< the speaker's speech before escalations / in calm calls
  double speech_hours_total = 0.0;
  double false_alarms_per_hour =
      std::numeric_limits<double>::quiet_NaN();  ///< false_alarms / speech_hours_at_risk; NaN when
                                                 ///< 0 hours
  std::vector<CallTimeline> per_call;
};

/// The probability that segment `i` is escalated: p[1] for binary tasks, else the sum of
/// p[k] for k >= escalated_class.
double escalated_probability(std::span<const double> row, data::TaskType type,
                             int escalated_class);

/// Computes lead times and false alarms per hour. probs: the task's [N, C] probabilities to
/// score; `threshold` must be resolved (not NaN). Segments are ordered by start time within a
/// call. Calls without any labelled segment of the configured speaker are left out.
/// Definitions:
///  - first escalation: earliest start of a labelled segment with label >= escalated_class;
///  - first alert: earliest start of a segment with escalated probability >= threshold;
///  - lead time = first escalation - first alert (seconds; positive = the model was earlier);
///  - false alarm: an alerting segment starting before the first escalation, or anywhere in
///    a call with none; the rate divides by the speaker's speech hours in that same region.
TimelineMetrics escalation_timeline(const EvalSet& set, const TaskPredictions& task,
                                    std::span<const double> probs, double threshold,
                                    const TimelineConfig& config);

}  // namespace tenor::eval
