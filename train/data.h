#pragma once
// The training view of a feature store: split indices, task specs with role gating, the
// run's input transform (train/input_transform.h), and batching.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/features/augment.h"
#include "data/features/build.h"
#include "data/features/store.h"
#include "train/config.h"
#include "train/input_transform.h"
#include "train/model.h"

namespace tenor::train {

struct TrainData {
  features::Store store;
  std::string store_path;
  ModelShape shape;
  std::vector<int> task_columns;  ///< store task index of each model task
  std::vector<int64_t> train, dev, test;
  std::vector<int64_t> previous;  ///< features::previous_segments(store): context rows
  InputTransform transform;  ///< everything between a store row and the model's inputs
  /// transform.per_speaker(): speaker_statistics(store), what make_batch centres on (set with
  /// set_speaker_statistics; empty otherwise).
  SpeakerStatistics speaker;
  std::vector<torch::Tensor> class_weights;  ///< per task [K]: inverse train frequency
  /// Training only: the directory of model.text_encoder (resolve_text_encoder), "" without.
  std::filesystem::path text_encoder_dir;
};

/// The `tenor data build` command that makes the speech states `speech` (its name and window)
/// for the dataset `store` was built from, written to `out`: the advice of every check below.
std::string speech_build_command(const features::Store& store, const std::string& out,
                                 const features::SpeechRecord& speech);

/// Refuses `store` (read from `store_name`) when it lacks what `config` requires of it: the
/// states of config.speech_encoder (the same name, or weights of the same SHA-256). The message
/// gives the `tenor data build` command that makes such a store.
void check_store_for_config(const TrainConfig& config, const features::Store& store,
                            const std::string& store_name);

/// Reads the store named in the config; refuses a store of another feature-set version,
/// a task the store lacks, or a store without a training split. `transform` from a run
/// (evaluation, export) replaces the one built from the training split
/// (build_input_transform); it must fit the store (check_transform_fits).
TrainData load_train_data(const TrainConfig& config, const InputTransform* transform = nullptr);
/// The same over a store already read (and checked) from config.features.
TrainData load_train_data(const TrainConfig& config, features::Store store,
                          const InputTransform* transform);

/// d.speaker for d.store when d.transform normalises per speaker (cleared otherwise): call it
/// after setting (or changing) d.store or d.transform.
void set_speaker_statistics(TrainData& d);

/// The rows labelled for at least one model task, by split (train, dev, test; a row of no
/// known split trains), into d.train, d.dev and d.test.
void assign_labelled_splits(TrainData& d);

struct StoreContract;  // train/predict.h

/// The model's view of a store (train::Predictor::prepare): the store checked against the
/// model (check_store_for_model, then check_transform_fits), its task columns, the model's
/// shape and input transform, context rows, and the labelled rows per split. Throws
/// DataError naming `store_name`, the model and the fix when the store does not fit.
TrainData inference_data(features::Store store, const std::string& store_name,
                         const StoreContract& model, const InputTransform& transform);

/// Task specs from a store's schema, with the role gating of `model`.
std::vector<TaskSpec> task_specs(const features::Store& store,
                                 const std::vector<std::string>& tasks, const ModelConfig& model);

/// Frames and functionals that replace some rows' store features in one batch (waveform
/// augmentation, features::StoreAugmenter), by store row.
using AugmentedRows = std::map<int64_t, features::RowFeatures>;
/// Degraded copies of the dev rows, one per augment op, by op name (`selection` and
/// `calibration: degraded` read them).
using DegradedCopies = std::vector<std::pair<std::string, AugmentedRows>>;

/// A padded batch of store rows (on CPU), made as `data.transform` says: frames and tokens
/// cut, LLDs and functionals normalised (on the training split's statistics, or centred on
/// each row's speaker means in its call, `data.speaker`), context when it reads it. Rows in
/// `augmented` take their frames and functionals from there, and under per-speaker
/// normalisation their speaker statistics (RowFeatures::speaker).
Batch make_batch(const TrainData& data, const std::vector<int64_t>& rows,
                 const AugmentedRows* augmented = nullptr);

}  // namespace tenor::train
