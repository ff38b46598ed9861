// `tenor predict --dataset DIR | --list FILES.txt --out preds.jsonl`: many calls scored in one
// process give each call's segments the scores `tenor predict CALL.wav` gives them (tolerance
// 1e-6, same decisions), a bundle starts ONNX Runtime once for a whole small dataset, a broken
// call is skipped with --keep-going and ends the command without it, and no partial output is
// left behind.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "core/atomic_file.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"

namespace tenor::test {
namespace {
using nlohmann::json;

/// A tiny fusion run that reads the previous segment's tokens as context (so a batch of many
/// calls must keep each call's context its own), trained once.
const fs::path& context_run() {
  static const fs::path run = [] {
    const fs::path dir = make_temp_dir("batch-run");
    std::string out;
    EXPECT_EQ(run_tenor("train --config " +
                            write_train_config(dir, "  type: fusion\n  context_tokens: 6\n")
                                .string() +
                            " --set epochs=2",
                        &out),
              0)
        << out;
    return dir / "run";
  }();
  return run;
}

/// context_run() exported, once.
const fs::path& context_bundle() {
  static const fs::path bundle = [] {
    const fs::path b = make_temp_dir("batch-bundle") / "bundle";
    std::string out;
    EXPECT_EQ(run_tenor("export --run " + context_run().string() + " --out " + b.string(), &out),
              0)
        << out;
    return b;
  }();
  return bundle;
}

/// tiny_dataset()'s call `call_id` as `tenor predict --transcript` takes it, written to `file`.
void write_transcript(const std::string& call_id, const fs::path& file) {
  std::ifstream calls(tiny_dataset() / "calls.jsonl");
  std::ofstream t(file);
  for (std::string line; std::getline(calls, line);) {
    const auto call = json::parse(line);
    if (call["call_id"] != call_id) continue;
    for (const auto& seg : call["segments"])
      t << json{{"start", seg["start"]}, {"end", seg["end"]}, {"speaker", seg["speaker"]},
                {"text", seg["text"]}}
               .dump()
        << "\n";
  }
}

/// Each JSON line of `file`.
std::vector<json> json_lines(const fs::path& file) {
  std::vector<json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

/// `tenor predict MODEL ARGS` of one call: its segments.
json predict_one(const std::string& model, const std::string& args) {
  const fs::path out = make_temp_dir("batch-one") / "call.json";
  std::string log;
  EXPECT_EQ(run_tenor("--log-level error predict " + model + " " + args + " --out " +
                          out.string(),
                      &log),
            0)
      << log;
  return json::parse(read_file(out))["segments"];
}

/// Expects the lines of call `call_id` among `lines` to carry the scores of `segments` (one
/// call's `tenor predict` output): same segments, probabilities within 1e-6, same decisions.
void expect_same_scores(const std::vector<json>& lines, const std::string& call_id,
                        const json& segments) {
  std::vector<json> mine;
  for (const auto& l : lines)
    if (l["call_id"] == call_id) mine.push_back(l);
  ASSERT_EQ(mine.size(), segments.size()) << call_id;
  for (size_t i = 0; i < mine.size(); ++i) {
    const json& a = mine[i];
    const json& b = segments[i];
    for (const char* k : {"segment", "speaker", "start_s", "end_s"}) EXPECT_EQ(a[k], b[k]) << k;
    ASSERT_EQ(a["tasks"].size(), b["tasks"].size()) << call_id << " " << i;
    for (const auto& [task, t] : b["tasks"].items()) {
      const json& m = a["tasks"][task];
      EXPECT_EQ(m["decision"], t["decision"]) << call_id << " " << i << " " << task;
      for (const char* k : {"probs", "calibrated"})
        for (size_t c = 0; c < t[k].size(); ++c)
          EXPECT_NEAR(m[k][c].get<double>(), t[k][c].get<double>(), 1e-6)
              << call_id << " segment " << i << " " << task << " " << k;
    }
  }
}

std::string call_args(const std::string& id, const fs::path& transcript) {
  return (tiny_dataset() / "audio" / (id + ".wav")).string() + " --channels agent=0,customer=1" +
         (transcript.empty() ? "" : " --transcript " + transcript.string()) + " --call-id " + id;
}

TEST(E2ePredictBatch, DatasetScoresEveryCallAsOneCallPredictWithOneOnnxRuntimeStart) {
  const std::string model = "--bundle " + context_bundle().string();
  const fs::path dir = make_temp_dir("batch-dataset");
  std::string log;
  ASSERT_EQ(run_tenor("predict " + model + " --dataset " + tiny_dataset().string() +
                          " --out " + (dir / "preds.jsonl").string() + " --no-progress",
                      &log),
            0)
      << log;
  // 16 calls of 4 segments: every call in one ONNX Runtime run, not one per call.
  EXPECT_NE(log.find("scored 16 of 16 call(s), 64 segment(s)"), std::string::npos) << log;
  EXPECT_NE(log.find("1 model run(s)"), std::string::npos) << log;
  const auto lines = json_lines(dir / "preds.jsonl");
  ASSERT_EQ(lines.size(), 64u);
  EXPECT_EQ(lines.front()["call_id"], "c0");
  EXPECT_EQ(lines.back()["call_id"], "c15");
  for (const char* id : {"c3", "c14"}) {
    write_transcript(id, dir / (std::string(id) + ".jsonl"));
    expect_same_scores(lines, id, predict_one(model, call_args(id, dir / (std::string(id) + ".jsonl"))));
  }
  // --split test: its two calls only.
  ASSERT_EQ(run_tenor("predict " + model + " --dataset " + tiny_dataset().string() +
                          " --split test --out " + (dir / "test.jsonl").string(),
                      &log),
            0)
      << log;
  const auto test = json_lines(dir / "test.jsonl");
  ASSERT_EQ(test.size(), 8u);
  EXPECT_EQ(test.front()["call_id"], "c14");
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(test[i], lines[56 + i]);
}

TEST(E2ePredictBatch, ListScoresCallsWithAndWithoutTranscriptsAsOneCallPredict) {
  const std::string model = "--run " + context_run().string();
  const fs::path dir = make_temp_dir("batch-list");
  fs::create_directories(dir / "t");
  write_transcript("c14", dir / "t" / "c14.jsonl");
  // Paths relative to the list's directory; a comment, a blank line, an absolute path.
  write_text(dir / "calls.txt", "# calls to score\n" + (tiny_dataset() / "audio/c14.wav").string() +
                                    "\tt/c14.jsonl\n\n" +
                                    (tiny_dataset() / "audio/c15.wav").string() + "\n");
  std::string log;
  ASSERT_EQ(run_tenor("predict " + model + " --list " + (dir / "calls.txt").string() +
                          " --channels agent=0,customer=1 --out " + (dir / "p.jsonl").string(),
                      &log),
            0)
      << log;
  const auto lines = json_lines(dir / "p.jsonl");
  // The call id is the audio's path as written, without its extension.
  const std::string c14 = (tiny_dataset() / "audio/c14").string();
  const std::string c15 = (tiny_dataset() / "audio/c15").string();
  expect_same_scores(lines, c14, predict_one(model, call_args("c14", dir / "t" / "c14.jsonl")));
  // Without a transcript: windows on each channel's role, as one call's predict cuts them.
  expect_same_scores(lines, c15, predict_one(model, call_args("c15", "")));
  EXPECT_EQ(lines.front()["call_id"], c14);
  EXPECT_EQ(lines.back()["call_id"], c15);
}

TEST(E2ePredictBatch, KeepGoingSkipsABrokenCallWithoutItNothingIsWritten) {
  const std::string model = "--run " + context_run().string();
  const fs::path dir = make_temp_dir("batch-broken");
  write_text(dir / "broken.wav", "RIFF this is not audio");
  fs::copy_file(tiny_dataset() / "audio/c14.wav", dir / "good.wav");
  write_text(dir / "calls.txt", "good.wav\nbroken.wav\nmissing.wav\n");
  const std::string args = "predict " + model + " --list " + (dir / "calls.txt").string() +
                           " --channels agent=0,customer=1 --out " + (dir / "p.jsonl").string();
  std::string log;
  // Without --keep-going: exit 1 naming the call's line, and no preds.jsonl (nor a temporary).
  EXPECT_EQ(run_tenor(args, &log), 1) << log;
  EXPECT_NE(log.find("calls.txt:2"), std::string::npos) << log;
  EXPECT_NE(log.find("--keep-going"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir / "p.jsonl"));
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 3u) << "calls.txt, good.wav and broken.wav only";
  // With it: the good call scored, the two others reported and skipped.
  ASSERT_EQ(run_tenor(args + " --keep-going", &log), 0) << log;
  EXPECT_NE(log.find("skipped 2 call(s)"), std::string::npos) << log;
  EXPECT_NE(log.find("calls.txt:2"), std::string::npos) << log;
  EXPECT_NE(log.find("calls.txt:3"), std::string::npos) << log;
  const auto lines = json_lines(dir / "p.jsonl");
  ASSERT_FALSE(lines.empty());
  for (const auto& l : lines) EXPECT_EQ(l["call_id"], "good");
  // Every call broken: nothing to write, exit 1, and the earlier preds.jsonl is left as it was.
  const std::string before = read_file(dir / "p.jsonl");
  write_text(dir / "bad.txt", "broken.wav\n");
  EXPECT_EQ(run_tenor("predict " + model + " --list " + (dir / "bad.txt").string() +
                          " --keep-going --out " + (dir / "p.jsonl").string(),
                      &log),
            1)
      << log;
  EXPECT_EQ(read_file(dir / "p.jsonl"), before);
}

TEST(E2ePredictBatch, DatasetWithATruncatedCallStopsOrSkipsIt) {
  const std::string model = "--run " + context_run().string();
  DatasetFixture fx("batch-truncated");
  fx.write();
  const fs::path wav = fx.root / fx.calls[1]["audio"].get<std::string>();
  fs::resize_file(wav, fs::file_size(wav) / 2);
  const fs::path out = make_temp_dir("batch-truncated-out") / "p.jsonl";
  const std::string args =
      "predict " + model + " --dataset " + fx.root.string() + " --out " + out.string();
  std::string log;
  EXPECT_EQ(run_tenor(args, &log), 1) << log;
  EXPECT_NE(log.find(fx.calls[1]["call_id"].get<std::string>()), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(out));
  ASSERT_EQ(run_tenor(args + " --keep-going", &log), 0) << log;
  EXPECT_NE(log.find("skipped 1 call(s)"), std::string::npos) << log;
  for (const auto& l : json_lines(out)) EXPECT_EQ(l["call_id"], fx.calls[0]["call_id"]);
}

TEST(E2ePredictBatch, UsageErrorsExitTwoBadListsExitOne) {
  const std::string model = "--run " + context_run().string();
  const fs::path dir = make_temp_dir("batch-usage");
  const std::string ds = " --dataset " + tiny_dataset().string();
  const std::string out = " --out " + (dir / "p.jsonl").string();
  std::string log;
  for (const std::string& args :
       {ds,                                                   // no --out
        ds + out + " --list " + (dir / "x.txt").string(),    // both
        ds + out + " --split holdout",                       // no such split
        ds + " --out " + dir.string(),                       // a directory
        ds + out + "/",                                      // a file name that names one
        ds + out + " --channels agent=0,customer=1",         // the dataset says
        std::string(" --list x.txt --features s.h5 --call c1") + out,
        (tiny_dataset() / "audio/c1.wav").string() + " --keep-going"}) {
    EXPECT_EQ(run_tenor("predict " + model + " " + args, &log), 2) << args << "\n" << log;
  }
  EXPECT_FALSE(fs::exists(dir / "p.jsonl"));
  // Lists that are not lists, and an empty split: exit 1 with the line and the fix.
  const std::map<std::string, std::string> lists = {
      {"empty.txt", "# nothing\n\n"},
      {"three.txt", "a.wav\tb.jsonl\tc\n"},
      {"twice.txt", (tiny_dataset() / "audio/c1.wav").string() + "\n" +
                        (tiny_dataset() / "audio/c1.wav").string() + "\n"}};
  for (const auto& [name, text] : lists) {
    write_text(dir / name, text);
    EXPECT_EQ(run_tenor("predict " + model + " --list " + (dir / name).string() + out, &log), 1)
        << name << "\n" << log;
    EXPECT_NE(log.find(name), std::string::npos) << log;
  }
  // A transcript separated by a space instead of a tab is named as such.
  fs::copy_file(tiny_dataset() / "audio/c1.wav", dir / "c1.wav");
  write_transcript("c1", dir / "c1.jsonl");
  write_text(dir / "space.txt", "c1.wav c1.jsonl\n");
  EXPECT_EQ(run_tenor("predict " + model + " --list " + (dir / "space.txt").string() + out, &log),
            1);
  EXPECT_NE(log.find("with a tab"), std::string::npos) << log;
  DatasetFixture fx("batch-nosplit");
  fx.write();
  EXPECT_EQ(run_tenor("predict " + model + " --dataset " + fx.root.string() + " --split dev" + out,
                      &log),
            1);
  EXPECT_NE(log.find("no call in split 'dev'"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir / "p.jsonl"));
}

}  // namespace
}  // namespace tenor::test
