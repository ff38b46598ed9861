#pragma once
// `tenor train`: reproducible, resumable training from a feature store.

#include <map>
#include <string>
#include <vector>

#include "train/config.h"

namespace tenor::features {
struct Store;
}

namespace tenor::train {

struct TrainResult {
  std::string run_dir;
  int epochs_run = 0;
  int best_epoch = -1;
  double best_dev_score = 0;  ///< mean dev macro-F1 over tasks at the best epoch
  std::map<std::string, double> best_dev_macro_f1;  ///< per task
  int64_t steps = 0;
  bool resumed = false;
};

/// Trains per `config` into config.out: config.yaml (resolved), input_transform.json,
/// metrics.jsonl (one line per epoch), checkpoints last.pt and best-k, result.json.
/// If config.out holds a checkpoint of the same config, training resumes from it
/// (model, optimizer, schedule, RNG, data order, step) and ends where an
/// uninterrupted run would. Throws ConfigError / DataError with the fix.
TrainResult train_model(const TrainConfig& config);

/// As above, over `store` already in memory instead of reading config.features (which the run
/// still records): `tenor data review` trains one model per fold on a store whose splits it set.
TrainResult train_model(const TrainConfig& config, const features::Store& store);

/// The dev score of one task, for early stopping and best-k selection: eval's macro-F1
/// (eval/metrics.h, the number `tenor eval` reports for the same predictions), and 0 when
/// the task has no labelled dev segments (where eval reports NaN, which would compare as
/// neither better nor worse). Throws DataError on a class index outside [0, classes).
double dev_macro_f1(const std::vector<int>& truth, const std::vector<int>& predicted, int classes);

}  // namespace tenor::train
