#include <gtest/gtest.h>

#include "data/json_line.h"
#include "data/schema.h"
#include "data/split.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

using nlohmann::json;

TEST(Dataset, PathsMustStayInside) {
  EXPECT_TRUE(data::path_stays_inside("audio/a.wav"));
  EXPECT_TRUE(data::path_stays_inside("./audio/../audio/a.wav"));
  EXPECT_FALSE(data::path_stays_inside("../a.wav"));
  EXPECT_FALSE(data::path_stays_inside("audio/../../a.wav"));
  EXPECT_FALSE(data::path_stays_inside("/etc/passwd"));
  EXPECT_FALSE(data::path_stays_inside(""));
  EXPECT_FALSE(data::path_stays_inside("."));
}

// One task type for the whole toolkit (issue 17): its words round-trip, and a word that is
// not one of them is refused by name instead of becoming binary.
TEST(TaskType, EveryTypeRoundTripsAndAnUnknownWordIsADataError) {
  for (auto type : {data::TaskType::kBinary, data::TaskType::kOrdinal,
                    data::TaskType::kCategorical}) {
    const std::string word = data::to_string(type);
    EXPECT_EQ(data::task_type_from_string(word, "test"), type) << word;
    EXPECT_EQ(data::to_string(data::task_type_from_string(word, "test")), word);
  }
  EXPECT_EQ(std::string(data::to_string(data::TaskType::kCategorical)), "categorical");
  for (const char* bad : {"nominal", "Binary", "", "ordnial"}) {
    try {
      data::task_type_from_string(bad, "RUN/shape.json, task 'escalation'");
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const DataError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("RUN/shape.json, task 'escalation'"), std::string::npos) << what;
      EXPECT_NE(what.find("'" + std::string(bad) + "'"), std::string::npos) << what;
      EXPECT_NE(what.find("ordinal, binary or categorical"), std::string::npos) << what;
    }
  }
}

TEST(Dataset, ResolvesLabelsByMajorityTiesToHigherForOrdinal) {
  data::Task ordinal{
      "escalation", data::TaskType::kOrdinal, {"calm", "frustrated", "angry"}, "customer"};
  data::Task categorical{
      "topic", data::TaskType::kCategorical, {"billing", "tech", "other"}, "customer"};
  data::Segment seg;
  seg.labels_by = {{"a", {{"escalation", 0}, {"topic", 2}}},
                   {"b", {{"escalation", 2}, {"topic", 1}}},
                   {"c", {{"escalation", 2}}}};
  EXPECT_EQ(data::resolved_label(seg, ordinal), 2);  // majority
  seg.labels_by.erase("c");
  EXPECT_EQ(data::resolved_label(seg, ordinal), 2);      // tie 0 vs 2 -> higher
  EXPECT_EQ(data::resolved_label(seg, categorical), 1);  // tie -> first listed
  seg.labels["escalation"] = 1;
  EXPECT_EQ(data::resolved_label(seg, ordinal), 1);  // explicit labels win
  data::Segment empty;
  EXPECT_FALSE(data::resolved_label(empty, ordinal).has_value());
}

TEST(Dataset, RoundTripJsonlCsvJsonl) {
  DatasetFixture fx("roundtrip");
  fx.calls[0]["segments"][1]["labels_by"] = {{"ann-a", {{"empathy", 1}}},
                                             {"ann-b", {{"empathy", 0}}}};
  fx.calls[1]["segments"][3].erase("labels");
  fx.calls[1]["segments"][3]["labels_by"] = {{"ann-a", {{"empathy", 1}}}};
  fx.calls[1]["segments"][0]["text"] = "quote \" and, comma\nand newline";
  fx.calls[1]["meta"]["language"] = "en";
  fx.write();
  auto original = data::load_dataset_or_throw(fx.root);

  fs::path csv_dir = make_temp_dir("roundtrip-csv");
  fs::remove(csv_dir);
  data::write_derived_dataset(original, csv_dir, data::ManifestFormat::kCsv);
  ASSERT_TRUE(fs::exists(csv_dir / "segments.csv"));
  ASSERT_FALSE(fs::exists(csv_dir / "calls.jsonl"));
  auto from_csv = data::load_dataset_or_throw(csv_dir);

  fs::path back_dir = make_temp_dir("roundtrip-back");
  fs::remove(back_dir);
  data::write_derived_dataset(from_csv, back_dir);
  auto back = data::load_dataset_or_throw(back_dir);

  ASSERT_EQ(original.calls.size(), back.calls.size());
  for (size_t i = 0; i < original.calls.size(); ++i) {
    EXPECT_EQ(data::call_to_json_line(original.calls[i]), data::call_to_json_line(back.calls[i]));
    EXPECT_EQ(data::call_to_json_line(original.calls[i]),
              data::call_to_json_line(from_csv.calls[i]));
  }
  // The derived datasets' audio resolves through links to the input's files.
  EXPECT_TRUE(fs::exists(back_dir / "audio/c1.wav"));
  EXPECT_TRUE(fs::is_symlink(back_dir / "audio"));
}

TEST(Dataset, StrictLoaderListsErrors) {
  DatasetFixture fx("strict");
  fx.calls[0]["segments"][0]["labels"]["escalation"] = 9;
  fx.write();
  try {
    data::load_dataset_or_throw(fx.root);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("calls.jsonl:1: error: call c1, segment 0"),
              std::string::npos)
        << e.what();
  }
}

TEST(JsonLine, BracketsInsideAStringAreNotNesting) {
  nlohmann::json j;
  const std::string text = "{\"text\": \"" + std::string(100, '[') + "\\\"\"}";
  EXPECT_FALSE(data::parse_json_line(text, j)) << "a transcript full of [ is not too deep";
  EXPECT_EQ(j["text"].get<std::string>(), std::string(100, '[') + "\"");
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  auto problem = data::parse_json_line(deep, j);
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->code, "json-too-deep");
}

}  // namespace
}  // namespace tenor::test
