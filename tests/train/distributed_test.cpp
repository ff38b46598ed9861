// Multi-process training: the launcher's environment, the sampler's partition, and two
// `tenor train` processes on loopback against one process with the same global batch.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "core/error.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"
#include "train/distributed.h"

namespace tenor::test {
namespace {
using train::DistributedContext;

DistributedContext context_of(const std::map<std::string, std::string>& vars) {
  return train::distributed_context_from([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string error_of(const std::map<std::string, std::string>& vars) {
  try {
    context_of(vars);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

/// A free TCP port on loopback (the kernel's pick; released before use, so a race with
/// another program is possible but unlikely).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(DistributedContext, ReadsTorchrunAndOpenMpiVariables) {
  auto single = context_of({});
  EXPECT_FALSE(single.enabled());
  EXPECT_EQ(single.launcher, "single");
  EXPECT_FALSE(context_of({{"WORLD_SIZE", "1"}, {"RANK", "0"}}).enabled());

  auto t = context_of({{"RANK", "1"},
                       {"WORLD_SIZE", "4"},
                       {"LOCAL_RANK", "1"},
                       {"MASTER_ADDR", "10.0.0.1"},
                       {"MASTER_PORT", "29500"}});
  EXPECT_TRUE(t.enabled());
  EXPECT_EQ(t.rank, 1);
  EXPECT_EQ(t.world_size, 4);
  EXPECT_EQ(t.local_rank, 1);
  EXPECT_EQ(t.master_addr, "10.0.0.1");
  EXPECT_EQ(t.master_port, 29500);
  EXPECT_EQ(t.launcher, "torchrun");

  auto m = context_of({{"OMPI_COMM_WORLD_RANK", "3"},
                       {"OMPI_COMM_WORLD_SIZE", "4"},
                       {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                       {"MASTER_ADDR", "node0"},
                       {"MASTER_PORT", "1234"}});
  EXPECT_EQ(m.launcher, "mpirun");
  EXPECT_EQ(m.rank, 3);
  EXPECT_EQ(m.local_rank, 1);
  // Without LOCAL_RANK (a hand launch on one machine) the local rank is the rank.
  EXPECT_EQ(
      context_of(
          {{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1"}})
          .local_rank,
      1);
}

/// Ranks sharing a machine share its cores: each process's LibTorch default is every core,
/// and two ranks on two cores then took 3.1-7.0x the wall time (bench/distributed_threads.sh).
TEST(DistributedContext, RanksOnOneMachineShareItsCores) {
  const std::map<std::string, std::string> torchrun = {{"RANK", "1"},
                                                       {"WORLD_SIZE", "8"},
                                                       {"LOCAL_WORLD_SIZE", "4"},
                                                       {"MASTER_ADDR", "10.0.0.1"},
                                                       {"MASTER_PORT", "29500"}};
  const auto t = context_of(torchrun);
  EXPECT_EQ(t.local_world_size, 4);
  EXPECT_EQ(rank_cpu_threads(0, t, 16, false), 4);
  EXPECT_EQ(rank_cpu_threads(0, t, 6, false), 1);  // 6 / 4 rounds down
  EXPECT_EQ(rank_cpu_threads(0, t, 2, false), 1);  // never 0 threads
  EXPECT_EQ(rank_cpu_threads(3, t, 16, false), 3) << "the config's threads win";
  EXPECT_EQ(rank_cpu_threads(0, t, 16, true), 0) << "OMP_NUM_THREADS wins (torchrun sets it)";
  EXPECT_EQ(rank_cpu_threads(0, context_of({}), 16, false), 0) << "one process: the default";
  // Augmenting on the CPU: half of the share trains, the extraction read ahead fills the rest.
  EXPECT_EQ(rank_cpu_threads(0, context_of({}), 2, false, true), 1);
  EXPECT_EQ(rank_cpu_threads(0, context_of({}), 1, false, true), 0) << "one core: no split";
  EXPECT_EQ(rank_cpu_threads(0, context_of({}), 16, false, true), 8);
  EXPECT_EQ(rank_cpu_threads(0, t, 16, false, true), 2);
  EXPECT_EQ(rank_cpu_threads(0, t, 6, false, true), 1);
  EXPECT_EQ(rank_cpu_threads(3, t, 16, false, true), 3);
  EXPECT_EQ(rank_cpu_threads(0, t, 16, true, true), 0);
  EXPECT_EQ(train::augment_prefetch_depth(2, 1, 1), 2);
  EXPECT_EQ(train::augment_prefetch_depth(2, 1, 2), 1);
  EXPECT_EQ(train::augment_prefetch_depth(16, 4, 2), 2);
  EXPECT_EQ(train::augment_prefetch_depth(16, 1, 32), 1) << "at least one batch ahead";
  EXPECT_EQ(train::augment_prefetch_depth(0, 1, 1), 1);
  // Open MPI names it OMPI_COMM_WORLD_LOCAL_SIZE.
  EXPECT_EQ(context_of({{"OMPI_COMM_WORLD_RANK", "0"},
                        {"OMPI_COMM_WORLD_SIZE", "4"},
                        {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                        {"MASTER_ADDR", "node0"},
                        {"MASTER_PORT", "1234"}})
                .local_world_size,
            2);
  // A hand launch says nothing: every rank is here when the rendezvous is on loopback,
  // and on another machine the count is unknown, so nothing is shared out.
  const std::map<std::string, std::string> by_hand = {
      {"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1"}};
  EXPECT_EQ(context_of(by_hand).local_world_size, 2);
  auto remote = by_hand;
  remote["MASTER_ADDR"] = "node0";
  EXPECT_EQ(context_of(remote).local_world_size, 1);
  EXPECT_EQ(rank_cpu_threads(0, context_of(remote), 16, false), 0);
  auto wrong = torchrun;
  wrong["LOCAL_WORLD_SIZE"] = "9";
  const std::string e = error_of(wrong);
  EXPECT_NE(e.find("LOCAL_WORLD_SIZE='9'"), std::string::npos) << e;
  EXPECT_NE(e.find("1..8"), std::string::npos) << e;
}

TEST(DistributedContext, ErrorsNameTheVariableTheValueAndTheFix) {
  EXPECT_NE(error_of({{"RANK", "0"}}).find("WORLD_SIZE is not"), std::string::npos);
  EXPECT_NE(error_of({{"WORLD_SIZE", "2"}}).find("RANK is not set"), std::string::npos);
  std::string e = error_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}});
  EXPECT_NE(e.find("RANK='2'"), std::string::npos) << e;
  EXPECT_NE(e.find("0..1"), std::string::npos) << e;
  e = error_of({{"RANK", "0"}, {"WORLD_SIZE", "two"}});
  EXPECT_NE(e.find("WORLD_SIZE='two'"), std::string::npos) << e;
  e = error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}});
  EXPECT_NE(e.find("MASTER_ADDR is not set"), std::string::npos) << e;
  EXPECT_NE(e.find("127.0.0.1"), std::string::npos) << e;
  e = error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "0"}});
  EXPECT_NE(e.find("MASTER_PORT='0'"), std::string::npos) << e;
  e = error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}});
  EXPECT_NE(e.find("MASTER_PORT is not set"), std::string::npos) << e;
}

TEST(DistributedSampler, RanksSplitEachGlobalBatchWithoutOverlapOrLoss) {
  std::vector<int64_t> order(23);
  for (int64_t i = 0; i < 23; ++i) order[size_t(i)] = 100 + i;
  for (int world : {1, 2, 3, 4}) {
    const int64_t global = 5 * world;
    for (int64_t begin = 0; begin < 23; begin += global) {
      const int64_t end = std::min<int64_t>(23, begin + global);
      std::vector<int64_t> joined;
      for (int r = 0; r < world; ++r) {
        auto rows = train::rank_rows(order, begin, end, r, world);
        EXPECT_LE(int64_t(rows.size()), 5);
        joined.insert(joined.end(), rows.begin(), rows.end());
      }
      EXPECT_EQ(joined, std::vector<int64_t>(order.begin() + begin, order.begin() + end))
          << "world " << world << " batch at " << begin;
    }
  }
}

// A one-rank Gloo group runs the reducer's whole path in this process: buckets start
// during backward, grads come out as computed (the mean over one rank), and a parameter
// outside the graph keeps no gradient.
TEST(GradientReducer, StartsBucketsDuringBackwardAndLeavesUnusedParametersAlone) {
  DistributedContext one;
  one.master_addr = "127.0.0.1";
  one.master_port = free_port();
  train::ProcessGroup group(one, torch::kCPU, std::chrono::seconds(30));
  torch::manual_seed(0);
  torch::nn::Linear first(8, 16), second(16, 4), unused(4, 4);
  std::vector<torch::Tensor> params;
  for (auto* m : {&first, &second, &unused})
    for (auto& p : (*m)->parameters()) params.push_back(p);
  // 1e-6 MB (1 byte): every parameter in a bucket of its own.
  train::GradientReducer reducer(group, params, 1e-6);
  EXPECT_EQ(reducer.buckets(), params.size());
  auto x = torch::randn({5, 8});
  auto loss = second(torch::relu(first(x))).pow(2).mean();
  auto expected = torch::autograd::grad({loss}, {first->weight}, {}, /*retain_graph=*/true)[0];
  reducer.prepare(true);
  loss.backward();
  // Unused's bucket comes first (reverse order) and never fills, so nothing could start
  // before finish(): check with the used layers alone below.
  reducer.finish();
  EXPECT_TRUE(torch::allclose(first->weight.grad(), expected));
  EXPECT_FALSE(unused->weight.grad().defined());

  train::GradientReducer used_only(group, {first->weight, first->bias, second->weight}, 1e-6);
  for (auto& p : params) p.mutable_grad() = torch::Tensor();
  used_only.prepare(true);
  second(torch::relu(first(x))).pow(2).mean().backward();
  EXPECT_EQ(used_only.started(), 3u);  // all three all-reduces started inside backward
  used_only.finish();
  EXPECT_TRUE(torch::allclose(first->weight.grad(), expected));
}

// ---------------------------------------------------------------- processes

/// `tenor ARGS` with extra environment variables (an empty value unsets one), stdout and
/// stderr into `log`.
pid_t spawn_tenor(const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& env, const fs::path& log) {
  pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) {
      if (v.empty())
        ::unsetenv(k.c_str());
      else
        ::setenv(k.c_str(), v.c_str(), 1);
    }
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv{const_cast<char*>(TENOR_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(TENOR_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

/// Exit code of `pid`, or -1 after killing it at the deadline.
int wait_for(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::map<std::string, std::string> rank_env(int rank, int world, int port) {
  return {{"RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(world)},
          {"LOCAL_RANK", std::to_string(rank)},
          {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", std::to_string(port)},
          // ctest gives every test one thread (tests/CMakeLists.txt); the ranks share the
          // machine's cores themselves (rank_cpu_threads), as they do for a user.
          {"OMP_NUM_THREADS", ""}};
}

/// Runs `tenor train ARGS` as `world` ranks; returns each rank's log and asserts exit 0.
std::vector<std::string> run_ranks(const std::vector<std::string>& args, int world,
                                   const fs::path& dir) {
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r)
    pids.push_back(
        spawn_tenor(args, rank_env(r, world, port), dir / ("rank" + std::to_string(r) + ".log")));
  std::vector<std::string> logs;
  for (int r = 0; r < world; ++r) {
    int code = wait_for(pids[size_t(r)], std::chrono::seconds(600));
    logs.push_back(read_text(dir / ("rank" + std::to_string(r) + ".log")));
    EXPECT_EQ(code, 0) << "rank " << r << ":\n" << logs.back();
  }
  return logs;
}

/// The model parameters of a checkpoint, by name.
std::map<std::string, torch::Tensor> parameters_of(const fs::path& checkpoint) {
  torch::serialize::InputArchive archive;
  archive.load_from(checkpoint.string());
  std::map<std::string, torch::Tensor> out;
  for (const auto& key : archive.keys()) {
    if (key.rfind("model.", 0) != 0) continue;
    torch::Tensor t;
    archive.read(key, t);
    out[key] = t;
  }
  return out;
}

/// max |a - b| over every parameter (infinity when the names or shapes differ); the
/// parameter where it occurs goes to *where.
double max_abs_diff(const fs::path& a, const fs::path& b, std::string* where = nullptr) {
  auto pa = parameters_of(a), pb = parameters_of(b);
  if (pa.size() != pb.size() || pa.empty()) return INFINITY;
  double worst = 0;
  for (const auto& [name, t] : pa) {
    auto it = pb.find(name);
    if (it == pb.end() || it->second.sizes() != t.sizes()) return INFINITY;
    const double d =
        (t.to(torch::kDouble) - it->second.to(torch::kDouble)).abs().max().item<double>();
    if (d > worst && where) *where = name;
    worst = std::max(worst, d);
  }
  return worst;
}

/// One field of every line of metrics.jsonl.
std::vector<double> metric(const fs::path& run, const char* key) {
  std::vector<double> out;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line)[key].get<double>());
  return out;
}

/// Configs without randomness that could differ between 1 and 2 processes (dropout, the
/// modality dropout): then the only difference is float32 summation order.
std::string deterministic_model(const std::string& type) {
  return "  type: " + type + "\n  dropout: 0\n  modality_dropout: 0\n";
}

// Two ranks with batch_size 5 against one process with batch_size 10: 48 training segments
// make 4 full global batches and a short one of 8 (4 + 4 rows). The parameters after 3
// epochs (15 steps linear, 9 fusion) agree to 1e-5 (measured: ~1.2e-7, float32's epsilon);
// not bit-exactly, because each rank sums its gradient over its own rows, the ranks' sums
// are added afterwards and the loss is rescaled (see share_of_global_loss in trainer.cpp),
// so float32 additions happen in another order. With accumulate 2 (fusion) the all-reduce
// runs only on every second backward.
TEST(E2eDistributed, TwoProcessesMatchOneWithTheSameGlobalBatch) {
  const double kTolerance = 1e-5;
  for (const char* type : {"linear", "fusion"}) {
    const std::string accumulate = std::string(type) == "fusion" ? "2" : "1";
    fs::path one = make_temp_dir(std::string("ddp-one-") + type);
    fs::path two = make_temp_dir(std::string("ddp-two-") + type);
    std::string out;
    ASSERT_EQ(
        run_tenor("train --config " + write_train_config(one, deterministic_model(type)).string() +
                      " --set batch_size=10 --set optim.accumulate=" + accumulate,
                  &out),
        0)
        << out;
    auto logs =
        run_ranks({"train", "--config", write_train_config(two, deterministic_model(type)).string(),
                   "--set", "batch_size=5", "--set", "optim.accumulate=" + accumulate, "--set",
                   "distributed.timeout_s=120"},
                  2, two);
    ASSERT_EQ(logs.size(), 2u);
    EXPECT_NE(logs[0].find("distributed: 2 processes (torchrun)"), std::string::npos) << logs[0];
    EXPECT_NE(logs[0].find("backend gloo"), std::string::npos) << logs[0];
    EXPECT_NE(logs[0].find("(2 processes of this run share this machine's"),
              std::string::npos)
        << logs[0];
    // One human log: rank 1 prints no info lines.
    EXPECT_EQ(logs[1].find("] info:"), std::string::npos) << logs[1];

    for (const char* f : {"last.pt", "best.pt"}) {
      std::string where;
      const double diff = max_abs_diff(one / "run" / f, two / "run" / f, &where);
      EXPECT_LE(diff, kTolerance) << type << " " << f << " at " << where;
      std::cout << type << " " << f << ": max |1 process - 2 processes| = " << diff << " (" << where
                << ")\n";
    }
    // One metrics.jsonl (rank 0's) with the single process's losses and dev scores.
    auto l1 = metric(one / "run", "train_loss"), l2 = metric(two / "run", "train_loss");
    ASSERT_EQ(l1.size(), 3u) << type;
    ASSERT_EQ(l2.size(), 3u) << type;
    for (size_t e = 0; e < l1.size(); ++e) EXPECT_NEAR(l1[e], l2[e], 1e-5 * l1[e]) << type;
    EXPECT_EQ(metric(one / "run", "dev_score"), metric(two / "run", "dev_score")) << type;
    auto d1 = metric(one / "run", "dev_loss"), d2 = metric(two / "run", "dev_loss");
    ASSERT_EQ(d2.size(), d1.size()) << type;
    for (size_t e = 0; e < d1.size(); ++e) EXPECT_NEAR(d1[e], d2[e], 1e-5 * d1[e]) << type;
    // One TensorBoard event file, rank 0's.
    EXPECT_EQ(std::distance(fs::directory_iterator(two / "run/tensorboard"), {}), 1) << type;
  }
}

// Both ranks killed after a mid-epoch checkpoint, then started again: the run ends with
// the same parameters, bit for bit, as an uninterrupted two-process run.
TEST(E2eDistributed, ResumesAfterSigkillOfEveryRank) {
  fs::path full = make_temp_dir("ddp-full"), cut = make_temp_dir("ddp-cut");
  const std::vector<std::string> sets = {"--set", "batch_size=4", "--set",
                                         "distributed.timeout_s=120"};
  auto args = [&](const fs::path& dir) {
    std::vector<std::string> a = {"train", "--config",
                                  write_train_config(dir, deterministic_model("fusion")).string()};
    a.insert(a.end(), sets.begin(), sets.end());
    return a;
  };
  run_ranks(args(full), 2, full);

  const int port = free_port();
  std::vector<pid_t> pids;
  auto cut_args = args(cut);
  for (int r = 0; r < 2; ++r)
    pids.push_back(
        spawn_tenor(cut_args, rank_env(r, 2, port), cut / ("killed" + std::to_string(r) + ".log")));
  bool killed = false;
  for (int i = 0; i < 60000 && !killed; ++i) {
    std::string text = read_text(cut / "run/metrics.jsonl");
    if (std::count(text.begin(), text.end(), '\n') == 1 && fs::exists(cut / "run/last.pt")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      for (pid_t p : pids) kill(p, SIGKILL);
      killed = true;
    }
    int status;
    if (!killed && waitpid(pids[0], &status, WNOHANG) == pids[0]) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (pid_t p : pids) {
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
  }
  ASSERT_TRUE(killed) << "training finished before it could be interrupted";
  auto logs = run_ranks(cut_args, 2, cut);
  EXPECT_NE(logs[0].find("resuming"), std::string::npos) << logs[0];
  EXPECT_EQ(max_abs_diff(full / "run/last.pt", cut / "run/last.pt"), 0.0);
  EXPECT_EQ(metric(full / "run", "train_loss"), metric(cut / "run", "train_loss"));
}

TEST(E2eDistributed, ARankAloneTimesOutWithTheAddressInTheMessage) {
  fs::path dir = make_temp_dir("ddp-alone");
  const int port = free_port();
  pid_t pid =
      spawn_tenor({"train", "--config", write_train_config(dir, "  type: linear\n").string(),
                   "--set", "distributed.timeout_s=2"},
                  rank_env(0, 2, port), dir / "alone.log");
  EXPECT_EQ(wait_for(pid, std::chrono::seconds(120)), 1);
  const std::string log = read_text(dir / "alone.log");
  EXPECT_NE(log.find("could not rendezvous at MASTER_ADDR:MASTER_PORT = 127.0.0.1:" +
                     std::to_string(port)),
            std::string::npos)
      << log;
}

}  // namespace
}  // namespace tenor::test
