// core::Progress: the first line drawn carries a measured rate and ETA (issue 22, item 6).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "core/progress.h"

namespace tenor {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using TimePoint = std::chrono::steady_clock::time_point;

/// Everything written to `f` so far.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

TEST(Progress, FirstLineHasAMeasuredRateAndEta) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  TimePoint now{};
  Progress p("train", "batches", 100, f, [&] { return now; });
  now += seconds(3);
  p.update(1);  // the first batch: no rate can be measured yet, so nothing is drawn
  EXPECT_EQ(contents(f), "");
  now += seconds(2);
  p.update(5);  // 4 batches in 2 s: 2 batches/s, 95 left -> 47.5 s
  EXPECT_EQ(contents(f), "train [#.......................] 5/100 batches, 2.00 batches/s, ETA 00:48\n");
  now += seconds(1);
  p.finish();
  EXPECT_NE(contents(f).find("5/100 batches in 6.0 s (2.00 batches/s)\n"), std::string::npos)
      << contents(f);
  std::fclose(f);
}

TEST(Progress, ResumedWorkDoesNotInflateTheRate) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  TimePoint now{};
  Progress p("features", "calls", 1000, f, [&] { return now; });
  now += milliseconds(100);
  p.update(900);  // 900 calls reused from an interrupted build in 0.1 s
  now += seconds(10);
  p.update(920);
  const std::string out = contents(f);
  EXPECT_NE(out.find("920/1000 calls, 2.00 calls/s, ETA 00:40"), std::string::npos) << out;
  std::fclose(f);
}

TEST(Progress, OneUpdateOnlyEndsWithoutAMadeUpRate) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  TimePoint now{};
  Progress p("features", "calls", 8, f, [&] { return now; });
  now += milliseconds(7200);
  p.update(8);
  p.finish();
  EXPECT_EQ(contents(f), "features [########################] 8/8 calls in 7.2 s\n");
  std::fclose(f);
}

}  // namespace
}  // namespace tenor
