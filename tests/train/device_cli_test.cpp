// `--device cuda` where no GPU is visible (issue 18, item 4): data build, train, eval and
// predict all stop at parse time with resolve_device's sentence and exit 2, before reading
// inputs or creating outputs. CUDA_VISIBLE_DEVICES is emptied so that this holds (and is
// tested) on a GPU machine too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"

namespace tenor::test {
namespace {
namespace fs = std::filesystem;

class DeviceCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("CUDA_VISIBLE_DEVICES", "", 1);
    dir_ = make_temp_dir("device-cli");
  }
  void TearDown() override { ::unsetenv("CUDA_VISIBLE_DEVICES"); }

  /// Runs `args`, expects exit 2 and the sentence of a refused CUDA device.
  void expect_refused(const std::string& args) {
    std::string out;
    EXPECT_EQ(run_tenor(args, &out), 2) << args << "\n" << out;
    EXPECT_NE(out.find("device 'cuda' asked for"), std::string::npos) << args << "\n" << out;
    EXPECT_EQ(out.find("internal error"), std::string::npos) << out;
  }
  fs::path dir_;
};

TEST_F(DeviceCli, DataBuildRefusesCudaAndWritesNothing) {
  expect_refused("data build " + tiny_dataset().string() + " --out " +
                 (dir_ / "f.h5").string() + " --device cuda");
  EXPECT_FALSE(fs::exists(dir_ / "f.h5"));
}

TEST_F(DeviceCli, TrainRefusesCudaFromTheFlagAndFromTheConfig) {
  const auto config = write_train_config(dir_, "");
  expect_refused("train --config " + config.string() + " --device cuda");
  expect_refused("train --config " + config.string() + " --set device=cuda");
  EXPECT_FALSE(fs::exists(dir_ / "run" / "last.pt"));
}

TEST_F(DeviceCli, EvalAndPredictRefuseCudaBeforeReadingTheRun) {
  const auto run = (dir_ / "no-run").string();
  expect_refused("eval --run " + run + " --data " + tiny_store().string() +
                 " --out " + (dir_ / "report").string() + " --device cuda");
  expect_refused("eval compare " + run + " " + run + " --data " + tiny_store().string() +
                 " --device cuda");
  expect_refused("predict --run " + run + " --transcript t.jsonl --device cuda");
  EXPECT_FALSE(fs::exists(dir_ / "report"));
}

}  // namespace
}  // namespace tenor::test
