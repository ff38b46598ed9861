#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "eval/eval_set.h"
#include "eval/metrics.h"

namespace tenor::eval {

/// The headline metrics that get bootstrap intervals, paired comparisons and gates.
enum class Metric { kAccuracy, kMacroF1, kUar, kQwk, kMae, kAuroc, kAuprc };
inline constexpr int kNumMetrics = 7;

struct MetricInfo {
  Metric id;
  const char* name;       ///< JSON key and gate name, e.g. "macro_f1"
  bool higher_is_better;  ///< false for mae
};

/// All headline metrics, in `Metric` order.
std::span<const MetricInfo> metric_infos();
/// The metric named `name`; throws UsageError suggesting the nearest name.
const MetricInfo& metric_info(const std::string& name);
/// Whether a metric is reported for a kind of task: qwk and mae for ordinal tasks, auroc and
/// auprc for binary tasks, the rest for all.
bool applies(Metric metric, data::TaskType type);

/// One value per `Metric`; NaN where undefined or not applicable.
using MetricValues = std::array<double, kNumMetrics>;

/// The predicted class of one probability row: for binary tasks 1 when p[1] >= threshold,
/// else the arg max (the lowest index among equal maxima).
int predict(std::span<const double> row, data::TaskType type, double threshold = 0.5);

/// Call multiplicities of the call (cluster) bootstrap: each resample draws `num_calls`
/// calls uniformly with replacement. Indices come from std::mt19937_64 (its output is fixed
/// by the standard) through our own unbiased rejection draw, not from
/// std::uniform_int_distribution, whose output differs between standard libraries; the
/// sequence is therefore the same for a seed on every platform.
class CallResampler {
 public:
  CallResampler(size_t num_calls, uint64_t seed);
  /// Fills `weights` (resized to num_calls) with how often each call was drawn.
  void next(std::vector<double>& weights);
  /// Unbiased index in [0, num_calls).
  uint64_t draw();

 private:
  std::mt19937_64 engine_;
  uint64_t n_;
  uint64_t reject_below_;  // 2^64 mod n_: draws below it are rejected (Lemire 2019)
};

/// A percentile bootstrap interval.
struct Interval {
  double lo = std::numeric_limits<double>::quiet_NaN();
  double hi = std::numeric_limits<double>::quiet_NaN();
  int valid_resamples = 0;  ///< resamples where the metric was defined (not NaN)
};

/// The `confidence` percentile interval (e.g. 0.95 -> 2.5th and 97.5th percentiles, linear
/// interpolation between order statistics as numpy's default) of the defined values. NaN
/// bounds when fewer than 2 values are defined.
Interval percentile_interval(std::vector<double> values, double confidence);

/// Sufficient statistics of one task on a subset of segments, grouped by call, so that a
/// bootstrap resample is a weighted sum over calls: per call, the non-zero confusion cells
/// (sparse), plus, for binary tasks, the positive-class scores ranked once.
class TaskSample {
 public:
  /// probs: the task's [N, C] probabilities to score (raw or temperature-scaled);
  /// threshold: binary decision threshold; segments: indices into the set (all when empty
  /// and `all_if_empty`). Only labelled segments are used.
  TaskSample(const EvalSet& set, const TaskPredictions& task, std::span<const double> probs,
             double threshold, std::span<const uint32_t> segments, bool all_if_empty = true);

  data::TaskType type() const { return type_; }
  int num_classes() const { return num_classes_; }
  size_t num_calls() const { return call_ids_.size(); }
  size_t num_labelled() const { return num_labelled_; }
  const std::vector<std::string>& call_ids() const { return call_ids_; }
  const RankedScores& ranked() const { return ranked_; }

  /// Confusion matrix with each call counted `call_weight[call]` times.
  ConfusionMatrix confusion(std::span<const double> call_weight) const;
  /// Headline metrics with each call counted `call_weight[call]` times.
  MetricValues metrics(std::span<const double> call_weight) const;
  /// Unit weights: the point estimates.
  MetricValues point() const;

 private:
  data::TaskType type_;
  int num_classes_;
  size_t num_labelled_ = 0;
  std::vector<std::string> call_ids_;
  std::vector<uint32_t> cell_offsets_;  // CSR over calls into cells_/cell_counts_
  std::vector<uint32_t> cells_;         // truth * C + pred
  std::vector<double> cell_counts_;
  RankedScores ranked_;
};

/// Number of resamples, confidence and seed of every bootstrap.
struct BootstrapConfig {
  int resamples = 1000;
  double confidence = 0.95;
  uint64_t seed = 20240611;
};

/// Point estimates and call-bootstrap intervals of every metric.
struct BootstrapResult {
  MetricValues point;
  std::array<Interval, kNumMetrics> intervals;
  int resamples = 0;
};

/// Resamples the sample's calls `config.resamples` times; NaN resamples (e.g. a resample
/// without positives for AUROC) are left out of the interval and counted.
BootstrapResult bootstrap(const TaskSample& sample, const BootstrapConfig& config);

/// Paired comparison of two runs on the same calls: delta = B - A per metric.
struct PairedResult {
  MetricValues a, b, delta;
  std::array<Interval, kNumMetrics> delta_intervals;
  /// Two-sided paired-bootstrap p-value per metric: twice the share of resamples whose delta
  /// has the opposite sign to the observed delta or is 0 (capped at 1); 1 when delta = 0;
  /// NaN when undefined.
  MetricValues p_value;
  int resamples = 0;
};

/// Draws the same call resamples for `a` and `b` (which must hold the same calls in the same
/// order; DataError otherwise) and compares every metric.
PairedResult paired_bootstrap(const TaskSample& a, const TaskSample& b,
                              const BootstrapConfig& config);

}  // namespace tenor::eval
