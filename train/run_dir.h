#pragma once
// What makes a directory a tenor run, so that `tenor train` writes only into its own runs.

#include <filesystem>
#include <string>

namespace tenor::train {

/// The file every run directory holds from the start of training: the run's format and the
/// configuration it belongs to ({"format_version": 1, "config_sha256": ..., "tool_version":
/// ...}; train/run_format.h). Runs without it are format 0.
inline constexpr const char* kRunMarker = "run.json";

/// The lock file `tenor train` holds in a run directory while it trains (core/file_lock.h).
inline constexpr const char* kRunLock = ".lock";

/// True when `dir` holds a tenor run: its marker, or (runs written before the marker) the
/// config.yaml, shape.json and normalizer.json every run writes first.
bool is_run_dir(const std::filesystem::path& dir);

/// Refuses an `out` that `tenor train` must not write into: a file, a directory that holds
/// anything but a tenor run (someone else's files, the dataset, ...), or a run of another
/// configuration (`config_sha256` differs from its marker's, or, in a run from before the
/// marker, `resolved_yaml` from its config.yaml while it has no last.pt whose configuration
/// the resume check compares). A new or empty directory, or this configuration's own run
/// (to resume or restart it), passes. Throws ConfigError naming `out`, what it holds and the
/// fix (DataError for a run of a newer format than this tenor writes); writes nothing.
void check_run_dir(const std::filesystem::path& out, const std::string& config_sha256,
                   const std::string& resolved_yaml);

/// Creates `out` (and its parents) if needed; throws IoError naming it and the reason.
void create_run_dir(const std::filesystem::path& out);

/// Writes the marker of this configuration's run into `out` (atomically), with the current
/// format version (kRunFormatVersion).
void write_run_marker(const std::filesystem::path& out, const std::string& config_sha256);

}  // namespace tenor::train
