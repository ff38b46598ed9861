// Training end to end on generated fixtures: outputs, determinism, resume after SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"
#include "train/config.h"
#include "train/trainer.h"

namespace tenor::test {
namespace {

/// metrics.jsonl without the timing fields, which legitimately differ between runs.
std::string metrics_without_timing(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::string line, out;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    for (const char* k : {"seconds", "train_seconds", "segments_per_s", "data_wait_share"})
      j.erase(k);
    out += j.dump() + "\n";
  }
  return out;
}

TEST(E2eTrain, WritesTheRunAndIsBitReproducible) {
  for (const char* type : {"linear", "fusion"}) {
    fs::path a = make_temp_dir("train-a"), b = make_temp_dir("train-b");
    std::string out;
    ASSERT_EQ(run_tenor("train --config " +
                            write_train_config(a, std::string("  type: ") + type + "\n").string(),
                        &out),
              0)
        << out;
    ASSERT_EQ(run_tenor("train --config " +
                            write_train_config(b, std::string("  type: ") + type + "\n").string(),
                        &out),
              0)
        << out;
    for (const char* f :
         {"config.yaml", "normalizer.json", "metrics.jsonl", "last.pt", "best.pt", "result.json"})
      EXPECT_TRUE(fs::exists(a / "run" / f)) << f;
    std::string ma = metrics_without_timing(a / "run");
    EXPECT_EQ(std::count(ma.begin(), ma.end(), '\n'), 3) << ma;
    EXPECT_EQ(ma, metrics_without_timing(b / "run")) << type;
    auto result = nlohmann::json::parse(std::ifstream(a / "run/result.json"));
    // Compliance: the agent task uses text only by default.
    for (const auto& t : result["tasks"]) {
      if (t["speaker"] == "agent") {
        EXPECT_EQ(t["modalities"], nlohmann::json::array({"text"})) << t;
      }
    }
  }
}

TEST(E2eTrain, ResumesAfterSigkillWithTheSameFinalMetrics) {
  fs::path full = make_temp_dir("train-full"), cut = make_temp_dir("train-cut");
  const std::string extra = "  type: fusion\n";
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(full, extra).string(), &out), 0)
      << out;
  fs::path config = write_train_config(cut, extra);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    execl(TENOR_BINARY, TENOR_BINARY, "train", "--config", config.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill once a mid-epoch checkpoint of epoch 2 exists (one metrics line written).
  bool killed = false;
  for (int i = 0; i < 20000 && !killed; ++i) {
    std::ifstream m(cut / "run/metrics.jsonl");
    std::string text((std::istreambuf_iterator<char>(m)), {});
    if (std::count(text.begin(), text.end(), '\n') == 1 && fs::exists(cut / "run/last.pt")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      kill(pid, SIGKILL);
      killed = true;
    }
    int status;
    if (!killed && waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (pid > 0) waitpid(pid, nullptr, 0);
  ASSERT_TRUE(killed) << "training finished before it could be interrupted";
  ASSERT_EQ(run_tenor("train --config " + config.string(), &out), 0) << out;
  EXPECT_NE(out.find("resuming"), std::string::npos) << out;
  EXPECT_EQ(metrics_without_timing(full / "run"), metrics_without_timing(cut / "run"));
}

TEST(E2eTrain, RefusesAnotherConfigInTheSameRunAndBadKeys) {
  fs::path dir = make_temp_dir("train-refuse");
  std::string out;
  ASSERT_EQ(
      run_tenor("train --config " + write_train_config(dir, "  type: linear\n").string(), &out), 0)
      << out;
  EXPECT_EQ(run_tenor("train --config " + write_train_config(dir, "  type: linear\n").string() +
                          " --set optim.lr=0.1",
                      &out),
            2)
      << out;
  EXPECT_NE(out.find("different configuration"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("train --config " + write_train_config(dir, "  typo: 1\n").string(), &out),
            2);
  EXPECT_NE(out.find("unknown config key 'model.typo'"), std::string::npos) << out;
  EXPECT_EQ(
      run_tenor("train --config " + write_train_config(dir, "").string() + " --set tasks=[nope]",
                &out),
      2);
  EXPECT_NE(out.find("task 'nope' is not in the feature store"), std::string::npos) << out;
}

}  // namespace
}  // namespace tenor::test
