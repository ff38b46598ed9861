#pragma once

#include <cstdint>
#include <string>
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

/// One annotator's labels of a task against the consensus of the others.
struct AnnotatorAgreement {
  std::string annotator;
  int segments = 0;  ///< segments with this annotator's label and a consensus to compare with
  int agreed = 0;    ///< of those, where the two are the same class
  double agreement = 0;  ///< agreed / segments (NaN when segments = 0)
  /// Cohen's kappa against the consensus: (p_o - p_e) / (1 - p_e), p_e from the two label
  /// distributions (Cohen 1960); NaN when p_e = 1.
  double kappa = 0;
  /// [K x K] row-major: row = this annotator's class, column = the consensus class.
  std::vector<int64_t> confusion;
};

/// Every annotator of `task` in `labels_by`, by name, against the consensus: the segment's
/// `labels` when given (the adjudicated label), else the majority of the *other* annotators
/// (resolved_label's tie rule), so that nobody is compared with their own vote. Segments
/// without another source of the label do not count. Empty when no segment has labels_by.
std::vector<AnnotatorAgreement> annotator_agreement(const Dataset& dataset, const Task& task);

}  // namespace tenor::data
