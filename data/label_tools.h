#pragma once
// The labelling tools labellers work in: Praat (TextGrid), ELAN (EAF) and Label Studio (JSON
// export). `tenor data import` turns their files into a call dataset (format v1);
// `tenor data export` writes a dataset, and optionally a run's predictions on it, back as the
// tool's own files. docs/labelling.md describes the mapping.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "data/dataset.h"
#include "data/diagnostics.h"

namespace tenor::data {

enum class LabelTool { kTextGrid, kElan, kLabelStudio };

/// "textgrid", "elan" or "label-studio"; anything else is a UsageError.
LabelTool label_tool_from_string(std::string_view word);

/// A tier (TextGrid, ELAN) holding an annotator's labels is named `<task>@<annotator>`; one
/// named `<task>` holds the resolved labels; `<task> (predicted)` a model's and
/// `<task> (suspect)` a review's suspects (`given -> suggested score`); neither is imported.
inline constexpr std::string_view kAnnotatorSeparator = "@";
inline constexpr std::string_view kPredictedSuffix = " (predicted)";
inline constexpr std::string_view kSuspectSuffix = " (suspect)";
/// The interval text of a segment without transcript (an empty interval is a gap).
inline constexpr std::string_view kNoTranscript = "<no transcript>";

struct ImportOptions {
  LabelTool from = LabelTool::kTextGrid;
  std::filesystem::path source;  ///< a file, or a directory searched for the tool's files
  std::filesystem::path schema;  ///< dataset.yaml to label against (copied into the dataset)
  /// role -> audio channel, for every call (TextGrid and ELAN files do not say which channel a
  /// speaker is on; Label Studio regions do).
  std::map<std::string, int> channels;
  /// Label Studio: the directory holding the tasks' audio files (default: the export's own).
  std::filesystem::path media;
  /// A dataset whose calls the imported ones replace (re-labelling in the tool): the new
  /// dataset is this one with each imported call's segments, text and labels from the tool and
  /// its audio, channels (unless the tool gives them), meta and unknown fields from here. Its
  /// dataset.yaml is the schema (`schema` stays empty). Every imported call must be in it.
  std::filesystem::path update;
};

/// What the tool's files say, as a dataset rooted nowhere yet: `media` maps each call id to
/// the recording found for it (absolute); `files` counts the source files read.
struct ImportedCalls {
  Dataset dataset;
  std::map<std::string, std::filesystem::path> media;
  size_t files = 0;
};

/// Reads the tool's files under `options.source` against `schema`. Every problem goes to
/// `diag` as `file:line` (TextGrid, ELAN) or `file: task N` (Label Studio) with its fix; what
/// could be read is returned. Never writes anything.
ImportedCalls read_tool_files(const ImportOptions& options, const Schema& schema,
                              Diagnostics& diag);

struct ImportResult {
  Diagnostics diagnostics;  ///< every problem of the tool's files and of the dataset written
  bool written = false;     ///< the dataset is at `out` (only when there is no error)
  size_t calls = 0;
  size_t segments = 0;
  size_t updated_calls = 0;   ///< with `update`: the calls the tool's files replaced
  size_t changed_labels = 0;  ///< with `update`: labels (resolved or an annotator's) that differ
};

/// `tenor data import`: reads the schema and the tool's files, and when there is no error
/// writes the dataset at `out` (dataset.yaml copied, calls.jsonl, audio/ linking each call's
/// recording), built in a temporary sibling directory, checked with validate_dataset, and only
/// then renamed into place: nothing is written when any error is found. With `update`, the
/// dataset written is that dataset with the imported calls replaced (its audio linked as
/// `data split` links it). Throws UsageError for a missing source or schema, an `out` that
/// exists and is not empty or lies inside the source or the updated dataset.
ImportResult import_dataset(const ImportOptions& options, const std::filesystem::path& out);

struct ExportOptions {
  LabelTool to = LabelTool::kTextGrid;
  /// `tenor predict --dataset ... --out preds.jsonl` output to add as the model's scores
  /// (TextGrid: `<task> (predicted)` tiers; Label Studio: predictions with scores).
  std::filesystem::path predictions;
  /// Label Studio's model_version of the predictions (default: the predictions' file name).
  std::string model_version;
  /// `tenor data review`'s review.json: only the calls with a suspect are exported, each
  /// suspect marked (TextGrid: a `<task> (suspect)` tier, `given -> suggested score`; Label
  /// Studio: a prediction with the suggested class, its score and the given one).
  std::filesystem::path review;
  /// With `review`: only the `top` suspects ranked first (0: all).
  size_t top = 0;
};

/// `tenor data export`: writes `dataset` as the tool's files at `out` (a new directory, written
/// in a temporary sibling and renamed into place): TextGrid: `<split>/<call_id>.TextGrid` with
/// a link to the call's recording beside it; Label Studio: `tasks.json` (the JSON a project
/// imports) and `label-config.xml`, with `audio` linked. Throws DataError for what the tool
/// cannot hold (overlapping segments of one speaker in a TextGrid tier) and for predictions
/// or a review that do not match the dataset. Returns the number of calls written.
size_t export_dataset(const Dataset& dataset, const ExportOptions& options,
                    const std::filesystem::path& out);

}  // namespace tenor::data
