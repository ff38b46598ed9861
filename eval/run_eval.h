#pragma once
// Evaluation of a trained run (the bridge between tenor::train and the pure-C++
// tenor::eval): predictions on a store's split become an EvalSet; `tenor eval` and
// `tenor eval compare` call these.

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "eval/compare.h"
#include "eval/evaluate.h"

namespace tenor::eval {

/// A run's predictions on `split` of the feature store `store` (refused when the store does
/// not match the run: feature set, tokenizer, tasks; DataError when the split has no
/// segment), scored as `tenor eval` scores them: under the run's decision rules (fitted on
/// its dev split when training ended), probabilities temperature-scaled and each task's
/// decision threshold in `thresholds`. `tenor eval compare` compares runs this way, so its
/// metrics are the reports'.
EvalSet calibrated_eval_set_for_run(const std::filesystem::path& run,
                                    const std::filesystem::path& store, const std::string& split,
                                    const std::string& device,
                                    std::map<std::string, double>& thresholds);

/// Only the segments of one call (for `--timeline CALL_ID`); DataError naming nearby ids
/// when the call is not in the set.
EvalSet only_call(const EvalSet& set, const std::string& call_id);

struct RunEvalOptions {
  std::string split = "test";
  std::string device = "cpu";
  /// The decision rules: "run" (the run's own, fitted on its dev split when training ended)
  /// or "dev" (fitted now on the dev split of the evaluated store; the report says so).
  std::string calibration = "run";
  EvalConfig config;
  std::optional<std::string> timeline_call;
};

/// `tenor eval`: evaluates `run` on `split` of `store` under the decision rules chosen by
/// options.calibration, and writes OUT/report.json and OUT/report.html (and
/// OUT/timeline-<call>.html with --timeline). Never writes into the run.
EvalReport evaluate_run(const std::filesystem::path& run, const std::filesystem::path& store,
                        const std::filesystem::path& out, const RunEvalOptions& options);

}  // namespace tenor::eval
