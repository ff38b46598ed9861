#include <gtest/gtest.h>

#include <cmath>

#include "data/audio.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

TEST(Audio, ProbeScanAndLazyRangeRead) {
  fs::path dir = make_temp_dir("audio");
  write_tone(dir / "a.wav", 2.0, 16000, 2, 0.5);
  auto info = data::probe_audio(dir / "a.wav");
  EXPECT_EQ(info.sample_rate_hz, 16000);
  EXPECT_EQ(info.channels, 2);
  EXPECT_NEAR(info.duration_s(), 2.0, 1e-9);
  auto scan = data::scan_audio(dir / "a.wav");
  EXPECT_FALSE(scan.truncated);
  EXPECT_EQ(scan.frames_read, 32000);
  // Channel c has amplitude 0.5 * (1 + c) / 2; a sine's RMS is A / sqrt(2). Tolerance: PCM16
  // rounding.
  EXPECT_NEAR(scan.channel_rms[0], 0.25 / std::sqrt(2.0), 1e-3);
  EXPECT_NEAR(scan.channel_rms[1], 0.5 / std::sqrt(2.0), 1e-3);

  data::AudioReader reader(dir / "a.wav");
  auto right = reader.read(0.5, 1.0, 1);
  ASSERT_EQ(right.size(), 8000u);
  double peak = 0;
  for (float x : right) peak = std::max(peak, double(std::fabs(x)));
  EXPECT_NEAR(peak, 0.5, 2e-3);
  auto resampled = reader.read(0.5, 1.0, 0, 8000);
  EXPECT_NEAR(double(resampled.size()), 4000.0, 1.0);
  EXPECT_THROW(reader.read(0, 1, 2), DataError);
  auto past_end = reader.read(1.5, 5.0, 0);
  EXPECT_EQ(past_end.size(), 8000u);  // clamped to the file
}

TEST(Audio, SamplesInMemoryReadAsTheFileHoldingThem) {
  // A product's samples (data::PcmView) read, mixed and resampled exactly as a WAV of them;
  // audio a stream dropped is refused.
  fs::path dir = make_temp_dir("audio-pcm");
  write_tone(dir / "a.wav", 1.5, 8000, 2, 0.5);
  data::AudioReader file(dir / "a.wav");
  std::vector<float> left = file.read(0, 2, 0), right = file.read(0, 2, 1);
  data::PcmView pcm;
  pcm.sample_rate_hz = 8000;
  pcm.frames = int64_t(left.size());
  pcm.channels = {left.data(), right.data()};
  data::AudioReader memory(pcm);
  EXPECT_EQ(memory.info().frames, file.info().frames);
  for (int channel : {0, 1, -1}) {
    EXPECT_EQ(memory.read(0.25, 1.1, channel, 16000), file.read(0.25, 1.1, channel, 16000));
    EXPECT_EQ(memory.read(0.3, 0.9, channel), file.read(0.3, 0.9, channel));
  }
  data::PcmView tail = pcm;
  tail.first_frame = 4000;
  tail.frames -= 4000;
  tail.channels = {left.data() + 4000, right.data() + 4000};
  data::AudioReader late(tail);
  EXPECT_EQ(late.read(0.6, 1.2, 1), file.read(0.6, 1.2, 1));
  const std::string why = thrown_message<DataError>([&] { late.read(0.2, 1.0, 1); });
  EXPECT_NE(why.find("no longer held"), std::string::npos) << why;
}

TEST(Audio, ClearErrors) {
  fs::path dir = make_temp_dir("audio-errors");
  try {
    data::probe_audio(dir / "nope.wav");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos);
  }
  EXPECT_THROW(data::probe_audio(dir), DataError);
}

}  // namespace
}  // namespace tenor::test
