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
/// segment), scored as `tenor eval` scores them: probabilities scaled by
/// the temperature fitted on the store's dev split, and each task's decision threshold
/// (binary: fitted on dev) in `thresholds`. Without a dev split: T = 1 and 0.5, with a
/// warning. `tenor eval compare` compares runs this way, so its metrics are the reports'.
EvalSet calibrated_eval_set_for_run(const std::filesystem::path& run,
                                    const std::filesystem::path& store, const std::string& split,
                                    const std::string& device,
                                    std::map<std::string, double>& thresholds);

/// Only the segments of one call (for `--timeline CALL_ID`); DataError naming nearby ids
/// when the call is not in the set.
EvalSet only_call(const EvalSet& set, const std::string& call_id);

/// The decision thresholds and temperatures fitted on dev, as stored in RUN/calibration.json.
nlohmann::json calibration_json(const EvalReport& report);

struct RunEvalOptions {
  std::string split = "test";
  std::string device = "cpu";
  EvalConfig config;
  std::optional<std::string> timeline_call;
};

/// `tenor eval`: evaluates `run` on `split` of `store` (calibrated on the store's dev split
/// when it has one), writes OUT/report.json and OUT/report.html (and OUT/timeline-<call>.html
/// with --timeline), and saves the dev-fitted calibration in RUN/calibration.json.
EvalReport evaluate_run(const std::filesystem::path& run, const std::filesystem::path& store,
                        const std::filesystem::path& out, const RunEvalOptions& options);

}  // namespace tenor::eval
