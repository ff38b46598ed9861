// `tenor train`'s TensorBoard event files, read back by TensorBoard's own EventAccumulator
// (tests/train/tensorboard_read.sh: tensorboard from PyPI in a cached virtual environment;
// the tests skip when it cannot be installed).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"

namespace tenor::test {
namespace {
using nlohmann::json;

/// TensorBoard's reading of RUN/tensorboard (tensorboard_read.py), or a skip reason in *skip.
json read_with_tensorboard(const fs::path& run, std::string* skip) {
  const fs::path out = run.parent_path() / "tensorboard.json";
  const std::string cmd = std::string(TENOR_SOURCE_DIR) +
                          "/tests/train/tensorboard_read.sh scalars " +
                          (run / "tensorboard").string() + " > " + out.string();
  const int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 3) {
    *skip = "tensorboard from PyPI could not be installed (tests/train/tensorboard_read.sh)";
    return json();
  }
  EXPECT_EQ(rc, 0) << cmd;
  return json::parse(read_file(out));
}

std::vector<json> metrics_lines(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  return lines;
}

/// The value TensorBoard holds for `tag` at `step` (it stores float32); NaN when absent.
double at(const json& tb, const std::string& tag, int64_t step) {
  for (const auto& p : tb["scalars"].value(tag, json::array()))
    if (p[0] == step) return p[1].get<double>();
  return NAN;
}

void expect_float(double tensorboard, double metrics, const std::string& what) {
  EXPECT_NEAR(tensorboard, metrics, 1e-6 * std::max(1.0, std::abs(metrics))) << what;
}

/// One uninterrupted tiny fusion run, trained once for the tests below.
const fs::path& full_run() {
  static const fs::path run = [] {
    const fs::path dir = make_temp_dir("train-tensorboard");
    std::string out;
    EXPECT_EQ(run_tenor("train --config " + write_train_config(dir, "  type: fusion\n").string(),
                        &out),
              0)
        << out;
    return dir / "run";
  }();
  return run;
}

TEST(E2eTrain, TensorBoardReadsTheRunsScalarsAndConfig) {
  const fs::path& run = full_run();
  const auto lines = metrics_lines(run);
  ASSERT_EQ(lines.size(), 3u);
  // The dev loss beside the dev score: each task's, and their sum.
  for (const json& l : lines) {
    ASSERT_TRUE(l["dev_loss"].is_number()) << l;
    EXPECT_GT(l["dev_loss"].get<double>(), 0) << l;
    double task_losses = 0;
    for (const auto& [task, m] : l["dev"].items()) task_losses += m.at("loss").get<double>();
    expect_float(l["dev_loss"], task_losses, "the dev loss is the sum of the tasks'");
  }
  std::string skip;
  const json tb = read_with_tensorboard(run, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  // Per epoch, at the step that ends it: what metrics.jsonl says, dev loss beside dev score.
  for (const json& l : lines) {
    const int64_t step = l["step"];
    const std::string e = "epoch " + l["epoch"].dump();
    expect_float(at(tb, "epoch/train_loss", step), l["train_loss"], e + " train loss");
    expect_float(at(tb, "epoch/dev_loss", step), l["dev_loss"], e + " dev loss");
    expect_float(at(tb, "epoch/dev_score", step), l["dev_score"], e + " dev score");
    expect_float(at(tb, "train/learning_rate", step), l["lr"], e + " learning rate");
    for (const auto& [task, m] : l["dev"].items()) {
      expect_float(at(tb, "epoch/dev_macro_f1/" + task, step), m["macro_f1"], e + " " + task);
      expect_float(at(tb, "epoch/dev_loss/" + task, step), m["loss"], e + " " + task + " loss");
    }
  }
  // Per optimizer step: every step once, finite, throughput positive.
  const int64_t steps = lines.back()["step"];
  for (const char* tag :
       {"train/loss", "train/learning_rate", "train/grad_norm", "train/segments_per_s"}) {
    const json& points = tb["scalars"][tag];
    ASSERT_EQ(points.size(), size_t(steps)) << tag << " " << points;
    for (int64_t s = 1; s <= steps; ++s) {
      EXPECT_EQ(points[size_t(s - 1)][0], s) << tag;
      EXPECT_TRUE(std::isfinite(points[size_t(s - 1)][1].get<double>())) << tag;
    }
  }
  for (const auto& p : tb["scalars"]["train/segments_per_s"]) EXPECT_GT(p[1].get<double>(), 0);
  // The resolved configuration, as text at step 0.
  ASSERT_EQ(tb["texts"]["config"].size(), 1u) << tb["texts"];
  EXPECT_EQ(tb["texts"]["config"][0][0], 0);
  EXPECT_NE(tb["texts"]["config"][0][1].get<std::string>().find("features: " +
                                                                 tiny_store().string()),
            std::string::npos);
}

/// Every scalar but throughput (timing), as (tag, step) -> value.
std::map<std::pair<std::string, int64_t>, double> deterministic_points(const json& tb) {
  std::map<std::pair<std::string, int64_t>, double> out;
  for (const auto& [tag, points] : tb["scalars"].items()) {
    if (tag.find("segments_per_s") != std::string::npos) continue;
    for (const auto& p : points) {
      const auto key = std::make_pair(tag, p[0].get<int64_t>());
      EXPECT_EQ(out.count(key), 0u) << tag << " step " << p[0] << " twice";
      out[key] = p[1].get<double>();
    }
  }
  return out;
}

TEST(E2eTrain, AResumedRunShowsEachPointOnceAsAnUninterruptedOne) {
  const fs::path cut = make_temp_dir("train-tb-cut");
  std::string out;
  const fs::path config = write_train_config(cut, "  type: fusion\n");
  // Killed as epoch 1's metrics line appears: often before that epoch's checkpoint, so that
  // the resumed run writes the epoch's points again (tensorboard_test.cpp covers that case
  // deterministically).
  const bool killed = train_and_kill_mid_run(config, cut / "run", false);
  ASSERT_TRUE(killed) << "training finished before it could be interrupted";
  ASSERT_EQ(run_tenor("train --config " + config.string(), &out), 0) << out;
  EXPECT_NE(out.find("resuming"), std::string::npos) << out;
  std::string skip;
  const json a = read_with_tensorboard(full_run(), &skip);
  const json b = read_with_tensorboard(cut / "run", &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  const auto pa = deterministic_points(a), pb = deterministic_points(b);
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& [key, value] : pa) {
    ASSERT_TRUE(pb.count(key)) << key.first << " step " << key.second << " lost";
    EXPECT_EQ(pb.at(key), value) << key.first << " step " << key.second;
  }
  EXPECT_EQ(b["texts"]["config"].size(), 1u);
}

}  // namespace
}  // namespace tenor::test
