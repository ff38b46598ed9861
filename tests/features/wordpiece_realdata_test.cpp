// tenor's WordPiece tokenizer gives the ids of Hugging Face `tokenizers` on every transcript
// of the shared sets (../shared/data/*/calls.jsonl), alone and as (previous turn, turn)
// pairs. Skipped when ../shared/data is absent; the reference runs through
// tools/text-encoders/reference.sh (Python, pinned, cached outside the clone).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/features/wordpiece.h"
#include "tests/data/fixtures.h"
#include "tests/features/text_encoder_dir.h"

namespace tenor::features {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

/// Every segment's text of every shared set, and each with the text before it in its call.
std::vector<json> shared_texts(const fs::path& data) {
  std::vector<json> out;
  for (const auto& set : fs::directory_iterator(data)) {
    std::ifstream calls(set.path() / "calls.jsonl");
    for (std::string line; std::getline(calls, line);) {
      const json call = json::parse(line);
      std::string previous;
      for (const auto& s : call["segments"]) {
        const std::string text = s.value("text", "");
        out.push_back({{"text", text}});
        if (!previous.empty()) out.push_back({{"text", previous}, {"pair", text}, {"max_length", 128}});
        previous = text;
      }
    }
  }
  return out;
}

class WordPieceRealdata : public ::testing::TestWithParam<std::string> {};

TEST_P(WordPieceRealdata, SameIdsAsHuggingFaceOnEveryTranscriptOfTheSharedSets) {
  const std::string data = test::shared_data_dir();
  if (data.empty()) GTEST_SKIP() << "../shared/data is absent";
  const fs::path dir = test::text_encoder_dir(GetParam());
  const WordPieceTokenizer tok(dir / "tokenizer.json");
  const std::vector<json> texts = shared_texts(data);
  const std::string tag = GetParam() + "-" + std::to_string(getpid()) + ".jsonl";
  const fs::path in = fs::temp_directory_path() / ("wp-in-" + tag);
  const fs::path out = fs::temp_directory_path() / ("wp-out-" + tag);
  {
    std::ofstream f(in);
    for (const auto& t : texts) f << t.dump() << "\n";
  }
  const std::string cmd = std::string(TENOR_SOURCE_DIR) + "/tools/text-encoders/reference.sh ids " +
                          dir.string() + " < " + in.string() + " > " + out.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream ref(out);
  size_t i = 0, mismatches = 0;
  for (std::string line; std::getline(ref, line); ++i) {
    ASSERT_LT(i, texts.size());
    const json& t = texts[i];
    std::optional<std::string> pair;
    if (t.contains("pair")) pair = t["pair"].get<std::string>();
    const auto e = tok.encode(t["text"].get<std::string>(),
                              pair ? std::optional<std::string_view>(*pair) : std::nullopt,
                              t.value("max_length", size_t(0)));
    const json r = json::parse(line);
    if (e.ids != r["ids"].get<std::vector<int32_t>>() ||
        e.type_ids != r["type_ids"].get<std::vector<int32_t>>()) {
      if (++mismatches <= 5) ADD_FAILURE() << t.dump() << "\nreference " << r.dump();
    }
  }
  EXPECT_EQ(i, texts.size());
  EXPECT_EQ(mismatches, 0u) << "of " << texts.size();
  RecordProperty("texts", int(texts.size()));
  fs::remove(in);
  fs::remove(out);
}

INSTANTIATE_TEST_SUITE_P(Encoders, WordPieceRealdata, ::testing::Values("minilm-l6", "mpnet-base"),
                         [](const auto& info) { return test::encoder_test_name(info.param); });

}  // namespace
}  // namespace tenor::features
