// Shared by the train, eval and export end-to-end tests: a small labelled dataset
// with a feature store, built once per test process, and tiny training configs.
#include "tests/train/run_fixtures.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <iterator>
#include <stdexcept>
#include <thread>

#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "data/features/build.h"
#include "data/features/store.h"
#include "tests/data/fixtures.h"

namespace tenor::test {

namespace {
fs::path tiny_dataset_root;  ///< set when tiny_store() builds
}  // namespace

/// A 16-call dataset (12 train, 2 dev, 2 test) and its feature store, built once.
const fs::path& tiny_store() {
  static fs::path path = [] {
    DatasetFixture fx("train-data");
    fx.calls.clear();
    for (int i = 0; i < 16; ++i) {
      const std::string id = "c" + std::to_string(i);
      const std::string split = i < 12 ? "train" : i < 14 ? "dev" : "test";
      const int level = i % 4;
      nlohmann::json segs = nlohmann::json::array();
      for (int s = 0; s < 4; ++s) {
        bool customer = s % 2 == 0;
        nlohmann::json seg = {
            {"start", s * 1.0},
            {"end", s * 1.0 + 0.9},
            {"speaker", customer ? "customer" : "agent"},
            {"text", customer ? (level >= 2 ? "this is outrageous I want a refund now"
                                            : "thanks I am checking my order")
                              : (s == 1 ? "I am so sorry that sounds frustrating"
                                        : "please hold while I check")}};
        if (customer) {
          seg["labels"] = {{"escalation", level}};
        } else {
          seg["labels"] = {{"empathy", s == 1 ? 1 : 0}};
        }
        segs.push_back(seg);
      }
      fx.calls.push_back({{"call_id", id},
                          {"audio", "audio/" + id + ".wav"},
                          {"channels", {{"agent", 0}, {"customer", 1}}},
                          {"split", split},
                          {"meta", {{"speaker_id", "s" + std::to_string(i)}}},
                          {"segments", segs}});
      write_tone(fx.root / ("audio/" + id + ".wav"), 4.0, 16000, 2, 0.05 + 0.2 * level);
    }
    fx.write();
    tiny_dataset_root = fx.root;
    fs::path out = make_temp_dir("train-store") / "features.h5";
    features::BuildOptions options;
    options.progress = false;
    features::build_feature_store(fx.root, out, options);
    return out;
  }();
  return path;
}

fs::path exported_bundle(const std::string& model_extra) {
  const fs::path dir = make_temp_dir("bundle-run");
  std::string out;
  if (run_tenor("train --config " + write_train_config(dir, model_extra).string() +
                    " --set epochs=2",
                &out) != 0)
    throw std::runtime_error("tenor train failed: " + out);
  if (run_tenor("export --run " + (dir / "run").string() + " --out " + (dir / "bundle").string(),
                &out) != 0)
    throw std::runtime_error("tenor export failed: " + out);
  return dir / "bundle";
}

const fs::path& tiny_dataset() {
  tiny_store();
  return tiny_dataset_root;
}

fs::path tiny_store_with_classes(const fs::path& path, const std::string& task,
                                 const std::vector<std::string>& classes) {
  features::Store s = features::read_store(tiny_store());
  const std::vector<std::string> original = s.task_classes.at(task);
  std::vector<int32_t> to_new(original.size());
  for (size_t i = 0; i < original.size(); ++i) {
    auto it = std::find(classes.begin(), classes.end(), original[i]);
    to_new[i] = int32_t(it != classes.end() ? it - classes.begin() : long(i));
  }
  const auto column = size_t(
      std::find(s.layout.tasks.begin(), s.layout.tasks.end(), task) - s.layout.tasks.begin());
  auto flow = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return "[" + out + "]";
  };
  const size_t at = s.meta.schema_yaml.find(flow(original));
  if (at != std::string::npos)
    s.meta.schema_yaml.replace(at, flow(original).size(), flow(classes));
  s.task_classes[task] = classes;
  features::StoreWriter writer(path, s.layout);
  const size_t ff = s.layout.functional_columns.size(), fl = s.layout.lld_columns.size();
  for (size_t i = 0; i < s.segments.size(); ++i) {
    features::StoreSegment segment = s.segments[i];
    int32_t& label = segment.labels[column];
    if (label >= 0) label = to_new[size_t(label)];
    writer.append(segment,
                  std::vector<float>(s.functionals.begin() + long(i * ff),
                                     s.functionals.begin() + long((i + 1) * ff)),
                  std::vector<uint8_t>(s.functional_mask.begin() + long(i * ff),
                                       s.functional_mask.begin() + long((i + 1) * ff)),
                  std::vector<float>(s.frames.begin() + s.frame_offsets[i] * long(fl),
                                     s.frames.begin() + s.frame_offsets[i + 1] * long(fl)),
                  std::vector<int32_t>(s.tokens.begin() + s.token_offsets[i],
                                       s.tokens.begin() + s.token_offsets[i + 1]));
  }
  writer.finish(s.meta, s.task_classes, s.tokenizer_model);
  return path;
}

fs::path write_train_config(const fs::path& dir, const std::string& extra) {
  fs::path file = dir / "config.yaml";
  std::ofstream(file)
      << "features: " << tiny_store().string() << "\nout: " << (dir / "run").string()
      << "\nepochs: 3\nbatch_size: 8\ncheckpoint_every_steps: 1\nmodel:\n  hidden: 16\n"
         "  conv_channels: 8\n  embedding_dim: 8\n"
      << extra;
  return file;
}

void write_normalizer_instead_of_transform(const fs::path& run) {
  const auto t = nlohmann::json::parse(read_file(run / "input_transform.json"));
  nlohmann::json normalizer;
  for (const char* key : {"lld_mean", "lld_std", "func_mean", "func_std", "func_dropped"})
    normalizer[key] = t.at(key);
  write_file_atomic(run / "normalizer.json", normalizer.dump(2));
  fs::remove(run / "input_transform.json");
}

bool train_and_kill_mid_run(const std::filesystem::path& config, const std::filesystem::path& run,
                            bool after_checkpoint) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    execl(TENOR_BINARY, TENOR_BINARY, "train", "--config", config.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 20000; ++i) {
    std::ifstream m(run / "metrics.jsonl");
    const std::string text((std::istreambuf_iterator<char>(m)), {});
    if (std::count(text.begin(), text.end(), '\n') == 1 &&
        (!after_checkpoint || std::filesystem::exists(run / "last.pt"))) {
      if (after_checkpoint) std::this_thread::sleep_for(std::chrono::milliseconds(30));
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return true;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return false;
}

fs::path expect_a_killed_run_to_resume_as(const fs::path& full, const fs::path& dir,
                                          const std::string& model_extra) {
  const fs::path config = write_train_config(dir, model_extra);
  if (!train_and_kill_mid_run(config, dir / "run", true)) {
    ADD_FAILURE() << "training finished before it could be interrupted";
    return config;
  }
  std::string out;
  EXPECT_EQ(run_tenor("train --config " + config.string(), &out), 0) << out;
  EXPECT_NE(out.find("resuming"), std::string::npos) << out;
  EXPECT_EQ(metrics_without_timing(full), metrics_without_timing(dir / "run"));
  return config;
}

std::string metrics_without_timing(const std::filesystem::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::string line, out;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    for (const char* k :
         {"seconds", "train_seconds", "segments_per_s", "data_wait_share", "phase_seconds",
          "augment_batches"})
      j.erase(k);
    out += j.dump() + "\n";
  }
  return out;
}

void expect_bundle_predicts_as_run(const fs::path& run, const fs::path& bundle,
                                   const std::string& call, nlohmann::json* run_prediction) {
  const std::string which = " --features " + tiny_store().string() + " --call " + call;
  std::string a, b;
  ASSERT_EQ(run_tenor("--log-level error predict --run " + run.string() + which, &a), 0) << a;
  ASSERT_EQ(run_tenor("--log-level error predict --bundle " + bundle.string() + which, &b), 0)
      << b;
  const auto ja = nlohmann::json::parse(a), jb = nlohmann::json::parse(b);
  if (run_prediction) *run_prediction = ja;
  ASSERT_EQ(ja["segments"].size(), 4u);
  ASSERT_EQ(ja["segments"].size(), jb["segments"].size());
  for (size_t i = 0; i < ja["segments"].size(); ++i)
    for (auto& [task, v] : ja["segments"][i]["tasks"].items()) {
      const auto& w = jb["segments"][i]["tasks"][task];
      EXPECT_EQ(v["decision"], w["decision"]) << task;
      for (size_t c = 0; c < v["probs"].size(); ++c)
        EXPECT_NEAR(v["probs"][c].get<double>(), w["probs"][c].get<double>(), 1e-4) << task;
    }
}

}  // namespace tenor::test
