// Per-speaker normalisation within a call (speaker_normalization: call,
// train/input_transform.h): each row's statistics come from its own speaker's segments in
// its own call, a speaker with one segment keeps its frames (centred on themselves) and
// loses its functionals (masked), silence and text-only segments give no NaN, and
// make_batch centres on exactly those statistics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "train/data.h"
#include "train/input_transform.h"

namespace tenor::test {
namespace {
using nlohmann::json;
using ::testing::HasSubstr;

/// Two LLD and two functional columns. Call a: customer rows 0 and 2, agent row 1. Call b:
/// customer row 3 (one segment), agent rows 4 (text only, no frames) and 5 (silence: every
/// frame the same, no functional defined).
features::Store two_calls() {
  features::Store s;
  s.layout.lld_columns = {"f0", "loudness"};
  s.layout.functional_columns = {"f0_mean", "pause_share"};
  auto segment = [](const char* call, const char* speaker, int index) {
    features::StoreSegment seg;
    seg.call_id = call, seg.speaker = speaker, seg.segment = index;
    seg.start_s = index, seg.end_s = index + 1;
    return seg;
  };
  s.segments = {segment("a", "customer", 0), segment("a", "agent", 1),
                segment("a", "customer", 2), segment("b", "customer", 0),
                segment("b", "agent", 1),    segment("b", "agent", 2)};
  const std::vector<std::vector<float>> frames = {
      {1, 10, 3, 10}, {100, 0}, {5, 10}, {7, -4}, {}, {0, 2, 0, 2}};
  s.frame_offsets = {0};
  for (const auto& f : frames) {
    s.frames.insert(s.frames.end(), f.begin(), f.end());
    s.frame_offsets.push_back(s.frame_offsets.back() + int64_t(f.size() / 2));
  }
  s.functionals = {5, 7, 50, 0, 9, 0, 1, 2, 0, 0, 0, 0};
  s.functional_mask = {1, 1, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0};
  s.token_offsets.assign(7, 0);
  return s;
}

TEST(SpeakerNormalization, StatisticsAreTheSpeakersOwnInTheirCall) {
  const train::SpeakerStatistics st = train::speaker_statistics(two_calls());
  ASSERT_EQ(st.rows, 6);
  auto lld = [&](int r) { return std::vector<float>{st.lld_mean[r * 2], st.lld_mean[r * 2 + 1]}; };
  auto mean = [&](int r) {
    return std::vector<float>{st.func_mean[r * 2], st.func_mean[r * 2 + 1]};
  };
  auto count = [&](int r) {
    return std::vector<float>{st.func_count[r * 2], st.func_count[r * 2 + 1]};
  };
  // Call a's customer: frames 1, 3, 5 (f0) of rows 0 and 2, not the agent's 100.
  EXPECT_EQ(lld(0), (std::vector<float>{3, 10}));
  EXPECT_EQ(lld(2), lld(0));
  EXPECT_EQ(mean(0), (std::vector<float>{7, 7}));  // (5 + 9) / 2; pause_share of row 0 only
  EXPECT_EQ(count(0), (std::vector<float>{2, 1}));
  EXPECT_EQ(lld(1), (std::vector<float>{100, 0}));
  EXPECT_EQ(count(1), (std::vector<float>{1, 0}));
  // Call b's customer is another speaker-in-call than call a's: its one segment alone.
  EXPECT_EQ(lld(3), (std::vector<float>{7, -4}));
  EXPECT_EQ(count(3), (std::vector<float>{1, 1}));
  // Call b's agent: the silent row's frames, shared with its text-only row; nothing defined.
  EXPECT_EQ(lld(4), (std::vector<float>{0, 2}));
  EXPECT_EQ(lld(5), lld(4));
  EXPECT_EQ(count(5), (std::vector<float>{0, 0}));
  EXPECT_EQ(mean(5), (std::vector<float>{0, 0}));
  EXPECT_EQ(train::speaker_statistics(features::Store{}).rows, 0);
}

/// two_calls() with a per-speaker transform (LLD scales 1 and 2, functional scales 1, every
/// mean 0), its speaker statistics not set yet.
train::TrainData per_speaker_data() {
  train::TrainData d;
  d.store = two_calls();
  d.previous = features::previous_segments(d.store);
  auto& t = d.transform;
  t.norm.lld_mean = {0, 0}, t.norm.lld_std = {1, 2};
  t.norm.func_mean = {0, 0}, t.norm.func_std = {1, 1}, t.norm.func_dropped = {0, 0};
  t.speaker_normalization = "call";
  return d;
}

TEST(SpeakerNormalization, MakeBatchCentresOnTheSpeakerAndMasksSingleSegmentFunctionals) {
  train::TrainData d = per_speaker_data();
  auto& t = d.transform;
  // A batch before the statistics are set is a programming error, never unnormalised input.
  EXPECT_THROW(train::make_batch(d, {0}), std::logic_error);
  train::set_speaker_statistics(d);

  const train::Batch b = train::make_batch(d, {0, 1, 2, 3, 4, 5});
  auto frame = [&](int i, int k) {
    auto f = b.frames[i][k];
    return std::vector<float>{f[0].item<float>(), f[1].item<float>()};
  };
  EXPECT_EQ(frame(0, 0), (std::vector<float>{-2, 0}));  // (1 - 3) / 1, (10 - 10) / 2
  EXPECT_EQ(frame(0, 1), (std::vector<float>{0, 0}));
  EXPECT_EQ(frame(2, 0), (std::vector<float>{2, 0}));
  EXPECT_EQ(frame(1, 0), (std::vector<float>{0, 0}));  // a speaker with one segment: centred
  EXPECT_EQ(frame(3, 0), (std::vector<float>{0, 0}));  //   on itself, never NaN
  EXPECT_EQ(frame(5, 0), (std::vector<float>{0, 0}));  // silence: zero deviation, no NaN
  EXPECT_EQ(b.frame_len[4].item<int64_t>(), 0);
  EXPECT_TRUE(torch::isfinite(b.frames).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(b.functionals).all().item<bool>());
  // Functionals: centred where at least two of the speaker's segments define them.
  EXPECT_FLOAT_EQ(b.functionals[0][0].item<float>(), -2);  // 5 - 7
  EXPECT_FLOAT_EQ(b.functionals[2][0].item<float>(), 2);   // 9 - 7
  EXPECT_EQ(b.func_mask[0][0].item<float>(), 1);
  for (int i : {0, 1, 3, 5})  // defined by one segment only (or none): masked, value 0
    for (int c : {0, 1}) {
      if (i == 0 && c == 0) continue;
      EXPECT_EQ(b.func_mask[i][c].item<float>(), 0) << i << "," << c;
      EXPECT_EQ(b.functionals[i][c].item<float>(), 0) << i << "," << c;
    }

  // Without the option the same rows read the training statistics, unchanged.
  t.speaker_normalization = "none";
  train::set_speaker_statistics(d);
  EXPECT_EQ(d.speaker.rows, 0);
  const train::Batch plain = train::make_batch(d, {0});
  EXPECT_FLOAT_EQ(plain.frames[0][0][1].item<float>(), 5);  // 10 / 2
  EXPECT_FLOAT_EQ(plain.functionals[0][1].item<float>(), 7);
}

TEST(SpeakerNormalization, AnAugmentedRowIsCentredOnItsSpeakersTurnsThroughTheSameChannel) {
  train::TrainData d = per_speaker_data();
  train::set_speaker_statistics(d);
  // Row 0 through a channel that lifts the loudness column by 20 under all of call a's
  // customer turns (rows 0 and 2), as augment's speaker channel gives it.
  features::RowFeatures row0;
  row0.frames = {1, 30, 3, 30}, row0.functionals = {5, 7}, row0.mask = {1, 1};
  train::AugmentedRows augmented{{0, row0}};
  // Without the sums of its speaker's turns it is a programming error, never the clean means.
  EXPECT_THROW(train::make_batch(d, {0}, &augmented), std::logic_error);
  auto sums = std::make_shared<features::SpeakerSums>();
  sums->add(row0.frames.data(), 2, 2, row0.functionals.data(), row0.mask.data(), 2);
  const std::vector<float> row2_frames = {5, 30}, row2_functionals = {9, 0};
  const std::vector<uint8_t> row2_mask = {1, 0};
  sums->add(row2_frames.data(), 1, 2, row2_functionals.data(), row2_mask.data(), 2);
  augmented[0].speaker = sums;
  // The channel's lift cancels: the row reads as it does clean. Centred on the clean store's
  // speaker means, its loudness would read (30 - 10) / 2 = 10 instead of 0.
  const train::Batch moved = train::make_batch(d, {0}, &augmented);
  const train::Batch clean = train::make_batch(d, {0});
  EXPECT_TRUE(torch::equal(moved.frames, clean.frames)) << moved.frames << clean.frames;
  EXPECT_TRUE(torch::equal(moved.functionals, clean.functionals));
  EXPECT_TRUE(torch::equal(moved.func_mask, clean.func_mask));
  // A row of the batch that is not augmented keeps the store's statistics.
  const train::Batch mixed = train::make_batch(d, {0, 2}, &augmented);
  EXPECT_FLOAT_EQ(mixed.frames[1][0][0].item<float>(), 2);  // (5 - 3) / 1
}

TEST(SpeakerNormalization, TheTransformRecordsItAndOlderTransformsReadNone) {
  train::InputTransform t;
  t.norm.lld_mean = {0}, t.norm.lld_std = {1};
  t.norm.func_mean = {0}, t.norm.func_std = {1}, t.norm.func_dropped = {0};
  t.speaker_normalization = "call";
  json j = t.to_json();
  EXPECT_EQ(j.at("speaker_normalization"), "call");
  EXPECT_TRUE(train::InputTransform::from_json(j, "f").per_speaker());
  j.erase("speaker_normalization");  // a bundle (or run of format 3) from before the key
  EXPECT_EQ(train::InputTransform::from_json(j, "f").speaker_normalization, "none");
  j["speaker_normalization"] = "speaker";
  try {
    train::InputTransform::from_json(j, "bundle/input_transform.json");
    FAIL() << "an unknown speaker_normalization was read";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bundle/input_transform.json: `speaker_normalization` is "
                                    "\"speaker\", not none or call"));
  }
}

}  // namespace
}  // namespace tenor::test
