#pragma once

#include <map>
#include <string>
#include <vector>

#include "eval/eval_set.h"

namespace tenor::eval::testing {

/// A segment for building small evaluation sets by hand.
struct Seg {
  std::string call;
  int label;  ///< -1 = unlabelled
  double p1;  ///< binary: P(class 1)
  std::string speaker = "customer";
  double start_s = 0.0, end_s = 1.0;
  std::map<std::string, std::string> meta = {};
};

/// A one-task binary set ("escalation": calm / escalated) from segments.
inline EvalSet binary_set(const std::vector<Seg>& segs, const std::string& task = "escalation") {
  EvalSet set;
  TaskPredictions t;
  t.name = task;
  t.type = data::TaskType::kBinary;
  t.classes = {"calm", "escalated"};
  for (const Seg& s : segs) {
    set.segments.call_ids.push_back(s.call);
    set.segments.speakers.push_back(s.speaker);
    set.segments.start_s.push_back(s.start_s);
    set.segments.end_s.push_back(s.end_s);
    set.segments.meta.push_back(s.meta);
    t.labels.push_back(s.label);
    t.probs.push_back(1.0 - s.p1);
    t.probs.push_back(s.p1);
  }
  set.tasks.push_back(std::move(t));
  return set;
}

/// A one-task set whose probabilities put 0.7 on `pred` and share 0.3 over the rest, one call
/// per segment unless `calls` is given.
inline EvalSet multiclass_set(const std::vector<int>& truth, const std::vector<int>& pred, int c,
                              data::TaskType type = data::TaskType::kCategorical,
                              std::vector<std::string> calls = {}) {
  EvalSet set;
  TaskPredictions t;
  t.name = "task";
  t.type = type;
  for (int k = 0; k < c; ++k) t.classes.push_back("c" + std::to_string(k));
  for (size_t i = 0; i < truth.size(); ++i) {
    set.segments.call_ids.push_back(calls.empty() ? "call" + std::to_string(i) : calls[i]);
    set.segments.speakers.push_back("customer");
    set.segments.start_s.push_back(static_cast<double>(i));
    set.segments.end_s.push_back(static_cast<double>(i) + 1.0);
    t.labels.push_back(truth[i]);
    for (int k = 0; k < c; ++k) t.probs.push_back(k == pred[i] ? 0.7 : 0.3 / (c - 1));
  }
  set.tasks.push_back(std::move(t));
  return set;
}

}  // namespace tenor::eval::testing
