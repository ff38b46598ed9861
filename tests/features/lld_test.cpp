// Unit tests of the frame-level LLDs on synthetic signals with known answers.
// Every assertion states its tolerance.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numbers>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/features/lld.h"
#include "data/features/lld_table.h"
#include "tests/features/signals.h"

namespace tenor::test {
namespace {

using features::LldConfig;
using features::LldTable;

struct PitchScore {
  int evaluated = 0;     ///< frames where the truth is voiced (away from edges and jumps)
  int voiced = 0;        ///< of those, frames called voiced
  int gross_errors = 0;  ///< of those, |f0 - truth| > 20% of truth
  double gpe() const { return voiced ? double(gross_errors) / voiced : 1.0; }
  double recall() const { return evaluated ? double(voiced) / evaluated : 0.0; }
  void add(const PitchScore& o) {
    evaluated += o.evaluated;
    voiced += o.voiced;
    gross_errors += o.gross_errors;
  }
};

/// Scores frames whose centre is >= `margin_s` from the ends and from any time in `skip_s`.
PitchScore score_pitch(const LldTable& table, const Contour& truth, double seconds,
                       std::vector<double> skip_s = {}, double margin_s = 0.05) {
  PitchScore s;
  const size_t f0 = table.column("f0_hz"), voiced = table.column("voiced");
  for (int64_t k = 0; k < table.frames(); ++k) {
    const double t = table.time_s[k];
    if (t < margin_s || t > seconds - margin_s) continue;
    if (std::any_of(skip_s.begin(), skip_s.end(), [&](double j) { return std::abs(t - j) < 0.03; }))
      continue;
    ++s.evaluated;
    if (table.at(k, voiced) < 0.5f) continue;
    ++s.voiced;
    const double ref = truth(t);
    if (std::abs(table.at(k, f0) - ref) > 0.2 * ref) ++s.gross_errors;
  }
  return s;
}

void expect_all_finite(const LldTable& table, const std::string& what) {
  for (size_t i = 0; i < table.values.size(); ++i) {
    ASSERT_TRUE(std::isfinite(table.values[i]))
        << what << ": column " << table.columns[i % table.columns.size()] << " frame "
        << i / table.columns.size() << " is " << table.values[i];
  }
}

struct ContourCase {
  const char* name;
  Contour f0;
  std::vector<double> jumps_s;
};

std::vector<ContourCase> contours() {
  const double pi = std::numbers::pi;
  return {
      {"steady_120", [](double) { return 120.0; }, {}},
      {"glide_100_300", [](double t) { return 100.0 * std::pow(3.0, t / 1.5); }, {}},
      {"octave_jump_150_300", [](double t) { return t < 0.75 ? 150.0 : 300.0; }, {0.75}},
      {"vibrato_200_5hz_3pct",
       [pi](double t) { return 200.0 * (1.0 + 0.03 * std::sin(2 * pi * 5.0 * t)); },
       {}},
      {"low_80", [](double) { return 80.0; }, {}},
      {"high_450", [](double) { return 450.0; }, {}},
  };
}

enum class Channel { kClean, kNoise20, kTelephoneNoise20 };

PitchScore score_condition(Channel channel) {
  constexpr double kSeconds = 1.5;
  PitchScore total;
  for (const auto& c : contours()) {
    LldConfig config;
    if (channel == Channel::kTelephoneNoise20) config.sample_rate_hz = 8000;
    auto x = harmonic_signal(c.f0, kSeconds, config.sample_rate_hz);
    if (channel == Channel::kTelephoneNoise20) band_limit(x, config.sample_rate_hz, 300, 3400);
    if (channel != Channel::kClean) add_noise(x, 20.0);
    auto table = features::compute_lld(x, config);
    auto s = score_pitch(table, c.f0, kSeconds, c.jumps_s);
    EXPECT_GT(s.evaluated, 100) << c.name;
    // Per contour: at most 2 gross errors (the condition-wide bound below is the target).
    EXPECT_LE(s.gross_errors, 2) << c.name << ": " << s.gross_errors << " gross errors of "
                                 << s.voiced;
    EXPECT_GE(s.recall(), 0.95) << c.name << ": voiced " << s.voiced << " of " << s.evaluated;
    total.add(s);
  }
  std::cout << "condition " << int(channel) << ": " << total.gross_errors << " gross errors in "
            << total.voiced << " voiced frames (GPE " << 100 * total.gpe() << "%), recall "
            << 100 * total.recall() << "%\n";
  return total;
}

TEST(LldPitch, CleanHarmonicsGpeAtMostOnePercent) {
  auto s = score_condition(Channel::kClean);
  EXPECT_LE(s.gpe(), 0.01) << s.gross_errors << " of " << s.voiced;
  EXPECT_GE(s.recall(), 0.98) << s.voiced << " of " << s.evaluated;
}

TEST(LldPitch, WhiteNoise20DbGpeAtMostOnePercent) {
  auto s = score_condition(Channel::kNoise20);
  EXPECT_LE(s.gpe(), 0.01) << s.gross_errors << " of " << s.voiced;
  EXPECT_GE(s.recall(), 0.97) << s.voiced << " of " << s.evaluated;
}

TEST(LldPitch, TelephoneBand8kHzNoise20DbGpeAtMostOnePercent) {
  auto s = score_condition(Channel::kTelephoneNoise20);
  EXPECT_LE(s.gpe(), 0.01) << s.gross_errors << " of " << s.voiced;
  EXPECT_GE(s.recall(), 0.95) << s.voiced << " of " << s.evaluated;
}

TEST(LldPitch, SteadyF0WithinHalfPercent) {
  LldConfig config;
  auto x = harmonic_signal([](double) { return 200.0; }, 1.0, config.sample_rate_hz);
  auto table = features::compute_lld(x, config);
  const size_t f0 = table.column("f0_hz");
  for (int64_t k = 5; k < table.frames() - 5; ++k)
    EXPECT_NEAR(table.at(k, f0), 200.0, 1.0) << "frame " << k << " (tolerance 0.5%)";
}

TEST(LldPitch, NoVoicingOnNoiseOrSilence) {
  LldConfig config;
  auto noise = white_noise(config.sample_rate_hz * 3, 0.1, 11);
  auto table = features::compute_lld(noise, config);
  const size_t voiced = table.column("voiced");
  int n_voiced = 0;
  for (int64_t k = 0; k < table.frames(); ++k) n_voiced += table.at(k, voiced) > 0.5f;
  EXPECT_LE(n_voiced, table.frames() / 100) << "white noise: voiced frames (tolerance 1%)";

  std::vector<float> silence(config.sample_rate_hz, 0.0f);
  auto st = features::compute_lld(silence, config);
  for (int64_t k = 0; k < st.frames(); ++k)
    EXPECT_EQ(st.at(k, voiced), 0.0f) << "silence frame " << k;
  expect_all_finite(st, "silence");
}

TEST(LldIntensity, SineMatchesTheoryWithinTenthDb) {
  // Praat's intensity of a sine of amplitude A: 10 log10((A^2 / 2) / 4e-10) dB.
  LldConfig config;
  for (double amplitude : {0.01, 0.1, 0.5}) {
    auto x = sine(1000.0, amplitude, 1.0, config.sample_rate_hz);
    auto table = features::compute_lld(x, config);
    const double theory = 10 * std::log10(amplitude * amplitude / 2 / 4e-10);
    const size_t db = table.column("intensity_db");
    for (int64_t k = 0; k < table.frames(); ++k) {
      if (table.time_s[k] < 0.05 || table.time_s[k] > 0.95) continue;  // full windows only
      EXPECT_NEAR(table.at(k, db), theory, 0.1) << "A = " << amplitude << ", frame " << k;
    }
  }
}

TEST(LldSpectral, SineBandsAndRatios) {
  LldConfig config;
  auto column_median = [](const LldTable& t, const std::string& name) {
    std::vector<float> v;
    const size_t c = t.column(name);
    for (int64_t k = 5; k < t.frames() - 5; ++k) v.push_back(t.at(k, c));
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return double(v[v.size() / 2]);
  };
  // Log-mel peak band: the band whose centre is nearest 1 kHz (HTK mel, 26 bands 20-8000 Hz).
  auto x = sine(1000.0, 0.3, 1.0, config.sample_rate_hz);
  auto t = features::compute_lld(x, config);
  int best = 0;
  double best_v = -1e30;
  for (int m = 0; m < config.mel_bands; ++m) {
    double v = column_median(t, "logmel_" + std::to_string(m));
    if (v > best_v) best_v = v, best = m;
  }
  auto mel = [](double f) { return 2595.0 * std::log10(1.0 + f / 700.0); };
  const double step = (mel(8000) - mel(20)) / (config.mel_bands + 1);
  const int expected = int(std::lround((mel(1000) - mel(20)) / step)) - 1;
  EXPECT_NEAR(best, expected, 1) << "log-mel band of 1 kHz (tolerance one band)";
  // Alpha ratio (50-1000 Hz over 1-5 kHz): a 500 Hz sine is > +30 dB, a 2 kHz sine < -30 dB.
  EXPECT_GT(
      column_median(features::compute_lld(sine(500, 0.3, 1.0, 16000), config), "alpha_ratio_db"),
      30.0);
  EXPECT_LT(
      column_median(features::compute_lld(sine(2000, 0.3, 1.0, 16000), config), "alpha_ratio_db"),
      -30.0);
  // Hammarberg (peak 0-2 kHz over peak 2-5 kHz): 3 kHz sine < -30 dB, 1 kHz sine > +30 dB.
  EXPECT_LT(
      column_median(features::compute_lld(sine(3000, 0.3, 1.0, 16000), config), "hammarberg_db"),
      -30.0);
  EXPECT_GT(column_median(t, "hammarberg_db"), 30.0);
  // Loudness follows the cube-root power law: +20 dB gives 10^(20 * 0.33 / 10) = 4.57 x (+-5%).
  const double soft =
      column_median(features::compute_lld(sine(1000, 0.03, 1.0, 16000), config), "loudness");
  const double loud = column_median(t, "loudness");
  EXPECT_NEAR(loud / soft, std::pow(10.0, 0.66), 0.05 * std::pow(10.0, 0.66));
  // Spectral slope 0-500 Hz of a 450 Hz sine is positive, 500-1500 Hz of a 550 Hz sine negative.
  EXPECT_GT(column_median(features::compute_lld(sine(450, 0.3, 1.0, 16000), config),
                          "slope_0_500_db_per_khz"),
            0.0);
  EXPECT_LT(column_median(features::compute_lld(sine(550, 0.3, 1.0, 16000), config),
                          "slope_500_1500_db_per_khz"),
            0.0);
  // Spectral flux of a stationary sine is ~0 (< 1e-3); MFCCs of identical frames are identical
  // (1e-4).
  EXPECT_LT(column_median(t, "spectral_flux"), 1e-3);
  const size_t c1 = t.column("mfcc_1");
  EXPECT_NEAR(t.at(20, c1), t.at(60, c1), 1e-3);
}

TEST(LldVoiceQuality, HnrJitterShimmerOnKnownSignals) {
  LldConfig config;
  auto median_voiced = [](const LldTable& t, const std::string& name) {
    std::vector<float> v;
    const size_t c = t.column(name), voiced = t.column("voiced");
    for (int64_t k = 5; k < t.frames() - 5; ++k)
      if (t.at(k, voiced) > 0.5f) v.push_back(t.at(k, c));
    if (v.empty()) return -1e9;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return double(v[v.size() / 2]);
  };
  auto clean =
      features::compute_lld(harmonic_signal([](double) { return 150.0; }, 1.0, 16000), config);
  EXPECT_GT(median_voiced(clean, "hnr_db"), 30.0) << "periodic signal: HNR > 30 dB";
  EXPECT_LT(median_voiced(clean, "jitter_local"), 0.005) << "steady period: jitter < 0.5%";
  EXPECT_LT(median_voiced(clean, "shimmer_local"), 0.02) << "steady amplitude: shimmer < 2%";
  auto x = harmonic_signal([](double) { return 150.0; }, 1.0, 16000);
  add_noise(x, 10.0);
  auto noisy = features::compute_lld(x, config);
  // HNR ~ SNR for white noise [Boersma 1993]; 10 dB +- 3 dB.
  EXPECT_NEAR(median_voiced(noisy, "hnr_db"), 10.0, 3.0);
}

TEST(LldRobustness, BadInputsGiveFiniteValuesAndConsistentFrames) {
  LldConfig config;
  const int rate = config.sample_rate_hz;
  struct Case {
    std::string name;
    std::vector<float> x;
  };
  std::vector<Case> cases;
  cases.push_back({"silence", std::vector<float>(rate, 0.0f)});
  auto clipped = harmonic_signal([](double) { return 140.0; }, 1.0, rate, 3.0);
  for (auto& v : clipped) v = std::clamp(v, -1.0f, 1.0f);
  cases.push_back({"clipped", clipped});
  auto dc = harmonic_signal([](double) { return 140.0; }, 1.0, rate, 0.3);
  for (auto& v : dc) v += 0.5f;
  cases.push_back({"dc_offset", dc});
  cases.push_back({"full_scale_dc", std::vector<float>(rate, 1.0f)});
  cases.push_back({"empty", {}});
  cases.push_back({"one_sample", {0.5f}});
  cases.push_back({"short_50ms", harmonic_signal([](double) { return 200.0; }, 0.05, rate)});
  cases.push_back({"short_99ms", harmonic_signal([](double) { return 200.0; }, 0.099, rate)});
  auto impulse = std::vector<float>(rate / 2, 0.0f);
  impulse[1000] = 1.0f;
  cases.push_back({"impulse", impulse});
  auto long_x =
      harmonic_signal([](double t) { return 120.0 + 30.0 * std::sin(t); }, 60.0, rate, 0.3);
  add_noise(long_x, 15.0);
  cases.push_back({"long_60s", long_x});
  for (const auto& c : cases) {
    auto table = features::compute_lld(c.x, config);
    EXPECT_EQ(table.frames(), features::lld_frame_count(int64_t(c.x.size()), config)) << c.name;
    EXPECT_EQ(table.frames(), int64_t((c.x.size() + 159) / 160))
        << c.name << ": ceil(n / hop) frames";
    expect_all_finite(table, c.name);
  }
  // Clipped and DC-offset voiced signals still track F0 (GPE <= 1%).
  for (const char* name : {"clipped", "dc_offset"}) {
    auto it =
        std::find_if(cases.begin(), cases.end(), [&](const Case& c) { return c.name == name; });
    auto s = score_pitch(
        features::compute_lld(it->x, config), [](double) { return 140.0; }, 1.0);
    EXPECT_LE(s.gpe(), 0.01) << name;
    EXPECT_GE(s.recall(), 0.95) << name;
  }
  // 8 kHz analysis.
  LldConfig narrow;
  narrow.sample_rate_hz = 8000;
  auto t8 = features::compute_lld(harmonic_signal([](double) { return 180.0; }, 1.0, 8000), narrow);
  expect_all_finite(t8, "8 kHz");
  EXPECT_LE(score_pitch(
                t8, [](double) { return 180.0; }, 1.0)
                .gpe(),
            0.01);
}

TEST(LldBatch, BatchEqualsSingleRowsAndMasksPadding) {
  LldConfig config;
  features::LldExtractor extract(config);
  auto a = harmonic_signal([](double) { return 130.0; }, 0.8, 16000);
  auto b = harmonic_signal([](double t) { return 220.0 + 40 * t; }, 0.5, 16000);
  auto batch = at::zeros({2, int64_t(a.size())});
  batch[0].copy_(at::from_blob(a.data(), {int64_t(a.size())}));
  batch[1].narrow(0, 0, int64_t(b.size())).copy_(at::from_blob(b.data(), {int64_t(b.size())}));
  batch[1]
      .narrow(0, int64_t(b.size()), int64_t(a.size() - b.size()))
      .fill_(0.7);  // garbage past the length
  auto lengths =
      at::tensor({int64_t(a.size()), int64_t(b.size())}, at::TensorOptions().dtype(at::kLong));
  auto out = extract(batch, lengths);
  ASSERT_EQ(out.lld.dim(), 3);
  EXPECT_EQ(out.lld.size(1), features::lld_frame_count(int64_t(a.size()), config));
  EXPECT_EQ(out.frame_mask[1].sum().item<int64_t>(),
            features::lld_frame_count(int64_t(b.size()), config));
  auto single = features::compute_lld(b, config);
  auto row = out.lld[1].narrow(0, 0, single.frames()).contiguous();
  auto ref = at::from_blob(single.values.data(), {single.frames(), int64_t(single.columns.size())});
  EXPECT_LT((row - ref).abs().max().item<float>(), 1e-3)
      << "batched row 1 vs alone (tolerance 1e-3)";
  EXPECT_EQ(out.lld[1]
                .narrow(0, single.frames(), out.lld.size(1) - single.frames())
                .abs()
                .sum()
                .item<float>(),
            0.0f)
      << "frames past the length are 0";
  EXPECT_TRUE(at::equal(out.voiced, out.voiced & out.frame_mask));
}

TEST(LldConfigTest, ValidateNamesTheField) {
  LldConfig c;
  EXPECT_NO_THROW(c.validate());
  c.f0_ceiling_hz = 70;
  try {
    c.validate();
    FAIL() << "ceiling below floor accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("f0_ceiling_hz"), std::string::npos) << e.what();
  }
  LldConfig n;
  n.sample_rate_hz = 1000;
  EXPECT_THROW(n.validate(), ConfigError);
  LldConfig m;
  m.mfcc_count = 26;
  EXPECT_THROW(m.validate(), ConfigError);
  EXPECT_THROW(features::LldExtractor{n}, ConfigError);
}

// Loudness normalisation removes the level of exactly these columns (train/input_transform.h
// reads the marks): intensity_db, loudness and the log-mel bands, nothing else.
TEST(LldConfigTest, LevelMarksArePinned) {
  LldConfig c;
  const auto columns = features::lld_columns(c);
  ASSERT_EQ(columns.size(), features::lld_column_names(c).size());
  std::vector<std::string> level;
  for (size_t i = 0; i < columns.size(); ++i) {
    EXPECT_EQ(columns[i].name, features::lld_column_names(c)[i]);
    if (columns[i].level_dependent) level.push_back(columns[i].name);
  }
  std::vector<std::string> want = {"intensity_db", "loudness"};
  for (int m = 0; m < c.mel_bands; ++m) want.push_back("logmel_" + std::to_string(m));
  EXPECT_EQ(level, want);
}

TEST(LldConfigTest, ColumnsAndVersionArePinned) {
  LldConfig c;
  auto names = features::lld_column_names(c);
  ASSERT_EQ(names.size(), 8u + 4u + 5u + 26u);
  EXPECT_EQ(names[0], "f0_hz");
  EXPECT_EQ(names[1], "voiced");
  EXPECT_EQ(names[3], "intensity_db");
  EXPECT_EQ(names[8], "mfcc_1");
  EXPECT_EQ(names[12], "spectral_flux");
  EXPECT_EQ(names[17], "logmel_0");
  EXPECT_STREQ(features::kFeatureSetVersion, "tenor-lld-1");
  EXPECT_DOUBLE_EQ(features::lld_frame_time_s(0, c), 0.005);
  EXPECT_DOUBLE_EQ(features::lld_frame_time_s(10, c), 0.105);
}

}  // namespace
}  // namespace tenor::test
