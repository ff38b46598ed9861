// Every rule of the spec's "What data validate must catch": a fixture that
// trips it and the clean fixture that does not.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <vector>

#include "core/text.h"
#include "data/split.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

using nlohmann::json;

std::string codes(const data::Diagnostics& d) {
  std::string out;
  for (const auto& f : d.findings()) out += data::format_finding(f) + "\n";
  return out;
}

TEST(Validate, CleanFixtureHasNoFindings) {
  DatasetFixture fx("clean");
  auto r = fx.validate();
  EXPECT_EQ(r.diagnostics.findings().size(), 0u) << codes(r.diagnostics);
  EXPECT_EQ(r.dataset.calls.size(), 2u);
  EXPECT_EQ(r.audio_files, 2u);
}

// ---- errors ----------------------------------------------------------------

TEST(Validate, MalformedYaml) {
  DatasetFixture fx("yaml");
  fx.yaml = "name: x\nlabels: [unclosed\n";
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("yaml-malformed")) << codes(r.diagnostics);
  EXPECT_EQ(r.diagnostics.findings().front().file, "dataset.yaml");
  EXPECT_FALSE(r.diagnostics.has_code("label-unknown-task"));  // not blamed on the labels
}

TEST(Validate, BadTaskTypeSuggestsNearest) {
  DatasetFixture fx("tasktype");
  fx.yaml =
      "name: x\nversion: 1\nlabels:\n  escalation:\n    type: ordnial\n    classes: [a, b]\n    "
      "speaker: customer\n";
  auto r = fx.validate();
  ASSERT_TRUE(r.diagnostics.has_code("schema-bad-task-type")) << codes(r.diagnostics);
  EXPECT_NE(codes(r.diagnostics).find("did you mean 'ordinal'"), std::string::npos);
  EXPECT_NE(codes(r.diagnostics).find("dataset.yaml:5:"), std::string::npos)
      << codes(r.diagnostics);
}

// A key written with no value is YAML's null, whose position is the next token's: the
// finding names the key's own line, and says the value is missing.
TEST(Validate, AKeyWithNoValueIsReportedOnItsOwnLine) {
  DatasetFixture fx("novalue");
  fx.yaml =
      "name:\nversion: 1\nsample_rate:\nlabels:\n  escalation:\n    type:\n"
      "    classes: [a, b]\n    speaker:\n  empathy:\n    type: binary\n    classes:\n"
      "    speaker: agent\n";
  auto r = fx.validate();
  const std::string all = codes(r.diagnostics);
  for (const char* want :
       {"dataset.yaml:1: error: `name` has no value; write one, e.g. `name: my-calls`",
        "dataset.yaml:3: error: sample_rate '' is not a rate in Hz",
        "dataset.yaml:6: error: task 'escalation' has type ''",
        "dataset.yaml:8: error: task 'escalation' needs `speaker`",
        "dataset.yaml:11: error: task 'empathy' needs `classes`"})
    EXPECT_NE(all.find(want), std::string::npos) << want << "\n" << all;
}

// yaml-cpp keeps the first of two `labels:` and drops the second without a word (issue 16).
TEST(Validate, DuplicateKeyInDatasetYamlIsAnErrorOnItsLine) {
  DatasetFixture fx("dupkey");
  fx.yaml = std::string(kTwoTaskYaml) +
            "labels:\n  topic:\n    type: categorical\n    type: binary\n"
            "    classes: [a, b]\n    speaker: customer\n";
  auto r = fx.validate();
  ASSERT_EQ(r.diagnostics.count_code("yaml-duplicate-key"), 2u) << codes(r.diagnostics);
  const std::string all = codes(r.diagnostics);
  EXPECT_NE(all.find("dataset.yaml:13: error: key `labels` appears again (first on line 4)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("dataset.yaml:16: error: key `labels.topic.type` appears again (first on "
                     "line 15)"),
            std::string::npos)
      << all;
}

// A dataset.yaml that exists but cannot be examined is not "missing". A symbolic-link
// loop stands in for a permission error here, since tests may run as root.
TEST(Validate, UnreachableDatasetFilesAreNotCalledMissing) {
  DatasetFixture fx("loop");
  fx.write();
  fs::remove(fx.root / "dataset.yaml");
  fs::create_symlink("dataset.yaml", fx.root / "dataset.yaml");
  auto r = data::validate_dataset(fx.root);
  EXPECT_FALSE(r.diagnostics.has_code("schema-missing")) << codes(r.diagnostics);
  ASSERT_TRUE(r.diagnostics.has_code("yaml-unreadable")) << codes(r.diagnostics);
  EXPECT_NE(
      codes(r.diagnostics).find("cannot read dataset.yaml: Too many levels of symbolic links"),
      std::string::npos)
      << codes(r.diagnostics);
  fs::remove(fx.root / "calls.jsonl");
  fs::create_symlink("calls.jsonl", fx.root / "calls.jsonl");
  r = data::validate_dataset(fx.root);
  EXPECT_FALSE(r.diagnostics.has_code("calls-missing")) << codes(r.diagnostics);
  EXPECT_NE(codes(r.diagnostics).find("cannot read calls.jsonl: Too many levels"),
            std::string::npos)
      << codes(r.diagnostics);
}

// A device or a directory in place of a dataset file is named as such: not "missing",
// and never read (reading /dev/zero or a pipe would never end).
TEST(Validate, DatasetFilesThatAreNotFilesSaySo) {
  DatasetFixture fx("notfile");
  fx.write();
  fs::remove(fx.root / "dataset.yaml");
  fs::create_symlink("/dev/null", fx.root / "dataset.yaml");
  fs::remove(fx.root / "calls.jsonl");
  fs::create_directory(fx.root / "calls.jsonl");
  auto r = data::validate_dataset(fx.root);
  const std::string all = codes(r.diagnostics);
  EXPECT_FALSE(r.diagnostics.has_code("schema-missing")) << all;
  EXPECT_NE(all.find("dataset.yaml is not a regular file (a device, pipe or socket)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("calls.jsonl is a directory; it must be a text file"), std::string::npos)
      << all;
}

TEST(Validate, MalformedJsonNamesTheLine) {
  DatasetFixture fx("json");
  fx.write();
  std::ofstream(fx.root / "calls.jsonl", std::ios::app)
      << "{\"call_id\": \"c3\", \"segments\": [\n";
  auto r = data::validate_dataset(fx.root);
  ASSERT_TRUE(r.diagnostics.has_code("json-malformed")) << codes(r.diagnostics);
  for (const auto& f : r.diagnostics.findings()) {
    if (f.code == "json-malformed") {
      EXPECT_EQ(f.line, 3);
    }
  }
}

TEST(Validate, MissingRequiredFields) {
  DatasetFixture fx("missing");
  fx.calls[0].erase("call_id");
  fx.calls[1]["segments"][0].erase("start");
  fx.calls[1]["segments"][1].erase("speaker");
  auto r = fx.validate();
  EXPECT_EQ(r.diagnostics.count_code("missing-field"), 3u) << codes(r.diagnostics);
}

TEST(Validate, DuplicateCallId) {
  DatasetFixture fx("dup");
  fx.calls[1]["call_id"] = "c1";
  fx.calls[1]["split"] = "train";
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("duplicate-call-id")) << codes(r.diagnostics);
  EXPECT_FALSE(r.diagnostics.has_code("call-in-two-splits"));
}

TEST(Validate, SameCallInTwoSplits) {
  DatasetFixture fx("twosplits");
  fx.calls[1]["call_id"] = "c1";
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("call-in-two-splits")) << codes(r.diagnostics);
}

TEST(Validate, AudioMissing) {
  DatasetFixture fx("nofile");
  fs::remove(fx.root / "audio/c1.wav");
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("audio-missing")) << codes(r.diagnostics);
  EXPECT_NE(codes(r.diagnostics).find("audio/c1.wav does not exist"), std::string::npos)
      << codes(r.diagnostics);
}

TEST(Validate, AudioEmptyFile) {
  DatasetFixture fx("zero");
  write_text(fx.root / "audio/c1.wav", "");
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("audio-empty")) << codes(r.diagnostics);
}

TEST(Validate, AudioGarbageIsUnreadable) {
  DatasetFixture fx("garbage");
  std::string noise;
  for (int i = 0; i < 5000; ++i) noise += static_cast<char>((i * 7919) % 251);
  write_text(fx.root / "audio/c1.wav", noise);
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("audio-unreadable")) << codes(r.diagnostics);
}

TEST(Validate, AudioTruncatedHeaderLies) {
  DatasetFixture fx("truncated");
  fs::path wav = fx.root / "audio/c1.wav";
  fs::resize_file(wav, fs::file_size(wav) / 2);  // header still promises 4 s
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("audio-truncated")) << codes(r.diagnostics);
  // The segments past the real end are reported too.
  EXPECT_TRUE(r.diagnostics.has_code("segment-past-end")) << codes(r.diagnostics);
}

TEST(Validate, SegmentTimes) {
  DatasetFixture fx("times");
  fx.calls[0]["segments"][0]["start"] = 0.95;  // start >= end (0.9)
  fx.calls[0]["segments"][1]["start"] = -1.0;
  fx.calls[1]["segments"][3]["end"] = 9.5;  // audio is 4 s
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("segment-start-not-before-end")) << codes(r.diagnostics);
  EXPECT_TRUE(r.diagnostics.has_code("segment-negative-time"));
  ASSERT_TRUE(r.diagnostics.has_code("segment-past-end"));
  EXPECT_NE(codes(r.diagnostics)
                .find("calls.jsonl:2: error: call c2, segment 3: segment ends at 9.5 s, past the "
                      "audio's 4 s"),
            std::string::npos)
      << codes(r.diagnostics);
}

TEST(Validate, LabelOutsideClasses) {
  DatasetFixture fx("labels");
  fx.calls[0]["segments"][0]["labels"]["escalation"] = 7;
  fx.calls[0]["segments"][2]["labels"]["escalation"] = "furious";
  fx.calls[1]["segments"][0]["labels"]["escalation"] = 1.5;
  fx.calls[1]["segments"][2]["labels"]["escalaton"] = 1;
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("label-out-of-range")) << codes(r.diagnostics);
  EXPECT_TRUE(r.diagnostics.has_code("label-unknown-class"));
  EXPECT_TRUE(r.diagnostics.has_code("label-bad-type"));
  EXPECT_TRUE(r.diagnostics.has_code("label-unknown-task"));
  EXPECT_NE(codes(r.diagnostics).find("did you mean 'escalation'"), std::string::npos);
}

TEST(Validate, LabelByClassNameIsAccepted) {
  DatasetFixture fx("labelname");
  fx.calls[0]["segments"][0]["labels"]["escalation"] = "calm";
  auto r = fx.validate();
  EXPECT_EQ(r.diagnostics.error_count(), 0u) << codes(r.diagnostics);
  EXPECT_EQ(r.dataset.calls[0].segments[0].labels.at("escalation"), 0);
}

TEST(Validate, LabelOnWrongSpeakerRole) {
  DatasetFixture fx("role");
  fx.calls[0]["segments"][1]["labels"] = {{"escalation", 1}};  // an agent segment
  fx.calls[0]["segments"][2]["labels_by"] = {{"ann-a", {{"empathy", 1}}}};
  auto r = fx.validate();
  EXPECT_EQ(r.diagnostics.count_code("label-wrong-speaker"), 2u) << codes(r.diagnostics);
}

TEST(Validate, ChannelTheAudioDoesNotHave) {
  DatasetFixture fx("channel");
  fx.calls[0]["channels"]["customer"] = 3;
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("channel-missing")) << codes(r.diagnostics);
}

TEST(Validate, StereoAudioWithoutAChannelMapIsAWarningWithTheFix) {
  DatasetFixture fx("unmapped");
  fx.calls[0].erase("channels");
  auto r = fx.validate();
  EXPECT_EQ(r.diagnostics.error_count(), 0u) << codes(r.diagnostics);
  EXPECT_NE(codes(r.diagnostics)
                .find("calls.jsonl:1: warning: call c1: audio/c1.wav has 2 channels but the call "
                      "has no `channels` mapping, so they are mixed down; if each role speaks on "
                      "its own channel, map them (\"channels\": {\"agent\": 0, \"customer\": "
                      "1}, or tenor data import --channels agent=0,customer=1)"),
            std::string::npos)
      << codes(r.diagnostics);

  // A CSV dataset's fix is its column's form.
  write_text(fx.root / "segments.csv",
             "call_id,audio,start,end,speaker,text,escalation,empathy,annotator,split\n"
             "c1,audio/c1.wav,0,0.9,customer,hello,calm,,,train\n");
  fs::remove(fx.root / "calls.jsonl");
  r = data::validate_dataset(fx.root);
  EXPECT_NE(codes(r.diagnostics).find("map them (a channels column such as agent:0;customer:1, "),
            std::string::npos)
      << codes(r.diagnostics);
}

TEST(Validate, AudioPathLeavingTheDataset) {
  DatasetFixture fx("escape");
  fx.calls[0]["audio"] = "../../etc/passwd";
  fx.calls[1]["audio"] = "/etc/passwd";
  auto r = fx.validate();
  EXPECT_EQ(r.diagnostics.count_code("audio-path-escapes"), 2u) << codes(r.diagnostics);
  EXPECT_EQ(r.audio_files, 0u);  // never opened
}

TEST(Validate, BadSplitName) {
  DatasetFixture fx("splitname");
  fx.calls[0]["split"] = "trian";
  auto r = fx.validate();
  ASSERT_TRUE(r.diagnostics.has_code("bad-split")) << codes(r.diagnostics);
  EXPECT_NE(codes(r.diagnostics).find("did you mean 'train'"), std::string::npos);
}

// ---- hostile input -----------------------------------------------------------

TEST(Validate, BinaryGarbageManifest) {
  DatasetFixture fx("binary");
  fx.write();
  std::string garbage;
  for (int i = 0; i < 20000; ++i) garbage += static_cast<char>((i * 31 + 7) % 256);
  write_text(fx.root / "calls.jsonl", garbage);
  auto r = data::validate_dataset(fx.root);
  EXPECT_GT(r.diagnostics.error_count(), 0u);
  for (const auto& f : r.diagnostics.findings())
    EXPECT_TRUE(is_valid_utf8(data::format_finding(f)));
}

TEST(Validate, NonUtf8Text) {
  DatasetFixture fx("utf8");
  fx.write();
  std::string bad =
      "{\"call_id\": \"c9\", \"segments\": [{\"start\": 0, \"end\": 1, \"speaker\": \"customer\", "
      "\"text\": \"caf\xe9\"}]}\n";
  std::ofstream(fx.root / "calls.jsonl", std::ios::app) << bad;
  auto r = data::validate_dataset(fx.root);
  EXPECT_TRUE(r.diagnostics.has_code("not-utf8")) << codes(r.diagnostics);
}

/// Replaces every `from` in `file` by `to` (a value json cannot hold, such as 1e309).
void replace_in_file(const fs::path& file, const std::string& from, const std::string& to) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t pos; (pos = text.find(from)) != std::string::npos;)
    text.replace(pos, from.size(), to);
  write_text(file, text);
}

// 1e309 overflows a double: the JSON parser threw on a loader thread, and every data
// command died with SIGABRT (issue 16). Now it is a finding on its line, the first
// line (parsed on the calling thread) as much as any other.
TEST(Validate, NumberOutOfRangeIsAFindingOnItsLine) {
  for (int line : {1, 2}) {
    DatasetFixture fx("overflow-" + std::to_string(line));
    fx.calls[static_cast<size_t>(line - 1)]["segments"][1]["end"] = 777.25;
    fx.write();
    replace_in_file(fx.root / "calls.jsonl", "777.25", "1e309");
    auto r = data::validate_dataset(fx.root);
    ASSERT_EQ(r.diagnostics.count_code("number-out-of-range"), 1u) << codes(r.diagnostics);
    for (const auto& f : r.diagnostics.findings()) {
      if (f.code != "number-out-of-range") continue;
      EXPECT_EQ(f.line, line);
      EXPECT_NE(f.message.find("1e309"), std::string::npos) << f.message;
      EXPECT_NE(f.message.find("\"end\""), std::string::npos) << f.message;
      EXPECT_NE(f.message.find("e.g. 12.5"), std::string::npos) << f.message;
    }
    EXPECT_EQ(r.dataset.calls.size(), 1u);  // the other line is still read
  }
}

TEST(Validate, NumberOutOfRangeInCsvIsAFindingOnItsLine) {
  DatasetFixture fx("overflow-csv");
  fx.calls[1]["segments"][2]["start"] = 777.25;
  fx.calls[1]["segments"][2]["end"] = 777.5;
  fx.write();
  auto ds = data::load_dataset_or_throw(fx.root);
  fs::path csv = make_temp_dir("overflow-csv-out") / "d";
  data::write_derived_dataset(ds, csv, data::ManifestFormat::kCsv);
  replace_in_file(csv / "segments.csv", "777.25", "-1e999");
  replace_in_file(csv / "segments.csv", "777.5", "1e309");
  auto r = data::validate_dataset(csv);
  ASSERT_GE(r.diagnostics.count_code("number-out-of-range"), 1u) << codes(r.diagnostics);
  for (const auto& f : r.diagnostics.findings()) {
    if (f.code != "number-out-of-range") continue;
    EXPECT_GT(f.line, 1);
    EXPECT_NE(f.message.find("start \"-1e999\" is out of range"), std::string::npos) << f.message;
    EXPECT_NE(f.message.find("end \"1e309\" is out of range"), std::string::npos) << f.message;
  }
}

// A line nesting a million arrays crashed validate (SIGSEGV): writing or copying such a
// value recurses once per level. Deep nesting is a finding on its line.
TEST(Validate, DeeplyNestedLineIsAFindingNotACrash) {
  DatasetFixture fx("deep");
  fx.write();
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  std::ofstream(fx.root / "calls.jsonl", std::ios::app)
      << deep << "\n{\"call_id\": \"c3\", \"segments\": [], \"extra\": " << deep << "}\n";
  auto r = data::validate_dataset(fx.root);
  ASSERT_EQ(r.diagnostics.count_code("json-too-deep"), 2u) << codes(r.diagnostics);
  EXPECT_NE(codes(r.diagnostics).find("calls.jsonl:4: error: line nests arrays or objects more "
                                      "than 64 deep (at byte 107)"),
            std::string::npos)
      << codes(r.diagnostics);
  EXPECT_EQ(r.dataset.calls.size(), 2u);
}

// Numbers too large for the field they fill are refused, never cast (an undefined cast
// of 1e300 to int gave a negative channel) nor shown wrapped (2^64-1 as -1).
TEST(Validate, HugeChannelAndLabelNumbersAreRefusedAsWritten) {
  DatasetFixture fx("huge-numbers");
  fx.calls[0]["segments"][0]["labels"]["escalation"] = 18446744073709551615ull;
  fx.write();
  auto r = data::validate_dataset(fx.root);
  EXPECT_NE(codes(r.diagnostics).find("escalation label 18446744073709551615 is outside"),
            std::string::npos)
      << codes(r.diagnostics);
  fx.calls[0]["segments"][0]["labels"]["escalation"] = 1;
  fx.write();
  auto ds = data::load_dataset_or_throw(fx.root);
  fs::path csv = make_temp_dir("huge-numbers-csv") / "d";
  data::write_derived_dataset(ds, csv, data::ManifestFormat::kCsv);
  replace_in_file(csv / "segments.csv", "agent:0;customer:1", "agent:1e300;customer:1");
  r = data::validate_dataset(csv);
  EXPECT_TRUE(r.diagnostics.has_code("bad-channel")) << codes(r.diagnostics);
}

// yaml-cpp's depth guard says "bad file"; a huge dataset.yaml would be held in memory.
TEST(Validate, DeepOrHugeDatasetYamlIsRefusedWithTheReason) {
  DatasetFixture fx("yaml-deep");
  fx.yaml = std::string(kTwoTaskYaml) + "x: " + std::string(5000, '[') + std::string(5000, ']');
  auto r = fx.validate();
  EXPECT_NE(codes(r.diagnostics).find("dataset.yaml:13: error: dataset.yaml nests lists or "
                                      "mappings too deep"),
            std::string::npos)
      << codes(r.diagnostics);
  fx.yaml = std::string(kTwoTaskYaml) + "x: \"" + std::string(2 << 20, 'a') + "\"\n";
  r = fx.validate();
  ASSERT_TRUE(r.diagnostics.has_code("yaml-too-large")) << codes(r.diagnostics);
}

TEST(Validate, OverlongLineIsSkippedNotBuffered) {
  DatasetFixture fx("longline");
  fx.write();
  std::ofstream(fx.root / "calls.jsonl", std::ios::app) << std::string(3 << 20, 'x') << "\n";
  data::ValidateOptions options;
  options.load.max_line_bytes = 1 << 20;
  auto r = data::validate_dataset(fx.root, options);
  EXPECT_TRUE(r.diagnostics.has_code("line-too-long")) << codes(r.diagnostics);
  EXPECT_EQ(r.dataset.calls.size(), 2u);  // the good lines are still read
}

TEST(Validate, SymlinkLoop) {
  DatasetFixture fx("loop");
  fs::remove(fx.root / "audio/c1.wav");
  fs::create_symlink("c1.wav", fx.root / "audio/c1.wav");
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("audio-unreadable")) << codes(r.diagnostics);
}

TEST(Validate, NeverModifiesTheDataset) {
  DatasetFixture fx("readonly");
  fx.calls[0]["segments"][0]["end"] = 99;
  fx.write();
  auto before = fs::last_write_time(fx.root / "calls.jsonl");
  std::vector<fs::path> files_before;
  for (const auto& e : fs::recursive_directory_iterator(fx.root)) files_before.push_back(e.path());
  data::validate_dataset(fx.root);
  std::vector<fs::path> files_after;
  for (const auto& e : fs::recursive_directory_iterator(fx.root)) files_after.push_back(e.path());
  EXPECT_EQ(files_before, files_after);
  EXPECT_EQ(before, fs::last_write_time(fx.root / "calls.jsonl"));
}

// ---- warnings ------------------------------------------------------------------

TEST(Validate, SpeakerInTwoSplits) {
  DatasetFixture fx("speaker");
  fx.calls[1]["meta"]["speaker_id"] = "spk-1";
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("speaker-in-two-splits")) << codes(r.diagnostics);
  EXPECT_EQ(r.diagnostics.error_count(), 0u);
}

TEST(Validate, OverlappingSegmentsOfOneSpeaker) {
  DatasetFixture fx("overlap");
  fx.calls[0]["segments"][2]["start"] = 0.5;  // customer 0.5-2.9 overlaps customer 0-0.9
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("segment-overlap")) << codes(r.diagnostics);
  // Different speakers may overlap (cross-talk) without a warning.
  DatasetFixture fx2("crosstalk");
  fx2.calls[0]["segments"][1]["start"] = 0.5;
  EXPECT_FALSE(fx2.validate().diagnostics.has_code("segment-overlap"));
}

TEST(Validate, SilentAudio) {
  DatasetFixture fx("silent");
  write_tone(fx.root / "audio/c1.wav", 4.0, 16000, 2, 0.0);
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("audio-silent")) << codes(r.diagnostics);
}

TEST(Validate, AudioWithSamplesThatAreNotNumbersIsAnErrorNamingTheFirst) {
  DatasetFixture fx("nan-audio");
  // A 32-bit float WAV (4 s, stereo, 16 kHz): a decoder's NaN in channel 1 from 0.1 s on and
  // an infinity later. Read as silence, it would be scored as a quiet call.
  std::vector<float> x(4 * 16000 * 2, 0.1f);
  for (size_t i = 1600; i < 1700; ++i) x[i * 2 + 1] = std::nanf("");
  x[40000 * 2] = std::numeric_limits<float>::infinity();
  write_float_wav(fx.root / "audio/c1.wav", x, 2, 16000);
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("audio-non-finite")) << codes(r.diagnostics);
  EXPECT_NE(codes(r.diagnostics).find("calls.jsonl:1: error: call c1: audio/c1.wav: channel 1 "
                                      "sample 1600 (at 0.1 s) is NaN, and 100 more samples are "
                                      "not finite numbers; a decoding or conversion error wrote "
                                      "them: re-export the recording from its source"),
            std::string::npos)
      << codes(r.diagnostics);
}

TEST(Validate, FloatAudioBeyondFullScaleIsAWarningNotClipping) {
  DatasetFixture fx("over-full-scale");
  // Samples written at int16's scale into a float WAV, a classic conversion slip: 30x full
  // scale. Not clipped (nothing sits at 1), but every loudness feature reads 29.5 dB high.
  std::vector<float> x(4 * 16000 * 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(30 * std::sin(0.08 * double(i / 2)));
  write_float_wav(fx.root / "audio/c1.wav", x, 2, 16000);
  auto r = fx.validate();
  EXPECT_FALSE(r.diagnostics.has_code("audio-clipped")) << codes(r.diagnostics);
  EXPECT_NE(codes(r.diagnostics).find("calls.jsonl:1: warning: call c1: audio/c1.wav peaks at "
                                      "+29.5 dBFS (30 times full scale), and float samples are "
                                      "read with full scale at 1"),
            std::string::npos)
      << codes(r.diagnostics);
}

TEST(Validate, ClippedAudio) {
  DatasetFixture fx("clipped");
  write_tone(fx.root / "audio/c1.wav", 4.0, 16000, 2, 3.0);  // written with clipping
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("audio-clipped")) << codes(r.diagnostics);
}

TEST(Validate, LowSampleRate) {
  DatasetFixture fx("lowrate");
  write_tone(fx.root / "audio/c1.wav", 4.0, 6000, 2);
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("audio-low-sample-rate")) << codes(r.diagnostics);
  EXPECT_EQ(r.diagnostics.error_count(), 0u) << codes(r.diagnostics);
}

TEST(Validate, ShortSegment) {
  DatasetFixture fx("short");
  fx.calls[0]["segments"][0]["end"] = 0.2;
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("segment-short")) << codes(r.diagnostics);
}

TEST(Validate, EmptyTranscriptOnLabelledSegment) {
  DatasetFixture fx("emptytext");
  fx.calls[0]["segments"][0]["text"] = "  ";
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("transcript-empty")) << codes(r.diagnostics);
}

TEST(Validate, DuplicateTranscriptAcrossSplits) {
  DatasetFixture fx("duptext");
  fx.calls[1]["segments"][0]["text"] = "alpha one";
  auto r = fx.validate();
  EXPECT_EQ(r.diagnostics.count_code("transcript-across-splits"), 1u) << codes(r.diagnostics);
}

TEST(Validate, RareClass) {
  DatasetFixture fx("rare");
  // 120 calm customer segments and a single hostile one: hostile < 1 %.
  auto& segs = fx.calls[0]["segments"];
  segs = json::array();
  for (int i = 0; i < 120; ++i)
    segs.push_back({{"start", i * 0.03},
                    {"end", i * 0.03 + 0.02},
                    {"speaker", "customer"},
                    {"text", "t" + std::to_string(i)},
                    {"labels", {{"escalation", i == 0 ? 3 : 0}}}});
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("class-rare")) << codes(r.diagnostics);
}

TEST(Validate, LowAnnotatorAgreement) {
  DatasetFixture fx("alpha");
  // Two annotators who disagree on every empathy label.
  for (auto& call : fx.calls)
    for (auto& seg : call["segments"])
      if (seg["speaker"] == "agent") {
        int v = seg["labels"]["empathy"];
        seg["labels_by"] = {{"ann-a", {{"empathy", v}}}, {"ann-b", {{"empathy", 1 - v}}}};
      }
  auto r = fx.validate();
  EXPECT_TRUE(r.diagnostics.has_code("agreement-low")) << codes(r.diagnostics);
}

TEST(Validate, UnknownFieldsWarnOncePerDataset) {
  DatasetFixture fx("unknown");
  fx.calls[0]["source"] = "crm";
  fx.calls[1]["source"] = "crm";
  fx.calls[0]["segments"][0]["character"] = "Phoebe";
  fx.calls[1]["segments"][0]["character"] = "Ross";
  auto r = fx.validate();
  EXPECT_EQ(r.diagnostics.count_code("unknown-field"), 2u) << codes(r.diagnostics);
  EXPECT_EQ(r.diagnostics.error_count(), 0u);
  EXPECT_EQ(r.dataset.calls[0].extra["source"], "crm");  // kept
}

// A misspelt field is named with the field it was meant to be, at a dataset's calls and
// segments as in a transcript (which shares the segment reader, tests/data/call_input_test).
TEST(Validate, MisspeltFieldsNameTheNearestKnownField) {
  DatasetFixture fx("misspelt");
  fx.calls[0]["spilt"] = "train";
  fx.calls[0]["segments"][0]["txt"] = "hello";
  auto r = fx.validate();
  std::string text = r.diagnostics.to_text();
  EXPECT_NE(text.find("unknown field 'spilt' is kept but ignored (first seen here); did you mean "
                      "'split'?"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("unknown field 'segments[].txt' is kept but ignored (first seen here); did "
                      "you mean 'segments[].text'?"),
            std::string::npos)
      << text;
}

TEST(Validate, FindingsAsJson) {
  DatasetFixture fx("json-out");
  fx.calls[0]["segments"][0]["end"] = 99;
  auto r = fx.validate();
  auto j = r.diagnostics.to_json();
  EXPECT_EQ(j["errors"], 1);
  EXPECT_EQ(j["findings"][0]["code"], "segment-past-end");
  EXPECT_EQ(j["findings"][0]["line"], 1);
  EXPECT_EQ(j["findings"][0]["call_id"], "c1");
  EXPECT_EQ(j["findings"][0]["segment"], 0);
}

// ---- segments.csv ------------------------------------------------------------

TEST(Validate, CsvIsValidatedTheSameWay) {
  DatasetFixture fx("csv");
  fx.write();
  fs::remove(fx.root / "calls.jsonl");
  write_text(fx.root / "segments.csv",
             "call_id,audio,start,end,speaker,text,escalation,empathy,annotator,split\n"
             "c1,audio/c1.wav,0,0.9,customer,\"hello, there\",calm,,,train\n"
             "c1,audio/c1.wav,1,1.9,agent,\"multi\nline\",,1,,train\n"
             "c1,audio/c1.wav,2,9,customer,late,5,,,train\n"
             "c1,audio/c1.wav,3,3.9,agent,x,,1,,test\n");
  auto r = data::validate_dataset(fx.root);
  EXPECT_TRUE(r.diagnostics.has_code("segment-past-end")) << codes(r.diagnostics);
  EXPECT_TRUE(r.diagnostics.has_code("label-out-of-range"));
  EXPECT_TRUE(r.diagnostics.has_code("call-in-two-splits"));
  // Physical lines count inside a quoted field spanning two lines.
  for (const auto& f : r.diagnostics.findings()) {
    if (f.code == "label-out-of-range") {
      EXPECT_EQ(f.line, 5) << codes(r.diagnostics);
    } else if (f.code == "call-in-two-splits") {
      EXPECT_EQ(f.line, 6);
    }
  }
  ASSERT_EQ(r.dataset.calls.size(), 1u);
  EXPECT_EQ(*r.dataset.calls[0].segments[1].text, "multi\nline");
}

TEST(Validate, CsvUnclosedQuote) {
  DatasetFixture fx("csvquote");
  fx.write();
  fs::remove(fx.root / "calls.jsonl");
  write_text(fx.root / "segments.csv", "call_id,start,end,speaker\nc1,0,1,\"customer\n");
  auto r = data::validate_dataset(fx.root);
  EXPECT_TRUE(r.diagnostics.has_code("csv-malformed")) << codes(r.diagnostics);
}

}  // namespace
}  // namespace tenor::test
