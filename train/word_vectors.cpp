#include "train/word_vectors.h"

#include <charconv>
#include <fstream>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "core/text.h"

namespace tenor::train {
namespace {

constexpr std::string_view kWordStart = "\xe2\x96\x81";  // U+2581, SentencePiece's space mark

std::string ascii_lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return s;
}

/// Splits on spaces and tabs (GloVe and word2vec separate fields with one space).
std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool is_count(std::string_view s) {
  size_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string piece_word(const std::string& piece) {
  if (piece.size() <= kWordStart.size() || piece.compare(0, kWordStart.size(), kWordStart) != 0)
    return "";
  return piece.substr(kWordStart.size());
}

namespace {

/// Which pieces each word (exact) or lower-cased word fills; an exact match wins.
struct PieceIndex {
  std::unordered_map<std::string, std::vector<size_t>> exact, lower;
};

/// Indexes the whole-word pieces of the vocabulary by their word and its lower case.
PieceIndex index_piece_words(const std::vector<std::string>& pieces) {
  PieceIndex index;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::string w = piece_word(pieces[i]);
    if (w.empty()) continue;
    index.exact[w].push_back(i);
    index.lower[ascii_lower(w)].push_back(i);
  }
  return index;
}

/// The dimension of the file, read from its first vector line and checked against the config.
int first_vector_dim(const std::string& path, size_t line_no, const std::string& line,
                     size_t num_fields, int expected_dim) {
  const int dim = int(num_fields) - 1;
  if (dim < 1)
    throw DataError(path + ":" + std::to_string(line_no) + ": '" + printable(line) +
                    "' has no values; expected 'word v1 ... vD' (GloVe text format)");
  if (dim != expected_dim)
    throw ConfigError("model.embedding_dim is " + std::to_string(expected_dim) + " but " + path +
                      " holds " + std::to_string(dim) +
                      "-dimensional vectors; set model.embedding_dim=" + std::to_string(dim));
  return dim;
}

/// Parses the `dim` values after the word into `values`; each must be a whole number field.
void parse_vector(const std::string& path, size_t line_no, const std::string& word,
                  const std::vector<std::string_view>& f, int dim, std::vector<float>& values) {
  if (int(f.size()) - 1 != dim)
    throw DataError(path + ":" + std::to_string(line_no) + ": the vector of '" + printable(word) +
                    "' has " + std::to_string(f.size() - 1) + " values where the first line has " +
                    std::to_string(dim) + "; the file is truncated or mixes formats");
  values.resize(size_t(dim));
  for (int k = 0; k < dim; ++k) {
    const std::string_view v = f[size_t(k) + 1];
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), values[size_t(k)]);
    if (ec != std::errc() || p != v.data() + v.size())
      throw DataError(path + ":" + std::to_string(line_no) + ": value " + std::to_string(k + 1) +
                      " of '" + printable(word) + "' is '" + printable(std::string(v)) +
                      "', not a number");
  }
}

/// Copies `values` into the rows of the pieces `ids`; a lower-case match never replaces an
/// exact one, and the first match of each kind wins.
void fill_rows(const std::vector<size_t>& ids, bool is_exact, const std::vector<float>& values,
               PieceVectors& out, std::vector<char>& exact_hit) {
  for (size_t id : ids) {
    if (exact_hit[id] || (!is_exact && out.matched[id])) continue;
    std::copy(values.begin(), values.end(), out.rows.begin() + ptrdiff_t(id * size_t(out.dim)));
    if (!out.matched[id]) ++out.num_matched;
    out.matched[id] = 1;
    exact_hit[id] = is_exact;
  }
}

}  // namespace

PieceVectors read_piece_vectors(const std::string& path, const std::vector<std::string>& pieces,
                                int expected_dim) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw DataError("cannot read model.word_vectors file " + path +
                    ": check the path (docs/training.md says how to get GloVe vectors)");
  const PieceIndex index = index_piece_words(pieces);
  PieceVectors out;
  out.matched.assign(pieces.size(), 0);
  std::vector<char> exact_hit(pieces.size(), 0);
  std::string line;
  size_t line_no = 0;
  int dim = 0;
  std::vector<float> values;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Most lines hold a word no piece needs: look at the word before splitting the values.
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    const std::string word = line.substr(start, line.find_first_of(" \t", start) - start);
    auto e = index.exact.find(word);
    auto l = index.lower.find(ascii_lower(word));
    const bool wanted_exact = e != index.exact.end();
    const bool wanted = wanted_exact || l != index.lower.end();
    if (dim != 0 && !wanted) {
      ++out.file_words;
      continue;
    }
    const auto f = fields(line);
    if (line_no == 1 && f.size() == 2 && is_count(f[0]) && is_count(f[1])) continue;  // word2vec
    if (dim == 0) {
      dim = first_vector_dim(path, line_no, line, f.size(), expected_dim);
      out.dim = dim;
      out.rows.assign(pieces.size() * size_t(dim), 0.0f);
    }
    ++out.file_words;
    if (!wanted) continue;
    parse_vector(path, line_no, word, f, dim, values);
    if (wanted_exact) fill_rows(e->second, true, values, out, exact_hit);
    if (l != index.lower.end()) fill_rows(l->second, false, values, out, exact_hit);
  }
  if (in.bad()) throw DataError("reading " + path + " failed at line " + std::to_string(line_no));
  if (dim == 0)
    throw DataError(path +
                    " holds no vectors; expected 'word v1 ... vD' lines (GloVe text format)");
  if (out.num_matched == 0)
    throw DataError("no word of the store's vocabulary has a vector in " + path +
                    "; is it a word-vector file for this language?");
  return out;
}

}  // namespace tenor::train
