#pragma once
// One path from a model to its scores. A Predictor is a trained model that scores rows of a
// feature store: a run's LibTorch model (train::RunPredictor, train/predict.h) or an exported
// bundle in ONNX Runtime (onnx_export::BundlePredictor, export/bundle.h). Both check a store
// with the one store check, give raw probabilities, and carry the decision rules fitted on
// dev when training ended; the EvalSet builder and the per-segment scores below are the only
// ones `tenor eval`, `tenor eval compare`, the model card, the parity gate and `tenor predict`
// use.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/decision.h"
#include "eval/eval_set.h"
#include "train/data.h"
#include "train/predict.h"

namespace tenor::train {

/// Raw (uncalibrated) class probabilities per model task, each [rows, C] row-major.
using TaskProbabilities = std::vector<std::vector<double>>;

class Predictor {
 public:
  virtual ~Predictor() = default;

  /// What the model reads from a store and predicts: columns, tokenizer, tasks and classes.
  const StoreContract& contract() const { return contract_; }
  const std::vector<TaskSpec>& tasks() const { return contract_.shape.tasks; }
  /// The decision rules the model was saved with (fitted on its dev split).
  const eval::DecisionRules& rules() const { return rules_; }
  /// What the model reads of a store row (the run's or bundle's input_transform.json).
  const InputTransform& transform() const { return transform_; }

  /// `store` checked against the model (check_store_for_model: the one store check, one
  /// wording) and prepared for it: labelled rows per split, context rows. DataError naming
  /// `store_name` and the fix when the store does not fit the model.
  TrainData prepare(features::Store store, const std::string& store_name) const;

  /// Probabilities of `rows` of prepared `data`.
  virtual TaskProbabilities probabilities(const TrainData& data,
                                          const std::vector<int64_t>& rows) = 0;

  /// The extractor configuration (features.json's `extractor_config`) and SentencePiece model
  /// the model's features were built with: what `tenor predict` extracts a call with.
  virtual nlohmann::json extractor_config() = 0;
  virtual std::string tokenizer_model() = 0;

 protected:
  StoreContract contract_;
  eval::DecisionRules rules_;
  InputTransform transform_;  ///< what the model reads of a store row (train/input_transform.h)
};

/// A run's LibTorch model as a Predictor. Its rules are those saved in RUN/calibration.json
/// for this checkpoint when training ended; a run without them (written before they were
/// saved, or another checkpoint) has them fitted on the dev split of its own store when it
/// is opened (with a warning; `own`, when given, is that store already prepared), and never
/// written into the run. `copies` (with `own`: degraded copies of its dev rows, what
/// `tenor train` passes when training ends with `calibration: degraded`) are pooled with the
/// dev split for that fit.
class RunPredictor : public Predictor {
 public:
  explicit RunPredictor(const std::filesystem::path& dir, const std::string& device = "cpu",
                        const std::string& checkpoint = "best.pt", const TrainData* own = nullptr,
                        const DegradedCopies* copies = nullptr);

  TaskProbabilities probabilities(const TrainData& data,
                                  const std::vector<int64_t>& rows) override;
  nlohmann::json extractor_config() override;
  std::string tokenizer_model() override;

  LoadedRun& run() { return run_; }
  /// Writes the rules into RUN/calibration.json (atomically) for this checkpoint: what
  /// `tenor train` does when training ends.
  void save_rules() const;

 private:
  /// The rules fitted on the dev split of `own` pooled with `copies` of its dev rows.
  eval::DecisionRules pooled_rules(const TrainData& own, const DegradedCopies& copies);

  LoadedRun run_;
  std::string checkpoint_;
};

/// The predictions of `predictor` on `rows` of `data` (raw probabilities) with their labels,
/// speakers, times and meta: the one EvalSet builder.
eval::EvalSet eval_set(Predictor& predictor, const TrainData& data,
                       const std::vector<int64_t>& rows);
/// The same with the probabilities of `rows` already computed (`probs`, as probabilities()
/// gives them).
eval::EvalSet eval_set(const Predictor& predictor, const TrainData& data,
                       const std::vector<int64_t>& rows, TaskProbabilities probs);

/// The rules of `predictor` fitted on the dev split of `data` (`store_name` is recorded).
/// The defaults, with a warning, when `data` has no labelled dev segment.
eval::DecisionRules fit_rules(Predictor& predictor, const TrainData& data,
                              const std::string& store_name);

/// Per-segment scores of `rows` as `tenor predict` prints them: for each task of the
/// segment's speaker role, the raw and calibrated probabilities and the decision under the
/// predictor's rules.
nlohmann::json segment_scores(const Predictor& predictor, const TrainData& data,
                              const std::vector<int64_t>& rows, const TaskProbabilities& probs);

/// The rows of call `call_id` in `store`, in segment order. DataError when absent.
std::vector<int64_t> call_rows(const features::Store& store, const std::string& call_id);

}  // namespace tenor::train
