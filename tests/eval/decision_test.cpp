// The decision rules: one fit on dev, one JSON shape, applied the same by every reader.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "eval/decision.h"
#include "eval/evaluate.h"
#include "eval_fixtures.h"
#include "tests/data/fixtures.h"

namespace tenor::eval {
namespace {

using testing::binary_set;
using ::tenor::test::thrown_message;

TEST(DecisionRules, FitOnDevGivesTheThresholdAndTemperatureEvaluateApplies) {
  const EvalSet dev = binary_set({{"d1", 1, 0.3}, {"d2", 1, 0.4}, {"d3", 0, 0.1}, {"d4", 0, 0.2}});
  const DecisionRules rules = fit_decision_rules(dev, "dev split of x.h5");
  ASSERT_EQ(rules.tasks.size(), 1u);
  const TaskRule& r = rules.tasks[0];
  EXPECT_EQ(r.task, "escalation");
  ASSERT_TRUE(r.temperature_fit && r.threshold_fit);
  EXPECT_EQ(r.threshold_source, "dev_f1");
  EXPECT_TRUE(rules.fitted());
  // The decision of a row follows the threshold on the calibrated probabilities.
  const std::vector<double> row = {0.65, 0.35};
  const auto cal = calibrate(row, 2, r);
  EXPECT_EQ(decide(cal, r), cal[1] >= r.threshold ? 1 : 0);
  // evaluate() applies exactly these numbers.
  const EvalSet test = binary_set({{"t1", 1, 0.35}, {"t2", 1, 0.45}, {"t3", 0, 0.05}});
  const EvalReport report = evaluate(test, {}, &rules);
  EXPECT_EQ(report.tasks[0].threshold, r.threshold);
  EXPECT_EQ(report.tasks[0].temperature->temperature, r.temperature);
  EXPECT_EQ(report.rules_fitted_on, "dev split of x.h5");
}

/// A dev split pooled with a degraded copy of it (eval::append, `calibration: degraded`): the
/// rows of both, in order; the threshold moves to hold on both; another task list is refused.
TEST(DecisionRules, FitOnADevSplitPooledWithADegradedCopyOfIt) {
  const EvalSet clean = binary_set({{"d1", 1, 0.9}, {"d2", 1, 0.3}, {"d3", 0, 0.1}, {"d4", 0, 0.2}});
  const EvalSet copy = binary_set({{"d1", 1, 0.95}, {"d2", 1, 0.8}, {"d3", 0, 0.6}, {"d4", 0, 0.7}});
  EvalSet pooled = clean;
  append(pooled, copy);
  ASSERT_EQ(pooled.segments.size(), 8u);
  EXPECT_EQ(pooled.segments.call_ids[4], "d1");
  EXPECT_EQ(pooled.tasks[0].labels, (std::vector<int>{1, 1, 0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(pooled.tasks[0].probs[2 * 6 + 1], 0.6);
  validate(pooled);
  const TaskRule alone = fit_decision_rules(clean, "dev").tasks[0];
  const TaskRule both = fit_decision_rules(pooled, "dev and copy").tasks[0];
  EXPECT_EQ(both.threshold_fit->n, 8);
  // On the clean split alone the threshold sits between d4's and d2's scores (F1 1); in the
  // copy the calm rows score above d2, so the pooled fit cannot stay there.
  EXPECT_NE(alone.threshold, both.threshold);
  EvalSet other = binary_set({{"d1", 1, 0.9}}, "empathy");
  EXPECT_THROW(append(pooled, other), std::logic_error);
}

TEST(DecisionRules, WhatCannotBeFittedKeepsTheDefaultsInsteadOfFailing) {
  // No positive on dev: the temperature is fitted, the threshold stays 0.5.
  const DecisionRules no_positive =
      fit_decision_rules(binary_set({{"d1", 0, 0.3}, {"d2", 0, 0.1}}), "dev");
  EXPECT_TRUE(no_positive.tasks[0].temperature_fit.has_value());
  EXPECT_FALSE(no_positive.tasks[0].threshold_fit.has_value());
  EXPECT_EQ(no_positive.tasks[0].threshold, 0.5);
  EXPECT_EQ(no_positive.tasks[0].threshold_source, "default");
  // No labelled dev segment: nothing is fitted, and calibrate() leaves probabilities as they are.
  const DecisionRules unlabelled =
      fit_decision_rules(binary_set({{"d1", -1, 0.3}, {"d2", -1, 0.1}}), "dev");
  EXPECT_FALSE(unlabelled.fitted());
  const std::vector<double> row = {0.7, 0.3};
  EXPECT_EQ(calibrate(row, 2, unlabelled.tasks[0]), row);
}

TEST(DecisionRules, JsonRoundTripsExactly) {
  const EvalSet dev = binary_set({{"d1", 1, 0.3}, {"d2", 1, 0.4}, {"d3", 0, 0.1}, {"d4", 0, 0.2}});
  const DecisionRules rules = fit_decision_rules(dev, "dev split of x.h5");
  const nlohmann::json j = to_json(rules);
  EXPECT_EQ(j["format"], "tenor-calibration-1");
  const DecisionRules back = rules_from_json(nlohmann::json::parse(j.dump()), "calibration.json");
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(back.tasks[0].temperature, rules.tasks[0].temperature);
  EXPECT_EQ(back.tasks[0].threshold, rules.tasks[0].threshold);
}

TEST(DecisionRules, ReadsBundlesOfTheEarlierShapeAndRefusesGarbage) {
  // A bundle's calibration.json before the rules had a format.
  const auto legacy = nlohmann::json::parse(
      R"({"escalation": {"temperature": 1.5, "fitted_on": "dev", "threshold": 0.3},
          "empathy": {"temperature": 0.8, "fitted_on": "dev"}})");
  const DecisionRules rules = rules_from_json(legacy, "b/calibration.json");
  ASSERT_NE(rules.find("escalation"), nullptr);
  EXPECT_EQ(rules.find("escalation")->threshold, 0.3);
  EXPECT_EQ(rules.find("empathy")->temperature, 0.8);
  try {
    rules_from_json(nlohmann::json::parse(R"({"format": "tenor-calibration-1", "tasks": 3})"),
                    "runs/x/calibration.json");
    FAIL() << "garbage accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("runs/x/calibration.json"), std::string::npos);
  }
  // Values no fit gives (a hand edit): refused, naming the task and value, never applied.
  auto j = to_json(fit_decision_rules(
      binary_set({{"d1", 1, 0.3}, {"d2", 1, 0.4}, {"d3", 0, 0.1}, {"d4", 0, 0.2}}), "dev"));
  const std::string task = j["tasks"].begin().key();
  for (const auto& [key, value, message] :
       std::vector<std::tuple<std::string, double, std::string>>{
           {"temperature", -1, "temperature -1 is not a number above 0"},
           {"temperature", 0, "temperature 0 is not a number above 0"},
           {"threshold", 7, "threshold 7 is not a probability (0 .. 1)"}}) {
    auto edited = j;
    edited["tasks"][task][key] = value;
    EXPECT_NE(thrown_message<DataError>([&] { rules_from_json(edited, "r/calibration.json"); })
                  .find("r/calibration.json, task '" + task + "': " + message),
              std::string::npos)
        << key << " " << value;
  }
  auto legacy_edited = legacy;
  legacy_edited["escalation"]["threshold"] = -0.5;
  EXPECT_THROW(rules_from_json(legacy_edited, "b/calibration.json"), DataError);
  // Rules that lack a task of the evaluated set are refused by evaluate().
  const EvalSet test = binary_set({{"t1", 1, 0.35}}, "churn");
  EXPECT_THROW(evaluate(test, {}, &rules), DataError);
}

}  // namespace
}  // namespace tenor::eval
