#pragma once

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "data/schema.h"  // data::TaskType: how the classes of a task relate (no LibTorch)

namespace tenor::eval {

/// Per-segment facts shared by every task: who spoke when, in which call, and the meta
/// fields used for slicing. All vectors have one entry per segment (N).
struct Segments {
  std::vector<std::string> call_ids;  ///< call of each segment; the bootstrap resamples calls
  std::vector<std::string> speakers;  ///< speaker role ("agent", "customer", ...)
  std::vector<double> start_s;        ///< segment start, seconds from the call's start
  std::vector<double> end_s;          ///< segment end, seconds; end_s >= start_s
  std::vector<std::map<std::string, std::string>> meta;  ///< slicing fields; may be empty (N)
  /// Optional (empty, or one per segment): the transcript, and the segment's index within its
  /// call, for the report's error tables, call pages and predictions.jsonl.
  std::vector<std::string> texts;
  std::vector<int> indices;

  size_t size() const { return call_ids.size(); }
};

/// One task's truth and one run's predictions for it.
struct TaskPredictions {
  std::string name;  ///< task name, e.g. "escalation"
  data::TaskType type = data::TaskType::kCategorical;  ///< binary: class 1 is the positive
  std::vector<std::string> classes;  ///< C class names, in class-index order
  std::vector<int> labels;           ///< N true class indices, -1 where unlabelled
  std::vector<double> probs;         ///< [N, C] row-major class probabilities (rows sum to 1)
  /// [N, C] row-major logits for temperature scaling; optional (empty). Without them,
  /// log(probs) are used, which softmax maps back to the same probabilities.
  std::vector<double> logits;
  /// The speaker role the task is defined on ("customer"): its segments are the ones scored
  /// for it in predictions.jsonl and on call pages. Empty: every segment.
  std::string speaker;

  size_t num_classes() const { return classes.size(); }
  /// Row `i` of `probs`: C values.
  std::span<const double> prob_row(size_t i) const {
    return {probs.data() + i * classes.size(), classes.size()};
  }
};

/// A run's predictions on a set of segments: the unit every evaluation takes.
struct EvalSet {
  Segments segments;
  std::vector<TaskPredictions> tasks;

  /// The task named `name`; throws UsageError naming the known tasks when absent.
  const TaskPredictions& task(const std::string& name) const;
};

/// Checks sizes, label ranges, finite probabilities in [0, 1] whose rows sum to 1 within
/// 1e-3, end_s >= start_s, and at least two classes per task. Throws DataError naming the
/// task, the segment and the fix.
void validate(const EvalSet& set);

/// Appends `more`'s segments and predictions to `into`, which must hold the same tasks with
/// the same classes in the same order (std::logic_error otherwise): pools a dev split with
/// degraded copies of it, whose segments repeat.
void append(EvalSet& into, const EvalSet& more);

/// Throws DataError unless `a` and `b` hold the same segments (call ids, times, speakers)
/// and the same tasks with the same classes and labels: the precondition of comparing runs.
void require_same_segments(const EvalSet& a, const EvalSet& b);

/// For comparing runs trained on different task lists (a single-task run against a
/// multi-task one): keeps the tasks both sets have, in `a`'s order, and the segments both
/// hold (same call, speaker and times) that are labelled for at least one of those tasks.
/// Returns the names of the tasks dropped from either set (empty: nothing changed).
/// Throws DataError naming both task lists when no task is shared.
std::vector<std::string> restrict_to_shared_tasks(EvalSet& a, EvalSet& b);

}  // namespace tenor::eval
