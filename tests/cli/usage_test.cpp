// The command line as a careless user meets it (issue 22, item 6): a mistyped command or
// option names the nearest valid one, usage errors exit 2 with a sentence, numbers print
// at a readable precision, `data --help` lists every data command, and the demo scores a
// call of the test split.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <set>
#include <string>
#include <vector>

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

// The newer subcommands too: a mistyped option names the nearest of its own, and a mistyped
// subcommand the nearest command (exit 2 each).
TEST(Usage, NewerSubcommandsSuggestTheirNearestOption) {
  // (The older commands' options are above; one tenor run costs about a second.)
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"data build x --out y.h5 --tokeniser t", "--tokenizer"},
      {"data import --from textgrid x --schma s --out y", "--schema"},
      {"data export x --to textgrid --out y --reveiw r", "--review"},
      {"data review x --out y --fold 3", "--folds"},
      {"data degrade x --out y --op gain=-3", "--ops"},
      {"eval --run r --data s --out o --cal c1", "--call"},
      {"predict --bundel b x.wav", "--bundle"}};
  for (const auto& [args, near] : cases) {
    std::string out;
    EXPECT_EQ(run_tenor(args, &out), 2) << args << "\n" << out;
    EXPECT_NE(out.find("did you mean '" + near + "'?"), std::string::npos) << args << "\n" << out;
  }
  for (const auto& [typed, near] : std::vector<std::pair<std::string, std::string>>{
           {"data improt", "data import"}, {"data reveiw", "data review"},
           {"data degarde", "data degrade"}}) {
    std::string out;
    EXPECT_EQ(run_tenor(typed + " x", &out), 2) << typed << "\n" << out;
    EXPECT_NE(out.find("did you mean `tenor " + near + "`?"), std::string::npos) << out;
  }
  // An option with no near match: the command's options are listed, --help left out.
  std::string out;
  EXPECT_EQ(run_tenor("data convert x --out y --to csv", &out), 2) << out;
  EXPECT_NE(out.find("tenor: error: `tenor data convert` has no option '--to'; its options are "
                     "--out, --format (`tenor data convert --help` says what each does)"),
            std::string::npos)
      << out;
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
  // Samples that are not numbers are refused (exit 1), never analysed as silence.
  std::vector<float> nan_at_1s(2 * 16000, 0.1f);
  nan_at_1s[16000] = std::nanf("");
  write_float_wav(wav.parent_path() / "nan.wav", nan_at_1s, 1, 16000);
  EXPECT_EQ(run_tenor("features " + (wav.parent_path() / "nan.wav").string(), &out), 1) << out;
  EXPECT_NE(out.find("nan.wav: channel 0 sample 16000 (at 1 s) is NaN; a decoding"),
            std::string::npos)
      << out;
  // A truncated file is analysed as far as it holds samples, with a warning that says so.
  const fs::path cut = wav.parent_path() / "cut.wav";
  write_tone(cut, 4.0, 16000, 1);
  fs::resize_file(cut, fs::file_size(cut) - 3 * 2 * 16000);  // the header still promises 4 s
  EXPECT_EQ(run_tenor("features " + cut.string(), &out), 0) << out;
  EXPECT_NE(out.find("cut.wav is truncated: its header promises 4 s but the file holds 1 s; "
                     "analysing what it holds"),
            std::string::npos)
      << out;
  // A bound is a sentence, not CLI11's 300 digits of DBL_MAX.
  EXPECT_EQ(run_tenor("data stats x --bootstrap -1", &out), 2) << out;
  EXPECT_NE(out.find("--bootstrap: '-1' is not a number >= 0"), std::string::npos) << out;
  EXPECT_EQ(out.find("179769313486"), std::string::npos) << out;
  // A negative seed is refused, not read as 18446744073709551615.
  const std::string synth_out = (wav.parent_path() / "s").string();
  EXPECT_EQ(run_tenor("data synth --out " + synth_out + " --seed -1", &out), 2) << out;
  EXPECT_NE(out.find("'-1' is not a whole number >= 0"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("data synth --out " + synth_out + " --seed 99999999999999999999", &out), 2)
      << out;
  EXPECT_NE(out.find("is above 18446744073709551615, the largest seed"), std::string::npos)
      << out;
  EXPECT_FALSE(fs::exists(synth_out));
  EXPECT_EQ(run_tenor("data build x --out y.h5 --sample-rate 0", &out), 2) << out;
  EXPECT_NE(out.find("'0' is not a number > 0"), std::string::npos) << out;
}

// A range in a message is the bounds' shortest form, not std::to_string's "-60.000000".
TEST(Usage, RangesInMessagesPrintTheirShortestForm) {
  DatasetFixture fx("usage-range");
  fx.write();
  std::string out;
  EXPECT_EQ(run_tenor("data degrade " + fx.root.string() + " --out " +
                          (make_temp_dir("usage-range-out") / "d").string() + " --ops gain=abc",
                      &out),
            2)
      << out;
  EXPECT_NE(out.find("gain=abc is not a number; give one in -60 .. 40"), std::string::npos)
      << out;
  EXPECT_EQ(out.find(".000000"), std::string::npos) << out;
  // A number out of range is called that, not "not a number".
  EXPECT_EQ(run_tenor("data degrade " + fx.root.string() + " --out " +
                          (make_temp_dir("usage-range-out") / "d").string() + " --ops gain=99",
                      &out),
            2)
      << out;
  EXPECT_NE(out.find("gain=99 is outside -60 .. 40; give one in it"), std::string::npos) << out;
  // A dataset that is not there is named once (`nope`, not `nope/nope`), exit 1 as for every
  // data command (the input has a problem).
  const fs::path cwd = fs::current_path();
  fs::current_path(make_temp_dir("usage-nope"));
  EXPECT_EQ(run_tenor("data validate nope", &out), 1) << out;
  fs::current_path(cwd);
  EXPECT_NE(out.find("nope: error: not a dataset directory"), std::string::npos) << out;
  EXPECT_NE(out.find(": nothing is there"), std::string::npos) << out;
  EXPECT_EQ(out.find("nope/nope"), std::string::npos) << out;
  // A dataset's own file given for its directory: the directory is named.
  const std::string calls = (fx.root / "calls.jsonl").string();
  EXPECT_EQ(run_tenor("data stats " + calls, &out), 1) << out;
  EXPECT_NE(out.find(calls + ": error: not a dataset directory (it should hold dataset.yaml and "
                     "calls.jsonl or segments.csv): a file; give the directory that holds it (" +
                     fx.root.string() + ")"),
            std::string::npos)
      << out;
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
  // Every subcommand `data --help` lists under Subcommands is in its one-line description...
  const size_t section = out.find("Subcommands:");
  ASSERT_NE(section, std::string::npos) << out;
  std::set<std::string> listed;
  const std::string rest = out.substr(section);
  const std::regex entry("\n  ([a-z-]+) +[A-Z]");
  for (auto it = std::sregex_iterator(rest.begin(), rest.end(), entry);
       it != std::sregex_iterator(); ++it)
    listed.insert((*it)[1]);
  for (const auto& cmd : listed)
    EXPECT_NE(description.find(cmd), std::string::npos) << cmd << " in " << description;
  // ... and every data command is listed, the newer ones too.
  for (const char* cmd : {"validate", "stats", "split", "synth", "convert", "build", "import",
                          "export", "review", "degrade"})
    EXPECT_TRUE(listed.count(cmd)) << cmd << "\n" << out;
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
