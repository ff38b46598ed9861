// The mel filterbanks of data/spectrum.h: Slaney's, with equal areas, as librosa (and so
// transformers' WhisperFeatureExtractor) makes them, values pinned from transformers 5.23's
// mel_filter_bank; HTK's, as the LLDs use them.
#include <gtest/gtest.h>

#include <algorithm>

#include "data/spectrum.h"

namespace tenor::data {
namespace {

TEST(MelFilters, SlaneyWithEqualAreasIsLibrosas) {
  // Whisper's: a 400-point FFT at 16 kHz, 80 bands from 0 to 8000 Hz.
  const MelFilters f = mel_filters(400, 16000, 80, 0, 8000, MelScale::slaney, true);
  ASSERT_EQ(f.weights.size(), 201u * 80u);
  auto at = [&](size_t bin, size_t band) { return f.weights[bin * 80 + band]; };
  EXPECT_NEAR(at(1, 0), 0.024862593984176087, 1e-12);
  EXPECT_NEAR(at(2, 1), 0.022871772096078023, 1e-12);
  EXPECT_NEAR(at(42, 40), 0.005411105098683169, 1e-12);
  EXPECT_NEAR(at(43, 40), 0.014735565741439168, 1e-12);
  EXPECT_NEAR(at(44, 40), 0.0065181896946609275, 1e-12);
  EXPECT_EQ(at(41, 40), 0.0);
  EXPECT_EQ(at(45, 40), 0.0);
  double sum = 0;
  for (double w : f.weights) sum += w;
  EXPECT_NEAR(sum, 1.9990241029178577, 1e-9);
  EXPECT_NEAR(f.edges_hz.front(), 0, 1e-9);
  EXPECT_NEAR(f.edges_hz.back(), 8000, 1e-9);
}

TEST(MelFilters, HtkTrianglesRiseToOneAtTheirCentres) {
  const MelFilters f = mel_filters(512, 16000, 26, 20, 8000, MelScale::htk, false);
  ASSERT_EQ(f.edges_hz.size(), 28u);
  EXPECT_NEAR(f.edges_hz.front(), 20, 1e-9);
  EXPECT_NEAR(f.edges_hz.back(), 8000, 1e-9);
  EXPECT_TRUE(std::is_sorted(f.edges_hz.begin(), f.edges_hz.end()));
  for (size_t m = 0; m < 26; ++m) {
    double peak = 0;
    for (size_t k = 0; k < 257; ++k) {
      const double hz = double(k) * 16000 / 512, w = f.weights[k * 26 + m];
      if (hz <= f.edges_hz[m] || hz >= f.edges_hz[m + 2]) EXPECT_EQ(w, 0.0) << m << " " << k;
      EXPECT_LE(w, 1.0);
      peak = std::max(peak, w);
    }
    EXPECT_GT(peak, 0.5) << "band " << m;  // a bin lies near every centre
  }
}

}  // namespace
}  // namespace tenor::data
