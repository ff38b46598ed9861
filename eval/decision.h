#pragma once
// The decision rules of a model: how each task's probabilities become calibrated scores and
// a decision. Fitted once, on a dev split, by fit_decision_rules; saved with the run
// (RUN/calibration.json, written when training ends) and the bundle, and applied by
// `tenor eval`, the model card, the parity gate and `tenor predict`. One JSON shape.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/calibration.h"
#include "eval/eval_set.h"

namespace tenor::eval {

/// One task's rule: p_cal = softmax(log(p) / temperature); a binary task decides class 1
/// when p_cal[1] >= threshold, every other task takes the arg max (eval::predict).
struct TaskRule {
  std::string task;
  data::TaskType type = data::TaskType::kCategorical;
  double temperature = 1.0;
  double threshold = 0.5;                    ///< binary tasks only
  std::string threshold_source = "default";  ///< "default" or "dev_f1"
  std::optional<TemperatureFit> temperature_fit;  ///< absent: T = 1, nothing was fitted
  std::optional<ThresholdFit> threshold_fit;      ///< absent: the default 0.5
};

/// Every task's rule, and what they were fitted on.
struct DecisionRules {
  /// "dev split of STORE" when fitted, or why nothing was ("no dev split: defaults").
  std::string fitted_on = "nothing: defaults";
  std::vector<TaskRule> tasks;

  /// The rule of task `name`; nullptr when there is none.
  const TaskRule* find(const std::string& name) const;
  /// True when at least one task's temperature was fitted.
  bool fitted() const;
};

/// The rules of `dev` (a model's predictions on a dev split), fitted per task: the
/// temperature minimising the dev NLL when the task has labelled dev segments, then for a
/// binary task the dev-F1-optimal threshold on the temperature-scaled probabilities when dev
/// holds a positive. A task without labelled dev segments (or without a dev positive, for its
/// threshold) keeps the defaults, with a warning naming it. `fitted_on` is recorded as given.
DecisionRules fit_decision_rules(const EvalSet& dev, const std::string& fitted_on);

/// The default rules (T = 1, threshold 0.5) of the tasks of `set`, saying why (`why`).
DecisionRules default_rules(const EvalSet& set, const std::string& why);

/// Calibrated probabilities of rows [N, C] (row-major) under `rule`; the probabilities
/// unchanged when the rule fitted no temperature.
std::vector<double> calibrate(std::span<const double> probs, size_t num_classes,
                              const TaskRule& rule);

/// The decision (class index) of one calibrated row.
int decide(std::span<const double> calibrated_row, const TaskRule& rule);

/// The rules as saved in RUN/calibration.json, the bundle's calibration.json and the ONNX
/// metadata `tenor.calibration` (docs/evaluation.md, "Decision rules").
nlohmann::json to_json(const DecisionRules& rules);

/// to_json's inverse. Also reads the calibration.json of bundles exported before this shape
/// (per task: temperature, fitted_on, threshold). Throws DataError naming `source`, the key
/// and the fix when the JSON is not a calibration.
DecisionRules rules_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace tenor::eval
