// The real public sets in ../shared/data must validate with no errors.
// Skipped when ../shared/data is absent (e.g. a clone without the shared folder).
#include <gtest/gtest.h>

#include "data/audio.h"
#include "data/duplicates.h"
#include "data/stats.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

class RealdataValidate : public testing::TestWithParam<std::string> {};

TEST_P(RealdataValidate, NoErrors) {
  std::string shared = shared_data_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared/data is absent";
  fs::path dir = fs::path(shared) / GetParam();
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is absent";
  auto result = data::validate_dataset(dir);
  EXPECT_EQ(result.diagnostics.error_count(), 0u) << result.diagnostics.to_text();
  EXPECT_GT(result.dataset.calls.size(), 100u);
  auto stats = data::dataset_stats(result.dataset, {100, 1, false});
  EXPECT_GT(stats["tasks"].size(), 0u);
}

// Real speech: a RAVDESS clip re-encoded (FLAC, 16 kHz, 6 dB quieter) matches itself, the second
// take of the same sentence by the same actor in the same emotion does not.
TEST(RealdataDuplicates, FingerprintMatchesACopyNotAnotherTake) {
  std::string shared = shared_data_dir();
  const fs::path actor = fs::path(shared) / "ravdess-anger/audio/Actor_01";
  if (shared.empty() || !fs::exists(actor)) GTEST_SKIP() << "ravdess-anger is absent";
  const fs::path take1 = actor / "03-01-05-01-01-01-01.wav";
  const fs::path take2 = actor / "03-01-05-01-01-02-01.wav";
  if (!fs::exists(take1) || !fs::exists(take2)) GTEST_SKIP() << "the two takes are absent";
  data::AudioReader reader(take1);
  auto samples = reader.read(0, reader.info().duration_s(), -1, 16000);
  for (auto& x : samples) x *= 0.5f;
  const fs::path copy = make_temp_dir("realdata-fingerprint") / "copy.flac";
  data::write_audio(copy, samples, 1, 16000);
  auto a = data::audio_fingerprint(take1);
  EXPECT_GE(a.changing_frames, data::kMinFingerprintFrames);
  EXPECT_LE(data::fingerprint_bit_errors(a, data::audio_fingerprint(copy), 0), 0.1);
  EXPECT_GT(data::fingerprint_bit_errors(a, data::audio_fingerprint(take2), 0),
            data::kAudioMatchBitErrors + 0.1);
}

INSTANTIATE_TEST_SUITE_P(SharedSets, RealdataValidate,
                         testing::Values("ravdess-anger", "epitome-empathy", "meld-anger"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (auto& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace tenor::test
