#pragma once
// The training view of a feature store: normalised tensors per segment, split
// indices, task specs with role gating, and batching.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/features/store.h"
#include "train/config.h"
#include "train/model.h"

namespace tenor::train {

/// Per-column mean and standard deviation from the training split (kept with the run).
struct Normalizer {
  std::vector<float> lld_mean, lld_std, func_mean, func_std;
  std::vector<uint8_t>
      func_dropped;  ///< functionals hidden from the model (loudness normalisation)
  nlohmann::json to_json() const;
  static Normalizer from_json(const nlohmann::json& j);
};

struct TrainData {
  features::Store store;
  std::string store_path;
  ModelShape shape;
  std::vector<int> task_columns;  ///< store task index of each model task
  std::vector<int64_t> train, dev, test;
  std::vector<int64_t> previous;  ///< features::previous_segments(store): context rows
  Normalizer norm;
  std::vector<int> level_lld_columns;  ///< LLD columns whose level is removed per segment
  bool normalize_loudness = false;
  std::vector<torch::Tensor> class_weights;  ///< per task [K]: inverse train frequency
};

/// Reads the store named in the config; refuses a store of another feature-set version,
/// a task the store lacks, or a store without a training split. `norm` from a run
/// (evaluation, export) replaces the statistics computed from train.
TrainData load_train_data(const TrainConfig& config, const Normalizer* norm = nullptr);
/// The same over a store already read (and checked) from config.features.
TrainData load_train_data(const TrainConfig& config, features::Store store,
                          const Normalizer* norm);

/// The inference view of features computed outside a training store (a call given to
/// `tenor predict`): the run's shape, normaliser and loudness handling over `store`'s rows.
/// Throws DataError when the store does not match the model (check_store_for_model).
TrainData inference_data(features::Store store, const TrainConfig& config, const Normalizer& norm,
                         const ModelShape& shape);

/// Task specs from a store's schema, with the role gating of `model`.
std::vector<TaskSpec> task_specs(const features::Store& store,
                                 const std::vector<std::string>& tasks, const ModelConfig& model);

/// A padded, normalised batch of store rows (on CPU).
Batch make_batch(const TrainData& data, const std::vector<int64_t>& rows, const ModelConfig& model);

}  // namespace tenor::train
