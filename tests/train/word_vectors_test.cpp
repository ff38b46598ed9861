// Reading pretrained word vectors for the store's SentencePiece pieces (model.word_vectors).
#include "train/word_vectors.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

namespace fs = std::filesystem;
using train::piece_word;
using train::read_piece_vectors;

const std::string kMark = "\xe2\x96\x81";  // U+2581

fs::path write(const fs::path& dir, const std::string& name, const std::string& text) {
  write_text(dir / name, text);
  return dir / name;
}

TEST(WordVectors, OnlyWordInitialPiecesStandForWords) {
  EXPECT_EQ(piece_word(kMark + "Sorry"), "Sorry");
  EXPECT_EQ(piece_word("ing"), "");
  EXPECT_EQ(piece_word("<unk>"), "");
  EXPECT_EQ(piece_word(kMark), "");
  EXPECT_EQ(piece_word(""), "");
}

// Exact matches win over lower-case ones whatever the order in the file; pieces inside a
// word never take the vector of an equally spelt word; word2vec's header line is skipped.
TEST(WordVectors, MatchesExactlyThenInLowerCase) {
  const fs::path dir = make_temp_dir("word-vectors");
  const std::vector<std::string> pieces = {"<pad>", "<unk>",       kMark + "Sorry", kMark + "the",
                                           "ing",   kMark + "zzz", kMark + "THE"};
  for (const std::string header : {"", "5 3\n"}) {
    const fs::path f = write(dir, "v.txt",
                             header +
                                 "sorry 1 1 1\n"
                                 "the 0.5 -0.25 2e-1\n"
                                 "ing 9 9 9\n"
                                 "Sorry 2 2 2\n"
                                 "unrelated 7 7 7\n");
    const auto v = read_piece_vectors(f.string(), pieces, 3);
    EXPECT_EQ(v.dim, 3);
    EXPECT_EQ(v.file_words, 5u);
    EXPECT_EQ(v.num_matched, 3u);  // Sorry, the, THE (via "the")
    EXPECT_EQ(v.matched, (std::vector<char>{0, 0, 1, 1, 0, 0, 1}));
    const auto row = [&](size_t i) {
      return std::vector<float>(v.rows.begin() + ptrdiff_t(3 * i),
                                v.rows.begin() + ptrdiff_t(3 * i + 3));
    };
    EXPECT_EQ(row(2), (std::vector<float>{2, 2, 2})) << "exact 'Sorry' wins over 'sorry'";
    EXPECT_EQ(row(3), (std::vector<float>{0.5f, -0.25f, 0.2f}));
    EXPECT_EQ(row(6), row(3));
    EXPECT_EQ(row(4), (std::vector<float>{0, 0, 0})) << "'ing' is inside a word";
    EXPECT_EQ(row(5), (std::vector<float>{0, 0, 0}));
  }
  // The exact spelling first, the lower-case one after it: the exact one still holds.
  const fs::path f = write(dir, "w.txt", "Sorry 2 2 2\nsorry 1 1 1\n");
  const auto v = read_piece_vectors(f.string(), pieces, 3);
  EXPECT_EQ(v.rows[6], 2.0f);
}

TEST(WordVectors, BadFilesNameTheFileTheLineAndTheFix) {
  const fs::path dir = make_temp_dir("word-vectors-bad");
  const std::vector<std::string> pieces = {"<unk>", kMark + "hello", kMark + "world"};
  const auto data_error = [&](const std::string& text) {
    const fs::path f = write(dir, "v.txt", text);
    return thrown_message<DataError>([&] { read_piece_vectors(f.string(), pieces, 2); });
  };
  std::string m = thrown_message<ConfigError>(
      [&] { read_piece_vectors(write(dir, "d.txt", "hello 1 2 3\n").string(), pieces, 2); });
  EXPECT_NE(m.find("model.embedding_dim is 2"), std::string::npos) << m;
  EXPECT_NE(m.find("3-dimensional"), std::string::npos) << m;
  EXPECT_NE(m.find("set model.embedding_dim=3"), std::string::npos) << m;

  m = data_error("hello 1 2\nworld 1 x\n");
  EXPECT_NE(m.find("v.txt:2"), std::string::npos) << m;
  EXPECT_NE(m.find("value 2 of 'world' is 'x', not a number"), std::string::npos) << m;

  m = data_error("hello 1 2\nworld 1\n");
  EXPECT_NE(m.find("v.txt:2"), std::string::npos) << m;
  EXPECT_NE(m.find("has 1 values where the first line has 2"), std::string::npos) << m;

  m = data_error("bonjour 1 2\nmonde 3 4\n");
  EXPECT_NE(m.find("no word of the store's vocabulary"), std::string::npos) << m;

  m = data_error("\n\n");
  EXPECT_NE(m.find("holds no vectors"), std::string::npos) << m;

  m = thrown_message<DataError>(
      [&] { read_piece_vectors((dir / "missing.txt").string(), pieces, 2); });
  EXPECT_NE(m.find("missing.txt"), std::string::npos) << m;
  EXPECT_NE(m.find("docs/training.md"), std::string::npos) << m;
}

}  // namespace
}  // namespace tenor::test
