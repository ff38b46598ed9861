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
/// faint noise everywhere. With `overlap_s`, every third turn's successor (the other speaker)
/// starts that long before it ends.
Generated generated_call(int turns, unsigned seed = 7, double overlap_s = 0) {
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
    const double pause = 0.2 + 0.6 * u(rng);
    t += overlap_s > 0 && k % 3 == 0 ? length - overlap_s : length + pause;
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

/// A call's scores from a stream: as given (provisional) and from finish() (final).
struct Streamed {
  std::vector<SegmentScore> provisional, finals;
};

/// Scores `g` through a stream of `by`, pushing `chunk` samples at a time and each turn as
/// soon as its audio is in (none in windows).
Streamed stream_call(const scoring::Scorer& by, const Generated& g, size_t chunk,
                     scoring::StreamOptions options = {}) {
  scoring::Stream stream = by.open_stream(options);
  Streamed out;
  size_t next = 0;
  const size_t n = g.channels[0].size();
  for (size_t at = 0; at < n; at += chunk) {
    const size_t k = std::min(chunk, n - at);
    for (auto& s : stream.push({g.channels[0].data() + at, g.channels[1].data() + at}, k))
      out.provisional.push_back(std::move(s));
    while (!options.windows && next < g.turns.size() && g.turns[next].end_s <= stream.pushed_s())
      out.provisional.push_back(stream.push_turn(g.turns[next++]));
  }
  out.finals = stream.finish();
  if (!options.windows) {
    EXPECT_EQ(next, g.turns.size());
  }
  for (const auto& s : out.provisional) EXPECT_FALSE(s.final);
  for (const auto& s : out.finals) EXPECT_TRUE(s.final);
  return out;
}

std::vector<SegmentScore> streamed(const Generated& g, size_t chunk,
                                   scoring::StreamOptions options = {}) {
  Streamed s = stream_call(scorer(), g, chunk, options);
  EXPECT_EQ(s.finals.size(), s.provisional.size());
  return s.provisional;
}

std::vector<SegmentScore> offline(const Generated& g, const scoring::Scorer& by = scorer()) {
  scoring::Call call;
  call.sample_rate_hz = kRate;
  call.channels = g.channels;
  call.transcript = g.turns;
  return by.score(call);
}

/// Same segments, tasks and decisions; probabilities within `tolerance`.
void expect_same_scores(const std::vector<SegmentScore>& got, const std::vector<SegmentScore>& want,
                        double tolerance) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].segment, want[i].segment);
    EXPECT_EQ(got[i].speaker, want[i].speaker);
    EXPECT_DOUBLE_EQ(got[i].start_s, want[i].start_s);
    EXPECT_DOUBLE_EQ(got[i].end_s, want[i].end_s);
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
  data_error([&] { stream.push({bad.data(), bad.data()}, bad.size()); }, "is NaN");
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

/// `g` cut (or padded with faint noise) to `seconds` of audio, its turns dropped.
Generated audio_only(const Generated& g, double seconds) {
  Generated out;
  out.channels = g.channels;
  for (auto& c : out.channels) c.resize(size_t(seconds * kRate), 0.0005f);
  return out;
}

/// `g`'s audio scored offline without a transcript, in windows of `window_s`.
std::vector<SegmentScore> offline_windows(const Generated& g, double window_s,
                                          const scoring::Scorer& by = scorer()) {
  scoring::Call call;
  call.sample_rate_hz = kRate;
  call.channels = g.channels;
  call.window_s = window_s;
  return by.score(call);
}

scoring::StreamOptions in_windows(double window_s) {
  scoring::StreamOptions options;
  options.windows = true;
  options.window_s = window_s;
  return options;
}

TEST(ScoringStream, WindowsScoreAsTheCallWithoutATranscriptAsTheirAudioComesIn) {
  // No turn events: each window of each role scores as `tenor predict` scores the call without
  // a transcript, from the push that completes it. 9.25 s in 2 s windows: the last 1.25 s are a
  // window of their own; 8.5 s: the last half second joins the window before it, which
  // finish() scores again (its provisional score ended at 8 s).
  const Generated call = generated_call(6);
  for (const double seconds : {9.25, 8.5}) {
    const Generated g = audio_only(call, seconds);
    const auto want = offline_windows(g, 2);
    ASSERT_EQ(want.size(), seconds == 8.5 ? 8u : 10u);  // agent and customer per window
    const std::vector<size_t> chunks =
        seconds == 8.5 ? std::vector<size_t>{1234}
                       : std::vector<size_t>{1, g.channels[0].size()};
    for (const size_t chunk : chunks) {
      SCOPED_TRACE("chunk " + std::to_string(chunk) + ", " + std::to_string(seconds) + " s");
      const Streamed got = stream_call(scorer(), g, chunk, in_windows(2));
      expect_same_scores(got.finals, want, 1e-6);
      ASSERT_EQ(got.provisional.size(), 8u);  // the four windows complete before the end
      const long same = seconds == 8.5 ? 6 : 8;
      expect_same_scores({got.provisional.begin(), got.provisional.begin() + same},
                         {want.begin(), want.begin() + same}, 1e-6);
    }
  }
  // Each window comes from the push that completes it, not later.
  const Generated g = audio_only(call, 3);
  scoring::Stream stream = scorer().open_stream(in_windows(2));
  const size_t n = size_t(2 * kRate);
  EXPECT_TRUE(stream.push({g.channels[0].data(), g.channels[1].data()}, n - 1).empty());
  const auto first = stream.push({g.channels[0].data() + n - 1, g.channels[1].data() + n - 1}, 1);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].speaker, "agent");
  EXPECT_EQ(first[1].speaker, "customer");
  EXPECT_DOUBLE_EQ(first[1].end_s, 2.0);
  // Mono: windows of `speaker` only, as offline (with its warning).
  scoring::Call mono;
  mono.sample_rate_hz = kRate;
  mono.channels = {audio_only(call, 5).channels[1]};
  mono.window_s = 2;
  scoring::StreamOptions options = in_windows(2);
  options.channels = 1;
  scoring::Stream one = scorer().open_stream(options);
  std::vector<SegmentScore> live;
  for (size_t at = 0; at < mono.channels[0].size(); at += 3000)
    for (auto& w : one.push({mono.channels[0].data() + at},
                            std::min<size_t>(3000, mono.channels[0].size() - at)))
      live.push_back(std::move(w));
  const auto finals = one.finish();
  const auto want = scorer().score(mono);
  ASSERT_EQ(want.size(), 3u);
  EXPECT_EQ(want[0].speaker, "customer");
  expect_same_scores(finals, want, 1e-6);
  expect_same_scores(live, {want.begin(), want.begin() + 2}, 1e-6);
}

TEST(ScoringStream, WindowsKeepMemoryBoundedOverALongCallAndAHugeChunk) {
  // 12 s of audio in 2 s windows with max_turn_s 10, in 0.25 s chunks, then 12 s more in one
  // chunk: the stream holds about a window and a second, never the call, and scores every
  // window.
  const Generated g = audio_only(generated_call(6), 12);
  scoring::StreamOptions options = in_windows(2);
  options.max_turn_s = 10;
  scoring::Stream stream = scorer().open_stream(options);
  const size_t chunk = kRate / 4, n = g.channels[0].size();
  int64_t most = 0;
  size_t windows = 0;
  for (size_t at = 0; at < n; at += chunk) {
    windows += stream.push({g.channels[0].data() + at, g.channels[1].data() + at},
                           std::min(chunk, n - at)).size();
    most = std::max(most, stream.held_frames());
  }
  EXPECT_EQ(windows, 12u);
  EXPECT_LE(most, 2 * int64_t(2 * kRate + chunk));  // compaction waits for half to be dropped
  windows += stream.push(g.channels).size();
  EXPECT_EQ(windows, 24u);
  EXPECT_LE(stream.held_frames(), 2 * int64_t(3 * kRate));
  EXPECT_EQ(stream.finish().size(), 24u);
}

TEST(ScoringStream, HostileUseOfWindowsAndFinishIsRefusedWithTheFix) {
  const Generated g = audio_only(generated_call(4), 6);
  auto refused = [](auto f, const std::string& expected, auto error) {
    try {
      f();
      ADD_FAILURE() << "not refused: " << expected;
    } catch (const decltype(error)& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
          << "'" << e.what() << "' lacks '" << expected << "'";
    }
  };
  // Windows with no audio, then less than one analysis frame: refused, the stream stays open.
  scoring::Stream stream = scorer().open_stream(in_windows(4));
  refused([&] { stream.finish(); }, "no audio was pushed", DataError(""));
  stream.push({g.channels[0].data(), g.channels[1].data()}, 100);
  refused([&] { stream.finish(); }, "shorter than one analysis frame", DataError(""));
  // A turn given to a stream in windows.
  refused([&] { stream.push_turn({0.0, 0.001, "customer", ""}); }, "open a stream without windows",
          UsageError(""));
  stream.push({g.channels[0].data() + 100, g.channels[1].data() + 100}, g.channels[0].size() - 100);
  EXPECT_EQ(stream.finish().size(), 2u * 2);  // [0, 4) and [4, 6)
  // After finish(): another finish(), a push, a turn.
  refused([&] { stream.finish(); }, "finished already", UsageError(""));
  refused([&] { stream.push(g.channels); }, "is finished", UsageError(""));
  refused([&] { stream.push_turn({0.0, 1.0, "customer", ""}); }, "finished", UsageError(""));
  // Options that cannot work.
  scoring::StreamOptions bad = in_windows(0);
  refused([&] { scorer().open_stream(bad); }, "window_s is 0", UsageError(""));
  bad = in_windows(200);
  refused([&] { scorer().open_stream(bad); }, "raise max_turn_s", UsageError(""));
  bad = in_windows(4);
  bad.channels = 1;
  bad.speaker = "cust";
  refused([&] { scorer().open_stream(bad); }, "not a role of the bundle", UsageError(""));
  // A stream of turns: finish() twice.
  scoring::Stream turns = scorer().open_stream({});
  EXPECT_TRUE(turns.finish().empty());
  refused([&] { turns.finish(); }, "finished already", UsageError(""));
}

TEST(ScoringStream, FinalScoresCountTheOverlapOfATurnGivenLater) {
  // Every third turn is overlapped by the other speaker's next turn, given after it: its
  // provisional score cannot count that overlap, its final one does, as offline.
  const Generated g = generated_call(9, 7, 0.6);
  const auto want = offline(g);
  const Streamed got = stream_call(scorer(), g, 3000);
  expect_same_scores(got.finals, want, 1e-6);
  double moved = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = std::fabs(got.provisional[i].tasks.at(0).probs.at(0) -
                               want[i].tasks.at(0).probs.at(0));
    if (i % 3 == 0 && i + 1 < want.size()) {
      moved = std::max(moved, d);
    } else {
      EXPECT_LE(d, 1e-6) << i;  // turns nobody overlaps later: provisional is final
    }
  }
  EXPECT_GT(moved, 1e-6);  // the overlap feature counts for this model
}

TEST(ScoringStream, CallNormalisedBundleGivesTheOfflineScoresAtFinish) {
  // speaker_normalization: call centres each segment on its speaker's whole call: the
  // provisional scores use the speaker's turns so far (a speaker's last turn is already
  // final), finish() re-scores every turn with the call's statistics, as offline.
  static const scoring::Scorer call_normalised(
      exported_bundle("  type: linear\nspeaker_normalization: call\n").string());
  const Generated g = generated_call(8, 3, 0.5);
  const auto want = offline(g, call_normalised);
  const Streamed got = stream_call(call_normalised, g, 4000);
  expect_same_scores(got.finals, want, 1e-6);
  double moved = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = std::fabs(got.provisional[i].tasks.at(0).probs.at(0) -
                               want[i].tasks.at(0).probs.at(0));
    if (i + 2 < want.size()) {
      moved = std::max(moved, d);
    } else if (i % 3 != 0) {
      EXPECT_LE(d, 1e-6) << i;  // each speaker's last turn
    }
  }
  EXPECT_GT(moved, 1e-6);
  // Windows too.
  const Generated a = audio_only(g, 13);
  expect_same_scores(stream_call(call_normalised, a, 5000, in_windows(4)).finals,
                     offline_windows(a, 4, call_normalised), 1e-6);
}

}  // namespace
}  // namespace tenor::test
