#pragma once
// Batched frame-level LLD extraction in LibTorch tensor ops: one implementation for
// CPU and CUDA (the device is that of the input tensors).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>

#include "data/features/lld_config.h"

namespace tenor::features {

/// LLDs of a batch of waveforms.
struct LldBatch {
  /// [B, T, F] float32; columns as lld_column_names(config). Frames past a row's length
  /// (frame_mask false) and voice-quality columns of unvoiced frames hold 0. Never NaN/inf.
  at::Tensor lld;
  /// [B, T] bool: the F0 path chose a voiced candidate (f0_hz > 0 exactly where true).
  at::Tensor voiced;
  /// [B, T] bool: frame k exists for row b (k < lld_frame_count(lengths[b])).
  at::Tensor frame_mask;
};

/// Extracts LLDs; caches windows and filterbanks per device. Not thread-safe: use one
/// extractor per thread.
class LldExtractor {
 public:
  /// Validates the config (throws tenor::ConfigError).
  explicit LldExtractor(LldConfig config);
  ~LldExtractor();
  LldExtractor(LldExtractor&&) noexcept;
  LldExtractor& operator=(LldExtractor&&) noexcept;

  const LldConfig& config() const;

  /// waveforms: [B, N] float (any float dtype; full scale = 1, read as pascal like Praat) at
  /// config().sample_rate_hz; lengths: [B] int64 valid samples per row (0..N), same device.
  /// -> lld [B, T, F], voiced [B, T], frame_mask [B, T] on the same device, with
  /// T = lld_frame_count(max(lengths)). Samples past a row's length are ignored.
  /// Shape/dtype contract violations throw c10::Error (TORCH_CHECK).
  LldBatch operator()(const at::Tensor& waveforms, const at::Tensor& lengths);

 private:
  friend class LldStream;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// What the LLDs of a waveform need before its first frame: Praat's silence threshold is
/// relative to the waveform's global peak |x - mean| [B93]. Accumulated over every sample
/// (a first pass over a long file), NaN/inf counted as 0 and samples clamped to +-1e4 as the
/// extractor does.
struct WaveformStats {
  int64_t samples = 0;
  double sum = 0;  ///< in double: the whole-waveform extractor sums in float, see global_peak
  float min = 0, max = 0;
  void add(const float* x, int64_t n);
  /// max |x - mean| in float. Equals LldExtractor's up to the rounding of the mean (its float
  /// sum vs this double sum): a relative difference of about 1e-7 in the silence reference.
  float global_peak() const;
};

/// LLDs of one long waveform, streamed: samples go in in any blocks, frames come out in order
/// as soon as they are final. Memory is bounded by a chunk of frames plus the frames whose F0
/// path is still open, not by the waveform's length. The frame-local analyses are the
/// extractor's own on the same chunks of frames, and the path finder is Praat's Viterbi run
/// forward with its survivors traced back after every chunk: a frame is output once every
/// surviving path agrees on it, which is the whole-waveform path exactly. Should the survivors
/// stay apart for max_open_frames (never seen in speech: they merge at every pause), the
/// best path so far is taken for the open frames (counted in forced_decisions()). CPU only.
class LldStream {
 public:
  /// stats: of the whole waveform (a first pass). Throws ConfigError for a bad config.
  LldStream(LldConfig config, const WaveformStats& stats, int64_t max_open_frames = 1 << 15);
  ~LldStream();
  LldStream(LldStream&&) noexcept;
  LldStream& operator=(LldStream&&) noexcept;

  /// Appends the next `n` samples -> LLD rows [n_out, F] float (CPU) of the frames decided so
  /// far, in order from frame frames_out() before the call; n_out may be 0. Throws
  /// tenor::DataError if more samples arrive than stats.samples announced.
  at::Tensor push(const float* samples, int64_t n);
  /// The waveform ended: rows of every remaining frame. Throws tenor::DataError if fewer
  /// samples arrived than announced.
  at::Tensor finish();
  int64_t frames_out() const;
  int64_t forced_decisions() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tenor::features
