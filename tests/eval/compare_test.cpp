#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "eval/compare.h"
#include "eval_fixtures.h"

namespace tenor::eval {
namespace {

using testing::binary_set;
using ::testing::HasSubstr;
using testing::multiclass_set;
using testing::Seg;

constexpr double kTol = 1e-12;

/// 10 calls of 2 segments, labels 0 then 1. Run A is right everywhere; run B is wrong on the
/// first segment of calls 0-4 (5 of 20): accuracy 1 -> 0.75.
std::pair<EvalSet, EvalSet> two_runs() {
  std::vector<Seg> a, b;
  for (int c = 0; c < 10; ++c)
    for (int s = 0; s < 2; ++s) {
      const std::string call = "c" + std::to_string(c);
      a.push_back({call, s, s ? 0.9 : 0.1});
      b.push_back({call, s, (s == 0 && c < 5) ? 0.8 : (s ? 0.9 : 0.1)});
    }
  return {binary_set(a), binary_set(b)};
}

const MetricComparison& row(const Comparison& c, const std::string& metric) {
  for (const auto& r : c.rows)
    if (r.metric == metric_info(metric).id) return r;
  throw std::runtime_error("no row " + metric);
}

TEST(Compare, PairedDeltasAndPValues) {
  const auto [a, b] = two_runs();
  const Comparison c = compare_runs(a, b);
  EXPECT_EQ(c.rows.size(), 5u);  // accuracy, macro_f1, uar, auroc, auprc for a binary task
  const MetricComparison& acc = row(c, "accuracy");
  EXPECT_NEAR(acc.a, 1.0, kTol);
  EXPECT_NEAR(acc.b, 0.75, kTol);
  EXPECT_NEAR(acc.delta, -0.25, kTol);
  // A flip needs a resample without any of calls 0-4: probability 0.5^10 ~ 0.001, so p is
  // about 0.002; allow up to 0.02.
  EXPECT_LE(acc.p_value, 0.02);
  EXPECT_LT(acc.delta_interval.hi, 0.0);
  // The decision rule of each side is part of the result: the default, or the one given.
  EXPECT_EQ(c.thresholds_a.at(a.tasks[0].name), 0.5);
  CompareConfig config;
  config.bootstrap.resamples = 10;
  config.thresholds_b[a.tasks[0].name] = 0.7;
  const Comparison with = compare_runs(a, b, config);
  EXPECT_EQ(with.thresholds_a.at(a.tasks[0].name), 0.5);
  EXPECT_EQ(with.thresholds_b.at(a.tasks[0].name), 0.7);
}

TEST(Compare, GateFailsWithASentenceNamingTaskMetricAndAmount) {
  const auto [a, b] = two_runs();
  const Comparison c = compare_runs(a, b);
  const std::vector<GateSpec> gates = {parse_gate("accuracy:0.01")};
  const GateResult g = apply_gate(c, gates);
  EXPECT_FALSE(g.passed);
  ASSERT_EQ(g.failures.size(), 1u);
  EXPECT_THAT(g.failures[0],
              HasSubstr("task 'escalation': accuracy got worse by 0.2500 (1.0000 -> 0.7500), "
                        "more than the tolerance 0.0100 (paired bootstrap p = "));
  EXPECT_THAT(g.summary, HasSubstr("gate failed: task 'escalation': accuracy"));
  // The other direction passes: B -> A is an improvement.
  const GateResult back = apply_gate(compare_runs(b, a), gates);
  EXPECT_TRUE(back.passed);
  EXPECT_THAT(back.summary, HasSubstr("gate passed"));
  // Within a generous tolerance it passes too.
  const std::vector<GateSpec> loose = {parse_gate("accuracy:0.3")};
  EXPECT_TRUE(apply_gate(c, loose).passed);
}

/// Like two_runs, but B is wrong on the first segment of call 0 only: accuracy 1 -> 0.95, a
/// drop that a resample without call 0 (probability 0.9^10 ~ 0.35) erases, so p ~ 0.7.
std::pair<EvalSet, EvalSet> noisy_runs() {
  std::vector<Seg> a, b;
  for (int c = 0; c < 10; ++c)
    for (int s = 0; s < 2; ++s) {
      const std::string call = "c" + std::to_string(c);
      a.push_back({call, s, s ? 0.9 : 0.1});
      b.push_back({call, s, (s == 0 && c == 0) ? 0.8 : (s ? 0.9 : 0.1)});
    }
  return {binary_set(a), binary_set(b)};
}

// `--alpha`: a drop beyond the tolerance fails only when the paired call bootstrap says it
// is significant; the sentences say which (issue 22, item 5).
TEST(Compare, GateWithAlphaFailsOnlySignificantDrops) {
  const std::vector<GateSpec> gates = {parse_gate("accuracy:0.01")};
  const auto [a, b] = noisy_runs();
  const Comparison noisy = compare_runs(a, b);
  EXPECT_NEAR(row(noisy, "accuracy").delta, -0.05, kTol);
  EXPECT_GT(row(noisy, "accuracy").p_value, 0.3);
  // Without alpha (the default) the drop fails, significant or not.
  EXPECT_FALSE(apply_gate(noisy, gates).passed);
  const GateResult g = apply_gate(noisy, gates, 0.05);
  EXPECT_TRUE(g.passed) << g.summary;
  ASSERT_EQ(g.passed_not_significant.size(), 1u);
  EXPECT_THAT(g.passed_not_significant[0],
              HasSubstr("accuracy got worse by 0.0500 (1.0000 -> 0.9500), more than the "
                        "tolerance 0.0100, but not significant (paired bootstrap p = "));
  EXPECT_THAT(g.passed_not_significant[0], HasSubstr(">= alpha 0.050)"));
  EXPECT_THAT(g.summary, HasSubstr("gate passed: 1 task metric(s) within tolerance or not "
                                   "significantly worse; task 'escalation': accuracy"));
  // A large drop (p ~ 0.002) fails with the same alpha, and says it is significant.
  const auto [a2, b2] = two_runs();
  const GateResult bad = apply_gate(compare_runs(a2, b2), gates, 0.05);
  EXPECT_FALSE(bad.passed);
  ASSERT_EQ(bad.failures.size(), 1u);
  EXPECT_THAT(bad.failures[0], HasSubstr("more than the tolerance 0.0100, and significant "
                                         "(paired bootstrap p = "));
  EXPECT_THAT(bad.failures[0], HasSubstr("< alpha 0.050)"));
  // Without resamples there is no p: the gate fails closed.
  CompareConfig none;
  none.bootstrap.resamples = 0;
  const GateResult blind = apply_gate(compare_runs(a, b, none), gates, 0.05);
  EXPECT_FALSE(blind.passed);
  EXPECT_THAT(blind.summary, HasSubstr("p undefined: no resamples"));
  EXPECT_THROW(apply_gate(noisy, gates, 0.0), UsageError);
  EXPECT_THROW(apply_gate(noisy, gates, 1.5), UsageError);
}

TEST(Compare, MaeIsWorseWhenItRises) {
  // Ordinal truth 0 1 2 2; A predicts 0 1 2 2 (mae 0), B predicts 0 1 2 0 (mae 2/4 = 0.5).
  const EvalSet a = multiclass_set({0, 1, 2, 2}, {0, 1, 2, 2}, 3, data::TaskType::kOrdinal);
  const EvalSet b = multiclass_set({0, 1, 2, 2}, {0, 1, 2, 0}, 3, data::TaskType::kOrdinal);
  const std::vector<GateSpec> gates = {parse_gate("mae:0.1")};
  const GateResult g = apply_gate(compare_runs(a, b), gates);
  ASSERT_EQ(g.failures.size(), 1u);
  EXPECT_THAT(g.failures[0], HasSubstr("task 'task': mae got worse by 0.5000 (0.0000 -> 0.5000)"));
  EXPECT_TRUE(apply_gate(compare_runs(b, a), gates).passed);
}

TEST(Compare, UndefinedMetricFailsClosed) {
  // Only negatives: AUROC is undefined in both runs, so the gate cannot show no regression.
  const EvalSet a = binary_set({{"x", 0, 0.2}, {"y", 0, 0.3}});
  const std::vector<GateSpec> gates = {parse_gate("auroc:0.05")};
  const GateResult g = apply_gate(compare_runs(a, a), gates);
  EXPECT_FALSE(g.passed);
  EXPECT_THAT(g.summary, HasSubstr("auroc cannot be compared: it is undefined in run A"));
}

TEST(Compare, GateSpecsAreChecked) {
  const GateSpec g = parse_gate("macro_f1:0.01");
  EXPECT_EQ(g.metric, "macro_f1");
  EXPECT_NEAR(g.tolerance, 0.01, kTol);
  try {
    parse_gate("macro_f:0.01");
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("did you mean 'macro_f1'"));
  }
  EXPECT_THROW(parse_gate("macro_f1"), UsageError);
  EXPECT_THROW(parse_gate("macro_f1:-1"), UsageError);
  EXPECT_THROW(parse_gate("macro_f1:abc"), UsageError);
  // qwk applies to no binary task.
  const auto [a, b] = two_runs();
  const std::vector<GateSpec> qwk = {parse_gate("qwk:0.01")};
  EXPECT_THROW(apply_gate(compare_runs(a, b), qwk), UsageError);
}

TEST(Compare, RefusesDifferentSegments) {
  const auto [a, b] = two_runs();
  EvalSet other = b;
  other.segments.call_ids[0] = "elsewhere";
  EXPECT_THROW(compare_runs(a, other), DataError);
  other = b;
  other.tasks[0].labels[0] = 1;
  EXPECT_THROW(compare_runs(a, other), DataError);
}

TEST(Compare, RunsOfDifferentTaskListsAreComparedOnTheSharedTasks) {
  // A: escalation (customer turns) and empathy (agent turns); B: escalation only, so it
  // scores the customer turns only.
  EvalSet a = testing::binary_set({{"c1", 1, 0.9, "customer", 0, 1},
                                   {"c1", -1, 0.5, "agent", 1, 2},
                                   {"c2", 0, 0.2, "customer", 0, 1},
                                   {"c2", -1, 0.5, "agent", 1, 2}});
  EvalSet empathy = testing::binary_set({{"c1", -1, 0.5},
                                         {"c1", 1, 0.7, "agent", 1, 2},
                                         {"c2", -1, 0.5},
                                         {"c2", 0, 0.4, "agent", 1, 2}},
                                        "empathy");
  a.tasks.push_back(empathy.tasks[0]);
  a.tasks[1].logits = {0, 0, 0, 1, 0, 0, 1, 0};  // kept with the rows
  a.tasks[0].logits = {9, 1, 5, 5, 2, 8, 5, 5};
  EvalSet b =
      testing::binary_set({{"c2", 0, 0.1, "customer", 0, 1}, {"c1", 1, 0.6, "customer", 0, 1}});
  EXPECT_THROW(compare_runs(a, b), DataError);
  EvalSet a2 = a, b2 = b;
  EXPECT_EQ(restrict_to_shared_tasks(a2, b2), std::vector<std::string>{"empathy"});
  ASSERT_EQ(a2.tasks.size(), 1u);
  ASSERT_EQ(b2.tasks.size(), 1u);
  EXPECT_EQ(a2.segments.call_ids, (std::vector<std::string>{"c1", "c2"}));
  EXPECT_EQ(b2.segments.call_ids, a2.segments.call_ids) << "B's rows follow A's order";
  EXPECT_EQ(b2.tasks[0].probs, (std::vector<double>{0.4, 0.6, 0.9, 0.1}));
  EXPECT_EQ(a2.tasks[0].logits, (std::vector<double>{9, 1, 2, 8}));
  EXPECT_NO_THROW(compare_runs(a2, b2));
  // The same task lists leave both sets as they are; none shared is refused naming both.
  EvalSet a3 = a, a4 = a;
  EXPECT_TRUE(restrict_to_shared_tasks(a3, a4).empty());
  EXPECT_EQ(a3.segments.call_ids, a.segments.call_ids);
  EvalSet other = testing::binary_set({{"c1", 1, 0.9}}, "topic");
  try {
    restrict_to_shared_tasks(a2, other);
    ADD_FAILURE() << "no shared task must be refused";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("(tasks escalation) and run B (tasks topic)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tenor::eval
