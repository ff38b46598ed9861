#pragma once
// Shared between the JSONL and CSV readers; not part of the public interface.

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "data/dataset.h"

namespace tenor::data::internal {

/// Checks one label value (an index or a class name) for `task_name` on a segment
/// spoken by `speaker`; reports problems to `diag` and returns the class index if usable.
std::optional<int> check_label(const Schema& schema, const std::string& task_name,
                               const nlohmann::json& value, const std::string& speaker,
                               const std::string& file, int64_t line, const std::string& call_id,
                               int segment, const std::string& context, Diagnostics& diag);

/// Dataset-wide checks after all calls are read: duplicate call_ids and calls in two splits.
void check_call_ids(const Dataset& dataset, Diagnostics& diag);

/// Why `path` cannot be examined (the system's words, e.g. "Permission denied"), or "" when
/// it exists or plainly does not: a missing file and an unreadable one are told apart.
std::string unreachable_reason(const std::filesystem::path& path);

/// "is a directory" or "is not a regular file (a device, pipe or socket)" when `path`
/// exists but cannot be read as a file (reading /dev/zero would never end); else "".
std::string not_a_file(const std::filesystem::path& path);

/// The fix for an unreadable dataset at `root`.
std::string permission_fix(const std::filesystem::path& root);

/// A transcript's segment (`tenor predict --transcript`, data/call_input.cpp), read by the
/// dataset reader as parse_segment_json reads a calls.jsonl segment, except that an unknown key
/// is an error naming the nearest known key ("unknown key 'txt'; did you mean 'text'?"): a
/// transcript has no use for extra fields, so one is a misspelt field.
std::optional<Segment> parse_transcript_segment(const nlohmann::json& j, const Schema& schema,
                                                const std::string& file, int64_t line,
                                                const std::string& call_id, int index,
                                                Diagnostics& diag);

/// Validate's checks of one call against its audio (`audio` the path as the user wrote it,
/// `channels` and `duration_s` as read from it): every role's channel exists (channel-missing)
/// and every segment ends within the audio (segment-past-end). Findings at `file`, on the
/// call's line and on each segment's. Datasets (check_dataset_audio, data/validate.cpp) and a
/// transcript given with `tenor predict` (data/call_input.cpp) are checked by this one function.
void check_call_fits_audio(const Call& call, const std::string& audio, int channels,
                           double duration_s, const std::string& file, Diagnostics& diag);

Dataset load_segments_csv(const std::filesystem::path& root, Schema schema, Diagnostics& diag,
                          const LoadOptions& options);

}  // namespace tenor::data::internal
