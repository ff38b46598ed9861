#pragma once

#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eval/bootstrap.h"
#include "eval/calibration.h"
#include "eval/decision.h"
#include "eval/eval_set.h"
#include "eval/metrics.h"
#include "eval/timeline.h"

namespace tenor::eval {

/// Everything `evaluate` computes is configured here.
struct EvalConfig {
  BootstrapConfig bootstrap;
  int calibration_bins = 15;  ///< ECE bins (Guo et al. 2017 use 15)
  bool slice_by_speaker = true;
  /// Meta fields to slice by; empty = every field that occurs in the segments' meta and has
  /// at most max_slice_values distinct values (a per-call id such as EPITOME's `thread`
  /// would give hundreds of one-call slices: noise, not a finding).
  std::vector<std::string> slice_fields;
  size_t max_slice_values = 20;
  /// A slice with fewer calls is marked small and never flagged: a call bootstrap over a
  /// handful of calls gives intervals too narrow to trust.
  size_t min_slice_calls = 10;
  /// Tasks whose escalation timeline is computed (binary or ordinal tasks only).
  std::vector<std::string> timeline_tasks = {"escalation"};
  TimelineConfig timeline;
};

/// One slice (one speaker role or one meta value) of a task, with its own call-bootstrap
/// intervals. An empty slice (no labelled segment of the task) has NaN values.
///
/// A slice whose labelled segments all hold one class is `single_class`: its macro-F1 is
/// fixed by construction (0.5 or less: the absent classes score 0), so it shows the recall
/// of its class instead and is never flagged. Any other slice is `flagged` when its own
/// macro-F1 interval and the task's overall one do not overlap, unless it is `small`.
struct SliceResult {
  std::string field;  ///< "speaker" or the meta field
  std::string value;
  size_t n_labelled = 0;
  size_t n_calls = 0;
  bool empty = true;
  double macro_f1 = std::numeric_limits<double>::quiet_NaN();
  Interval interval;
  /// The one class present among the slice's labels (index into the task's classes), or -1.
  int single_class = -1;
  /// Recall of `single_class` (= accuracy on the slice) and its interval; NaN otherwise.
  double class_recall = std::numeric_limits<double>::quiet_NaN();
  Interval class_recall_interval;
  bool small = false;  ///< fewer calls than EvalConfig::min_slice_calls
  /// The slice's interval lies wholly below (-1) or above (+1) the overall one; 0 otherwise
  /// and always for empty, single-class or small slices.
  int flagged = 0;
};

/// What a reader must know about a slice, as one phrase: "empty", "single-class (calm):
/// recall shown", "small (4 calls)", "below the overall interval", or "". The HTML report
/// and the model card both print it.
std::string slice_note(const SliceResult& slice, const std::vector<std::string>& classes);

/// Everything reported for one task.
struct TaskReport {
  std::string name;
  data::TaskType type = data::TaskType::kCategorical;
  std::vector<std::string> classes;
  size_t n_labelled = 0;
  size_t n_calls = 0;  ///< calls with at least one labelled segment
  /// "no labelled segments" when there is nothing to score; metrics are then NaN.
  std::string note;

  double threshold = 0.5;                    ///< binary decision threshold used
  std::string threshold_source = "default";  ///< "default" or "dev_f1"
  std::optional<ThresholdFit> threshold_fit;

  ConfusionMatrix confusion;
  ClassificationMetrics metrics;
  BootstrapResult bootstrap;

  Calibration calibration;                        ///< of the raw probabilities
  std::optional<TemperatureFit> temperature;      ///< fitted on dev
  std::optional<Calibration> calibration_scaled;  ///< test after temperature scaling

  RankedScores::Curve roc, pr;  ///< binary tasks
  std::vector<SliceResult> slices;
  std::optional<TimelineMetrics> timeline;

  /// The probabilities the metrics were computed from ([N, C]: temperature-scaled when a
  /// dev set was given, else the raw ones). Not serialised; the HTML timeline plots them.
  std::vector<double> scored_probs;
};

struct EvalReport {
  size_t n_segments = 0;
  size_t n_calls = 0;
  EvalConfig config;
  bool has_dev = false;  ///< decision rules fitted on a dev split were applied
  /// What the applied decision rules were fitted on (DecisionRules::fitted_on).
  std::string rules_fitted_on = "nothing: defaults";
  std::vector<TaskReport> tasks;
  /// Meta fields left out of the automatic slicing: field -> its number of distinct values.
  std::map<std::string, size_t> unsliced_fields;
};

/// Evaluates every task of `test` under the decision `rules` (fitted on a dev split with
/// fit_decision_rules; never on test): each task's probabilities are temperature-scaled and
/// binary tasks decide at the rule's threshold. Without rules: raw probabilities and 0.5.
/// Throws DataError on an invalid set or rules lacking one of its tasks, UsageError on a bad
/// configuration.
EvalReport evaluate(const EvalSet& test, const EvalConfig& config = {},
                    const DecisionRules* rules = nullptr);

}  // namespace tenor::eval
