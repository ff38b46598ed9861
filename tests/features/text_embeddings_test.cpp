// Sentence-embedding files (`tenor data build --text-embeddings`) and the store's copy.
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/features/store.h"
#include "data/features/text_embeddings.h"
#include "tests/data/fixtures.h"

namespace tenor::features {
namespace {
namespace fs = std::filesystem;
using test::thrown_message;
using test::write_text;

const std::string kHeader =
    R"({"format": "tenor-text-embeddings-1", "encoder": "test-encoder", "dim": 3})"
    "\n";

fs::path write_embeddings(const std::string& body) {
  const fs::path file = test::make_temp_dir("text-embeddings") / "emb.jsonl";
  write_text(file, body);
  return file;
}

TEST(TextEmbeddings, ReadsHeaderAndOneVectorPerSegment) {
  const auto file =
      write_embeddings(kHeader + R"({"call_id": "c1", "segment": 0, "vector": [1, 2, 3]})"
                                 "\n\n"
                                 R"({"call_id": "c1", "segment": 1, "vector": [4, 5.5, -6]})"
                                 "\n");
  const TextEmbeddings e = read_text_embeddings(file);
  EXPECT_EQ(e.encoder, "test-encoder");
  EXPECT_EQ(e.dim, 3);
  ASSERT_EQ(e.vectors.size(), 2u);
  EXPECT_EQ(e.vectors.at({"c1", 1}).first, 4) << "the line it came from";
  EXPECT_EQ(e.vectors.at({"c1", 1}).second, (std::vector<float>{4, 5.5f, -6}));
  const std::vector<StoreSegment> rows = {{"c1", 1, "agent", "train", 0, 1, {}},
                                          {"c1", 0, "customer", "train", 0, 1, {}}};
  EXPECT_EQ(align_text_embeddings(e, rows), (std::vector<float>{4, 5.5f, -6, 1, 2, 3}));
  const std::string missing = thrown_message<DataError>([&] {
    align_text_embeddings(e, {{"c2", 0, "agent", "train", 0, 1, {}}});
  });
  EXPECT_NE(missing.find(file.string() + " has no vector for call c2 segment 0"), std::string::npos)
      << missing;
  EXPECT_NE(missing.find("embed.sh"), std::string::npos) << missing;
}

TEST(TextEmbeddings, RefusesBadFilesNamingTheLineAndTheFix) {
  struct Case {
    std::string body, expected;
  };
  const std::string good = R"({"call_id": "c1", "segment": 0, "vector": [1, 2, 3]})"
                           "\n";
  const std::vector<Case> cases = {
      {"", "is empty"},
      {good, ":1: the first line must be the header"},
      {R"({"format": "tenor-text-embeddings-1", "dim": 3})"
       "\n",
       ":1: the header names no \"encoder\""},
      {R"({"format": "tenor-text-embeddings-1", "encoder": "e", "dim": 0})"
       "\n",
       ":1: the header's \"dim\" must be an integer in [1, 65536], found 0"},
      {kHeader + "{not json\n", ":2: line is not valid JSON"},
      {kHeader + R"({"segment": 0, "vector": [1, 2, 3]})"
                 "\n",
       ":2: \"call_id\" must be a string"},
      {kHeader + R"({"call_id": "c1", "segment": -1, "vector": [1, 2, 3]})"
                 "\n",
       ":2: \"segment\" must be the segment's index"},
      {kHeader + R"({"call_id": "c1", "segment": 0, "vector": [1, 2]})"
                 "\n",
       ":2: \"vector\" has 2 values, the header says dim 3"},
      {kHeader + R"({"call_id": "c1", "segment": 0, "vector": [1, "x", 3]})"
                 "\n",
       ":2: value 1 of \"vector\" is \"x\", not a finite number"},
      {kHeader + R"({"call_id": "c1", "segment": 0, "vector": [1, 1e309, 3]})"
                 "\n",
       ":2: the number 1e309 (at byte 47) is out of range"},
      {kHeader + good + "\n" + good, ":4: call c1 segment 0 already has a vector on line 2"},
  };
  for (const auto& c : cases) {
    const auto file = write_embeddings(c.body);
    const std::string message = thrown_message<DataError>([&] { read_text_embeddings(file); });
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.expected << "\n" << message;
    EXPECT_NE(message.find("embed.sh"), std::string::npos) << message;
  }
  const std::string absent = thrown_message<DataError>(
      [&] { read_text_embeddings(test::make_temp_dir("text-embeddings") / "none.jsonl"); });
  EXPECT_NE(absent.find("do not exist"), std::string::npos) << absent;
}

TEST(TextEmbeddings, StoreKeepsThemInSegmentOrderAndHashesThem) {
  const fs::path dir = test::make_temp_dir("store-embeddings");
  const auto file =
      write_embeddings(kHeader + R"({"call_id": "c1", "segment": 1, "vector": [4, 5, 6]})"
                                 "\n"
                                 R"({"call_id": "c1", "segment": 0, "vector": [1, 2, 3]})"
                                 "\n");
  const TextEmbeddings e = read_text_embeddings(file);
  auto write = [&](const fs::path& path, const TextEmbeddings* embeddings) {
    StoreWriter w(path, {{"f0_hz"}, {"a"}, {"escalation"}});
    w.append({"c1", 0, "customer", "train", 0, 1, {1}}, {1}, {1}, {100}, {5});
    w.append({"c1", 1, "agent", "train", 1, 2, {-1}}, {2}, {1}, {}, {});
    StoreMeta meta;
    meta.feature_set_version = "v";
    w.finish(meta, {{"escalation", {"calm", "angry"}}}, "", embeddings);
  };
  write(dir / "with.h5", &e);
  write(dir / "without.h5", nullptr);
  const Store with = read_store(dir / "with.h5"), without = read_store(dir / "without.h5");
  EXPECT_EQ(with.meta.text_encoder, "test-encoder");
  EXPECT_EQ(with.text_embedding_dim, 3);
  EXPECT_EQ(with.text_embedding, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(without.meta.text_encoder, "");
  EXPECT_EQ(without.text_embedding_dim, 0);
  EXPECT_TRUE(without.text_embedding.empty());
  EXPECT_NE(content_sha256(with), content_sha256(without));
  Store changed = with;
  changed.text_embedding[4] = 0;
  EXPECT_NE(content_sha256(changed), content_sha256(with));

  TextEmbeddings partial = e;
  partial.vectors.erase({"c1", 1});
  const std::string message =
      thrown_message<DataError>([&] { write(dir / "partial.h5", &partial); });
  EXPECT_NE(message.find("no vector for call c1 segment 1"), std::string::npos) << message;
}

}  // namespace
}  // namespace tenor::features
