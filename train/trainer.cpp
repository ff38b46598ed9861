#include "train/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <random>


#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <nlohmann/json.hpp>

#include "data/features/build.h"
#include "data/features/columns.h"
#include "core/atomic_file.h"
#include "core/cpu.h"
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
#include "train/optimizer.h"
#include "train/predict.h"
#include "train/predictor.h"
#include "train/run_dir.h"
#include "train/tensorboard.h"
#include "train/weight_average.h"
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

/// Per-task class predictions, macro-F1 and loss on `rows` (those in `augmented` with its
/// features). The loss is the training loss (task_loss: `loss`, `gamma`, the training split's
/// class weights) without dropout, over all of `rows` at once; absent for a task without
/// labelled rows.
json evaluate(TaskModel& model, const TrainData& data, const std::vector<int64_t>& rows,
              int batch_size, const torch::Device& device, const std::string& loss,
              double gamma, std::vector<double>* per_task,
              const AugmentedRows* augmented = nullptr) {
  torch::NoGradGuard no_grad;
  model.eval();
  const size_t k = data.shape.tasks.size();
  std::vector<std::vector<int>> truth(k), pred(k);
  std::vector<std::vector<torch::Tensor>> all_logits(k);
  std::vector<torch::Tensor> all_labels;
  for (size_t i = 0; i < rows.size(); i += size_t(batch_size)) {
    std::vector<int64_t> chunk(rows.begin() + long(i),
                               rows.begin() + long(std::min(rows.size(), i + size_t(batch_size))));
    Batch b = make_batch(data, chunk, augmented).to(device);
    auto logits = model.logits(b);
    auto labels = b.labels.cpu();
    all_labels.push_back(labels);
    for (size_t t = 0; t < k; ++t) {
      all_logits[t].push_back(logits[t].to(torch::kFloat).cpu());
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
    json& task = out[data.shape.tasks[t].name] = {{"macro_f1", f1},
                                                   {"segments", truth[t].size()}};
    if (all_labels.empty()) continue;
    const auto l = task_loss(data.shape.tasks[t], torch::cat(all_logits[t]),
                             torch::cat(all_labels).select(1, int64_t(t)), data.class_weights[t],
                             loss, gamma);
    if (l.defined()) task["loss"] = l.item<double>();
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

/// SplitMix64's finaliser (Steele et al. 2014): a well-mixed 64-bit value of `x`.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// The seed of rank `rank`'s generator for one batch of a multi-process run. Rank 0 keeps
/// the generator a single process uses (restored from checkpoints); the other ranks draw
/// their dropout masks from a generator reseeded per batch, so a resumed run needs no
/// per-rank generator state. splitmix64 (Steele et al. 2014) mixes the coordinates.
uint64_t rank_batch_seed(uint64_t seed, int rank, int64_t epoch, int64_t batch) {
  return mix64(seed ^ (uint64_t(rank) << 48) ^ (uint64_t(epoch) << 24) ^ uint64_t(batch));
}

/// model.member_row_share: whether ensemble member `member` learns from store row `row` in
/// `epoch`, a draw of (seed, epoch, member, row) alone (batch-, rank- and resume-independent).
bool member_takes_row(uint64_t seed, int64_t epoch, size_t member, int64_t row, double share) {
  if (share >= 1) return true;
  const uint64_t x =
      mix64(mix64(mix64(seed ^ 0x6d656d626572ULL /* "member" */) ^ uint64_t(epoch)) ^
            (uint64_t(member) << 40) ^ uint64_t(row));
  return double(x >> 11) * 0x1.0p-53 < share;
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
  const auto& n = data.transform.norm;
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
  auto* fusion = as_fusion(model);
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
  for (TaskModel* member : model.members()) {  // each member's own random draw for the rest
    torch::Tensor w = dynamic_cast<FusionModel&>(*member).text->embed->weight;
    const torch::Tensor pretrained =
        torch::from_blob(v.rows.data(), {n, v.dim}, torch::kFloat).to(w.device());
    const torch::Tensor matched =
        torch::from_blob(v.matched.data(), {n, 1}, torch::kChar).to(w.device()).to(torch::kBool);
    w.copy_(torch::where(matched, pretrained, w * rms));
    w[0].zero_();  // the padding row
  }
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

/// Everything one training run holds between its parts: where it writes, its ranks, data,
/// model and optimizer, and the state a checkpoint saves.
struct Run {
  explicit Run(const TrainConfig& c, const features::Store* s = nullptr)
      : config(c), store(s), dist(distributed_context_from_env()) {}

  const TrainConfig& config;
  const features::Store* store;  ///< the store in memory, or nullptr: read config.features
  // Topology from the launcher (torchrun, mpirun); one process when WORLD_SIZE is absent.
  const DistributedContext dist;
  std::shared_ptr<spdlog::logger> log;
  fs::path dir;
  fs::path last;  ///< dir / last.pt
  std::string resolved;  ///< the config as YAML
  std::string config_sha;
  std::optional<FileLock> lock;  ///< held by rank 0 for the whole training
  /// The outermost directory of `out` that claim_run_dir created (empty: it existed), which a
  /// start refused before its run marker removes again.
  fs::path made_dir;
  bool cache_logged = false;       ///< log_encoder_cache said how much the kept states hold
  bool cache_full_logged = false;  ///< log_encoder_cache said the kept states are full
  torch::Device device = torch::kCPU;
  TrainData data;
  std::string store_sha;
  std::shared_ptr<TaskModel> model;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  std::vector<double> group_lr_scale;
  /// optim.ema_decay > 0: the average the dev split scores and best.pt holds.
  std::unique_ptr<WeightAverage> average;
  /// model.text_encoder: the encoder parameters that train (frozen in the first
  /// optim.encoder_frozen_epochs epochs).
  std::vector<torch::Tensor> encoder_params;
  int64_t global_batch = 0, batches_per_epoch = 0, total_steps = 0;
  TrainState state;
  int64_t last_saved_step = -1;  ///< the step of the state in `last`, -1 while there is none
  std::optional<TrainingBoard> board;  ///< RUN/tensorboard (rank 0 only)
  bool resumed = false;
  json word_vectors;  ///< what model.word_vectors matched, for result.json
  json text_encoder;  ///< model.text_encoder: what it was fetched as (RUN/text_encoder/source.json)
  std::unique_ptr<ProcessGroup> group;       ///< multi-process runs only
  std::unique_ptr<GradientReducer> reducer;  ///< multi-process runs only (uses `group`)
  /// augment.probability > 0: re-extracts augmented training rows from their audio.
  std::unique_ptr<features::StoreAugmenter> augmenter;
  /// How many batches ahead the augmenter reads and extracts (augment_prefetch_depth).
  int augment_ahead = 1;
  /// selection worst | mean or calibration degraded (rank 0): the degraded copies of the
  /// scored rows, by op name.
  DegradedCopies dev_copies;
  /// augment.consistency: the epoch's sum and count of the consistency term (for the log
  /// line only; a resumed epoch counts from the resume).
  double consistency_sum = 0;
  int64_t consistency_count = 0;

  bool main_rank() const { return dist.is_main(); }
  /// The world size the config hash covers (0: one process without a launcher).
  int world() const { return dist.enabled() ? dist.world_size : 0; }
};

/// `out` absolute, without a trailing separator, so that its parents are the directories
/// above it.
fs::path run_dir_path(const Run& r) {
  std::error_code ec;
  fs::path p = fs::absolute(r.dir, ec).lexically_normal();
  return p.has_filename() ? p : p.parent_path();
}

/// One writer per run directory for the whole training: rank 0 (the only rank that writes
/// it; ranks on one machine share it). Then only a new or empty directory, or this config's
/// own run, is written into; every rank checks, so all of them refuse together.
void claim_run_dir(Run& r) {
  if (!r.main_rank()) set_log_level("warn");  // one human log per run: rank 0's
  r.log = logger("train");
  r.dir = r.config.out;
  r.last = r.dir / "last.pt";
  r.resolved = to_yaml(r.config);
  // Batches depend on the world size (global batch = batch_size * world size): a checkpoint
  // resumes only under the world size that wrote it.
  r.config_sha = run_config_sha256(r.config, r.world());
  check_run_dir(r.dir, r.config, r.world());
  if (r.main_rank()) {
    std::error_code ec;
    for (fs::path p = run_dir_path(r); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
      r.made_dir = p;
      if (p == p.parent_path()) break;
    }
    create_run_dir(r.dir);
    r.lock.emplace(r.dir / kRunLock, "the run directory " + r.dir.string());
    check_run_dir(r.dir, r.config, r.world());  // again under the lock: a racing run wrote it
  }
}

int64_t parameter_count(torch::nn::Module& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

/// AdamW over parameter groups, each with its scale of the scheduled rate: the model
/// (1), the fusion model's n-gram bag when it has its own rate (optim.ngrams_lr_scale), and
/// a pretrained text encoder's blocks and embeddings (optim.encoder_lr / lr, times
/// optim.layer_decay per block below the top). Encoder parameters that never train are
/// frozen and left out. A checkpoint resumes only its own layout (the config hash covers
/// every scale). The update runs ATen's fused kernel on the CPU (train/optimizer.h).
void make_optimizer(Run& r) {
  const OptimConfig& o = r.config.optim;
  auto* fusion = as_fusion(*r.model);
  const bool own_ngram_rate = o.ngrams_lr_scale != 1.0 && fusion != nullptr;
  // An ensemble's parameters are its members' ("member0.ngrams.weight"); a pretrained
  // encoder is never in one (TrainConfig::validate).
  auto is_ngrams = [](const std::string& key) {
    return key.rfind("ngrams.", 0) == 0 ||
           (key.rfind("member", 0) == 0 && key.find(".ngrams.") == key.find('.'));
  };
  std::vector<torch::Tensor> main_params, ngram_params;
  std::map<int, std::vector<torch::Tensor>> encoder;  // by depth
  if (fusion && fusion->bert) {
    encoder = fusion->bert->train_top(r.config.model.encoder_trainable_layers);
    for (const auto& p : fusion->bert->parameters())
      if (p.requires_grad()) r.encoder_params.push_back(p);
  }
  for (const auto& p : r.model->named_parameters()) {
    if (fusion && fusion->bert && p.key().rfind("bert.", 0) == 0) continue;
    (own_ngram_rate && is_ngrams(p.key()) ? ngram_params : main_params)
        .push_back(p.value());
  }
  const auto adamw = torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto add = [&](std::vector<torch::Tensor> params, double scale) {
    groups.emplace_back(std::move(params), std::make_unique<torch::optim::AdamWOptions>(adamw));
    r.group_lr_scale.push_back(scale);
  };
  add(std::move(main_params), 1.0);
  if (!ngram_params.empty()) add(std::move(ngram_params), o.ngrams_lr_scale);
  for (auto& [depth, params] : encoder)
    add(std::move(params), o.encoder_lr / o.lr * std::pow(o.layer_decay, depth));
  r.optimizer = std::make_unique<FusedAdamW>(std::move(groups), adamw);
}

/// model.text_encoder: the encoder's trainable parameters learn from the epoch after
/// optim.encoder_frozen_epochs on (before it, only the layers above the encoder train and
/// backward stops at the encoder's output). Set at every epoch's start, so a resumed run
/// freezes exactly as an uninterrupted one.
void schedule_encoder(Run& r) {
  const bool frozen = r.state.epoch < r.config.optim.encoder_frozen_epochs;
  for (auto& p : r.encoder_params) {
    p.requires_grad_(!frozen);
    if (frozen) p.mutable_grad() = torch::Tensor();
  }
}

/// model.text_encoder, fresh start: the pretrained weights into the model. Returns what the
/// encoder was fetched as, which write_text_encoder_files keeps in the run beside its
/// tokenizer and config (the run then scores without the fetched directory).
json start_text_encoder(Run& r) {
  auto* fusion = dynamic_cast<FusionModel*>(r.model.get());
  if (!fusion || !fusion->bert || r.data.text_encoder_dir.empty()) return json();
  const fs::path from = r.data.text_encoder_dir;
  const std::string weights_sha = load_text_encoder_weights(*fusion->bert, from);
  const std::string tokenizer = read_file(from / "tokenizer.json");
  return {{"text_encoder", r.config.model.text_encoder},
          {"directory", fs::absolute(from).string()},
          {"weights_sha256", weights_sha},
          {"tokenizer_sha256", sha256_hex(tokenizer)},
          {"parameters", parameter_count(*fusion->bert)}};
}

/// Rank 0, fresh start: RUN/text_encoder/ (tokenizer.json, config.json, source.json).
void write_text_encoder_files(const Run& r) {
  const fs::path from = r.data.text_encoder_dir, dir = r.dir / kRunTextEncoderDir;
  fs::create_directories(dir);
  write_file_atomic(dir / "tokenizer.json", read_file(from / "tokenizer.json"));
  write_file_atomic(dir / "config.json", read_file(from / "config.json"));
  write_file_atomic(dir / "source.json", r.text_encoder.dump(2));
}

/// The rows the selection score reads: the dev split, or the training split without one.
const std::vector<int64_t>& scored_rows(const Run& r) {
  return r.data.dev.empty() ? r.data.train : r.data.dev;
}

/// selection worst | mean or calibration degraded, rank 0: one copy of the scored rows per
/// op the augment block enables (its probability > 0, whatever augment.probability), each
/// row through that op alone with a value drawn from its range (features::StoreAugmenter,
/// seeds from the run's seed and the op; under per-speaker normalisation one draw for each
/// speaker's segments in a call, with their statistics). Made once, from no global
/// generator, so a resume makes the same copies. Nothing trains yet, so the copies are made
/// side by side, as many at once as the augmentation reads ahead in training
/// (augment_prefetch_depth: every core this rank may use); each is still one call over all
/// the rows, made bit for bit as alone (StoreAugmenter::prefetch).
void make_dev_copies(Run& r) {
  const TrainConfig& c = r.config;
  if ((c.selection == "clean" && c.calibration == "clean") || !r.main_rank()) return;
  using A = features::AugmentConfig;
  static const std::pair<const char*, double A::*> kOps[] = {
      {"speed", &A::speed_probability}, {"reverb", &A::reverb_probability},
      {"noise", &A::noise_probability}, {"agc", &A::agc_probability},
      {"telephone", &A::telephone_probability}, {"gain", &A::gain_probability}};
  const auto start = Clock::now();
  const auto& rows = scored_rows(r);
  struct Copy {
    size_t op;
    std::unique_ptr<features::StoreAugmenter> augmenter;  // while it is being made
  };
  std::vector<Copy> copies;
  for (size_t k = 0; k < std::size(kOps); ++k)
    if (r.config.augment.*kOps[k].second > 0) copies.push_back({k, nullptr});
  // Epochs -1, -2, ...: no training epoch draws these seeds.
  auto epoch = [](const Copy& copy) { return -1 - int64_t(copy.op); };
  auto start_copy = [&](Copy& copy) {
    A one = r.config.augment;
    one.probability = 1;
    for (const auto& op : kOps) one.*op.second = 0;
    one.*kOps[copy.op].second = 1;
    copy.augmenter = std::make_unique<features::StoreAugmenter>(
        r.data.store, r.config.features, rows, one, r.device.str(),
        r.data.transform.per_speaker());
    copy.augmenter->prefetch(rows, r.config.seed, epoch(copy));
  };
  const size_t at_once = size_t(std::max(1, r.augment_ahead));
  for (size_t started = 0, taken = 0; taken < copies.size();) {
    for (; started < copies.size() && started - taken < at_once; ++started)
      start_copy(copies[started]);
    Copy& done = copies[taken++];
    r.dev_copies.emplace_back(kOps[done.op].first,
                              (*done.augmenter)(rows, r.config.seed, epoch(done)));
    done.augmenter.reset();  // its extractors and speech encoder
  }
  if (r.dev_copies.empty()) {
    const bool selection = c.selection != "clean";
    const std::string key = selection ? "selection" : "calibration";
    throw ConfigError(key + " is " + (selection ? c.selection : c.calibration) +
                      " but the augment block enables no op to degrade the dev split with "
                      "(every augment.*_probability is 0); enable one, or set " + key +
                      ": clean");
  }
  if (c.selection != "clean")
    r.log->info("selection {}: over the clean {} rows and {} degraded copies of them ({:.1f} s, "
                "{} made at a time)",
                c.selection, rows.size(), r.dev_copies.size(),
                std::chrono::duration<double>(Clock::now() - start).count(),
                std::min(at_once, copies.size()));
  if (c.calibration == "degraded")
    r.log->info("calibration degraded: the decision rules will be fitted on the clean {} rows "
                "and their {} degraded copies",
                rows.size(), r.dev_copies.size());
}

/// LibTorch's CPU threads: the config's `threads`, or this machine's cores shared among the
/// run's processes on it and with the augmentation read ahead (rank_cpu_threads), and how
/// far ahead it reads. Cores are those this process may use (core/cpu.h: taskset, container
/// CPU sets and CPU quotas).
void set_rank_cpu_threads(Run& r) {
  const CpuShare& share = cpu_share();
  const unsigned cores = share.usable();
  const bool omp = omp_num_threads_set();
  const bool augmenting_on_cpu = r.config.augment.enabled() && r.device.is_cpu();
  const int threads =
      rank_cpu_threads(r.config.threads, r.dist, cores, omp, augmenting_on_cpu);
  compat::set_cpu_threads(threads);
  if (threads == 0) features::fit_cpu_threads_to_quota();  // LibTorch's default, at most `cores`
  r.augment_ahead =
      augment_prefetch_depth(cores, r.dist.local_world_size, at::get_num_threads());
  const bool quota = share.usable() < share.allowed;
  const std::string whose =
      quota ? fmt::format("the {} core{} this process's CPU quota ({:.2f} cores) gives it", cores,
                          cores == 1 ? "" : "s", share.quota)
            : fmt::format("this machine's {} cores", cores);
  if (threads != r.config.threads && r.dist.local_world_size > 1)
    r.log->info("threads: {} per process ({} processes of this run share {}{}; set threads: to "
                "choose)",
                threads, r.dist.local_world_size, whose,
                augmenting_on_cpu ? ", each half with its augmentation read ahead" : "");
  else if (threads != r.config.threads)
    r.log->info("threads: {} (half of {}; the other half reads the augmentation ahead; set "
                "threads: to choose)",
                threads, whose);
  else if (r.config.threads == 0 && quota && !omp)
    r.log->info("threads: {} ({}, not the {} it may run on; set threads: to choose)",
                at::get_num_threads(), whose, share.allowed);
  if (at::get_num_threads() > int(cores))
    r.log->warn("threads: {} (from {}) is more than {}: the threads will wait for each other; "
                "set threads: {} or fewer",
                at::get_num_threads(), r.config.threads > 0 ? "the config" : "OMP_NUM_THREADS",
                whose, cores);
  if (r.config.augment.enabled())
    r.log->info("augment: the rows of the next {} batch(es) are read and extracted while one "
                "trains",
                r.augment_ahead);
}

/// The device, the data, the model and its optimizer, in the order that fixes the random
/// draws of a run (seed, then the model's initialisation).
void load_data_and_model(Run& r) {
  const TrainConfig& config = r.config;
  r.device = rank_device(config.device, features::resolve_device(config.device), r.dist);
  set_rank_cpu_threads(r);
  keep_freed_memory();
  torch::manual_seed(config.seed);
  r.data = r.store ? load_train_data(config, *r.store, nullptr) : load_train_data(config);
  const auto hash_start = Clock::now();
  r.store_sha = features::content_sha256(r.data.store);
  r.log->debug("store content SHA-256 {} ({:.2f} s)", r.store_sha,
               std::chrono::duration<double>(Clock::now() - hash_start).count());
  if (config.augment.enabled()) {
    // Per-speaker normalisation centres an augmented row on its speaker's segments through
    // the same channel, as a degraded call is centred at scoring time.
    r.augmenter = std::make_unique<features::StoreAugmenter>(
        r.data.store, config.features, r.data.train, config.augment, r.device.str(),
        r.data.transform.per_speaker());
    r.log->info("augment: {:.0f} % of training rows per epoch re-extracted from their audio in {}",
                100 * config.augment.probability, r.data.store.meta.dataset_dir);
  }
  make_dev_copies(r);
  r.model = make_model(r.data.shape, config.model);
  r.model->to(r.device);
  make_optimizer(r);
  // Every epoch reads the same rows: what a frozen encoder, or the frozen bottom of a partly
  // trained one, makes of a row is computed once (BertEncoderImpl::keep_frozen_vectors).
  if (auto* fusion = as_fusion(*r.model); fusion && fusion->bert)
    fusion->bert->keep_frozen_vectors(true, int64_t(config.encoder_cache_gb * 1e9));
  if (config.optim.ema_decay > 0)
    r.average = std::make_unique<WeightAverage>(*r.model, config.optim.ema_decay);
  // batch_size is per process, as in torchrun scripts: every step sees batch_size * world
  // size rows, the same rows a single process with that batch size sees.
  r.global_batch = int64_t(config.batch_size) * r.dist.world_size;
  r.batches_per_epoch = (int64_t(r.data.train.size()) + r.global_batch - 1) / r.global_batch;
  const int64_t steps_per_epoch =
      (r.batches_per_epoch + config.optim.accumulate - 1) / config.optim.accumulate;
  r.total_steps = steps_per_epoch * config.epochs;
  r.state.config_sha256 = r.config_sha;
  r.state.store_sha256 = r.store_sha;
  r.state.best_list = "[]";
}

/// A checkpoint naming another configuration hash than this config's: refused, unless it is
/// this configuration's run as an older tenor wrote it (older_run_differences), which then
/// continues under this tenor's hash (the marker is rewritten next, atomically).
void adopt_older_checkpoint(const Run& r, TrainState& saved) {
  const std::string why = older_run_differences(r.dir, saved.config_sha256, r.config, r.world());
  if (!why.empty())
    throw ConfigError("run directory " + r.dir.string() +
                      " holds a checkpoint of a different configuration (" + why +
                      "); choose another `out` or delete it");
  r.log->info(
      "run {} was written by an older tenor (configuration {}): its config.yaml resolves to this "
      "configuration, keys added since at their defaults; it continues as configuration {}",
      r.dir.string(), saved.config_sha256.substr(0, 12), r.config_sha.substr(0, 12));
  saved.config_sha256 = r.config_sha;
}

/// A checkpoint of a tenor that did not record its store's content: the store cannot be
/// recognised elsewhere, so it must be the path the run's config.yaml names.
void check_store_path_unchanged(const Run& r) {
  std::string then;
  try {
    then = read_saved_config((r.dir / "config.yaml").string()).config.features;
  } catch (const ConfigError&) {
    return;  // no config.yaml to compare with: the hash check has already passed
  }
  if (then != r.config.features)
    throw DataError("run " + r.dir.string() + " was started on feature store " + then +
                    " by a tenor that did not record the store's content in its checkpoint, so "
                    "store " + r.config.features +
                    " cannot be checked against it; resume with features: " + then);
}

/// On a resume: the runtime keys (train/config.h) set otherwise than in the run's config.yaml,
/// which this start then rewrites, said in the log.
void log_runtime_changes(const Run& r) {
  try {
    const SavedConfig saved = read_saved_config((r.dir / "config.yaml").string());
    const auto keys = differing_keys(r.config, saved.config, "now", "before", true);
    if (!keys.empty())
      r.log->info("runtime keys set otherwise than when the run last ran: {}; they say where "
                  "and how to run, not what to compute (another thread count may change the "
                  "last digits of sums), and config.yaml now holds the new values",
                  join(keys, ", "));
  } catch (const ConfigError& e) {
    r.log->warn("the run's config.yaml could not be compared with this configuration ({}); it "
                "is written again now",
                e.what());
  }
}

/// Continues from last.pt, which must come from this very configuration and store.
void resume_from_last(Run& r) {
  // The same config over other data would silently continue a different experiment. The
  // store is known by its content, wherever it lies (`features` is a runtime key); checked
  // before the weights, whose shapes (the vocabulary's size) another store may change.
  std::error_code ec;
  auto same_store = [&r](const TrainState& saved) {
    if (!saved.store_sha256.empty() && saved.store_sha256 != r.store_sha)
      throw DataError("feature store " + r.config.features + " has changed since run " +
                      r.dir.string() + " started (content SHA-256 " +
                      r.store_sha.substr(0, 12) + ", the checkpoint's " +
                      saved.store_sha256.substr(0, 12) +
                      "); resume with the store it started on, or choose another `out`");
    if (saved.store_sha256.empty()) check_store_path_unchanged(r);
  };
  TrainState saved = load_checkpoint(r.last, *r.model, r.optimizer.get(), /*restore_rng=*/true,
                                     r.average.get(), same_store);
  if (saved.config_sha256 != r.config_sha) adopt_older_checkpoint(r, saved);
  r.state = saved;
  r.last_saved_step = r.state.step;
  if (!r.config.model.word_vectors.empty() && fs::exists(r.dir / "word_vectors.json", ec))
    r.word_vectors = json::parse(std::ifstream(r.dir / "word_vectors.json"));
  if (r.main_rank()) truncate_lines(r.dir / "metrics.jsonl", r.state.metrics_lines);
  if (fs::exists(r.dir / kRunTextEncoderDir / "source.json", ec))
    r.text_encoder = json::parse(read_file(r.dir / kRunTextEncoderDir / "source.json"));
  r.resumed = true;
  r.log->info("resuming {} at epoch {}, batch {} (step {})", r.dir.string(), r.state.epoch + 1,
              r.state.batch, r.state.step);
  if (r.main_rank()) log_runtime_changes(r);
}

/// Continues from last.pt when the run directory holds one (it must come from this very
/// configuration and store), or starts fresh; then writes the run's files. A refused resume
/// leaves the run directory as it was.
void resume_or_start(Run& r) {
  // Joined before the resume check: rank 0 cannot write a checkpoint before every rank has
  // looked for one.
  if (r.dist.enabled())
    r.group = std::make_unique<ProcessGroup>(
        r.dist, r.device, std::chrono::seconds(r.config.distributed.timeout_s));
  std::error_code ec;
  if (fs::exists(r.last, ec)) {
    resume_from_last(r);
  } else if (!r.data.text_encoder_dir.empty()) {
    r.text_encoder = start_text_encoder(r);
    r.log->info("model.text_encoder: {} ({} parameters) from {}", r.config.model.text_encoder,
                r.text_encoder["parameters"].get<int64_t>(), r.data.text_encoder_dir.string());
  } else if (!r.config.model.word_vectors.empty()) {
    // A fresh start only: a resume takes the embeddings from its checkpoint and must not
    // depend on the vectors file still being where it was.
    const json& v = r.word_vectors = init_word_vectors(*r.model, r.data, r.config.model);
    r.log->info("model.word_vectors: {} of {} token pieces start from {} ({} words, RMS {:.3f})",
                v["pieces_matched"].get<size_t>(), v["pieces"].get<size_t>(),
                r.config.model.word_vectors, v["file_words"].get<size_t>(),
                v["rms"].get<double>());
  }
  if (!r.main_rank()) return;
  write_run_marker(r.dir, r.config_sha);  // first: the directory is this run's from now on
  if (!r.resumed) write_file_atomic(r.dir / "metrics.jsonl", "");
  if (!r.resumed && !r.text_encoder.is_null()) write_text_encoder_files(r);
  if (!r.word_vectors.is_null())
    write_file_atomic(r.dir / "word_vectors.json", r.word_vectors.dump(2));
  write_file_atomic(r.dir / "config.yaml", r.resolved);
  write_file_atomic(r.dir / "input_transform.json", r.data.transform.to_json().dump(2));
  write_file_atomic(r.dir / "shape.json", shape_to_json(r.data.shape).dump(2));
  r.board.emplace(r.dir, r.resumed ? r.state.step : -1,
                  r.resumed && r.state.batch >= r.batches_per_epoch, r.resolved);
}

/// Multi-process runs: every rank continues from the same checkpoint, starts from rank 0's
/// weights, and averages its gradients through a GradientReducer. Nothing in one process.
void join_ranks(Run& r) {
  if (!r.group) return;
  const TrainState& s = r.state;
  // Every rank must continue from the same checkpoint (`out` on a filesystem they share).
  if (!same_on_every_rank(*r.group, {int64_t(r.resumed), s.epoch, s.batch, s.step}, r.device))
    throw DataError("the ranks do not resume from the same checkpoint " + r.last.string() +
                    " (rank " + std::to_string(r.dist.rank) + " sees epoch " +
                    std::to_string(s.epoch) + ", step " + std::to_string(s.step) +
                    "); put `out` on a filesystem every rank reads, or delete the run to "
                    "start over");
  std::vector<torch::Tensor> replica = r.model->parameters();
  for (const auto& b : r.model->buffers()) replica.push_back(b);
  broadcast_module(*r.group, replica);
  r.reducer = std::make_unique<GradientReducer>(*r.group, r.model->parameters(),
                                                r.config.distributed.bucket_mb);
  r.log->info(
      "distributed: {} processes ({}), rank 0 of them logs; backend {}; global batch {} "
      "({} per process); {} gradient buckets of <= {} MB, all-reduced during backward",
      r.dist.world_size, r.dist.launcher, r.group->backend(), r.global_batch,
      r.config.batch_size, r.reducer->buckets(), r.config.distributed.bucket_mb);
}

/// Where an epoch's training time goes (metrics.jsonl "phase_seconds"): reading clock marks
/// costs nothing next to a batch, and it shows what to optimise.
struct EpochClock {
  Clock::time_point start = Clock::now();
  double data = 0, forward = 0, backward = 0, step = 0, checkpoint = 0;
  /// How the augmenter had served its batches when the epoch started (metrics.jsonl
  /// "augment_batches" counts this epoch's).
  features::StoreAugmenter::Served augment_start;
};

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// The loss of one batch: `loss` is what this rank back-propagates (undefined when it has
/// no labelled row), `value` the global batch's loss (the same on every rank), `any` false
/// when no rank has a labelled row.
struct BatchLoss {
  torch::Tensor loss;
  double value = 0;
  bool any = false;
};

/// augment.consistency: the mean over the batch's augmented rows and the tasks of the
/// Jensen-Shannon divergence between the task's probabilities on the augmented row
/// (`logits`, the batch's) and on the same row's clean store features, forwarded here;
/// undefined when no row of the batch is augmented.
torch::Tensor consistency_loss(Run& r, const std::vector<int64_t>& rows,
                               const AugmentedRows& augmented,
                               const std::vector<torch::Tensor>& logits) {
  std::vector<int64_t> clean_rows, at;
  for (size_t i = 0; i < rows.size(); ++i)
    if (augmented.count(rows[i])) clean_rows.push_back(rows[i]), at.push_back(int64_t(i));
  if (clean_rows.empty()) return {};
  const Batch clean = make_batch(r.data, clean_rows).to(r.device);
  const auto clean_logits = r.model->logits(clean);
  const auto index = torch::tensor(at, torch::kLong).to(r.device);
  torch::Tensor sum;
  for (size_t t = 0; t < logits.size(); ++t) {
    const auto& task = r.data.shape.tasks[t];
    const auto p = task_probabilities(task, logits[t].index_select(0, index).to(torch::kFloat));
    const auto q = task_probabilities(task, clean_logits[t].to(torch::kFloat));
    const auto m = (0.5 * (p + q)).clamp_min(1e-7);
    const auto kl = [&m](const torch::Tensor& x) {
      return (x * (x.clamp_min(1e-7).log() - m.log())).sum(1);
    };
    const auto js = (0.5 * (kl(p) + kl(q))).mean();
    sum = sum.defined() ? sum + js : js;
  }
  return sum / double(logits.size());
}

/// Adds the weighted consistency term (when defined) to what this rank back-propagates, after
/// the supervised loss's global value was taken: `value` (train_loss) stays the supervised
/// loss, comparable with the dev loss. Each rank's term is its own rows' mean, and the
/// gradient all-reduce averages the ranks.
void add_consistency(Run& r, const torch::Tensor& consistency, BatchLoss& out) {
  if (!consistency.defined() || !out.loss.defined()) return;
  r.consistency_sum += consistency.item<double>();
  ++r.consistency_count;
  out.loss = out.loss + r.config.augment.consistency * consistency;
}

/// Each task's loss on the batch, summed over the members of an ensemble (`per_member[m]`:
/// member m's logits), so that a member's gradient is what it would be trained alone;
/// undefined for a task without a labelled row.
std::vector<torch::Tensor> member_task_losses(
    const Run& r, const Batch& batch, const std::vector<std::vector<torch::Tensor>>& per_member) {
  std::vector<torch::Tensor> losses(r.data.shape.tasks.size());
  for (size_t m = 0; m < per_member.size(); ++m) {
    // model.member_row_share: the rows member m does not take this epoch count as unlabelled.
    torch::Tensor labels = batch.labels;
    if (r.config.model.member_row_share < 1) {
      std::vector<uint8_t> skip(batch.index.size());
      for (size_t i = 0; i < skip.size(); ++i)
        skip[i] = !member_takes_row(r.config.seed, r.state.epoch, m, batch.index[i],
                                    r.config.model.member_row_share);
      const auto mask = torch::tensor(skip).to(torch::kBool).to(labels.device()).unsqueeze(1);
      labels = labels.masked_fill(mask, -1);
    }
    for (size_t t = 0; t < losses.size(); ++t) {
      auto l = task_loss(r.data.shape.tasks[t], per_member[m][t], labels.select(1, int64_t(t)),
                         r.data.class_weights[t], r.config.loss, r.config.focal_gamma);
      if (l.defined()) losses[t] = losses[t].defined() ? losses[t] + l : l;
    }
  }
  return losses;
}

/// A batch whose augmented rows are read ahead: this rank's rows and their epoch.
struct AheadBatch {
  std::vector<int64_t> rows;
  int64_t epoch = 0;
};

/// The augmented rows of `rows` (none without augmentation), and the batches `next` started
/// reading ahead: their rows are read and extracted while this one trains.
AugmentedRows augment_batch(Run& r, const std::vector<int64_t>& rows,
                            const std::vector<AheadBatch>& next) {
  if (!r.augmenter) return {};
  AugmentedRows augmented = (*r.augmenter)(rows, r.config.seed, r.state.epoch);
  for (const AheadBatch& ahead : next)
    if (!ahead.rows.empty()) r.augmenter->prefetch(ahead.rows, r.config.seed, ahead.epoch);
  return augmented;
}

BatchLoss forward_batch(Run& r, const std::vector<int64_t>& rows,
                        const std::vector<AheadBatch>& next, EpochClock& clock) {
  const auto t0 = Clock::now();
  const TrainData& data = r.data;
  const size_t tasks = data.shape.tasks.size();
  const std::vector<TaskModel*> members = r.model->members();
  std::vector<torch::Tensor> task_losses(tasks);
  std::vector<double> task_weights(tasks, 0.0);
  torch::Tensor consistency;
  BatchLoss out;
  auto t_model = Clock::now();
  if (!rows.empty()) {
    const AugmentedRows augmented = augment_batch(r, rows, next);
    Batch batch = make_batch(data, rows, r.augmenter ? &augmented : nullptr).to(r.device);
    clock.data += since(t0);
    t_model = Clock::now();
    compat::Autocast amp(r.device.type(), r.device.is_cuda() && r.config.bf16, torch::kBFloat16);
    std::vector<std::vector<torch::Tensor>> per_member;
    for (TaskModel* m : members) per_member.push_back(m->logits(batch));
    task_losses = member_task_losses(r, batch, per_member);
    for (size_t t = 0; t < tasks; ++t) {
      if (!task_losses[t].defined()) continue;
      out.loss = out.loss.defined() ? out.loss + task_losses[t] : task_losses[t];
      if (r.group)
        task_weights[t] = task_loss_weight(batch.labels.select(1, int64_t(t)),
                                           data.class_weights[t], r.config.loss);
    }
    if (r.config.augment.consistency > 0)
      consistency = consistency_loss(r, rows, augmented, EnsembleModel::mean_logits(per_member));
  }
  if (r.group) {
    out.loss = share_of_global_loss(*r.group, task_losses, task_weights, r.device, &out.value,
                                    &out.any);
  } else if (out.loss.defined()) {
    out.any = true;
    out.value = out.loss.item<double>();
  }
  out.value /= double(members.size());  // train_loss: a member's mean, comparable with dev's
  add_consistency(r, consistency, out);
  if (out.any) clock.forward += since(t_model);
  return out;
}

/// The optimizer step that ends an accumulation window at batch `b` of the epoch (the
/// global batch's rows are `global_rows`): gradients averaged over ranks, clipped, the
/// scheduled rate, the update, and last.pt every checkpoint_every_steps steps.
void optimizer_step(Run& r, int64_t b, const std::vector<int64_t>& global_rows,
                    EpochClock& clock) {
  const auto t_step = Clock::now();
  TrainState& state = r.state;
  if (r.reducer) r.reducer->finish();  // grads = mean over ranks
  // The norm over all gradients (after the all-reduce: the same on every rank), each member
  // of an ensemble clipped on its own; an infinite clip_norm measures without clipping.
  const double grad_norm = clip_member_gradients(
      *r.model, r.config.optim.clip_norm > 0 ? r.config.optim.clip_norm : INFINITY);
  if (!std::isfinite(grad_norm))
    stop_non_finite("the gradient norm", grad_norm, state, b, r.batches_per_epoch, global_rows,
                    r.data, r.last, r.last_saved_step);
  const double lr = learning_rate(r.config.optim, state.step, r.total_steps);
  auto& groups = r.optimizer->param_groups();
  for (size_t g = 0; g < groups.size(); ++g)
    static_cast<torch::optim::AdamWOptions&>(groups[g].options()).lr(lr * r.group_lr_scale[g]);
  r.optimizer->step();
  r.optimizer->zero_grad();
  if (r.average) r.average->update(*r.model, state.step);
  // A finite gradient can still overflow a parameter (a huge learning rate or weight
  // decay): checked before every checkpoint, on every rank (they hold the same values).
  const bool save = (state.step + 1) % r.config.checkpoint_every_steps == 0;
  if ((save || b + 1 == r.batches_per_epoch) && !parameters_finite(*r.model))
    stop_non_finite("a parameter after the update", NAN, state, b, r.batches_per_epoch,
                    global_rows, r.data, r.last, r.last_saved_step);
  ++state.step;
  state.batch = b + 1;
  clock.step += since(t_step);
  if (r.main_rank() && save) {
    const auto t_save = Clock::now();
    save_checkpoint(r.last, *r.model, r.optimizer.get(), state, r.average.get());
    r.last_saved_step = state.step;
    clock.checkpoint += since(t_save);
  }
  if (r.board) r.board->step(state.step, lr, grad_norm);
}

/// This rank's share of batch `b` of the epoch whose row order is `order` (in the last,
/// short batch it may be empty).
std::vector<int64_t> rank_batch_rows(const Run& r, const std::vector<int64_t>& order,
                                     int64_t b) {
  const int64_t begin = b * r.global_batch;
  const int64_t end = std::min<int64_t>(int64_t(order.size()), (b + 1) * r.global_batch);
  return r.dist.enabled() ? rank_rows(order, begin, end, r.dist.rank, r.dist.world_size)
                          : std::vector<int64_t>(order.begin() + begin, order.begin() + end);
}

/// The r.augment_ahead batches after batch `b` of the epoch whose row order is `order`, on
/// into the next epoch's first ones (its dev scoring then runs beside their extraction)
/// unless this is the last; none without augmentation.
std::vector<AheadBatch> batches_read_ahead(const Run& r, const std::vector<int64_t>& order,
                                           int64_t b) {
  std::vector<AheadBatch> next;
  if (!r.augmenter) return next;
  std::vector<int64_t> next_order;
  for (int64_t k = b + 1; k <= b + r.augment_ahead; ++k) {
    if (k < r.batches_per_epoch) {
      next.push_back({rank_batch_rows(r, order, k), r.state.epoch});
      continue;
    }
    if (r.state.epoch + 1 >= r.config.epochs || k - r.batches_per_epoch >= r.batches_per_epoch)
      break;
    if (next_order.empty())
      next_order = epoch_order(r.data.train, r.config.seed, r.state.epoch + 1);
    next.push_back({rank_batch_rows(r, next_order, k - r.batches_per_epoch), r.state.epoch + 1});
  }
  return next;
}

/// Batch `b` of the epoch whose row order is `order`: forward, backward, and the optimizer
/// step where an accumulation window ends. A batch no rank has a label in is skipped
/// everywhere, as in one process.
void train_batch(Run& r, const std::vector<int64_t>& order, int64_t b, EpochClock& clock,
                 Progress& progress) {
  TrainState& state = r.state;
  const int64_t begin = b * r.global_batch;
  const int64_t end = std::min<int64_t>(int64_t(order.size()), (b + 1) * r.global_batch);
  const std::vector<int64_t> rows = rank_batch_rows(r, order, b);
  if (r.dist.rank > 0)
    torch::manual_seed(rank_batch_seed(r.config.seed, r.dist.rank, state.epoch, b));
  const BatchLoss loss = forward_batch(r, rows, batches_read_ahead(r, order, b), clock);
  if (!loss.any) return;
  const std::vector<int64_t> global_rows(order.begin() + begin, order.begin() + end);
  // Every rank sees the same global value, so all of them stop here together.
  if (!std::isfinite(loss.value))
    stop_non_finite("the loss", loss.value, state, b, r.batches_per_epoch, global_rows, r.data,
                    r.last, r.last_saved_step);
  const bool step_now =
      (b + 1) % r.config.optim.accumulate == 0 || b + 1 == r.batches_per_epoch;
  if (r.reducer) r.reducer->prepare(step_now);  // all-reduce only on the step's last backward
  const auto t_backward = Clock::now();
  if (loss.loss.defined()) (loss.loss / r.config.optim.accumulate).backward();
  clock.backward += since(t_backward);
  state.epoch_loss_sum += loss.value;
  ++state.epoch_loss_count;
  state.epoch_segments += end - begin;
  if (r.board) r.board->batch(loss.value, end - begin);
  if (step_now) optimizer_step(r, b, global_rows, clock);
  progress.update(state.epoch * r.batches_per_epoch + b + 1);
}

/// The mean macro-F1 over tasks of the scored rows, clean or (`copy`) degraded; its per-task
/// figures go to *dev.
double scored_f1(Run& r, const AugmentedRows* copy, json* dev) {
  std::vector<double> per_task;
  *dev = evaluate(*r.model, r.data, scored_rows(r), int(r.global_batch), r.device,
                  r.config.loss, r.config.focal_gamma, &per_task, copy);
  double score = 0;
  for (double f : per_task) score += f;
  return score / double(std::max<size_t>(1, per_task.size()));
}

/// After the first epoch that kept frozen encoder states, how much memory they hold; once,
/// when they first fill encoder_cache_gb, that the rest is computed again each epoch.
void log_encoder_cache(Run& r) {
  const auto* fusion = as_fusion(*r.model);
  if (!fusion || !fusion->bert) return;
  const auto& bert = *fusion->bert;
  const double gb = double(bert.kept_bytes()) / 1e9;
  if (!r.cache_logged && bert.kept_bytes() > 0) {
    r.cache_logged = true;
    r.log->info("frozen encoder states kept in memory: {:.2f} GB (encoder_cache_gb: {})", gb,
                r.config.encoder_cache_gb);
  }
  if (r.cache_full_logged || bert.not_kept() == 0) return;
  r.cache_full_logged = true;
  r.log->info("{:.2f} GB of frozen encoder states kept, all encoder_cache_gb ({}) allows; the "
              "rows beyond it ({} reads so far) are computed again each time (the same numbers, "
              "more time): raise encoder_cache_gb if this machine has the memory",
              gb, r.config.encoder_cache_gb, bert.not_kept());
}

/// The selection score on every rank: the mean dev macro-F1 over tasks (the training split's
/// when there is no dev split), or with selection worst | mean the worst or mean of it over
/// the clean rows and each degraded copy (each one's score in *conditions). Rank 0 evaluates,
/// in chunks of the global batch as one process would; its clean per-task figures go to
/// *dev (empty on the other ranks).
double dev_score(Run& r, json* dev, json* conditions) {
  double score = 0;
  if (r.main_rank()) {
    score = scored_f1(r, nullptr, dev);
    if (r.config.selection != "clean") {
      *conditions = {{"clean", score}};
      double worst = score, sum = score;
      json unused;
      for (const auto& [name, copy] : r.dev_copies) {
        const double s = scored_f1(r, &copy, &unused);
        (*conditions)[name] = s;
        worst = std::min(worst, s);
        sum += s;
      }
      score = r.config.selection == "worst" ? worst : sum / double(1 + r.dev_copies.size());
    }
  }
  if (r.group) score = broadcast_value(*r.group, score, r.device);
  return score;
}

/// The dev loss: the sum of the tasks' losses, as training sums them (tasks without labelled
/// dev segments add nothing); null when no task has one.
json dev_loss(const json& dev) {
  json sum;
  for (const auto& [task, m] : dev.items())
    if (m.contains("loss"))
      sum = (sum.is_null() ? 0.0 : sum.get<double>()) + m["loss"].get<double>();
  return sum;
}

/// The epoch's line of metrics.jsonl.
json metrics_line(const Run& r, const EpochClock& clock, double train_seconds, const json& dev,
                  const json& conditions, double score) {
  const TrainState& s = r.state;
  const double seconds = since(clock.start);
  json line = {
      {"epoch", s.epoch + 1},
      {"step", s.step},
      {"train_loss", s.epoch_loss_count ? s.epoch_loss_sum / double(s.epoch_loss_count) : 0.0},
      {"lr", learning_rate(r.config.optim, std::max<int64_t>(0, s.step - 1), r.total_steps)},
      {"dev", dev},
      {"dev_loss", dev_loss(dev)},
      {"dev_score", score},
      {"dev_split", r.data.dev.empty() ? "train" : "dev"},
      {"seconds", seconds},
      {"train_seconds", train_seconds},
      {"segments_per_s", train_seconds > 0 ? double(s.epoch_segments) / train_seconds : 0.0},
      {"data_wait_share", train_seconds > 0 ? clock.data / train_seconds : 0.0},
      {"phase_seconds",
       {{"data", clock.data},
        {"forward", clock.forward},
        {"backward", clock.backward},
        {"step", clock.step},
        {"checkpoint", clock.checkpoint},
        {"evaluate", seconds - train_seconds}}}};
  if (!conditions.is_null()) line["dev_conditions"] = conditions;
  if (r.augmenter) {
    const auto now = r.augmenter->served();
    const auto& start = clock.augment_start;
    line["augment_batches"] = {{"read_ahead", now.read_ahead - start.read_ahead},
                               {"on_the_spot", now.on_the_spot - start.on_the_spot},
                               {"dropped", now.dropped - start.dropped}};
  }
  return line;
}

/// Closes the epoch that scored `score`: early-stopping count and the best-k checkpoints
/// (best-epoch-N.pt of the k highest-scoring epochs, best.pt of the best) of the weights the
/// model holds (the average, under AveragedWeights). Returns true when training stops early.
bool keep_best(Run& r, double score) {
  TrainState& state = r.state;
  json best = json::parse(state.best_list);
  const int64_t epoch_no = state.epoch + 1;
  if (score > state.best_score + 1e-12) {
    state.best_score = score;
    state.best_epoch = epoch_no;
    state.bad_epochs = 0;
  } else {
    ++state.bad_epochs;
  }
  best.push_back({score, epoch_no});
  std::stable_sort(best.begin(), best.end(),
                   [](const json& a, const json& b) { return a[0] > b[0]; });
  ++state.epoch;
  state.batch = 0;
  state.epoch_loss_sum = 0, state.epoch_loss_count = 0, state.epoch_segments = 0;
  const bool stop = state.bad_epochs >= r.config.patience;
  if (r.main_rank()) {
    json kept = json::array();
    std::error_code ec;
    for (size_t i = 0; i < best.size(); ++i) {
      const fs::path file =
          r.dir / ("best-epoch-" + std::to_string(best[i][1].get<int64_t>()) + ".pt");
      if (i < size_t(r.config.keep_best)) {
        kept.push_back(best[i]);
        if (best[i][1] == epoch_no) save_checkpoint(file, *r.model, nullptr, state);
      } else {
        fs::remove(file, ec);
      }
    }
    state.best_list = kept.dump();
    if (state.best_epoch == epoch_no) save_checkpoint(r.dir / "best.pt", *r.model, nullptr, state);
  }
  if (stop) state.epoch = r.config.epochs;  // early stop: the saved state says training is over
  return stop;
}

/// last.pt at an epoch's end: the training weights, the optimizer and the average.
void save_last(Run& r) {
  if (r.main_rank()) save_checkpoint(r.last, *r.model, r.optimizer.get(), r.state, r.average.get());
  r.last_saved_step = r.state.step;
}

/// One epoch from the saved batch on: the batches, the dev score, its metrics line, best-k
/// and the checkpoint. Returns true when training stops early.
bool train_epoch(Run& r, Progress& progress) {
  schedule_encoder(r);
  EpochClock clock;
  if (r.augmenter) clock.augment_start = r.augmenter->served();
  const auto order = epoch_order(r.data.train, r.config.seed, r.state.epoch);
  for (int64_t b = r.state.batch; b < r.batches_per_epoch; ++b)
    train_batch(r, order, b, clock, progress);
  const double train_seconds = since(clock.start);
  json dev, conditions, line;
  const int64_t epoch_no = r.state.epoch + 1;
  double score = 0;
  bool stop = false;
  {
    // With optim.ema_decay the dev split scores, and best-k keeps, the weight average.
    const AveragedWeights averaged(r.average.get(), *r.model);
    score = dev_score(r, &dev, &conditions);
    line = metrics_line(r, clock, train_seconds, dev, conditions, score);
    if (r.main_rank()) append_line(r.dir / "metrics.jsonl", line);
    if (r.board) r.board->epoch(line);
    ++r.state.metrics_lines;
    stop = keep_best(r, score);
  }
  save_last(r);
  const std::string consistency =
      r.consistency_count ? fmt::format(", consistency {:.4f}",
                                        r.consistency_sum / double(r.consistency_count))
                          : std::string();
  r.consistency_sum = 0, r.consistency_count = 0;
  r.log->info("epoch {}: loss {:.4f}{}, dev loss {}, dev macro-F1 {:.4f}{}{}", epoch_no,
              line["train_loss"].get<double>(), consistency,
              line["dev_loss"].is_number() ? fmt::format("{:.4f}", line["dev_loss"].get<double>())
                                           : std::string("-"),
              conditions.is_null() ? score : conditions["clean"].get<double>(),
              conditions.is_null()
                  ? std::string()
                  : fmt::format(", {} over {} conditions {:.4f}", r.config.selection,
                                conditions.size(), score),
              stop ? " (early stop)" : "");
  log_encoder_cache(r);
  return stop;
}

/// The modalities each task reads, for result.json.
json task_summaries(const ModelShape& shape, const features::Store& store) {
  json tasks = json::array();
  for (const auto& t : shape.tasks)
    tasks.push_back({{"name", t.name},
                     {"speaker", t.speaker},
                     {"modalities", modalities(t, features::speech_width(store) > 0)}});
  return tasks;
}

/// Rank 0: the best epoch's figures from metrics.jsonl (complete even after a resume) into
/// `result`, and result.json.
void write_summary(const Run& r, TrainResult& result) {
  std::ifstream in(r.dir / "metrics.jsonl");
  std::string text;
  while (std::getline(in, text)) {
    if (text.empty()) continue;
    json j = json::parse(text);
    ++result.epochs_run;
    if (j["epoch"].get<int>() == r.state.best_epoch) {
      result.best_dev_score = j["dev_score"];
      for (auto& [task, m] : j["dev"].items()) result.best_dev_macro_f1[task] = m["macro_f1"];
    }
  }
  const features::StoreMeta& meta = r.data.store.meta;
  json summary = {{"best_epoch", result.best_epoch},
                  {"best_dev_score", result.best_dev_score},
                  {"best_dev_macro_f1", result.best_dev_macro_f1},
                  {"epochs_run", result.epochs_run},
                  {"steps", result.steps},
                  {"tasks", task_summaries(r.data.shape, r.data.store)},
                  {"feature_set_version", meta.feature_set_version},
                  {"functionals_version", meta.functionals_version},
                  {"tokenizer_sha256", meta.tokenizer_sha256},
                  {"dataset_fingerprint", meta.dataset_fingerprint},
                  {"store_sha256", r.store_sha},
                  {"tool_version", std::string(kVersion) + " (" + kGitCommit + ")"},
                  {"torch_version", compat::torch_version()}};
  if (!r.word_vectors.is_null()) summary["word_vectors"] = r.word_vectors;
  if (!r.text_encoder.is_null()) summary["text_encoder"] = r.text_encoder;
  // The speech states trained on, so that eval and predict refuse a store of others even when
  // the run's store has moved or been rebuilt (train::store_contract).
  if (const auto speech = features::speech_record(meta.extractor_config); !speech.sha256.empty())
    summary["speech_encoder"] = {
        {"name", speech.name}, {"sha256", speech.sha256}, {"window", speech.window}};
  write_file_atomic(r.dir / "result.json", summary.dump(2));
}

/// Rank 0: the decision rules of best.pt (temperature and threshold per task) fitted on the
/// dev split (with `calibration: degraded`, pooled with its degraded copies), saved in
/// RUN/calibration.json: the rules eval, export and predict apply.
void save_decision_rules(const Run& r) {
  const RunPredictor best(r.dir, r.device.str(), "best.pt", &r.data,
                         r.config.calibration == "degraded" ? &r.dev_copies : nullptr);
  best.save_rules();
}

}  // namespace

double dev_macro_f1(const std::vector<int>& truth, const std::vector<int>& predicted,
                    int classes) {
  if (truth.empty()) return 0.0;
  return eval::classification_metrics(eval::confusion_matrix(truth, predicted, classes)).macro_f1;
}

namespace {

/// A start refused before its run marker (a store or config that does not fit, a busy
/// machine) leaves `out` as it found it: the directories claim_run_dir made go again, if they
/// hold nothing.
void unclaim_run_dir(Run& r) {
  std::error_code ec;
  if (r.made_dir.empty() || fs::exists(r.dir / kRunMarker, ec)) return;
  r.lock.reset();  // removes the lock file
  const fs::path top = r.made_dir;
  for (fs::path p = run_dir_path(r); !p.empty(); p = p.parent_path()) {
    if (!fs::is_directory(p, ec) || !fs::is_empty(p, ec) || !fs::remove(p, ec)) return;
    if (p == top || p == p.parent_path()) return;
  }
}

TrainResult train_run(Run& run) {
  const TrainConfig& config = run.config;
  claim_run_dir(run);
  try {
    load_data_and_model(run);
    resume_or_start(run);
  } catch (...) {
    unclaim_run_dir(run);
    throw;
  }
  join_ranks(run);
  // A fresh average starts at the weights training starts from (pretrained encoder, word
  // vectors, rank 0's); a resumed one is last.pt's.
  if (run.average && !run.resumed) run.average->reset(*run.model);
  run.log->info("training {} on {} ({} train / {} dev segments, {} tasks, {} parameters)",
                config.model.type, run.device.str(), run.data.train.size(), run.data.dev.size(),
                run.data.shape.tasks.size(), parameter_count(*run.model));
  run.model->train();
  Progress progress("train", "batches", run.total_steps * config.optim.accumulate,
                    run.main_rank());
  while (run.state.epoch < config.epochs)
    if (train_epoch(run, progress)) break;
  progress.finish();

  TrainResult result;
  result.run_dir = run.dir.string();
  result.resumed = run.resumed;
  result.best_epoch = int(run.state.best_epoch);
  result.steps = run.state.step;
  if (!run.main_rank()) {
    run.group->barrier();  // returns once rank 0 has written the summary
    return result;
  }
  write_summary(run, result);
  save_decision_rules(run);
  if (run.group) run.group->barrier();
  return result;
}

}  // namespace

TrainResult train_model(const TrainConfig& config) {
  config.validate();
  Run run(config);
  return train_run(run);
}

TrainResult train_model(const TrainConfig& config, const features::Store& store) {
  config.validate();
  Run run(config, &store);
  return train_run(run);
}

}  // namespace tenor::train
