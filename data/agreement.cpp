#include "data/agreement.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>

namespace tenor::data {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Square matrix of doubles, row-major.
struct Matrix {
  int n;
  std::vector<double> v;
  explicit Matrix(int size) : n(size), v(static_cast<size_t>(size) * size, 0.0) {}
  double& operator()(int r, int c) { return v[static_cast<size_t>(r) * n + c]; }
  double operator()(int r, int c) const { return v[static_cast<size_t>(r) * n + c]; }
};

/// Adds unit u's pairs to the coincidence matrix: each ordered pair of values
/// from different coders counts 1 / (m_u - 1) (Krippendorff 2011, eq. for o_ck).
void add_unit(const std::vector<int>& values, Matrix& o, double weight = 1.0) {
  const size_t m = values.size();
  if (m < 2) return;
  const double w = weight / static_cast<double>(m - 1);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < m; ++j)
      if (i != j) o(values[i], values[j]) += w;
}

/// alpha = 1 - D_o / D_e with D_o = sum o_ck d2_ck / n and
/// D_e = sum n_c n_k d2_ck / (n (n - 1)).
double alpha_from_coincidences(const Matrix& o, AlphaMetric metric) {
  const int k = o.n;
  std::vector<double> n_c(static_cast<size_t>(k), 0.0);
  double n = 0;
  for (int c = 0; c < k; ++c)
    for (int j = 0; j < k; ++j) n_c[c] += o(c, j);
  for (double x : n_c) n += x;
  if (n < 2) return kNaN;
  // Squared differences delta^2_ck for the metric.
  Matrix d2(k);
  for (int c = 0; c < k; ++c) {
    for (int j = 0; j < k; ++j) {
      if (c == j) continue;
      switch (metric) {
        case AlphaMetric::kNominal:
          d2(c, j) = 1.0;
          break;
        case AlphaMetric::kInterval:
          d2(c, j) = double(c - j) * (c - j);
          break;
        case AlphaMetric::kOrdinal: {
          // (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2, ranks between the two values.
          int lo = std::min(c, j), hi = std::max(c, j);
          double s = 0;
          for (int g = lo; g <= hi; ++g) s += n_c[g];
          s -= (n_c[lo] + n_c[hi]) / 2.0;
          d2(c, j) = s * s;
          break;
        }
      }
    }
  }
  double observed = 0, expected = 0;
  for (int c = 0; c < k; ++c) {
    for (int j = 0; j < k; ++j) {
      observed += o(c, j) * d2(c, j);
      expected += n_c[c] * n_c[j] * d2(c, j);
    }
  }
  observed /= n;
  expected /= n * (n - 1);
  if (expected <= 0) return kNaN;
  return 1.0 - observed / expected;
}

}  // namespace

AlphaMetric alpha_metric_for(const Task& task) {
  return task.type == TaskType::kOrdinal ? AlphaMetric::kOrdinal : AlphaMetric::kNominal;
}

double krippendorff_alpha(const ReliabilityData& units, int num_values, AlphaMetric metric) {
  Matrix o(num_values);
  for (const auto& u : units) add_unit(u, o);
  return alpha_from_coincidences(o, metric);
}

AlphaEstimate krippendorff_alpha_bootstrap(const ReliabilityData& units, int num_values,
                                           AlphaMetric metric, int resamples, uint64_t seed,
                                           double level) {
  AlphaEstimate est;
  est.alpha = krippendorff_alpha(units, num_values, metric);
  est.low = est.high = kNaN;
  // Each pairable unit's coincidences are computed once; a resample sums them with multiplicities.
  std::vector<Matrix> per_unit;
  for (const auto& u : units) {
    if (u.size() < 2) continue;
    Matrix o(num_values);
    add_unit(u, o);
    per_unit.push_back(std::move(o));
  }
  est.pairable_units = static_cast<int>(per_unit.size());
  if (per_unit.size() < 2 || resamples <= 0 || std::isnan(est.alpha)) return est;
  std::mt19937_64 rng(seed);
  std::vector<double> alphas;
  alphas.reserve(static_cast<size_t>(resamples));
  std::vector<int> counts(per_unit.size());
  for (int r = 0; r < resamples; ++r) {
    std::fill(counts.begin(), counts.end(), 0);
    for (size_t i = 0; i < per_unit.size(); ++i) ++counts[rng() % per_unit.size()];
    Matrix o(num_values);
    for (size_t i = 0; i < per_unit.size(); ++i) {
      if (!counts[i]) continue;
      for (size_t e = 0; e < o.v.size(); ++e) o.v[e] += counts[i] * per_unit[i].v[e];
    }
    double a = alpha_from_coincidences(o, metric);
    if (!std::isnan(a)) alphas.push_back(a);
  }
  if (alphas.empty()) return est;
  std::sort(alphas.begin(), alphas.end());
  auto quantile = [&](double q) {
    double pos = q * (alphas.size() - 1);
    size_t i = static_cast<size_t>(pos);
    double frac = pos - i;
    return i + 1 < alphas.size() ? alphas[i] * (1 - frac) + alphas[i + 1] * frac : alphas[i];
  };
  est.low = quantile((1 - level) / 2);
  est.high = quantile(1 - (1 - level) / 2);
  return est;
}

ReliabilityData reliability_data(const Dataset& dataset, const Task& task, int* coders) {
  ReliabilityData units;
  std::set<std::string> names;
  for (const auto& call : dataset.calls) {
    for (const auto& seg : call.segments) {
      std::vector<int> values;
      for (const auto& [annotator, labels] : seg.labels_by) {
        if (auto it = labels.find(task.name); it != labels.end()) {
          values.push_back(it->second);
          names.insert(annotator);
        }
      }
      if (!values.empty()) units.push_back(std::move(values));
    }
  }
  if (coders) *coders = static_cast<int>(names.size());
  return units;
}

namespace {

/// The label `annotator`'s vote is compared with on `seg`: `labels` when given, else the
/// majority of the other annotators; nullopt without either.
std::optional<int> consensus_without(const Segment& seg, const Task& task,
                                     const std::string& annotator) {
  if (auto it = seg.labels.find(task.name); it != seg.labels.end()) return it->second;
  Segment others;
  others.labels_by = seg.labels_by;
  others.labels_by.erase(annotator);
  return resolved_label(others, task);
}

void finish_agreement(AnnotatorAgreement& a, int k) {
  a.agreement = a.segments ? double(a.agreed) / a.segments : kNaN;
  double expected = 0;
  for (int c = 0; c < k && a.segments; ++c) {
    double row = 0, col = 0;
    for (int j = 0; j < k; ++j) {
      row += double(a.confusion[size_t(c * k + j)]);
      col += double(a.confusion[size_t(j * k + c)]);
    }
    expected += row / a.segments * (col / a.segments);
  }
  a.kappa = a.segments && expected < 1 ? (a.agreement - expected) / (1 - expected) : kNaN;
}

}  // namespace

std::vector<AnnotatorAgreement> annotator_agreement(const Dataset& dataset, const Task& task) {
  const int k = task.num_classes();
  std::map<std::string, AnnotatorAgreement> by_name;
  for (const auto& call : dataset.calls) {
    for (const auto& seg : call.segments) {
      for (const auto& [annotator, labels] : seg.labels_by) {
        auto it = labels.find(task.name);
        if (it == labels.end()) continue;
        AnnotatorAgreement& a = by_name[annotator];
        if (a.confusion.empty()) a.annotator = annotator, a.confusion.assign(size_t(k * k), 0);
        const auto consensus = consensus_without(seg, task, annotator);
        if (!consensus || it->second < 0 || it->second >= k || *consensus < 0 || *consensus >= k)
          continue;
        ++a.segments;
        a.agreed += it->second == *consensus;
        ++a.confusion[size_t(it->second * k + *consensus)];
      }
    }
  }
  std::vector<AnnotatorAgreement> out;
  for (auto& [name, a] : by_name) {
    finish_agreement(a, k);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace tenor::data
