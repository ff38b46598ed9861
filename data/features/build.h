#pragma once
// `tenor data build`: a dataset -> one HDF5 feature store (docs/feature-store.md).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/dataset.h"
#include "data/features/functionals.h"
#include "data/features/lld_config.h"
#include "data/features/store.h"
#include "data/features/tokenizer.h"

namespace tenor::features {

struct BuildOptions {
  std::string device = "auto";  ///< auto | cpu | cuda | cuda:N
  int threads = 0;              ///< LibTorch CPU threads (0: its default)
  bool keep_going = false;      ///< skip calls whose audio fails, list them, and go on
  bool restart = false;         ///< discard an interrupted build's parts instead of resuming
  bool progress = true;
  int calls_per_part = 16;                       ///< calls per resumable unit of work
  int64_t batch_samples = int64_t{16000} * 240;  ///< padded samples per LLD batch
  std::optional<int>
      sample_rate_hz;  ///< analysis rate; default: dataset.yaml's sample_rate, else 16000
  LldConfig lld;
  FunctionalsConfig functionals;
  TokenizerConfig tokenizer;
  /// A SentencePiece model to tokenize with instead of training one: a .model file (a
  /// bundle's tokenizer.model), a bundle directory or a feature store (.h5) whose tokenizer
  /// a model was trained with, so that the new store fits that model. "": train one.
  std::filesystem::path tokenizer_from;
  /// The serialized SentencePiece model itself, when the caller holds it (a run's, for
  /// `tenor eval --dataset`); set, it is used instead of tokenizer_from ("": no tokens).
  std::optional<std::string> tokenizer_model;
  /// A pretrained speech encoder (data/features/speech_encoder.h) whose states, pooled over
  /// each segment, become functional columns speech_0..speech_<width-1> (between the own
  /// functionals and the rel_* ones): a known name (whisper-tiny-en) or a directory holding
  /// model.bin; "" for none. Reads 16 kHz audio: the analysis rate must be 16000 Hz.
  std::string speech_encoder;
  /// Read back from an extractor configuration (build_options_from_config): the SHA-256 of the
  /// model.bin and the width the features were built with, checked against the encoder when
  /// it is loaded. "" and 0 when building anew (set from the encoder then).
  std::string speech_encoder_sha256;
  int64_t speech_encoder_width = 0;
  /// How each piece of up to 30 s is shown to the speech encoder: padded with silence to
  /// Whisper's 30 s window, as it was trained (`padded`), or alone (`clip`: its own frames,
  /// about 30 s / length times cheaper for short segments). Stores of tenors before this option
  /// read back as `padded`.
  std::string speech_window = "padded";
  /// Extract only the calls of these splits ("train", "dev", "test"; empty: every call). For
  /// a store that is read once and thrown away (`tenor eval --dataset` scoring one split):
  /// the store then holds only those calls.
  std::vector<std::string> splits;
  void validate() const;  ///< throws ConfigError
};

struct BuildReport {
  size_t calls = 0, segments = 0;
  std::vector<std::string> skipped;  ///< "call_id: reason"
  double seconds = 0, audio_seconds = 0;
  size_t parts_resumed = 0;
  std::string device;
};

/// Extracts LLDs, functionals and tokens for every segment of `dataset` into the
/// HDF5 store `out`. Work is done in parts of `calls_per_part` calls, each saved
/// atomically under `<out>.parts/`; an interrupted build run again resumes from the
/// parts already done (refused if the dataset or configuration changed, unless
/// `restart`). The store is written to a temporary file and renamed into place, so
/// `out` is either complete or absent. Throws DataError (with the call) on bad audio
/// unless `keep_going`, ConfigError on a bad configuration or an unavailable device.
BuildReport build_feature_store(const std::filesystem::path& dataset,
                                const std::filesystem::path& out, const BuildOptions& options);

/// The audio checks `build_feature_store` applies before it extracts anything (those of
/// `tenor data validate`: the file exists and reads, is not truncated, holds samples at a
/// usable rate, has the channels of the call's roles, segments end within it), on every call
/// of `dataset` (read from `dataset_dir`, which messages name), `options.threads` files at a
/// time. Without options.keep_going, DataError listing every failing call and the fix; with it,
/// the failing calls by index, each with its reasons as `file:line: sentence`.
std::map<size_t, std::string> audio_rejections(const data::Dataset& dataset,
                                               const std::filesystem::path& dataset_dir,
                                               const BuildOptions& options);

/// One turn of a call: its speaker and times (what SegmentInfo's turn-taking reads).
struct Turn {
  std::string speaker;
  double start_s = 0, end_s = 0;
};

/// What `segment` is besides its frames among the turns of its call (`call`, itself
/// included): its times and transcript, the gap to the other speaker's last turn before it
/// and the overlap with the other speaker. The one definition of `data build` and of
/// augmented rows (data/features/augment.h).
SegmentInfo segment_info(const Turn& segment, const std::vector<Turn>& call,
                         std::optional<std::string> text);

/// Sets row `row` of `store`'s turn-taking functionals (turn_taking_functionals) to those of
/// `info`: for a row extracted before its call's later turns were known (a stream's final
/// scores, scoring/call_stream.h). The other columns are left as they are.
void set_turn_taking(Store& store, size_t row, const SegmentInfo& info);

/// The speech encoder an extractor configuration (a store's or a bundle's) records: its name,
/// model.bin's SHA-256 and window (`padded` for a store of a tenor before --speech-window).
/// All "" without one, or for text that is not a JSON object.
struct SpeechRecord {
  std::string name, sha256, window;
};
SpeechRecord speech_record(const std::string& extractor_config);
/// The same from the configuration as JSON (a bundle's features.json holds it so).
SpeechRecord speech_record(const nlohmann::json& extractor_config);
/// The same from the record's own object ({name, sha256, window}, as an extractor
/// configuration's `speech_encoder` and a run's result.json hold it); all "" for no object.
SpeechRecord speech_record_from(const nlohmann::json& speech_encoder);

/// The windows a speech encoder can be shown a segment in (BuildOptions::speech_window,
/// `tenor data build --speech-window`, the training config's `speech_window`).
const std::vector<std::string>& speech_windows();
/// Whether `window` is one of speech_windows().
bool is_speech_window(const std::string& window);

class SpeechStates;  // data/features/speech_encoder.h

/// The speech encoder of `options` (BuildOptions::speech_encoder) on `device` (cpu, cuda:N),
/// nullptr without one. Sets options' SHA-256 and width from it; where they are set already
/// (read back from a store's or model's configuration), model.bin must be that file and give
/// that width: DataError naming the file and the fix. ConfigError for an unknown encoder, a
/// directory without model.bin, or an analysis rate other than 16 kHz.
std::unique_ptr<SpeechStates> load_speech_encoder(BuildOptions& options,
                                                  const std::string& device);

/// The options a store was built with, read back from its extractor configuration
/// (StoreMeta::extractor_config, a bundle's features.json "extractor_config"), so that new
/// audio gets exactly the features a model was trained on. Throws DataError naming the
/// missing or mistyped key, and refuses a configuration of another feature-set or
/// functionals version.
BuildOptions build_options_from_config(const nlohmann::json& extractor_config);

/// The store that building `dataset` with `options` and `tokenizer_model` (serialized
/// SentencePiece, "" for none) would give, less everything read from the audio: metadata
/// (no fingerprint), layout, task classes, and every segment's row (labels, split, tokens)
/// with zero functionals and no frames. Reads no audio: what a model's store check reads
/// (train::Predictor::prepare), so that a dataset is checked against a model before any
/// extraction.
Store store_outline(const data::Dataset& dataset, const BuildOptions& options,
                    const std::string& tokenizer_model);

/// Features of every segment of an in-memory dataset (one call given to `tenor predict`),
/// computed by the same code as build_feature_store, tokenized with `tokenizer_model`
/// (serialized SentencePiece; empty: no tokens); writes nothing. A long call is done in
/// groups so that memory holds one group's audio and LLD frames, never the call's: per call,
/// its segments in start order, at most `group_audio_s` seconds of audio per group (at least
/// one segment), and `sink(store, rows)` once per group. `store` holds one row per segment of
/// the call (row = segment index): metadata and tokens of all, functionals of the groups done
/// so far (the others 0), LLD frames of `rows` only (the others have none); `rows` are
/// sorted. The features of `rows` are those of a store built from the whole call. Throws
/// DataError naming the call on unreadable audio.
void extract_features(const data::Dataset& dataset, const BuildOptions& options,
                      const std::string& tokenizer_model, double group_audio_s,
                      const std::function<void(Store& store, const std::vector<int64_t>& rows)>&
                          sink);

/// The segments of one call extracted one at a time as they become known (a stream of a
/// product's call, scoring/call_scoring.h): extract_features' code for one segment (its audio
/// read and resampled, its LLDs, functionals and tokens), with its features relative to its
/// speaker's earlier segments taken from running sums (BaselineSums) rather than from those
/// segments, whose audio a stream no longer holds. A segment's row equals extract_features'
/// when the call's segments come in start order, each speaker's after its earlier ones.
class SegmentExtractor {
 public:
  /// `options` as extract_features takes them;
  /// `tokenizer_model`: serialized SentencePiece, "" for none.
  SegmentExtractor(const BuildOptions& options, const std::string& tokenizer_model);
  ~SegmentExtractor();
  SegmentExtractor(const SegmentExtractor&) = delete;
  SegmentExtractor& operator=(const SegmentExtractor&) = delete;

  /// A store with one row per segment of `call` (a one-call dataset; row = segment index):
  /// metadata and tokens of all, the functionals and LLD frames of segment `s` only (the
  /// others 0 and none). `s`'s relative features come from `baselines[its speaker]`, to which
  /// its own functionals are then added. Throws DataError naming the call on unreadable audio.
  Store extract(const data::Dataset& call, size_t s, std::map<std::string, BaselineSums>& baselines);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tenor::features
