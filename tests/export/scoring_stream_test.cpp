// tenor::scoring's stream (issue 21, item 5): a call's audio pushed in chunks and its turns
// given as they finish score each turn as Scorer::score scores the whole call with the same
// turns (1e-6, same decisions), whatever the chunk size; the stream's memory stays bounded
// over many turns; bad input is refused with the fix and the stream goes on. And Scorer::score
// reads the product's samples where they are (no temporary WAV).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "core/error.h"
#include "scoring/scoring.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"

namespace tenor::test {
namespace {
using scoring::Segment;
using scoring::SegmentScore;

constexpr int kRate = 16000;

/// The exported linear bundle of tiny_store() (stereo: agent on 0, customer on 1), once.
const scoring::Scorer& scorer() {
  static const scoring::Scorer s(exported_bundle().string());
  return s;
}

struct Generated {
  std::vector<std::vector<float>> channels;  ///< agent, customer
  std::vector<Segment> turns;                ///< in start order, no two overlapping
};

/// A stereo call of `turns` alternating turns (customer first) of 0.8 to 2.5 s with pauses,
/// each voice a harmonic tone on its own channel whose level and pitch change per turn, and
/// faint noise everywhere.
Generated generated_call(int turns, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Generated g;
  double t = 0.3;
  for (int k = 0; k < turns; ++k) {
    const double length = 0.8 + 1.7 * u(rng);
    g.turns.push_back({t, t + length, k % 2 == 0 ? "customer" : "agent",
                       k % 4 == 0 ? "this is outrageous I want a refund now"
                                  : k % 2 ? "I am so sorry that sounds frustrating"
                                          : "thanks I am checking my order"});
    t += length + 0.2 + 0.6 * u(rng);
  }
  const size_t n = size_t((t + 0.5) * kRate);
  g.channels.assign(2, std::vector<float>(n));
  for (auto& c : g.channels)
    for (auto& x : c) x = float(0.002 * (u(rng) - 0.5));
  for (size_t k = 0; k < g.turns.size(); ++k) {
    const Segment& s = g.turns[k];
    auto& c = g.channels[s.speaker == "agent" ? 0 : 1];
    const double f0 = 110 + 25.0 * double(k % 5), level = 0.05 + 0.05 * double(k % 4);
    for (size_t i = size_t(s.start_s * kRate); i < size_t(s.end_s * kRate) && i < n; ++i) {
      const double x = double(i) / kRate;
      c[i] += float(level * (std::sin(2 * M_PI * f0 * x) + 0.5 * std::sin(4 * M_PI * f0 * x)) *
                    (0.6 + 0.4 * std::sin(2 * M_PI * 3 * x)));
    }
  }
  return g;
}

/// Scores `g` through a stream, pushing `chunk` samples at a time and each turn as soon as its
/// audio is in.
std::vector<SegmentScore> streamed(const Generated& g, size_t chunk,
                                   scoring::StreamOptions options = {}) {
  scoring::Stream stream = scorer().open_stream(options);
  std::vector<SegmentScore> out;
  size_t next = 0;
  const size_t n = g.channels[0].size();
  for (size_t at = 0; at < n; at += chunk) {
    const size_t k = std::min(chunk, n - at);
    stream.push({g.channels[0].data() + at, g.channels[1].data() + at}, k);
    while (next < g.turns.size() && g.turns[next].end_s <= stream.pushed_s())
      out.push_back(stream.push_turn(g.turns[next++]));
  }
  stream.finish();
  EXPECT_EQ(next, g.turns.size());
  return out;
}

std::vector<SegmentScore> offline(const Generated& g) {
  scoring::Call call;
  call.sample_rate_hz = kRate;
  call.channels = g.channels;
  call.transcript = g.turns;
  return scorer().score(call);
}

/// Same segments, tasks and decisions; probabilities within `tolerance`.
void expect_same_scores(const std::vector<SegmentScore>& got, const std::vector<SegmentScore>& want,
                        double tolerance) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].segment, want[i].segment);
    EXPECT_EQ(got[i].speaker, want[i].speaker);
    EXPECT_DOUBLE_EQ(got[i].start_s, want[i].start_s);
    ASSERT_EQ(got[i].tasks.size(), want[i].tasks.size()) << i;
    for (size_t t = 0; t < want[i].tasks.size(); ++t) {
      EXPECT_EQ(got[i].tasks[t].task, want[i].tasks[t].task);
      EXPECT_EQ(got[i].tasks[t].decision, want[i].tasks[t].decision) << i;
      ASSERT_EQ(got[i].tasks[t].probs.size(), want[i].tasks[t].probs.size());
      for (size_t c = 0; c < want[i].tasks[t].probs.size(); ++c) {
        EXPECT_NEAR(got[i].tasks[t].probs[c], want[i].tasks[t].probs[c], tolerance) << i;
        EXPECT_NEAR(got[i].tasks[t].calibrated[c], want[i].tasks[t].calibrated[c], tolerance) << i;
      }
    }
  }
}

TEST(ScoringStream, EachTurnScoresAsTheWholeCallOffline) {
  const Generated g = generated_call(10);
  const auto want = offline(g);
  ASSERT_EQ(want.size(), g.turns.size());
  size_t scored = 0;
  for (const auto& s : want) scored += s.tasks.size();
  ASSERT_EQ(scored, g.turns.size());  // every turn has its role's task
  expect_same_scores(streamed(g, 5557), want, 1e-6);
}

TEST(ScoringStream, ChunkSizesGiveTheSameScores) {
  const Generated g = generated_call(4);
  const auto whole = streamed(g, g.channels[0].size());
  expect_same_scores(streamed(g, 1), whole, 0);
  expect_same_scores(streamed(g, 317), whole, 0);
  expect_same_scores(whole, offline(g), 1e-6);
}

TEST(ScoringStream, MemoryStaysBoundedOverManyTurns) {
  // 24 turns over about 55 s with max_turn_s 10: the stream never holds more than the last
  // turn's start on, or 10 s, plus a chunk.
  const Generated g = generated_call(24, 11);
  scoring::StreamOptions options;
  options.max_turn_s = 10;
  scoring::Stream stream = scorer().open_stream(options);
  const size_t chunk = 4000, n = g.channels[0].size();
  int64_t most = 0;
  size_t next = 0;
  for (size_t at = 0; at < n; at += chunk) {
    const size_t k = std::min(chunk, n - at);
    stream.push({g.channels[0].data() + at, g.channels[1].data() + at}, k);
    while (next < g.turns.size() && g.turns[next].end_s <= stream.pushed_s())
      stream.push_turn(g.turns[next++]);
    most = std::max(most, stream.held_frames());
  }
  EXPECT_EQ(next, g.turns.size());
  EXPECT_GT(double(n) / kRate, 40.0);
  // Compaction waits until half the buffer is dropped: at most twice the bound.
  EXPECT_LE(most, 2 * int64_t(10 * kRate + chunk));
  // No turn for a long stretch: the stream keeps max_turn_s, not the stretch.
  std::vector<float> quiet(size_t(kRate), 0.0f);
  for (int s = 0; s < 120; ++s) stream.push({quiet.data(), quiet.data()}, quiet.size());
  EXPECT_LE(stream.held_frames(), 2 * int64_t(10 * kRate + kRate));
  // A turn that starts in audio already dropped is refused with the fix.
  const std::string why = thrown_message<DataError>([&] {
    stream.push_turn({stream.pushed_s() - 60, stream.pushed_s() - 59, "customer", ""});
  });
  EXPECT_NE(why.find("max_turn_s"), std::string::npos) << why;
}

TEST(ScoringStream, BadInputIsRefusedWithTheFixAndTheStreamGoesOn) {
  const Generated g = generated_call(3);
  scoring::Stream stream = scorer().open_stream({});
  const size_t half = g.channels[0].size() / 2;
  stream.push({g.channels[0].data(), g.channels[1].data()}, half);
  auto data_error = [&](auto f, const std::string& expected) {
    const std::string why = thrown_message<DataError>(f);
    EXPECT_NE(why.find(expected), std::string::npos) << "'" << why << "' lacks '" << expected << "'";
  };
  // One channel for a stereo stream; a NaN sample.
  data_error([&] { stream.push({g.channels[0].data()}, 10); }, "opened with 2");
  std::vector<float> bad(10, 0.1f);
  bad[7] = std::nanf("");
  data_error([&] { stream.push({bad.data(), bad.data()}, bad.size()); }, "not a finite number");
  // A turn past the audio pushed; an unknown role; a turn without length.
  data_error([&] { stream.push_turn({0.5, stream.pushed_s() + 1, "customer", ""}); },
             "push the turn's audio first");
  data_error([&] { stream.push_turn({0.3, 1.0, "cust", ""}); }, "did you mean 'customer'");
  data_error([&] { stream.push_turn({1.0, 1.0, "customer", ""}); }, "start < end");
  // The stream is as it was: the first turn scores, then order and overlap are checked.
  EXPECT_EQ(stream.push_turn(g.turns[0]).tasks.size(), 1u);
  data_error([&] { stream.push_turn({0.1, 0.2, "agent", ""}); }, "in the order they start");
  data_error([&] { stream.push_turn({g.turns[0].end_s - 0.1, g.turns[0].end_s + 0.1, "customer", ""}); },
             "must not overlap");
  stream.push({g.channels[0].data() + half, g.channels[1].data() + half},
              g.channels[0].size() - half);
  EXPECT_EQ(stream.push_turn(g.turns[1]).segment, 1);
  stream.finish();
  EXPECT_THROW(stream.push({g.channels[0].data(), g.channels[1].data()}, 1), UsageError);
  EXPECT_THROW(stream.push_turn(g.turns[2]), UsageError);
  // Three channels: the bundle knows no mapping for them.
  scoring::StreamOptions three;
  three.channels = 3;
  EXPECT_THROW(scorer().open_stream(three), UsageError);
}

TEST(ScoringStream, ScorerReadsTheSamplesWhereTheyAreWithoutTemporaryFiles) {
  // The library used to write the call to a WAV under TMPDIR; a product whose TMPDIR cannot be
  // written still gets its scores, which equal the stream's.
  const Generated g = generated_call(4);
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", "/nonexistent/tenor-no-tmp", 1);
  std::vector<SegmentScore> got;
  EXPECT_NO_THROW(got = offline(g));
  if (old) ::setenv("TMPDIR", saved.c_str(), 1); else ::unsetenv("TMPDIR");
  expect_same_scores(got, streamed(g, 8000), 1e-6);
}

}  // namespace
}  // namespace tenor::test
