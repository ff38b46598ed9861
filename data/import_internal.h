#pragma once
// Shared by the importers (data/import_*.cpp): tool files as tiers of timed texts, and the one
// mapping of tiers to segments and labels. Not a public header.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/label_tools.h"

namespace tenor::data::import {

struct SourceInterval {
  double start_s = 0;
  double end_s = 0;
  std::string text;
  int64_t line = 0;
};

/// A TextGrid interval tier or an ELAN tier (references resolved to their parents' times).
struct SourceTier {
  std::string name;
  int64_t line = 0;
  std::vector<SourceInterval> intervals;
};

/// One tool file: one call.
struct SourceCall {
  std::string display;  ///< the file as findings name it
  std::string call_id;
  std::string split;
  std::filesystem::path media;  ///< the recording, empty for a text-only call
  int64_t media_line = 0;       ///< where the file names its recording (0: nowhere)
  std::vector<SourceTier> tiers;
};

/// Segments from the speaker tiers, labels from the task tiers (a label interval labels each
/// segment of the task's role whose midpoint it holds), checked against the schema and the
/// recording. nullopt when an error was found (all of the call's errors are in `diag`).
std::optional<Call> call_from_tiers(const SourceCall& source, const Schema& schema,
                                    const ImportOptions& options, Diagnostics& diag);

/// The class `value` names (a class name, or its index as a number) or nullopt.
std::optional<int> class_value(const Task& task, const std::string& value);

/// "calm, frustrated, angry, hostile"
std::string class_list(const Task& task);

/// Checks segment ends and `call.channels` against the recording at `media` (probing its
/// header); problems at `display`:`line` (or each segment's line). False on an error.
bool check_recording(const Call& call, const std::filesystem::path& media,
                     const std::string& display, int64_t line, Diagnostics& diag,
                     const std::string& where = "");

/// The call id and split a tool file's path gives: `train/sub/c1.TextGrid` -> ("sub/c1",
/// "train"); a first directory that is not train, dev or test is part of the id.
std::pair<std::string, std::string> call_id_and_split(const std::filesystem::path& relative);

/// `source` itself when it is a file, else every file under it whose extension (lower case)
/// is one of `extensions`, sorted. Throws UsageError when there is none.
std::vector<std::filesystem::path> tool_files(const std::filesystem::path& source,
                                              std::span<const std::string> extensions,
                                              const std::string& what);

/// The file as findings name it: as the user gave the source, joined with the relative path.
std::string display_path(const std::filesystem::path& source, const std::filesystem::path& file);

ImportedCalls read_textgrids(const ImportOptions& options, const Schema& schema,
                             Diagnostics& diag);
ImportedCalls read_elan(const ImportOptions& options, const Schema& schema, Diagnostics& diag);
ImportedCalls read_label_studio(const ImportOptions& options, const Schema& schema,
                                Diagnostics& diag);

}  // namespace tenor::data::import
