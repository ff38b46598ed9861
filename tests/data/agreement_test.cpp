// Krippendorff's alpha against the worked examples of Krippendorff (2011),
// "Computing Krippendorff's Alpha-Reliability", Annenberg School for Communication.
#include <gtest/gtest.h>

#include <cmath>

#include "data/agreement.h"

namespace tenor::data {
namespace {

// Sec. A: two observers, binary data, ten units: alpha = 0.095.
TEST(Agreement, TwoObserversBinaryExample) {
  const int a[] = {0, 1, 0, 0, 0, 0, 0, 0, 1, 0};
  const int b[] = {1, 1, 1, 0, 0, 1, 0, 0, 0, 0};
  ReliabilityData units;
  for (int i = 0; i < 10; ++i) units.push_back({a[i], b[i]});
  EXPECT_NEAR(krippendorff_alpha(units, 2, AlphaMetric::kNominal), 0.095, 0.0005);
}

// Sec. C: four observers, values 1..5, missing data, twelve units.
// Published: nominal 0.743, ordinal 0.815, interval 0.849.
ReliabilityData four_observer_example() {
  const int m = -1;  // missing
  const int rows[4][12] = {{1, 2, 3, 3, 2, 1, 4, 1, 2, m, m, m},
                           {1, 2, 3, 3, 2, 2, 4, 1, 2, 5, m, 3},
                           {m, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, m},
                           {1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, m}};
  ReliabilityData units(12);
  for (int u = 0; u < 12; ++u)
    for (int o = 0; o < 4; ++o)
      if (rows[o][u] != m) units[u].push_back(rows[o][u] - 1);
  return units;
}

TEST(Agreement, FourObserversWithMissingData) {
  auto units = four_observer_example();
  EXPECT_NEAR(krippendorff_alpha(units, 5, AlphaMetric::kNominal), 0.743, 0.0005);
  EXPECT_NEAR(krippendorff_alpha(units, 5, AlphaMetric::kOrdinal), 0.815, 0.0005);
  EXPECT_NEAR(krippendorff_alpha(units, 5, AlphaMetric::kInterval), 0.849, 0.0005);
}

TEST(Agreement, PerfectAgreementIsOneAndNoVariationIsUndefined) {
  ReliabilityData perfect = {{0, 0}, {1, 1}, {2, 2, 2}, {1, 1}};
  EXPECT_DOUBLE_EQ(krippendorff_alpha(perfect, 3, AlphaMetric::kOrdinal), 1.0);
  ReliabilityData constant = {{1, 1}, {1, 1}};
  EXPECT_TRUE(std::isnan(krippendorff_alpha(constant, 3, AlphaMetric::kNominal)));
  ReliabilityData single = {{1}, {2}};  // nothing pairable
  EXPECT_TRUE(std::isnan(krippendorff_alpha(single, 3, AlphaMetric::kNominal)));
}

TEST(Agreement, BootstrapIntervalCoversEstimateAndIsReproducible) {
  auto units = four_observer_example();
  auto a = krippendorff_alpha_bootstrap(units, 5, AlphaMetric::kNominal, 500, 7);
  auto b = krippendorff_alpha_bootstrap(units, 5, AlphaMetric::kNominal, 500, 7);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_LE(a.low, a.alpha);
  EXPECT_GE(a.high, a.alpha);
  EXPECT_LT(a.high - a.low, 1.0);
  EXPECT_EQ(a.pairable_units, 11);  // unit 12 has one value only
}

// Per-annotator agreement against the consensus of the others (leave-one-out majority, ties
// to the higher class for a binary task; `labels` when given). Hand-computed: a agrees on
// segments 1-2 and not 3-4 (p_o 0.5, p_e 0.5, kappa 0); c agrees on 1 and 4 (p_o 0.5,
// p_e = 0.75 * 0.25 + 0.25 * 0.75 = 0.375, kappa 0.2). d labelled alone: nothing to compare.
TEST(AnnotatorAgreement, AgainstTheConsensusOfTheOthers) {
  Dataset ds;
  Task task;
  task.name = "escalation";
  task.classes = {"calm", "escalated"};
  ds.schema.tasks = {task};
  Call call;
  const std::vector<std::map<std::string, int>> votes = {
      {{"a", 0}, {"b", 0}, {"c", 0}},
      {{"a", 1}, {"b", 1}, {"c", 0}},
      {{"a", 1}, {"b", 0}, {"c", 0}},
      {{"a", 0}, {"b", 1}, {"c", 1}},
      {{"d", 1}}};
  for (const auto& v : votes) {
    Segment seg;
    for (const auto& [who, label] : v) seg.labels_by[who]["escalation"] = label;
    call.segments.push_back(seg);
  }
  call.segments[3].labels["escalation"] = 1;  // adjudicated
  ds.calls = {call};
  const auto all = annotator_agreement(ds, task);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].annotator, "a");
  EXPECT_EQ(all[0].segments, 4);
  EXPECT_EQ(all[0].agreed, 2);
  EXPECT_EQ(all[0].confusion, (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_NEAR(all[0].kappa, 0.0, 1e-12);
  EXPECT_EQ(all[2].annotator, "c");
  EXPECT_EQ(all[2].confusion, (std::vector<int64_t>{1, 2, 0, 1}));
  EXPECT_NEAR(all[2].agreement, 0.5, 1e-12);
  EXPECT_NEAR(all[2].kappa, 0.2, 1e-12);
  EXPECT_EQ(all[3].annotator, "d");
  EXPECT_EQ(all[3].segments, 0);
  EXPECT_TRUE(std::isnan(all[3].agreement));
}

}  // namespace
}  // namespace tenor::data
