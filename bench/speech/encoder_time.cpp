// Time of tenor's native Whisper encoder (data/features/speech_encoder.h) per clip: Whisper's
// log-mel, the encoder over the clip padded to 30 s, the mean over its own frames (pooled()), on
// batches of 8 random 2.4 s clips at 16 kHz after one warm-up batch.
// bench/speech/encoder_time.py times transformers' WhisperFeatureExtractor and WhisperEncoder
// on the same work; bench/speech_encoder_bench.sh runs both side by side.
//   bench_speech_encoder ENCODER_DIR CLIPS THREADS -> one JSON line
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/torch_compat.h"
#include "data/features/speech_encoder.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: bench_speech_encoder ENCODER_DIR CLIPS THREADS\n");
    return 2;
  }
  const int clips = std::atoi(argv[2]);
  tenor::compat::set_cpu_threads(std::atoi(argv[3]));
  torch::NoGradGuard no_grad;
  auto encoder = tenor::features::load_whisper_encoder(argv[1]);
  constexpr int64_t kBatch = 8, kSamples = 38224;  // 2.389 s, RAVDESS's clips
  torch::manual_seed(1);
  const std::vector<int64_t> samples(kBatch, kSamples);
  auto batch = [] { return 0.1 * torch::randn({kBatch, kSamples}); };
  encoder->pooled(batch(), samples);  // warm-up
  double seconds = 0;
  int done = 0;
  while (done < clips) {
    const auto audio = batch();
    const auto start = std::chrono::steady_clock::now();
    const auto pooled = encoder->pooled(audio, samples);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    done += int(kBatch);
    if (!pooled.isfinite().all().item<bool>()) return 1;
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("{\"ms_per_clip\": %.1f, \"clips\": %d, \"peak_rss_mb\": %.0f}\n",
              seconds / done * 1000, done, double(usage.ru_maxrss) / 1024);
  return 0;
}
