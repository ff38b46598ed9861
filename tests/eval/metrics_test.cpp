#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "eval/metrics.h"

namespace tenor::eval {
namespace {

constexpr double kTol = 1e-12;

ConfusionMatrix confusion(const std::vector<int>& truth, const std::vector<int>& pred, int c) {
  ConfusionMatrix cm(c);
  for (size_t i = 0; i < truth.size(); ++i) cm.at(truth[i], pred[i]) += 1.0;
  return cm;
}

TEST(Metrics, ThreeClassHandComputed) {
  // truth 0 0 0 1 1 2 2 2, pred 0 0 1 1 2 2 2 0
  // cm rows (truth) = [2 1 0; 0 1 1; 1 0 2]; row sums 3 2 3, column sums 3 2 3.
  // accuracy = 5/8. P = R = F1 = 2/3, 1/2, 2/3 -> macro-F1 = UAR = (2/3 + 1/2 + 2/3) / 3 = 11/18.
  // MAE = (|0-1| + |1-2| + |2-0|) / 8 = 4/8.
  // QWK, w_ij = (i-j)^2 / 4: sum w O = 1/4 + 1/4 + 1 = 1.5;
  // sum w E = [4 * (1/4) * 6 + 2 * 1 * 9] / 8 = 24 / 8 = 3 -> kappa = 1 - 1.5 / 3 = 0.5.
  const auto m =
      classification_metrics(confusion({0, 0, 0, 1, 1, 2, 2, 2}, {0, 0, 1, 1, 2, 2, 2, 0}, 3));
  EXPECT_NEAR(m.n, 8.0, kTol);
  EXPECT_NEAR(m.accuracy, 5.0 / 8, kTol);
  EXPECT_NEAR(m.macro_f1, 11.0 / 18, kTol);
  EXPECT_NEAR(m.uar, 11.0 / 18, kTol);
  EXPECT_NEAR(m.mae, 0.5, kTol);
  EXPECT_NEAR(m.qwk, 0.5, kTol);
  EXPECT_NEAR(m.per_class[0].precision, 2.0 / 3, kTol);
  EXPECT_NEAR(m.per_class[1].precision, 0.5, kTol);
  EXPECT_NEAR(m.per_class[1].recall, 0.5, kTol);
  EXPECT_NEAR(m.per_class[2].f1, 2.0 / 3, kTol);
  EXPECT_NEAR(m.per_class[0].support, 3.0, kTol);
}

TEST(Metrics, NeverPredictedClassHasPrecisionZero) {
  // truth 0 1 2 2, pred 0 1 1 1: class 2 is never predicted -> precision 0 (0/0, by the
  // zero_division=0 convention), recall 0/2 = 0, F1 0. Class 1: TP 1, predicted 3, actual 1 ->
  // P 1/3, R 1, F1 = 2 / (3 + 1) = 1/2. Class 0: 1, 1, 1.
  // macro-F1 = (1 + 1/2 + 0) / 3 = 1/2; UAR = (1 + 1 + 0) / 3 = 2/3; accuracy = 2/4.
  const auto m = classification_metrics(confusion({0, 1, 2, 2}, {0, 1, 1, 1}, 3));
  EXPECT_NEAR(m.per_class[2].precision, 0.0, kTol);
  EXPECT_NEAR(m.per_class[2].recall, 0.0, kTol);
  EXPECT_NEAR(m.per_class[2].f1, 0.0, kTol);
  EXPECT_NEAR(m.per_class[1].precision, 1.0 / 3, kTol);
  EXPECT_NEAR(m.per_class[1].f1, 0.5, kTol);
  EXPECT_NEAR(m.macro_f1, 0.5, kTol);
  EXPECT_NEAR(m.uar, 2.0 / 3, kTol);
  EXPECT_NEAR(m.accuracy, 0.5, kTol);
}

TEST(Metrics, ClassAbsentFromTruthStillCountsInMacroAverages) {
  // truth 0 0 1 1, pred 0 2 1 1, C = 3 (sklearn labels=[0,1,2], zero_division=0).
  // Class 2 is absent from the truth but predicted once: P 0/1 = 0, R 0 (0/0), F1 0 / 1 = 0.
  // Class 0: P 1/1, R 1/2, F1 2/3. Class 1: 1, 1, 1.
  // macro-F1 = (2/3 + 1 + 0) / 3 = 5/9; UAR = (1/2 + 1 + 0) / 3 = 1/2.
  const auto m = classification_metrics(confusion({0, 0, 1, 1}, {0, 2, 1, 1}, 3));
  EXPECT_NEAR(m.per_class[2].support, 0.0, kTol);
  EXPECT_NEAR(m.per_class[2].f1, 0.0, kTol);
  EXPECT_NEAR(m.macro_f1, 5.0 / 9, kTol);
  EXPECT_NEAR(m.uar, 0.5, kTol);
}

TEST(Metrics, EmptyInputIsNaNNotADivisionByZero) {
  const auto m = classification_metrics(ConfusionMatrix(3));
  EXPECT_EQ(m.n, 0.0);
  EXPECT_TRUE(std::isnan(m.accuracy));
  EXPECT_TRUE(std::isnan(m.macro_f1));
  EXPECT_TRUE(std::isnan(m.uar));
  EXPECT_TRUE(std::isnan(m.qwk));
  EXPECT_TRUE(std::isnan(m.mae));
  ASSERT_EQ(m.per_class.size(), 3u);
}

TEST(Metrics, KappaUndefinedWhenEverythingIsOneClass) {
  // All truth and all predictions in class 0: sum w E = 0, kappa = 0/0 -> NaN.
  EXPECT_TRUE(std::isnan(quadratic_weighted_kappa(confusion({0, 0, 0}, {0, 0, 0}, 3))));
  // Perfect agreement over two classes: sum w O = 0 -> kappa = 1.
  EXPECT_NEAR(quadratic_weighted_kappa(confusion({0, 2, 1}, {0, 2, 1}, 3)), 1.0, kTol);
}

struct Fixture {
  // scores 0.9 0.8 0.8 0.4 0.4 0.1, labels 1 1 0 1 0 0, calls 0 0 1 1 2 2
  std::vector<double> scores = {0.9, 0.8, 0.8, 0.4, 0.4, 0.1};
  std::vector<uint8_t> pos = {1, 1, 0, 1, 0, 0};
  std::vector<uint32_t> call = {0, 0, 1, 1, 2, 2};
  RankedScores ranked{scores, pos, call};
  std::vector<double> ones = std::vector<double>(3, 1.0);
};

TEST(Metrics, AurocCountsTiesAsHalf) {
  // Positives 0.9 0.8 0.4, negatives 0.8 0.4 0.1: 9 pairs.
  // 0.9 beats all 3; 0.8 ties 0.8 (1/2) and beats 0.4, 0.1 (2.5); 0.4 loses to 0.8, ties 0.4,
  // beats 0.1 (1.5). AUROC = (3 + 2.5 + 1.5) / 9 = 7/9.
  Fixture f;
  EXPECT_NEAR(f.ranked.auroc(f.ones), 7.0 / 9, kTol);
}

TEST(Metrics, AveragePrecisionIsStepwiseLikeSklearn) {
  // Thresholds 0.9: TP 1 FP 0 (P 1, R 1/3); 0.8: TP 2 FP 1 (P 2/3, R 2/3);
  // 0.4: TP 3 FP 2 (P 3/5, R 1); 0.1: recall unchanged.
  // AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/5 = 34/45.
  Fixture f;
  EXPECT_NEAR(f.ranked.average_precision(f.ones), 34.0 / 45, kTol);
}

TEST(Metrics, CallWeightsEqualDuplicatingTheCall) {
  // Weight 2 on call 1 must equal its segments (0.8 neg, 0.4 pos) appearing twice.
  Fixture f;
  std::vector<double> w = {1.0, 2.0, 0.0};
  std::vector<double> s2 = {0.9, 0.8, 0.8, 0.4, 0.8, 0.4};
  std::vector<uint8_t> p2 = {1, 1, 0, 1, 0, 1};
  std::vector<uint32_t> c2 = {0, 0, 0, 0, 0, 0};
  RankedScores dup(s2, p2, c2);
  std::vector<double> one = {1.0};
  EXPECT_NEAR(f.ranked.auroc(w), dup.auroc(one), kTol);
  EXPECT_NEAR(f.ranked.average_precision(w), dup.average_precision(one), kTol);
}

TEST(Metrics, SingleClassSplitLeavesAurocUndefined) {
  std::vector<double> s = {0.2, 0.7};
  std::vector<uint8_t> neg = {0, 0}, pos = {1, 1};
  std::vector<uint32_t> c = {0, 0};
  std::vector<double> one = {1.0};
  EXPECT_TRUE(std::isnan(RankedScores(s, neg, c).auroc(one)));
  EXPECT_TRUE(std::isnan(RankedScores(s, neg, c).average_precision(one)));
  EXPECT_TRUE(std::isnan(RankedScores(s, pos, c).auroc(one)));
  // All positive: precision is 1 at every threshold, so AP = 1.
  EXPECT_NEAR(RankedScores(s, pos, c).average_precision(one), 1.0, kTol);
  EXPECT_TRUE(std::isnan(RankedScores({}, {}, {}).auroc(one)));
}

TEST(Metrics, CurvesEndAtTheCorners) {
  Fixture f;
  const auto roc = f.ranked.roc_curve();
  ASSERT_EQ(roc.x.size(), 5u);  // (0,0) + 4 distinct thresholds
  EXPECT_NEAR(roc.x.front(), 0.0, kTol);
  EXPECT_NEAR(roc.x.back(), 1.0, kTol);
  EXPECT_NEAR(roc.y.back(), 1.0, kTol);
  const auto pr = f.ranked.pr_curve();
  ASSERT_EQ(pr.x.size(), 4u);
  EXPECT_NEAR(pr.y[1], 2.0 / 3, kTol);  // threshold 0.8
}

}  // namespace
}  // namespace tenor::eval
