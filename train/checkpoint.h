#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>

namespace tenor::train {

/// Everything needed to continue a run exactly where it stopped.
struct TrainState {
  int64_t epoch = 0;          ///< current epoch (0-based)
  int64_t batch = 0;          ///< next batch within the epoch
  int64_t step = 0;           ///< optimizer steps taken
  int64_t metrics_lines = 0;  ///< lines of metrics.jsonl that belong to this state
  int64_t bad_epochs = 0;     ///< epochs without dev improvement (early stopping)
  double best_score = -1;
  double epoch_loss_sum = 0;  ///< running train loss of the current epoch (for metrics.jsonl)
  int64_t epoch_loss_count = 0;
  int64_t epoch_segments = 0;
  int64_t best_epoch = -1;
  std::string config_sha256;  ///< of the resolved config: a checkpoint only resumes its own run
  std::string best_list;      ///< JSON: [[score, epoch], ...] of the kept best checkpoints
  /// features::content_sha256 of the store the run trains on ("" in checkpoints from before
  /// it was recorded): a run resumes only on the data it started with.
  std::string store_sha256;
};

class WeightAverage;

/// Writes model parameters and buffers (by their stable names), the optimizer
/// state, the weight average (optim.ema_decay; keys "average." + the model's), the training
/// state and the CPU RNG state to `path`, atomically, with a SHA-256 of all of them (keys,
/// dtypes, shapes and bytes).
void save_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, const TrainState& state,
                     const WeightAverage* average = nullptr);

/// Reads a checkpoint into `model` (and `optimizer` and `average`, if given) and returns its
/// state.
/// Restores the CPU RNG when `restore_rng`. Every load (resume, eval, export, predict)
/// checks the checksum first; a checkpoint written before checkpoints carried one loads
/// with a warning. Throws DataError naming the file and the fix when it is damaged
/// (truncated, or its tensors differ from the checksum) or its parameters do not match the
/// model (names or shapes). `check_state`, when given, sees the state before any tensor is
/// read, so that a resume is refused for what the state says (another store) rather than
/// for the shapes that follow from it.
TrainState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                           torch::optim::Optimizer* optimizer, bool restore_rng,
                           WeightAverage* average = nullptr,
                           const std::function<void(const TrainState&)>& check_state = nullptr);

}  // namespace tenor::train
