// The command line as a careless user meets it (issue 22, item 6): a mistyped command or
// option names the nearest valid one, usage errors exit 2 with a sentence, numbers print
// at a readable precision, `data --help` lists every data command, and the demo scores a
// call of the test split.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

TEST(Usage, MistypedCommandSuggestsTheNearest) {
  std::string out;
  EXPECT_EQ(run_tenor("trian", &out), 2) << out;
  EXPECT_NE(out.find("'trian' is not a `tenor` command; did you mean `tenor train`?"),
            std::string::npos)
      << out;
  EXPECT_EQ(run_tenor("data valdate x", &out), 2) << out;
  EXPECT_NE(out.find("did you mean `tenor data validate`?"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("eval comapre a b", &out), 2) << out;
  EXPECT_NE(out.find("did you mean `tenor eval compare`?"), std::string::npos) << out;
  // Nothing near: the word is named with the valid commands.
  EXPECT_EQ(run_tenor("frobnicate", &out), 2) << out;
  EXPECT_NE(out.find("'frobnicate' is not a `tenor` command; the commands are data, features"),
            std::string::npos)
      << out;
}

TEST(Usage, MistypedOptionSuggestsTheNearest) {
  std::string out;
  EXPECT_EQ(run_tenor("train --confg x.yaml", &out), 2) << out;
  EXPECT_NE(out.find("`tenor train` has no option '--confg'; did you mean '--config'?"),
            std::string::npos)
      << out;
  EXPECT_EQ(run_tenor("train --confg=x.yaml", &out), 2) << out;
  EXPECT_NE(out.find("did you mean '--config'?"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("eval compare a b --data s --fail-if-wrose macro_f1:0.01", &out), 2) << out;
  EXPECT_NE(out.find("did you mean '--fail-if-worse'?"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("--lg-level debug data", &out), 2) << out;
  EXPECT_NE(out.find("did you mean '--log-level'?"), std::string::npos) << out;
}

TEST(Usage, BadNumbersAndRangesExitTwoWithASentence) {
  const fs::path wav = make_temp_dir("usage-wav") / "tone.wav";
  write_tone(wav, 4.0);
  std::string out;
  EXPECT_EQ(run_tenor("features " + wav.string() + " --start 5 --end 3", &out), 2) << out;
  EXPECT_NE(out.find("--end 3 is not after --start 5"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("features " + wav.string() + " --start -1", &out), 2) << out;
  EXPECT_EQ(run_tenor("features " + wav.string() + " --start 9", &out), 2) << out;
  EXPECT_NE(out.find("--start 9 s is past the end of"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("features " + wav.string() + " --channel 2", &out), 2) << out;
  EXPECT_NE(out.find("has 2 channel(s); give 0..1 or -1"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("features " + wav.string() + " --start 1 --end 3", &out), 0) << out;
  // A bound is a sentence, not CLI11's 300 digits of DBL_MAX.
  EXPECT_EQ(run_tenor("data stats x --bootstrap -1", &out), 2) << out;
  EXPECT_NE(out.find("--bootstrap: '-1' is not a number >= 0"), std::string::npos) << out;
  EXPECT_EQ(out.find("179769313486"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("data build x --out y.h5 --sample-rate 0", &out), 2) << out;
  EXPECT_NE(out.find("'0' is not a number > 0"), std::string::npos) << out;
}

TEST(Usage, NumbersPrintAtAReadablePrecision) {
  DatasetFixture fx("usage-precision");
  fx.write();
  std::string out;
  ASSERT_EQ(run_tenor("data validate " + fx.root.string(), &out), 0) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(checked in \d+\.\d\d s:)"))) << out;
  const fs::path wav = fx.root / "audio/c1.wav";
  ASSERT_EQ(run_tenor("features " + wav.string() + " --timing", &out), 0) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(mean f0 \d+\.\d Hz, mean intensity -?\d+\.\d dB)")))
      << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(audio \d+\.\d\d s, compute \d+\.\d\d\d s, \d+\.\d x real time)")))
      << out;
}

TEST(Usage, DataHelpListsEveryDataCommand) {
  std::string out;
  ASSERT_EQ(run_tenor("data --help", &out), 0) << out;
  const std::string description = out.substr(0, out.find('\n'));
  for (const char* cmd : {"validate", "stats", "split", "synth", "convert", "build"}) {
    EXPECT_NE(description.find(cmd), std::string::npos) << cmd << " in " << description;
    EXPECT_TRUE(std::regex_search(out, std::regex(std::string("\n  ") + cmd + " +[A-Z]")))
        << cmd << "\n" << out;
  }
}

// scripts/demo.sh predicts a call of the test split, held out from training.
TEST(Usage, DemoScoresACallOfTheTestSplit) {
  DatasetFixture fx("usage-demo");
  fx.write();
  const fs::path written = make_temp_dir("usage-demo-out") / "ds";
  std::string out;
  ASSERT_EQ(run_tenor("data convert " + fx.root.string() + " --out " + written.string(), &out), 0)
      << out;
  const std::string script = std::string(TENOR_SOURCE_DIR) + "/scripts/demo.sh";
  FILE* pipe = ::popen(("bash " + script + " --test-call " + written.string()).c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buf[4096];
  std::string path;
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) path.append(buf, n);
  EXPECT_EQ(::pclose(pipe), 0);
  EXPECT_EQ(path, (written / "audio/c2.wav").string() + "\n");  // c1 is train, c2 test
  EXPECT_TRUE(fs::exists(written / "audio/c2.wav"));
}

}  // namespace
}  // namespace tenor::test
