#pragma once
// Pretrained word vectors as the starting point of the text encoder's token embeddings
// (model.word_vectors): the store's SentencePiece vocabulary is small and learnt from the
// training split alone, so a word the training split rarely uses starts from what a large
// corpus says about it instead of from noise. Reads the GloVe text format ("word v1 ... vD"
// per line) and word2vec's text format (the same after a "COUNT D" header line).

#include <cstddef>
#include <string>
#include <vector>

namespace tenor::train {

/// Vectors for the pieces of a vocabulary, in piece order.
struct PieceVectors {
  int dim = 0;
  std::vector<float> rows;    ///< [pieces, dim] row-major; zero rows for unmatched pieces
  std::vector<char> matched;  ///< per piece: 1 when a vector was found
  size_t num_matched = 0;
  size_t file_words = 0;  ///< words in the file
};

/// The word a SentencePiece piece stands for: a word-initial piece ("\u2581Word") gives
/// "Word"; pieces inside a word, control pieces ("<unk>") and empty pieces give "".
std::string piece_word(const std::string& piece);

/// Reads the vectors of `pieces`' words from `path`. A word matches exactly, else its ASCII
/// lower case (GloVe's 6B vectors are lower case). Throws DataError naming the file, the
/// line and the fix for an unreadable file, a malformed line (a value that is not a number,
/// a line whose number of values differs from the first's) and a file where no piece
/// matches; ConfigError when the vectors' dimension is not `expected_dim`
/// (model.embedding_dim).
PieceVectors read_piece_vectors(const std::string& path, const std::vector<std::string>& pieces,
                                int expected_dim);

}  // namespace tenor::train
