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

#include "data/features/build.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"

namespace tenor::test {
namespace {

const char* const kAugment =
    "  type: fusion\naugment:\n  probability: 0.7\n  speed_probability: 0.5\n"
    "  telephone_probability: 0.5\n  noise_probability: 0.5\n  reverb_probability: 0.5\n";


TEST(E2eAugment, TrainsOnAugmentedRowsAndResumesWithTheSameMetricsAfterSigkill) {
  fs::path full = make_temp_dir("augment-full"), cut = make_temp_dir("augment-cut"),
           plain = make_temp_dir("augment-plain");
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(full, kAugment).string(), &out), 0)
      << out;
  EXPECT_NE(out.find("augment: 70 % of training rows"), std::string::npos) << out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(plain, "  type: fusion\n").string(),
                      &out),
            0)
      << out;
  // Augmentation changes what the model learns from.
  EXPECT_NE(metrics_without_timing(full / "run"), metrics_without_timing(plain / "run"));
  const fs::path config = write_train_config(cut, kAugment);
  ASSERT_TRUE(train_and_kill_mid_run(config, cut / "run", true))
      << "training finished before it could be interrupted";
  ASSERT_EQ(run_tenor("train --config " + config.string(), &out), 0) << out;
  EXPECT_NE(out.find("resuming"), std::string::npos) << out;
  EXPECT_EQ(metrics_without_timing(full / "run"), metrics_without_timing(cut / "run"));
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
