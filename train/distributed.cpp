#include "train/distributed.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>

#include "core/torch_compat.h"

// The backends exist where Torch's CMake targets define USE_C10D_GLOO (torch_cpu, built
// with Gloo: Debian's and upstream's) and USE_C10D_NCCL (torch_cuda, built with NCCL).
// They are the only build switches of this module; nothing else tests for CUDA.
#if defined(USE_C10D_GLOO) || defined(USE_C10D_NCCL)
#define TENOR_HAS_C10D 1
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#endif
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace tenor::train {
namespace {

/// An integer environment value, or a ConfigError naming the variable and the fix.
int env_int(const char* name, const std::string& value, int low, int high, const std::string& fix) {
  int v = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size() || value.empty() || v < low ||
      v > high)
    throw ConfigError("environment variable " + std::string(name) + "='" + value +
                      "' is not a whole number in " + std::to_string(low) + ".." +
                      std::to_string(high) + "; " + fix);
  return v;
}

/// The first line of an exception message (c10::Error appends a C++ backtrace).
std::string first_line(const std::exception& e) {
  std::string what = e.what();
  return what.substr(0, what.find('\n'));
}

std::string rendezvous_fix(int world_size) {
  return "start all " + std::to_string(world_size) +
         " processes with the same MASTER_ADDR and MASTER_PORT, make sure the port is free on "
         "rank 0's machine and reachable from the others, or raise distributed.timeout_s";
}

}  // namespace

DistributedContext distributed_context_from(const std::function<const char*(const char*)>& env) {
  auto get = [&](const char* name) -> std::string {
    const char* v = env(name);
    return v ? std::string(v) : std::string();
  };
  auto has = [&](const char* name) { return env(name) != nullptr; };
  DistributedContext c;
  const char *rank_var = "RANK", *size_var = "WORLD_SIZE", *local_var = "LOCAL_RANK",
             *local_size_var = "LOCAL_WORLD_SIZE";
  if (has("RANK") || has("WORLD_SIZE")) {
    c.launcher = "torchrun";
  } else if (has("OMPI_COMM_WORLD_SIZE")) {
    c.launcher = "mpirun";
    rank_var = "OMPI_COMM_WORLD_RANK";
    size_var = "OMPI_COMM_WORLD_SIZE";
    local_var = "OMPI_COMM_WORLD_LOCAL_RANK";
    local_size_var = "OMPI_COMM_WORLD_LOCAL_SIZE";
  } else {
    return c;  // one process: no process group
  }
  if (!has(size_var))
    throw ConfigError("environment variable " + std::string(rank_var) + " is set but " + size_var +
                      " is not; launch with torchrun --nproc-per-node N (or mpirun "
                      "-np N), or set both, or unset " +
                      rank_var + " to train in one process");
  const int kMaxRanks = 1 << 20;
  c.world_size =
      env_int(size_var, get(size_var), 1, kMaxRanks, "set it to the number of training processes");
  if (c.world_size == 1) {
    c.launcher = "single";
    return c;
  }
  if (!has(rank_var))
    throw ConfigError("environment variable " + std::string(size_var) + "=" +
                      std::to_string(c.world_size) + " but " + rank_var +
                      " is not set; give every process its rank 0.." +
                      std::to_string(c.world_size - 1) + " (torchrun and mpirun do)");
  c.rank = env_int(rank_var, get(rank_var), 0, c.world_size - 1,
                   "ranks run from 0 to " + std::string(size_var) + " - 1");
  // A hand launch on one machine may leave LOCAL_RANK out: then it is the rank.
  c.local_rank = has(local_var) ? env_int(local_var, get(local_var), 0, kMaxRanks - 1,
                                          "set it to the process's index on its machine")
                                : c.rank;
  c.master_addr = get("MASTER_ADDR");
  if (c.master_addr.empty())
    throw ConfigError("environment variable MASTER_ADDR is not set (rank " +
                      std::to_string(c.rank) + " of " + std::to_string(c.world_size) +
                      ", launched by " + c.launcher +
                      "); set it to the address of rank 0's machine (127.0.0.1 on one machine)"
                      ", the same on every rank");
  if (!has("MASTER_PORT"))
    throw ConfigError("environment variable MASTER_PORT is not set (rank " +
                      std::to_string(c.rank) + " of " + std::to_string(c.world_size) +
                      "); set it to a free TCP port on rank 0's machine (e.g. 29500), the same "
                      "on every rank");
  c.master_port = env_int("MASTER_PORT", get("MASTER_PORT"), 1, 65535,
                          "set it to a free TCP port on rank 0's machine");
  c.local_world_size =
      has(local_size_var)
          ? env_int(local_size_var, get(local_size_var), 1, c.world_size,
                    "set it to the number of the run's processes on this machine")
          : (c.on_loopback() ? c.world_size : 1);
  return c;
}

int rank_cpu_threads(int configured, const DistributedContext& context, unsigned cores,
                     bool omp_num_threads_set, bool augmenting_on_cpu) {
  if (configured > 0) return configured;
  if (omp_num_threads_set || cores == 0) return 0;
  const int share = std::max(1, int(cores) / std::max(1, context.local_world_size));
  if (augmenting_on_cpu && share >= 2) return share / 2;
  return context.local_world_size <= 1 ? 0 : share;
}

int augment_prefetch_depth(unsigned cores, int local_world_size, int threads) {
  const int per_process = int(cores) / std::max(1, local_world_size);
  return std::max(1, per_process / std::max(1, threads));
}

DistributedContext distributed_context_from_env() {
  return distributed_context_from([](const char* name) { return std::getenv(name); });
}

torch::Device rank_device(const std::string& spec, const torch::Device& resolved,
                          const DistributedContext& context) {
  if (!context.enabled() || !resolved.is_cuda() || (spec != "auto" && spec != "cuda"))
    return resolved;
  const int64_t gpus = int64_t(torch::cuda::device_count());
  if (context.local_rank >= gpus)
    throw ConfigError("local rank " + std::to_string(context.local_rank) + " needs GPU cuda:" +
                      std::to_string(context.local_rank) + " but " + std::to_string(gpus) +
                      " are visible; start at most one process per GPU (torchrun "
                      "--nproc-per-node " +
                      std::to_string(gpus) + ") or use device: cpu");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(context.local_rank));
}

std::string nccl_version() {
#ifdef USE_C10D_NCCL
  return c10d::getNcclVersion();
#else
  return "";
#endif
}

std::string collective_backend(const torch::Device& device) {
  if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
    return "nccl";
#else
    throw DistributedError(
        "multi-process training on " + device.str() +
        " needs c10d's NCCL backend, which this build does not have (no USE_C10D_NCCL: LibTorch "
        "without NCCL, or tenor built against a CPU LibTorch); rebuild against a CUDA LibTorch "
        "with NCCL, or train with device: cpu");
#endif
  }
#ifdef USE_C10D_GLOO
  return "gloo";
#else
  throw DistributedError(
      "multi-process training needs c10d's Gloo backend, which this build does not have "
      "(LibTorch's CMake targets do not define USE_C10D_GLOO); rebuild against a LibTorch "
      "with distributed support, or unset WORLD_SIZE to train in one process");
#endif
}

// ---------------------------------------------------------------- process group

struct ProcessGroup::Impl {
#ifdef TENOR_HAS_C10D
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::CollectiveBackend> backend;
#endif
};

ProcessGroup::ProcessGroup(const DistributedContext& context, const torch::Device& device,
                           std::chrono::seconds timeout)
    : impl_(std::make_unique<Impl>()),
      rank_(context.rank),
      world_size_(context.world_size),
      backend_(collective_backend(device)),
      timeout_(timeout) {
#ifdef TENOR_HAS_C10D
  const std::string where = context.master_addr + ":" + std::to_string(context.master_port);
  const std::string who = "rank " + std::to_string(rank_) + " of " + std::to_string(world_size_);
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(context.master_port);
    options.isServer = rank_ == 0;
    options.numWorkers = static_cast<std::size_t>(world_size_);
    options.waitWorkers = true;
    options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    auto tcp = c10::make_intrusive<c10d::TCPStore>(context.master_addr, options);
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("tenor/" + backend_, tcp);
  } catch (const std::exception& e) {
    throw DistributedError(who + " could not rendezvous at MASTER_ADDR:MASTER_PORT = " + where +
                           " within " + std::to_string(timeout.count()) +
                           " s (TCP store: " + first_line(e) + "); " + rendezvous_fix(world_size_));
  }
  try {
#ifdef USE_C10D_GLOO
    if (backend_ == "gloo") {
      auto options = c10d::ProcessGroupGloo::Options::create(
          std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
      // The interface Gloo binds: GLOO_SOCKET_IFNAME as in PyTorch; loopback when the
      // rendezvous is on this machine only; otherwise the address this host name resolves to.
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (context.on_loopback()) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      impl_->backend =
          c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, rank_, world_size_, options);
    }
#endif
#ifdef USE_C10D_NCCL
    if (backend_ == "nccl") {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
      impl_->backend =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, rank_, world_size_, options);
    }
#endif
  } catch (const std::exception& e) {
    // Rank 0's store does not wait for the others: a missing rank shows up here.
    throw DistributedError(who + " could not rendezvous at MASTER_ADDR:MASTER_PORT = " + where +
                           " within " + std::to_string(timeout.count()) + " s (" + backend_ + ": " +
                           first_line(e) + "); " + rendezvous_fix(world_size_) +
                           "; for Gloo across machines set GLOO_SOCKET_IFNAME to the network "
                           "interface the ranks share");
  }
#else
  (void)context;
#endif
}

ProcessGroup::~ProcessGroup() = default;

namespace {
template <class Start>
void run_collective(const char* what, int rank, Start&& start) {
  try {
    start()->wait();
  } catch (const std::exception& e) {
    throw DistributedError(std::string(what) + " failed on rank " + std::to_string(rank) + " (" +
                           first_line(e) +
                           "); another rank probably stopped: see its log (or raise "
                           "distributed.timeout_s if a rank is only slow)");
  }
}
}  // namespace

void ProcessGroup::broadcast(std::vector<torch::Tensor>& tensors) {
#ifdef TENOR_HAS_C10D
  run_collective("broadcast", rank_, [&] {
    c10d::BroadcastOptions options;
    options.rootRank = 0;
    return impl_->backend->broadcast(tensors, options);
  });
#else
  (void)tensors;
#endif
}

void ProcessGroup::all_reduce_sum(torch::Tensor& tensor) {
#ifdef TENOR_HAS_C10D
  run_collective("all-reduce", rank_, [&] {
    std::vector<at::Tensor> one{tensor};
    return impl_->backend->allreduce(one, c10d::AllreduceOptions());
  });
#else
  (void)tensor;
#endif
}

std::function<void()> ProcessGroup::all_reduce_sum_async(torch::Tensor& tensor) {
#ifdef TENOR_HAS_C10D
  std::vector<at::Tensor> one{tensor};
  c10::intrusive_ptr<c10d::Work> work;
  try {
    work = impl_->backend->allreduce(one, c10d::AllreduceOptions());
  } catch (const std::exception& e) {
    throw DistributedError("gradient all-reduce failed to start on rank " + std::to_string(rank_) +
                           " (" + first_line(e) + ")");
  }
  const int rank = rank_;
  return [work, rank] { run_collective("gradient all-reduce", rank, [&] { return work; }); };
#else
  (void)tensor;
  return [] {};
#endif
}

void ProcessGroup::barrier() {
#ifdef TENOR_HAS_C10D
  run_collective("barrier", rank_, [&] { return impl_->backend->barrier(c10d::BarrierOptions()); });
#endif
}

void broadcast_module(ProcessGroup& group, const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  // One flat buffer per (dtype, device): a broadcast per tensor would cost a round trip each.
  std::map<std::string, std::vector<torch::Tensor>> groups;
  for (const auto& t : tensors)
    groups[std::string(c10::toString(t.scalar_type())) + "@" + t.device().str()].push_back(t);
  for (auto& [key, members] : groups) {
    std::vector<torch::Tensor> flat_parts;
    for (const auto& t : members) flat_parts.push_back(t.detach().reshape({-1}));
    std::vector<torch::Tensor> flat{torch::cat(flat_parts)};
    group.broadcast(flat);
    int64_t offset = 0;
    for (auto& t : members) {
      t.detach().copy_(flat[0].narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  }
}

// ---------------------------------------------------------------- gradient reducer

GradientReducer::GradientReducer(ProcessGroup& group, std::vector<torch::Tensor> parameters,
                                 double bucket_mb)
    : group_(group) {
  for (auto& p : parameters)
    if (p.requires_grad()) parameters_.push_back(p);
  const int64_t capacity = std::max<int64_t>(1, int64_t(bucket_mb * 1024 * 1024));
  // Reverse registration order: backward reaches the last layers first, so their bucket
  // fills (and its all-reduce starts) while the earlier layers' gradients are computed.
  std::vector<int64_t> bucket_bytes;
  where_.resize(parameters_.size());
  for (size_t n = parameters_.size(); n-- > 0;) {
    const auto& p = parameters_[n];
    const int64_t bytes = p.numel() * int64_t(p.element_size());
    const bool fresh =
        buckets_.empty() || bucket_bytes.back() + bytes > capacity ||
        parameters_[buckets_.back().params.front()].scalar_type() != p.scalar_type() ||
        parameters_[buckets_.back().params.front()].device() != p.device();
    if (fresh) {
      buckets_.emplace_back();
      bucket_bytes.push_back(0);
    }
    Bucket& b = buckets_.back();
    int64_t offset = b.offset.empty() ? 0 : b.offset.back() + parameters_[b.params.back()].numel();
    where_[n] = {buckets_.size() - 1, b.params.size()};
    b.params.push_back(n);
    b.offset.push_back(offset);
    bucket_bytes.back() += bytes;
  }
  for (auto& b : buckets_) {
    const auto& last = parameters_[b.params.back()];
    b.flat = torch::zeros({b.offset.back() + last.numel()}, last.options().requires_grad(false));
    b.filled.assign(b.params.size(), false);
  }
  // The hook captures the index, not the tensor: a tensor holding a hook that holds the
  // tensor would never be freed.
  for (size_t i = 0; i < parameters_.size(); ++i)
    hooks_.push_back(parameters_[i].register_hook(
        [this, i](const torch::Tensor& grad) { on_gradient(i, grad); }));
}

GradientReducer::~GradientReducer() {
  for (size_t i = 0; i < hooks_.size(); ++i) parameters_[i].remove_hook(hooks_[i]);
}

void GradientReducer::prepare(bool sync) {
  std::lock_guard lock(mutex_);
  sync_ = sync;
  if (!sync) return;
  next_launch_ = 0;
  for (auto& b : buckets_) {
    b.pending = b.params.size();
    b.filled.assign(b.params.size(), false);
    b.wait = nullptr;
  }
}

void GradientReducer::on_gradient(size_t param, const torch::Tensor& grad) {
  std::lock_guard lock(mutex_);
  if (!sync_) return;  // accumulation only: AccumulateGrad adds it to .grad as usual
  auto [bi, slot] = where_[param];
  Bucket& b = buckets_[bi];
  const auto& p = parameters_[param];
  TORCH_CHECK(!b.filled[slot] && b.wait == nullptr,
              "a parameter's gradient arrived twice in one backward; GradientReducer expects "
              "one backward per optimizer step window");
  torch::NoGradGuard no_grad;
  auto view = b.flat.narrow(0, b.offset[slot], p.numel()).view_as(p);
  // The hook runs before AccumulateGrad: the window's gradient is what .grad holds from
  // earlier micro-batches plus this one.
  view.copy_(grad);
  if (p.grad().defined()) view.add_(p.grad());
  b.filled[slot] = true;
  if (--b.pending == 0) launch_ready_locked();
}

void GradientReducer::launch_ready_locked() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0)
    launch(buckets_[next_launch_++]);
}

void GradientReducer::launch(Bucket& bucket) {
  bucket.wait = group_.all_reduce_sum_async(bucket.flat);
}

void GradientReducer::finish() {
  std::lock_guard lock(mutex_);
  TORCH_CHECK(sync_, "GradientReducer::finish() without prepare(true)");
  torch::NoGradGuard no_grad;
  // Whatever backward did not deliver (parameters unused on this rank in this window):
  // what .grad holds from earlier micro-batches, or zero.
  for (size_t bi = next_launch_; bi < buckets_.size(); ++bi) {
    Bucket& b = buckets_[bi];
    for (size_t s = 0; s < b.params.size(); ++s) {
      if (b.filled[s]) continue;
      const auto& p = parameters_[b.params[s]];
      auto view = b.flat.narrow(0, b.offset[s], p.numel()).view_as(p);
      if (p.grad().defined()) {
        view.copy_(p.grad());
      } else {
        view.zero_();
      }
      b.filled[s] = true;
    }
    b.pending = 0;
  }
  launch_ready_locked();
  // Which parameters some rank used: those keep (get) a gradient, the others stay without
  // one, as in one process over the whole global batch (optimizers skip them).
  auto used = torch::zeros({int64_t(parameters_.size())}, torch::kFloat);
  {
    auto u = used.accessor<float, 1>();
    for (size_t i = 0; i < parameters_.size(); ++i)
      u[int64_t(i)] = parameters_[i].grad().defined() ? 1.0f : 0.0f;
  }
  if (!parameters_.empty()) {
    used = used.to(parameters_.front().device());
    group_.all_reduce_sum(used);
    used = used.cpu();
  }
  const double world = double(group_.world_size());
  auto u = used.accessor<float, 1>();
  for (auto& b : buckets_) {
    b.wait();
    b.flat.div_(world);
    for (size_t s = 0; s < b.params.size(); ++s) {
      auto& p = parameters_[b.params[s]];
      if (u[int64_t(b.params[s])] == 0) continue;
      auto mean = b.flat.narrow(0, b.offset[s], p.numel()).view_as(p);
      if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);
      } else {
        p.mutable_grad() = mean.clone();
      }
    }
  }
  sync_ = false;
}

// ---------------------------------------------------------------- data and loss

std::vector<int64_t> rank_rows(const std::vector<int64_t>& order, int64_t begin, int64_t end,
                               int rank, int world) {
  const int64_t n = std::max<int64_t>(0, end - begin);
  const int64_t base = n / world, extra = n % world;
  const int64_t start = begin + rank * base + std::min<int64_t>(rank, extra);
  const int64_t count = base + (rank < extra ? 1 : 0);
  return std::vector<int64_t>(order.begin() + start, order.begin() + start + count);
}

double task_loss_weight(const torch::Tensor& labels, const torch::Tensor& class_weights,
                        const std::string& loss) {
  auto y = labels.cpu();
  y = y.index_select(0, (y >= 0).nonzero().squeeze(1));
  if (y.numel() == 0) return 0.0;
  // Same weights as task_loss (train/model.cpp): class weights unless loss is "ce".
  if (!class_weights.defined() || loss == "ce") return double(y.numel());
  return class_weights.cpu().to(torch::kDouble).index_select(0, y).sum().item<double>();
}

torch::Tensor share_of_global_loss(ProcessGroup& group, const std::vector<torch::Tensor>& losses,
                                   const std::vector<double>& weights, const torch::Device& device,
                                   double* value, bool* any) {
  const size_t k = losses.size();
  std::vector<double> stats(2 * k, 0.0);
  for (size_t t = 0; t < k; ++t) {
    if (!losses[t].defined()) continue;
    stats[t] = losses[t].item<double>() * weights[t];
    stats[k + t] = weights[t];
  }
  auto sums = torch::tensor(stats, torch::kDouble).to(device);
  group.all_reduce_sum(sums);
  sums = sums.cpu();
  torch::Tensor share;
  *value = 0;
  *any = false;
  for (size_t t = 0; t < k; ++t) {
    const double global_weight = sums[int64_t(k + t)].item<double>();
    if (global_weight <= 0) continue;
    *any = true;
    *value += sums[int64_t(t)].item<double>() / global_weight;
    if (!losses[t].defined()) continue;
    auto part = losses[t] * (weights[t] * group.world_size() / global_weight);
    share = share.defined() ? share + part : part;
  }
  return share;
}

double broadcast_value(ProcessGroup& group, double value, const torch::Device& device) {
  std::vector<torch::Tensor> one{torch::tensor({value}, torch::kDouble).to(device)};
  group.broadcast(one);
  return one[0].cpu().item<double>();
}

bool same_on_every_rank(ProcessGroup& group, const std::vector<int64_t>& values,
                        const torch::Device& device) {
  auto theirs = torch::tensor(values, torch::kLong).to(device);
  auto mine = theirs.clone();
  std::vector<torch::Tensor> ours{theirs};
  group.broadcast(ours);
  auto differs = torch::tensor({ours[0].equal(mine) ? 0.0 : 1.0}, torch::kDouble).to(device);
  group.all_reduce_sum(differs);
  return differs.cpu().item<double>() == 0;
}

}  // namespace tenor::train
