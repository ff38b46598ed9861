#pragma once
// Multi-process data-parallel training on PyTorch's c10d (LibTorch has no C++ DDP):
// where this process sits (DistributedContext, from the launcher's environment), a
// process group (Gloo on CPU, NCCL on CUDA), bucketed gradient averaging overlapped with
// backward (GradientReducer), and the slice of a global batch that belongs to one rank.
// The trainer uses these; with WORLD_SIZE absent or 1 none of it is created.

#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"

namespace tenor::train {

/// A collective that failed or timed out, or a rendezvous that did not complete (exit 1).
class DistributedError : public Error {
 public:
  using Error::Error;
};

/// This process's place in the run, read once from the launcher's environment:
/// torchrun's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, or Open MPI's
/// OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK (mpirun), which still needs MASTER_ADDR and
/// MASTER_PORT for the TCP store. RANK/WORLD_SIZE win when both sets are present.
struct DistributedContext {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  /// Processes of the run on this machine: torchrun's LOCAL_WORLD_SIZE, Open MPI's
  /// OMPI_COMM_WORLD_LOCAL_SIZE; without either, every rank when MASTER_ADDR is this machine
  /// (127.x or localhost), else 1 (unknown).
  int local_world_size = 1;
  std::string master_addr;
  int master_port = 0;
  std::string launcher = "single";  ///< single | torchrun | mpirun

  bool enabled() const { return world_size > 1; }
  bool is_main() const { return rank == 0; }
  /// Whether MASTER_ADDR names this machine's loopback: then every rank runs here.
  bool on_loopback() const {
    return master_addr == "localhost" || master_addr.rfind("127.", 0) == 0;
  }
};

/// Reads the process environment. Throws ConfigError naming the variable, its value and
/// the fix (a rank without a world size, a non-number, RANK >= WORLD_SIZE, a missing
/// MASTER_ADDR or a port outside 1..65535).
DistributedContext distributed_context_from_env();

/// The same from any lookup (tests): `env(name)` returns the value or nullptr.
DistributedContext distributed_context_from(const std::function<const char*(const char*)>& env);

/// LibTorch's CPU threads for one rank: `configured` (the config's `threads`) when above 0;
/// else, when several ranks share this machine and OMP_NUM_THREADS is not set, this machine's
/// `cores` shared among them (at least 1 each); else 0, LibTorch's default. Each process's
/// default is every core: two ranks on two cores then run four spinning OpenMP threads, and
/// took 3.1-7.0x the wall time of two ranks sharing them (bench/distributed_threads.sh).
/// `augmenting_on_cpu` (waveform augmentation extracting on the CPU), with neither set: half
/// of the rank's share when it has two cores or more, the other half left to the extraction
/// read ahead
/// (augment_prefetch_depth; docs/benchmarks.md, "Waveform augmentation").
int rank_cpu_threads(int configured, const DistributedContext& context, unsigned cores,
                     bool omp_num_threads_set, bool augmenting_on_cpu = false);

/// How many training batches ahead waveform augmentation reads and extracts (each on a
/// thread of its own, as many intra-op threads as training): the cores of one of the
/// `local_world_size` processes on this machine over `threads` (at least 1), so that the
/// extraction fills the cores a training step leaves idle.
int augment_prefetch_depth(unsigned cores, int local_world_size, int threads);

/// The device of this rank: for `spec` auto or cuda resolved to CUDA, cuda:LOCAL_RANK in a
/// multi-process run (one GPU per process, as torchrun places them); anything else, such
/// as an explicit cuda:N, as resolved. Throws ConfigError when LOCAL_RANK has no GPU.
torch::Device rank_device(const std::string& spec, const torch::Device& resolved,
                          const DistributedContext& context);

/// Whether this build can form a process group on `device` ("gloo", "nccl"), and which.
/// Throws DistributedError when it cannot (a LibTorch without c10d Gloo, or CUDA without
/// NCCL), saying what to install or change.
std::string collective_backend(const torch::Device& device);

/// "2.28.9": the NCCL that c10d's NCCL backend was built with, or "" when this build has none
/// (no USE_C10D_NCCL). Asks libnccl, which answers without a GPU.
std::string nccl_version();

/// All ranks of the run, joined through a TCP store at MASTER_ADDR:MASTER_PORT (rank 0
/// serves it). The constructor blocks until every rank has joined or `timeout` passes
/// (DistributedError naming the address and the ranks' count). Collectives run over the
/// backend of collective_backend(device) and fail after `timeout` too.
class ProcessGroup {
 public:
  ProcessGroup(const DistributedContext& context, const torch::Device& device,
               std::chrono::seconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  const std::string& backend() const { return backend_; }

  /// Rank 0's values into `tensors` on every rank (in place, blocking).
  void broadcast(std::vector<torch::Tensor>& tensors);
  /// Element-wise sum over ranks, in place, blocking.
  void all_reduce_sum(torch::Tensor& tensor);
  /// Starts an in-place sum; the returned function waits for it (and throws on failure).
  std::function<void()> all_reduce_sum_async(torch::Tensor& tensor);
  /// Returns when every rank has called it.
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, world_size_ = 1;
  std::string backend_;
  std::chrono::seconds timeout_;
};

/// Copies rank 0's parameters and buffers into every rank's `module` (one broadcast per
/// dtype, flattened), so all replicas start equal whatever their seeds.
void broadcast_module(ProcessGroup& group, const std::vector<torch::Tensor>& tensors);

/// Gradient averaging over ranks in buckets of about `bucket_mb`, as PyTorch's DDP
/// Reducer does: parameters are bucketed in reverse registration order (roughly the order
/// backward produces their gradients); a hook on each parameter (Tensor::register_hook)
/// copies its gradient into the bucket's flat buffer and, once every parameter of a bucket
/// has reported, starts that bucket's all-reduce while backward goes on. Buckets start in
/// index order on every rank, which keeps the ranks' collectives in the same sequence.
/// finish() starts what backward did not (parameters unused on this rank count as zero),
/// waits, and leaves grad = the mean over ranks; a parameter that no rank used keeps an
/// undefined grad, as in a single process.
class GradientReducer {
 public:
  GradientReducer(ProcessGroup& group, std::vector<torch::Tensor> parameters, double bucket_mb);
  ~GradientReducer();  ///< removes the hooks
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  /// Call before each backward: `sync` is true for the backward that ends an accumulation
  /// window (the optimizer steps after it); other backwards only accumulate locally.
  void prepare(bool sync);
  /// Call after the sync backward (also on a rank that had no rows and ran no backward).
  void finish();
  size_t buckets() const { return buckets_.size(); }
  /// Buckets whose all-reduce has started in this window (during backward, before finish()).
  size_t started() {
    std::lock_guard lock(mutex_);
    return next_launch_;
  }

 private:
  struct Bucket {
    std::vector<size_t> params;   ///< indices into parameters_
    std::vector<int64_t> offset;  ///< of each parameter in `flat`
    torch::Tensor flat;
    size_t pending = 0;  ///< parameters whose hook has not fired in this backward
    std::vector<bool> filled;
    std::function<void()> wait;  ///< set once its all-reduce has started
  };
  void on_gradient(size_t param, const torch::Tensor& grad);
  void launch_ready_locked();  ///< starts buckets in index order while they are complete
  void launch(Bucket& bucket);

  ProcessGroup& group_;
  std::vector<torch::Tensor> parameters_;
  std::vector<unsigned> hooks_;
  std::vector<std::pair<size_t, size_t>> where_;  ///< param -> (bucket, slot)
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;
  bool sync_ = false;
  std::mutex mutex_;  ///< hooks may run on autograd's device threads
};

/// The rows of global batch `[begin, end)` of the epoch order that rank `rank` of `world`
/// trains on: its contiguous share, the first `(end - begin) % world` ranks one row more.
/// Ranks can get no rows in the last, short batch of an epoch.
std::vector<int64_t> rank_rows(const std::vector<int64_t>& order, int64_t begin, int64_t end,
                               int rank, int world);

/// The sum of the row weights task_loss divides by for one task of a batch: the class
/// weights of the labelled rows (labels >= 0), or their count for `loss == "ce"` or no
/// weights. Ranks all-reduce it to turn their local mean losses into the global batch's.
double task_loss_weight(const torch::Tensor& labels, const torch::Tensor& class_weights,
                        const std::string& loss);

/// This rank's share of the loss of the global batch, whose value (the same on every rank)
/// goes to *value. task_loss is a weighted mean over the rank's labelled rows,
/// L_r = N_r / D_r; the global batch's is N / D with N and D summed over ranks. Scaling
/// L_r by D_r * world / D makes the reducer's mean of the ranks' gradients the gradient
/// of N / D, as one process computes it on the whole batch (up to float summation order).
/// `losses[t]` is undefined where this rank has no labelled row of task t, and `weights[t]`
/// is its task_loss_weight. Returns an undefined tensor when this rank has no labelled row;
/// *any is false when no rank has one.
torch::Tensor share_of_global_loss(ProcessGroup& group, const std::vector<torch::Tensor>& losses,
                                   const std::vector<double>& weights, const torch::Device& device,
                                   double* value, bool* any);

/// Rank 0's `value` on every rank.
double broadcast_value(ProcessGroup& group, double value, const torch::Device& device);

/// True on every rank when every rank passed the same `values` as rank 0 (false on every
/// rank otherwise), so that all of them can refuse together.
bool same_on_every_rank(ProcessGroup& group, const std::vector<int64_t>& values,
                        const torch::Device& device);

}  // namespace tenor::train
