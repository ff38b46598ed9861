// The trainer's dev score (early stopping, best-k) is eval's macro-F1 of the same predictions.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "eval/metrics.h"
#include "train/trainer.h"

namespace tenor::test {
namespace {

double eval_macro_f1(const std::vector<int>& truth, const std::vector<int>& pred, int classes) {
  return eval::classification_metrics(eval::confusion_matrix(truth, pred, classes)).macro_f1;
}

// Equal to the last bit, and equal to the hand-computed value.
void expect_same(const std::vector<int>& truth, const std::vector<int>& pred, int classes,
                 double hand) {
  const double dev = train::dev_macro_f1(truth, pred, classes);
  EXPECT_EQ(dev, eval_macro_f1(truth, pred, classes));
  EXPECT_NEAR(dev, hand, 1e-12);
}

TEST(DevScore, IsEvalsMacroF1) {
  // Per-class F1 2/3, 1/2, 2/3 (tests/eval/metrics_test.cpp works it out).
  expect_same({0, 0, 0, 1, 1, 2, 2, 2}, {0, 0, 1, 1, 2, 2, 2, 0}, 3, 11.0 / 18);
}

TEST(DevScore, AClassNeverPredictedCountsWithF1Zero) {
  // Class 1 is in the truth but never predicted: F1 0. Class 0: TP 2, FP 1 -> 4/5; class 2:
  // TP 1, FN 0, FP 0 -> 1.
  expect_same({0, 0, 1, 2}, {0, 0, 0, 2}, 3, (0.8 + 0.0 + 1.0) / 3);
}

TEST(DevScore, AClassAbsentFromTheTruthCountsWithF1Zero) {
  // Class 2 is absent from the truth: predicted once (F1 0), never predicted (0/0 -> 0).
  expect_same({0, 1, 1}, {0, 1, 2}, 3, (1.0 + 2.0 / 3 + 0.0) / 3);
  expect_same({0, 1, 1}, {0, 1, 1}, 3, 2.0 / 3);
}

TEST(DevScore, NoLabelledSegmentsScoreZeroWhereEvalSaysNaN) {
  EXPECT_EQ(train::dev_macro_f1({}, {}, 3), 0.0);
  EXPECT_TRUE(std::isnan(eval_macro_f1({}, {}, 3)));
}

TEST(DevScore, AgreesWithEvalToTheLastBitOnRandomPredictions) {
  std::mt19937 rng(17);
  for (int trial = 0; trial < 200; ++trial) {
    const int classes = 2 + int(rng() % 5);
    std::vector<int> truth(1 + rng() % 300), pred(truth.size());
    for (size_t i = 0; i < truth.size(); ++i) {
      truth[i] = int(rng() % unsigned(classes));
      pred[i] = rng() % 3 == 0 ? truth[i] : int(rng() % unsigned(classes));
    }
    ASSERT_EQ(train::dev_macro_f1(truth, pred, classes), eval_macro_f1(truth, pred, classes))
        << "trial " << trial;
  }
}

TEST(DevScore, RefusesAClassIndexOutOfRange) {
  EXPECT_THROW(train::dev_macro_f1({0, 3}, {0, 1}, 3), DataError);
  EXPECT_THROW(train::dev_macro_f1({0, 1}, {0, -1}, 3), DataError);
  EXPECT_THROW(train::dev_macro_f1({0, 1}, {0}, 3), DataError);
}

}  // namespace
}  // namespace tenor::test
