// `tenor eval --dataset DIR`: a run scored on a labelled dataset it never saw, with features
// computed as the run's were.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/sha256.h"
#include "data/features/store.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"

namespace tenor::test {
namespace {

using nlohmann::json;

/// A linear run (it reads the transcripts' tokens) trained on tiny_store().
const fs::path& text_run() {
  static fs::path run = [] {
    const fs::path dir = make_temp_dir("evalds-run");
    std::string out;
    EXPECT_EQ(
        run_tenor("train --config " + write_train_config(dir, "  type: linear\n").string(), &out),
        0)
        << out;
    return dir / "run";
  }();
  return run;
}

/// A dataset the run never saw: the fixture's two calls with other words (so a store built
/// from it alone would have another tokenizer), in `splits` (one per call, c1 and c2), with
/// audio at `rate_hz`.
DatasetFixture unseen_dataset(const std::string& name, const std::vector<std::string>& splits,
                              int rate_hz = 16000) {
  DatasetFixture fx(name);
  for (size_t i = 0; i < fx.calls.size(); ++i) {
    fx.calls[i]["split"] = splits.at(i);
    fx.calls[i]["segments"][0]["text"] = "this is outrageous I want my money back";
    if (rate_hz != 16000) write_tone(fx.root / fx.calls[i]["audio"].get<std::string>(), 4.0, rate_hz);
  }
  fx.write();
  return fx;
}

/// SHA-256 of every file under `dir`, by relative path.
std::map<std::string, std::string> file_hashes(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = sha256_file(e.path());
  return out;
}

json report_of(const fs::path& out) { return json::parse(std::ifstream(out / "report.json")); }

bool holds_a_temporary_store(const fs::path& out) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out, ec))
    if (e.path().filename().string().rfind(".dataset-store-", 0) == 0) return true;
  return false;
}

std::string eval_dataset(const fs::path& run, const fs::path& dataset, const fs::path& out) {
  return "eval --run " + run.string() + " --dataset " + dataset.string() + " --out " +
         out.string() + " --bootstrap 100 --no-progress";
}

TEST(E2eEvalDataset, ScoresAnUnseenDatasetAsDataBuildWithTheRunsTokenizerThenEvalData) {
  const DatasetFixture fx = unseen_dataset("evalds-unseen", {"dev", "test"});
  const fs::path dir = make_temp_dir("evalds-unseen-out");
  const auto run_before = file_hashes(text_run());
  std::string log;
  // The two commands a user would otherwise run.
  const fs::path store = dir / "built.h5";
  ASSERT_EQ(run_tenor("data build " + fx.root.string() + " --no-progress --out " + store.string() +
                          " --tokenizer " + tiny_store().string(),
                      &log),
            0)
      << log;
  ASSERT_EQ(run_tenor("eval --run " + text_run().string() + " --data " + store.string() +
                          " --out " + (dir / "a").string() + " --bootstrap 100",
                      &log),
            0)
      << log;
  // One command, the same numbers to the last digit.
  ASSERT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "b"), &log), 0) << log;
  EXPECT_NE(log.find("escalation: macro-F1"), std::string::npos) << log;
  // Only the scored split's calls are extracted into the store thrown away after.
  const size_t test_calls = std::count_if(fx.calls.begin(), fx.calls.end(),
                                          [](const json& c) { return c["split"] == "test"; });
  EXPECT_NE(log.find("extracting the " + std::to_string(test_calls) +
                     " call(s) of split(s) test (" + std::to_string(fx.calls.size()) +
                     " in the dataset)"),
            std::string::npos)
      << log;
  const json a = report_of(dir / "a"), b = report_of(dir / "b");
  EXPECT_EQ(a["tasks"], b["tasks"]);
  EXPECT_EQ(a["config"], b["config"]);
  // The report names the dataset and the rules; the temporary store is gone.
  const auto meta = features::read_store_meta(store);
  EXPECT_EQ(b["dataset"]["name"], "fixture");
  EXPECT_EQ(b["dataset"]["fingerprint"], meta.dataset_fingerprint);
  EXPECT_EQ(b["dataset"]["path"], fs::absolute(fx.root).string());
  EXPECT_EQ(b["calibration"], "run");
  EXPECT_TRUE(b["store"].is_null());
  EXPECT_EQ(b["config"]["decision_rules_fitted_on"], "dev split of " + tiny_store().string());
  EXPECT_FALSE(holds_a_temporary_store(dir / "b"));
  for (const auto& [file, hash] : file_hashes(dir / "b"))
    EXPECT_TRUE(file == "report.json" || file == "report.html" || file == "predictions.jsonl" ||
                (file.starts_with("calls/") && file.ends_with(".html")))
        << file << ": the report directory holds the report only";
  EXPECT_EQ(file_hashes(dir / "b").count("predictions.jsonl"), 1u);
  // The call pages play the dataset's audio, each turn from its start.
  size_t pages = 0;
  for (const auto& e : fs::directory_iterator(dir / "b" / "calls")) {
    std::string page((std::istreambuf_iterator<char>(std::ifstream(e.path()).rdbuf())), {});
    EXPECT_NE(page.find("<audio controls=\"controls\" preload=\"none\"><source src=\"../../"),
              std::string::npos)
        << e.path();
    EXPECT_NE(page.find(".wav#t="), std::string::npos) << e.path();
    ++pages;
  }
  EXPECT_GT(pages, 0u);

  // --calibration dev fits on the dataset's dev split, and says so.
  ASSERT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "c") + " --calibration dev", &log),
            0)
      << log;
  const json c = report_of(dir / "c");
  EXPECT_EQ(c["calibration"], "dev");
  EXPECT_EQ(c["config"]["decision_rules_fitted_on"], "dev split of dataset " + fx.root.string());

  // --keep-store keeps exactly the store data build writes.
  const fs::path kept = dir / "kept.h5";
  ASSERT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "d") + " --keep-store " +
                          kept.string(),
                      &log),
            0)
      << log;
  EXPECT_EQ(report_of(dir / "d")["store"], fs::absolute(kept).string());
  EXPECT_EQ(features::content_sha256(features::read_store(kept)),
            features::content_sha256(features::read_store(store)));
  // A --keep-store that names a directory is refused before any extraction: no report, no
  // directory of the build's parts.
  ASSERT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "e") + " --keep-store " +
                          (dir / "k.h5/").string(),
                      &log),
            2)
      << log;
  EXPECT_NE(log.find("--keep-store " + (dir / "k.h5/").string() + " ends in a separator"),
            std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(dir / "e"));
  EXPECT_FALSE(fs::exists(dir / "k.h5"));
  EXPECT_EQ(file_hashes(text_run()), run_before) << "tenor eval wrote into the run";
}

// config.yaml keeps `features` and `out` as the user wrote them, relative to the directory
// training ran in; eval --dataset and export read the run's store from any directory.
TEST(E2eEvalDataset, ARunWithRelativePathsFindsItsStoreFromAnotherDirectory) {
  const fs::path base = make_temp_dir("evalds-relative");
  fs::create_directories(base / "stores");
  fs::copy_file(tiny_store(), base / "stores" / "s.h5");
  std::ofstream(base / "config.yaml")
      << "features: stores/s.h5\nout: runs/r\nepochs: 2\nbatch_size: 8\nmodel:\n"
         "  type: linear\n";
  std::string log;
  ASSERT_EQ(run_command("cd " + base.string() + " && " + TENOR_BINARY +
                            " train --config config.yaml",
                        &log),
            0)
      << log;
  ASSERT_NE(fs::current_path(), base);
  const fs::path run = base / "runs" / "r";
  const fs::path out = make_temp_dir("evalds-relative-out");
  const DatasetFixture fx = unseen_dataset("evalds-relative-data", {"dev", "test"});
  EXPECT_EQ(run_tenor(eval_dataset(run, fx.root, out / "a"), &log), 0) << log;
  EXPECT_EQ(run_tenor("export --run " + run.string() + " --out " + (out / "b").string(), &log), 0)
      << log;
  // predict --run maps the call's channels as the run's store records them.
  const fs::path audio = fx.root / fx.calls[0]["audio"].get<std::string>();
  EXPECT_EQ(run_tenor("predict --run " + run.string() + " " + audio.string() + " --out " +
                          (out / "p.json").string(),
                      &log),
            0)
      << log;

  // `train --config RUN/config.yaml` from here trains that run (here: finds it done) in the
  // directory it trained in, not a new run under this directory's runs/r; config.yaml keeps its
  // relative paths.
  const std::string config_before = read_file(run / "config.yaml");
  EXPECT_EQ(run_command("cd " + out.string() + " && " + TENOR_BINARY + " train --config " +
                            (run / "config.yaml").string(),
                        &log),
            0)
      << log;
  EXPECT_NE(log.find("is the configuration of run " + run.string() + ": training it in " +
                     base.string() + ", the directory it trained in"),
            std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(out / "runs")) << log;
  EXPECT_EQ(read_file(run / "config.yaml"), config_before);

  // The run moved away from its store: the sentence names the path, this directory and the fix.
  fs::rename(base / "runs", out / "runs");
  const fs::path moved = out / "runs" / "r";
  EXPECT_EQ(run_tenor(eval_dataset(moved, fx.root, out / "c"), &log), 1);
  EXPECT_NE(log.find("from the feature store it was trained on, stores/s.h5 (its config.yaml's "
                     "`features`), which is not there from " + fs::current_path().string() +
                     "; run this from the directory training ran in, or put that store back"),
            std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(out / "c"));
  EXPECT_EQ(run_tenor("export --run " + moved.string() + " --out " + (out / "d").string(), &log),
            1);
  EXPECT_NE(log.find("or put that store back, or gate the export on another store with a dev "
                     "split the run reads: --parity-data STORE"),
            std::string::npos)
      << log;
  EXPECT_EQ(run_tenor("export --run " + moved.string() + " --out " + (out / "d").string() +
                          " --parity-data " + (base / "stores" / "s.h5").string(),
                      &log),
            0)
      << log;

  // Back beside a damaged store: named as the run's, with the fix.
  fs::rename(out / "runs", base / "runs");
  std::ofstream(base / "stores" / "s.h5", std::ios::trunc) << "not a store";
  EXPECT_EQ(run_tenor(eval_dataset(run, fx.root, out / "e"), &log), 1);
  EXPECT_NE(log.find("reads its extractor settings and tokenizer from the feature store it was "
                     "trained on, which cannot be read ("),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("put an intact copy of " + (base / "stores" / "s.h5").string() + " back"),
            std::string::npos)
      << log;
}

TEST(E2eEvalDataset, AnAllTestDatasetIsScoredAndSplitAllTakesEveryLabelledSegment) {
  const DatasetFixture fx = unseen_dataset("evalds-all-test", {"test", "test"});
  const fs::path dir = make_temp_dir("evalds-all-test-out");
  std::string log;
  ASSERT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "test"), &log), 0) << log;
  for (const auto& t : report_of(dir / "test")["tasks"]) EXPECT_EQ(t["n_labelled"], 4) << t;

  const DatasetFixture mixed = unseen_dataset("evalds-mixed", {"train", "test"});
  ASSERT_EQ(run_tenor(eval_dataset(text_run(), mixed.root, dir / "all") + " --split all", &log), 0)
      << log;
  const json all = report_of(dir / "all");
  EXPECT_EQ(all["split"], "all");
  for (const auto& t : all["tasks"]) EXPECT_EQ(t["n_labelled"], 4) << t;

  // A split without labels is refused before any extraction, and leaves no report directory.
  EXPECT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "dev") + " --split dev", &log), 1);
  EXPECT_NE(log.find("has no segment labelled for escalation, empathy in split 'dev' "
                     "(labelled segments: train 0, dev 0, test 8); choose another --split"),
            std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(dir / "dev"));
  EXPECT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "x") + " --split everything", &log),
            2);
}

TEST(E2eEvalDataset, TasksTypesAndClassesThatDoNotMatchTheRunAreRefusedBeforeExtraction) {
  DatasetFixture fx = unseen_dataset("evalds-mismatch", {"test", "test"});
  const auto original_calls = fx.calls;
  // No audio at all: any extraction would fail on it, so the refusals below come first.
  fs::remove_all(fx.root / "audio");
  const fs::path dir = make_temp_dir("evalds-mismatch-out");
  const std::string yaml = (fx.root / "dataset.yaml").string();
  std::string log;
  auto refused = [&](const std::string& from, const std::string& to) {
    std::string text = kTwoTaskYaml;
    text.replace(text.find(from), from.size(), to);
    write_text(fx.root / "dataset.yaml", text);
    EXPECT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "out"), &log), 1) << log;
    EXPECT_FALSE(fs::exists(dir / "out"));
    return log;
  };
  EXPECT_NE(refused("[calm, frustrated, angry, hostile]", "[calm, annoyed, angry, hostile]")
                .find(yaml + ": task 'escalation' has classes [calm, annoyed, angry, hostile], "
                             "but run " +
                      text_run().string() +
                      " was trained on [calm, frustrated, angry, hostile]; its predictions "
                      "cannot be scored against these labels: relabel the task"),
            std::string::npos)
      << log;
  EXPECT_NE(refused("type: ordinal", "type: categorical")
                .find(yaml + ": task 'escalation' is categorical, but run " + text_run().string() +
                      " predicts it as ordinal"),
            std::string::npos)
      << log;
  // A task the dataset lacks (labelled under another name).
  for (auto& call : fx.calls)
    for (auto& seg : call["segments"])
      if (seg["labels"].contains("empathy")) {
        seg["labels"]["rapport"] = seg["labels"]["empathy"];
        seg["labels"].erase("empathy");
      }
  fx.write();
  EXPECT_NE(refused("  empathy:", "  rapport:")
                .find(yaml + " has no task 'empathy' (it has escalation, rapport), which run " +
                      text_run().string() + " predicts"),
            std::string::npos)
      << log;
  // Calls without audio for a run that reads the voice.
  fx.calls = original_calls;
  for (auto& call : fx.calls) call.erase("audio");
  fx.write();
  EXPECT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "out"), &log), 1) << log;
  EXPECT_NE(log.find("call c1 has no audio (4 of 4 segments labelled for 'escalation' lack it), "
                     "but run " + text_run().string() + " reads the voice for 'escalation'"),
            std::string::npos)
      << log;
  // Only then is the audio looked at.
  fx.calls = original_calls;
  fx.write();
  EXPECT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "out"), &log), 1) << log;
  EXPECT_NE(log.find("audio/c1.wav"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(E2eEvalDataset, CalibrationDevWithoutADevSplitIsRefusedWithTheFix) {
  const DatasetFixture fx = unseen_dataset("evalds-no-dev", {"train", "test"});
  const fs::path out = make_temp_dir("evalds-no-dev-out") / "report";
  std::string log;
  EXPECT_EQ(run_tenor(eval_dataset(text_run(), fx.root, out) + " --calibration dev", &log), 1);
  EXPECT_NE(log.find("--calibration dev fits the decision rules on the dev split of dataset " +
                     fx.root.string() + ", which has no segment labelled for escalation, empathy"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("use --calibration run"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(out));
}

TEST(E2eEvalDataset, AudioSampledBelowTheRunsBandIsRefusedNamingTheFile) {
  const DatasetFixture fx = unseen_dataset("evalds-8k", {"test", "test"}, 8000);
  const fs::path dir = make_temp_dir("evalds-8k-out");
  std::string log;
  EXPECT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "a"), &log), 1);
  EXPECT_NE(log.find((fx.root / "audio/c1.wav").string() +
                     " is sampled at 8000 Hz (and 1 more file(s) too low: audio/c2.wav (8000 "
                     "Hz)), so it holds nothing above 4000 Hz, but run " +
                     text_run().string() + " analyses up to 8000 Hz"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("--sample-rate 8000"), std::string::npos) << log;
  ASSERT_EQ(run_tenor(eval_dataset(text_run(), fx.root, dir / "b") + " --allow-narrowband", &log),
            0)
      << log;
}

/// Pid of `tenor ARGS` started in the background, output to `log`.
pid_t spawn_tenor(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv{const_cast<char*>(TENOR_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (f) ::dup2(::fileno(stdout), 2);
    ::execv(TENOR_BINARY, argv.data());
    ::_exit(127);
  }
  return pid;
}

TEST(E2eEvalDataset, AnInterruptLeavesNoTemporaryStoreAndNoReportDirectory) {
  // Enough audio that the extraction outlasts the moment its store directory appears.
  DatasetFixture fx("evalds-interrupt");
  fx.calls.resize(1);
  fx.calls[0]["split"] = "test";
  fx.write();
  for (int i = 2; i < 40; ++i) {
    json call = fx.calls[0];
    call["call_id"] = "c" + std::to_string(i);
    fx.calls.push_back(call);
  }
  fx.write();
  const fs::path out = make_temp_dir("evalds-interrupt-out") / "report";
  const pid_t pid = spawn_tenor({"eval", "--run", text_run().string(), "--dataset",
                                 fx.root.string(), "--out", out.string(), "--no-progress"},
                                out.parent_path() / "log.txt");
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!holds_a_temporary_store(out) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(holds_a_temporary_store(out)) << "the evaluation never started extracting";
  ::kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT)
      << "status " << status << ": "
      << std::string(std::istreambuf_iterator<char>(std::ifstream(out.parent_path() / "log.txt").rdbuf()), {});
  EXPECT_FALSE(fs::exists(out)) << "the interrupted evaluation left its report directory";
}

}  // namespace
}  // namespace tenor::test
