// tenor's WordPiece tokenizer against Hugging Face `tokenizers` on the same tokenizer.json:
// the hard cases of data/wordpiece_cases.in.jsonl (accents, CJK, emoji, control characters,
// very long words, special tokens in the text, pairs, truncation) with the ids of each
// encoder's tokenizer.json (data/wordpiece_cases.NAME.jsonl), and bad files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/features/wordpiece.h"
#include "tests/features/text_encoder_dir.h"

namespace tenor::features {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

/// Each text encoder tools/text-encoders/fetch.sh knows, with its vocabulary's size.
class WordPieceOf : public ::testing::TestWithParam<std::pair<std::string, int>> {};

TEST_P(WordPieceOf, SameIdsAsHuggingFaceOnTheHardCases) {
  const auto& [name, vocab_size] = GetParam();
  const WordPieceTokenizer tok(test::text_encoder_dir(name) / "tokenizer.json");
  EXPECT_EQ(tok.vocab_size(), vocab_size);
  std::ifstream cases(TENOR_SOURCE_DIR "/tests/features/data/wordpiece_cases." + name + ".jsonl");
  int checked = 0;
  for (std::string line; std::getline(cases, line);) {
    const json c = json::parse(line);
    std::optional<std::string> pair;
    if (c.contains("pair")) pair = c["pair"].get<std::string>();
    const auto e = tok.encode(c["text"].get<std::string>(),
                              pair ? std::optional<std::string_view>(*pair) : std::nullopt,
                              c.value("max_length", size_t(0)));
    EXPECT_EQ(e.ids, c["ids"].get<std::vector<int32_t>>()) << line;
    EXPECT_EQ(e.type_ids, c["type_ids"].get<std::vector<int32_t>>()) << line;
    ++checked;
  }
  EXPECT_GE(checked, 33);
}

// BERT's [CLS] A [SEP] B [SEP] template (MiniLM) and RoBERTa's <s> A </s></s> B </s> with
// special tokens matched after normalisation (MPNet: "<UNK>" is its <unk>).
INSTANTIATE_TEST_SUITE_P(
    Encoders, WordPieceOf,
    ::testing::Values(std::pair<std::string, int>{"minilm-l6", 30522},
                      std::pair<std::string, int>{"mpnet-base", 30527}),
    [](const auto& info) { return test::encoder_test_name(info.param.first); });

TEST(WordPiece, InvalidUtf8IsReadAsReplacementCharactersAndDropped) {
  const WordPieceTokenizer tok(test::text_encoder_dir() / "tokenizer.json");
  EXPECT_EQ(tok.tokenize("ok\xff\xfe ok"), tok.tokenize("ok ok"));
}

TEST(WordPiece, RefusesFilesItCannotReproduce) {
  const fs::path dir = fs::temp_directory_path() / ("wordpiece-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  json j = json::parse(read_file(test::text_encoder_dir() / "tokenizer.json"));
  auto refused = [&](const json& edited, const std::string& expected) {
    write_file_atomic(dir / "tokenizer.json", edited.dump());
    try {
      WordPieceTokenizer tok(dir / "tokenizer.json");
      ADD_FAILURE() << "accepted: " << expected;
    } catch (const DataError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find((dir / "tokenizer.json").string()), std::string::npos) << what;
      EXPECT_NE(what.find(expected), std::string::npos) << what;
    }
  };
  json bpe = j;
  bpe["model"]["type"] = "BPE";
  refused(bpe, "model.type is not WordPiece");
  json other = j;
  other["normalizer"] = {{"type", "NFC"}};
  refused(other, "normalizer is not BertNormalizer");
  json no_unk = j;
  no_unk["model"]["unk_token"] = "[NOPE]";
  refused(no_unk, "'[NOPE]' is not in model.vocab");
  json post = j;
  post["post_processor"] = {{"type", "ByteLevel"}};
  refused(post, "post_processor is neither TemplateProcessing nor RobertaProcessing");
  json single_word = j;
  single_word["added_tokens"][0]["single_word"] = true;
  refused(single_word, "matches single words only");
  json holes = j;
  holes["model"]["vocab"].erase("[UNK]");
  refused(holes, "model.vocab has an id outside 0..size-1");
  write_file_atomic(dir / "tokenizer.json", "{\"model\": ");
  EXPECT_THROW(WordPieceTokenizer(dir / "tokenizer.json"), DataError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tenor::features
