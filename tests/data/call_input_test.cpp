// One call given on the command line (`tenor predict CALL.wav --transcript T.jsonl`): the
// transcript is checked like calls.jsonl segments, errors name file and line, audio without
// a transcript is cut into windows.
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/call_input.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

data::Schema two_tasks() {
  data::Schema s;
  data::Task esc{"escalation", data::TaskType::kOrdinal, {"calm", "frustrated"}, "customer"};
  data::Task emp{"empathy", data::TaskType::kBinary, {"absent", "present"}, "agent"};
  s.tasks = {esc, emp};
  return s;
}

TEST(ChannelMap, ParsesAndRejectsWithTheFix) {
  auto m = data::parse_channel_map("agent=0,customer=1");
  EXPECT_EQ(m.at("agent"), 0);
  EXPECT_EQ(m.at("customer"), 1);
  for (const char* bad : {"agent", "agent=x", "=1", "agent=-1", "agent=1x"}) {
    std::string msg = thrown_message([&] { data::parse_channel_map(bad); });
    EXPECT_NE(msg.find("ROLE=CHANNEL"), std::string::npos) << bad << ": " << msg;
  }
}

TEST(SingleCall, TranscriptSegmentsKeepTheirOrderAndDropLabels) {
  fs::path dir = make_temp_dir("call-input");
  write_tone(dir / "call.wav", 4.0);
  write_text(dir / "t.jsonl",
             "{\"start\": 0.5, \"end\": 1.5, \"speaker\": \"customer\", \"text\": \"hello\"}\n"
             "\n"
             "{\"start\": 1.6, \"end\": 3.0, \"speaker\": \"agent\", \"text\": \"hi\", "
             "\"labels\": {\"empathy\": 1}}\n");
  data::CallInput in;
  in.audio = dir / "call.wav";
  in.transcript = dir / "t.jsonl";
  in.channels = {{"agent", 0}, {"customer", 1}};
  auto ds = data::single_call_dataset(in, two_tasks());
  ASSERT_EQ(ds.calls.size(), 1u);
  const auto& call = ds.calls[0];
  EXPECT_EQ(call.call_id, "call");
  EXPECT_EQ(ds.root / call.audio, fs::absolute(dir / "call.wav"));
  ASSERT_EQ(call.segments.size(), 2u);
  EXPECT_EQ(call.segments[1].speaker, "agent");
  EXPECT_EQ(*call.segments[1].text, "hi");
  EXPECT_TRUE(call.segments[1].labels.empty());
  EXPECT_EQ(call.channels.at("customer"), 1);
}

TEST(SingleCall, EveryTranscriptProblemIsReportedWithFileAndLine) {
  fs::path dir = make_temp_dir("call-input-bad");
  write_tone(dir / "call.wav", 4.0);
  write_text(dir / "t.jsonl",
             "{\"start\": 0.5, \"end\": 1.5, \"speaker\": \"customer\"}\n"
             "{\"start\": 0.5, \"end\": 9.5, \"speaker\": \"customer\"}\n"  // past the audio
             "{\"start\": 2, \"end\": 1, \"speaker\": \"customer\"}\n"      // swapped
             "not json\n"
             "{\"start\": 1, \"end\": 2, \"speaker\": \"supervisor\"}\n");  // no channel
  data::CallInput in;
  in.audio = dir / "call.wav";
  in.transcript = dir / "t.jsonl";
  in.channels = {{"agent", 0}, {"customer", 1}};
  std::string msg = thrown_message([&] { data::single_call_dataset(in, two_tasks()); });
  const std::string f = (dir / "t.jsonl").string();
  EXPECT_NE(msg.find(f + ":2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("past the audio"), std::string::npos) << msg;
  EXPECT_NE(msg.find(f + ":3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("start must be before end"), std::string::npos) << msg;
  EXPECT_NE(msg.find(f + ":4:"), std::string::npos) << msg;
  EXPECT_NE(msg.find(f + ":5:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("supervisor"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(f + ":1:"), std::string::npos) << msg;
}

// A misspelt role scored nothing and a misspelt key dropped the text, both with exit 0
// (issue 21): each is an error naming the file, the line and the nearest valid word.
TEST(SingleCall, UnknownRolesAndKeysAreErrorsWithTheNearestWord) {
  fs::path dir = make_temp_dir("call-input-words");
  write_text(dir / "t.jsonl",
             "{\"start\": 0, \"end\": 1, \"speaker\": \"customer\", \"text\": \"ok\"}\n"
             "{\"start\": 1, \"end\": 2, \"speaker\": \"cust\", \"text\": \"no\"}\n"
             "{\"start\": 2, \"end\": 3, \"speaker\": \"agent\", \"txt\": \"sorry\"}\n");
  data::CallInput in;
  in.transcript = dir / "t.jsonl";
  const std::string msg = thrown_message([&] { data::single_call_dataset(in, two_tasks()); });
  const std::string f = (dir / "t.jsonl").string();
  EXPECT_NE(msg.find(f + ":2: error: speaker 'cust' is not a role (agent, customer)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("did you mean 'customer'?"), std::string::npos) << msg;
  EXPECT_NE(msg.find(f + ":3: error: unknown key 'txt'; did you mean 'text'?"), std::string::npos)
      << msg;
  EXPECT_EQ(msg.find(f + ":1:"), std::string::npos) << msg;
}

// `predict --transcript` said "internal error: number overflow" (issue 16).
TEST(SingleCall, NumberOutOfRangeInTranscriptNamesFileLineAndFix) {
  fs::path dir = make_temp_dir("call-input-overflow");
  write_text(dir / "t.jsonl",
             "{\"start\": 0.5, \"end\": 1.5, \"speaker\": \"customer\"}\n"
             "{\"start\": 2, \"end\": 1e309, \"speaker\": \"customer\"}\n");
  data::CallInput in;
  in.transcript = dir / "t.jsonl";
  std::string msg =
      thrown_message<DataError>([&] { data::single_call_dataset(in, two_tasks()); });
  const std::string f = (dir / "t.jsonl").string();
  EXPECT_NE(msg.find(f + ":2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1e309"), std::string::npos) << msg;
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ordinary number"), std::string::npos) << msg;
}

TEST(SingleCall, WindowsCutAsTheAudioGrowsAreThoseOfTheWholeAudio) {
  // A stream cuts its windows as audio comes (data::AudioWindows): in pieces they are, to the
  // last bit, the windows `tenor predict` cut from the whole audio before AudioWindows (this
  // loop), the rest joining the last window or not.
  for (const double duration : {1.05, 1.02, 0.07, 0.3}) {
    std::vector<std::pair<double, double>> want;
    for (double start = 0; start < duration; start += 0.1)
      want.push_back({start, std::min(duration, start + 0.1)});
    if (want.size() >= 2 && want.back().second - want.back().first < 0.1 / 3) {
      want.pop_back();
      want.back().second = duration;
    }
    data::AudioWindows grown(0.1);
    std::vector<std::pair<double, double>> got;
    for (double at = 0; at < duration; at += 0.013)
      for (const auto& w : grown.full(at)) got.push_back({w.start_s, w.end_s});
    for (const auto& w : grown.full(duration)) got.push_back({w.start_s, w.end_s});
    if (const auto tail = grown.end(duration); tail && tail->joins)
      got.back().second = tail->window.end_s;
    else if (tail)
      got.push_back({tail->window.start_s, tail->window.end_s});
    EXPECT_EQ(got, want) << duration;
  }
}

TEST(SingleCall, AudioWithoutTranscriptIsCutIntoWindowsPerRole) {
  fs::path dir = make_temp_dir("call-input-windows");
  write_tone(dir / "call.wav", 25.0);
  data::CallInput in;
  in.audio = dir / "call.wav";
  in.window_s = 10;
  in.mix = true;  // stereo, mixed into one voice track as asked: windows of `speaker`
  auto mono = data::single_call_dataset(in, two_tasks()).calls[0];
  ASSERT_EQ(mono.segments.size(), 3u);  // 0-10, 10-20, 20-25 (5 s >= a third of 10)
  EXPECT_EQ(mono.segments[2].end_s, 25.0);
  EXPECT_EQ(mono.segments[0].speaker, "customer");
  in.window_s = 12;  // 0-12, 12-25: the 1 s tail joins the window before it
  auto merged = data::single_call_dataset(in, two_tasks()).calls[0];
  ASSERT_EQ(merged.segments.size(), 2u);
  EXPECT_EQ(merged.segments[1].end_s, 25.0);
  in.window_s = 10;
  in.mix = false;
  in.channels = {{"agent", 0}, {"customer", 1}};
  auto stereo = data::single_call_dataset(in, two_tasks()).calls[0];
  ASSERT_EQ(stereo.segments.size(), 6u);
  EXPECT_LE(stereo.segments[0].start_s, stereo.segments[1].start_s);
  in.channels = {{"customer", 2}};
  EXPECT_NE(thrown_message([&] { data::single_call_dataset(in, two_tasks()); }).find("channel 2"),
            std::string::npos);
}

// A stereo call without --channels mixed both voices and scored every window as a customer,
// without a word (issue 21): the mapping now comes from the model's training calls when the
// audio has their layout, is mixed only with `mix`, and is otherwise asked for.
TEST(SingleCall, MultiChannelAudioIsMappedByTheConventionOrByHandOrMixedWhenAsked) {
  fs::path dir = make_temp_dir("call-input-channels");
  write_tone(dir / "call.wav", 4.0);  // stereo
  write_text(dir / "t.jsonl", "{\"start\": 0, \"end\": 1, \"speaker\": \"agent\"}\n");
  data::CallInput in;
  in.audio = dir / "call.wav";
  for (const fs::path& transcript : {fs::path(), dir / "t.jsonl"}) {
    in.transcript = transcript;
    const std::string msg =
        thrown_message<UsageError>([&] { data::single_call_dataset(in, two_tasks()); });
    EXPECT_NE(msg.find("call.wav has 2 channels"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--channels agent=0,customer=1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--mix"), std::string::npos) << msg;
  }
  in.transcript.clear();
  // The model's training calls were stereo, agent left: the same layout takes their mapping.
  in.convention = {2, {{"agent", 0}, {"customer", 1}}};
  auto mapped = data::single_call_dataset(in, two_tasks()).calls[0];
  EXPECT_EQ(mapped.channels, in.convention.channels);
  ASSERT_EQ(mapped.segments.size(), 2u);  // one 4 s window per role
  EXPECT_NE(mapped.segments[0].speaker, mapped.segments[1].speaker);
  // Another layout (their calls had three channels) is not guessed at.
  in.convention = {3, {{"agent", 0}, {"customer", 2}}};
  const std::string other =
      thrown_message<UsageError>([&] { data::single_call_dataset(in, two_tasks()); });
  EXPECT_NE(other.find("its training calls had 3 channel(s): agent=0, customer=2"),
            std::string::npos)
      << other;
  // Mixing is what was asked for: no mapping, windows of --speaker.
  in.mix = true;
  auto mixed = data::single_call_dataset(in, two_tasks()).calls[0];
  EXPECT_TRUE(mixed.channels.empty());
  ASSERT_EQ(mixed.segments.size(), 1u);
  EXPECT_EQ(mixed.segments[0].speaker, "customer");
  // A mapping given by hand wins over the convention.
  in.mix = false;
  in.channels = {{"customer", 0}};
  EXPECT_EQ(data::single_call_dataset(in, two_tasks()).calls[0].channels, in.channels);
  // A misspelt role in the mapping would score nothing: named with the nearest one.
  in.channels = {{"agent", 0}, {"cust", 1}};
  EXPECT_NE(thrown_message<UsageError>([&] { data::single_call_dataset(in, two_tasks()); })
                .find("--channels: 'cust' is not a role (agent, customer); did you mean "
                      "'customer'?"),
            std::string::npos);
  // Mono audio needs no mapping.
  write_tone(dir / "mono.wav", 4.0, 16000, 1);
  in.channels.clear();
  in.audio = dir / "mono.wav";
  EXPECT_TRUE(data::single_call_dataset(in, two_tasks()).calls[0].channels.empty());
}

TEST(ChannelConvention, IsTheLayoutEveryTrainingCallSharesElseNone) {
  data::Dataset ds;
  data::Call a, b;
  a.audio = "a.wav", b.audio = "b.wav";
  a.channels = b.channels = {{"agent", 0}, {"customer", 1}};
  ds.calls = {a, b};
  std::map<std::string, data::AudioScan> scans;
  scans["a.wav"].info.channels = 2;
  scans["b.wav"].info.channels = 2;
  const auto c = data::channel_convention(ds, scans);
  EXPECT_EQ(c.audio_channels, 2);
  EXPECT_EQ(c.channels, a.channels);
  const auto back = data::ChannelConvention::from_json(c.to_json().dump(), "here");
  EXPECT_EQ(back.audio_channels, 2);
  EXPECT_EQ(back.channels, a.channels);
  EXPECT_EQ(data::ChannelConvention::from_json("", "here").audio_channels, 0);
  EXPECT_NE(thrown_message<DataError>([] { data::ChannelConvention::from_json("{\"x\": 1}", "f.json"); })
                .find("f.json"),
            std::string::npos);
  ds.calls[1].channels = {{"agent", 1}, {"customer", 0}};  // calls disagree: none
  EXPECT_EQ(data::channel_convention(ds, scans).audio_channels, 0);
  scans["a.wav"].info.channels = scans["b.wav"].info.channels = 1;  // mono: no mapping needed
  const auto mono = data::channel_convention(ds, scans);
  EXPECT_EQ(mono.audio_channels, 1);
  EXPECT_TRUE(mono.channels.empty());
  EXPECT_FALSE(mono.fits(1));
}

// The transcript's times are checked against the audio by validate's own check, in its words.
TEST(SingleCall, TranscriptPastTheAudioIsValidatesFindingAtTheTranscriptsLine) {
  fs::path dir = make_temp_dir("call-input-past");
  write_tone(dir / "call.wav", 4.0, 16000, 1);
  write_text(dir / "t.jsonl",
             "{\"start\": 0, \"end\": 1, \"speaker\": \"customer\"}\n"
             "{\"start\": 3, \"end\": 61.2, \"speaker\": \"customer\"}\n");
  data::CallInput in;
  in.audio = dir / "call.wav";
  in.transcript = dir / "t.jsonl";
  const std::string msg =
      thrown_message<DataError>([&] { data::single_call_dataset(in, two_tasks()); });
  EXPECT_NE(msg.find((dir / "t.jsonl").string() +
                     ":2: error: segment ends at 61.2 s, past the audio's 4 s; fix end or the "
                     "audio path"),
            std::string::npos)
      << msg;
}

TEST(SingleCall, NeedsAudioOrTranscript) {
  data::CallInput in;
  EXPECT_NE(
      thrown_message([&] { data::single_call_dataset(in, two_tasks()); }).find("--transcript"),
      std::string::npos);
  in.audio = "/nonexistent/call.wav";
  EXPECT_NE(
      thrown_message([&] { data::single_call_dataset(in, two_tasks()); }).find("/nonexistent"),
      std::string::npos);
}

}  // namespace
}  // namespace tenor::test
