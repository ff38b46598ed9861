#pragma once
// The feature store: one HDF5 file holding everything a model needs from a dataset
// (layout in docs/feature-store.md). No LibTorch here; readable with h5dump/h5py.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tenor::features {

/// Version of the store's layout (not of the features: see kFeatureSetVersion).
inline constexpr const char* kStoreFormat = "tenor-store-1";

/// Root attributes of a store.
struct StoreMeta {
  std::string feature_set_version;  ///< LLD definitions, e.g. tenor-lld-1
  std::string functionals_version;  ///< functional definitions, e.g. tenor-func-1
  std::string extractor_config;     ///< JSON of the LLD and functional configs
  std::string dataset_name;
  std::string dataset_fingerprint;  ///< SHA-256 of dataset.yaml + the manifest
  std::string schema_yaml;          ///< dataset.yaml as read (task schema)
  std::string tokenizer_sha256;     ///< of the SentencePiece model, "" when there is no text
  std::string tool_version;         ///< tenor version (git commit)
  std::string created_utc;
  std::vector<std::string> skipped_calls;  ///< "call_id: reason" for calls left out (--keep-going)
  /// The dataset directory the store was built from (absolute, as it was then), "" in stores
  /// built before tenor recorded it: where waveform augmentation (`augment:` in `tenor
  /// train`) reads each segment's audio again (StoreSegment::audio).
  std::string dataset_dir;
};

/// Where a segment's audio lies, as `tenor data build` read it: enough to read the same
/// samples again and to notice that the file moved or changed since.
struct AudioSource {
  std::string path;  ///< the call's `audio` as the dataset gives it, relative to dataset_dir
  int32_t channel = -1;  ///< the speaker's channel, -1: mixed down
  int64_t bytes = -1;    ///< the file's size when the store was built; -1: no audio
  std::string sha256;    ///< the file's SHA-256 then
};

/// One segment's row in the store.
struct StoreSegment {
  std::string call_id;
  int32_t segment = 0;  ///< index within the call
  std::string speaker;
  std::string split;  ///< train, dev, test or ""
  double start_s = 0, end_s = 0;
  std::vector<int32_t> labels;  ///< per task in schema order, -1 = no label
  std::string meta = "{}";      ///< the call's `meta` as a JSON object (for sliced evaluation)
  /// The segment's transcript as the dataset gives it ("" without one): what a pretrained
  /// text encoder tokenises with its own vocabulary (model.text_encoder).
  std::string text = {};
  /// The segment's audio (path "" for a segment without audio, and in stores built before
  /// tenor recorded it: Store::has_audio_sources).
  AudioSource audio = {};
};

/// Names of the columns a store holds.
struct StoreLayout {
  std::vector<std::string> lld_columns;
  std::vector<std::string> functional_columns;
  std::vector<std::string> tasks;
};

/// Writes a store to `path` (the caller renames it into place when complete).
/// Frames, functionals and tokens are appended segment by segment to chunked,
/// compressed datasets, so memory stays bounded by one batch. Throws IoError.
class StoreWriter {
 public:
  StoreWriter(const std::filesystem::path& path, StoreLayout layout);
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  /// `functionals`/`mask`: [functional_columns]; `frames`: [T * lld_columns] row-major.
  void append(const StoreSegment& segment, const std::vector<float>& functionals,
              const std::vector<uint8_t>& mask, const std::vector<float>& frames,
              const std::vector<int32_t>& tokens);
  /// Writes the per-segment tables, labels, tokenizer and attributes; closes the file.
  void finish(const StoreMeta& meta,
              const std::map<std::string, std::vector<std::string>>& task_classes,
              const std::string& tokenizer_model);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A store read fully into memory (tests, training on small sets, tools).
struct Store {
  StoreMeta meta;
  std::string format;
  StoreLayout layout;
  std::vector<StoreSegment> segments;
  std::vector<float> functionals;        ///< [N, F]
  std::vector<uint8_t> functional_mask;  ///< [N, F]
  std::vector<float> frames;             ///< [sum T, F_lld]
  std::vector<int64_t> frame_offsets;    ///< [N + 1]
  std::vector<int32_t> tokens;
  std::vector<int64_t> token_offsets;  ///< [N + 1]
  std::string tokenizer_model;
  std::map<std::string, std::vector<std::string>> task_classes;
  /// The store holds /segments/text (StoreSegment::text); stores built before tenor kept the
  /// transcripts do not.
  bool has_text = false;
  /// The store records where each segment's audio lies (/segments/audio*, meta.dataset_dir);
  /// stores built before tenor recorded it do not.
  bool has_audio_sources = false;
};

/// Sums, in double, over some segments' LLD frames and defined functionals: one speaker's
/// statistics in a call (train::speaker_statistics, what speaker_normalization "call" centres
/// on), added segment by segment, so a stream (scoring/call_stream.h) keeps them running and
/// augment (StoreAugmenter's speaker channel) adds a speaker's re-extracted segments.
struct SpeakerSums {
  std::vector<double> lld_sum, func_sum, func_count;
  double frames = 0;
  /// Adds one segment: `frame_count` frames [T, lld_columns] and its functionals
  /// [functional_columns], those with mask 0 left out.
  void add(const float* frames, int64_t frame_count, size_t lld_columns,
           const float* functionals, const uint8_t* mask, size_t functional_columns);
  /// Adds `row` of `store`.
  void add(const Store& store, size_t row);
  /// The means: lld_mean [lld_columns] (left as it is when no frame was added), func_mean
  /// [functional_columns] (left where the count is 0) and func_count, the segments that
  /// define each functional.
  void means(size_t lld_columns, size_t functional_columns, float* lld_mean, float* func_mean,
             float* func_count) const;
};

/// SHA-256 over everything a model learns from in a store (columns, segment table, labels,
/// features, tokens, tokenizer): equal for the same contents whatever the file's name,
/// mtime or HDF5 chunking. A resumed training run checks it against its checkpoint.
std::string content_sha256(const Store& store);

/// For every row, the row of the segment just before it in its call (ordered by start
/// time, then segment index; any speaker), or -1 for a call's first segment.
std::vector<int64_t> previous_segments(const Store& store);

/// Reads a whole store. Throws DataError naming the file when it is not a tenor store
/// or its format is not kStoreFormat.
Store read_store(const std::filesystem::path& path);

/// Reads only the root attributes (cheap).
StoreMeta read_store_meta(const std::filesystem::path& path);

/// The SentencePiece model the store holds ("" for a store of calls without text), read
/// without its tables (cheap, as read_store_meta).
std::string read_store_tokenizer(const std::filesystem::path& path);

/// Throws DataError when a store's feature-set or functionals version differs from
/// what this build (or a model) expects, naming both and the fix.
void check_store_versions(const StoreMeta& meta, const std::string& expected_feature_set,
                          const std::string& expected_functionals,
                          const std::filesystem::path& path);

}  // namespace tenor::features
