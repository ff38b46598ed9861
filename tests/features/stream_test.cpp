// Streamed LLDs (LldStream, AudioReader::read_blocks, stream_file_lld) against the
// whole-waveform computation, on signals several chunks of frames long.
#include <gtest/gtest.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/audio.h"
#include "data/features/lld.h"
#include "data/features/lld_table.h"
#include "tests/features/signals.h"

namespace tenor::test {
namespace {

namespace fs = std::filesystem;

/// Speech-like: voiced stretches of changing F0 (glides, a jump), pauses with faint noise,
/// a loud burst, over `seconds` at `rate_hz`.
std::vector<float> speechlike(double seconds, int rate_hz) {
  std::vector<float> x;
  const double pieces[][3] = {{1.7, 120, 180}, {0.4, 0, 0}, {2.3, 220, 140}, {0.25, 0, 0},
                              {1.1, 95, 310},  {0.8, 0, 0}, {3.1, 160, 165}, {0.5, 0, 0}};
  size_t i = 0;
  while (double(x.size()) < seconds * rate_hz) {
    const auto& p = pieces[i++ % 8];
    std::vector<float> piece;
    if (p[1] > 0) {
      const double d = p[0], a = p[1], b = p[2];
      piece = harmonic_signal([&](double t) { return a + (b - a) * t / d; }, d, rate_hz,
                              i % 3 == 0 ? 0.9 : 0.3);
    } else {
      piece = white_noise(int64_t(p[0] * rate_hz), 0.002, i);
    }
    x.insert(x.end(), piece.begin(), piece.end());
  }
  x.resize(size_t(seconds * rate_hz));
  return x;
}

/// Max |a - b| / (1 + |b|) over two tables of the same shape; 1e30 (fails every tolerance)
/// when the shapes differ.
double max_rel_diff(const features::LldTable& a, const features::LldTable& b) {
  if (a.values.size() != b.values.size() || a.columns != b.columns) return 1e30;
  double worst = 0;
  for (size_t i = 0; i < a.values.size(); ++i)
    worst = std::max(worst,
                     std::fabs(double(a.values[i]) - b.values[i]) / (1 + std::fabs(b.values[i])));
  return worst;
}

features::LldTable streamed(const std::vector<float>& x, const features::LldConfig& config,
                            int64_t block, int64_t max_open = 1 << 15) {
  features::WaveformStats stats;
  stats.add(x.data(), int64_t(x.size()));
  features::LldStream stream(config, stats, max_open);
  std::vector<at::Tensor> rows;
  for (size_t at = 0; at < x.size(); at += size_t(block))
    rows.push_back(stream.push(x.data() + at, std::min<int64_t>(block, int64_t(x.size() - at))));
  rows.push_back(stream.finish());
  auto all = at::cat(rows, 0).contiguous();
  features::LldTable t;
  t.columns = features::lld_column_names(config);
  t.values.assign(all.data_ptr<float>(), all.data_ptr<float>() + all.numel());
  t.time_s.resize(size_t(all.size(0)));
  EXPECT_EQ(stream.frames_out(), all.size(0));
  EXPECT_EQ(stream.forced_decisions(), 0);
  return t;
}

// The stream equals the whole-waveform extractor (tolerance 1e-5 relative: the silence
// reference's mean is summed in double by the stream and in float by the extractor; in
// practice the output is identical), whatever the block size, on 37 s = 4 chunks of frames.
TEST(LldStream, EqualsTheWholeWaveformOnASignalSeveralChunksLong) {
  features::LldConfig config;
  auto x = speechlike(37.3, 16000);
  auto whole = features::compute_lld(x, config);
  ASSERT_EQ(whole.frames(), 3730);
  for (int64_t block : {int64_t(12345), int64_t(160000), int64_t(x.size())}) {
    auto s = streamed(x, config, block);
    ASSERT_EQ(s.frames(), whole.frames()) << "block " << block;
    EXPECT_LE(max_rel_diff(s, whole), 1e-5) << "block " << block;
    const size_t voiced = whole.column("voiced");
    int64_t differ = 0;
    for (int64_t k = 0; k < whole.frames(); ++k) differ += s.at(k, voiced) != whole.at(k, voiced);
    EXPECT_EQ(differ, 0) << "block " << block;
  }
}

// At 8 kHz with another hop, and shorter than one chunk.
TEST(LldStream, EqualsTheWholeWaveformAtAnotherRateAndForShortInputs) {
  features::LldConfig config;
  config.sample_rate_hz = 8000;
  config.frame_shift_ms = 5;
  for (double seconds : {0.004, 0.9, 11.0}) {
    auto x = speechlike(seconds, 8000);
    auto whole = features::compute_lld(x, config);
    auto s = streamed(x, config, 999);
    ASSERT_EQ(s.frames(), whole.frames()) << seconds << " s";
    EXPECT_LE(max_rel_diff(s, whole), 1e-5) << seconds << " s";
  }
}

TEST(LldStream, RefusesMoreOrFewerSamplesThanAnnounced) {
  features::LldConfig config;
  auto x = speechlike(2, 16000);
  features::WaveformStats stats;
  stats.add(x.data(), 1000);
  features::LldStream more(config, stats);
  EXPECT_THROW(more.push(x.data(), 1001), DataError);
  features::LldStream fewer(config, stats);
  fewer.push(x.data(), 999);
  EXPECT_THROW(fewer.finish(), DataError);
}

fs::path temp_wav(const std::string& name, const std::vector<float>& interleaved, int channels,
                  int rate_hz) {
  fs::path dir = fs::temp_directory_path() / ("tenor-stream-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  fs::path path = dir / name;
  data::write_audio(path, interleaved, channels, rate_hz);
  return path;
}

// Streamed resampling (soxr fed block by block) gives read()'s samples (one-shot soxr).
TEST(AudioReaderBlocks, EqualReadWithAndWithoutResampling) {
  auto left = speechlike(13.1, 44100), right = white_noise(int64_t(left.size()), 0.1, 3);
  std::vector<float> stereo;
  for (size_t i = 0; i < left.size(); ++i) stereo.insert(stereo.end(), {left[i], right[i]});
  auto path = temp_wav("blocks.wav", stereo, 2, 44100);
  data::AudioReader reader(path);
  for (int rate : {16000, 8000, 0})
    for (int channel : {-1, 1}) {
      auto whole = reader.read(0.37, 12.9, channel, rate);
      std::vector<float> blocks;
      reader.read_blocks(0.37, 12.9, channel, rate,
                         [&](const float* p, size_t n) { blocks.insert(blocks.end(), p, p + n); });
      ASSERT_EQ(blocks.size(), whole.size()) << rate << " Hz, channel " << channel;
      double worst = 0;
      for (size_t i = 0; i < whole.size(); ++i)
        worst = std::max(worst, std::fabs(double(blocks[i]) - whole[i]));
      EXPECT_LE(worst, 1e-6) << rate << " Hz, channel " << channel;
    }
}

// Telephone audio (8 kHz) is upsampled to the extractor's 16 kHz: streamed equals one-shot.
TEST(AudioReaderBlocks, EqualReadWhenUpsamplingTelephoneAudio) {
  auto path = temp_wav("phone.wav", speechlike(9.3, 8000), 1, 8000);
  data::AudioReader reader(path);
  auto whole = reader.read(0.21, 9.0, -1, 16000);
  std::vector<float> blocks;
  reader.read_blocks(0.21, 9.0, -1, 16000,
                     [&](const float* p, size_t n) { blocks.insert(blocks.end(), p, p + n); });
  ASSERT_EQ(blocks.size(), whole.size());
  double worst = 0;
  for (size_t i = 0; i < whole.size(); ++i)
    worst = std::max(worst, std::fabs(double(blocks[i]) - whole[i]));
  EXPECT_LE(worst, 1e-6);
}

// `tenor features`' path: a 44.1 kHz file resampled and streamed equals compute_lld of the
// whole range read at once.
TEST(StreamFileLld, EqualsTheWholeRangeOfAResampledFile) {
  auto x = speechlike(31.0, 44100);
  auto path = temp_wav("file.wav", x, 1, 44100);
  features::LldConfig config;
  features::AudioRange range{1.25, 29.5, -1};
  data::AudioReader reader(path);
  auto whole = features::compute_lld(reader.read(1.25, 29.5, -1, 16000), config);
  std::vector<int64_t> sizes;
  auto file = features::compute_file_lld(path, range, config);
  features::stream_file_lld(path, range, config, 0,
                            [&](const features::LldTable& t) { sizes.push_back(t.frames()); });
  ASSERT_EQ(file.frames(), whole.frames());
  EXPECT_LE(max_rel_diff(file, whole), 1e-5);
  EXPECT_GT(sizes.size(), 1u);  // output as it goes, not at the end
  for (int64_t k = 0; k < file.frames(); ++k)
    ASSERT_NEAR(file.time_s[size_t(k)], features::lld_frame_time_s(k, config), 1e-9);
}

}  // namespace
}  // namespace tenor::test
