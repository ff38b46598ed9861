// `tenor train` with waveform augmentation (augment:) on the tiny fixture dataset: it trains
// on re-extracted rows, resumes bit-identically, and refuses audio that moved or changed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/cpu.h"
#include "data/features/build.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"

namespace tenor::test {
namespace {

const char* const kAugment =
    "  type: fusion\naugment:\n  probability: 0.7\n  speed_probability: 0.5\n"
    "  telephone_probability: 0.5\n  noise_probability: 0.5\n  reverb_probability: 0.5\n";


/// Every batch of a run that trained without interruption was read and extracted ahead, on
/// into the next epoch, but the very first (metrics.jsonl "augment_batches"): a read-ahead that
/// stopped at the epoch's end, or that asked for other rows than the trainer then takes, fails.
void expect_every_batch_but_the_first_read_ahead(const fs::path& run) {
  std::ifstream lines(run / "metrics.jsonl");
  std::string text;
  int epochs = 0;
  while (std::getline(lines, text)) {
    const auto served = nlohmann::json::parse(text).at("augment_batches");
    EXPECT_EQ(served.at("on_the_spot").get<int>(), epochs == 0 ? 1 : 0) << text;
    EXPECT_GE(served.at("read_ahead").get<int>(), epochs == 0 ? 1 : 2) << text;
    EXPECT_EQ(served.at("dropped").get<int>(), 0) << text;
    ++epochs;
  }
  EXPECT_GE(epochs, 2) << "in " << (run / "metrics.jsonl");
}

/// The run killed and resumed also has the consistency loss (augment.consistency), whose
/// extra forward of the clean rows must draw its dropout the same way after a resume.
TEST(E2eAugment, TrainsOnAugmentedRowsAndResumesWithTheSameMetricsAfterSigkill) {
  fs::path full = make_temp_dir("augment-full"), cut = make_temp_dir("augment-cut"),
           plain = make_temp_dir("augment-plain"), alone = make_temp_dir("augment-alone");
  const std::string consistent = std::string(kAugment) + "  consistency: 1\n";
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(full, consistent).string(), &out),
            0)
      << out;
  EXPECT_NE(out.find("augment: 70 % of training rows"), std::string::npos) << out;
  EXPECT_NE(out.find(", consistency 0."), std::string::npos) << out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(alone, kAugment).string(), &out), 0)
      << out;
  EXPECT_EQ(out.find(", consistency "), std::string::npos) << out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(plain, "  type: fusion\n").string(),
                      &out),
            0)
      << out;
  // Augmentation changes what the model learns from, and the consistency loss how.
  EXPECT_NE(metrics_without_timing(alone / "run"), metrics_without_timing(plain / "run"));
  EXPECT_NE(metrics_without_timing(full / "run"), metrics_without_timing(alone / "run"));
  expect_every_batch_but_the_first_read_ahead(alone / "run");
  expect_a_killed_run_to_resume_as(full / "run", cut, consistent);
}

/// What a run trained with `selection` (worst or mean) recorded: every epoch's dev_score is the
/// worst or the mean of its dev_conditions (the clean dev split and one degraded copy per op
/// kAugment enables), and result.json's best epoch is the epoch of the highest. Returns how
/// many epochs' worst and mean differ (a run where they never do cannot tell the two apart).
int expect_selection_follows_the_conditions(const fs::path& run, const std::string& selection) {
  std::ifstream lines(run / "metrics.jsonl");
  std::string text;
  double best = -1;
  int best_epoch = 0, degraded_differs = 0, worst_differs_from_mean = 0;
  while (std::getline(lines, text)) {
    const auto line = nlohmann::json::parse(text);
    const auto& conditions = line.at("dev_conditions");
    std::vector<std::string> names;
    double worst = 2, sum = 0;
    for (const auto& [name, f1] : conditions.items()) {
      names.push_back(name);
      worst = std::min(worst, f1.get<double>());
      sum += f1.get<double>();
      degraded_differs += name != "clean" && f1 != conditions["clean"];
    }
    EXPECT_EQ(names, (std::vector<std::string>{"agc", "clean", "gain", "noise", "reverb", "speed",
                                               "telephone"}));
    const double mean = sum / double(names.size());
    const double score = selection == "worst" ? worst : mean;
    EXPECT_NEAR(line.at("dev_score").get<double>(), score, 1e-12) << text;
    worst_differs_from_mean += mean > worst + 1e-9;
    double clean = 0;  // the clean split's score: the mean macro-F1 over tasks
    for (const auto& [task, m] : line.at("dev").items()) clean += m.at("macro_f1").get<double>();
    EXPECT_DOUBLE_EQ(conditions["clean"].get<double>(), clean / double(line.at("dev").size()));
    if (score > best + 1e-12) best = score, best_epoch = line.at("epoch").get<int>();
  }
  EXPECT_GT(degraded_differs, 0) << "no degraded copy ever scored other than the clean split";
  EXPECT_GT(best_epoch, 0) << "no epoch in " << (run / "metrics.jsonl");
  const auto result = nlohmann::json::parse(read_file(run / "result.json"));
  EXPECT_EQ(result.at("best_epoch").get<int>(), best_epoch);
  EXPECT_NEAR(result.at("best_dev_score").get<double>(), best, 1e-12);
  return worst_differs_from_mean;
}

/// selection: worst scores every epoch on the clean dev split and one degraded copy of it per
/// op the augment block enables; the worst of them chooses best.pt, and a resumed run makes
/// the same copies and the same choice. Its noise is set against the call's level
/// (noise_reference: call), whose per-file power a resumed run reads again; the fixture's
/// tones keep one level, so this checks that path through a resume, not the SNR shift
/// (Augment.NoiseAgainstTheCallPutsOneNoiseFloorUnderQuietAndLoudTurns checks that).
TEST(E2eAugment, SelectsTheEpochOnDegradedDevCopiesAndResumesWithTheSameMetrics) {
  const std::string extra = std::string(kAugment) + "  noise_reference: call\nselection: worst\n";
  const fs::path full = make_temp_dir("select-full"), cut = make_temp_dir("select-cut");
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(full, extra).string(), &out), 0)
      << out;
  EXPECT_NE(out.find("selection worst: over the clean"), std::string::npos) << out;
  expect_selection_follows_the_conditions(full / "run", "worst");
  const fs::path config = expect_a_killed_run_to_resume_as(full / "run", cut, extra);
  // A value it does not know, and nothing to degrade with, are refused with the fix.
  const std::string train = "train --config " + config.string() + " --set out=" +
                            (cut / "other").string();
  EXPECT_EQ(run_tenor(train + " --set selection=best", &out), 2) << out;
  EXPECT_NE(out.find("'selection' is best; use clean, worst or mean"), std::string::npos) << out;
  std::string off;
  for (const char* op : {"speed", "reverb", "noise", "agc", "telephone", "gain"})
    off += std::string(" --set augment.") + op + "_probability=0";
  EXPECT_EQ(run_tenor(train + off, &out), 2) << out;
  EXPECT_NE(out.find("enables no op to degrade the dev split with"), std::string::npos) << out;
}

/// Per-speaker normalisation with augmentation: each augmented speaker's two turns in a call
/// share a draw and the sums they are centred on, read from a batch or alone, and a run
/// killed mid-epoch resumes with the same metrics (its degraded dev copies included).
TEST(E2eAugment, TrainsPerSpeakerOnOneChannelPerSpeakerAndResumesWithTheSameMetrics) {
  const std::string extra =
      std::string(kAugment) + "speaker_normalization: call\nselection: worst\n";
  const fs::path full = make_temp_dir("speaker-full"), cut = make_temp_dir("speaker-cut");
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(full, extra).string(), &out), 0)
      << out;
  EXPECT_NE(out.find("augment: 70 % of training rows"), std::string::npos) << out;
  expect_a_killed_run_to_resume_as(full / "run", cut, extra);
}

/// selection: mean chooses best.pt and stops on the mean over the same conditions: in this
/// run the mean and the worst differ, so a trainer that scored mean as worst (or the mean
/// without one of the copies) fails here.
TEST(E2eAugment, SelectsTheEpochOnTheMeanOfTheDegradedDevCopies) {
  const fs::path dir = make_temp_dir("select-mean");
  const std::string extra = std::string(kAugment) + "selection: mean\n";
  std::string out;
  // The copies are made whatever augment.probability: training on the store alone, on one
  // thread (LibTorch's threads spin on a busy machine), keeps this run short.
  const std::string config = write_train_config(dir, extra).string();
  ASSERT_EQ(run_tenor("train --config " + config + " --set augment.probability=0 --set threads=1",
                      &out),
            0)
      << out;
  EXPECT_NE(out.find("selection mean: over the clean"), std::string::npos) << out;
  EXPECT_GT(expect_selection_follows_the_conditions(dir / "run", "mean"), 0)
      << "the mean never differed from the worst: the test cannot tell them apart";
  // The copies are made side by side, one per core the run may use (here two, one thread
  // each), and are the same copies as made one at a time on one core.
  if (cpu_share().allowed < 2) GTEST_SKIP() << "one core: the copies cannot be made side by side";
  EXPECT_NE(out.find("degraded copies of them ("), std::string::npos) << out;
  EXPECT_NE(out.find(" s, 2 made at a time)"), std::string::npos) << out;
  ASSERT_EQ(run_command("taskset -c 0 " + std::string(TENOR_BINARY) + " train --config " +
                            config + " --set augment.probability=0 --set threads=1 --set out=" +
                            (dir / "one-core").string() + " 2>&1",
                        &out),
            0)
      << out;
  EXPECT_NE(out.find(" s, 1 made at a time)"), std::string::npos) << out;
  EXPECT_EQ(metrics_without_timing(dir / "run"), metrics_without_timing(dir / "one-core"));
}

/// calibration: degraded fits the decision rules on the dev split pooled with its degraded
/// copies (seven times the dev rows here), and changes nothing else: the same training (the
/// same metrics every epoch) as with the clean rules, and a finished run asked again fits the
/// same rules; without them eval falls back to the clean dev split and says so. Without an op
/// to degrade with, or with an unknown value, it is refused with the fix.
TEST(E2eAugment, FitsTheDecisionRulesOnTheDevSplitAndItsDegradedCopies) {
  const fs::path dir = make_temp_dir("calibrate-degraded");
  const fs::path config = write_train_config(dir, kAugment);
  // Training on the store alone, on one thread, keeps it short (the copies are made whatever
  // augment.probability).
  const std::string train =
      "train --config " + config.string() + " --set augment.probability=0 --set threads=1";
  std::string out;
  const std::string degraded_run =
      train + " --set calibration=degraded --set out=" + (dir / "degraded").string();
  ASSERT_EQ(run_tenor(train + " --set out=" + (dir / "clean").string(), &out), 0) << out;
  ASSERT_EQ(run_tenor(degraded_run, &out), 0) << out;
  EXPECT_NE(out.find("calibration degraded: the decision rules will be fitted on the clean"),
            std::string::npos)
      << out;
  using nlohmann::json;
  const json clean = json::parse(read_file(dir / "clean" / "calibration.json"));
  const json degraded = json::parse(read_file(dir / "degraded" / "calibration.json"));
  EXPECT_EQ(metrics_without_timing(dir / "clean"), metrics_without_timing(dir / "degraded"))
      << "calibration changed what was trained";
  EXPECT_NE(degraded.at("fitted_on").get<std::string>().find(
                "and its degraded copies (speed, reverb, noise, agc, telephone, gain)"),
            std::string::npos)
      << degraded.dump(2);
  // The fixture's escalation is ordinal (a temperature), its empathy binary (a threshold too).
  const json& c = clean.at("tasks").at("escalation");
  const json& d = degraded.at("tasks").at("escalation");
  const int dev_rows = c.at("temperature_fit").at("n").get<int>();
  ASSERT_GT(dev_rows, 0);
  EXPECT_EQ(d.at("temperature_fit").at("n").get<int>(), 7 * dev_rows);
  EXPECT_NE(c.at("temperature"), d.at("temperature"));
  EXPECT_EQ(degraded.at("tasks").at("empathy").at("threshold_fit").at("n").get<int>(),
            7 * clean.at("tasks").at("empathy").at("threshold_fit").at("n").get<int>());
  // Without calibration.json, eval fits the rules on the clean dev split and says what it
  // cannot pool; asked again, the finished run makes the same copies and saves the same rules.
  fs::remove(dir / "degraded" / "calibration.json");
  ASSERT_EQ(run_tenor("eval --run " + (dir / "degraded").string() + " --data " +
                          tiny_store().string() + " --split test --out " +
                          (dir / "eval").string(),
                      &out),
            0)
      << out;
  EXPECT_NE(out.find("without the degraded dev copies the run's `calibration: degraded` pools"),
            std::string::npos)
      << out;
  EXPECT_FALSE(fs::exists(dir / "degraded" / "calibration.json")) << "eval wrote into the run";
  ASSERT_EQ(run_tenor(degraded_run, &out), 0) << out;
  EXPECT_EQ(json::parse(read_file(dir / "degraded" / "calibration.json")), degraded);
  EXPECT_EQ(run_tenor(train + " --set calibration=noisy --set out=" + (dir / "x").string(), &out),
            2)
      << out;
  EXPECT_NE(out.find("'calibration' is noisy; use clean (the dev split) or degraded"),
            std::string::npos)
      << out;
  std::string off;
  for (const char* op : {"speed", "reverb", "noise", "agc", "telephone", "gain"})
    off += std::string(" --set augment.") + op + "_probability=0";
  EXPECT_EQ(run_tenor(train + off + " --set calibration=degraded --set out=" +
                          (dir / "y").string(),
                      &out),
            2)
      << out;
  EXPECT_NE(out.find("calibration is degraded but the augment block enables no op to degrade"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("set calibration: clean"), std::string::npos) << out;
}

TEST(E2eAugment, RefusesAudioThatMovedOrChangedAndKeysOutOfRange) {
  const fs::path dir = make_temp_dir("augment-moved");
  fs::copy(tiny_dataset(), dir / "ds", fs::copy_options::recursive);
  features::BuildOptions o;
  o.progress = false;
  features::build_feature_store(dir / "ds", dir / "features.h5", o);
  const std::string train = "train --config " + write_train_config(dir, kAugment).string() +
                            " --set features=" + (dir / "features.h5").string();
  std::string out;
  // A probability out of range names the key and the value.
  EXPECT_EQ(run_tenor(train + " --set augment.noise_probability=1.5", &out), 2) << out;
  EXPECT_NE(out.find("'augment.noise_probability' is 1.5"), std::string::npos) << out;
  EXPECT_EQ(run_tenor(train + " --set augment.noise_probabilty=0.5", &out), 2) << out;
  EXPECT_NE(out.find("did you mean 'augment.noise_probability'"), std::string::npos) << out;
  EXPECT_EQ(run_tenor(train + " --set augment.consistency=-1", &out), 2) << out;
  EXPECT_NE(out.find("'augment.consistency' is -1; use a weight in 0 .. 100"), std::string::npos)
      << out;
  // Nothing to compare without augmented rows: refused, not silently ignored.
  EXPECT_EQ(run_tenor(train + " --set augment.consistency=1 --set augment.probability=0", &out),
            2)
      << out;
  EXPECT_NE(out.find("augment.probability is 0: set augment.probability above 0"),
            std::string::npos)
      << out;
  // The dataset moved: the file is named, with the fix.
  fs::rename(dir / "ds", dir / "elsewhere");
  EXPECT_EQ(run_tenor(train, &out), 1) << out;
  EXPECT_NE(out.find((dir / "ds").string()), std::string::npos) << out;
  EXPECT_NE(out.find("is missing"), std::string::npos) << out;
  EXPECT_NE(out.find("tenor data build"), std::string::npos) << out;
  fs::rename(dir / "elsewhere", dir / "ds");
  // A file changed in place (same size): its hash tells.
  fs::path wav;
  for (const auto& e : fs::recursive_directory_iterator(dir / "ds"))
    if (e.path().extension() == ".wav") wav = e.path();
  ASSERT_FALSE(wav.empty());
  {
    std::fstream f(wav, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-2, std::ios::end);
    f.put('\x11');
  }
  EXPECT_EQ(run_tenor(train, &out), 1) << out;
  EXPECT_NE(out.find(wav.filename().string()), std::string::npos) << out;
  EXPECT_NE(out.find("changed since the store was built"), std::string::npos) << out;
  // Off (the default), the store alone trains as before.
  EXPECT_EQ(run_tenor(train + " --set augment.probability=0 --set out=" + (dir / "run0").string(),
                      &out),
            0)
      << out;
}

}  // namespace
}  // namespace tenor::test
