#include "train/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_lock.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "core/text.h"
#include "core/torch_compat.h"
#include "core/version.h"
#include "data/features/device.h"
#include "data/features/tokenizer.h"
#include "eval/metrics.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/distributed.h"
#include "train/model.h"
#include "train/predict.h"
#include "train/run_dir.h"
#include "train/word_vectors.h"

namespace tenor::train {
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

/// The order of training rows in `epoch`: a permutation drawn from (seed, epoch) alone,
/// so a resumed run sees the same batches without storing the order.
std::vector<int64_t> epoch_order(const std::vector<int64_t>& rows, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order = rows;
  std::mt19937_64 rng(seed * 1000003ULL + uint64_t(epoch));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  return order;
}

/// Keeps the memory a training step frees for the next step. By default glibc returns the
/// free top of its heap to the OS (trim) and serves large blocks with fresh mmaps; a step
/// frees and reallocates the same activations every time, so each step paid page faults
/// for memory it had just given back (measured on ravdess-anger, 1 thread: 6,200 brk calls
/// an epoch, 9 s of system time in 2 epochs, backward twice as slow as the same model in
/// Python, whose interpreter objects pin the heap's top). With a 32 MB mmap threshold (the
/// largest glibc accepts) and no trimming, system time fell to 0.1 s. The cost: the
/// process keeps its peak heap (+5 % resident memory there).
void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
}

/// Linear warmup to the peak rate, then cosine decay to 0 at the last step.
double learning_rate(const OptimConfig& o, int64_t step, int64_t total) {
  if (o.warmup_steps > 0 && step < o.warmup_steps) return o.lr * double(step + 1) / o.warmup_steps;
  double progress =
      total > o.warmup_steps ? double(step - o.warmup_steps) / double(total - o.warmup_steps) : 1.0;
  return 0.5 * o.lr * (1 + std::cos(M_PI * std::clamp(progress, 0.0, 1.0)));
}

/// Per-task class predictions and macro-F1 on `rows`.
json evaluate(TaskModel& model, const TrainData& data, const std::vector<int64_t>& rows,
              const ModelConfig& mc, int batch_size, const torch::Device& device,
              std::vector<double>* per_task) {
  torch::NoGradGuard no_grad;
  model.eval();
  const size_t k = data.shape.tasks.size();
  std::vector<std::vector<int>> truth(k), pred(k);
  for (size_t i = 0; i < rows.size(); i += size_t(batch_size)) {
    std::vector<int64_t> chunk(rows.begin() + long(i),
                               rows.begin() + long(std::min(rows.size(), i + size_t(batch_size))));
    Batch b = make_batch(data, chunk, mc).to(device);
    auto logits = model.logits(b);
    auto labels = b.labels.cpu();
    for (size_t t = 0; t < k; ++t) {
      auto p = task_probabilities(data.shape.tasks[t], logits[t]).argmax(1).cpu();
      for (int64_t r = 0; r < labels.size(0); ++r) {
        int64_t y = labels[r][int64_t(t)].item<int64_t>();
        if (y < 0) continue;
        truth[t].push_back(int(y));
        pred[t].push_back(int(p[r].item<int64_t>()));
      }
    }
  }
  model.train();
  json out = json::object();
  per_task->clear();
  for (size_t t = 0; t < k; ++t) {
    const double f1 = dev_macro_f1(truth[t], pred[t], data.shape.tasks[t].num_classes);
    per_task->push_back(f1);
    out[data.shape.tasks[t].name] = {{"macro_f1", f1}, {"segments", truth[t].size()}};
  }
  return out;
}

/// Keeps metrics.jsonl in step with the checkpoint: lines past `keep` (written after the
/// last checkpoint by a run that then died) are dropped.
void truncate_lines(const fs::path& path, int64_t keep) {
  std::ifstream in(path);
  std::string line, kept;
  for (int64_t n = 0; n < keep && std::getline(in, line); ++n) kept += line + "\n";
  write_file_atomic(path, kept);
}

/// The seed of rank `rank`'s generator for one batch of a multi-process run. Rank 0 keeps
/// the generator a single process uses (restored from checkpoints); the other ranks draw
/// their dropout masks from a generator reseeded per batch, so a resumed run needs no
/// per-rank generator state. splitmix64 (Steele et al. 2014) mixes the coordinates.
uint64_t rank_batch_seed(uint64_t seed, int rank, int64_t epoch, int64_t batch) {
  uint64_t x = seed ^ (uint64_t(rank) << 48) ^ (uint64_t(epoch) << 24) ^ uint64_t(batch);
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// This rank's share of the loss of the global batch, whose value (the same on every rank)
/// goes to *value. task_loss is a weighted mean over the rank's labelled rows,
/// L_r = N_r / D_r; the global batch's is N / D with N and D summed over ranks. Scaling
/// L_r by D_r * world / D makes the reducer's mean of the ranks' gradients the gradient
/// of N / D, as one process computes it on the whole batch (up to float summation order).
/// Undefined when this rank has no labelled row; *any is false when no rank has one.
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

/// Rank 0's `value` on every rank.
double broadcast_value(ProcessGroup& group, double value, const torch::Device& device) {
  std::vector<torch::Tensor> one{torch::tensor({value}, torch::kDouble).to(device)};
  group.broadcast(one);
  return one[0].cpu().item<double>();
}

/// "call c3 segment 1, call c7 segment 0, ..." for store rows (at most `limit` named).
std::string describe_rows(const TrainData& data, const std::vector<int64_t>& rows,
                          size_t limit = 40) {
  std::string out;
  for (size_t i = 0; i < rows.size() && i < limit; ++i) {
    const auto& s = data.store.segments[size_t(rows[i])];
    out += (i ? ", call " : "call ") + s.call_id + " segment " + std::to_string(s.segment);
  }
  if (rows.size() > limit) out += " and " + std::to_string(rows.size() - limit) + " more";
  return out;
}

/// Why every batch may fail: columns whose training-split mean or deviation is not finite,
/// and the training segments holding the non-finite values. Empty when the statistics are
/// finite. Runs only once training has already failed, so it may scan the whole store.
std::string non_finite_statistics(const TrainData& data) {
  const auto& n = data.norm;
  const auto& layout = data.store.layout;
  std::vector<std::string> columns;
  for (size_t c = 0; c < n.lld_mean.size(); ++c)
    if (!std::isfinite(n.lld_mean[c]) || !std::isfinite(n.lld_std[c]))
      columns.push_back("frame column " + layout.lld_columns[c]);
  for (size_t c = 0; c < n.func_mean.size(); ++c)
    if (!std::isfinite(n.func_mean[c]) || !std::isfinite(n.func_std[c]))
      columns.push_back("functional " + layout.functional_columns[c]);
  if (columns.empty()) return "";
  const size_t fl = layout.lld_columns.size(), ff = layout.functional_columns.size();
  std::vector<int64_t> bad;
  for (int64_t r : data.train) {
    bool finite = true;
    for (size_t c = 0; c < ff && finite; ++c)
      finite = !data.store.functional_mask[size_t(r) * ff + c] ||
               std::isfinite(data.store.functionals[size_t(r) * ff + c]);
    for (int64_t i = data.store.frame_offsets[size_t(r)] * int64_t(fl);
         i < data.store.frame_offsets[size_t(r) + 1] * int64_t(fl) && finite; ++i)
      finite = std::isfinite(data.store.frames[size_t(i)]);
    if (!finite) bad.push_back(r);
  }
  return "; the training statistics of " + join(columns, ", ") +
         " are not finite, so every batch fails: non-finite values in the store at " +
         describe_rows(data, bad, 10) + " (fix or drop them and rebuild the store)";
}

/// The error that stops a run whose loss, gradient norm or parameters are no longer finite.
/// Nothing of the failed step has been written: `last_saved` names what is on disk.
[[noreturn]] void stop_non_finite(const std::string& what, double value, const TrainState& state,
                                  int64_t batch, int64_t batches, const std::vector<int64_t>& rows,
                                  const TrainData& data, const fs::path& last,
                                  int64_t last_saved_step) {
  const std::string value_text = std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
  const std::string statistics = non_finite_statistics(data);
  throw DataError(what + " is " + value_text + " at epoch " + std::to_string(state.epoch + 1) +
                  ", step " + std::to_string(state.step) + ", batch " + std::to_string(batch) +
                  " of " + std::to_string(batches) + " (" + std::to_string(rows.size()) +
                  " segments: " + describe_rows(data, rows) + ")" + statistics +
                  "; training stopped without saving this state: " +
                  (last_saved_step >= 0 ? "the last good checkpoint is " + last.string() +
                                              " (step " + std::to_string(last_saved_step) + ")"
                                        : std::string("no checkpoint had been written yet")) +
                  (statistics.empty()
                       ? ". Lower optim.lr or optim.weight_decay, keep optim.clip_norm on, or "
                         "check the features of these segments"
                       : std::string()));
}

/// True when every parameter is finite: checked before a checkpoint is written, so a
/// diverged state never replaces the last good one.
bool parameters_finite(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (const auto& p : model.parameters())
    if (!torch::isfinite(p).all().item<bool>()) return false;
  return true;
}

/// model.word_vectors: the token embeddings of pieces whose word has a pretrained vector start
/// from it; the others keep their random draw, rescaled to the pretrained vectors' RMS so that
/// no row starts louder than the rest. Draws no random numbers (a run stays reproducible).
/// Returns what went into result.json.
json init_word_vectors(TaskModel& model, const TrainData& data, const ModelConfig& config) {
  auto* fusion = dynamic_cast<FusionModel*>(&model);
  if (!fusion || !fusion->text)
    throw ConfigError(
        "model.word_vectors is set but the model has no text encoder: it needs "
        "model.type fusion, model.use_text true and a store with transcripts");
  const features::Tokenizer tokenizer(data.store.tokenizer_model);
  std::vector<std::string> pieces(size_t(tokenizer.vocab_size()));
  for (size_t i = 0; i < pieces.size(); ++i) pieces[i] = tokenizer.piece(int(i));
  PieceVectors v = read_piece_vectors(config.word_vectors, pieces, config.embedding_dim);
  double sum2 = 0;  // unmatched rows are zero: the sum is over the matched vectors
  for (float x : v.rows) sum2 += double(x) * x;
  const double rms = std::sqrt(sum2 / double(v.num_matched * size_t(v.dim)));
  const auto n = int64_t(pieces.size());
  torch::NoGradGuard no_grad;
  torch::Tensor w = fusion->text->embed->weight;
  const torch::Tensor pretrained =
      torch::from_blob(v.rows.data(), {n, v.dim}, torch::kFloat).to(w.device());
  const torch::Tensor matched =
      torch::from_blob(v.matched.data(), {n, 1}, torch::kChar).to(w.device()).to(torch::kBool);
  w.copy_(torch::where(matched, pretrained, w * rms));
  w[0].zero_();  // the padding row
  return {{"path", config.word_vectors},
          {"pieces", pieces.size()},
          {"pieces_matched", v.num_matched},
          {"file_words", v.file_words},
          {"rms", rms}};
}

void append_line(const fs::path& path, const json& j) {
  std::string existing;
  std::error_code ec;
  if (fs::exists(path, ec)) existing = read_file(path);
  write_file_atomic(path, existing + j.dump() + "\n");
}

}  // namespace

double dev_macro_f1(const std::vector<int>& truth, const std::vector<int>& predicted,
                    int classes) {
  if (truth.empty()) return 0.0;
  return eval::classification_metrics(eval::confusion_matrix(truth, predicted, classes)).macro_f1;
}

TrainResult train_model(const TrainConfig& config) {
  config.validate();
  // Topology from the launcher (torchrun, mpirun); one process when WORLD_SIZE is absent.
  const DistributedContext dist = distributed_context_from_env();
  const bool main_rank = dist.is_main();
  if (!main_rank) set_log_level("warn");  // one human log per run: rank 0's
  auto log = logger("train");
  const fs::path run = config.out;
  const std::string resolved = to_yaml(config);
  // Batches depend on the world size (global batch = batch_size * world size): a checkpoint
  // resumes only under the world size that wrote it.
  const std::string config_sha = sha256_hex(
      dist.enabled() ? resolved + "# world_size: " + std::to_string(dist.world_size) + "\n"
                     : resolved);
  // One writer per run directory for the whole training: rank 0 (the only rank that writes
  // it; ranks on one machine share it). Then only a new or empty directory, or this
  // config's own run, is written into; every rank checks, so all of them refuse together.
  std::optional<FileLock> lock;
  check_run_dir(run, config_sha, resolved);
  if (main_rank) {
    create_run_dir(run);
    lock.emplace(run / kRunLock, "the run directory " + run.string());
    check_run_dir(run, config_sha, resolved);  // again under the lock: a racing run wrote it
  }
  const torch::Device device =
      rank_device(config.device, features::resolve_device(config.device), dist);
  compat::set_cpu_threads(config.threads);
  keep_freed_memory();
  torch::manual_seed(config.seed);

  TrainData data = load_train_data(config);
  const auto hash_start = std::chrono::steady_clock::now();
  const std::string store_sha = features::content_sha256(data.store);
  log->debug("store content SHA-256 {} ({:.2f} s)", store_sha,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - hash_start).count());
  std::shared_ptr<TaskModel> model = make_model(data.shape, config.model);
  model->to(device);
  // One parameter group, or two when the fusion model's n-gram bag has its own rate
  // (group 1, lr * optim.ngrams_lr_scale); a checkpoint resumes only its own layout (the
  // config hash covers the scale).
  std::vector<torch::Tensor> main_params, ngram_params;
  const bool own_ngram_rate =
      config.optim.ngrams_lr_scale != 1.0 && dynamic_cast<FusionModel*>(model.get()) != nullptr;
  for (const auto& p : model->named_parameters())
    (own_ngram_rate && p.key().rfind("ngrams.", 0) == 0 ? ngram_params : main_params)
        .push_back(p.value());
  const auto adamw =
      torch::optim::AdamWOptions(config.optim.lr).weight_decay(config.optim.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(main_params, std::make_unique<torch::optim::AdamWOptions>(adamw));
  if (!ngram_params.empty())
    groups.emplace_back(ngram_params, std::make_unique<torch::optim::AdamWOptions>(adamw));
  const std::vector<double> group_lr_scale = {1.0, config.optim.ngrams_lr_scale};
  torch::optim::AdamW optimizer(std::move(groups), adamw);
  // batch_size is per process, as in torchrun scripts: every step sees batch_size * world
  // size rows, the same rows a single process with that batch size sees.
  const int64_t global_batch = int64_t(config.batch_size) * dist.world_size;
  const int64_t batches_per_epoch = (int64_t(data.train.size()) + global_batch - 1) / global_batch;
  const int64_t steps_per_epoch =
      (batches_per_epoch + config.optim.accumulate - 1) / config.optim.accumulate;
  const int64_t total_steps = steps_per_epoch * config.epochs;

  TrainResult result;
  result.run_dir = run.string();
  TrainState state;
  state.config_sha256 = config_sha;
  state.store_sha256 = store_sha;
  state.best_list = "[]";
  const fs::path last = run / "last.pt";
  int64_t last_saved_step = -1;  // the step of the state in `last`, -1 while there is none
  std::error_code ec;
  // Joined before the resume check below: rank 0 cannot write a checkpoint before every
  // rank has looked for one.
  std::unique_ptr<ProcessGroup> group;
  if (dist.enabled())
    group = std::make_unique<ProcessGroup>(dist, device,
                                           std::chrono::seconds(config.distributed.timeout_s));
  json word_vectors;  // what model.word_vectors matched, for result.json
  if (fs::exists(last, ec)) {
    // Resume: the checkpoint must come from this very configuration.
    TrainState saved = load_checkpoint(last, *model, &optimizer, /*restore_rng=*/true);
    if (saved.config_sha256 != config_sha)
      throw ConfigError(
          "run directory " + run.string() +
          " holds a checkpoint of a different configuration; choose another `out` or delete it");
    // The same config over other data would silently continue a different experiment.
    if (!saved.store_sha256.empty() && saved.store_sha256 != store_sha)
      throw DataError("feature store " + config.features + " has changed since run " +
                      run.string() + " started (content SHA-256 " + store_sha.substr(0, 12) +
                      ", the checkpoint's " + saved.store_sha256.substr(0, 12) +
                      "); resume with the store it started on, or choose another `out`");
    state = saved;
    last_saved_step = state.step;
    if (!config.model.word_vectors.empty() && fs::exists(run / "word_vectors.json", ec))
      word_vectors = json::parse(std::ifstream(run / "word_vectors.json"));
    if (main_rank) truncate_lines(run / "metrics.jsonl", state.metrics_lines);
    result.resumed = true;
    log->info("resuming {} at epoch {}, batch {} (step {})", run.string(), state.epoch + 1,
              state.batch, state.step);
  } else {
    // A fresh start only: a resume takes the embeddings from its checkpoint and must not
    // depend on the vectors file still being where it was.
    if (!config.model.word_vectors.empty()) {
      word_vectors = init_word_vectors(*model, data, config.model);
      log->info("model.word_vectors: {} of {} token pieces start from {} ({} words, RMS {:.3f})",
                word_vectors["pieces_matched"].get<size_t>(), word_vectors["pieces"].get<size_t>(),
                config.model.word_vectors, word_vectors["file_words"].get<size_t>(),
                word_vectors["rms"].get<double>());
    }
  }
  // Written after the resume checks: a refused resume leaves the run directory as it was.
  if (main_rank) {
    write_run_marker(run, config_sha);  // first: the directory is this run's from now on
    if (!result.resumed) write_file_atomic(run / "metrics.jsonl", "");
    if (!word_vectors.is_null()) write_file_atomic(run / "word_vectors.json", word_vectors.dump(2));
    write_file_atomic(run / "config.yaml", resolved);
    write_file_atomic(run / "normalizer.json", data.norm.to_json().dump(2));
    write_file_atomic(run / "shape.json", shape_to_json(data.shape).dump(2));
  }
  std::unique_ptr<GradientReducer> reducer;
  if (group) {
    // Every rank must continue from the same checkpoint (`out` on a filesystem they share).
    auto where =
        torch::tensor({int64_t(result.resumed), state.epoch, state.batch, state.step}, torch::kLong)
            .to(device);
    auto mine = where.clone();
    std::vector<torch::Tensor> ours{where};
    group->broadcast(ours);
    auto differs = torch::tensor({ours[0].equal(mine) ? 0.0 : 1.0}, torch::kDouble).to(device);
    group->all_reduce_sum(differs);
    if (differs.cpu().item<double>() > 0)
      throw DataError("the ranks do not resume from the same checkpoint " + last.string() +
                      " (rank " + std::to_string(dist.rank) + " sees epoch " +
                      std::to_string(state.epoch) + ", step " + std::to_string(state.step) +
                      "); put `out` on a filesystem every rank reads, or delete the run to "
                      "start over");
    std::vector<torch::Tensor> replica = model->parameters();
    for (const auto& b : model->buffers()) replica.push_back(b);
    broadcast_module(*group, replica);
    reducer = std::make_unique<GradientReducer>(*group, model->parameters(),
                                                config.distributed.bucket_mb);
    log->info(
        "distributed: {} processes ({}), rank 0 of them logs; backend {}; global batch {} "
        "({} per process); {} gradient buckets of <= {} MB, all-reduced during backward",
        dist.world_size, dist.launcher, group->backend(), global_batch, config.batch_size,
        reducer->buckets(), config.distributed.bucket_mb);
  }
  log->info("training {} on {} ({} train / {} dev segments, {} tasks, {} parameters)",
            config.model.type, device.str(), data.train.size(), data.dev.size(),
            data.shape.tasks.size(), [&] {
              int64_t n = 0;
              for (const auto& p : model->parameters()) n += p.numel();
              return n;
            }());

  const bool autocast = device.is_cuda() && config.bf16;
  model->train();
  Progress progress("train", "batches", total_steps * config.optim.accumulate, main_rank);
  while (state.epoch < config.epochs) {
    const auto epoch_start = Clock::now();
    double data_seconds = 0;
    // Where the epoch's training time goes (metrics.jsonl "phase_seconds"): reading clock
    // marks costs nothing next to a batch, and it shows what to optimise.
    double forward_seconds = 0, backward_seconds = 0, step_seconds = 0, checkpoint_seconds = 0;
    auto since = [](Clock::time_point t) {
      return std::chrono::duration<double>(Clock::now() - t).count();
    };
    double& loss_sum = state.epoch_loss_sum;
    int64_t& loss_count = state.epoch_loss_count;
    int64_t& segments = state.epoch_segments;
    auto order = epoch_order(data.train, config.seed, state.epoch);
    for (int64_t b = state.batch; b < batches_per_epoch; ++b) {
      const auto t0 = Clock::now();
      const int64_t begin = b * global_batch;
      const int64_t end = std::min<int64_t>(int64_t(order.size()), (b + 1) * global_batch);
      // A rank's share of the global batch; in the last, short batch it may be empty.
      std::vector<int64_t> rows =
          dist.enabled() ? rank_rows(order, begin, end, dist.rank, dist.world_size)
                         : std::vector<int64_t>(order.begin() + begin, order.begin() + end);
      if (dist.rank > 0)
        torch::manual_seed(rank_batch_seed(config.seed, dist.rank, state.epoch, b));
      const size_t tasks = data.shape.tasks.size();
      std::vector<torch::Tensor> task_losses(tasks);
      std::vector<double> task_weights(tasks, 0.0);
      torch::Tensor loss;
      auto t_model = Clock::now();
      if (!rows.empty()) {
        Batch batch = make_batch(data, rows, config.model).to(device);
        data_seconds += since(t0);
        t_model = Clock::now();
        compat::Autocast amp(device.type(), autocast, torch::kBFloat16);
        auto logits = model->logits(batch);
        for (size_t t = 0; t < logits.size(); ++t) {
          auto labels = batch.labels.select(1, int64_t(t));
          auto l = task_loss(data.shape.tasks[t], logits[t], labels, data.class_weights[t],
                             config.loss, config.focal_gamma);
          if (l.defined()) loss = loss.defined() ? loss + l : l;
          task_losses[t] = l;
          if (group && l.defined())
            task_weights[t] = task_loss_weight(labels, data.class_weights[t], config.loss);
        }
      }
      double value = 0;
      if (group) {
        bool any = false;
        loss = share_of_global_loss(*group, task_losses, task_weights, device, &value, &any);
        if (!any) continue;  // no rank has a label: skipped everywhere, as in one process
      } else {
        if (!loss.defined()) continue;
        value = loss.item<double>();
      }
      forward_seconds += since(t_model);
      // Every rank sees the same global value, so all of them stop here together.
      auto global_rows = [&] {
        return std::vector<int64_t>(order.begin() + begin, order.begin() + end);
      };
      if (!std::isfinite(value))
        stop_non_finite("the loss", value, state, b, batches_per_epoch, global_rows(), data, last,
                        last_saved_step);
      const bool step_now = (b + 1) % config.optim.accumulate == 0 || b + 1 == batches_per_epoch;
      if (reducer) reducer->prepare(step_now);  // all-reduce only on the step's last backward
      const auto t_backward = Clock::now();
      if (loss.defined()) (loss / config.optim.accumulate).backward();
      backward_seconds += since(t_backward);
      loss_sum += value;
      ++loss_count;
      segments += end - begin;
      if (step_now) {
        const auto t_step = Clock::now();
        if (reducer) reducer->finish();  // grads = mean over ranks
        // The norm over all gradients (after the all-reduce: the same on every rank); an
        // infinite clip_norm measures without clipping.
        const double grad_norm = torch::nn::utils::clip_grad_norm_(
            model->parameters(), config.optim.clip_norm > 0 ? config.optim.clip_norm : INFINITY);
        if (!std::isfinite(grad_norm))
          stop_non_finite("the gradient norm", grad_norm, state, b, batches_per_epoch,
                          global_rows(), data, last, last_saved_step);
        const double lr = learning_rate(config.optim, state.step, total_steps);
        for (size_t g = 0; g < optimizer.param_groups().size(); ++g)
          static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[g].options())
              .lr(lr * group_lr_scale[g]);
        optimizer.step();
        optimizer.zero_grad();
        // A finite gradient can still overflow a parameter (a huge learning rate or weight
        // decay): checked before every checkpoint, on every rank (they hold the same values).
        const bool save = (state.step + 1) % config.checkpoint_every_steps == 0;
        if ((save || b + 1 == batches_per_epoch) && !parameters_finite(*model))
          stop_non_finite("a parameter after the update", NAN, state, b, batches_per_epoch,
                          global_rows(), data, last, last_saved_step);
        ++state.step;
        state.batch = b + 1;
        step_seconds += since(t_step);
        if (main_rank && save) {
          const auto t_save = Clock::now();
          save_checkpoint(last, *model, &optimizer, state);
          last_saved_step = state.step;
          checkpoint_seconds += since(t_save);
        }
      }
      progress.update(state.epoch * batches_per_epoch + b + 1);
    }
    // End of epoch: dev macro-F1, metrics line, best-k, early stopping, checkpoint.
    const double train_seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    // Rank 0 evaluates (in chunks of the global batch, as one process would) and sends the
    // score to the others, which need it for early stopping.
    std::vector<double> per_task;
    json dev;
    double score = 0;
    if (main_rank) {
      dev = evaluate(*model, data, data.dev.empty() ? data.train : data.dev, config.model,
                     int(global_batch), device, &per_task);
      for (double f : per_task) score += f;
      score /= std::max<size_t>(1, per_task.size());
    }
    if (group) score = broadcast_value(*group, score, device);
    const double seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    json line = {
        {"epoch", state.epoch + 1},
        {"step", state.step},
        {"train_loss", loss_count ? loss_sum / double(loss_count) : 0.0},
        {"lr", learning_rate(config.optim, std::max<int64_t>(0, state.step - 1), total_steps)},
        {"dev", dev},
        {"dev_score", score},
        {"dev_split", data.dev.empty() ? "train" : "dev"},
        {"seconds", seconds},
        {"train_seconds", train_seconds},
        {"segments_per_s", train_seconds > 0 ? double(segments) / train_seconds : 0.0},
        {"data_wait_share", train_seconds > 0 ? data_seconds / train_seconds : 0.0},
        {"phase_seconds",
         {{"data", data_seconds},
          {"forward", forward_seconds},
          {"backward", backward_seconds},
          {"step", step_seconds},
          {"checkpoint", checkpoint_seconds},
          {"evaluate", seconds - train_seconds}}}};
    if (main_rank) append_line(run / "metrics.jsonl", line);
    ++state.metrics_lines;
    json best = json::parse(state.best_list);
    const int64_t epoch_no = state.epoch + 1;
    if (score > state.best_score + 1e-12) {
      state.best_score = score;
      state.best_epoch = epoch_no;
      state.bad_epochs = 0;
    } else {
      ++state.bad_epochs;
    }
    // Best-k: keep the k highest-scoring epochs' checkpoints.
    best.push_back({score, epoch_no});
    std::stable_sort(best.begin(), best.end(),
                     [](const json& a, const json& b) { return a[0] > b[0]; });
    ++state.epoch;
    state.batch = 0;
    state.epoch_loss_sum = 0, state.epoch_loss_count = 0, state.epoch_segments = 0;
    const bool stop = state.bad_epochs >= config.patience;
    json kept = json::array();
    for (size_t i = 0; i < best.size() && main_rank; ++i) {
      const fs::path file =
          run / ("best-epoch-" + std::to_string(best[i][1].get<int64_t>()) + ".pt");
      if (i < size_t(config.keep_best)) {
        kept.push_back(best[i]);
        if (best[i][1] == epoch_no) save_checkpoint(file, *model, nullptr, state);
      } else {
        fs::remove(file, ec);
      }
    }
    if (main_rank) state.best_list = kept.dump();
    if (main_rank && state.best_epoch == epoch_no)
      save_checkpoint(run / "best.pt", *model, nullptr, state);
    if (stop) state.epoch = config.epochs;  // early stop: the saved state says training is over
    if (main_rank) save_checkpoint(last, *model, &optimizer, state);
    last_saved_step = state.step;
    log->info("epoch {}: loss {:.4f}, dev macro-F1 {:.4f}{}", epoch_no,
              line["train_loss"].get<double>(), score, stop ? " (early stop)" : "");
    if (stop) break;
  }
  progress.finish();
  result.best_epoch = int(state.best_epoch);
  result.steps = state.step;
  if (!main_rank) {
    group->barrier();  // returns once rank 0 has written the summary
    return result;
  }

  // Summary from metrics.jsonl (complete even after a resume).
  std::ifstream in(run / "metrics.jsonl");
  std::string text;
  while (std::getline(in, text)) {
    if (text.empty()) continue;
    json j = json::parse(text);
    ++result.epochs_run;
    if (j["epoch"].get<int>() == state.best_epoch) {
      result.best_dev_score = j["dev_score"];
      for (auto& [task, m] : j["dev"].items()) result.best_dev_macro_f1[task] = m["macro_f1"];
    }
  }
  result.best_epoch = int(state.best_epoch);
  result.steps = state.step;
  json summary = {{"best_epoch", result.best_epoch},
                  {"best_dev_score", result.best_dev_score},
                  {"best_dev_macro_f1", result.best_dev_macro_f1},
                  {"epochs_run", result.epochs_run},
                  {"steps", result.steps},
                  {"tasks", json::array()},
                  {"feature_set_version", data.store.meta.feature_set_version},
                  {"functionals_version", data.store.meta.functionals_version},
                  {"tokenizer_sha256", data.store.meta.tokenizer_sha256},
                  {"dataset_fingerprint", data.store.meta.dataset_fingerprint},
                  {"store_sha256", store_sha},
                  {"tool_version", std::string(kVersion) + " (" + kGitCommit + ")"},
                  {"torch_version", compat::torch_version()}};
  if (!word_vectors.is_null()) summary["word_vectors"] = word_vectors;
  for (const auto& t : data.shape.tasks) {
    json modalities = json::array();
    if (t.prosody) modalities.push_back("prosody");
    if (t.functionals) modalities.push_back("functionals");
    if (t.text) modalities.push_back("text");
    summary["tasks"].push_back(
        {{"name", t.name}, {"speaker", t.speaker}, {"modalities", modalities}});
  }
  write_file_atomic(run / "result.json", summary.dump(2));
  if (group) group->barrier();
  return result;
}

}  // namespace tenor::train
