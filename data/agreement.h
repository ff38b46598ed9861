#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace tenor::data {

/// Difference functions of Krippendorff's alpha (Krippendorff 2011, "Computing
/// Krippendorff's Alpha-Reliability", sec. 5).
enum class AlphaMetric { kNominal, kOrdinal, kInterval };

/// The metric the toolkit uses for a task: ordinal for ordinal tasks, nominal otherwise.
AlphaMetric alpha_metric_for(const Task& task);

/// Reliability data: one unit (segment) per entry, holding the values (class
/// indices in [0, num_values)) that the coders who rated it gave. Units with
/// fewer than two values are not pairable and do not count.
using ReliabilityData = std::vector<std::vector<int>>;

/// Krippendorff's alpha; NaN when undefined (fewer than two pairable values or
/// no variation at all in the data, where expected disagreement is zero).
double krippendorff_alpha(const ReliabilityData& units, int num_values, AlphaMetric metric);

struct AlphaEstimate {
  double alpha = 0;
  double low = 0, high = 0;  ///< percentile bootstrap interval (NaN when not computable)
  int pairable_units = 0;    ///< units with at least two values
  int coders = 0;            ///< distinct annotators
};

/// Alpha with a percentile bootstrap interval over units (segments), resampled
/// with replacement `resamples` times from `seed`.
AlphaEstimate krippendorff_alpha_bootstrap(const ReliabilityData& units, int num_values,
                                           AlphaMetric metric, int resamples, uint64_t seed,
                                           double level = 0.95);

/// The `labels_by` values of `task` on every segment of the dataset.
ReliabilityData reliability_data(const Dataset& dataset, const Task& task, int* coders = nullptr);

}  // namespace tenor::data
