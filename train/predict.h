#pragma once
// A trained run as a predictor: its config, normaliser, shape and best checkpoint.
// Used by evaluation, export and `tenor predict --run`.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/config.h"
#include "train/data.h"
#include "train/model.h"

namespace tenor::train {

/// What a run directory holds besides weights.
struct RunInfo {
  std::filesystem::path dir;
  TrainConfig config;
  Normalizer norm;
  ModelShape shape;
  nlohmann::json result;  ///< result.json: versions, tokenizer hash, modalities per task
};

/// The model's dimensions and tasks as JSON (saved as shape.json in every run).
nlohmann::json shape_to_json(const ModelShape& shape);
ModelShape shape_from_json(const nlohmann::json& j);

/// Reads config.yaml, normalizer.json, shape.json and result.json of a run. Throws
/// DataError naming the missing file and the fix.
RunInfo read_run(const std::filesystem::path& dir);

/// A run's model, loaded from `checkpoint` (default best.pt) on `device`.
struct LoadedRun {
  RunInfo info;
  std::shared_ptr<TaskModel> model;
  torch::Device device = torch::kCPU;
};
LoadedRun load_run(const std::filesystem::path& dir, const std::string& device = "cpu",
                   const std::string& checkpoint = "best.pt");

/// Loads the store for a run's model and refuses one that does not match the run:
/// feature-set or functionals version, tokenizer, or tasks.
TrainData load_store_for_run(const RunInfo& run, const std::string& store_path);

/// Per task: probabilities [N, C] and log-probabilities [N, C] (CPU, float64) of `rows`.
struct Predictions {
  std::vector<int64_t> rows;
  std::vector<torch::Tensor> probs;
  std::vector<torch::Tensor> log_probs;
};
Predictions predict(LoadedRun& run, const TrainData& data, const std::vector<int64_t>& rows,
                    int batch_size = 64);

}  // namespace tenor::train
