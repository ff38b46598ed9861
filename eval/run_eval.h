#pragma once
// Evaluation of a trained run (the bridge between tenor::train and the pure-C++
// tenor::eval): predictions on a store's split become an EvalSet; `tenor eval` and
// `tenor eval compare` call these.

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
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

/// Refuses `path` (given on the command line as `flag`) when it is the run directory `run` or
/// lies inside it: tenor eval never writes into a run (UsageError with the fix).
void refuse_inside_run(const std::filesystem::path& run, const std::filesystem::path& path,
                       const std::string& flag);

/// Only the segments of one call; DataError naming nearby ids when the call is not in the set.
EvalSet only_call(const EvalSet& set, const std::string& call_id);

struct RunEvalOptions {
  std::string split = "test";  ///< test, dev, train, or all (every labelled segment)
  std::string device = "cpu";
  /// The decision rules: "run" (the run's own, fitted on its dev split when training ended)
  /// or "dev" (fitted now on the dev split of the evaluated store; the report says so).
  std::string calibration = "run";
  EvalConfig config;
  /// A call whose page (OUT/calls/ID.html) is written besides those the report links to;
  /// DataError naming a near id when the split lacks it.
  std::optional<std::string> call;
  /// The dataset directory whose calls' audio the call pages play ("": no audio; `tenor eval
  /// --dataset` sets its dataset).
  std::filesystem::path audio_dataset;
};

/// The dataset at `dir`, refused with DataError (its errors, and "fix them ... and `then`")
/// unless `tenor data validate` finds no error in it; warnings are counted in the log. Its
/// audio checks are left to the feature build (the same code), which applies them before it
/// extracts anything.
/// `splits_used` false (`data review`, whose folds ignore the splits and keep duplicates
/// together): duplicate calls across splits are warnings, not errors.
data::Dataset validated_dataset(const std::filesystem::path& dir, const std::string& then,
                                bool splits_used = true);

/// `tenor eval --dataset`: what besides RunEvalOptions scoring a labelled dataset takes.
struct DatasetEvalOptions {
  RunEvalOptions eval;
  /// Where to keep the feature store built from the dataset ("": a temporary store in OUT,
  /// removed when the command ends, also on failure or interrupt).
  std::filesystem::path keep_store;
  /// Score audio sampled below the run's analysis band (its upper bands empty) anyway.
  bool allow_narrowband = false;
  bool progress = true;
};

/// `tenor eval --dataset`: scores `run` on `split` ("all": every labelled segment) of the
/// labelled dataset directory `dataset`, with features computed exactly as the run's were
/// (its extractor configuration, SentencePiece model, sentence embeddings), by the code of
/// `tenor data build`. Before any extraction it refuses, with the fix: a dataset that does
/// not validate, a run task the dataset lacks or has with another type or other classes,
/// a split without labelled segments of the run's tasks, `--calibration dev` without a
/// labelled dev split, and audio sampled below the run's analysis band. The report says
/// which dataset (name, fingerprint) and which decision rules scored it. Writes
/// OUT/report.json, OUT/report.html, OUT/predictions.jsonl and the call pages, with the
/// calls' audio (all or none), never writes into the run or the
/// dataset, and leaves no temporary store. DataError (exit 1) for the data, UsageError (2)
/// for the arguments.
EvalReport evaluate_run_on_dataset(const std::filesystem::path& run,
                                   const std::filesystem::path& dataset,
                                   const std::filesystem::path& out,
                                   const DatasetEvalOptions& options);

/// `tenor eval`: evaluates `run` on `split` of `store` under the decision rules chosen by
/// options.calibration, and writes OUT/report.json, OUT/report.html (with the run's training
/// curves from RUN/metrics.jsonl), OUT/predictions.jsonl (every scored segment) and the call
/// pages OUT/calls/*.html (every call the report links to, and options.call). Never writes
/// into the run.
EvalReport evaluate_run(const std::filesystem::path& run, const std::filesystem::path& store,
                        const std::filesystem::path& out, const RunEvalOptions& options);

}  // namespace tenor::eval
