#pragma once
// Batched frame-level LLD extraction in LibTorch tensor ops: one implementation for
// CPU and CUDA (the device is that of the input tensors).

#include <ATen/core/Tensor.h>

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
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tenor::features
