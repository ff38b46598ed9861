#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <cmath>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "data/features/store.h"

namespace tenor::features {
namespace {
namespace fs = std::filesystem;

TEST(Store, WriteReadRoundTrip) {
  fs::path path = fs::path(testing::TempDir()) / ("store-" + std::to_string(::getpid()) + ".h5");
  StoreLayout layout{{"f0_hz", "voiced"}, {"a", "b", "c"}, {"escalation", "empathy"}};
  {
    StoreWriter w(path, layout);
    w.append({"c1", 0, "customer", "train", 0.5, 1.5, {2, -1}}, {1, 2, 3}, {1, 0, 1},
             {100, 1, 0, 0, 120, 1}, {5, 6, 7});
    w.append({"c1", 1, "agent", "train", 1.6, 2.0, {-1, 1}}, {4, 5, 6}, {1, 1, 1}, {}, {});
    StoreMeta meta;
    meta.feature_set_version = "v-test";
    meta.functionals_version = "f-test";
    meta.extractor_config = "{\"x\": 1}";
    meta.skipped_calls = {"c9: unreadable"};
    w.finish(meta,
             {{"escalation", {"calm", "frustrated", "angry"}}, {"empathy", {"absent", "present"}}},
             "MODEL");
  }
  Store s = read_store(path);
  EXPECT_EQ(s.meta.feature_set_version, "v-test");
  EXPECT_EQ(s.meta.extractor_config, "{\"x\": 1}");
  EXPECT_EQ(s.meta.skipped_calls, std::vector<std::string>{"c9: unreadable"});
  EXPECT_EQ(s.layout.functional_columns, layout.functional_columns);
  EXPECT_EQ(s.layout.lld_columns, layout.lld_columns);
  EXPECT_EQ(s.layout.tasks, layout.tasks);
  ASSERT_EQ(s.segments.size(), 2u);
  EXPECT_EQ(s.segments[0].call_id, "c1");
  EXPECT_EQ(s.segments[1].speaker, "agent");
  EXPECT_EQ(s.segments[0].labels, (std::vector<int32_t>{2, -1}));
  EXPECT_EQ(s.functionals, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(s.functional_mask, (std::vector<uint8_t>{1, 0, 1, 1, 1, 1}));
  EXPECT_EQ(s.frame_offsets, (std::vector<int64_t>{0, 3, 3}));
  EXPECT_EQ(s.frames.size(), 6u);
  EXPECT_EQ(s.token_offsets, (std::vector<int64_t>{0, 3, 3}));
  EXPECT_EQ(s.tokenizer_model, "MODEL");
  EXPECT_EQ(read_store_tokenizer(path), "MODEL");  // without the tables
  EXPECT_EQ(read_store_meta(path).extractor_config, "{\"x\": 1}");
  EXPECT_EQ(s.task_classes["escalation"],
            (std::vector<std::string>{"calm", "frustrated", "angry"}));
  EXPECT_THROW(check_store_versions(s.meta, "v-other", "f-test", path), DataError);
  EXPECT_NO_THROW(check_store_versions(s.meta, "v-test", "f-test", path));
}

TEST(Store, RefusesWhatIsNotAStore) {
  fs::path path =
      fs::path(testing::TempDir()) / ("not-a-store-" + std::to_string(::getpid()) + ".h5");
  { std::ofstream(path) << "hello"; }
  EXPECT_THROW(read_store(path), DataError);
  EXPECT_THROW(read_store(path.string() + ".missing"), DataError);
  EXPECT_THROW(read_store_tokenizer(path), DataError);
}

// A store built with `--text-embeddings` before 2026-12-06 (its root attribute text_encoder
// names the sentence encoder) holds what no model reads any more: refused, naming the file,
// the encoder and the command that rebuilds it.
TEST(Store, RefusesAStoreOfSentenceEmbeddings) {
  const fs::path path =
      fs::path(testing::TempDir()) / ("store-use-" + std::to_string(::getpid()) + ".h5");
  {
    StoreWriter w(path, {{"f0_hz"}, {"a"}, {"escalation"}});
    w.append({"c1", 0, "customer", "train", 0.5, 1.5, {1}}, {1}, {1}, {100}, {5});
    w.finish({}, {{"escalation", {"calm", "angry"}}}, "");
  }
  ASSERT_NO_THROW(read_store(path));
  {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attr = H5Acreate2(file, "text_encoder", type, space, H5P_DEFAULT, H5P_DEFAULT);
    const char* value = "universal-sentence-encoder-lite";
    ASSERT_GE(H5Awrite(attr, type, &value), 0);
    H5Aclose(attr), H5Sclose(space), H5Tclose(type), H5Fclose(file);
  }
  for (auto read : {+[](const fs::path& p) { read_store(p); },
                    +[](const fs::path& p) { read_store_meta(p); }}) {
    try {
      read(path);
      ADD_FAILURE() << "a store of sentence embeddings was read";
    } catch (const DataError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(path.string() + " holds sentence embeddings of "
                                       "'universal-sentence-encoder-lite'"),
                std::string::npos)
          << m;
      EXPECT_NE(m.find("configs/text-transformer.yaml"), std::string::npos) << m;
      EXPECT_NE(m.find("rebuild the store with `tenor data build DATASET --out " +
                       path.string() + "`"),
                std::string::npos)
          << m;
    }
  }
}

/// A two-row store whose second row ("c1" segment 1, split dev) is `bad`; returns the message
/// read_store throws ("" when it reads the store).
std::string read_with_second_row(const std::string& name, const StoreSegment& bad) {
  fs::path path =
      fs::path(testing::TempDir()) / ("store-" + name + "-" + std::to_string(::getpid()) + ".h5");
  {
    StoreWriter w(path, {{"f0_hz"}, {"a"}, {"escalation", "empathy"}});
    w.append({"c1", 0, "customer", "train", 0.5, 1.5, {2, -1}}, {1}, {1}, {100, 120}, {5});
    w.append(bad, {2}, {1}, {110}, {6});
    w.finish({}, {{"escalation", {"calm", "frustrated", "angry"}}, {"empathy", {"no", "yes"}}},
             "");
  }
  try {
    read_store(path);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST(Store, RefusesLabelsOutOfRangeAndBadTimesNamingTheRowAndTheValue) {
  const StoreSegment good{"c1", 1, "agent", "dev", 1.6, 2.0, {-1, 1}};
  EXPECT_EQ(read_with_second_row("good", good), "");
  struct Case {
    const char* name;
    StoreSegment row;
    std::vector<std::string> expected;
  };
  auto with = [&](auto change) {
    StoreSegment s = good;
    change(s);
    return s;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<Case> cases = {
      {"label-99", with([](auto& s) { s.labels = {99, 1}; }), {"escalation", "99", "0..2"}},
      {"label-minus-5", with([](auto& s) { s.labels = {-1, -5}; }), {"empathy", "-5"}},
      {"end-nan", with([&](auto& s) { s.end_s = nan; }), {"end_s", "nan"}},
      {"start-inf", with([](auto& s) { s.start_s = -INFINITY; }), {"start_s", "inf"}},
      {"start-after-end", with([](auto& s) { s.start_s = 3.0; }), {"3", "2"}},
  };
  for (const auto& c : cases) {
    const std::string message = read_with_second_row(c.name, c.row);
    ASSERT_FALSE(message.empty()) << c.name << " was read without complaint";
    for (const auto& e : c.expected)
      EXPECT_NE(message.find(e), std::string::npos) << c.name << ": " << e << " in: " << message;
    for (const char* e : {"row 1", "call c1", "segment 1", "store-", "tenor data build"})
      EXPECT_NE(message.find(e), std::string::npos) << c.name << ": " << e << " in: " << message;
  }
}

TEST(Store, PreviousSegmentIsTheOneBeforeInTimeWithinTheCall) {
  Store s;
  // Rows out of time order, two calls interleaved, a tie in start time.
  auto seg = [](const char* call, int index, double start) {
    StoreSegment x;
    x.call_id = call;
    x.segment = index;
    x.start_s = start;
    return x;
  };
  s.segments = {seg("b", 0, 0.0), seg("a", 1, 5.0), seg("a", 0, 1.0),
                seg("a", 2, 5.0), seg("b", 1, 2.0), seg("c", 0, 0.0)};
  EXPECT_EQ(previous_segments(s), (std::vector<int64_t>{-1, 2, -1, 1, 0, -1}));
  EXPECT_TRUE(previous_segments(Store{}).empty());
}

}  // namespace
}  // namespace tenor::features
