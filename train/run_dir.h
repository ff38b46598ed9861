#pragma once
// What makes a directory a tenor run, so that `tenor train` writes only into its own runs.

#include <filesystem>
#include <optional>
#include <string>

#include "train/config.h"

namespace tenor::train {

/// The file every run directory holds from the start of training: the run's format and the
/// configuration it belongs to ({"format_version": 1, "config_sha256": ..., "tool_version":
/// ...}; train/run_format.h). Runs without it are format 0.
inline constexpr const char* kRunMarker = "run.json";

/// The lock file `tenor train` holds in a run directory while it trains (core/file_lock.h).
inline constexpr const char* kRunLock = ".lock";

/// The directory run `dir` trained in, BASE. config.yaml keeps `features` and `out` (the run
/// directory) as the user wrote them, relative to that directory: where `dir` is BASE/out and
/// BASE/features is there, that is BASE, whatever this process's directory. nullopt when the
/// paths are absolute or the run moved away from its store.
std::optional<std::filesystem::path> run_base_dir(const std::filesystem::path& dir,
                                                  const TrainConfig& config);

/// The run's feature store as this process can open it: BASE/features (run_base_dir), or
/// `features` as written (this process's directory is BASE, the run moved, absolute paths).
std::string run_store_path(const std::filesystem::path& dir, const TrainConfig& config);

/// True when `dir` holds a tenor run: its marker, or (runs written before the marker) the
/// config.yaml, shape.json and normalizer.json every run writes first.
bool is_run_dir(const std::filesystem::path& dir);

/// The hash of `config` that a run's marker and checkpoints name: the SHA-256 of its
/// config_identity, followed in a multi-process run (`world_size` > 0, from the launcher) by
/// "# world_size: N" (a checkpoint resumes only under the world size that wrote it).
std::string run_config_sha256(const TrainConfig& config, int world_size);

/// Why the run in `out`, whose marker or checkpoint names `saved_sha256` rather than
/// `config`'s hash, is not `config`'s run; "" when it is, as an older tenor wrote it (before
/// keys were added that it therefore lacks). Its config.yaml is read by this version, the
/// keys it lacks at their defaults: it is `config`'s run when the keys it names hash to
/// `saved_sha256` (as that tenor hashed them, under `world_size`) and it resolves to the
/// same configuration. Otherwise the reason names the keys that differ, or the hash.
std::string older_run_differences(const std::filesystem::path& out,
                                  const std::string& saved_sha256, const TrainConfig& config,
                                  int world_size);

/// Refuses an `out` that `tenor train` must not write into: a file, a directory that holds
/// anything but a tenor run (someone else's files, the dataset, ...), or a run of another
/// configuration (its marker names another hash than `config`'s under `world_size` and
/// older_run_differences says why, or, in a run from before the marker, its config.yaml
/// resolves to another configuration while it has no last.pt whose configuration the resume
/// check compares). A new or empty directory, or this configuration's own run (to resume or
/// restart it, also as an older tenor wrote it), passes. Throws ConfigError naming `out`,
/// what it holds and the fix (DataError for a run of a newer format than this tenor
/// writes); writes nothing.
void check_run_dir(const std::filesystem::path& out, const TrainConfig& config, int world_size);

/// Creates `out` (and its parents) if needed; throws IoError naming it and the reason.
void create_run_dir(const std::filesystem::path& out);

/// Writes the marker of this configuration's run into `out` (atomically), with the current
/// format version (kRunFormatVersion).
void write_run_marker(const std::filesystem::path& out, const std::string& config_sha256);

}  // namespace tenor::train
