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

}  // namespace
}  // namespace tenor::data
