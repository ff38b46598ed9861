#pragma once
// The WordPiece tokenizer of BERT-family text encoders (Devlin et al. 2019; Wu et al. 2016),
// read from the encoder's Hugging Face tokenizer.json and giving the ids Hugging Face
// `tokenizers` gives (tests pin it on hard cases and on every transcript of the shared
// sets): BertNormalizer (clean text, CJK characters as words, NFD accent stripping,
// lowercase), BertPreTokenizer (whitespace and punctuation), greedy longest-match WordPiece
// with the "##" continuation prefix, special tokens matched in the raw text (those marked
// "normalized" in the normalised text), and the [CLS] A [SEP] (B [SEP]) template or
// RobertaProcessing's <s> A </s> (</s> B </s>) (MPNet). Unicode properties and normalisation
// come from ICU.
// No LibTorch here.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tenor::features {

class WordPieceTokenizer {
 public:
  /// Reads `tokenizer_json` (Hugging Face format). Throws DataError naming the file, the key
  /// and the fix when it is not a BERT WordPiece tokenizer this class reproduces exactly.
  explicit WordPieceTokenizer(const std::filesystem::path& tokenizer_json);
  ~WordPieceTokenizer();
  WordPieceTokenizer(WordPieceTokenizer&&) noexcept;
  WordPieceTokenizer& operator=(WordPieceTokenizer&&) noexcept;

  struct Encoding {
    std::vector<int32_t> ids;       ///< with [CLS] and [SEP] (or <s> and </s>)
    std::vector<int32_t> type_ids;  ///< 0 for the first sequence, 1 for the pair (all 0: RoBERTa)
    /// ids of the first sequence with its special tokens ([CLS] A [SEP], <s> A </s>): the
    /// sentence each id belongs to, which RoBERTa's all-0 type ids do not tell.
    size_t first_length = 0;
  };

  /// The ids of `text` (and `pair`) with the special tokens. With `max_length` > 0 the
  /// sequences are truncated longest-first (one token at a time from the longer one, as
  /// Hugging Face's LongestFirst) so that the whole encoding holds at most max_length ids.
  Encoding encode(std::string_view text, std::optional<std::string_view> pair = std::nullopt,
                  size_t max_length = 0) const;

  /// encode() over ids tokenize() gave: `pair` may be cut before (a context's first pieces).
  Encoding encode_ids(std::vector<int32_t> a, std::optional<std::vector<int32_t>> pair,
                      size_t max_length = 0) const;

  /// The WordPiece ids of `text` without special tokens. Invalid UTF-8 is read as U+FFFD,
  /// which the normaliser drops.
  std::vector<int32_t> tokenize(std::string_view text) const;

  int vocab_size() const;
  int32_t pad_id() const;
  /// The token of `id` ("" outside the vocabulary).
  std::string token(int32_t id) const;
  /// SHA-256 of the tokenizer.json bytes: what a store and a run record to refuse another.
  const std::string& sha256() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tenor::features
