// The labeller's commands as a user runs them: exit statuses, output lines, files.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

TEST(E2eCli, HelpOnEverySubcommand) {
  for (const char* cmd : {"--help", "data --help", "data validate --help", "data stats --help",
                          "data split --help", "data synth --help", "data convert --help"}) {
    std::string out;
    EXPECT_EQ(run_tenor(cmd, &out), 0) << cmd << "\n" << out;
    EXPECT_NE(out.find("Usage"), std::string::npos) << cmd;
  }
}

TEST(E2eCli, ValidateExitStatusesAndJson) {
  DatasetFixture fx("cli");
  fx.write();
  std::string out;
  EXPECT_EQ(run_tenor("data validate " + fx.root.string(), &out), 0) << out;
  EXPECT_NE(out.find("0 error(s), 0 warning(s)"), std::string::npos) << out;

  fx.calls[0]["segments"][0]["end"] = 0.2;  // a warning: short segment
  fx.write();
  EXPECT_EQ(run_tenor("data validate " + fx.root.string(), &out), 0) << out;
  EXPECT_EQ(run_tenor("data validate --strict " + fx.root.string(), &out), 1) << out;

  fx.calls[1]["segments"][3]["end"] = 61.2;
  fx.write();
  fs::path json = make_temp_dir("cli-json") / "findings.json";
  EXPECT_EQ(run_tenor("data validate --json " + json.string() + " " + fx.root.string(), &out), 1);
  std::string expected = (fx.root / "calls.jsonl").string() +
                         ":2: error: call c2, segment 3: segment ends at 61.2 s, past the audio's "
                         "4 s; fix end or the audio path";
  EXPECT_NE(out.find(expected), std::string::npos) << out;
  auto j = nlohmann::json::parse(std::ifstream(json));
  EXPECT_EQ(j["errors"], 1);
  EXPECT_EQ(j["warnings"], 1);
  // A --json that is or names a directory is refused before validating, and nothing is made.
  EXPECT_EQ(run_tenor("data validate --json " + json.string() + ".d/ " + fx.root.string(), &out),
            2);
  EXPECT_NE(out.find("ends in a separator, which names a directory; give a file name, e.g. "
                     "findings.json.d"),
            std::string::npos)
      << out;
  EXPECT_FALSE(fs::exists(json.string() + ".d"));
  EXPECT_EQ(run_tenor("data validate --json " + json.parent_path().string() + " " +
                          fx.root.string(),
                      &out),
            2);
  EXPECT_NE(out.find("is a directory; give a file name"), std::string::npos) << out;

  EXPECT_EQ(run_tenor("data validate", &out), 2) << out;
  EXPECT_EQ(run_tenor("data validate --no-such-flag x", &out), 2) << out;
  EXPECT_EQ(run_tenor("data frobnicate", &out), 2) << out;
}

TEST(E2eCli, StatsSplitConvert) {
  DatasetFixture fx("cli-split");
  for (auto& c : fx.calls) c.erase("split");
  fx.write();
  std::string out;
  EXPECT_EQ(run_tenor("data stats " + fx.root.string(), &out), 0) << out;
  EXPECT_NE(out.find("unassigned"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("data stats --json " + fx.root.string(), &out), 0);
  EXPECT_EQ(nlohmann::json::parse(out)["calls"], 2);

  fs::path base = make_temp_dir("cli-split-out");
  // "s/", as a shell's completion writes it: the directory s (it used to fail to rename).
  EXPECT_EQ(run_tenor("data split " + fx.root.string() + " --out " + (base / "s").string() +
                          "/ --train 0.5 --dev 0 --test 0.5",
                      &out),
            0)
      << out;
  EXPECT_EQ(run_tenor("data validate " + (base / "s").string(), &out), 0) << out;
  // Two calls for three splits: train and dev get one each, test's emptiness is a warning.
  EXPECT_EQ(run_tenor("data split " + fx.root.string() + " --out " + (base / "u").string(), &out),
            0)
      << out;
  EXPECT_NE(out.find("warning: split 'test' holds no call, though its share is 0.1: the 2 "
                     "call(s) form 2 group(s)"),
            std::string::npos)
      << out;
  // Every call keeps its given split (both in test): the fix is --reassign.
  EXPECT_EQ(run_tenor("data split " + (base / "s").string() + " --out " + (base / "v").string(),
                      &out),
            0)
      << out;
  EXPECT_NE(out.find("every call keeps the split it already has; pass --reassign"),
            std::string::npos)
      << out;
  EXPECT_EQ(run_tenor("data split " + fx.root.string() + " --out " + (base / "t").string() +
                          " --train 0.9",
                      &out),
            2)
      << out;
  EXPECT_FALSE(fs::exists(base / "t"));
  // An empty value (a variable that expanded to nothing) is a usage error naming the option, for
  // every option of every command; it used to be "internal error: cannot make absolute path".
  EXPECT_EQ(run_tenor("data split " + fx.root.string() + " --out ''", &out), 2) << out;
  EXPECT_NE(out.find("--out: the value is empty; give one, or leave the option out"),
            std::string::npos)
      << out;
  EXPECT_EQ(run_tenor("data build '' --out " + (base / "x.h5").string(), &out), 2) << out;
  EXPECT_NE(out.find("the value is empty"), std::string::npos) << out;
  // --folds: one dataset per fold, all of them or none.
  EXPECT_EQ(run_tenor("data split " + fx.root.string() + " --folds 2 --out " +
                          (base / "f").string(),
                      &out),
            0)
      << out;
  EXPECT_NE(out.find((base / "f/fold2").string() + ": train 1 calls, dev 1 calls"),
            std::string::npos)
      << out;
  for (const char* fold : {"f/fold1", "f/fold2"})
    EXPECT_EQ(run_tenor("data validate " + (base / fold).string(), &out), 0) << out;
  EXPECT_EQ(run_tenor("data split " + fx.root.string() + " --folds 2 --out " +
                          (base / "f").string(),
                      &out),
            2)
      << out;
  EXPECT_NE(out.find("already exists and is not empty"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("data split " + fx.root.string() + " --folds 3 --out " +
                          (base / "g").string(),
                      &out),
            1)
      << out;
  EXPECT_NE(out.find("fewer than the 3 folds asked for"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(base / "g"));
  EXPECT_EQ(run_tenor("data split " + fx.root.string() + " --folds 2 --dev 0.2 --out " +
                          (base / "g").string(),
                      &out),
            2)
      << out;
  EXPECT_EQ(
      run_tenor("data convert " + fx.root.string() + " --format csv --out " + (base / "c").string(),
                &out),
      0)
      << out;
  EXPECT_TRUE(fs::exists(base / "c/segments.csv"));
  EXPECT_EQ(run_tenor("data validate " + (base / "c").string(), &out), 0) << out;
}

TEST(E2eCli, LeakedCopyIsAnErrorHeadlinedFirstAndSplitRegroupsIt) {
  DatasetFixture fx("cli-leak");
  const std::vector<std::string> turns = {
      "Thank you for calling, how can I help you today?",
      "My parcel was left at the wrong address twice this week and nobody answers the phone",
      "I am sorry, I have flagged the address with the courier and booked a redelivery for Friday",
      "Thank you, that sorts it out, goodbye"};
  for (size_t i = 0; i < turns.size(); ++i) fx.calls[0]["segments"][i]["text"] = turns[i];
  auto copy = fx.calls[0];
  copy["call_id"] = "c1-export2";
  copy["split"] = "test";
  copy["meta"]["speaker_id"] = "spk-9";
  fx.calls.push_back(copy);
  fx.write();
  std::string out;
  EXPECT_EQ(run_tenor("data validate " + fx.root.string(), &out), 1) << out;
  const std::string head =
      (fx.root / "calls.jsonl").string() +
      ":3: error: duplicate calls: 1 call pair looks duplicated, 1 of them across splits "
      "(train/test: 1)";
  EXPECT_EQ(out.rfind(head, 0), 0u) << out;  // the headline is the first line
  EXPECT_NE(out.find(":3: error: call c1-export2: in test, duplicates call c1 (line 1, train)"),
            std::string::npos)
      << out;
  EXPECT_EQ(run_tenor("data validate --allow-duplicates " + fx.root.string(), &out), 0) << out;
  EXPECT_EQ(run_tenor("data validate --duplicate-jaccard 0.1 " + fx.root.string(), &out), 2)
      << out;
  EXPECT_NE(out.find("--duplicate-jaccard must lie between 0.3 and 1, not 0.1"),
            std::string::npos)
      << out;
  fs::path base = make_temp_dir("cli-leak-out");
  EXPECT_EQ(
      run_tenor("data split " + fx.root.string() + " --out " + (base / "kept").string(), &out), 1)
      << out;
  EXPECT_NE(out.find("--reassign"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("data split --reassign " + fx.root.string() + " --out " +
                          (base / "s").string(),
                      &out),
            0)
      << out;
  EXPECT_EQ(run_tenor("data validate " + (base / "s").string(), &out), 0) << out;
  EXPECT_EQ(out.find("error: duplicate"), std::string::npos) << out;
}

TEST(E2eCli, BrokenDatasetGivesARuntimeError) {
  DatasetFixture fx("cli-broken");
  fx.calls[0]["segments"][0]["labels"]["escalation"] = 12;
  fx.write();
  std::string out;
  EXPECT_EQ(run_tenor("data stats " + fx.root.string(), &out), 1) << out;
  EXPECT_NE(out.find("label 12 is outside"), std::string::npos) << out;
}

// One number beyond a double's range aborted every data command (SIGABRT, exit 134):
// the JSON parser threw on a loader thread (issue 16). Now each says file:line and exits 1.
TEST(E2eCli, NumberOutOfRangeIsAnErrorForEveryDataCommand) {
  DatasetFixture fx("cli-overflow");
  fx.calls[1]["segments"][1]["end"] = 777.25;
  fx.write();
  std::ifstream in(fx.root / "calls.jsonl");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("777.25"), 6, "1e309");
  write_text(fx.root / "calls.jsonl", text);
  const fs::path out = make_temp_dir("cli-overflow-out");
  const std::string root = fx.root.string();
  for (const std::string& cmd :
       {"data validate " + root, "data stats " + root, "data split " + root + " --out " +
        (out / "split").string(), "data convert " + root + " --out " + (out / "conv").string(),
        "data build " + root + " --no-progress --out " + (out / "s.h5").string()}) {
    std::string output;
    EXPECT_EQ(run_tenor(cmd, &output), 1) << cmd << "\n" << output;
    EXPECT_NE(output.find("calls.jsonl:2: error: the number 1e309"), std::string::npos)
        << cmd << "\n" << output;
  }
  EXPECT_TRUE(fs::is_empty(out));
}

// A dataset directory the user may not read was reported as "dataset.yaml is missing"
// (issue 16). As root permissions do not apply, so the commands run as `nobody`.
TEST(E2eCli, UnreadableDatasetSaysPermissionDeniedNotMissing) {
  DatasetFixture fx("cli-noperm");
  fx.write();
  const std::string root = fx.root.string();
  std::string out;
  fs::permissions(fx.root, fs::perms::none);
  int status = run_tenor_unprivileged("data validate " + root, &out);
  fs::permissions(fx.root, fs::perms::owner_all | fs::perms::group_read |
                               fs::perms::group_exec | fs::perms::others_read |
                               fs::perms::others_exec);
  if (status == -2) GTEST_SKIP() << "running as root without setpriv: cannot drop privileges";
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find(root + ": error: cannot read the dataset directory: Permission denied; "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("chmod -R u+rX " + root), std::string::npos) << out;
  EXPECT_EQ(out.find("missing"), std::string::npos) << out;

  fs::permissions(fx.root / "dataset.yaml", fs::perms::none);
  EXPECT_EQ(run_tenor_unprivileged("data stats " + root, &out), 1) << out;
  EXPECT_NE(out.find("cannot read dataset.yaml: Permission denied"), std::string::npos) << out;
  EXPECT_EQ(out.find("missing"), std::string::npos) << out;
  fs::permissions(fx.root / "dataset.yaml", fs::perms::owner_read | fs::perms::owner_write);
}

TEST(E2eCli, ImportAndExportRoundTripThroughTheBinary) {
  DatasetFixture fx("cli-tools");
  fx.write();
  const fs::path base = make_temp_dir("cli-tools-out");
  std::string out;
  ASSERT_EQ(run_tenor("data export " + fx.root.string() + " --to label-studio --out " +
                          (base / "ls").string(),
                      &out),
            0)
      << out;
  ASSERT_EQ(run_tenor("data import --from label-studio " + (base / "ls/tasks.json").string() +
                          " --schema " + (fx.root / "dataset.yaml").string() + " --out " +
                          (base / "back").string(),
                      &out),
            0)
      << out;
  // The import ran every check of `data validate` before it wrote anything.
  EXPECT_NE(out.find("2 calls, 8 segments: 0 error(s)"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(base / "back/calls.jsonl"));
  // A second import into the same directory, a tool export cannot write: usage errors.
  const std::string again = " --schema " + (fx.root / "dataset.yaml").string() + " --out " +
                            (base / "back").string();
  EXPECT_EQ(run_tenor("data import --from label-studio " + (base / "ls/tasks.json").string() +
                          again, &out), 2) << out;
  EXPECT_EQ(run_tenor("data export " + fx.root.string() + " --to elan --out " +
                          (base / "e").string(), &out), 2) << out;
  // Labels outside the schema: exit 1, every problem named, nothing written.
  write_text(base / "two.yaml", "name: t\nversion: 1\nlabels:\n  escalation:\n    type: binary\n"
                                "    classes: [no, yes]\n    speaker: customer\n");
  EXPECT_EQ(run_tenor("data import --from label-studio " + (base / "ls/tasks.json").string() +
                          " --schema " + (base / "two.yaml").string() + " --out " +
                          (base / "bad").string(), &out), 1) << out;
  EXPECT_NE(out.find("is not a class of escalation (no, yes)"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(base / "bad"));
}

TEST(E2eCli, ReviewSuspectsGoToTheToolAndComeBackIntoTheDataset) {
  DatasetFixture fx("cli-review");
  fx.write();
  const fs::path base = make_temp_dir("cli-review-out");
  write_text(base / "review.json",
             R"({"format": 1, "suspects": [{"rank": 1, "call_id": "c2", "segment": 0,
                 "task": "escalation", "given": "angry", "suggested": "hostile", "score": 0.9}]})");
  const std::string dir = fx.root.string(), review = (base / "review.json").string();
  std::string out;
  ASSERT_EQ(run_tenor("data export " + dir + " --to label-studio --review " + review +
                          " --top 5 --out " + (base / "ls").string(), &out), 0) << out;
  EXPECT_NE(out.find("(1 calls)"), std::string::npos) << out;
  ASSERT_EQ(run_tenor("data import --from label-studio " + (base / "ls/tasks.json").string() +
                          " --update " + dir + " --out " + (base / "new").string(), &out), 0)
      << out;
  EXPECT_NE(out.find("2 calls, 8 segments (1 calls from the tool, 0 label(s) changed): 0 error"),
            std::string::npos) << out;
  // Usage errors: --top without --review, --schema with --update, neither.
  EXPECT_EQ(run_tenor("data export " + dir + " --to textgrid --top 3 --out " +
                          (base / "t").string(), &out), 2) << out;
  EXPECT_EQ(run_tenor("data import --from label-studio " + (base / "ls/tasks.json").string() +
                          " --update " + dir + " --schema " + dir + "/dataset.yaml --out " +
                          (base / "x").string(), &out), 2) << out;
  EXPECT_EQ(run_tenor("data import --from label-studio " + (base / "ls/tasks.json").string() +
                          " --out " + (base / "x").string(), &out), 2) << out;
  EXPECT_NE(out.find("--schema is required"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(base / "x"));
}

}  // namespace
}  // namespace tenor::test
