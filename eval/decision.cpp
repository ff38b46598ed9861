#include "eval/decision.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "eval/bootstrap.h"

namespace tenor::eval {
using nlohmann::json;

namespace {

constexpr const char* kFormat = "tenor-calibration-1";

TaskRule default_rule(const TaskPredictions& t) {
  TaskRule rule;
  rule.task = t.name;
  rule.type = t.type;
  return rule;
}

/// One task's rule fitted on its dev predictions (the defaults where nothing can be fitted).
TaskRule fit_rule(const TaskPredictions& dev) {
  TaskRule rule = default_rule(dev);
  const bool labelled = std::any_of(dev.labels.begin(), dev.labels.end(), [](int y) { return y >= 0; });
  if (!labelled) {
    logger("eval")->warn("task '{}' has no labelled dev segment: its scores stay uncalibrated "
                         "(temperature 1, threshold 0.5)",
                         dev.name);
    return rule;
  }
  const size_t c = dev.num_classes();
  const std::vector<double> logits = task_logits(dev);
  rule.temperature_fit = fit_temperature(logits, dev.labels, c);
  rule.temperature = rule.temperature_fit->temperature;
  if (dev.type != data::TaskType::kBinary) return rule;
  if (std::none_of(dev.labels.begin(), dev.labels.end(), [](int y) { return y == 1; })) {
    logger("eval")->warn("task '{}' has no positive dev segment: its decision threshold stays "
                         "0.5 (label some dev segments '{}' to fit it)",
                         dev.name, dev.classes.at(1));
    return rule;
  }
  // On the dev probabilities after the same temperature, so it applies to scaled scores.
  rule.threshold_fit = fit_threshold(apply_temperature(logits, c, rule.temperature), dev.labels);
  rule.threshold = rule.threshold_fit->threshold;
  rule.threshold_source = "dev_f1";
  return rule;
}

json rule_json(const TaskRule& r) {
  json j = {{"type", data::to_string(r.type)},
            {"temperature", r.temperature},
            {"temperature_fit", nullptr},
            {"threshold", nullptr},
            {"threshold_source", nullptr},
            {"threshold_fit", nullptr}};
  if (r.temperature_fit)
    j["temperature_fit"] = {{"n", r.temperature_fit->n},
                            {"nll_before", r.temperature_fit->nll_before},
                            {"nll_after", r.temperature_fit->nll_after},
                            {"at_bound", r.temperature_fit->at_bound}};
  if (r.type != data::TaskType::kBinary) return j;
  j["threshold"] = r.threshold;
  j["threshold_source"] = r.threshold_source;
  if (r.threshold_fit)
    j["threshold_fit"] = {{"n", r.threshold_fit->n}, {"f1", r.threshold_fit->f1}};
  return j;
}

/// `r` as read from `source`, refused when a hand edit or damage left a value no fit gives: a
/// temperature that is not above 0 (it would flip or blow up the probabilities) or a threshold
/// outside 0 .. 1 (every segment would take one class).
const TaskRule& checked(const TaskRule& r, const std::string& source) {
  const std::string at = source + ", task '" + r.task + "': ";
  const std::string fix = "; the file is damaged or was edited: restore it from the run or "
                          "bundle it came from";
  if (!(std::isfinite(r.temperature) && r.temperature > 0))
    throw DataError(at + "temperature " + format_number(r.temperature) +
                    " is not a number above 0" + fix);
  if (!(r.threshold >= 0 && r.threshold <= 1))
    throw DataError(at + "threshold " + format_number(r.threshold) +
                    " is not a probability (0 .. 1)" + fix);
  return r;
}

TaskRule rule_from_json(const std::string& name, const json& j, const std::string& source) {
  TaskRule r;
  r.task = name;
  r.type = data::task_type_from_string(j.at("type").get<std::string>(),
                                       source + ", task '" + name + "'");
  r.temperature = j.at("temperature");
  if (const json& f = j.at("temperature_fit"); !f.is_null()) {
    TemperatureFit fit;
    fit.temperature = r.temperature;
    f.at("n").get_to(fit.n);
    f.at("nll_before").get_to(fit.nll_before);
    f.at("nll_after").get_to(fit.nll_after);
    f.at("at_bound").get_to(fit.at_bound);
    r.temperature_fit = fit;
  }
  if (r.type != data::TaskType::kBinary) return r;
  r.threshold = j.at("threshold");
  r.threshold_source = j.at("threshold_source");
  if (const json& f = j.at("threshold_fit"); !f.is_null()) {
    ThresholdFit fit;
    fit.threshold = r.threshold;
    f.at("n").get_to(fit.n);
    f.at("f1").get_to(fit.f1);
    r.threshold_fit = fit;
  }
  return r;
}

/// A bundle's calibration.json from before kFormat: {task: {temperature, fitted_on,
/// threshold (binary only)}}. The task type is not recorded: a threshold marks a binary task.
DecisionRules legacy_rules(const json& j, const std::string& source) {
  DecisionRules rules;
  rules.fitted_on = "dev";
  for (const auto& [name, t] : j.items()) {
    TaskRule r;
    r.task = name;
    r.type = t.contains("threshold") ? data::TaskType::kBinary : data::TaskType::kCategorical;
    r.temperature = t.at("temperature");
    if (t.at("fitted_on") == "dev") {
      TemperatureFit fit;
      fit.temperature = r.temperature;
      r.temperature_fit = fit;
    }
    r.threshold = t.value("threshold", 0.5);
    r.threshold_source = r.temperature_fit && r.threshold != 0.5 ? "dev_f1" : "default";
    rules.tasks.push_back(checked(r, source));
  }
  return rules;
}

}  // namespace

const TaskRule* DecisionRules::find(const std::string& name) const {
  for (const auto& t : tasks)
    if (t.task == name) return &t;
  return nullptr;
}

bool DecisionRules::fitted() const {
  return std::any_of(tasks.begin(), tasks.end(),
                     [](const TaskRule& t) { return t.temperature_fit.has_value(); });
}

DecisionRules fit_decision_rules(const EvalSet& dev, const std::string& fitted_on) {
  validate(dev);
  DecisionRules rules;
  rules.fitted_on = fitted_on;
  for (const auto& t : dev.tasks) rules.tasks.push_back(fit_rule(t));
  return rules;
}

DecisionRules default_rules(const EvalSet& set, const std::string& why) {
  DecisionRules rules;
  rules.fitted_on = why;
  for (const auto& t : set.tasks) rules.tasks.push_back(default_rule(t));
  return rules;
}

std::vector<double> calibrate(std::span<const double> probs, size_t num_classes,
                              const TaskRule& rule) {
  if (!rule.temperature_fit) return {probs.begin(), probs.end()};
  TaskPredictions t;
  t.probs.assign(probs.begin(), probs.end());
  return apply_temperature(task_logits(t), num_classes, rule.temperature);
}

int decide(std::span<const double> calibrated_row, const TaskRule& rule) {
  return predict(calibrated_row, rule.type, rule.threshold);
}

json to_json(const DecisionRules& rules) {
  json tasks = json::object();
  for (const auto& t : rules.tasks) tasks[t.task] = rule_json(t);
  return {{"format", kFormat}, {"fitted_on", rules.fitted_on}, {"tasks", tasks}};
}

DecisionRules rules_from_json(const json& j, const std::string& source) {
  try {
    if (!j.contains("format")) return legacy_rules(j, source);
    if (j.at("format") != kFormat)
      throw DataError(source + " is calibration format " + j.at("format").dump() + ", not " +
                      kFormat + "; it was written by another tenor: use that tenor, or fit the "
                      "rules again with this one");
    DecisionRules rules;
    rules.fitted_on = j.at("fitted_on");
    for (const auto& [name, t] : j.at("tasks").items())
      rules.tasks.push_back(checked(rule_from_json(name, t, source), source));
    return rules;
  } catch (const json::exception& e) {
    throw DataError(source + " is not a tenor calibration (" + e.what() +
                    "); the file is damaged: restore it from the run or bundle it came from");
  }
}

}  // namespace tenor::eval
