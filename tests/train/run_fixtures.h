#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tenor::test {

/// A 16-call dataset (12 train, 2 dev, 2 test; stereo tones whose level follows the
/// escalation label; transcripts that follow the labels) and its feature store.
const std::filesystem::path& tiny_store();

/// The dataset directory tiny_store() was built from.
const std::filesystem::path& tiny_dataset();

/// A copy of tiny_store() at `path` whose dataset lists task `task`'s classes as `classes`:
/// a reordering of the original names (labels follow by name), or, for a name the original
/// lacks, a renaming of the class at that position.
std::filesystem::path tiny_store_with_classes(const std::filesystem::path& path,
                                              const std::string& task,
                                              const std::vector<std::string>& classes);

/// Writes DIR/config.yaml for a small, fast run into DIR/run on tiny_store(); `extra`
/// is appended inside the `model:` block (e.g. "  type: linear\n").
std::filesystem::path write_train_config(const std::filesystem::path& dir,
                                         const std::string& extra);

/// A small run of write_train_config(dir, model_extra) trained for two epochs and exported
/// with `tenor export` into DIR/bundle (DIR a fresh temporary directory); its path.
std::filesystem::path exported_bundle(const std::string& model_extra = "  type: linear\n");

/// `tenor predict` of tiny_store()'s call `call` by `bundle` in ONNX Runtime gives what `run`
/// gives in LibTorch: its four segments, the same decisions, probabilities within 1e-4. The
/// run's prediction goes to `run_prediction` when given.
void expect_bundle_predicts_as_run(const std::filesystem::path& run,
                                   const std::filesystem::path& bundle, const std::string& call,
                                   nlohmann::json* run_prediction = nullptr);

/// Turns a run this tenor trained into one as runs of format 0 and 1 hold it: its
/// input_transform.json's statistics as normalizer.json (written as the trainer wrote it
/// then), no input_transform.json. run.json is left to the caller.
void write_normalizer_instead_of_transform(const std::filesystem::path& run);

/// Runs `tenor train --config config` (stderr to /dev/null) and SIGKILLs it once the run
/// `run` has written its first metrics line (and, with `after_checkpoint`, a checkpoint
/// after it: a kill mid-epoch 2). False when training ended first.
bool train_and_kill_mid_run(const std::filesystem::path& config, const std::filesystem::path& run,
                            bool after_checkpoint);

/// Writes write_train_config(dir, model_extra), trains it killed mid-epoch 2
/// (train_and_kill_mid_run) and runs it again: expects a resume that ends with the metrics of
/// `full`, the run of the same model_extra never interrupted. Returns the config written.
std::filesystem::path expect_a_killed_run_to_resume_as(const std::filesystem::path& full,
                                                       const std::filesystem::path& dir,
                                                       const std::string& model_extra);

/// RUN/metrics.jsonl without the timing fields, which legitimately differ between runs: what
/// two runs of one config (or a resumed and an uninterrupted run) must agree on.
std::string metrics_without_timing(const std::filesystem::path& run);

}  // namespace tenor::test
