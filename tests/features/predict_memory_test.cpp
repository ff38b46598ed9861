// `tenor predict` on a long call: peak memory does not grow with the call's length
// (issue 16: 2.3 GB for a 3-hour call before, growing with it).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "data/audio.h"
#include "tests/data/fixtures.h"
#include "tests/features/peak_rss.h"

namespace tenor::test {
namespace {

/// `seconds` of a voiced tone with a gliding F0 and pauses, 16 kHz mono.
fs::path tone_call(const fs::path& dir, double seconds) {
  fs::path path = dir / ("call-" + std::to_string(int(seconds)) + ".wav");
  std::vector<float> x(size_t(seconds * 16000));
  for (size_t i = 0; i < x.size(); ++i) {
    const double t = double(i) / 16000, f0 = 120 + 50 * std::sin(0.9 * t);
    const double ph = 2 * std::numbers::pi * f0 * t;
    x[i] = std::fmod(t, 2.7) > 2.2 ? 0.0f : float(0.3 * std::sin(ph) + 0.1 * std::sin(2 * ph));
  }
  data::write_audio(path, x, 1, 16000);
  return path;
}

// An 8-minute call (48 windows) takes at most 35 % more memory than a 2-minute one (12
// windows): both fill predict's 60-second LLD batches, and only one group (up to 600 s) of
// audio and frames is held; beyond 600 s the peak is flat (docs/benchmarks.md: 590 MB for 10
// minutes and for 3 hours). Before, the whole call's features were computed in batches of
// 240 s and held until scored: about 200 MB more per minute.
TEST(PredictMemory, PeakDoesNotGrowWithTheCall) {
  const fs::path work = make_temp_dir("predict-memory");
  ASSERT_EQ(run_tenor("--log-level error data synth --out " + (work / "synth").string() +
                      " --calls 4 --seed 3"),
            0);
  ASSERT_EQ(run_tenor("--log-level error data build " + (work / "synth").string() + " --out " +
                      (work / "s.h5").string() + " --no-progress"),
            0);
  ASSERT_EQ(run_tenor("--log-level error train --config " TENOR_SOURCE_DIR
                      "/configs/demo-linear.yaml --set features=" +
                      (work / "s.h5").string() + " --set out=" + (work / "run").string() +
                      " --set epochs=1"),
            0);
  const std::string run = (work / "run").string();
  const double short_mb = peak_rss_mb({"predict", "--run", run, tone_call(work, 120).string(),
                                       "--out", (work / "short.json").string()});
  const double long_mb = peak_rss_mb({"predict", "--run", run, tone_call(work, 480).string(),
                                      "--out", (work / "long.json").string()});
  ASSERT_GT(short_mb, 0);
  ASSERT_GT(long_mb, 0);
  EXPECT_LT(long_mb, 1.35 * short_mb) << "2 min: " << short_mb << " MB, 8 min: " << long_mb
                                     << " MB";
}

}  // namespace
}  // namespace tenor::test
