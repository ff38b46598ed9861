#include <gtest/gtest.h>

#include "data/stats.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

TEST(Stats, CountsHoursSpeakersAndPercentiles) {
  DatasetFixture fx("stats");
  fx.calls[0]["segments"][1]["labels_by"] = {{"a", {{"empathy", 0}}}, {"b", {{"empathy", 0}}}};
  fx.calls[0]["segments"][3]["labels_by"] = {{"a", {{"empathy", 1}}}, {"b", {{"empathy", 1}}}};
  fx.write();
  auto ds = data::load_dataset_or_throw(fx.root);
  auto s = data::dataset_stats(ds, {200, 1, true});
  EXPECT_EQ(s["calls"], 2);
  EXPECT_EQ(s["segments"], 8);
  EXPECT_EQ(s["splits"]["train"]["calls"], 1);
  EXPECT_EQ(s["splits"]["train"]["speakers"], 1);
  EXPECT_NEAR(s["splits"]["train"]["audio_hours"].get<double>(), 4.0 / 3600, 1e-9);
  EXPECT_NEAR(s["splits"]["test"]["speech_hours_by_role"]["agent"].get<double>(), 1.8 / 3600, 1e-9);
  EXPECT_NEAR(s["segment_seconds"]["p50"].get<double>(), 0.9, 1e-9);
  const auto& esc = s["tasks"]["escalation"]["labels"];
  EXPECT_EQ(esc["all"]["labelled"], 4);
  EXPECT_EQ(esc["train"]["classes"]["frustrated"]["count"], 1);
  EXPECT_DOUBLE_EQ(esc["test"]["classes"]["hostile"]["share"].get<double>(), 0.5);
  EXPECT_FALSE(s["tasks"]["escalation"].contains("agreement"));
  const auto& agree = s["tasks"]["empathy"]["agreement"];
  EXPECT_EQ(agree["metric"], "nominal");
  EXPECT_DOUBLE_EQ(agree["krippendorff_alpha"].get<double>(), 1.0);
  EXPECT_EQ(agree["annotators"], 2);
  auto text = data::stats_to_text(s);
  EXPECT_NE(text.find("task escalation (ordinal, customer)"), std::string::npos) << text;
  // Percentiles in numeric order, not as JSON keys sort (p0 p100 p25 ...).
  const size_t at = text.find("segment duration (s):");
  ASSERT_NE(at, std::string::npos) << text;
  const std::string line = text.substr(at, text.find('\n', at) - at);
  size_t last = 0;
  for (const char* p : {" p0=", " p5=", " p25=", " p50=", " p75=", " p95=", " p100="}) {
    const size_t pos = line.find(p);
    ASSERT_NE(pos, std::string::npos) << p << " in " << line;
    EXPECT_GT(pos, last) << p << " out of order in " << line;
    last = pos;
  }
}

// A text-only call's segment times order its turns: they are not speech hours or durations.
TEST(Stats, TextOnlyCallsAreCountedApartFromSpeech) {
  DatasetFixture fx("stats-text");
  fx.calls[1].erase("audio");
  fx.calls[1]["meta"].erase("speaker_id");
  fx.write();
  const auto s = data::dataset_stats(data::load_dataset_or_throw(fx.root), {200, 1, true});
  EXPECT_EQ(s["splits"]["test"]["text_only_calls"], 1);
  EXPECT_TRUE(s["splits"]["test"]["speech_hours_by_role"].empty()) << s["splits"]["test"];
  EXPECT_EQ(s["splits"]["test"]["speakers"], 0);
  EXPECT_EQ(s["splits"]["train"]["text_only_calls"], 0);
  EXPECT_FALSE(s["splits"]["train"]["speech_hours_by_role"].empty());
  const auto text = data::stats_to_text(s);
  EXPECT_NE(text.find("         -        0.000  text only (1 call)\n"), std::string::npos) << text;

  // In one split with a call that has audio: beside its speech hours.
  fx.calls[1]["split"] = "train";
  fx.write();
  const auto mixed = data::stats_to_text(
      data::dataset_stats(data::load_dataset_or_throw(fx.root), {200, 1, true}));
  EXPECT_NE(mixed.find(" + text only (1 call)\n"), std::string::npos) << mixed;

  fx.calls[0].erase("audio");
  fx.write();
  const auto none = data::dataset_stats(data::load_dataset_or_throw(fx.root), {200, 1, true});
  EXPECT_TRUE(none["segment_seconds"].empty()) << none["segment_seconds"];
  const std::string table = data::stats_to_text(none);
  EXPECT_NE(table.find("segment duration (s): no segment of a call with audio\n"),
            std::string::npos)
      << table;
}

}  // namespace
}  // namespace tenor::test
