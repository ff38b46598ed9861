#pragma once
// A trained run as a predictor: its config, input transform, shape and best checkpoint.
// Used by evaluation, export and `tenor predict --run`.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/features/build.h"
#include "train/config.h"
#include "train/data.h"
#include "train/model.h"

namespace tenor::train {

/// Where a run keeps its pretrained text encoder's files (model.text_encoder):
/// tokenizer.json, config.json and source.json (what it was fetched as, with checksums).
inline constexpr const char* kRunTextEncoderDir = "text_encoder";

/// What a run directory holds besides weights.
struct RunInfo {
  std::filesystem::path dir;
  /// config.yaml, its `features` found from this process's directory (read_run)
  TrainConfig config;
  InputTransform transform;  ///< input_transform.json (built from normalizer.json before)
  ModelShape shape;
  nlohmann::json result;  ///< result.json: versions, tokenizer hash, modalities per task
};

/// The model's dimensions and tasks as JSON (saved as shape.json in every run).
nlohmann::json shape_to_json(const ModelShape& shape);
ModelShape shape_from_json(const nlohmann::json& j, const std::string& source = "shape.json");

/// Reads config.yaml, input_transform.json, shape.json and result.json of a run, upgraded from
/// the run's format to the current one (train/run_format.h). Throws DataError naming the
/// missing or damaged file and the fix, or a format newer than this tenor reads. A relative
/// `features` is found from any directory while the run sits at its `out` under the directory
/// training ran in (both relative paths in config.yaml).
RunInfo read_run(const std::filesystem::path& dir);

/// The run's feature store (`config.features` as read_run found it), where the run's
/// extractor settings, tokenizer, channels and dev split are read from; DataError naming the
/// run, the path, this process's directory and the fix when it is not there.
const std::string& run_store(const RunInfo& run);

/// A run's model, loaded from `checkpoint` (default best.pt) on `device`.
struct LoadedRun {
  RunInfo info;
  std::shared_ptr<TaskModel> model;
  torch::Device device = torch::kCPU;
};
LoadedRun load_run(const std::filesystem::path& dir, const std::string& device = "cpu",
                   const std::string& checkpoint = "best.pt");

/// What a model reads from a feature store: a run's, or an exported bundle's (its
/// features.json, shape.json and labels.json).
struct StoreContract {
  std::string model;  ///< "run runs/x", "bundle b": named in messages
  ModelShape shape;   ///< columns, tasks and their classes
  std::string tokenizer_sha256;  ///< "": not checked (features the caller extracted itself)
  std::string feature_set_version, functionals_version;  ///< "": not checked
  /// The speech-encoder states the model was trained on (a run's result.json, or its store's
  /// extractor configuration for runs before it; a bundle's): a store of other weights or
  /// another window is refused, and one without them is told how to build them. All "": not
  /// known (an older run without its store), or a model without them.
  features::SpeechRecord speech;
};

StoreContract store_contract(const RunInfo& run);

/// The one check of a feature store against the model that reads it (eval, eval compare,
/// export, predict --run and --bundle, from a store or from a call's own features):
/// feature-set and functionals versions, tokenizer (only for a model with a task that reads
/// text), LLD and functional columns, and each task's presence and classes. Classes are
/// matched by name: where a task's store lists the model's classes in another order, the
/// store's labels and class list are re-indexed into the model's order (logged), so every
/// result is the one the original order gives. A model without class names (a run from
/// before they were recorded) is matched by class count, with a warning. Returns the store
/// column of each model task. Throws DataError naming the store, the model, what differs
/// and the fix.
std::vector<int> check_store_for_model(features::Store& store, const std::string& store_name,
                                       const StoreContract& model);

/// Per task: probabilities [N, C] (CPU, float64) of `rows` (those in `augmented` with its
/// frames and functionals: a degraded copy).
struct Predictions {
  std::vector<torch::Tensor> probs;
};
Predictions predict(LoadedRun& run, const TrainData& data, const std::vector<int64_t>& rows,
                    int batch_size = 64, const AugmentedRows* augmented = nullptr);

}  // namespace tenor::train
