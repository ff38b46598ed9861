// Duplicate calls (issue 23, item 5): copies across splits are found per call pair with a
// headline first, near copies too, shared boilerplate is not, repeated short sentences are
// counted in one finding, recordings match through gain and container changes and through a
// codec that leaves no frame intact, and `data split` keeps duplicates in one split.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <numbers>
#include <random>
#include <utility>

#include "data/audio.h"
#include "data/duplicates.h"
#include "data/split.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

using nlohmann::json;

std::string listing(const data::Diagnostics& d) {
  std::string out;
  for (const auto& f : d.findings()) out += data::format_finding(f) + "\n";
  return out;
}

/// `n` words drawn (seeded) from a vocabulary of 500: distinct calls for every seed.
std::string words(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? " w" : "w") + std::to_string(rng() % 500);
  return out;
}

/// A support call: the stock greeting and goodbye every call of a contact centre shares, around
/// two turns of its own.
std::vector<std::string> support_turns(const std::string& customer, const std::string& agent) {
  return {"Thank you for calling Acme support, my name is Dana, how can I help you today?",
          customer, agent,
          "Is there anything else I can help you with today? Thank you for calling, goodbye."};
}

std::vector<std::string> blender_call() {
  return support_turns(
      "I ordered the blender on the third and it arrived broken, the box was crushed and the "
      "left side of the jug is cracked",
      "I am sorry to hear that, let me look up your order and arrange a replacement that ships "
      "with express delivery tomorrow morning");
}

std::vector<std::string> billing_call() {
  return support_turns(
      "My card was charged twice for the same subscription this month and I want the second "
      "payment refunded please",
      "I can see both payments of nineteen dollars, the duplicate will be refunded within five "
      "working days to the same card");
}

std::vector<std::string> password_call() {
  return support_turns(
      "I cannot log in to my account since yesterday, the reset email never arrives even in "
      "the spam folder",
      "Your address had a typo in it, I have corrected it and sent a new reset link that is "
      "valid for one hour");
}

void set_turns(json& call, const std::vector<std::string>& turns) {
  for (size_t i = 0; i < turns.size(); ++i) call["segments"][i]["text"] = turns[i];
}

/// The fixture's two calls (c1 train, c2 test) with distinct support-call transcripts.
DatasetFixture support_fixture(const std::string& name) {
  DatasetFixture fx(name);
  set_turns(fx.calls[0], blender_call());
  set_turns(fx.calls[1], billing_call());
  return fx;
}

json copy_of(const json& call, const std::string& id, const std::string& split) {
  json copy = call;
  copy["call_id"] = id;
  copy["split"] = split;
  copy["meta"]["speaker_id"] = "spk-" + id;
  return copy;
}

TEST(Duplicates, CopyUnderAnotherIdAcrossTrainAndTestIsAnErrorWithAHeadline) {
  auto fx = support_fixture("dup-copy");
  fx.calls.push_back(copy_of(fx.calls[0], "c3", "test"));
  fx.calls.back()["audio"] = "audio/c1.wav";
  auto r = fx.validate();
  const auto& d = r.diagnostics;
  ASSERT_EQ(d.count_code("duplicate-across-splits"), 1u) << listing(d);
  ASSERT_FALSE(d.findings().empty());
  const auto& head = d.findings().front();
  EXPECT_EQ(head.code, "duplicate-summary") << listing(d);
  EXPECT_EQ(head.severity, data::Severity::kError);
  EXPECT_NE(head.message.find("duplicate calls: 1 call pair looks duplicated, 1 of them across "
                              "splits (train/test: 1), 0 within one split"),
            std::string::npos)
      << head.message;
  EXPECT_NE(head.message.find("1 of 2 test calls copy a call of an earlier split"),
            std::string::npos)
      << head.message;
  for (const auto& f : d.findings()) {
    if (f.code != "duplicate-across-splits") continue;
    EXPECT_EQ(f.severity, data::Severity::kError);
    EXPECT_EQ(f.call_id, "c3");
    EXPECT_EQ(f.line, 3);
    EXPECT_NE(f.message.find("in test, duplicates call c1 (line 1, train)"), std::string::npos)
        << f.message;
    EXPECT_NE(f.message.find("identical transcripts"), std::string::npos) << f.message;
    EXPECT_NE(f.message.find("tenor data split --reassign"), std::string::npos) << f.message;
  }
  // The copy's sentences are not listed again as repeated transcripts.
  EXPECT_FALSE(d.has_code("transcript-across-splits")) << listing(d);
  data::ValidateOptions lenient;
  lenient.duplicates_as_warnings = true;
  auto w = fx.validate(lenient);
  EXPECT_EQ(w.diagnostics.error_count(), 0u) << listing(w.diagnostics);
  EXPECT_EQ(w.diagnostics.count_code("duplicate-across-splits"), 1u);
}

TEST(Duplicates, NearCopyWithAFewWordsChangedIsFound) {
  auto fx = support_fixture("dup-near");
  auto turns = blender_call();  // three words changed, two dropped
  turns[1] = "I ordered the blender on the fourth and it came broken, the box was crushed and the "
             "left side of the jug is cracked";
  turns[2] = "I am sorry to hear that, let me look up your order and arrange a replacement that "
             "ships with express delivery on Monday";
  fx.calls.push_back(copy_of(fx.calls[0], "c3", "test"));
  set_turns(fx.calls.back(), turns);
  fx.calls.back()["audio"] = "audio/c1.wav";
  auto r = fx.validate();
  ASSERT_EQ(r.diagnostics.count_code("duplicate-across-splits"), 1u) << listing(r.diagnostics);
  ASSERT_EQ(r.duplicates.size(), 1u);
  ASSERT_TRUE(r.duplicates[0].text_jaccard);
  EXPECT_LT(*r.duplicates[0].text_jaccard, 0.9);
  EXPECT_GE(*r.duplicates[0].text_jaccard, data::kNearDuplicateJaccard);
}

TEST(Duplicates, PlaceholdersAddressesAndLinksAreOneWord) {
  EXPECT_EQ(data::normalized_words("Mail ME at John.Doe@example.com or #EMAIL# [NAME], see "
                                   "https://acme.test/help!"),
            (std::vector<std::string>{"mail", "me", "at", "#", "or", "#", "see", "#"}));
  EXPECT_EQ(data::normalized_words("<PHONE> {{account_id}} ok; #1 in line"),
            (std::vector<std::string>{"#", "ok", "1", "in", "line"}));
  EXPECT_EQ(data::normalized_words("Thanks,   bye."), (std::vector<std::string>{"thanks", "bye"}));
  // A hostile run of openers is read in linear time (a quadratic scan would take minutes).
  EXPECT_TRUE(data::normalized_words(std::string(size_t{1} << 22, '{')).empty());
  EXPECT_TRUE(data::normalized_words("[" + std::string(size_t{1} << 22, '[')).empty());
}

TEST(Duplicates, CopyAnonymisedDifferentlyIsAnExactCopy) {
  auto fx = support_fixture("dup-anonymised");
  auto raw = blender_call();
  raw[1] = "My name is Ann Lee, ann.lee@mail.test, I ordered the blender on the third and it "
           "arrived broken, see https://photos.test/ann";
  fx.calls[0]["segments"][1]["text"] = raw[1];
  auto anonymised = raw;
  anonymised[0] = "THANK YOU for calling Acme support; my name is Dana: how can I help you today";
  anonymised[1] = "My name is Ann Lee, [EMAIL_ADDRESS] I ordered the blender on the third and it "
                  "arrived broken, see #URL#";
  fx.calls.push_back(copy_of(fx.calls[0], "c3", "test"));
  set_turns(fx.calls.back(), anonymised);
  fx.calls.back()["audio"] = "audio/c1.wav";
  auto r = fx.validate();
  ASSERT_EQ(r.duplicates.size(), 1u) << listing(r.diagnostics);
  EXPECT_EQ(r.duplicates[0].text_jaccard, 1.0);
  EXPECT_EQ(r.diagnostics.count_code("duplicate-across-splits"), 1u) << listing(r.diagnostics);
}

TEST(Duplicates, JaccardThresholdIsConfigurableWithinItsRange) {
  auto fx = support_fixture("dup-threshold");
  auto turns = blender_call();
  turns[1] = "I ordered the blender on the fourth and it came broken, the box was crushed and the "
             "left side of the jug is cracked";
  fx.calls.push_back(copy_of(fx.calls[0], "c3", "test"));
  set_turns(fx.calls.back(), turns);
  fx.calls.back()["audio"] = "audio/c1.wav";
  data::ValidateOptions strict;
  strict.duplicate_jaccard = 0.95;
  EXPECT_TRUE(fx.validate(strict).duplicates.empty());
  strict.duplicate_jaccard = data::kMinDuplicateJaccard;
  EXPECT_EQ(fx.validate(strict).duplicates.size(), 1u);
  strict.duplicate_jaccard = 0.2;
  EXPECT_THROW(fx.validate(strict), UsageError);
  data::SplitOptions split;
  split.duplicate_jaccard = 1.5;
  EXPECT_THROW(split.validate(), UsageError);
}

TEST(Duplicates, ThousandsOfPairsAreCappedAndCountedInTheHeadline) {
  auto fx = support_fixture("dup-cap");
  const size_t copies = data::kMaxListedDuplicatePairs + 10;
  for (size_t i = 0; i < copies; ++i) {
    fx.calls.push_back(copy_of(fx.calls[0], "k" + std::to_string(i), i % 2 ? "train" : "test"));
    fx.calls.back()["audio"] = fx.calls[0]["audio"];
  }
  auto r = fx.validate();
  const auto& d = r.diagnostics;
  EXPECT_EQ(r.duplicates.size(), copies);
  EXPECT_EQ(d.count_code("duplicate-across-splits") + d.count_code("duplicate-call"),
            data::kMaxListedDuplicatePairs)
      << listing(d);
  const auto& head = d.findings().front();
  ASSERT_EQ(head.code, "duplicate-summary");
  EXPECT_NE(head.message.find(std::to_string(copies) + " call pairs look duplicated, " +
                              std::to_string(copies / 2) + " of them across splits"),
            std::string::npos)
      << head.message;
  EXPECT_NE(head.message.find("10 more in `--json FILE`"), std::string::npos) << head.message;
  // Leaks come first among those listed: every leaking pair is there.
  EXPECT_EQ(d.count_code("duplicate-across-splits"), copies / 2) << listing(d);
}

/// 3,000 calls in 60 groups of 50 near copies (each call its group's 60 words and two of its
/// own): a group's shingles are in 50 calls, too few to be boilerplate, so every bucket holds 50
/// calls alike. Comparing every pair would cost 75,000 Jaccard indices and return as many pairs.
TEST(Duplicates, ThousandsOfNearCopiesCostPairsLinearInCalls) {
  data::Dataset ds;
  ds.root = "/nonexistent";
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) {
    data::Call call;
    call.call_id = "c" + std::to_string(i);
    std::string text = words(60, unsigned(i % 60));
    for (int k = 0; k < 2; ++k) text += " x" + std::to_string(rng() % 100000);
    data::Segment seg;
    seg.end_s = 1, seg.speaker = "customer", seg.text = text;
    call.segments.push_back(seg);
    ds.calls.push_back(call);
  }
  const auto start = std::chrono::steady_clock::now();
  const auto pairs = data::find_duplicates(ds);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(pairs.size(), ds.calls.size());  // a forest: at most one pair per call
  data::CallGroups groups(ds.calls.size());
  for (const auto& p : pairs) groups.join(p.a, p.b);
  size_t joined = 0;
  for (size_t i = 0; i < ds.calls.size(); ++i) joined += groups.find(i) == groups.find(i % 60);
  EXPECT_GE(joined, ds.calls.size() * 99 / 100);
  EXPECT_LT(seconds, 5.0);
}

TEST(Duplicates, DistinctCallsSharingBoilerplateAreNotFlagged) {
  auto fx = support_fixture("dup-boilerplate");
  fx.calls.push_back(copy_of(fx.calls[0], "c3", "test"));
  set_turns(fx.calls.back(), password_call());
  fx.calls.back()["audio"] = "audio/c1.wav";
  auto r = fx.validate();
  EXPECT_TRUE(r.duplicates.empty()) << listing(r.diagnostics);
  EXPECT_FALSE(r.diagnostics.has_code("duplicate-summary")) << listing(r.diagnostics);
  // The shared greetings are repeated sentences across splits: one counted finding.
  EXPECT_EQ(r.diagnostics.count_code("transcript-across-splits"), 1u) << listing(r.diagnostics);
}

TEST(Duplicates, CopiesWithinOneSplitAreWarnings) {
  auto fx = support_fixture("dup-within");
  fx.calls.push_back(copy_of(fx.calls[1], "c3", "test"));
  auto r = fx.validate();
  EXPECT_EQ(r.diagnostics.error_count(), 0u) << listing(r.diagnostics);
  EXPECT_EQ(r.diagnostics.count_code("duplicate-call"), 1u) << listing(r.diagnostics);
  EXPECT_EQ(r.diagnostics.findings().front().code, "duplicate-summary");
}

TEST(Duplicates, RepeatedShortSentencesAreCountedInOneFinding) {
  auto fx = support_fixture("dup-short");
  for (int i = 0; i < 12; ++i) {
    json call = copy_of(fx.calls[i % 2], "r" + std::to_string(i), i % 3 ? "train" : "test");
    set_turns(call, {"Yes.", "#EMAIL#", "Okay, thanks.", "Call " + std::to_string(i) + " here."});
    fx.calls.push_back(call);
  }
  auto r = fx.validate();
  const auto& d = r.diagnostics;
  EXPECT_EQ(d.count_code("transcript-across-splits"), 1u) << listing(d);
  EXPECT_EQ(d.count_code("duplicate-across-splits"), 0u) << listing(d);  // too short to judge
  for (const auto& f : d.findings()) {
    if (f.code != "transcript-across-splits") continue;
    EXPECT_NE(f.message.find("\"Yes.\" in 12 calls (train 8, test 4)"), std::string::npos)
        << f.message;
    EXPECT_NE(f.message.find("\"#EMAIL#\" in 12 calls"), std::string::npos) << f.message;
    EXPECT_GT(f.line, 0);
  }
}

/// `seconds` of a tone sequence whose pitch and loudness (min_level to 0.5) change every 60 ms
/// (seeded): sound with a changing spectrum, as speech has.
std::vector<float> changing_sound(double seconds, int rate, unsigned seed, double min_level = 0.1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> hz(300, 3000), level(min_level, 0.5);
  std::vector<float> out(static_cast<size_t>(seconds * rate));
  const size_t note = static_cast<size_t>(0.06 * rate);
  double f = 0, a = 0, phase = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (i % note == 0) f = hz(rng), a = level(rng);
    phase += 2 * std::numbers::pi * f / rate;
    out[i] = static_cast<float>(a * (std::sin(phase) + 0.5 * std::sin(2.3 * phase)) / 1.5);
  }
  return out;
}

TEST(Duplicates, RecordingMatchesThroughGainRateAndContainer) {
  const auto dir = make_temp_dir("dup-fingerprint");
  auto sound = changing_sound(3.0, 16000, 7);
  data::write_audio(dir / "a.wav", sound, 1, 16000);
  auto quieter = data::resample(sound, 16000, 8000);
  for (auto& x : quieter) x *= 0.3f;
  data::write_audio(dir / "b.flac", quieter, 1, 8000);
  data::write_audio(dir / "c.wav", changing_sound(3.0, 16000, 8), 1, 16000);
  auto a = data::audio_fingerprint(dir / "a.wav");
  auto b = data::audio_fingerprint(dir / "b.flac");
  auto c = data::audio_fingerprint(dir / "c.wav");
  EXPECT_GE(a.changing_frames, data::kMinFingerprintFrames);
  EXPECT_LE(data::fingerprint_bit_errors(a, b, 0), 0.1);
  EXPECT_GE(data::fingerprint_bit_errors(a, c, 0), 0.35);
}

TEST(Duplicates, SameRecordingResampledQuieterUnderTwoNamesAcrossSplitsIsFoundByAudio) {
  DatasetFixture fx("dup-audio");
  auto sound = changing_sound(4.0, 16000, 3);
  std::vector<float> stereo(sound.size() * 2);
  for (size_t i = 0; i < sound.size(); ++i) stereo[2 * i] = stereo[2 * i + 1] = sound[i];
  data::write_audio(fx.root / "audio/c1.wav", stereo, 2, 16000);
  // The copy: resampled to 8 kHz, 6 dB quieter, FLAC, under another name.
  auto narrow = data::resample(sound, 16000, 8000);
  std::vector<float> copy(narrow.size() * 2);
  for (size_t i = 0; i < narrow.size(); ++i) copy[2 * i] = copy[2 * i + 1] = 0.5f * narrow[i];
  data::write_audio(fx.root / "audio/c2.flac", copy, 2, 8000);
  fx.calls[1]["audio"] = "audio/c2.flac";
  auto r = fx.validate();
  ASSERT_EQ(r.diagnostics.count_code("duplicate-across-splits"), 1u) << listing(r.diagnostics);
  ASSERT_EQ(r.duplicates.size(), 1u);
  EXPECT_TRUE(r.duplicates[0].audio_bit_errors);
  EXPECT_FALSE(r.duplicates[0].text_jaccard);
  data::ValidateOptions no_fingerprints;
  no_fingerprints.audio_duplicates = false;
  EXPECT_TRUE(fx.validate(no_fingerprints).duplicates.empty());
}

TEST(Duplicates, QuietRecordingMatchesItsQuieterTelephoneBandCopy) {
  // A quiet recording (in-band sound at about -67 dBFS, a tone at 120 Hz as loud) whose power
  // lies largely below 300 Hz, as a calm RAVDESS clip's does; its copy went through a telephone
  // band (only the in-band part left) and 6 dB of gain down, about -73 dBFS: under the fixed
  // -70 dBFS silence gate the fingerprint had, every frame of the copy counted as silence and
  // the pair was missed.
  DatasetFixture fx("dup-quiet");
  const auto voice = changing_sound(4.0, 16000, 5, /*min_level=*/0.4);
  std::vector<float> original(voice.size());
  for (size_t i = 0; i < voice.size(); ++i)
    original[i] = 0.002f * voice[i] + 0.001f * std::sin(2 * std::numbers::pi * 120 * i / 16000.0);
  std::vector<float> stereo(original.size() * 2);
  for (size_t i = 0; i < original.size(); ++i) stereo[2 * i] = stereo[2 * i + 1] = original[i];
  data::write_audio(fx.root / "audio/c1.wav", stereo, 2, 16000);
  auto narrow = data::resample(voice, 16000, 8000);
  std::vector<float> copy(narrow.size() * 2);
  for (size_t i = 0; i < narrow.size(); ++i) copy[2 * i] = copy[2 * i + 1] = 0.001f * narrow[i];
  data::write_audio(fx.root / "audio/c2.wav", copy, 2, 8000);
  fx.calls[1]["audio"] = "audio/c2.wav";
  const auto a = data::audio_fingerprint(fx.root / "audio/c1.wav");
  const auto b = data::audio_fingerprint(fx.root / "audio/c2.wav");
  EXPECT_GE(a.changing_frames, data::kMinFingerprintFrames);
  EXPECT_GE(b.changing_frames, data::kMinFingerprintFrames);
  // The two partials of a note leave most bands to 16-bit rounding noise at this level: their
  // bits differ at random, so the share is higher than for a loud copy, still under the bar.
  EXPECT_LE(data::fingerprint_bit_errors(a, b, 0), data::kAudioMatchBitErrors);
  auto r = fx.validate();
  ASSERT_EQ(r.duplicates.size(), 1u) << listing(r.diagnostics);
  EXPECT_TRUE(r.duplicates[0].audio_bit_errors);
  // Near silence is not sound: a file of dither alone (-95 dBFS) has no frame to match by.
  std::vector<float> dither(16000 * 3);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> lsb(-3e-5f, 3e-5f);
  for (auto& x : dither) x = lsb(rng);
  data::write_audio(fx.root / "audio/hiss.wav", dither, 1, 16000);
  EXPECT_LT(data::audio_fingerprint(fx.root / "audio/hiss.wav").changing_frames,
            data::kMinFingerprintFrames);
}

/// `seconds` of voiced sound at `rate`: every 60 ms a fundamental of 100-250 Hz with its
/// harmonics up to 3.4 kHz at amplitudes drawn anew (seeded), as a voice through a changing
/// vocal tract has, so every band holds some of it; peaks about 0.5.
std::vector<float> voiced_sound(double seconds, int rate, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> f0_hz(100, 250), harmonic(0.05, 1), level(0.2, 1);
  std::vector<float> out(static_cast<size_t>(seconds * rate));
  const size_t note = static_cast<size_t>(0.06 * rate);
  std::array<double, 40> amplitude{};
  double f0 = 0, a = 0, phase = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (i % note == 0) {
      f0 = f0_hz(rng), a = level(rng);
      for (auto& h : amplitude) h = harmonic(rng);
    }
    phase += 2 * std::numbers::pi * f0 / rate;
    double v = 0;
    for (size_t k = 1; k <= amplitude.size() && double(k) * f0 < 3400; ++k)
      v += amplitude[k - 1] * std::sin(double(k) * phase) / std::sqrt(double(k));
    out[i] = static_cast<float>(a * v / 6);
  }
  return out;
}

/// G.711's mu-law (mu = 255) companding, quantised to 8 bits and expanded again: a telephone
/// codec's noise, which lies about 38 dB under the signal whatever its level.
std::vector<float> mulaw_8bit(std::vector<float> x) {
  const double mu = 255, log_mu = std::log1p(mu);
  for (auto& v : x) {
    const double magnitude = std::min(1.0, std::fabs(double(v)));
    const double y = std::round(127 * std::log1p(mu * magnitude) / log_mu);
    v = static_cast<float>(std::copysign(std::expm1(y / 127 * log_mu) / mu, double(v)));
  }
  return x;
}

TEST(Duplicates, CopyWithNoIntactFrameIsFoundByItsWeakBits) {
  // A quiet recording (peaks near -53 dBFS) and its copy 6 dB down through 8-bit mu-law: the
  // codec's noise flips the bits of the weaker bands, so about 14 % of the bits differ (under
  // the 20 % bar) but no frame keeps all 32. Looked up exactly, no alignment was proposed and
  // the copy was missed, as two of 106 RAVDESS telephone copies were; looked up with their
  // weak bits flipped, frames of the copy find the original's. Another recording through the
  // same channel is still no copy: the bits decide, not the lookup.
  const auto dir = make_temp_dir("dup-weak-bits");
  const auto channel = [](std::vector<float> x, float gain) {
    for (auto& v : x) v *= gain;
    return mulaw_8bit(std::move(x));
  };
  std::vector<float> original = voiced_sound(3.0, 8000, 4);
  for (auto& v : original) v *= 0.005f;
  data::write_audio(dir / "original.wav", original, 1, 8000);
  data::write_audio(dir / "copy.wav", channel(original, 0.5f), 1, 8000);
  std::vector<float> other = voiced_sound(3.0, 8000, 5);
  for (auto& v : other) v *= 0.005f;
  data::write_audio(dir / "other.wav", channel(other, 0.5f), 1, 8000);

  const auto a = data::audio_fingerprint(dir / "original.wav");
  const auto b = data::audio_fingerprint(dir / "copy.wav");
  ASSERT_EQ(a.bits.size(), b.bits.size());
  size_t intact = 0;
  for (size_t t = 0; t < a.bits.size(); ++t)
    intact += (a.changing[t] || b.changing[t]) && a.bits[t] == b.bits[t];
  EXPECT_LE(intact, 1u);  // what the exact lookup had: it needs two frames at one alignment
  EXPECT_LE(data::fingerprint_bit_errors(a, b, 0), data::kAudioMatchBitErrors);
  EXPECT_GE(data::fingerprint_bit_errors(a, data::audio_fingerprint(dir / "other.wav"), 0), 0.35);

  // Either file may be looked up against the other (files are taken in path order).
  for (const auto& [first, second] : {std::pair{"original.wav", "copy.wav"},
                                      std::pair{"copy.wav", "original.wav"}}) {
    data::Dataset ds;
    ds.root = dir;
    for (const char* file : {first, second, "other.wav"}) {
      data::Call call;
      call.call_id = file;
      call.audio = file;
      ds.calls.push_back(call);
    }
    data::DuplicateOptions options;
    options.audio = true;
    const auto pairs = data::find_duplicates(ds, options);
    ASSERT_EQ(pairs.size(), 1u) << first << " before " << second;
    EXPECT_EQ(pairs[0].a, 0u);
    EXPECT_EQ(pairs[0].b, 1u);
    ASSERT_TRUE(pairs[0].audio_bit_errors);
    EXPECT_LE(*pairs[0].audio_bit_errors, data::kAudioMatchBitErrors);
  }
}

TEST(Duplicates, SplitKeepsDuplicatesInOneSplit) {
  data::Dataset ds;
  ds.root = "/nonexistent";
  ds.schema.tasks.push_back(
      {"escalation", data::TaskType::kBinary, {"calm", "escalated"}, "customer"});
  // 40 calls; call 2k+1 is a copy of call 2k under another id and speaker.
  for (int i = 0; i < 40; ++i) {
    data::Call call;
    call.call_id = "c" + std::to_string(i);
    call.meta["speaker_id"] = "s" + std::to_string(i);
    for (const auto& text : support_turns(words(30, i / 2), words(30, 100 + i / 2))) {
      data::Segment seg;
      seg.start_s = double(call.segments.size()), seg.end_s = seg.start_s + 0.9;
      seg.speaker = "customer", seg.text = text;
      seg.labels["escalation"] = i % 8 < 2;
      call.segments.push_back(seg);
    }
    ds.calls.push_back(call);
  }
  data::SplitOptions options;
  options.train = 0.5, options.dev = 0.25, options.test = 0.25;
  for (uint64_t seed : {1, 2, 3}) {
    options.seed = seed;
    auto a = data::assign_splits(ds, options);
    std::map<std::string, int> per_split;
    for (const auto& call : a.calls) ++per_split[call.split];
    EXPECT_EQ(per_split["train"], 20);  // 20 pairs, distinct from each other: 10/5/5
    EXPECT_EQ(per_split["test"], 10);
    for (size_t i = 0; i < a.calls.size(); i += 2)
      EXPECT_EQ(a.calls[i].split, a.calls[i + 1].split) << "seed " << seed << ", call " << i;
  }
  // Out-of-fold review: copies share a fold too.
  const auto folds = data::assign_folds(ds, 5, 1);
  for (size_t i = 0; i < ds.calls.size(); i += 2) EXPECT_EQ(folds[i], folds[i + 1]) << i;
  // Copies already in two splits: refused with both calls named, regrouped with --reassign.
  ds.calls[0].split = "train", ds.calls[1].split = "test";
  const auto msg = thrown_message<DataError>([&] { data::assign_splits(ds, {}); });
  EXPECT_NE(msg.find("c0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("c1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--reassign"), std::string::npos) << msg;
  options.reassign = true;
  auto b = data::assign_splits(ds, options);
  EXPECT_EQ(b.calls[0].split, b.calls[1].split);
}

}  // namespace
}  // namespace tenor::test
