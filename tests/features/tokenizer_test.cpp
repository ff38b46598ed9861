// The SentencePiece tokenizer: training is deterministic and pieces spell the text.
#include "data/features/tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tenor::test {
namespace {

TEST(Tokenizer, PiecesOfTheIdsSpellTheText) {
  std::vector<std::string> texts;
  for (int i = 0; i < 50; ++i) {
    texts.push_back("I am so sorry to hear that your order " + std::to_string(i) + " is late");
    texts.push_back("this is the third time I have called about it");
  }
  features::TokenizerConfig config;
  config.vocab_size = 60;
  const std::string model = features::train_tokenizer(texts, config);
  EXPECT_EQ(model, features::train_tokenizer(texts, config)) << "training is deterministic";
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

}  // namespace
}  // namespace tenor::test
