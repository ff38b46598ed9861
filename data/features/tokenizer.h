#pragma once
// Text features: a SentencePiece model (Kudo & Richardson 2018) trained on the
// training split's transcripts, and token ids per segment.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tenor::features {

/// The hash of token-id n-grams (the linear baseline's and the fusion model's n-gram bag,
/// its ONNX graph, `data review`'s model): unigram a goes to bucket a mod B, bigram (a, b)
/// to (a * kBigramHashMultiplier + b) mod B. A prime, so that the bigrams of one first token
/// spread over the buckets; trained models depend on it, so it never changes.
constexpr int64_t kBigramHashMultiplier = 1000003;

struct TokenizerConfig {
  int vocab_size = 2000;  ///< upper bound; small corpora get fewer pieces (hard_vocab_limit off)
  std::string model_type = "unigram";
  void validate() const;  ///< throws ConfigError
};

/// Trains on `texts` (single-threaded, so the model is the same for the same input)
/// and returns the serialized model. Throws DataError when there is no text to learn from.
std::string train_tokenizer(const std::vector<std::string>& texts, const TokenizerConfig& config);

/// Encodes text with a serialized SentencePiece model.
class Tokenizer {
 public:
  /// Throws DataError when the bytes are not a SentencePiece model.
  explicit Tokenizer(const std::string& model);
  ~Tokenizer();
  /// Ids of `text`, encoded 64 KiB at a time (cut at whitespace) so memory stays bounded
  /// for any length; the ids equal those of the whole text, except that a run of over 64 KiB
  /// without whitespace gains a word start at each cut.
  std::vector<int32_t> encode(const std::string& text) const;
  int vocab_size() const;
  /// The surface piece of token `id`: a word-initial piece starts with U+2581 ("\u2581the");
  /// "" for an id outside [0, vocab_size()).
  std::string piece(int id) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tenor::features
