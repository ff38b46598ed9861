#include "eval/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace tenor::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Mean over labelled rows of -log softmax(z / T)[y], with log-sum-exp shifted by the max.
double mean_nll(std::span<const double> logits, std::span<const int> labels, size_t c, double t) {
  double total = 0.0;
  size_t n = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) continue;
    const double* z = logits.data() + i * c;
    const double zmax = *std::max_element(z, z + c) / t;
    double sum = 0.0;
    for (size_t k = 0; k < c; ++k) sum += std::exp(z[k] / t - zmax);
    total += zmax + std::log(sum) - z[labels[i]] / t;
    ++n;
  }
  return n ? total / n : kNaN;
}

}  // namespace

Calibration expected_calibration_error(std::span<const double> probs, std::span<const int> labels,
                                       size_t num_classes, int num_bins) {
  Calibration out;
  std::vector<double> conf_sum(num_bins, 0.0), correct(num_bins, 0.0);
  std::vector<int> count(num_bins, 0);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) continue;
    const double* row = probs.data() + i * num_classes;
    const size_t arg = std::max_element(row, row + num_classes) - row;
    const double conf = row[arg];
    // Bin b holds (b/M, (b+1)/M]; ceil(conf * M) - 1, with conf = 0 in bin 0.
    int b = static_cast<int>(std::ceil(conf * num_bins)) - 1;
    b = std::clamp(b, 0, num_bins - 1);
    conf_sum[b] += conf;
    correct[b] += static_cast<int>(arg) == labels[i];
    ++count[b];
    ++out.n;
  }
  out.ece = out.n ? 0.0 : kNaN;
  for (int b = 0; b < num_bins; ++b) {
    ReliabilityBin bin{static_cast<double>(b) / num_bins, static_cast<double>(b + 1) / num_bins,
                       kNaN, kNaN, count[b]};
    if (count[b]) {
      bin.confidence = conf_sum[b] / count[b];
      bin.accuracy = correct[b] / count[b];
      out.ece += static_cast<double>(count[b]) / out.n * std::abs(bin.accuracy - bin.confidence);
    }
    out.bins.push_back(bin);
  }
  return out;
}

TemperatureFit fit_temperature(std::span<const double> logits, std::span<const int> labels,
                               size_t num_classes) {
  TemperatureFit fit;
  fit.n =
      static_cast<int>(std::count_if(labels.begin(), labels.end(), [](int y) { return y >= 0; }));
  if (fit.n == 0)
    throw DataError(
        "temperature scaling: the dev set has no labelled segments for this task; give a dev "
        "split with labels");
  auto f = [&](double log_t) { return mean_nll(logits, labels, num_classes, std::exp(log_t)); };
  // Golden-section search on u = log T.
  const double lo_bound = std::log(0.05), hi_bound = std::log(20.0);
  const double inv_phi = (std::sqrt(5.0) - 1.0) / 2.0;
  double a = lo_bound, b = hi_bound;
  double c = b - inv_phi * (b - a), d = a + inv_phi * (b - a);
  double fc = f(c), fd = f(d);
  while (b - a > 1e-9) {
    if (fc < fd) {
      b = d, d = c, fd = fc;
      c = b - inv_phi * (b - a);
      fc = f(c);
    } else {
      a = c, c = d, fc = fd;
      d = a + inv_phi * (b - a);
      fd = f(d);
    }
  }
  const double u = (a + b) / 2;
  fit.temperature = std::exp(u);
  fit.at_bound = u - lo_bound < 1e-6 || hi_bound - u < 1e-6;
  fit.nll_before = f(0.0);
  fit.nll_after = f(u);
  return fit;
}

std::vector<double> apply_temperature(std::span<const double> logits, size_t num_classes,
                                      double temperature) {
  std::vector<double> out(logits.size());
  for (size_t i = 0; i + num_classes <= logits.size(); i += num_classes) {
    const double zmax = *std::max_element(&logits[i], &logits[i] + num_classes);
    double sum = 0.0;
    for (size_t k = 0; k < num_classes; ++k)
      sum += out[i + k] = std::exp((logits[i + k] - zmax) / temperature);
    for (size_t k = 0; k < num_classes; ++k) out[i + k] /= sum;
  }
  return out;
}

std::vector<double> task_logits(const TaskPredictions& task) {
  if (!task.logits.empty()) return task.logits;
  std::vector<double> z(task.probs.size());
  // softmax(log p) = p, so log-probabilities are valid logits for temperature scaling.
  for (size_t i = 0; i < z.size(); ++i) z[i] = std::log(std::max(task.probs[i], 1e-12));
  return z;
}

ThresholdFit fit_threshold(std::span<const double> probs, std::span<const int> labels) {
  std::vector<std::pair<double, int>> scored;  // (p[1], is positive)
  int positives = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) continue;
    scored.emplace_back(probs[2 * i + 1], labels[i] == 1);
    positives += labels[i] == 1;
  }
  if (positives == 0)
    throw DataError(
        "decision threshold: the dev set has no positive labels for this task, so F1 of the "
        "positive class is undefined; give a dev split with positives or keep the default 0.5");
  std::sort(scored.begin(), scored.end(), [](auto& x, auto& y) { return x.first > y.first; });
  ThresholdFit best{0.5, -1.0, static_cast<int>(scored.size())};
  int tp = 0, fp = 0;
  // Walk thresholds from the highest score down; at each distinct score t, the predicted
  // positives are the segments with p >= t. Strict > keeps the highest t among equal F1.
  for (size_t i = 0; i < scored.size(); ++i) {
    (scored[i].second ? tp : fp) += 1;
    if (i + 1 < scored.size() && scored[i + 1].first == scored[i].first) continue;
    const double f1 = 2.0 * tp / (2.0 * tp + fp + (positives - tp));
    // Halfway to the next lower score: the same dev decisions, and no dev segment sits on
    // the boundary, where float rounding in another runtime (ONNX) could flip it.
    const double below = i + 1 < scored.size() ? scored[i + 1].first : 0.0;
    if (f1 > best.f1) best = {0.5 * (scored[i].first + below), f1, best.n};
  }
  return best;
}

}  // namespace tenor::eval
