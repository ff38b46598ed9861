// Training end to end on generated fixtures: outputs, determinism, resume after SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <cstring>
#include <future>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/cpu.h"
#include "core/file_lock.h"
#include "core/sha256.h"
#include "data/features/store.h"
#include "data/features/tokenizer.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/model.h"
#include "train/predictor.h"
#include "train/predict.h"
#include "train/run_dir.h"
#include "train/run_format.h"
#include "train/predictor.h"
#include "train/trainer.h"
#include "train/word_vectors.h"

namespace tenor::test {
namespace {


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
    for (const char* f : {"config.yaml", "input_transform.json", "metrics.jsonl", "last.pt",
                          "best.pt", "result.json"})
      EXPECT_TRUE(fs::exists(a / "run" / f)) << f;
    EXPECT_FALSE(fs::exists(a / "run/normalizer.json")) << "format 2 holds input_transform.json";
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

/// More threads than the cores this process may use (core/cpu.h) is allowed but said: they
/// would wait for each other. As many as the cores is said nothing about.
TEST(E2eTrain, WarnsOfMoreThreadsThanTheCoresItMayUse) {
  const unsigned cores = cpu_share().usable();
  const fs::path over = make_temp_dir("train-threads"), fits = make_temp_dir("train-threads");
  const std::string many = "  type: linear\nthreads: " + std::to_string(cores + 1) + "\n";
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(over, many).string(), &out), 0)
      << out;
  EXPECT_NE(out.find("threads: " + std::to_string(cores + 1) + " (from the config) is more than"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("set threads: " + std::to_string(cores) + " or fewer"), std::string::npos)
      << out;
  const std::string enough = "  type: linear\nthreads: " + std::to_string(cores) + "\n";
  ASSERT_EQ(run_tenor("train --config " + write_train_config(fits, enough).string(), &out), 0)
      << out;
  EXPECT_EQ(out.find("wait for each other"), std::string::npos) << out;
}

TEST(E2eTrain, ResumesAfterSigkillWithTheSameFinalMetrics) {
  fs::path full = make_temp_dir("train-full"), cut = make_temp_dir("train-cut");
  const std::string extra = "  type: fusion\n";
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(full, extra).string(), &out), 0)
      << out;
  // Killed once a mid-epoch checkpoint of epoch 2 exists (one metrics line written).
  expect_a_killed_run_to_resume_as(full / "run", cut, extra);
}

/// The tensor `key` of checkpoint `path`.
torch::Tensor checkpoint_tensor(const fs::path& path, const std::string& key) {
  torch::serialize::InputArchive archive;
  archive.load_from(path.string());
  torch::Tensor t;
  EXPECT_TRUE(archive.try_read(key, t)) << key << " not in " << path;
  return t;
}

// optim.ema_decay: dev scores the average (other metrics than without it), best.pt holds the
// average while last.pt holds the training weights and the average, and a run killed
// mid-epoch resumes to the same metrics as one never interrupted.
TEST(E2eTrain, TheWeightAverageIsScoredKeptInBestAndResumedExactly) {
  const std::string extra = "  type: fusion\noptim:\n  ema_decay: 0.8\n";
  const fs::path plain = make_temp_dir("train-ema-off"), full = make_temp_dir("train-ema"),
                 cut = make_temp_dir("train-ema-cut");
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(plain, "  type: fusion\n").string(),
                      &out),
            0)
      << out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(full, extra).string(), &out), 0)
      << out;
  EXPECT_NE(metrics_without_timing(plain / "run"), metrics_without_timing(full / "run"));

  expect_a_killed_run_to_resume_as(full / "run", cut, extra);

  // One epoch: it is the best, so best.pt and last.pt are of the same moment.
  const fs::path one = make_temp_dir("train-ema-one");
  ASSERT_EQ(run_tenor("train --config " + write_train_config(one, extra).string() +
                          " --set epochs=1",
                      &out),
            0)
      << out;
  const std::string key = "model.gate.weight";
  const torch::Tensor best = checkpoint_tensor(one / "run/best.pt", key);
  EXPECT_TRUE(torch::equal(best, checkpoint_tensor(one / "run/last.pt", "average." + key)));
  EXPECT_FALSE(torch::equal(best, checkpoint_tensor(one / "run/last.pt", key)));
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
      run_tenor("train --config " + write_train_config(dir, "").string() + " --set tasks=[nope]" +
                    " --set out=" + (dir / "new-run").string(),
                &out),
      2);
  EXPECT_NE(out.find("task 'nope' is not in the feature store"), std::string::npos) << out;
}

TEST(E2eTrain, WritesOnlyIntoANewDirectoryOrItsOwnRun) {
  fs::path dir = make_temp_dir("train-foreign");
  const std::string cmd =
      "train --config " + write_train_config(dir, "  type: linear\n").string() + " --set epochs=1";
  // Someone else's files: refused, left as they were.
  const fs::path foreign = dir / "theirs";
  fs::create_directories(foreign);
  write_file_atomic(foreign / "config.yaml", "mine: 1\n");
  write_file_atomic(foreign / "metrics.jsonl", "{\"loss\": 1}\n");
  std::string out;
  EXPECT_EQ(run_tenor(cmd + " --set out=" + foreign.string(), &out), 2) << out;
  EXPECT_NE(out.find("`out` " + foreign.string() + " is not empty and is not a tenor run (it "
                     "holds config.yaml, metrics.jsonl"),
            std::string::npos)
      << out;
  EXPECT_EQ(read_file(foreign / "config.yaml"), "mine: 1\n");
  EXPECT_EQ(read_file(foreign / "metrics.jsonl"), "{\"loss\": 1}\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(foreign), {}), 2);
  // The command's own input: the dataset directory, the store file.
  EXPECT_EQ(run_tenor(cmd + " --set out=" + tiny_dataset().string(), &out), 2) << out;
  EXPECT_NE(out.find("is not a tenor run"), std::string::npos) << out;
  const std::string store_before = read_file(tiny_store());
  EXPECT_EQ(run_tenor(cmd + " --set out=" + tiny_store().string(), &out), 2) << out;
  EXPECT_NE(out.find("is a file, not a run directory"), std::string::npos) << out;
  EXPECT_EQ(read_file(tiny_store()), store_before);

  // An empty directory is a new run; a run from before the marker resumes as before.
  fs::create_directories(dir / "run");
  ASSERT_EQ(run_tenor(cmd, &out), 0) << out;
  // A fresh run records the current run format (train/run_format.h).
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "run/run.json")).at("format_version"),
            train::kRunFormatVersion);
  // Runs before the marker held normalizer.json, not input_transform.json (format 0).
  write_normalizer_instead_of_transform(dir / "run");
  fs::remove(dir / "run/run.json");
  ASSERT_EQ(run_tenor(cmd, &out), 0) << out;
  EXPECT_NE(out.find("resuming"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir / "run/run.json"));
  EXPECT_TRUE(fs::exists(dir / "run/input_transform.json"));
  // A run that stopped before its first checkpoint restarts; another config's is refused.
  fs::remove(dir / "run/last.pt");
  ASSERT_EQ(run_tenor(cmd, &out), 0) << out;
  fs::remove(dir / "run/last.pt");
  EXPECT_EQ(run_tenor(cmd + " --set seed=5", &out), 2) << out;
  EXPECT_NE(out.find("holds a run of a different configuration"), std::string::npos) << out;

  // A start refused once `out` is claimed (here by a drop_features pattern that matches no
  // column) leaves no directory behind, nor the parents it made; an empty one it found stays.
  const fs::path deeper = dir / "new" / "deeper";
  EXPECT_EQ(run_tenor(cmd + " --set out=" + deeper.string() + "/ --set drop_features=[nosuch]",
                      &out),
            2)
      << out;
  EXPECT_NE(out.find("drop_features: `nosuch` matches no column"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir)) << dir;
  EXPECT_FALSE(fs::exists(dir / "new")) << "a refused start left " << (dir / "new");
  fs::create_directories(deeper);
  EXPECT_EQ(run_tenor(cmd + " --set out=" + deeper.string() + " --set drop_features=[nosuch]",
                      &out),
            2)
      << out;
  EXPECT_TRUE(fs::is_directory(deeper) && fs::is_empty(deeper)) << deeper;
}

TEST(E2eTrain, ASecondTrainingIntoTheSameRunIsRefusedWithTheHoldersPid) {
  fs::path dir = make_temp_dir("train-lock");
  const std::string cmd = "train --config " + write_train_config(dir, "  type: linear\n").string();
  std::string out;
  {
    fs::create_directories(dir / "run");
    FileLock held(dir / "run/.lock", "the test's run");
    EXPECT_EQ(run_tenor(cmd, &out), 1) << out;
    EXPECT_NE(out.find("the run directory " + (dir / "run").string() +
                       " is in use by another tenor process (pid " + std::to_string(getpid())),
              std::string::npos)
        << out;
    EXPECT_EQ(std::distance(fs::directory_iterator(dir / "run"), {}), 1);  // the lock alone
  }
  // Two trainings of different configs started together: one trains, the other is refused
  // (by the lock while the first holds it, else by its marker); never a mixed run.
  auto start = [&](int seed) {
    return std::async(std::launch::async, [cmd, seed] {
      std::string log;
      const int rc = run_tenor(cmd + " --set seed=" + std::to_string(seed), &log);
      return std::make_pair(rc, log);
    });
  };
  auto a = start(11), b = start(12);
  const auto ra = a.get(), rb = b.get();
  ASSERT_TRUE((ra.first == 0) != (rb.first == 0)) << ra.second << "\n---\n" << rb.second;
  const auto& loser = ra.first == 0 ? rb : ra;
  EXPECT_TRUE(loser.second.find("is in use by another tenor process (pid") != std::string::npos ||
              loser.second.find("holds a run of a different configuration") != std::string::npos)
      << loser.second;
  const std::string winner_seed = ra.first == 0 ? "seed: 11" : "seed: 12";
  EXPECT_NE(read_file(dir / "run/config.yaml").find(winner_seed), std::string::npos);
  const std::string metrics = read_file(dir / "run/metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 3) << metrics;
  EXPECT_FALSE(fs::exists(dir / "run/.lock"));
}

/// The model parameters and training state of a checkpoint, read the way a resume reads it.
train::TrainState read_state(const fs::path& run, bool* all_finite) {
  train::TrainConfig c;
  train::apply_yaml_file(c, (run / "config.yaml").string());
  auto s = train::shape_from_json(nlohmann::json::parse(std::ifstream(run / "shape.json")));
  auto model = train::make_model(s, c.model);
  auto state = train::load_checkpoint(run / "last.pt", *model, nullptr, false);
  *all_finite = true;
  for (const auto& p : model->parameters()) *all_finite &= torch::isfinite(p).all().item<bool>();
  return state;
}

/// The number after `key` in `text` ("step 7" -> 7), -1 when absent.
int64_t number_after(const std::string& text, const std::string& key) {
  auto at = text.find(key);
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + key.size()));
}

// A weight decay typed as 1e6 instead of 1e-6 makes AdamW multiply every weight by
// (1 - lr * wd) each step, so after a few good steps the numbers overflow. The run must
// stop with exit code 1 naming the epoch, the step and the segments of the batch, and
// leave last.pt (written after every step here) exactly as it was before the bad step:
// running the same command again resumes from it, fails at the same step and leaves the
// file byte for byte unchanged.
TEST(E2eTrain, NonFiniteTrainingStopsNamingTheBatchAndKeepsTheLastGoodCheckpoint) {
  fs::path dir = make_temp_dir("train-diverge");
  const std::string cmd =
      "train --config " + write_train_config(dir, "  type: fusion\n").string() +
      " --set optim.lr=1 --set optim.weight_decay=1e6 --set optim.warmup_steps=0";
  std::string out;
  ASSERT_EQ(run_tenor(cmd, &out), 1) << out;
  EXPECT_TRUE(out.find(" is nan at epoch ") != std::string::npos ||
              out.find(" is inf at epoch ") != std::string::npos ||
              out.find(" is -inf at epoch ") != std::string::npos)
      << out;
  EXPECT_NE(out.find(" segments: call c"), std::string::npos) << out;
  EXPECT_NE(out.find("the last good checkpoint is " + (dir / "run/last.pt").string()),
            std::string::npos)
      << out;
  const int64_t step = number_after(out, ", step ");
  ASSERT_GE(step, 1) << out;  // the first loss comes from the initial weights and is finite
  EXPECT_EQ(number_after(out, "(step "), step) << out;  // the checkpoint is the previous step's

  bool finite = false;
  train::TrainState state = read_state(dir / "run", &finite);
  EXPECT_EQ(state.step, step);
  EXPECT_TRUE(finite) << "a checkpoint of the diverged state was written";
  for (const auto& e : fs::directory_iterator(dir / "run"))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos)
        << "half-written file left: " << e.path();
  const std::string before = sha256_hex(read_file(dir / "run/last.pt"));

  std::string again;
  ASSERT_EQ(run_tenor(cmd, &again), 1) << again;
  EXPECT_NE(again.find("resuming"), std::string::npos) << again;
  EXPECT_EQ(number_after(again, ", step "), step) << again;
  EXPECT_EQ(sha256_hex(read_file(dir / "run/last.pt")), before) << "last.pt was rewritten";
}

/// A copy of tiny_store() in `dir` where one frame of call `call`'s segment 0 is +inf, as
/// a damaged feature file could hold.
fs::path store_with_an_infinite_frame(const fs::path& dir, const std::string& call) {
  const auto s = features::read_store(tiny_store());
  const fs::path path = dir / "damaged.h5";
  features::StoreWriter writer(path, s.layout);
  const size_t ff = s.layout.functional_columns.size(), fl = s.layout.lld_columns.size();
  for (size_t i = 0; i < s.segments.size(); ++i) {
    std::vector<float> functionals(s.functionals.begin() + long(i * ff),
                                   s.functionals.begin() + long((i + 1) * ff));
    std::vector<uint8_t> mask(s.functional_mask.begin() + long(i * ff),
                              s.functional_mask.begin() + long((i + 1) * ff));
    std::vector<float> frames(s.frames.begin() + s.frame_offsets[i] * long(fl),
                              s.frames.begin() + s.frame_offsets[i + 1] * long(fl));
    std::vector<int32_t> tokens(s.tokens.begin() + s.token_offsets[i],
                                s.tokens.begin() + s.token_offsets[i + 1]);
    if (s.segments[i].call_id == call && s.segments[i].segment == 0 && !frames.empty())
      frames[frames.size() / 2] = INFINITY;
    writer.append(s.segments[i], functionals, mask, frames, tokens);
  }
  writer.finish(s.meta, s.task_classes, s.tokenizer_model);
  return path;
}

// An infinite value in one training segment's frames poisons the training statistics of its
// column, so the first batch already fails: the message says so and names that segment.
TEST(E2eTrain, NonFiniteFeaturesAreTracedToTheirSegment) {
  fs::path dir = make_temp_dir("train-inf-store");
  const fs::path store = store_with_an_infinite_frame(dir, "c5");
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(dir, "  type: fusion\n").string() +
                          " --set features=" + store.string(),
                      &out),
            1)
      << out;
  EXPECT_NE(out.find("the loss is nan at epoch 1, step 0, batch 0 of 6"), std::string::npos) << out;
  EXPECT_NE(out.find("non-finite values in the store at call c5 segment 0 "), std::string::npos)
      << out;
  EXPECT_NE(out.find("no checkpoint had been written yet"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "run/last.pt"));
}

/// The parameters of RUN/last.pt by name.
std::map<std::string, torch::Tensor> checkpoint_params(const fs::path& run) {
  train::TrainConfig c;
  train::apply_yaml_file(c, (run / "config.yaml").string());
  auto s = train::shape_from_json(nlohmann::json::parse(std::ifstream(run / "shape.json")));
  auto model = train::make_model(s, c.model);
  train::load_checkpoint(run / "last.pt", *model, nullptr, false);
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model->named_parameters()) out[p.key()] = p.value().detach().clone();
  return out;
}

// One AdamW step from the same initialisation and batch: the first step moves every
// element by lr * g / (|g| + eps), so with optim.ngrams_lr_scale 5 the n-gram bag moves
// 5 times as far (the runs differ by up to 4 lr there) and every other parameter exactly
// as without it; in an ensemble (model.members), every member's bag.
TEST(E2eTrain, TheNgramBagLearnsAtItsOwnRate) {
  const double lr = 0.002;
  for (const std::string members : {"1", "2"}) {
    std::map<std::string, torch::Tensor> runs[2];
    for (int i = 0; i < 2; ++i) {
      fs::path dir = make_temp_dir("train-ngram-rate");
      std::string out;
      ASSERT_EQ(run_tenor("train --config " +
                              write_train_config(dir, "  type: fusion\n").string() +
                              " --set epochs=1 --set batch_size=1000 --set optim.warmup_steps=0"
                              " --set optim.weight_decay=0 --set optim.lr=0.002"
                              " --set model.members=" + members +
                              " --set optim.ngrams_lr_scale=" + (i ? "5" : "1"),
                          &out),
                0)
          << out;
      runs[i] = checkpoint_params(dir / "run");
    }
    const std::vector<std::string> bags =
        members == "1" ? std::vector<std::string>{"ngrams.weight"}
                       : std::vector<std::string>{"member0.ngrams.weight", "member1.ngrams.weight"};
    for (const auto& bag : bags) ASSERT_TRUE(runs[0].count(bag)) << bag;
    for (const auto& [name, a] : runs[0]) {
      const auto& b = runs[1].at(name);
      if (std::find(bags.begin(), bags.end(), name) != bags.end()) {
        const double moved = (b - a).abs().max().item<double>();
        EXPECT_GT(moved, 3.9 * lr) << name;
        EXPECT_LE(moved, 4.0 * lr + 1e-6) << name;
      } else {
        EXPECT_TRUE(torch::equal(a, b)) << name;
      }
    }
  }
}

// model.members with model.member_row_share: each member's rows are drawn per epoch (other
// metrics than members that take every row), and a run killed mid-epoch resumes to the same
// metrics as one never interrupted (the draws depend on the seed, epoch, member and row alone).
TEST(E2eTrain, AnEnsembleDrawsEachMembersRowsAndResumesExactly) {
  const std::string every = "  type: fusion\n  members: 2\n";
  const std::string extra = every + "  member_row_share: 0.5\n";
  const fs::path all = make_temp_dir("train-ens-all"), full = make_temp_dir("train-ens"),
                 cut = make_temp_dir("train-ens-cut");
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(all, every).string(), &out), 0)
      << out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(full, extra).string(), &out), 0)
      << out;
  EXPECT_NE(metrics_without_timing(all / "run"), metrics_without_timing(full / "run"));
  EXPECT_TRUE(checkpoint_params(full / "run").count("member1.gate.weight"));
  expect_a_killed_run_to_resume_as(full / "run", cut, extra);
}

// model.word_vectors: after one step at a negligible rate, the embedding of every whole-word
// piece holds its word's vector, the padding row is zero and every other row is the draw of
// the same seed without vectors, scaled to the vectors' RMS. result.json says how many pieces
// matched; a dimension other than model.embedding_dim and a model without a text encoder are
// refused naming the key and the fix.
TEST(E2eTrain, TokenEmbeddingsStartFromWordVectors) {
  const fs::path dir = make_temp_dir("train-word-vectors");
  for (const char* sub : {"plain", "glove", "dim", "linear"}) fs::create_directories(dir / sub);
  const features::Tokenizer tokenizer(features::read_store(tiny_store()).tokenizer_model);
  const int dim = 8;  // write_train_config's embedding_dim
  std::map<int, std::vector<float>> expected;
  {
    std::ofstream f(dir / "vectors.txt");
    f << "unrelatedword";
    for (int k = 0; k < dim; ++k) f << " 5";
    f << "\n";
    for (int id = 0; id < tokenizer.vocab_size(); ++id) {
      const std::string word = train::piece_word(tokenizer.piece(id));
      if (word.empty() || id % 3 == 0) continue;  // leave some whole-word pieces unmatched
      auto& v = expected[id];
      f << word;
      for (int k = 0; k < dim; ++k) {
        v.push_back(float(id % 7 - 3) * 0.1f + float(k) * 0.01f);
        f << ' ' << v.back();
      }
      f << "\n";
    }
  }
  ASSERT_GE(expected.size(), 2u);
  const std::string one_step =
      " --set epochs=1 --set batch_size=1000 --set optim.warmup_steps=0"
      " --set optim.weight_decay=0 --set optim.lr=1e-7";
  std::string out;
  ASSERT_EQ(run_tenor("train --config " +
                          write_train_config(dir / "plain", "  type: fusion\n").string() + one_step,
                      &out),
            0)
      << out;
  const std::string glove_cmd =
      "train --config " + write_train_config(dir / "glove", "  type: fusion\n").string() +
      one_step + " --set model.word_vectors=" + (dir / "vectors.txt").string();
  ASSERT_EQ(run_tenor(glove_cmd, &out), 0) << out;
  // Running it again resumes from the checkpoint, which holds the embeddings: the vectors
  // file is no longer needed, and result.json still says what matched.
  fs::rename(dir / "vectors.txt", dir / "moved.txt");
  ASSERT_EQ(run_tenor(glove_cmd, &out), 0) << out;
  EXPECT_NE(out.find("resuming"), std::string::npos) << out;
  fs::rename(dir / "moved.txt", dir / "vectors.txt");
  const auto result = nlohmann::json::parse(std::ifstream(dir / "glove/run/result.json"));
  EXPECT_EQ(result["word_vectors"]["pieces_matched"], expected.size());
  EXPECT_EQ(result["word_vectors"]["pieces"], tokenizer.vocab_size());
  const double rms = result["word_vectors"]["rms"];
  const torch::Tensor plain = checkpoint_params(dir / "plain/run").at("text.embed.weight");
  const torch::Tensor glove = checkpoint_params(dir / "glove/run").at("text.embed.weight");
  ASSERT_EQ(glove.size(0), tokenizer.vocab_size());
  EXPECT_TRUE(glove[0].eq(0).all().item<bool>()) << "the padding row";
  for (int id = 1; id < tokenizer.vocab_size(); ++id) {
    auto it = expected.find(id);
    const torch::Tensor want =
        it == expected.end() ? plain[id] * rms : torch::tensor(it->second, torch::kFloat);
    EXPECT_TRUE(torch::allclose(glove[id], want, 1e-5, 1e-6))
        << "piece " << id << " '" << tokenizer.piece(id) << "': " << glove[id] << " vs " << want;
  }

  EXPECT_EQ(
      run_tenor("train --config " + write_train_config(dir / "dim", "  type: fusion\n").string() +
                    " --set model.embedding_dim=4 --set model.word_vectors=" +
                    (dir / "vectors.txt").string(),
                &out),
      2);
  EXPECT_NE(out.find("set model.embedding_dim=8"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "dim/run")) << "a refused start leaves no run directory";
  EXPECT_EQ(run_tenor("train --config " +
                          write_train_config(dir / "linear", "  type: linear\n").string() +
                          " --set model.word_vectors=" + (dir / "vectors.txt").string(),
                      &out),
            2);
  EXPECT_NE(out.find("model.word_vectors"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "linear/run/last.pt"));
}

// Sentence embeddings from the side tool (model.text_embedding, `--text-embeddings`) were
// removed on 2026-12-06: whoever still asks for them is told what replaced them, before
// anything is read or written.
TEST(E2eTrain, SentenceEmbeddingsAreRefusedWithTheFix) {
  const fs::path dir = make_temp_dir("train-sentence");
  std::string out;
  for (const std::string& command :
       {"data build " + tiny_dataset().string() + " --out " + (dir / "s.h5").string(),
        "eval --run " + (dir / "run").string() + " --dataset " + tiny_dataset().string() +
            " --out " + (dir / "e").string(),
        "predict --run " + (dir / "run").string() + " --features " + tiny_store().string() +
            " --call c1"}) {
    EXPECT_EQ(run_tenor(command + " --text-embeddings " + (dir / "use.jsonl").string(), &out), 2)
        << command;
    EXPECT_NE(out.find("no longer takes --text-embeddings: sentence embeddings from a side tool "
                       "(tools/sentence-embeddings) were removed"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("model.text_encoder"), std::string::npos) << out;
  }
  EXPECT_FALSE(fs::exists(dir / "s.h5"));
  const std::string train =
      "train --config " + write_train_config(dir, "  type: fusion\n").string();
  EXPECT_EQ(run_tenor(train + " --set model.text_embedding=true", &out), 2);
  EXPECT_NE(out.find("config key 'model.text_embedding' is no longer read: sentence embeddings"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("configs/text-transformer.yaml"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "run"));
  // `false`, as every run of earlier tenors saved it, changes nothing, and is not written.
  ASSERT_EQ(run_tenor(train + " --set model.text_embedding=false --dump-config", &out), 0) << out;
  EXPECT_EQ(out.find("text_embedding"), std::string::npos) << out;
}

// The same config over a store whose contents changed (rebuilt with other settings, edited)
// would silently continue another experiment: the resume is refused, naming the store, and
// the run directory is left as it was; with the original contents back it resumes.
TEST(E2eTrain, RefusesToResumeOnAChangedStore) {
  fs::path dir = make_temp_dir("train-store-changed");
  const fs::path store = dir / "store.h5";
  fs::copy_file(tiny_store(), store);
  const std::string cmd = "train --config " + write_train_config(dir, "  type: linear\n").string() +
                          " --set features=" + store.string() + " --set epochs=1";
  std::string out;
  ASSERT_EQ(run_tenor(cmd, &out), 0) << out;
  const std::string normalizer = read_file(dir / "run/input_transform.json");
  const std::string checkpoint = read_file(dir / "run/last.pt");
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "run/result.json"))["store_sha256"],
            features::content_sha256(features::read_store(tiny_store())));

  const fs::path other = store_with_an_infinite_frame(dir, "c5");
  fs::rename(other, store);
  EXPECT_NE(run_tenor(cmd, &out), 0) << out;
  EXPECT_NE(out.find("feature store " + store.string() + " has changed since run"),
            std::string::npos)
      << out;
  EXPECT_EQ(read_file(dir / "run/input_transform.json"), normalizer);
  EXPECT_EQ(read_file(dir / "run/last.pt"), checkpoint);

  fs::remove(store);
  fs::copy_file(tiny_store(), store);  // a byte copy has the same contents: resumes
  EXPECT_EQ(run_tenor(cmd, &out), 0) << out;
  EXPECT_NE(out.find("resuming"), std::string::npos) << out;
}

/// Turns `run` (a killed run of this tenor) into the run a tenor from before `selection`,
/// `calibration`, augment.noise_data_share and augment.noise_reference were added wrote:
/// config.yaml without them, with model.text_embedding (false; retired since) and with
/// `edit` applied (a line replaced by another), run.json and last.pt naming the hash of the
/// keys it knew (runtime keys included, as tenors then hashed them), last.pt without the
/// checksum (as older checkpoints) and, when `drop_store_content`, without the store's
/// content SHA-256 (as still older ones), the same tensors otherwise.
void make_older_run(const fs::path& run, const std::string& yaml,
                    std::pair<std::string, std::string> edit = {},
                    bool drop_store_content = false) {
  auto drop = [](std::string text, const std::string& line) {
    const auto at = text.find(line);
    EXPECT_NE(at, std::string::npos) << line << " not in\n" << text;
    return at == std::string::npos ? text : text.erase(at, line.size());
  };
  auto drop_added = [&](const std::string& text) {
    return drop(drop(drop(drop(text, "selection: clean\n"), "calibration: clean\n"),
                     "  noise_data_share: 0\n"),
                "  noise_reference: segment\n");
  };
  std::string older = drop_added(yaml);
  // model.text_embedding, retired since: saved as false, where it stood among the keys.
  older.insert(older.find("  text_encoder:"), "  text_embedding: false\n");
  if (!edit.first.empty()) older.replace(older.find(edit.first), edit.first.size(), edit.second);
  write_file_atomic(run / "config.yaml", older);
  const auto identities = train::read_saved_config((run / "config.yaml").string()).identities_then;
  // the keys it names; them with `out`; them with every runtime key, `threads` among them
  EXPECT_EQ(identities.size(), 3u);
  EXPECT_NE(identities.back().find("\nthreads: 0\n"), std::string::npos) << identities.back();
  const std::string sha = sha256_hex(identities.back());
  train::write_run_marker(run, sha);
  torch::serialize::InputArchive in;
  in.load_from((run / "last.pt").string());
  torch::serialize::OutputArchive out;
  for (const auto& key : in.keys()) {
    torch::Tensor t;
    if (key.rfind("integrity.", 0) == 0 || !in.try_read(key, t)) continue;
    if (drop_store_content && key == "state.store_sha256") continue;
    if (key == "state.config_sha256") {
      t = torch::empty({int64_t(sha.size())}, torch::kUInt8);
      std::memcpy(t.data_ptr(), sha.data(), sha.size());
    }
    out.write(key, t);
  }
  out.save_to((run / "last.pt").string());
}

TEST(E2eTrain, ResumesARunOfAnOlderTenorThatLackedKeysAddedSince) {
  const fs::path full = make_temp_dir("train-older-full"), cut = make_temp_dir("train-older");
  const std::string extra = "  type: fusion\n";
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(full, extra).string(), &out), 0)
      << out;
  const fs::path config = write_train_config(cut, extra), run = cut / "run";
  ASSERT_TRUE(train_and_kill_mid_run(config, run, true))
      << "training finished before it could be interrupted";
  const std::string yaml = read_file(run / "config.yaml");
  // An older run of another seed: refused, naming the key and both values, left as it was.
  make_older_run(run, yaml, {"seed: 1\n", "seed: 7\n"});
  const std::string marker = read_file(run / "run.json");
  EXPECT_EQ(run_tenor("train --config " + config.string(), &out), 2) << out;
  EXPECT_NE(out.find("holds a run of a different configuration (its config.yaml differs in "
                     "seed (1 here, 7 in the run))"),
            std::string::npos)
      << out;
  EXPECT_EQ(read_file(run / "run.json"), marker);
  // Its own config, written before the four keys: resumed with them at their defaults, to the
  // metrics of an uninterrupted run, and the marker now names this tenor's hash.
  make_older_run(run, yaml);
  ASSERT_EQ(run_tenor("train --config " + config.string(), &out), 0) << out;
  EXPECT_NE(out.find("resuming"), std::string::npos) << out;
  EXPECT_EQ(metrics_without_timing(full / "run"), metrics_without_timing(run));
  EXPECT_EQ(read_file(run / "config.yaml"), yaml);
  train::TrainConfig current;
  train::apply_yaml_text(current, yaml, "config.yaml");
  EXPECT_EQ(nlohmann::json::parse(read_file(run / "run.json")).at("config_sha256"),
            train::run_config_sha256(current, 0));
  // A marker naming another configuration than its config.yaml gives (edited): refused.
  make_older_run(run, yaml);
  train::write_run_marker(run, std::string(64, 'a'));
  EXPECT_EQ(run_tenor("train --config " + config.string(), &out), 2) << out;
  EXPECT_NE(out.find("which its config.yaml does not give"), std::string::npos) << out;
  // A checkpoint that recorded no store content resumes only on the store path its
  // config.yaml names: a store elsewhere cannot be checked against it.
  make_older_run(run, yaml, {}, /*drop_store_content=*/true);
  const fs::path copy = cut / "copy.h5";
  fs::copy_file(tiny_store(), copy);
  EXPECT_EQ(run_tenor("train --config " + config.string() + " --set features=" + copy.string(),
                      &out),
            1)
      << out;
  EXPECT_NE(out.find("was started on feature store " + tiny_store().string() +
                     " by a tenor that did not record the store's content in its checkpoint, so "
                     "store " + copy.string() + " cannot be checked against it; resume with "
                     "features: " + tiny_store().string()),
            std::string::npos)
      << out;
  EXPECT_EQ(run_tenor("train --config " + config.string(), &out), 0) << out;
  EXPECT_NE(out.find("resuming"), std::string::npos) << out;
}

/// `a` and `b` hold the same keys, texts and array lengths, and numbers equal within
/// `tolerance` (relative to the larger, or absolute below 1).
void expect_same_numbers(const nlohmann::json& a, const nlohmann::json& b, double tolerance,
                         const std::string& where = "") {
  ASSERT_EQ(a.type(), b.type()) << where;
  if (a.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    EXPECT_LE(std::abs(x - y), tolerance * std::max({1.0, std::abs(x), std::abs(y)}))
        << where << ": " << x << " and " << y;
  } else if (a.is_object() || a.is_array()) {
    ASSERT_EQ(a.size(), b.size()) << where;
    for (auto it = a.begin(); it != a.end(); ++it) {
      const std::string key =
          a.is_object() ? it.key() : std::to_string(std::distance(a.begin(), it));
      ASSERT_TRUE(a.is_array() || b.contains(key)) << where << "/" << key;
      expect_same_numbers(*it, a.is_object() ? b.at(key) : b.at(std::stoul(key)), tolerance,
                          where + "/" + key);
    }
  } else {
    EXPECT_EQ(a, b) << where;
  }
}

TEST(E2eTrain, ResumesUnderOtherRuntimeKeysToTheSameMetrics) {
  // features, out, threads, checkpoint_every_steps, encoder_cache_gb and
  // distributed.timeout_s say where and how to run, not what to compute: a killed run resumes
  // under other values of them (the log names each), where any other key is refused.
  const fs::path full = make_temp_dir("train-runtime-full"), cut = make_temp_dir("train-runtime");
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(full, "").string(), &out), 0)
      << out;
  const fs::path config = write_train_config(cut, ""), run = cut / "run";
  ASSERT_TRUE(train_and_kill_mid_run(config, run, true))
      << "training finished before it could be interrupted";
  const std::string marker = read_file(run / "run.json");
  EXPECT_EQ(run_tenor("train --config " + config.string() + " --set threads=1 --set seed=3", &out),
            2)
      << out;
  EXPECT_NE(out.find("its config.yaml differs in seed (3 here, 1 in the run)"),
            std::string::npos)
      << out;
  ASSERT_EQ(run_tenor("train --config " + config.string() +
                          " --set threads=1 --set checkpoint_every_steps=2 "
                          "--set encoder_cache_gb=0.5 --set distributed.timeout_s=60",
                      &out),
            0)
      << out;
  EXPECT_NE(out.find("resuming"), std::string::npos) << out;
  EXPECT_NE(out.find("runtime keys set otherwise than when the run last ran: threads (1 now, 0 "
                     "before), checkpoint_every_steps (2 now, 1 before), encoder_cache_gb (0.5 "
                     "now, 4 before), distributed.timeout_s (60 now, 1800 before)"),
            std::string::npos)
      << out;
  // Another thread count sums in another order: the last digits may differ (they do here, at
  // about 1e-7 in epoch 3's losses), nothing more.
  auto lines = [](const std::string& jsonl) {
    nlohmann::json out = nlohmann::json::array();
    std::istringstream in(jsonl);
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  };
  expect_same_numbers(lines(metrics_without_timing(full / "run")),
                      lines(metrics_without_timing(run)), 1e-6);
  EXPECT_EQ(read_file(run / "run.json"), marker);  // the same configuration
  EXPECT_NE(read_file(run / "config.yaml").find("threads: 1\n"), std::string::npos);

  // A run whose config.yaml is gone (run.json and last.pt name the configuration): resumed,
  // the comparison of runtime keys skipped with a warning, config.yaml written again.
  const fs::path lost = make_temp_dir("train-runtime-lost");
  const fs::path config2 = write_train_config(lost, ""), run2 = lost / "run";
  ASSERT_TRUE(train_and_kill_mid_run(config2, run2, true))
      << "training finished before it could be interrupted";
  fs::remove(run2 / "config.yaml");
  ASSERT_EQ(run_tenor("train --config " + config2.string(), &out), 0) << out;
  EXPECT_NE(out.find("the run's config.yaml could not be compared with this configuration "
                     "(cannot read the run's saved config " +
                     (run2 / "config.yaml").string() + "); it is written again now"),
            std::string::npos)
      << out;
  EXPECT_EQ(metrics_without_timing(full / "run"), metrics_without_timing(run2));
  EXPECT_TRUE(fs::exists(run2 / "config.yaml"));

  // A killed run moved to another directory (another disk, another machine), its store
  // copied beside it, resumes there; a store of other contents at the new path is refused.
  const fs::path from = make_temp_dir("train-runtime-moved");
  const fs::path config3 = write_train_config(from, ""), run3 = from / "run";
  ASSERT_TRUE(train_and_kill_mid_run(config3, run3, true))
      << "training finished before it could be interrupted";
  const fs::path to = make_temp_dir("train-runtime-moved-to"), moved = to / "elsewhere";
  fs::rename(run3, moved);
  const std::string resume = "train --config " + config3.string() + " --set out=" +
                             moved.string() + " --set features=" + (to / "store.h5").string();
  // Other contents, and (a store whose task has another class) another label schema: each
  // refused for being another store, not for the classes that follow from it.
  for (const fs::path& other :
       {store_with_an_infinite_frame(to, "c5"),
        tiny_store_with_classes(to / "renamed.h5", "empathy", {"absent", "shown"})}) {
    fs::copy_file(other, to / "store.h5", fs::copy_options::overwrite_existing);
    EXPECT_EQ(run_tenor(resume, &out), 1) << out;
    EXPECT_NE(out.find("feature store " + (to / "store.h5").string() + " has changed since run"),
              std::string::npos)
        << other << "\n" << out;
  }
  fs::remove(to / "store.h5");
  fs::copy_file(tiny_store(), to / "store.h5");
  ASSERT_EQ(run_tenor(resume, &out), 0) << out;
  EXPECT_NE(out.find("resuming " + moved.string()), std::string::npos) << out;
  EXPECT_NE(out.find("runtime keys set otherwise than when the run last ran: features (" +
                     (to / "store.h5").string() + " now, " + tiny_store().string() +
                     " before), out (" + moved.string() + " now, " + run3.string() + " before)"),
            std::string::npos)
      << out;
  EXPECT_EQ(metrics_without_timing(full / "run"), metrics_without_timing(moved));
  EXPECT_NE(read_file(moved / "config.yaml").find("out: " + moved.string() + "\n"),
            std::string::npos);
}

}  // namespace
}  // namespace tenor::test
