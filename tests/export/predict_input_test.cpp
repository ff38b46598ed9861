// `tenor predict` reads a call only one way (issue 21, item 1): a stereo call without
// --channels mixed both voices and scored every window as a customer, and --transcript without
// --channels changed the scores, both silently. The mapping now comes from the model's training
// calls when the audio has their layout (the bundle's features.json, the run's store), is asked
// for otherwise, and channels are mixed only with --mix; mono audio for a two-role model is
// scored with a warning that says what. Bad input (a rate the model cannot analyse, a tampered
// or incomplete bundle, a transcript past the audio) is refused with the fix, no output left.
#include <gtest/gtest.h>

#include <fstream>

#include "core/atomic_file.h"
#include "core/sha256.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"

namespace tenor::test {
namespace {
using nlohmann::json;

/// A small linear run on tiny_store() (stereo calls, agent on 0, customer on 1), once.
const fs::path& linear_run() {
  static const fs::path run = [] {
    const fs::path dir = make_temp_dir("input-run");
    std::string out;
    EXPECT_EQ(run_tenor("train --config " + write_train_config(dir, "  type: linear\n").string() +
                            " --set epochs=2",
                        &out),
              0)
        << out;
    return dir / "run";
  }();
  return run;
}

/// linear_run() exported, once.
const fs::path& linear_bundle() {
  static const fs::path bundle = [] {
    const fs::path b = make_temp_dir("input-bundle") / "bundle";
    std::string out;
    EXPECT_EQ(run_tenor("export --run " + linear_run().string() + " --out " + b.string(), &out),
              0)
        << out;
    return b;
  }();
  return bundle;
}

/// `tenor predict ARGS --out F`: its exit status, log in `log`, segments in `segments`.
int predict(const std::string& args, std::string* log, json* segments = nullptr) {
  const fs::path out = make_temp_dir("input-predict") / "call.json";
  const int rc = run_tenor("predict " + args + " --out " + out.string(), log);
  if (segments && rc == 0) *segments = json::parse(read_file(out))["segments"];
  if (rc != 0) {
    EXPECT_FALSE(fs::exists(out)) << "a failed predict left " << out;
  }
  return rc;
}

/// A copy of the bundle with features.json edited by `edit` and its checksum recomputed: a
/// bundle exported before the channel convention was recorded.
fs::path bundle_with_features(const fs::path& to, const std::function<void(json&)>& edit) {
  fs::copy(linear_bundle(), to, fs::copy_options::recursive);
  json facts = json::parse(read_file(to / "features.json"));
  edit(facts);
  write_file_atomic(to / "features.json", facts.dump(2));
  json manifest = json::parse(read_file(to / "manifest.json"));
  manifest["files"]["features.json"] = sha256_file(to / "features.json");
  write_file_atomic(to / "manifest.json", manifest.dump(2));
  return to;
}

TEST(E2ePredictInput, ChannelsComeFromTheTrainingCallsOrAreAskedForAndMixOnlyWhenAsked) {
  const std::string bundle = "--bundle " + linear_bundle().string();
  const std::string wav = (tiny_dataset() / "audio/c14.wav").string();
  const json facts = json::parse(read_file(linear_bundle() / "features.json"));
  EXPECT_EQ(facts["channel_convention"],
            json({{"audio_channels", 2}, {"channels", {{"agent", 0}, {"customer", 1}}}}));
  std::string log;
  json explicit_map, implicit, by_run, mixed;
  ASSERT_EQ(predict(bundle + " " + wav + " --channels agent=0,customer=1", &log, &explicit_map),
            0)
      << log;
  // Stereo as the training calls were: their mapping, said in the log.
  ASSERT_EQ(predict(bundle + " " + wav, &log, &implicit), 0) << log;
  EXPECT_NE(log.find("mapped as the model's training calls were (agent=0, customer=1)"),
            std::string::npos)
      << log;
  EXPECT_EQ(implicit, explicit_map);
  std::set<std::string> roles;
  for (const auto& s : implicit) roles.insert(s["speaker"]);
  EXPECT_EQ(roles, (std::set<std::string>{"agent", "customer"}));
  // The run's own store records the same.
  ASSERT_EQ(predict("--run " + linear_run().string() + " " + wav, &log, &by_run), 0) << log;
  EXPECT_NE(log.find("agent=0, customer=1"), std::string::npos) << log;
  // A transcript without --channels is mapped the same way.
  const fs::path t = make_temp_dir("input-transcript") / "t.jsonl";
  write_text(t, R"({"start": 0, "end": 0.9, "speaker": "customer", "text": "I want a refund"})"
                "\n"
                R"({"start": 1, "end": 1.9, "speaker": "agent", "text": "I am so sorry"})"
                "\n");
  json with_t, with_t_map;
  ASSERT_EQ(predict(bundle + " " + wav + " --transcript " + t.string(), &log, &with_t), 0) << log;
  ASSERT_EQ(predict(bundle + " " + wav + " --transcript " + t.string() +
                        " --channels agent=0,customer=1",
                    &log, &with_t_map),
            0)
      << log;
  EXPECT_EQ(with_t, with_t_map);
  // --mix: one voice track, windows of --speaker.
  ASSERT_EQ(predict(bundle + " " + wav + " --mix", &log, &mixed), 0) << log;
  for (const auto& s : mixed) EXPECT_EQ(s["speaker"], "customer");
  EXPECT_EQ(predict(bundle + " " + wav + " --mix --channels agent=0,customer=1", &log), 2) << log;
  // Three channels: no mapping fits; asked for, exit 2, nothing written.
  const fs::path dir = make_temp_dir("input-channels");
  write_tone(dir / "three.wav", 3.0, 16000, 3);
  EXPECT_EQ(predict(bundle + " " + (dir / "three.wav").string(), &log), 2) << log;
  EXPECT_NE(log.find("three.wav has 3 channels"), std::string::npos) << log;
  EXPECT_NE(log.find("its training calls had 2 channel(s): agent=0, customer=1"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("--channels agent=0,customer=1"), std::string::npos) << log;
  EXPECT_NE(log.find("--mix"), std::string::npos) << log;
  // A bundle exported before the convention was recorded: stereo needs --channels or --mix.
  const fs::path old = bundle_with_features(dir / "old", [](json& f) { f.erase("channel_convention"); });
  EXPECT_EQ(predict("--bundle " + old.string() + " " + wav, &log), 2) << log;
  EXPECT_NE(log.find("records no mapping"), std::string::npos) << log;
  EXPECT_EQ(predict("--bundle " + old.string() + " " + wav + " --mix", &log), 0) << log;
  // Mono audio, a model of two roles: scored, with a warning that says what.
  write_tone(dir / "mono.wav", 3.0, 16000, 1);
  json mono;
  ASSERT_EQ(predict(bundle + " " + (dir / "mono.wav").string(), &log, &mono), 0) << log;
  EXPECT_NE(log.find("mono.wav is mono and the model scores two roles, agent (empathy) and "
                     "customer (escalation): without a transcript every window is scored as "
                     "customer only"),
            std::string::npos)
      << log;
}

TEST(E2ePredictInput, BadInputIsRefusedWithTheFixAndNothingWritten) {
  const std::string bundle = "--bundle " + linear_bundle().string();
  const fs::path dir = make_temp_dir("input-bad");
  std::string log;
  // A rate the model cannot analyse (8 kHz for a 16 kHz extractor with mel bands to 8 kHz).
  write_tone(dir / "narrow.wav", 3.0, 8000, 1);
  EXPECT_EQ(predict(bundle + " " + (dir / "narrow.wav").string(), &log), 1) << log;
  EXPECT_NE(log.find("narrow.wav is sampled at 8000 Hz, so it holds nothing above 4000 Hz"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("--allow-narrowband"), std::string::npos) << log;
  EXPECT_EQ(predict(bundle + " " + (dir / "narrow.wav").string() + " --allow-narrowband", &log), 0)
      << log;
  // A transcript with a misspelt role and key, and one past the audio: every line named.
  write_tone(dir / "call.wav", 3.0, 16000, 1);
  write_text(dir / "t.jsonl",
             R"({"start": 0, "end": 1, "speaker": "cust", "text": "no"})" "\n"
             R"({"start": 1, "end": 2, "speaker": "agent", "txt": "sorry"})" "\n"
             R"({"start": 2, "end": 3600, "speaker": "customer", "text": "long"})" "\n");
  EXPECT_EQ(predict(bundle + " " + (dir / "call.wav").string() + " --transcript " +
                        (dir / "t.jsonl").string(),
                    &log),
            1)
      << log;
  const std::string t = (dir / "t.jsonl").string();
  EXPECT_NE(log.find(t + ":1: error: speaker 'cust' is not a role"), std::string::npos) << log;
  EXPECT_NE(log.find(t + ":2: error: unknown key 'txt'; did you mean 'text'?"), std::string::npos)
      << log;
  EXPECT_NE(log.find(t + ":3: error: segment ends at 3600 s, past the audio's 3 s"),
            std::string::npos)
      << log;
  // A tampered bundle (its model changed), an incomplete one (a file gone): refused on load.
  const fs::path tampered = dir / "tampered", incomplete = dir / "incomplete";
  fs::copy(linear_bundle(), tampered, fs::copy_options::recursive);
  std::ofstream(tampered / "model.onnx", std::ios::app) << "x";
  EXPECT_EQ(predict("--bundle " + tampered.string() + " " + (dir / "call.wav").string(), &log), 1)
      << log;
  EXPECT_NE(log.find("model.onnx has SHA-256"), std::string::npos) << log;
  EXPECT_NE(log.find("changed after export"), std::string::npos) << log;
  fs::copy(linear_bundle(), incomplete, fs::copy_options::recursive);
  fs::remove(incomplete / "calibration.json");
  EXPECT_EQ(predict("--bundle " + incomplete.string() + " " + (dir / "call.wav").string(), &log),
            1)
      << log;
  EXPECT_NE(log.find("calibration.json is listed in manifest.json but missing"), std::string::npos)
      << log;
  EXPECT_EQ(log.find("internal error"), std::string::npos) << log;
}

}  // namespace
}  // namespace tenor::test
