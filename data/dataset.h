#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/diagnostics.h"
#include "data/schema.h"

namespace tenor::data {

/// One labelled stretch of one speaker's speech.
struct Segment {
  double start_s = 0;
  double end_s = 0;
  std::string speaker;                ///< role: agent, customer or another role (no labels)
  std::optional<std::string> text;    ///< transcript; nullopt when the field is absent
  std::map<std::string, int> labels;  ///< task -> class index, as given in `labels`
  /// annotator -> task -> class index, as given in `labels_by`.
  std::map<std::string, std::map<std::string, int>> labels_by;
  nlohmann::json extra;  ///< unknown fields, kept as they were (null when there are none)
  int64_t line = 0;      ///< line of the source file where the segment was read (CSV: first row)

  double duration_s() const { return end_s - start_s; }
};

/// One call: an audio file (optional) and its segments.
struct PcmView;  // data/audio.h

struct Call {
  std::string call_id;
  std::string audio;                    ///< relative to the dataset root; empty for text-only calls
  /// The call's samples in memory (a product's call, scoring/scoring.h) instead of the file
  /// `audio`, which then only names them in messages. Null for calls read from a dataset.
  std::shared_ptr<const PcmView> pcm;
  std::map<std::string, int> channels;  ///< role -> channel index (multi-channel audio)
  std::string split;                    ///< train, dev, test or empty (unassigned)
  std::map<std::string, std::string> meta;
  std::vector<Segment> segments;
  nlohmann::json extra;  ///< unknown fields (null when there are none)
  int64_t line = 0;

  /// meta.speaker_id, or "" when absent.
  std::string speaker_id() const;
};

/// A whole call dataset in memory (audio stays on disk).
struct Dataset {
  std::filesystem::path root;
  Schema schema;
  std::vector<Call> calls;
  std::string source = "calls.jsonl";  ///< the file the calls came from, relative to root

  size_t segment_count() const;
};

/// The label of `task` on `segment`: `labels` when given, else the majority of
/// `labels_by` (ties go to the higher class for ordinal and binary tasks, to the
/// first-listed class for categorical ones), else nullopt.
std::optional<int> resolved_label(const Segment& segment, const Task& task);

struct LoadOptions {
  /// Lines longer than this are reported and skipped without being held in memory.
  size_t max_line_bytes = size_t{64} << 20;
};

/// Reads dataset.yaml and calls.jsonl (or segments.csv) under `root`. Every
/// problem in the files' syntax and structure goes to `diag`; what could be read
/// is returned. Audio is not opened here (see validate.h).
Dataset load_dataset(const std::filesystem::path& root, Diagnostics& diag,
                     const LoadOptions& options = {});

/// As load_dataset, but throws DataError listing the errors if there are any.
Dataset load_dataset_or_throw(const std::filesystem::path& root, const LoadOptions& options = {});

/// Reads one segment object as calls.jsonl holds it (start, end, speaker, text, labels);
/// problems go to `diag` at `file`:`line`. Returns nullopt when the segment is unusable.
std::optional<Segment> parse_segment_json(const nlohmann::json& j, const Schema& schema,
                                          const std::string& file, int64_t line,
                                          const std::string& call_id, int index, Diagnostics& diag);

/// One call as a calls.jsonl line (no trailing newline). Labels are written as indices.
std::string call_to_json_line(const Call& call);

/// Writes calls.jsonl (atomically).
void write_calls_jsonl(const Dataset& dataset, const std::filesystem::path& path);

/// Writes segments.csv (atomically). Columns: call_id,audio,channels,start,end,speaker,text,
/// <task>...,annotator,split,meta.<key>... Fields CSV cannot hold (`extra`) are dropped.
void write_segments_csv(const Dataset& dataset, const std::filesystem::path& path);

/// Throws UsageError when `out` is the dataset directory `root` or lies inside it:
/// tenor never writes into an input dataset.
void refuse_output_inside_dataset(const std::filesystem::path& root,
                                  const std::filesystem::path& out);

/// True when `path` (as written in the dataset) stays inside the dataset directory:
/// relative, and no `..` climbs above the root.
bool path_stays_inside(const std::string& path);

}  // namespace tenor::data
