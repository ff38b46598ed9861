#include <gtest/gtest.h>

#include <cmath>

#include "eval/timeline.h"
#include "eval_fixtures.h"

namespace tenor::eval {
namespace {

using testing::binary_set;
using testing::Seg;

constexpr double kTol = 1e-9;

TEST(Timeline, LeadTimeAndFalseAlarmsHandComputed) {
  // Threshold 0.5, customer segments only.
  // Call A: 0-5 s p .2, 5-10 p .7 (alert), 10-15 p .9 escalated, 15-20 p .95 escalated.
  //   first alert 5 s, first escalation 10 s -> lead +5 s; 1 false alarm (5 s); 10 s at risk.
  // Call B: no escalation: 0-10 p .6 (false alarm), 10-20 p .1; an agent segment at p .99 is
  //   ignored. 1 false alarm, 20 s at risk.
  // Call C: escalated from 0 s, first alert at 10 s -> lead -10 s (late); 0 s at risk.
  // Call D: no labelled customer segment -> left out.
  // Lead times {+5, -10}: median = mean = -2.5 s. False alarms 2 over 30 s = 240 per hour.
  const EvalSet set = binary_set({
      {"A", 0, 0.2, "customer", 0, 5},
      {"A", 0, 0.7, "customer", 5, 10},
      {"A", 1, 0.9, "customer", 10, 15},
      {"A", 1, 0.95, "customer", 15, 20},
      {"B", 0, 0.6, "customer", 0, 10},
      {"B", -1, 0.99, "agent", 2, 4},
      {"B", 0, 0.1, "customer", 10, 20},
      {"C", 1, 0.8, "customer", 10, 20},
      {"C", 1, 0.3, "customer", 0, 10},
      {"D", -1, 0.9, "customer", 0, 10},
  });
  const TimelineMetrics t =
      escalation_timeline(set, set.tasks[0], set.tasks[0].probs, 0.5, TimelineConfig{});
  EXPECT_EQ(t.calls, 3);
  EXPECT_EQ(t.calls_with_escalation, 2);
  EXPECT_EQ(t.calls_alerted, 2);
  EXPECT_EQ(t.calls_alerted_early, 1);
  EXPECT_NEAR(t.median_lead_time_s, -2.5, kTol);
  EXPECT_NEAR(t.mean_lead_time_s, -2.5, kTol);
  EXPECT_EQ(t.false_alarms, 2);
  EXPECT_NEAR(t.speech_hours_at_risk, 30.0 / 3600, kTol);
  EXPECT_NEAR(t.speech_hours_total, 60.0 / 3600, kTol);
  EXPECT_NEAR(t.false_alarms_per_hour, 240.0, kTol);
  ASSERT_EQ(t.per_call.size(), 3u);
  EXPECT_NEAR(t.per_call[0].lead_time_s, 5.0, kTol);
  EXPECT_NEAR(t.per_call[2].lead_time_s, -10.0, kTol);  // C's segments given out of order
  EXPECT_TRUE(std::isnan(t.per_call[1].lead_time_s));
}

TEST(Timeline, MissedEscalationHasNoLeadTime) {
  const EvalSet set = binary_set({{"A", 1, 0.1, "customer", 0, 5}});
  const TimelineMetrics t =
      escalation_timeline(set, set.tasks[0], set.tasks[0].probs, 0.5, TimelineConfig{});
  EXPECT_EQ(t.calls_alerted, 0);
  EXPECT_TRUE(std::isnan(t.median_lead_time_s));
  EXPECT_TRUE(std::isnan(t.false_alarms_per_hour));  // no speech at risk: 0/0 reported as NaN
}

TEST(Timeline, OrdinalEscalatedProbabilitySumsUpperClasses) {
  const std::vector<double> row = {0.5, 0.2, 0.3};
  EXPECT_NEAR(escalated_probability(row, data::TaskType::kOrdinal, 1), 0.5, kTol);
  EXPECT_NEAR(escalated_probability(row, data::TaskType::kOrdinal, 2), 0.3, kTol);
}

}  // namespace
}  // namespace tenor::eval
