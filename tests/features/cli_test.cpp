// `tenor features` end to end: CSV layout, ranges and error exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "data/audio.h"
#include "data/features/lld_config.h"
#include "tests/features/peak_rss.h"

namespace tenor::test {
namespace {

namespace fs = std::filesystem;

struct Run {
  int status = -1;
  std::string out;
};

Run run(const std::string& args) {
  Run r;
  std::string cmd = std::string(TENOR_BINARY) + " " + args + " 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

fs::path tone_file() {
  fs::path dir = fs::temp_directory_path() / ("tenor_features_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path path = dir / "tone150.wav";
  std::vector<float> x(16000);
  for (size_t i = 0; i < x.size(); ++i) {
    double ph = 2 * std::numbers::pi * 150.0 * double(i) / 16000;
    x[i] = float(0.3 * std::sin(ph) + 0.15 * std::sin(2 * ph) + 0.1 * std::sin(3 * ph));
  }
  data::write_audio(path, x, 1, 16000);
  return path;
}

TEST(FeaturesCli, CsvHeaderRowsAndValues) {
  auto path = tone_file();
  auto r = run("features " + path.string() + " --csv");
  ASSERT_EQ(r.status, 0) << r.out;
  auto rows = lines(r.out);
  ASSERT_EQ(rows.size(), 101u) << "header + ceil(1 s / 10 ms) frames";
  EXPECT_EQ(rows[0].rfind("time_s,f0_hz,voiced,voicing_prob,intensity_db,loudness,", 0), 0u)
      << rows[0];
  // Middle frame: t = 0.505 s, voiced, F0 within 1% of 150 Hz.
  double t = 0, f0 = 0;
  int voiced = 0;
  ASSERT_EQ(std::sscanf(rows[51].c_str(), "%lf,%lf,%d", &t, &f0, &voiced), 3) << rows[51];
  EXPECT_NEAR(t, 0.505, 1e-9);
  EXPECT_EQ(voiced, 1);
  EXPECT_NEAR(f0, 150.0, 1.5);
}

TEST(FeaturesCli, RangeShiftsTimes) {
  auto path = tone_file();
  auto r = run("features " + path.string() + " --start 0.2 --end 0.7 --csv");
  ASSERT_EQ(r.status, 0);
  auto rows = lines(r.out);
  ASSERT_EQ(rows.size(), 51u) << "header + 0.5 s / 10 ms frames";
  EXPECT_EQ(rows[1].rfind("0.2050,", 0), 0u) << rows[1];
}

TEST(FeaturesCli, ARangeTooShortForAFrameStillPrintsTheHeader) {
  auto path = tone_file();
  auto r = run("features " + path.string() + " --start 0.2 --end 0.201 --csv");
  ASSERT_EQ(r.status, 0) << r.out;
  auto rows = lines(r.out);
  ASSERT_FALSE(rows.empty()) << "no header";
  EXPECT_EQ(rows[0].rfind("time_s,f0_hz,", 0), 0u) << rows[0];
}

TEST(FeaturesCli, BadInputExitCodes) {
  auto path = tone_file();
  EXPECT_EQ(run("features " + path.string() + " " + path.string() + " --csv").status, 2)
      << "--csv with two files";
  // A flag the file cannot satisfy is a usage error: the fix is the flag (issue 22, item 6).
  EXPECT_EQ(run("features " + path.string() + " --start 5 --csv").status, 2)
      << "range past the end";
  EXPECT_EQ(run("features " + path.string() + " --channel 3 --csv").status, 2)
      << "channel past the file's";
  EXPECT_EQ(run("features " + path.string() + " --f0-ceiling 9000 --csv").status, 2)
      << "ceiling above Nyquist";
  EXPECT_EQ(run("features /nonexistent.wav --csv").status, 2) << "missing file";
}

/// `seconds` of a voiced tone with pauses, 16 kHz mono.
fs::path long_file(const std::string& name, double seconds) {
  fs::path path = tone_file().parent_path() / name;
  std::vector<float> x(size_t(seconds * 16000));
  for (size_t i = 0; i < x.size(); ++i) {
    const double t = double(i) / 16000, f0 = 110 + 40 * std::sin(0.7 * t);
    const double ph = 2 * std::numbers::pi * f0 * t;
    const bool pause = std::fmod(t, 3.0) > 2.4;
    x[i] = pause ? 0.0f
                 : float(0.3 * std::sin(ph) + 0.15 * std::sin(2 * ph) + 0.1 * std::sin(3 * ph));
  }
  data::write_audio(path, x, 1, 16000);
  return path;
}

// Memory does not grow with the file (issue 16: 4 GB per hour of audio before): the peak for
// 4 minutes stays within 25 % of the peak for 20 seconds (before: 2.2 times).
TEST(FeaturesCli, PeakMemoryDoesNotGrowWithTheFile) {
  auto short_file = long_file("short.wav", 20), long_one = long_file("long.wav", 240);
  const double short_mb = peak_rss_mb({"features", short_file.string(), "--csv"});
  const double long_mb = peak_rss_mb({"features", long_one.string(), "--csv"});
  ASSERT_GT(short_mb, 0);
  ASSERT_GT(long_mb, 0);
  EXPECT_LT(long_mb, 1.25 * short_mb)
      << "20 s: " << short_mb << " MB, 4 min: " << long_mb << " MB";
}

}  // namespace
}  // namespace tenor::test
