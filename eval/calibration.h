#pragma once

#include <span>
#include <vector>

#include "eval/eval_set.h"

namespace tenor::eval {

/// One bin of a reliability diagram.
struct ReliabilityBin {
  double lower = 0.0;  ///< bin covers (lower, upper]; the first bin also holds 0
  double upper = 0.0;
  double confidence = 0.0;  ///< mean max-probability of its segments; NaN when empty
  double accuracy = 0.0;    ///< share of its segments whose arg max is right; NaN when empty
  int count = 0;
};

/// Expected calibration error and the reliability diagram behind it.
struct Calibration {
  double ece = 0.0;  ///< NaN when there are no labelled segments
  int n = 0;         ///< labelled segments
  std::vector<ReliabilityBin> bins;
};

/// ECE (Guo et al. 2017, "On Calibration of Modern Neural Networks", eq. 3):
/// sum_b |B_b| / n * |acc(B_b) - conf(B_b)| over `num_bins` equal-width bins of the
/// max-probability confidence, bin b = ((b-1)/M, b/M]; accuracy is arg max == label.
/// probs: [N, C]; labels: N (-1 = unlabelled, skipped).
Calibration expected_calibration_error(std::span<const double> probs, std::span<const int> labels,
                                       size_t num_classes, int num_bins = 15);

/// Result of fitting a temperature.
struct TemperatureFit {
  double temperature = 1.0;
  double nll_before = 0.0;  ///< mean NLL at T = 1
  double nll_after = 0.0;   ///< mean NLL at the fitted T
  bool at_bound = false;    ///< the optimum hit the search range [0.05, 20]: treat with care
  int n = 0;                ///< labelled segments used
};

/// Temperature scaling (Guo et al. 2017): T > 0 minimising the mean negative log-likelihood
/// -log softmax(z_i / T)[y_i] over labelled rows. The NLL is convex in 1/T, hence unimodal
/// in log T, so a golden-section search on log T over [log 0.05, log 20] finds it.
/// logits: [N, C]. Throws DataError when no row is labelled.
TemperatureFit fit_temperature(std::span<const double> logits, std::span<const int> labels,
                               size_t num_classes);

/// softmax(z / T) per row of logits [N, C].
std::vector<double> apply_temperature(std::span<const double> logits, size_t num_classes,
                                      double temperature);

/// The task's logits, or log(max(p, 1e-12)) of its probabilities when it has none.
std::vector<double> task_logits(const TaskPredictions& task);

/// Binary decision threshold chosen on dev.
struct ThresholdFit {
  double threshold = 0.5;
  double f1 = 0.0;  ///< positive-class F1 on dev at that threshold
  int n = 0;
};

/// The threshold t maximising the positive class's F1 = 2TP / (2TP + FP + FN) on dev, with
/// the rule "positive when p[1] >= t"; candidates are the distinct dev scores; among equal
/// F1 the highest threshold wins (fewer alerts). The threshold returned lies halfway between
/// the chosen score and the next lower distinct dev score (0 below the lowest), so that no
/// dev segment lies on the boundary. Fit on dev only, never on test.
/// probs: [N, 2]. Throws DataError when dev has no positive label.
ThresholdFit fit_threshold(std::span<const double> probs, std::span<const int> labels);

}  // namespace tenor::eval
