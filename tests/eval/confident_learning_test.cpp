// Confident learning against hand-computed examples of the definitions in Northcutt, Jiang
// and Chuang (JAIR 2021): thresholds (eq. 2), the confident joint (eq. 1), calibration (eq. 3)
// and pruning by noise rate (sec. 3.2).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "eval/confident_learning.h"

namespace tenor::eval {
namespace {

/// Binary probabilities [n, 2] from p(class 1).
std::vector<double> binary(const std::vector<double>& p1) {
  std::vector<double> p;
  for (double v : p1) p.insert(p.end(), {1 - v, v});
  return p;
}

TEST(ConfidentLearning, ThresholdsAreTheMeanSelfConfidencePerGivenClass) {
  const std::vector<int> labels = {0, 0, 1, 1, 1, -1};
  const auto probs = binary({0.1, 0.3, 0.8, 0.6, 0.4, 0.99});
  const auto t = per_class_thresholds(labels, probs, 2);
  EXPECT_NEAR(t[0], (0.9 + 0.7) / 2, 1e-12);
  EXPECT_NEAR(t[1], (0.8 + 0.6 + 0.4) / 3, 1e-12);  // the unlabelled row takes no part
  EXPECT_TRUE(std::isnan(per_class_thresholds({0, 0}, binary({0.1, 0.2}), 2)[1]));
}

// Two flipped labels among eight. t0 = (0.9 + 0.8 + 0.7 + 0.1) / 4 = 0.625,
// t1 = (0.8 + 0.7 + 0.9 + 0.2) / 4 = 0.65; C = [[3, 1], [1, 3]]; calibrated the same; pruning
// (0, 1) takes the label-0 example with the largest p1 - p0 (x3), (1, 0) the label-1 example
// with the largest p0 - p1 (x7). Ranked by self-confidence: x3 (0.1), then x7 (0.2).
TEST(ConfidentLearning, FindsTheFlippedLabelsRankedBySelfConfidence) {
  const std::vector<int> labels = {0, 0, 0, 0, 1, 1, 1, 1};
  const auto probs = binary({0.1, 0.2, 0.3, 0.9, 0.8, 0.7, 0.9, 0.2});
  const ConfidentLearning cl = find_label_issues(labels, probs, 2);
  EXPECT_NEAR(cl.thresholds[0], 0.625, 1e-12);
  EXPECT_NEAR(cl.thresholds[1], 0.65, 1e-12);
  EXPECT_EQ(cl.joint, (std::vector<int64_t>{3, 1, 1, 3}));
  EXPECT_EQ(cl.calibrated, (std::vector<int64_t>{3, 1, 1, 3}));
  ASSERT_EQ(cl.issues.size(), 2u);
  EXPECT_EQ(cl.issues[0].index, 3u);
  EXPECT_EQ(cl.issues[0].given, 0);
  EXPECT_EQ(cl.issues[0].suggested, 1);
  EXPECT_NEAR(cl.issues[0].self_confidence, 0.1, 1e-12);
  EXPECT_NEAR(cl.issues[0].confidence, 0.9, 1e-12);
  EXPECT_EQ(cl.issues[1].index, 7u);
  EXPECT_NEAR(cl.issues[1].self_confidence, 0.2, 1e-12);
}

// The joint bins an example by the most probable class *above its threshold*, not by the
// argmax: t0 = (0.9 + 0.9 + 0.6) / 3 = 0.8, t1 = 0.3, so x2 = (0.6, 0.4), labelled 0, reaches
// only class 1's threshold and counts as (0, 1) although its argmax is 0; the label-1
// examples (0.7, 0.3) likewise count as (1, 1). C = [[2, 1], [0, 2]], and x2 is the one issue.
TEST(ConfidentLearning, JointUsesPerClassThresholdsNotTheArgmax) {
  const std::vector<int> labels = {0, 0, 0, 1, 1};
  const auto probs = binary({0.1, 0.1, 0.4, 0.3, 0.3});
  const ConfidentLearning cl = find_label_issues(labels, probs, 2);
  EXPECT_NEAR(cl.thresholds[0], 0.8, 1e-12);
  EXPECT_NEAR(cl.thresholds[1], 0.3, 1e-12);
  EXPECT_EQ(cl.joint, (std::vector<int64_t>{2, 1, 0, 2}));
  ASSERT_EQ(cl.issues.size(), 1u);
  EXPECT_EQ(cl.issues[0].index, 2u);
  EXPECT_EQ(cl.issues[0].suggested, 1);
}

// Calibration (eq. 3 times n): rows rescaled to the label counts. Class 0 has 4 examples, 2
// of them above no threshold: C row 0 = [1, 1] becomes [2, 2]; two label-0 examples are
// pruned for class 1 although only one sat in the joint's off-diagonal. Three classes, with an
// example below every threshold (x3) and an unlabelled row.
// Above several thresholds, an example is binned by its argmax, as cleanlab's
// compute_confident_joint does (the paper's eq. 1 would take the most probable of those
// several). Three classes: t0 = (0.95 + 0.95 + 0.5) / 3 = 0.8, t1 = (0.3 + 0.2) / 2 = 0.25,
// t2 = 0.15. x2 = (0.5, 0.3, 0.2), labelled 0, reaches t1 and t2 but not t0: it counts as
// (0, 0), its argmax (eq. 1: (0, 1)), so row 0 has no off-diagonal and x2 is no issue.
TEST(ConfidentLearning, AnExampleAboveSeveralThresholdsIsBinnedByItsArgmax) {
  const std::vector<int> labels = {0, 0, 0, 1, 1, 2, 2};
  const std::vector<double> probs = {0.95, 0.03, 0.02, 0.95, 0.03, 0.02, 0.5,  0.3, 0.2,
                                     0.1,  0.3,  0.6,  0.7,  0.2,  0.1,  0.05, 0.8, 0.15,
                                     0.8,  0.05, 0.15};
  const ConfidentLearning cl = find_label_issues(labels, probs, 3);
  EXPECT_NEAR(cl.thresholds[0], 0.8, 1e-12);
  EXPECT_NEAR(cl.thresholds[1], 0.25, 1e-12);
  EXPECT_NEAR(cl.thresholds[2], 0.15, 1e-12);
  EXPECT_EQ(std::vector<int64_t>(cl.joint.begin(), cl.joint.begin() + 3),
            (std::vector<int64_t>{3, 0, 0}));
  for (const auto& issue : cl.issues) EXPECT_NE(issue.index, 2u);
}

TEST(ConfidentLearning, CalibratesTheJointToTheLabelCounts) {
  const std::vector<int> labels = {0, 0, 0, 0, 1, 1, 2, 2, -1};
  const std::vector<double> probs = {
      0.90, 0.05, 0.05,  // x0: confident 0
      0.10, 0.80, 0.10,  // x1: confident 1, labelled 0
      0.45, 0.45, 0.10,  // x2: below every threshold (t0 = 0.475, t1 = 0.775, t2 = 0.85)
      0.45, 0.10, 0.45,  // x3: below every threshold
      0.05, 0.90, 0.05,  // x4
      0.10, 0.65, 0.25,  // x5: below t1 = (0.9 + 0.65) / 2
      0.05, 0.05, 0.90,  // x6
      0.10, 0.10, 0.80,  // x7: below t2 = 0.85
      0.30, 0.30, 0.40,  // unlabelled
  };
  const ConfidentLearning cl = find_label_issues(labels, probs, 3);
  EXPECT_NEAR(cl.thresholds[0], (0.9 + 0.1 + 0.45 + 0.45) / 4, 1e-12);
  EXPECT_EQ(cl.joint, (std::vector<int64_t>{1, 1, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(cl.calibrated, (std::vector<int64_t>{2, 2, 0, 0, 2, 0, 0, 0, 2}));
  // (0, 1): the two label-0 examples with the largest p1 - p0: x1 (0.7) and x2 (0).
  ASSERT_EQ(cl.issues.size(), 2u);
  EXPECT_EQ(cl.issues[0].index, 1u);  // self-confidence 0.1
  EXPECT_EQ(cl.issues[1].index, 2u);  // 0.45
  EXPECT_EQ(cl.issues[1].suggested, 1);
}

TEST(ConfidentLearning, CleanLabelsGiveNoIssues) {
  const std::vector<int> labels = {0, 0, 1, 1};
  EXPECT_TRUE(find_label_issues(labels, binary({0.1, 0.2, 0.8, 0.9}), 2).issues.empty());
}

TEST(ConfidentLearning, RefusesProbabilitiesOfTheWrongShape) {
  EXPECT_THROW(find_label_issues({0, 1}, {0.5, 0.5, 0.5}, 2), UsageError);
  EXPECT_THROW(find_label_issues({0}, {1.0}, 1), UsageError);
}

}  // namespace
}  // namespace tenor::eval
