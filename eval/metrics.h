#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tenor::eval {

/// C x C counts, row = true class, column = predicted class. Counts are doubles so that
/// bootstrap resamples can add calls with their multiplicities.
struct ConfusionMatrix {
  int num_classes = 0;
  std::vector<double> counts;  ///< [C, C] row-major

  explicit ConfusionMatrix(int c = 0) : num_classes(c), counts(static_cast<size_t>(c) * c, 0.0) {}
  double& at(int truth, int pred) {
    return counts[static_cast<size_t>(truth) * num_classes + pred];
  }
  double at(int truth, int pred) const {
    return counts[static_cast<size_t>(truth) * num_classes + pred];
  }
  double total() const;
};

/// The confusion matrix of `truth` against `predicted`, class indices in [0, classes) of
/// the same length, one count per segment. Throws DataError on a length mismatch or an
/// index out of range (naming the position and the value).
ConfusionMatrix confusion_matrix(std::span<const int> truth, std::span<const int> predicted,
                                 int classes);

/// Precision, recall, F1 and support of one class.
struct ClassScores {
  double precision = 0.0;  ///< TP / (TP + FP); 0 when the class is never predicted
  double recall = 0.0;     ///< TP / (TP + FN); 0 when the class is absent from the truth
  double f1 = 0.0;         ///< 2 TP / (2 TP + FP + FN); 0 when that denominator is 0
  double support = 0.0;    ///< number of segments whose true class it is
};

/// Metrics computed from a confusion matrix. Conventions follow scikit-learn with
/// `labels=` all classes and `zero_division=0`: a class never predicted has precision 0, a
/// class absent from the truth has recall 0 and F1 0 (unless also never predicted, F1 0
/// too), and both still count in the macro averages (denominator C). All values are NaN
/// when the matrix is empty.
struct ClassificationMetrics {
  double n = 0.0;         ///< labelled segments
  double accuracy = 0.0;  ///< trace / n
  double macro_f1 = 0.0;  ///< mean of the C per-class F1
  double uar = 0.0;       ///< unweighted average recall: mean of the C per-class recalls
  double qwk = 0.0;       ///< quadratic weighted kappa (Cohen 1968); NaN when undefined
  double mae = 0.0;       ///< mean |true - predicted| in class steps (ordinal tasks)
  std::vector<ClassScores> per_class;
};

/// Computes every metric above from `cm`.
ClassificationMetrics classification_metrics(const ConfusionMatrix& cm);

/// Quadratic weighted kappa of `cm` (Cohen 1968): 1 - sum w_ij O_ij / sum w_ij E_ij with
/// w_ij = (i - j)^2 / (C - 1)^2 and E_ij = row_i col_j / n. NaN when n = 0 or the
/// denominator is 0 (truth and predictions all in one class).
double quadratic_weighted_kappa(const ConfusionMatrix& cm);

/// Binary scores sorted once, so that AUROC and average precision under any per-call weights
/// cost one linear pass. Segments with equal scores form one tie group.
class RankedScores {
 public:
  RankedScores() = default;
  /// scores: positive-class scores; positive: true label is the positive class; call: the
  /// call index of each segment (weights are looked up per call). All of size n.
  RankedScores(std::span<const double> scores, std::span<const uint8_t> positive,
               std::span<const uint32_t> call);

  size_t size() const { return score_.size(); }

  /// AUROC = P(score_pos > score_neg) + 1/2 P(score_pos = score_neg), the Mann-Whitney U
  /// statistic over n_pos n_neg pairs, each segment weighted by `call_weight[its call]`.
  /// NaN when there are no positives or no negatives.
  double auroc(std::span<const double> call_weight) const;

  /// Average precision as scikit-learn's `average_precision_score`:
  /// AP = sum_k (R_k - R_{k-1}) P_k over the distinct thresholds in decreasing order (ties in
  /// one step, no interpolation). NaN when there are no positives.
  double average_precision(std::span<const double> call_weight) const;

  /// Unit-weight curves for plots: ROC points (fpr, tpr) from (0, 0) to (1, 1) and PR points
  /// (recall, precision) per distinct threshold, in decreasing-threshold order.
  struct Curve {
    std::vector<double> x, y;
  };
  Curve roc_curve() const;
  Curve pr_curve() const;

 private:
  // Sorted by decreasing score; group_end_[i] is true on the last member of a tie group.
  std::vector<double> score_;
  std::vector<uint8_t> positive_;
  std::vector<uint32_t> call_;
  std::vector<uint8_t> group_end_;
};

}  // namespace tenor::eval
