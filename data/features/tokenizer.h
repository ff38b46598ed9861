#pragma once
// Text features: a SentencePiece model (Kudo & Richardson 2018) trained on the
// training split's transcripts, and token ids per segment.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tenor::features {

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
