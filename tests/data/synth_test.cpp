// Tests of `tenor data synth`: the generated dataset loads cleanly, its segments bound real
// speech, escalation is audible, and the same seed gives the same bytes.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/audio.h"
#include "data/dataset.h"
#include "data/synth.h"

namespace tenor::data {
namespace {

namespace fs = std::filesystem;

/// A path under the test temp dir that does not exist yet, unique per call.
fs::path fresh_path(const std::string& name) {
  static std::atomic<int> counter{0};
  fs::path path =
      fs::path(testing::TempDir()) /
      ("tenor-synth-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(path);
  return path;
}

SynthOptions tiny_options(uint64_t seed) {
  SynthOptions options;
  options.calls = 4;
  options.seed = seed;
  options.min_turns = 6;
  options.max_turns = 8;
  options.customers = 3;
  options.agents = 2;
  options.escalating_share = 0.75;
  return options;
}

double rms(const std::vector<float>& x) {
  double sum = 0;
  for (float v : x) sum += double(v) * v;
  return x.empty() ? 0.0 : std::sqrt(sum / double(x.size()));
}

/// One tiny dataset shared by the read-only tests (synthesis is the slow part).
class Synth : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fresh_path("shared"));
    synthesize_dataset(*root_, tiny_options(7));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
  }
  static Dataset load() {
    Diagnostics diag;
    Dataset dataset = load_dataset(*root_, diag);
    EXPECT_EQ(diag.error_count(), 0U) << diag.to_text();
    return dataset;
  }
  static fs::path* root_;
};
fs::path* Synth::root_ = nullptr;

TEST_F(Synth, WritesADatasetThatLoadsWithoutErrors) {
  EXPECT_TRUE(fs::is_regular_file(*root_ / "dataset.yaml"));
  EXPECT_TRUE(fs::is_regular_file(*root_ / "calls.jsonl"));
  // Nothing left behind beside it: the temporary directory was renamed into place.
  for (const auto& entry : fs::directory_iterator(root_->parent_path()))
    EXPECT_EQ(entry.path().filename().string().find("." + root_->filename().string()),
              std::string::npos)
        << entry.path();

  Dataset dataset = load();
  EXPECT_EQ(dataset.schema.name, "tenor-synth");
  ASSERT_NE(dataset.schema.find("escalation"), nullptr);
  ASSERT_NE(dataset.schema.find("empathy"), nullptr);
  EXPECT_EQ(dataset.schema.find("escalation")->type, TaskType::kOrdinal);
  EXPECT_EQ(dataset.schema.find("empathy")->speaker, "agent");
  ASSERT_EQ(dataset.calls.size(), 4U);
  for (const Call& call : dataset.calls) {
    EXPECT_TRUE(fs::is_regular_file(*root_ / call.audio)) << call.audio;
    EXPECT_TRUE(call.split.empty());
    EXPECT_EQ(call.channels.at("agent"), 0);
    EXPECT_EQ(call.channels.at("customer"), 1);
    for (const char* key : {"speaker_id", "agent_id", "site", "language", "scenario"})
      EXPECT_TRUE(call.meta.count(key)) << call.call_id << " lacks meta." << key;
    ASSERT_GE(call.segments.size(), 6U);
    for (size_t i = 0; i < call.segments.size(); ++i) {
      const Segment& s = call.segments[i];
      // Turns alternate, customer first; each carries its own role's label.
      EXPECT_EQ(s.speaker, i % 2 == 0 ? "customer" : "agent");
      const std::string task = s.speaker == "customer" ? "escalation" : "empathy";
      ASSERT_EQ(s.labels.size(), 1U);
      EXPECT_TRUE(s.labels.count(task));
      EXPECT_EQ(s.labels_by.size(), 3U);  // default annotators
      ASSERT_TRUE(s.text.has_value());
      EXPECT_FALSE(s.text->empty());
      EXPECT_EQ(s.text->find('{'), std::string::npos) << "unfilled placeholder: " << *s.text;
    }
  }
}

TEST_F(Synth, SegmentsLieInsideTheAudioAndBoundTheSpeech) {
  Dataset dataset = load();
  for (const Call& call : dataset.calls) {
    const AudioInfo info = probe_audio(*root_ / call.audio);
    EXPECT_EQ(info.channels, 2);
    EXPECT_EQ(info.sample_rate_hz, 16000);
    AudioReader reader(*root_ / call.audio);
    for (const auto& [role, channel] : call.channels) {
      const std::vector<float> all = reader.read(0, info.duration_s(), channel);
      ASSERT_EQ(int64_t(all.size()), info.frames);
      // Inside: the role's own segments. Outside: everything else, 20 ms clear of them
      // (the resampler's ringing may spill a little past the trimmed speech).
      std::vector<bool> inside(all.size(), false);
      std::vector<bool> near(all.size(), false);
      for (const Segment& s : call.segments) {
        EXPECT_GE(s.start_s, 0.0);
        EXPECT_LT(s.start_s, s.end_s);
        EXPECT_LE(s.end_s, info.duration_s());
        if (s.speaker != role) continue;
        const auto at = [&](double t) {
          return std::clamp<int64_t>(std::llround(t * 16000), 0, int64_t(all.size()));
        };
        for (int64_t i = at(s.start_s); i < at(s.end_s); ++i) inside[i] = true;
        for (int64_t i = at(s.start_s - 0.02); i < at(s.end_s + 0.02); ++i) near[i] = true;
      }
      std::vector<float> in;
      std::vector<float> out;
      for (size_t i = 0; i < all.size(); ++i) {
        if (inside[i]) in.push_back(all[i]);
        if (!near[i]) out.push_back(all[i]);
      }
      ASSERT_FALSE(in.empty());
      ASSERT_FALSE(out.empty());
      // Speech is tens of dB above the -60 dBFS floor; the floor is never digital silence.
      EXPECT_GT(rms(in), 10 * rms(out)) << call.call_id << " " << role;
      EXPECT_GT(rms(out), 3e-4) << call.call_id << " " << role;
      EXPECT_LT(rms(out), 3e-3) << call.call_id << " " << role;
    }
  }
}

TEST_F(Synth, EscalatedCustomersAreLouderThanCalmOnes) {
  // Within a call (same voice, same line level): mean log RMS ratio of escalated (level >= 2)
  // segments to that call's calm ones. Level 2 is +3.8 dB of espeak volume over calm, so a
  // positive mean is a loose bound that still catches a missing or inverted effect.
  Dataset dataset = load();
  double log_ratio_sum = 0;
  int escalated = 0;
  for (const Call& call : dataset.calls) {
    AudioReader reader(*root_ / call.audio);
    std::vector<double> calm;
    std::vector<double> loud;
    for (const Segment& s : call.segments) {
      if (s.speaker != "customer") continue;
      const double level = rms(reader.read(s.start_s, s.end_s, call.channels.at("customer")));
      const int label = s.labels.at("escalation");
      if (label == 0) calm.push_back(level);
      if (label >= 2) loud.push_back(level);
    }
    if (calm.empty()) continue;
    double calm_mean = 0;
    for (double c : calm) calm_mean += c / double(calm.size());
    for (double l : loud) {
      log_ratio_sum += std::log(l / calm_mean);
      ++escalated;
    }
  }
  ASSERT_GE(escalated, 2) << "seed 7 should give escalated turns; the test would be vacuous";
  EXPECT_GT(log_ratio_sum / escalated, std::log(1.2));
}

TEST_F(Synth, SameSeedSameBytesOtherSeedOtherData) {
  SynthOptions options = tiny_options(11);
  options.calls = 2;
  const fs::path a = fresh_path("seed-a");
  const fs::path b = fresh_path("seed-b");
  const fs::path c = fresh_path("seed-c");
  synthesize_dataset(a, options);
  synthesize_dataset(b, options);  // in the same process: espeak-ng's state must not leak
  options.seed = 12;
  synthesize_dataset(c, options);
  for (const char* file : {"dataset.yaml", "calls.jsonl", "audio/c-0001.wav", "audio/c-0002.wav"})
    EXPECT_EQ(read_file(a / file), read_file(b / file)) << file;
  EXPECT_NE(read_file(a / "calls.jsonl"), read_file(c / "calls.jsonl"));
  EXPECT_NE(read_file(a / "audio/c-0001.wav"), read_file(c / "audio/c-0001.wav"));
  for (const auto& dir : {a, b, c}) fs::remove_all(dir);
}

TEST_F(Synth, ValidateRejectsImpossibleValues) {
  EXPECT_NO_THROW(SynthOptions{}.validate());
  const auto rejects = [](auto change, const std::string& word) {
    SynthOptions options;
    change(options);
    try {
      options.validate();
      ADD_FAILURE() << "accepted a bad " << word;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  rejects([](SynthOptions& o) { o.calls = 0; }, "calls");
  rejects([](SynthOptions& o) { o.sample_rate_hz = 100; }, "sample-rate");
  rejects([](SynthOptions& o) { o.min_turns = 0; }, "min_turns");
  rejects([](SynthOptions& o) { o.max_turns = o.min_turns - 1; }, "max_turns");
  rejects([](SynthOptions& o) { o.customers = 0; }, "customers");
  rejects([](SynthOptions& o) { o.agents = 0; }, "agents");
  rejects([](SynthOptions& o) { o.escalating_share = 1.5; }, "escalating_share");
  rejects([](SynthOptions& o) { o.empathetic_share = -0.1; }, "empathetic_share");
  rejects([](SynthOptions& o) { o.annotators = -1; }, "annotators");
  rejects([](SynthOptions& o) { o.annotator_noise = 2; }, "annotator_noise");
  // synthesize_dataset validates too, before touching the disk.
  SynthOptions bad;
  bad.calls = 0;
  const fs::path out = fresh_path("invalid");
  EXPECT_THROW(synthesize_dataset(out, bad), UsageError);
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Synth, RefusesANonEmptyDirectoryButFillsAnEmptyOne) {
  SynthOptions options = tiny_options(3);
  options.calls = 1;
  const fs::path busy = fresh_path("busy");
  fs::create_directories(busy);
  std::ofstream(busy / "keep.txt") << "mine";
  EXPECT_THROW(synthesize_dataset(busy, options), UsageError);
  EXPECT_EQ(read_file(busy / "keep.txt"), "mine");
  EXPECT_FALSE(fs::exists(busy / "calls.jsonl"));
  EXPECT_THROW(synthesize_dataset(busy / "keep.txt", options), UsageError);  // a file

  const fs::path empty = fresh_path("empty");
  fs::create_directories(empty);
  synthesize_dataset(empty, options);
  EXPECT_TRUE(fs::is_regular_file(empty / "calls.jsonl"));
  EXPECT_TRUE(fs::is_regular_file(empty / "audio/c-0001.wav"));
  fs::remove_all(busy);
  fs::remove_all(empty);
}

}  // namespace
}  // namespace tenor::data
