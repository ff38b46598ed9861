#pragma once
// The format of a run directory: the version its run.json records, and the upgrade of runs
// written in an older format to the current one (docs/training.md, "Run format").

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace tenor::train {

/// The run format this tenor writes and reads. A run of an older format is upgraded as it
/// is read (one step per format, run_format.cpp); a newer one is refused. History:
///   0  runs without run.json (written before the format was recorded); keys added to the
///      run files since the first runs may be missing
///   1  run.json with `format_version`; every key below is present
///   2  input_transform.json (train/input_transform.h) replaces normalizer.json: the
///      normaliser's statistics with the cuts, context, sentence embeddings and loudness
///      handling the run's batches and graphs follow
///   3  model.text_encoder: input_transform.json `wordpiece_sha256`, shape.json `transformer`
///   4  input_transform.json `speaker_normalization` (none | call)
///   5  input_transform.json `lld_dropped` (drop_features)
///   6  no sentence embeddings: shape.json and input_transform.json lose `text_embedding_dim`
///      and `text_encoder` (runs whose model read them are refused, with the fix)
inline constexpr int kRunFormatVersion = 6;

/// The format of the run in `dir`: its run.json's `format_version`, or 0 when it has no
/// run.json. Throws DataError when run.json is damaged, or records a format newer than
/// kRunFormatVersion (naming both and the fix: a tenor that reads it).
int run_format_version(const std::filesystem::path& dir);

/// The files of a run that describe its model, upgraded to kRunFormatVersion.
struct RunDocs {
  int format_version = 0;        ///< as found on disk, before the upgrade
  std::string config_yaml;       ///< config.yaml: the resolved configuration
  nlohmann::json input_transform;  ///< input_transform.json (format 2 on)
  nlohmann::json normalizer;     ///< normalizer.json of a run of format 0 or 1, as read
  nlohmann::json shape;          ///< shape.json
  nlohmann::json result;         ///< result.json
};

/// Reads config.yaml, input_transform.json (normalizer.json before format 2), shape.json and
/// result.json of the run in `dir` and upgrades them from the run's format to the current
/// one. Throws DataError naming the run, the missing or damaged file or key, and the fix.
RunDocs read_run_docs(const std::filesystem::path& dir);

}  // namespace tenor::train
