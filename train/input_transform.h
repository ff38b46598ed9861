#pragma once
// Everything between a feature-store row and a model's input tensors, decided once per run:
// the normaliser's statistics, the functionals hidden and the LLD columns whose level is
// removed (loudness normalisation), per-speaker normalisation within a call, the frame and
// token cuts, whether text is read, the context tokens and the pretrained encoder's
// tokenizer. Built by build_input_transform from the run's configuration and its training
// store, saved as input_transform.json in the run, and read by batching (train::make_batch),
// the ONNX emitter (export/onnx_layers.h), the parity gate and `tenor predict`: none of them
// looks at the configuration for these again.
// docs/architecture.md gives the recipe for adding an input. No LibTorch here.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/features/store.h"
#include "train/config.h"

namespace tenor::features {
class WordPieceTokenizer;
}

namespace tenor::train {

/// Per-column mean and standard deviation from the training split, and the functionals
/// hidden from the model. Its JSON is the normalizer.json of runs of format 0 and 1.
struct Normalizer {
  std::vector<float> lld_mean, lld_std, func_mean, func_std;
  std::vector<uint8_t>
      func_dropped;  ///< functionals hidden from the model (loudness normalisation, drop_features)
  /// Frame LLD columns the model reads as 0 after normalisation (drop_features); empty or
  /// all 0: none. Transforms written before the key (run format 4 and older, bundles) drop
  /// none.
  std::vector<uint8_t> lld_dropped;
  nlohmann::json to_json() const;
  /// Throws DataError naming `source` and the key when `j` is not a normaliser.
  static Normalizer from_json(const nlohmann::json& j, const std::string& source);
};

struct InputTransform {
  Normalizer norm;
  /// LLD columns whose value follows the recording level (the feature tables' marks,
  /// data/features/columns.h); under normalize_loudness each segment's own mean over its
  /// frames is subtracted from them (their `norm.lld_mean` is 0).
  std::vector<int> level_lld_columns;
  bool normalize_loudness = false;
  /// "none", or "call": each row's frames and functionals are centred on its speaker's means
  /// in its call (SpeakerStatistics) instead of the training split's, and a functional is
  /// masked where the speaker has fewer than kSpeakerMinSegments segments defining it. Then
  /// `norm.lld_mean` and `norm.func_mean` are 0 and `norm.*_std` are the training split's
  /// deviations from the speaker means (at least 1 % of the raw deviation: a column that
  /// never varies within a speaker is not blown up where it does). Transforms written
  /// before the key existed read "none".
  std::string speaker_normalization = "none";
  int max_frames = 1500;  ///< frames past it are cut
  int max_tokens = 128;   ///< tokens past it are cut
  bool use_text = true;   ///< false: every row's token_len is 0
  /// Tokens of the previous segment the model reads (what TaskModel::context_tokens()
  /// returns for the run's model): > 0, batches and graphs carry ctx_tokens / ctx_len.
  int context_tokens = 0;
  /// model.text_encoder: the SHA-256 of its tokenizer.json ("": no pretrained encoder). Each
  /// row's transcript is tokenised with it, the previous segment's (its first
  /// context_tokens pieces) as the second sentence, max_tokens ids in all.
  std::string wordpiece_sha256;
  /// That tokenizer, loaded by whoever reads the transform (attach_wordpiece): not in the JSON.
  std::shared_ptr<const features::WordPieceTokenizer> wordpiece;

  /// The model reads the previous segment's SentencePiece tokens (ctx_tokens / ctx_len);
  /// a pretrained encoder reads the context inside its own ids instead.
  bool reads_context_tokens() const { return context_tokens > 0 && wordpiece_sha256.empty(); }
  /// speaker_normalization is "call": batches and graphs carry each row's speaker statistics.
  bool per_speaker() const { return speaker_normalization == "call"; }

  nlohmann::json to_json() const;
  /// Throws DataError naming `source` and the key when `j` is not a transform, or its
  /// statistics, columns or cuts do not fit together, or it feeds sentence embeddings (the
  /// model.text_embedding of tenor before 2026-12-06, which no tenor computes any more).
  static InputTransform from_json(const nlohmann::json& j, const std::string& source);
};

/// Throws DataError when `doc`, a shape.json, input_transform.json or a bundle's features.json
/// written before 2026-12-06, says its model read sentence embeddings (`text_embedding_dim`
/// other than 0): "`subject` sentence embeddings of 'ENCODER' (model.text_embedding): why;
/// `fix`", the why of core/retired.h.
void refuse_sentence_embeddings(const nlohmann::json& doc, const std::string& subject,
                                const std::string& fix);

/// A functional is centred on its speaker's mean only where the speaker has at least this
/// many segments in the call that define it: with one, the deviation is 0 by construction,
/// so it is masked (undefined) instead.
inline constexpr int kSpeakerMinSegments = 2;

/// Each row's speaker statistics in its call, what speaker_normalization "call" centres on:
/// over the rows of the store with the same call_id and speaker (the speaker's own segments,
/// whatever their split or labels), each LLD column's mean over all their frames (uncut by
/// max_frames), and per functional the mean over the segments that define it and their
/// count. The same numbers for the same call whether it is a training store, a store given
/// to `tenor eval` or the features `tenor predict` extracts; docs/export.md gives the recipe.
struct SpeakerStatistics {
  int64_t rows = 0;
  std::vector<float> lld_mean;    ///< [rows, F_lld]; 0 where the speaker has no frames
  std::vector<float> func_mean;   ///< [rows, F]; 0 where func_count is 0
  std::vector<float> func_count;  ///< [rows, F]: the speaker's segments defining the column
  /// Sets `row` (of a statistics already sized) to the means and counts of `sums`.
  void set(size_t row, const features::SpeakerSums& sums);
};

/// The speaker statistics of every row of `store`.
SpeakerStatistics speaker_statistics(const features::Store& store);

/// What a store offers a model besides its columns.
struct StoreInputs {
  bool tokens = false;  ///< it has a tokenizer (ModelShape::vocab_size > 0)
  /// model.text_encoder's tokenizer, which reads the store's transcripts (null: none).
  std::shared_ptr<const features::WordPieceTokenizer> wordpiece = nullptr;
};

/// model.text_encoder's input for some store rows, row-major [rows, width], padded with the
/// tokenizer's pad id (mask 0): each row's transcript as WordPiece ids, [CLS] segment [SEP],
/// then the first context_tokens pieces of its previous segment (`previous`, as
/// features::previous_segments gives it) and [SEP] when the transform reads context and
/// there is one (RoBERTa-style tokenizers: <s> segment </s> </s> context </s>); max_tokens
/// ids in all (longest first, as Hugging Face truncates). type_ids is the sentence of each id
/// (0: the segment's, 1: the context's), which is BERT's token type and tells the model
/// whether a row has its own text; MPNet has no token types and reads only ids and mask.
/// What make_batch and the ONNX graph's inputs both take.
struct TranscriptIds {
  int64_t rows = 0, width = 1;
  std::vector<int64_t> ids, type_ids, mask;
};
TranscriptIds transcript_ids(const InputTransform& transform, const features::Store& store,
                             const std::vector<int64_t>& previous,
                             const std::vector<int64_t>& rows);

/// Loads `tokenizer_json` into `transform.wordpiece`, checked against the transform's
/// wordpiece_sha256 (nothing to do when that is ""). Throws DataError naming the file, the
/// two checksums and the fix when it is missing or another tokenizer.
void attach_wordpiece(InputTransform& transform, const std::filesystem::path& tokenizer_json);

/// The one place a run's configuration becomes its transform: `statistics` and
/// `level_lld_columns` as given, the rest from `config` and what the store offers.
InputTransform make_input_transform(const TrainConfig& config, Normalizer statistics,
                                    std::vector<int> level_lld_columns, const StoreInputs& store);

/// The transform of a run of `config` on `store`: means and deviations over the LLD frames
/// and defined functionals of `train_rows` (the training split), the level-dependent
/// columns from the store's column marks (features::level_marks), and under
/// normalize_loudness the level-dependent functionals dropped and the level columns' means
/// set to 0 (make_batch removes each segment's own level), and the columns `drop_features`
/// names dropped. Throws ConfigError naming the key when a pattern matches no column of the
/// store, or nothing is left for the model to read. Under speaker_normalization
/// "call" the deviations are those from each row's speaker means (speaker_statistics of the
/// whole store) and the means are 0. Throws DataError naming
/// `store_name` when the store's columns carry no marks (see features::level_marks).
/// `wordpiece`: model.text_encoder's tokenizer (null without one).
InputTransform build_input_transform(
    const TrainConfig& config, const features::Store& store, const std::vector<int64_t>& train_rows,
    const std::string& store_name,
    std::shared_ptr<const features::WordPieceTokenizer> wordpiece = nullptr);

/// Throws DataError naming `transform_source` and `store_name` when the transform's
/// statistics do not cover the store's columns, or it reads transcripts the store lacks:
/// every reader checks this before make_batch indexes the store with it.
void check_transform_fits(const InputTransform& transform, const std::string& transform_source,
                          const features::Store& store, const std::string& store_name);

/// Throws DataError naming `source` when the transform feeds other inputs than a model that
/// reads `model_context_tokens` context tokens (TaskModel::context_tokens()): a transform
/// edited after training would otherwise change the scores without a word.
void check_transform_fits_model(const InputTransform& transform, const std::string& source,
                                int model_context_tokens);

}  // namespace tenor::train
