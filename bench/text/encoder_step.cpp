// Fine-tuning throughput of tenor's native BERT encoder (train/text_encoder.h): the training
// step `tenor train` runs for model.text_encoder (encoder, mean pooling over the tokens, a
// linear head, cross-entropy, backward, gradient clipping, AdamW with the trainer's fused
// CPU update, train/optimizer.h) on fixed random batches,
// timed after warm-up steps. bench/text/encoder_loop.py runs the same step with Hugging Face
// `transformers` in Python; bench/text_encoder_bench.sh runs both side by side.
// With BATCHES.jsonl (bench/text/transcript_batches.py) the steps take those batches of real
// transcripts in turn, each padded to its longest row, instead of one random full batch.
// With PRECISION=bf16 in the environment, the forward pass and the loss run under bf16
// autocast on the CPU (compat::Autocast, what `bf16: true` does on CUDA), as the Python loop
// does under torch.autocast.
// With TRAINABLE=N only the top N blocks train (model.encoder_trainable_layers: N): the frozen
// bottom is kept per row as `tenor train` keeps it, one untimed pass over every batch computes
// it after warm-up steps on a random batch (an epoch's first; its rate is reported as
// first_pass_sequences_per_s) and the timed steps are those of the epochs after it.
// CACHE_GB=G bounds the kept states as encoder_cache_gb does (bench/encoder_cache_bench.sh).
// OPTIMIZER=libtorch updates with LibTorch's own AdamW instead of the trainer's fused one.
//   bench_text_encoder ENCODER_DIR BATCH LENGTH STEPS THREADS [BATCHES.jsonl] -> one JSON line
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include "core/torch_compat.h"
#include "train/optimizer.h"
#include "train/text_encoder.h"

namespace {

struct Step {
  torch::Tensor ids, types, mask, labels;
};

/// One random batch of `batch` rows of `length` ids, no padding.
Step random_step(int64_t batch, int64_t length) {
  return {torch::randint(1000, 29000, {batch, length}, torch::kLong),
          torch::zeros({batch, length}, torch::kLong), torch::ones({batch, length}, torch::kLong),
          torch::randint(0, 3, {batch}, torch::kLong)};
}

/// The batches of transcript_batches.py, each padded to its longest row.
std::vector<Step> transcript_steps(const char* file) {
  std::ifstream in(file);
  std::vector<Step> out;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    const int64_t b = int64_t(j["ids"].size());
    int64_t width = 0;
    for (const auto& row : j["ids"]) width = std::max(width, int64_t(row.size()));
    Step s{torch::zeros({b, width}, torch::kLong), torch::zeros({b, width}, torch::kLong),
           torch::zeros({b, width}, torch::kLong), torch::randint(0, 3, {b}, torch::kLong)};
    for (int64_t i = 0; i < b; ++i)
      for (size_t k = 0; k < j["ids"][size_t(i)].size(); ++k) {
        s.ids[i][int64_t(k)] = j["ids"][size_t(i)][k].get<int64_t>();
        s.types[i][int64_t(k)] = j["type_ids"][size_t(i)][k].get<int64_t>();
        s.mask[i][int64_t(k)] = 1;
      }
    out.push_back(s);
  }
  return out;
}

bool env_is(const char* name, const std::string& value) {
  const char* set = std::getenv(name);
  return set != nullptr && set == value;
}

/// CACHE_GB=G: at most G GB of frozen states kept (encoder_cache_gb); rows beyond are
/// computed again at every step, as `tenor train` does once the budget is full. -1 after
/// saying why when G is not a size.
int64_t cache_budget() {
  const char* cache_env = std::getenv("CACHE_GB");
  if (cache_env == nullptr) return std::numeric_limits<int64_t>::max();
  char* end = nullptr;
  const double gb = std::strtod(cache_env, &end);
  if (end == cache_env || *end != '\0' || !(gb >= 0 && gb <= 1e6)) {
    std::fprintf(stderr, "bench_text_encoder: CACHE_GB is '%s'; use a size in GB, 0..1000000\n",
                 cache_env);
    return -1;
  }
  return int64_t(gb * 1e9);
}

/// The trainer's fused AdamW, or with OPTIMIZER=libtorch LibTorch's own (several ops per
/// parameter, what the trainer ran before FusedAdamW; the bench's last column).
std::unique_ptr<torch::optim::AdamW> make_optimizer(const std::vector<torch::Tensor>& params,
                                                    bool libtorch_adamw) {
  const auto options = torch::optim::AdamWOptions(5e-5).weight_decay(0.01);
  if (libtorch_adamw) return std::make_unique<torch::optim::AdamW>(params, options);
  return std::make_unique<tenor::train::FusedAdamW>(params, options);
}

/// The one JSON line the bench scripts read.
void print_result(double per_s, double first_pass, int64_t kept_bytes, bool bf16,
                  bool libtorch_adamw) {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "{\"sequences_per_s\": %.3f, \"first_pass_sequences_per_s\": %.3f, "
      "\"peak_rss_mb\": %.1f, \"kept_mb\": %.1f, \"torch\": \"%s\", \"precision\": "
      "\"%s\", \"optimizer\": \"%s\"}\n",
      per_s, first_pass, double(usage.ru_maxrss) / 1024.0, double(kept_bytes) / 1e6,
      tenor::compat::torch_version().c_str(), bf16 ? "bf16" : "fp32",
      libtorch_adamw ? "libtorch" : "fused");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) {
    std::fprintf(stderr,
                 "usage: bench_text_encoder ENCODER_DIR BATCH LENGTH STEPS THREADS "
                 "[BATCHES.jsonl]\n");
    return 2;
  }
  const int64_t batch = std::atoll(argv[2]), length = std::atoll(argv[3]);
  const int steps = std::atoi(argv[4]), warmup = 3;
  const int64_t cache_bytes = cache_budget();
  if (cache_bytes < 0) return 2;
  tenor::compat::set_cpu_threads(std::atoi(argv[5]));
  torch::manual_seed(1);
  auto encoder = tenor::train::load_text_encoder(argv[1]);
  encoder->train();
  torch::nn::Linear head(encoder->config().hidden_size, 3);
  const char* trainable_env = std::getenv("TRAINABLE");
  const int trainable = trainable_env != nullptr ? std::atoi(trainable_env) : -1;
  encoder->train_top(trainable);  // as `tenor train` freezes with encoder_trainable_layers
  if (trainable >= 0) encoder->keep_frozen_vectors(true, cache_bytes);
  std::vector<torch::Tensor> params;
  for (const auto& p : encoder->parameters())
    if (p.requires_grad()) params.push_back(p);
  for (const auto& p : head->parameters()) params.push_back(p);
  const bool libtorch_adamw = env_is("OPTIMIZER", "libtorch");
  const auto optimizer = make_optimizer(params, libtorch_adamw);
  const std::vector<Step> batches =
      argc == 7 ? transcript_steps(argv[6]) : std::vector<Step>{random_step(batch, length)};
  if (batches.empty()) {
    std::fprintf(stderr, "bench_text_encoder: %s holds no batches\n", argv[6]);
    return 1;
  }
  const bool bf16 = env_is("PRECISION", "bf16");
  auto step = [&](const Step& b) {
    torch::Tensor loss;
    {
      tenor::compat::Autocast amp(torch::kCPU, bf16, torch::kBFloat16);
      auto pooled = tenor::train::BertEncoderImpl::mean_pool(
          encoder->forward(b.ids, b.types, b.mask), b.mask);
      loss = torch::nn::functional::cross_entropy(head(pooled).to(torch::kFloat), b.labels);
    }
    optimizer->zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    optimizer->step();
  };
  using Clock = std::chrono::steady_clock;
  auto rate = [](int64_t sequences, Clock::time_point since) {
    return double(sequences) / std::chrono::duration<double>(Clock::now() - since).count();
  };
  double first_pass = 0;
  if (trainable >= 0) {  // the first epoch: every batch once, its frozen bottom computed
    // Warm up first on a random batch that is never read again, so that the first pass is
    // not timed cold (the timed steps below follow warm-up steps too).
    const Step warm = random_step(batch, length);
    for (int s = 0; s < warmup; ++s) step(warm);
    int64_t sequences = 0;
    const auto start = Clock::now();
    for (const Step& b : batches) {
      step(b);
      sequences += b.ids.size(0);
    }
    first_pass = rate(sequences, start);
  }
  int64_t sequences = 0;
  Clock::time_point start;
  for (int s = 0; s < warmup + steps; ++s) {
    if (s == warmup) start = Clock::now();
    const Step& b = batches[size_t(s) % batches.size()];
    if (s >= warmup) sequences += b.ids.size(0);
    step(b);
  }
  const double per_s = rate(sequences, start);
  print_result(per_s, first_pass, encoder->kept_bytes(), bf16, libtorch_adamw);
  return 0;
}
