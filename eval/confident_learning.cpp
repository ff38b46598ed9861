#include "eval/confident_learning.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.h"

namespace tenor::eval {
namespace {

bool labelled(int label, int k) { return label >= 0 && label < k; }

/// The class an example confidently belongs to, as the authors' reference implementation
/// (cleanlab 2.x, count.compute_confident_joint) bins it: the one class whose probability
/// reaches its threshold; when several do, the overall argmax p(l | x) (the paper's eq. 1
/// takes the argmax among those several; docs/review.md says why tenor follows the code);
/// -1 when none does. The same 1e-6 slack below the threshold as cleanlab, for ties with the
/// mean itself; the first class wins a tie of probabilities, as numpy's argmax.
int confident_class(const double* p, const std::vector<double>& t, int k) {
  int confident = -1, count = 0, argmax = 0;
  for (int l = 0; l < k; ++l) {
    if (p[l] > p[argmax]) argmax = l;
    if (std::isfinite(t[size_t(l)]) && p[l] >= t[size_t(l)] - 1e-6) {
      if (confident < 0) confident = l;
      ++count;
    }
  }
  return count > 1 ? argmax : confident;
}

/// Rounds each row of `m` (K x K) to integers whose sum is the row's rounded sum: floors, then
/// one more to the entries with the largest remainders (cleanlab's round_preserving_row_totals).
std::vector<int64_t> round_rows(const std::vector<double>& m, int k) {
  std::vector<int64_t> out(m.size());
  for (int i = 0; i < k; ++i) {
    const double* row = &m[size_t(i * k)];
    const auto total = int64_t(std::llround(std::accumulate(row, row + k, 0.0)));
    std::vector<int> order(static_cast<size_t>(k));
    std::iota(order.begin(), order.end(), 0);
    int64_t sum = 0;
    for (int j = 0; j < k; ++j) sum += out[size_t(i * k + j)] = int64_t(std::floor(row[j]));
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return row[a] - std::floor(row[a]) > row[b] - std::floor(row[b]);
    });
    for (int r = 0; sum < total && r < k; ++r, ++sum) ++out[size_t(i * k + order[size_t(r)])];
  }
  return out;
}

/// Eq. 3 times n: each row of the joint rescaled to the number of examples labelled i. The
/// diagonal is raised to at least 1 first, so that a class with no confident example keeps its
/// labels rather than dividing by zero (as cleanlab does).
std::vector<int64_t> calibrate(std::vector<int64_t> joint, const std::vector<int64_t>& counts,
                               int k) {
  std::vector<double> q(joint.size(), 0.0);
  for (int i = 0; i < k; ++i) {
    auto& d = joint[size_t(i * k + i)];
    d = std::max<int64_t>(d, 1);
    double row = 0;
    for (int j = 0; j < k; ++j) row += double(joint[size_t(i * k + j)]);
    for (int j = 0; j < k; ++j)
      q[size_t(i * k + j)] = double(joint[size_t(i * k + j)]) / row * double(counts[size_t(i)]);
  }
  return round_rows(q, k);
}

/// The examples to prune per (given i, true j): the calibrated off-diagonals, lowered so that
/// each class keeps at least one example labelled i.
std::vector<int64_t> prune_counts(std::vector<int64_t> c, const std::vector<int64_t>& counts,
                                  int k) {
  for (int i = 0; i < k; ++i) {
    int64_t off = 0;
    for (int j = 0; j < k; ++j) off += j == i ? 0 : c[size_t(i * k + j)];
    const int64_t allowed = std::max<int64_t>(counts[size_t(i)] - 1, 0);
    for (int j = 0; off > allowed && j < k; ++j) {
      if (j == i) continue;
      const int64_t cut = std::min(c[size_t(i * k + j)], off - allowed);
      c[size_t(i * k + j)] -= cut;
      off -= cut;
    }
  }
  return c;
}

/// Flags, among the examples labelled i, the `m` with the largest margin p(j|x) - p(i|x) (and
/// any tied with the m-th).
void prune(const std::vector<int>& labels, const std::vector<double>& probs, int k, int i, int j,
           int64_t m, std::vector<bool>& flagged) {
  std::vector<double> margins;
  for (size_t x = 0; x < labels.size(); ++x)
    if (labels[x] == i) margins.push_back(probs[x * size_t(k) + size_t(j)] - probs[x * size_t(k) + size_t(i)]);
  if (m <= 0 || margins.empty()) return;
  m = std::min<int64_t>(m, int64_t(margins.size()));
  std::nth_element(margins.begin(), margins.begin() + (m - 1), margins.end(), std::greater<>());
  const double cut = margins[size_t(m - 1)];
  for (size_t x = 0; x < labels.size(); ++x)
    if (labels[x] == i &&
        probs[x * size_t(k) + size_t(j)] - probs[x * size_t(k) + size_t(i)] >= cut)
      flagged[x] = true;
}

LabelIssue issue_of(size_t x, int given, const double* p, int k) {
  LabelIssue issue;
  issue.index = x;
  issue.given = given;
  issue.self_confidence = p[given];
  issue.suggested = given == 0 ? 1 : 0;
  for (int l = 0; l < k; ++l)
    if (l != given && p[l] > p[issue.suggested]) issue.suggested = l;
  issue.confidence = p[issue.suggested];
  return issue;
}

}  // namespace

std::vector<double> per_class_thresholds(const std::vector<int>& labels,
                                         const std::vector<double>& probs, int k) {
  std::vector<double> sum(size_t(k), 0.0);
  std::vector<int64_t> count(size_t(k), 0);
  for (size_t x = 0; x < labels.size(); ++x) {
    if (!labelled(labels[x], k)) continue;
    sum[size_t(labels[x])] += probs[x * size_t(k) + size_t(labels[x])];
    ++count[size_t(labels[x])];
  }
  std::vector<double> t(static_cast<size_t>(k));
  for (size_t j = 0; j < t.size(); ++j)
    t[j] = count[j] ? sum[j] / double(count[j]) : std::numeric_limits<double>::quiet_NaN();
  return t;
}

ConfidentLearning find_label_issues(const std::vector<int>& labels,
                                    const std::vector<double>& probs, int k) {
  if (k < 2 || probs.size() != labels.size() * size_t(k))
    throw UsageError("confident learning needs [n, K] probabilities with K >= 2 (got " +
                     std::to_string(probs.size()) + " values for " +
                     std::to_string(labels.size()) + " labels and K = " + std::to_string(k) + ")");
  ConfidentLearning cl;
  cl.num_classes = k;
  cl.thresholds = per_class_thresholds(labels, probs, k);
  cl.joint.assign(size_t(k * k), 0);
  std::vector<int64_t> counts(size_t(k), 0);
  for (size_t x = 0; x < labels.size(); ++x) {
    if (!labelled(labels[x], k)) continue;
    ++counts[size_t(labels[x])];
    const int j = confident_class(&probs[x * size_t(k)], cl.thresholds, k);
    if (j >= 0) ++cl.joint[size_t(labels[x] * k + j)];
  }
  cl.calibrated = calibrate(cl.joint, counts, k);
  const std::vector<int64_t> to_prune = prune_counts(cl.calibrated, counts, k);
  std::vector<bool> flagged(labels.size(), false);
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < k; ++j)
      if (i != j) prune(labels, probs, k, i, j, to_prune[size_t(i * k + j)], flagged);
  for (size_t x = 0; x < labels.size(); ++x)
    if (flagged[x]) cl.issues.push_back(issue_of(x, labels[x], &probs[x * size_t(k)], k));
  std::stable_sort(cl.issues.begin(), cl.issues.end(),
                   [](const LabelIssue& a, const LabelIssue& b) {
                     return a.self_confidence < b.self_confidence;
                   });
  return cl;
}

}  // namespace tenor::eval
