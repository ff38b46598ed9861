// The SentencePiece tokenizer: training is deterministic and pieces spell the text.
#include "data/features/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace tenor::test {
namespace {

/// A hundred short customer-service sentences, enough to train a 60-piece vocabulary.
std::vector<std::string> training_texts() {
  std::vector<std::string> texts;
  for (int i = 0; i < 50; ++i) {
    texts.push_back("I am so sorry to hear that your order " + std::to_string(i) + " is late");
    texts.push_back("this is the third time I have called about it");
  }
  return texts;
}

features::TokenizerConfig small_config() {
  features::TokenizerConfig config;
  config.vocab_size = 60;
  return config;
}

TEST(Tokenizer, PiecesOfTheIdsSpellTheText) {
  const auto texts = training_texts();
  const std::string model = features::train_tokenizer(texts, small_config());
  EXPECT_EQ(model, features::train_tokenizer(texts, small_config())) << "training is deterministic";
  const features::Tokenizer tokenizer(model);
  const std::string text = "I am sorry your order is late";
  std::string spelt;
  for (int32_t id : tokenizer.encode(text)) spelt += tokenizer.piece(id);
  const std::string mark = "\xe2\x96\x81";  // U+2581 stands for the space before a word
  std::string expected = mark;
  for (char c : text) expected += c == ' ' ? mark : std::string(1, c);
  EXPECT_EQ(spelt, expected);
  EXPECT_EQ(tokenizer.piece(0), "<pad>");
  EXPECT_EQ(tokenizer.piece(1), "<unk>");
  EXPECT_EQ(tokenizer.piece(-1), "");
  EXPECT_EQ(tokenizer.piece(tokenizer.vocab_size()), "");
}

features::Tokenizer small_tokenizer() {
  return features::Tokenizer(features::train_tokenizer(training_texts(), small_config()));
}

/// `bytes` of words from the training texts, separated by spaces, tabs, newlines.
std::string long_text(size_t bytes) {
  const std::vector<std::string> words = {"sorry", "order", "late", "third", "called", "xyz"};
  const std::vector<std::string> gaps = {" ", " ", " ", "\t", "\n", "  "};
  std::mt19937 rng(7);
  std::string text;
  while (text.size() < bytes) text += words[rng() % words.size()] + gaps[rng() % gaps.size()];
  return text;
}

// Text is encoded in pieces (bounded memory); the ids are still those of the whole
// text: no SentencePiece piece spans whitespace, so they are the words' ids in turn.
TEST(Tokenizer, LongTextGetsTheIdsOfItsWords) {
  const auto tokenizer = small_tokenizer();
  const std::string text = long_text(300'000);
  std::vector<int32_t> expected;
  std::istringstream words(text);
  for (std::string word; words >> word;) {
    auto ids = tokenizer.encode(word);
    expected.insert(expected.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(tokenizer.encode(text), expected);
  // A run without whitespace longer than a piece is still spelt in full.
  const std::string run(200'000, 'r');
  std::string spelt;
  for (int32_t id : tokenizer.encode(run)) spelt += tokenizer.piece(id);
  const std::string mark = "\xe2\x96\x81";
  for (size_t pos; (pos = spelt.find(mark)) != std::string::npos;) spelt.erase(pos, mark.size());
  EXPECT_EQ(spelt, run);
}

/// Peak resident memory of this process in MiB since the last reset_peak_rss().
long peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6)) / 1024;
  return -1;
}

bool reset_peak_rss() { return static_cast<bool>(std::ofstream("/proc/self/clear_refs") << "5"); }

// SentencePiece's lattice takes ~120 bytes per byte of text: a 60 MB transcript drove
// `data build` to 10 GB and std::bad_alloc (issue 16). Unbounded, 4 MB of text took
// 680 MiB more and 8 MB 1.4 GiB.
TEST(Tokenizer, LongTextIsEncodedInBoundedMemory) {
  const auto tokenizer = small_tokenizer();
  const std::string text = long_text(4'000'000);
  if (!reset_peak_rss() || peak_rss_mib() < 0) GTEST_SKIP() << "cannot reset the peak RSS";
  const long before = peak_rss_mib();
  const auto ids = tokenizer.encode(text);
  const long grown = peak_rss_mib() - before;
  EXPECT_GT(ids.size(), 1'000'000u);
  EXPECT_LT(grown, 150) << "encoding 4 MB of text took " << grown << " MiB more";
}

}  // namespace
}  // namespace tenor::test
