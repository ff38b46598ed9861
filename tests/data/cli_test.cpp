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
  EXPECT_EQ(run_tenor("data split " + fx.root.string() + " --out " + (base / "s").string() +
                          " --train 0.5 --dev 0 --test 0.5",
                      &out),
            0)
      << out;
  EXPECT_EQ(run_tenor("data validate " + (base / "s").string(), &out), 0) << out;
  EXPECT_EQ(run_tenor("data split " + fx.root.string() + " --out " + (base / "t").string() +
                          " --train 0.9",
                      &out),
            2)
      << out;
  EXPECT_FALSE(fs::exists(base / "t"));
  EXPECT_EQ(
      run_tenor("data convert " + fx.root.string() + " --format csv --out " + (base / "c").string(),
                &out),
      0)
      << out;
  EXPECT_TRUE(fs::exists(base / "c/segments.csv"));
  EXPECT_EQ(run_tenor("data validate " + (base / "c").string(), &out), 0) << out;
}

TEST(E2eCli, BrokenDatasetGivesARuntimeError) {
  DatasetFixture fx("cli-broken");
  fx.calls[0]["segments"][0]["labels"]["escalation"] = 12;
  fx.write();
  std::string out;
  EXPECT_EQ(run_tenor("data stats " + fx.root.string(), &out), 1) << out;
  EXPECT_NE(out.find("label 12 is outside"), std::string::npos) << out;
}

}  // namespace
}  // namespace tenor::test
