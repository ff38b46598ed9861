#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "eval/evaluate.h"
#include "eval_fixtures.h"

namespace tenor::eval {
namespace {

using testing::binary_set;
using testing::Seg;

constexpr double kTol = 1e-12;
constexpr size_t kMacroF1 = static_cast<size_t>(Metric::kMacroF1);
constexpr size_t kAuroc = static_cast<size_t>(Metric::kAuroc);

/// 30 calls: per call a calm and an escalated customer segment and an unlabelled agent
/// segment. Calls 0-19 (site north) are predicted right, calls 20-29 (site south) wrong.
/// Overall accuracy 40/60; north macro-F1 1, south 0.
EvalSet sites_set() {
  std::vector<Seg> segs;
  for (int c = 0; c < 30; ++c) {
    const std::string call = "c" + std::to_string(c);
    const bool north = c < 20;
    const std::map<std::string, std::string> meta = {{"site", north ? "north" : "south"}};
    segs.push_back({call, 0, north ? 0.2 : 0.8, "customer", 0, 5, meta});
    segs.push_back({call, 1, north ? 0.8 : 0.2, "customer", 5, 10, meta});
    segs.push_back({call, -1, 0.5, "agent", 10, 12, meta});
  }
  return binary_set(segs);
}

const SliceResult& slice(const TaskReport& r, const std::string& field, const std::string& value) {
  for (const auto& s : r.slices)
    if (s.field == field && s.value == value) return s;
  throw std::runtime_error("no slice " + field + "=" + value);
}

TEST(Evaluate, SlicesFlagOutliersAndReportEmptySlices) {
  EvalConfig config;
  config.bootstrap.resamples = 300;
  const EvalReport report = evaluate(sites_set(), config);
  ASSERT_EQ(report.tasks.size(), 1u);
  const TaskReport& r = report.tasks[0];
  EXPECT_EQ(r.n_labelled, 60u);
  EXPECT_EQ(r.n_calls, 30u);
  // Confusion: north right (20 + 20), south wrong (10 + 10): [[20, 10], [10, 20]].
  // Per class P = R = F1 = 2/3; macro-F1 = 2/3.
  EXPECT_NEAR(r.bootstrap.point[kMacroF1], 2.0 / 3, kTol);
  const Interval& all = r.bootstrap.intervals[kMacroF1];
  EXPECT_LT(all.lo, 2.0 / 3);
  EXPECT_GT(all.hi, 2.0 / 3);

  const SliceResult& north = slice(r, "site", "north");
  EXPECT_FALSE(north.empty);
  EXPECT_EQ(north.n_calls, 20u);
  EXPECT_NEAR(north.macro_f1, 1.0, kTol);
  EXPECT_EQ(north.flagged, 1);
  const SliceResult& south = slice(r, "site", "south");
  EXPECT_NEAR(south.macro_f1, 0.0, kTol);
  EXPECT_EQ(south.flagged, -1);
  EXPECT_FALSE(south.small) << "10 calls is the smallest slice that may be flagged";
  EXPECT_EQ(slice_note(south, r.classes), "below the overall interval");
  const SliceResult& customer = slice(r, "speaker", "customer");
  EXPECT_NEAR(customer.macro_f1, 2.0 / 3, kTol);
  EXPECT_EQ(customer.flagged, 0);
  EXPECT_EQ(slice_note(customer, r.classes), "");
  // The agent segments carry no escalation labels: an empty slice, reported as such.
  const SliceResult& agent = slice(r, "speaker", "agent");
  EXPECT_TRUE(agent.empty);
  EXPECT_EQ(agent.n_labelled, 0u);
  EXPECT_TRUE(std::isnan(agent.macro_f1));
  EXPECT_EQ(agent.flagged, 0);
  EXPECT_EQ(slice_note(agent, r.classes), "empty");
  // The timeline is computed for the "escalation" task by default.
  ASSERT_TRUE(r.timeline.has_value());
  EXPECT_EQ(r.timeline->calls, 30);
}

/// 30 calls of site "mixed" (a calm and an escalated segment each, 2 of every 3 calls right)
/// plus `calm_calls` calls of site "calm" whose labels are all calm (two calm segments, the
/// first predicted right, the second right in calls 0-7 only) and 3 calls of site "tiny" with
/// both segments predicted wrong.
EvalSet single_class_set(int calm_calls) {
  std::vector<Seg> segs;
  for (int c = 0; c < 30; ++c) {
    const std::string call = "m" + std::to_string(c);
    const bool right = c % 3 != 0;
    const std::map<std::string, std::string> meta = {{"site", "mixed"}};
    segs.push_back({call, 0, right ? 0.2 : 0.8, "customer", 0, 5, meta});
    segs.push_back({call, 1, right ? 0.8 : 0.2, "customer", 5, 10, meta});
  }
  for (int c = 0; c < calm_calls; ++c) {
    const std::string call = "q" + std::to_string(c);
    const std::map<std::string, std::string> meta = {{"site", "calm"}};
    segs.push_back({call, 0, 0.1, "customer", 0, 5, meta});
    segs.push_back({call, 0, c < 8 ? 0.3 : 0.7, "customer", 5, 10, meta});
  }
  for (int c = 0; c < 3; ++c) {
    const std::string call = "t" + std::to_string(c);
    const std::map<std::string, std::string> meta = {{"site", "tiny"}};
    segs.push_back({call, 0, 0.9, "customer", 0, 5, meta});
    segs.push_back({call, 1, 0.1, "customer", 5, 10, meta});
  }
  return binary_set(segs);
}

TEST(Evaluate, SingleClassAndSmallSlicesAreMarkedNotFlagged) {
  EvalConfig config;
  config.bootstrap.resamples = 300;
  const EvalReport report = evaluate(single_class_set(12), config);
  const TaskReport& r = report.tasks[0];
  // Macro-F1 of the calm-only slice is fixed by construction (the escalated class scores 0):
  // far outside the overall interval, and meaningless. Its class's recall is shown instead.
  const SliceResult& calm = slice(r, "site", "calm");
  EXPECT_EQ(calm.n_calls, 12u);
  EXPECT_EQ(calm.single_class, 0);
  EXPECT_LE(calm.macro_f1, 0.5);
  EXPECT_NEAR(calm.class_recall, 20.0 / 24, kTol);  // 12 + 8 of 24 calm segments right
  EXPECT_LT(calm.class_recall_interval.lo, calm.class_recall);
  EXPECT_GT(calm.class_recall_interval.hi, calm.class_recall);
  EXPECT_EQ(calm.flagged, 0);
  EXPECT_FALSE(calm.small);
  EXPECT_EQ(slice_note(calm, r.classes), "single-class (calm): recall of its class shown");
  // Three calls, every segment wrong: macro-F1 0 with a [0, 0] interval, yet too few calls
  // for that interval to mean anything. Marked small, not flagged.
  const SliceResult& tiny = slice(r, "site", "tiny");
  EXPECT_NEAR(tiny.macro_f1, 0.0, kTol);
  EXPECT_TRUE(tiny.small);
  EXPECT_EQ(tiny.flagged, 0);
  EXPECT_EQ(slice_note(tiny, r.classes), "small (3 calls)");
  SliceResult one_call = tiny;
  one_call.n_calls = 1;
  EXPECT_EQ(slice_note(one_call, r.classes), "small (1 call)");
  // A small single-class slice says both.
  const EvalReport few = evaluate(single_class_set(4), config);
  EXPECT_EQ(slice_note(slice(few.tasks[0], "site", "calm"), few.tasks[0].classes),
            "single-class (calm): recall of its class shown; small (4 calls)");
  // Flags come from the slice's own interval: "mixed" holds most calls, so its interval
  // overlaps the overall one.
  EXPECT_EQ(slice(r, "site", "mixed").flagged, 0);
}

TEST(Evaluate, PerCallMetaFieldsAreNotSlicedUnlessAsked) {
  // A field with one value per call (EPITOME's `thread`) would give 30 one-call slices.
  EvalSet set = sites_set();
  for (size_t i = 0; i < set.segments.size(); ++i)
    set.segments.meta[i]["thread"] = set.segments.call_ids[i];
  EvalConfig config;
  config.bootstrap.resamples = 50;
  const EvalReport report = evaluate(set, config);
  EXPECT_EQ(report.unsliced_fields, (std::map<std::string, size_t>{{"thread", 30}}));
  for (const auto& s : report.tasks[0].slices) EXPECT_NE(s.field, "thread");
  EXPECT_NO_THROW(slice(report.tasks[0], "site", "north"));
  // Asked for by name, it is sliced.
  config.slice_fields = {"thread"};
  const EvalReport asked = evaluate(set, config);
  EXPECT_TRUE(asked.unsliced_fields.empty());
  EXPECT_EQ(slice(asked.tasks[0], "thread", "c7").n_calls, 1u);
}

TEST(Evaluate, NoLabelledSegmentsIsReportedNotDivided) {
  const EvalReport report = evaluate(binary_set({{"a", -1, 0.3}, {"b", -1, 0.9}}));
  const TaskReport& r = report.tasks[0];
  EXPECT_EQ(r.note, "no labelled segments");
  EXPECT_EQ(r.n_labelled, 0u);
  EXPECT_TRUE(std::isnan(r.bootstrap.point[kMacroF1]));
  EXPECT_TRUE(std::isnan(r.bootstrap.intervals[kMacroF1].lo));
  EXPECT_TRUE(std::isnan(r.calibration.ece));
  // Fully empty input is no crash either.
  EXPECT_EQ(evaluate(binary_set({})).tasks[0].note, "no labelled segments");
}

TEST(Evaluate, SingleClassSplitHasUndefinedAuroc) {
  const EvalReport report = evaluate(binary_set({{"a", 0, 0.3}, {"b", 0, 0.9}}));
  const TaskReport& r = report.tasks[0];
  EXPECT_TRUE(r.note.empty());
  EXPECT_TRUE(std::isnan(r.bootstrap.point[kAuroc]));
  EXPECT_EQ(r.bootstrap.intervals[kAuroc].valid_resamples, 0);
  // Accuracy is still defined: 1 of 2 right.
  EXPECT_NEAR(r.metrics.accuracy, 0.5, kTol);
}

TEST(Evaluate, DevFitsThresholdAndTemperatureNeverTest) {
  // Dev: positives score 0.3 and 0.4, negatives 0.1 and 0.2 -> the F1-optimal threshold is
  // 0.3 before scaling; temperature scaling is monotone, so the chosen dev segment is the same.
  const EvalSet dev = binary_set({{"d1", 1, 0.3}, {"d2", 1, 0.4}, {"d3", 0, 0.1}, {"d4", 0, 0.2}});
  // Test: at 0.5 nothing is positive; at the dev threshold the two positives are found.
  const EvalSet test = binary_set({{"t1", 1, 0.35}, {"t2", 1, 0.45}, {"t3", 0, 0.05}});
  const EvalReport plain = evaluate(test);
  EXPECT_EQ(plain.tasks[0].threshold_source, "default");
  EXPECT_NEAR(plain.tasks[0].metrics.accuracy, 1.0 / 3, kTol);
  const DecisionRules rules = fit_decision_rules(dev, "dev");
  const EvalReport fitted = evaluate(test, {}, &rules);
  const TaskReport& r = fitted.tasks[0];
  EXPECT_EQ(r.threshold_source, "dev_f1");
  ASSERT_TRUE(r.threshold_fit && r.temperature);
  EXPECT_NEAR(r.threshold_fit->f1, 1.0, kTol);
  EXPECT_NEAR(r.metrics.accuracy, 1.0, kTol);
  EXPECT_GT(r.temperature->temperature, 0.0);
  ASSERT_TRUE(r.calibration_scaled.has_value());
}

TEST(Evaluate, RejectsBadInput) {
  EvalSet set = binary_set({{"a", 2, 0.3}});
  EXPECT_THROW(evaluate(set), DataError);
  set = binary_set({{"a", 1, 0.3}});
  set.tasks[0].probs[0] = 0.9;  // row sums to 1.2
  EXPECT_THROW(evaluate(set), DataError);
  set = binary_set({{"a", 1, 0.3}});
  EvalConfig config;
  config.slice_fields = {"sight"};
  EXPECT_THROW(evaluate(set, config), UsageError);
}

}  // namespace
}  // namespace tenor::eval
