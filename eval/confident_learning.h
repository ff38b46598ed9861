#pragma once
// Confident learning (Northcutt, Jiang and Chuang, "Confident Learning: Estimating Uncertainty
// in Dataset Labels", JAIR 70, 2021): which given labels are probably wrong, from out-of-sample
// predicted probabilities. Pure C++, used by `tenor data review` (eval/review.h).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tenor::eval {

/// One probably wrong label.
struct LabelIssue {
  size_t index = 0;             ///< the example (row of the probabilities)
  int given = 0;                ///< its label
  int suggested = 0;            ///< the most probable other class
  double self_confidence = 0;   ///< p(given | x): the ranking key, lowest first
  double confidence = 0;        ///< p(suggested | x)
};

struct ConfidentLearning {
  int num_classes = 0;
  /// t_j = mean of p(j | x) over the examples labelled j (the paper's eq. 2); NaN for a class
  /// with no example.
  std::vector<double> thresholds;
  /// The confident joint C[given][true] (eq. 1), K x K row-major: example x labelled i counts
  /// in column j, the one class l with p(l | x) >= t_l, or the argmax of p(. | x) when several
  /// reach their thresholds (as cleanlab bins them); an example above no threshold counts
  /// nowhere.
  std::vector<int64_t> joint;
  /// C calibrated to the label counts (eq. 3 times n): row i sums to the examples labelled i,
  /// rounded to whole examples keeping the row totals. Off-diagonal entry (i, j) estimates
  /// how many examples labelled i truly belong to j.
  std::vector<int64_t> calibrated;
  /// The flagged examples, ranked by self-confidence (lowest first, then by index).
  std::vector<LabelIssue> issues;
};

/// Per-class thresholds t_j (eq. 2). `labels`: class indices in [0, K) (others are ignored);
/// `probs`: [n, K] row-major.
std::vector<double> per_class_thresholds(const std::vector<int>& labels,
                                         const std::vector<double>& probs, int num_classes);

/// Confident learning with pruning by noise rate (the paper's PBNR, sec. 3.2, cleanlab's
/// default): for each off-diagonal (i, j) of the calibrated joint, the calibrated[i][j]
/// examples labelled i with the largest margin p(j | x) - p(i | x) are flagged; each class
/// keeps at least one example. The flagged examples are ranked by self-confidence p(i | x).
/// `labels` outside [0, K) (unlabelled) take no part. Throws UsageError when `probs` is not
/// [labels.size(), K] or K < 2.
ConfidentLearning find_label_issues(const std::vector<int>& labels,
                                    const std::vector<double>& probs, int num_classes);

}  // namespace tenor::eval
