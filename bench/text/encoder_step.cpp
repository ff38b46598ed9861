// Fine-tuning throughput of tenor's native BERT encoder (train/text_encoder.h): the training
// step `tenor train` runs for model.text_encoder (encoder, mean pooling over the tokens, a
// linear head, cross-entropy, backward, gradient clipping, AdamW) on fixed random batches,
// timed after warm-up steps. bench/text/encoder_loop.py runs the same step with Hugging Face
// `transformers` in Python; bench/text_encoder_bench.sh runs both side by side.
//   bench_text_encoder ENCODER_DIR BATCH LENGTH STEPS THREADS  -> one JSON line
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <torch/torch.h>

#include "core/torch_compat.h"
#include "train/text_encoder.h"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: bench_text_encoder ENCODER_DIR BATCH LENGTH STEPS THREADS\n");
    return 2;
  }
  const int64_t batch = std::atoll(argv[2]), length = std::atoll(argv[3]);
  const int steps = std::atoi(argv[4]), warmup = 3;
  tenor::compat::set_cpu_threads(std::atoi(argv[5]));
  torch::manual_seed(1);
  auto encoder = tenor::train::load_text_encoder(argv[1]);
  encoder->train();
  torch::nn::Linear head(encoder->config().hidden_size, 3);
  std::vector<torch::Tensor> params = encoder->parameters();
  for (const auto& p : head->parameters()) params.push_back(p);
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(5e-5).weight_decay(0.01));
  const auto ids = torch::randint(1000, 29000, {batch, length}, torch::kLong);
  const auto types = torch::zeros({batch, length}, torch::kLong);
  const auto mask = torch::ones({batch, length}, torch::kLong);
  const auto labels = torch::randint(0, 3, {batch}, torch::kLong);
  using Clock = std::chrono::steady_clock;
  Clock::time_point start;
  for (int s = 0; s < warmup + steps; ++s) {
    if (s == warmup) start = Clock::now();
    auto pooled = tenor::train::BertEncoderImpl::mean_pool(encoder->forward(ids, types, mask), mask);
    auto loss = torch::nn::functional::cross_entropy(head(pooled), labels);
    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    optimizer.step();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("{\"sequences_per_s\": %.3f, \"peak_rss_mb\": %.1f, \"torch\": \"%s\"}\n",
              double(batch * steps) / seconds, double(usage.ru_maxrss) / 1024.0,
              tenor::compat::torch_version().c_str());
  return 0;
}
