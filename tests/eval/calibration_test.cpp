#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "eval/calibration.h"

namespace tenor::eval {
namespace {

constexpr double kTol = 1e-12;

TEST(Calibration, EceHandComputedWith15Bins) {
  // Max-probability confidences and correctness (bins of width 1/15, bin = ceil(15 p) - 1):
  //   0.90 right (13.5 -> bin 13), 0.92 wrong (13.8 -> bin 13), 0.75 wrong (11.25 -> bin 11),
  //   0.70 right (10.5 -> bin 10), 0.55 wrong (8.25 -> bin 8).
  // Bin 13: conf 0.91, acc 0.5 -> 2/5 * 0.41; the others 1/5 * (0.75 + 0.30 + 0.55).
  // ECE = (0.82 + 1.60) / 5 = 0.484.
  const std::vector<double> probs = {0.90, 0.10, 0.92, 0.08, 0.75, 0.25,
                                     0.30, 0.70, 0.45, 0.55, 0.5,  0.5};
  const std::vector<int> labels = {0, 1, 1, 1, 0, -1};  // the last row is unlabelled
  const Calibration c = expected_calibration_error(probs, labels, 2, 15);
  EXPECT_NEAR(c.ece, 0.484, 1e-12);
  EXPECT_EQ(c.n, 5);
  ASSERT_EQ(c.bins.size(), 15u);
  EXPECT_EQ(c.bins[13].count, 2);
  EXPECT_NEAR(c.bins[13].confidence, 0.91, kTol);
  EXPECT_NEAR(c.bins[13].accuracy, 0.5, kTol);
  EXPECT_EQ(c.bins[0].count, 0);
  EXPECT_TRUE(std::isnan(c.bins[0].accuracy));  // empty bin: reported, not a 0/0
}

TEST(Calibration, EceOfNothingIsNaN) {
  const Calibration c = expected_calibration_error({}, {}, 2, 15);
  EXPECT_TRUE(std::isnan(c.ece));
  EXPECT_EQ(c.n, 0);
}

/// Uniform in [0, 1) from a fixed 64-bit generator (portable: no std distributions).
struct Rng {
  uint64_t s;
  double uniform() {
    s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
    return static_cast<double>((s * 2685821657736338717ull) >> 11) * 0x1.0p-53;
  }
  double normal() {  // Box-Muller
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
};

TEST(Calibration, TemperatureScalingRecoversAKnownTemperature) {
  // Labels drawn from softmax(z) with z ~ N(0, 2^2) per class; the model reports logits
  // 2.5 z (overconfident), so the NLL-optimal temperature is 2.5. With 20,000 rows the fit's
  // sampling error is about 0.03; allow 0.1.
  const double true_t = 2.5;
  const size_t n = 20000, c = 3;
  Rng rng{99};
  std::vector<double> logits(n * c);
  std::vector<int> labels(n);
  for (size_t i = 0; i < n; ++i) {
    double z[3], sum = 0.0;
    for (size_t k = 0; k < c; ++k) sum += std::exp(z[k] = 2.0 * rng.normal());
    double u = rng.uniform() * sum;
    labels[i] = 2;
    for (int k = 0; k < 3; ++k) {
      if ((u -= std::exp(z[k])) < 0) {
        labels[i] = k;
        break;
      }
    }
    for (size_t k = 0; k < c; ++k) logits[i * c + k] = true_t * z[k];
  }
  const TemperatureFit fit = fit_temperature(logits, labels, c);
  EXPECT_NEAR(fit.temperature, true_t, 0.1);
  EXPECT_LT(fit.nll_after, fit.nll_before);
  EXPECT_FALSE(fit.at_bound);
  EXPECT_EQ(fit.n, 20000);
  // Scaling the test logits improves calibration.
  const auto before = expected_calibration_error(apply_temperature(logits, c, 1.0), labels, c);
  const auto after =
      expected_calibration_error(apply_temperature(logits, c, fit.temperature), labels, c);
  EXPECT_LT(after.ece, 0.5 * before.ece);
}

TEST(Calibration, LogProbabilitiesAreValidLogits) {
  TaskPredictions t;
  t.classes = {"a", "b", "c"};
  t.probs = {0.2, 0.5, 0.3};
  const auto p = apply_temperature(task_logits(t), 3, 1.0);
  for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(p[k], t.probs[k], 1e-12);
}

TEST(Calibration, TemperatureNeedsLabels) {
  EXPECT_THROW(fit_temperature(std::vector<double>{0.0, 1.0}, std::vector<int>{-1}, 2), DataError);
}

TEST(Calibration, ThresholdMaximisesPositiveF1OnDev) {
  // Dev scores (label): 0.9 (1), 0.8 (0), 0.7 (1), 0.6 (1), 0.3 (0), 0.2 (1); 4 positives.
  // F1 = 2TP / (2TP + FP + FN) per threshold: 0.9 -> 2/5, 0.8 -> 2/6, 0.7 -> 4/7, 0.6 -> 6/8,
  // 0.3 -> 6/9, 0.2 -> 8/10. Best: 0.2 with F1 0.8; the threshold lies halfway to 0 below it.
  const std::vector<double> s = {0.9, 0.8, 0.7, 0.6, 0.3, 0.2};
  const std::vector<int> y = {1, 0, 1, 1, 0, 1};
  std::vector<double> probs;
  for (double p : s) probs.insert(probs.end(), {1.0 - p, p});
  const ThresholdFit fit = fit_threshold(probs, y);
  EXPECT_NEAR(fit.threshold, 0.1, kTol);
  EXPECT_NEAR(fit.f1, 0.8, kTol);
  // Ties in F1: 0.9 (1), 0.6 (0), 0.5 (0), 0.4 (1), 2 positives:
  // 0.9 -> 2/3; 0.6 -> 2/4; 0.5 -> 2/5; 0.4 -> 4/6 = 2/3. The higher score, 0.9, wins:
  // threshold halfway to the next score, 0.6.
  const std::vector<double> tie = {0.1, 0.9, 0.4, 0.6, 0.5, 0.5, 0.6, 0.4};
  const ThresholdFit tf = fit_threshold(tie, std::vector<int>{1, 0, 0, 1});
  EXPECT_NEAR(tf.threshold, 0.75, kTol);
  EXPECT_NEAR(tf.f1, 2.0 / 3, kTol);
  EXPECT_THROW(fit_threshold(tie, std::vector<int>{0, 0, 0, -1}), DataError);
}

}  // namespace
}  // namespace tenor::eval
