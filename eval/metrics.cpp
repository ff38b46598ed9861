#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.h"

namespace tenor::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double safe_ratio(double num, double den) { return den > 0.0 ? num / den : 0.0; }

}  // namespace

double ConfusionMatrix::total() const { return std::accumulate(counts.begin(), counts.end(), 0.0); }

ConfusionMatrix confusion_matrix(std::span<const int> truth, std::span<const int> predicted,
                                 int classes) {
  if (truth.size() != predicted.size())
    throw DataError("confusion matrix: " + std::to_string(truth.size()) +
                    " true labels but " + std::to_string(predicted.size()) +
                    " predictions; pass one of each per segment");
  auto check = [classes](const char* what, size_t i, int v) {
    if (v < 0 || v >= classes)
      throw DataError("confusion matrix: the " + std::string(what) + " of segment " +
                      std::to_string(i) + " is " + std::to_string(v) + ", outside [0, " +
                      std::to_string(classes) + "); class indices count from 0");
  };
  ConfusionMatrix cm(classes);
  for (size_t i = 0; i < truth.size(); ++i) {
    check("true class", i, truth[i]);
    check("predicted class", i, predicted[i]);
    cm.at(truth[i], predicted[i]) += 1.0;
  }
  return cm;
}

double quadratic_weighted_kappa(const ConfusionMatrix& cm) {
  // Cohen (1968), weighted kappa with quadratic disagreement weights
  // w_ij = (i - j)^2 / (C - 1)^2; kappa_w = 1 - sum w O / sum w E, E_ij = row_i col_j / n.
  // Same as scikit-learn's cohen_kappa_score(weights="quadratic").
  const int c = cm.num_classes;
  const double n = cm.total();
  if (n <= 0.0 || c < 2) return kNaN;
  std::vector<double> row(c, 0.0), col(c, 0.0);
  for (int i = 0; i < c; ++i)
    for (int j = 0; j < c; ++j) {
      row[i] += cm.at(i, j);
      col[j] += cm.at(i, j);
    }
  double observed = 0.0, expected = 0.0;
  const double scale = static_cast<double>(c - 1) * (c - 1);
  for (int i = 0; i < c; ++i)
    for (int j = 0; j < c; ++j) {
      const double w = static_cast<double>(i - j) * (i - j) / scale;
      observed += w * cm.at(i, j);
      expected += w * row[i] * col[j] / n;
    }
  if (expected <= 0.0) return kNaN;
  return 1.0 - observed / expected;
}

ClassificationMetrics classification_metrics(const ConfusionMatrix& cm) {
  const int c = cm.num_classes;
  ClassificationMetrics m;
  m.per_class.resize(c);
  m.n = cm.total();
  if (m.n <= 0.0) {
    // No labelled segments: nothing is defined; callers report "no labelled segments".
    m.accuracy = m.macro_f1 = m.uar = m.qwk = m.mae = kNaN;
    return m;
  }
  double trace = 0.0, abs_steps = 0.0;
  for (int k = 0; k < c; ++k) {
    double tp = cm.at(k, k), predicted = 0.0, actual = 0.0;
    for (int j = 0; j < c; ++j) {
      predicted += cm.at(j, k);
      actual += cm.at(k, j);
      abs_steps += std::abs(k - j) * cm.at(k, j);
    }
    trace += tp;
    ClassScores& s = m.per_class[k];
    // scikit-learn, zero_division=0: precision of a never-predicted class is 0, recall of a
    // class absent from the truth is 0, F1 = 2TP / (2TP + FP + FN) and 0 when that is 0/0.
    s.precision = safe_ratio(tp, predicted);
    s.recall = safe_ratio(tp, actual);
    s.f1 = safe_ratio(2.0 * tp, predicted + actual);
    s.support = actual;
    m.macro_f1 += s.f1;
    m.uar += s.recall;
  }
  // Macro averages over all C classes (scikit-learn with labels=range(C)): a class absent
  // from this split still counts, with F1 0 and recall 0.
  m.macro_f1 /= c;
  m.uar /= c;
  m.accuracy = trace / m.n;
  m.mae = abs_steps / m.n;
  m.qwk = quadratic_weighted_kappa(cm);
  return m;
}

RankedScores::RankedScores(std::span<const double> scores, std::span<const uint8_t> positive,
                           std::span<const uint32_t> call) {
  std::vector<uint32_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0u);
  // Stable, so equal scores keep input order; the result does not depend on it.
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return scores[a] > scores[b]; });
  score_.reserve(order.size());
  positive_.reserve(order.size());
  call_.reserve(order.size());
  for (uint32_t i : order) {
    score_.push_back(scores[i]);
    positive_.push_back(positive[i]);
    call_.push_back(call[i]);
  }
  group_end_.assign(score_.size(), 1);
  for (size_t i = 0; i + 1 < score_.size(); ++i) group_end_[i] = score_[i] != score_[i + 1];
}

double RankedScores::auroc(std::span<const double> call_weight) const {
  // Mann-Whitney: AUROC = sum over (pos, neg) pairs of [s_pos > s_neg] + 1/2 [s_pos = s_neg],
  // divided by W_pos W_neg. Walking tie groups in decreasing score, each negative in a group
  // beats none and loses to all positives above (pos_above) and ties with the group's.
  double pos_above = 0.0, pos_total = 0.0, neg_total = 0.0, numerator = 0.0;
  double group_pos = 0.0, group_neg = 0.0;
  for (size_t i = 0; i < score_.size(); ++i) {
    const double w = call_weight[call_[i]];
    (positive_[i] ? group_pos : group_neg) += w;
    if (!group_end_[i]) continue;
    numerator += group_neg * (pos_above + 0.5 * group_pos);
    pos_above += group_pos;
    pos_total += group_pos;
    neg_total += group_neg;
    group_pos = group_neg = 0.0;
  }
  if (pos_total <= 0.0 || neg_total <= 0.0) return kNaN;
  return numerator / (pos_total * neg_total);
}

double RankedScores::average_precision(std::span<const double> call_weight) const {
  // scikit-learn average_precision_score: AP = sum_k (R_k - R_{k-1}) P_k, one step per
  // distinct threshold (predict positive when score >= threshold), R_0 = 0.
  double pos_total = 0.0;
  for (size_t i = 0; i < score_.size(); ++i)
    if (positive_[i]) pos_total += call_weight[call_[i]];
  if (pos_total <= 0.0) return kNaN;
  double tp = 0.0, fp = 0.0, recall_prev = 0.0, ap = 0.0;
  for (size_t i = 0; i < score_.size(); ++i) {
    const double w = call_weight[call_[i]];
    (positive_[i] ? tp : fp) += w;
    if (!group_end_[i]) continue;
    const double recall = tp / pos_total;
    if (recall > recall_prev) ap += (recall - recall_prev) * tp / (tp + fp);
    recall_prev = recall;
  }
  return ap;
}

RankedScores::Curve RankedScores::roc_curve() const {
  Curve c;
  double pos_total = 0.0, neg_total = 0.0;
  for (uint8_t p : positive_) (p ? pos_total : neg_total) += 1.0;
  c.x.push_back(0.0);
  c.y.push_back(0.0);
  double tp = 0.0, fp = 0.0;
  for (size_t i = 0; i < score_.size(); ++i) {
    (positive_[i] ? tp : fp) += 1.0;
    if (!group_end_[i]) continue;
    c.x.push_back(neg_total > 0 ? fp / neg_total : kNaN);
    c.y.push_back(pos_total > 0 ? tp / pos_total : kNaN);
  }
  return c;
}

RankedScores::Curve RankedScores::pr_curve() const {
  Curve c;
  double pos_total = 0.0;
  for (uint8_t p : positive_) pos_total += p;
  double tp = 0.0, fp = 0.0;
  for (size_t i = 0; i < score_.size(); ++i) {
    (positive_[i] ? tp : fp) += 1.0;
    if (!group_end_[i]) continue;
    c.x.push_back(pos_total > 0 ? tp / pos_total : kNaN);
    c.y.push_back(tp / (tp + fp));
  }
  return c;
}

}  // namespace tenor::eval
