#include <gtest/gtest.h>

#include <cmath>

#include "data/features/functionals.h"

namespace tenor::features {
namespace {

/// A table with the columns functionals read, 10 ms hop.
LldTable table(int frames) {
  LldTable t;
  t.columns = {"f0_hz", "voiced", "intensity_db", "loudness", "hnr_db"};
  for (int k = 0; k < frames; ++k) t.time_s.push_back((k + 0.5) * 0.01);
  t.values.assign(size_t(frames) * t.columns.size(), 0.0f);
  return t;
}

void set(LldTable& t, int frame, const std::string& col, float v) {
  t.values[size_t(frame) * t.columns.size() + t.column(col)] = v;
}

float value(const std::vector<std::string>& names, const std::vector<float>& v,
            const std::string& name) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return v[i];
  ADD_FAILURE() << "no functional " << name;
  return NAN;
}

TEST(Functionals, SyllablesFromText) {
  EXPECT_EQ(count_syllables("hello world"), 3);
  EXPECT_EQ(count_syllables("make the table"), 4);  // make(1) the(1) ta-ble(2)
  EXPECT_EQ(count_syllables("I'm waiting!"), 3);
  EXPECT_EQ(count_syllables("42"), 2);
  EXPECT_EQ(count_syllables("..."), 0);
}

TEST(Functionals, PitchLoudnessPausesAndRates) {
  // 2 s: voiced 110 Hz rising to 220 Hz over the first second, a 400 ms pause at
  // 1.2-1.6 s (intensity 30 dB under 70 dB), unvoiced elsewhere.
  LldTable t = table(200);
  for (int k = 0; k < 200; ++k) {
    bool pause = k >= 120 && k < 160;
    set(t, k, "intensity_db", pause ? 40.0f : 70.0f);
    set(t, k, "loudness", pause ? 0.1f : 1.0f);
    if (k < 100) {
      set(t, k, "voiced", 1);
      set(t, k, "f0_hz", float(110.0 * std::pow(2.0, k / 99.0)));
      set(t, k, "hnr_db", 10);
    }
  }
  SegmentInfo info{10.0, 12.0, std::string("hello world again"), 0.5, 0.25};
  std::vector<float> v;
  std::vector<uint8_t> m;
  segment_functionals(t, info, {}, v, m);
  auto names = functional_names(t);
  ASSERT_EQ(v.size(), names.size());
  ASSERT_EQ(m.size(), names.size());
  for (float x : v) EXPECT_TRUE(std::isfinite(x));
  // F0 in semitones re 27.5 Hz: 110 Hz = 24 st, 220 Hz = 36 st; a linear ramp in st.
  EXPECT_NEAR(value(names, v, "f0_st_mean"), 30.0, 0.01);
  EXPECT_NEAR(value(names, v, "f0_st_p50"), 30.0, 0.07);
  EXPECT_NEAR(value(names, v, "f0_st_range_20_80"), 7.2, 0.01);                // 0.6 of 12 st
  EXPECT_NEAR(value(names, v, "f0_st_rising_slope_mean"), 12.0 / 0.99, 0.01);  // st per second
  EXPECT_EQ(value(names, v, "f0_st_falling_slope_mean"), 0.0f);
  EXPECT_NEAR(value(names, v, "voiced_share"), 0.5, 1e-6);
  EXPECT_NEAR(value(names, v, "voiced_region_mean_s"), 1.0, 1e-6);
  EXPECT_NEAR(value(names, v, "pause_count"), 1, 0);
  EXPECT_NEAR(value(names, v, "pause_share"), 0.4 / 2.0, 1e-6);
  EXPECT_EQ(value(names, v, "syllables"), 5.0f);  // hel-lo world a-gain
  EXPECT_EQ(value(names, v, "syllables_from_text"), 1.0f);
  EXPECT_NEAR(value(names, v, "speaking_rate_syl_per_s"), 2.5, 1e-6);
  EXPECT_NEAR(value(names, v, "articulation_rate_syl_per_s"), 5.0 / 1.6, 1e-5);
  EXPECT_NEAR(value(names, v, "gap_to_other_s"), 0.5, 1e-6);
  EXPECT_NEAR(value(names, v, "overlap_with_other_s"), 0.25, 1e-6);
  EXPECT_NEAR(value(names, v, "loudness_cv"), std::sqrt(0.2 * 0.8) * 0.9 / 0.82, 1e-4);
}

TEST(Functionals, SilentOrEmptySegmentsAreMaskedNotNaN) {
  for (int frames : {0, 1, 5}) {
    LldTable t = table(frames);
    for (int k = 0; k < frames; ++k) set(t, k, "intensity_db", 0);
    std::vector<float> v;
    std::vector<uint8_t> m;
    segment_functionals(t, {0, 0.05, std::nullopt, std::nullopt, 0}, {}, v, m);
    auto names = functional_names(t);
    for (size_t i = 0; i < v.size(); ++i) EXPECT_TRUE(std::isfinite(v[i])) << names[i];
    EXPECT_EQ(m[0], 0) << "f0 mean must be masked without voiced frames";
    EXPECT_EQ(value(names, v, "gap_to_other_s"), 0.0f);
  }
}

// A functional follows the level when its source LLD does and its statistic keeps it (not
// the coefficient of variation); loudness_peaks_per_s keeps loudness's mark (see
// functionals.cpp). These are the functionals normalize_loudness hides.
TEST(Functionals, LevelMarksFollowTheSourceLldAndTheStatistic) {
  auto level = [](const std::vector<FunctionalColumn>& columns) {
    std::vector<std::string> out;
    for (const auto& c : columns)
      if (c.level_dependent) out.push_back(c.name);
    return out;
  };
  const auto columns = functional_columns(lld_columns(LldConfig{}));
  EXPECT_EQ(level(columns),
            (std::vector<std::string>{"loudness_mean", "loudness_p20", "loudness_p50",
                                      "loudness_p80", "loudness_range_20_80",
                                      "loudness_rising_slope_mean",
                                      "loudness_falling_slope_mean", "intensity_db_mean",
                                      "loudness_peaks_per_s"}));
  EXPECT_EQ(level(relative_columns()), std::vector<std::string>{});
  LldTable layout;
  layout.columns = lld_column_names(LldConfig{});
  std::vector<std::string> names;
  for (const auto& c : columns) names.push_back(c.name);
  EXPECT_EQ(names, functional_names(layout));
  // The marks come from the LLD marks, not the names: mark f0 and unmark loudness.
  const auto swapped =
      functional_columns({{"f0_hz", true}, {"voiced", false}, {"loudness", false}});
  EXPECT_EQ(level(swapped),
            (std::vector<std::string>{"f0_st_mean", "f0_st_p20", "f0_st_p50", "f0_st_p80",
                                      "f0_st_range_20_80", "f0_st_rising_slope_mean",
                                      "f0_st_falling_slope_mean"}));
}

TEST(Functionals, RelativeToTheSpeakersEarlierSpeech) {
  std::vector<std::string> names = {"f0_st_mean", "loudness_mean"};
  std::vector<float> a = {30, 1}, b = {32, 3}, now = {35, 2};
  std::vector<uint8_t> ma = {1, 1}, mb = {1, 0}, mnow = {1, 1};
  std::vector<float> values = now;
  std::vector<uint8_t> mask = mnow;
  append_relative_to_baseline(names, {&a, &b}, {&ma, &mb}, values, mask);
  auto rel = relative_names();
  ASSERT_EQ(values.size(), 2 + rel.size());
  EXPECT_EQ(rel[0], "rel_f0_st_mean");
  EXPECT_FLOAT_EQ(values[2], 35 - 31);  // minus the mean of 30 and 32
  EXPECT_FLOAT_EQ(values[4], 2 - 1);    // b's loudness is masked: only a counts
  EXPECT_EQ(mask[2], 1);
  std::vector<float> first = now;
  std::vector<uint8_t> first_mask = mnow;
  append_relative_to_baseline(names, {}, {}, first, first_mask);
  EXPECT_EQ(first_mask[2], 0);  // no earlier speech: undefined
}

}  // namespace
}  // namespace tenor::features
