#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "eval/bootstrap.h"
#include "eval_fixtures.h"

namespace tenor::eval {
namespace {

using testing::binary_set;
using testing::Seg;

constexpr double kTol = 1e-12;
constexpr size_t kMacroF1 = static_cast<size_t>(Metric::kMacroF1);
constexpr size_t kAccuracy = static_cast<size_t>(Metric::kAccuracy);
constexpr size_t kAuroc = static_cast<size_t>(Metric::kAuroc);

/// 40 calls of 5 segments with noisy scores; deterministic.
EvalSet noisy_set() {
  std::vector<Seg> segs;
  uint64_t state = 12345;
  auto next = [&] {  // xorshift64*: a fixed, portable sequence
    state ^= state >> 12, state ^= state << 25, state ^= state >> 27;
    return static_cast<double>((state * 2685821657736338717ull) >> 11) * 0x1.0p-53;
  };
  for (int c = 0; c < 40; ++c)
    for (int s = 0; s < 5; ++s) {
      const int label = next() < 0.4;
      const double p = std::clamp(0.5 + (label ? 0.2 : -0.2) + (next() - 0.5) * 0.8, 0.0, 1.0);
      segs.push_back({"c" + std::to_string(c), label, p});
    }
  return binary_set(segs);
}

TEST(Bootstrap, ResamplerIsReproducibleAndDrawsNCalls) {
  CallResampler a(7, 42), b(7, 42), c(7, 43);
  std::vector<double> wa, wb, wc;
  bool any_difference = false;
  for (int r = 0; r < 20; ++r) {
    a.next(wa);
    b.next(wb);
    c.next(wc);
    EXPECT_EQ(wa, wb);
    EXPECT_NEAR(std::accumulate(wa.begin(), wa.end(), 0.0), 7.0, kTol);
    any_difference |= wa != wc;
  }
  EXPECT_TRUE(any_difference);
}

TEST(Bootstrap, ResamplerDrawsAreUniform) {
  // 70,000 draws over 7 calls: each count ~ Binomial(70000, 1/7), sd ~ 92; allow 6 sd.
  CallResampler r(7, 1);
  std::vector<int> count(7, 0);
  for (int i = 0; i < 70000; ++i) ++count[r.draw()];
  for (int k = 0; k < 7; ++k) EXPECT_NEAR(count[k], 10000, 6 * 92.6);
}

TEST(Bootstrap, PercentileIntervalInterpolatesAndSkipsNaN) {
  // 101 values 1..101 plus NaN: q = 0.05 -> h = 100 * 0.05 = 5 -> value 6; q = 0.95 -> 96.
  std::vector<double> v(101);
  std::iota(v.begin(), v.end(), 1.0);
  v.push_back(std::nan(""));
  const Interval i = percentile_interval(v, 0.90);
  EXPECT_NEAR(i.lo, 6.0, kTol);
  EXPECT_NEAR(i.hi, 96.0, kTol);
  EXPECT_EQ(i.valid_resamples, 101);
  EXPECT_TRUE(std::isnan(percentile_interval({std::nan("")}, 0.95).lo));
}

TEST(Bootstrap, SameSeedSameIntervalsAndTheyCoverThePoint) {
  const EvalSet set = noisy_set();
  const TaskSample sample(set, set.tasks[0], set.tasks[0].probs, 0.5, {});
  EXPECT_EQ(sample.num_calls(), 40u);
  BootstrapConfig config;
  config.resamples = 500;
  config.seed = 7;
  const BootstrapResult a = bootstrap(sample, config), b = bootstrap(sample, config);
  for (size_t m : {kAccuracy, kMacroF1, kAuroc}) {
    EXPECT_EQ(a.intervals[m].lo, b.intervals[m].lo);  // bit-identical for a seed
    EXPECT_EQ(a.intervals[m].hi, b.intervals[m].hi);
    EXPECT_LE(a.intervals[m].lo, a.point[m]);
    EXPECT_GE(a.intervals[m].hi, a.point[m]);
    EXPECT_LT(a.intervals[m].hi - a.intervals[m].lo, 0.5);
    EXPECT_EQ(a.intervals[m].valid_resamples, 500);
  }
  config.seed = 8;
  EXPECT_NE(bootstrap(sample, config).intervals[kMacroF1].lo, a.intervals[kMacroF1].lo);
}

TEST(Bootstrap, ResamplesCallsNotSegments) {
  // Two calls of 10 segments: call a all right, call b all wrong. Resampling calls, accuracy is
  // 0, 1/2 or 1 with probabilities 1/4, 1/2, 1/4, so the 95% interval is [0, 1]. Resampling
  // segments would give about 0.5 +- 0.22 instead.
  std::vector<Seg> segs;
  for (int i = 0; i < 10; ++i) segs.push_back({"a", 1, 0.9});
  for (int i = 0; i < 10; ++i) segs.push_back({"b", 1, 0.1});
  const EvalSet set = binary_set(segs);
  const TaskSample sample(set, set.tasks[0], set.tasks[0].probs, 0.5, {});
  BootstrapConfig config;
  const BootstrapResult r = bootstrap(sample, config);
  EXPECT_NEAR(r.point[kAccuracy], 0.5, kTol);
  EXPECT_NEAR(r.intervals[kAccuracy].lo, 0.0, kTol);
  EXPECT_NEAR(r.intervals[kAccuracy].hi, 1.0, kTol);
  // Single-class split: AUROC undefined in the point estimate and every resample.
  EXPECT_TRUE(std::isnan(r.point[kAuroc]));
  EXPECT_EQ(r.intervals[kAuroc].valid_resamples, 0);
  EXPECT_TRUE(std::isnan(r.intervals[kAuroc].lo));
}

TEST(Bootstrap, SparseCallConfusionsSumToTheFullMatrix) {
  const EvalSet set = noisy_set();
  const TaskSample sample(set, set.tasks[0], set.tasks[0].probs, 0.5, {});
  std::vector<double> ones(sample.num_calls(), 1.0);
  const ConfusionMatrix cm = sample.confusion(ones);
  ConfusionMatrix direct(2);
  const auto& t = set.tasks[0];
  for (size_t i = 0; i < set.segments.size(); ++i)
    direct.at(t.labels[i], t.probs[2 * i + 1] >= 0.5) += 1.0;
  EXPECT_EQ(cm.counts, direct.counts);
  EXPECT_NEAR(cm.total(), 200.0, kTol);
}

TEST(Bootstrap, PairedIdenticalRunsHaveZeroDeltaAndPOne) {
  const EvalSet set = noisy_set();
  const TaskSample a(set, set.tasks[0], set.tasks[0].probs, 0.5, {});
  BootstrapConfig config;
  config.resamples = 200;
  const PairedResult p = paired_bootstrap(a, a, config);
  EXPECT_NEAR(p.delta[kMacroF1], 0.0, kTol);
  EXPECT_NEAR(p.p_value[kMacroF1], 1.0, kTol);
  EXPECT_NEAR(p.delta_intervals[kMacroF1].lo, 0.0, kTol);
  EXPECT_NEAR(p.delta_intervals[kMacroF1].hi, 0.0, kTol);
}

}  // namespace
}  // namespace tenor::eval
