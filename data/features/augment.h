#pragma once
// Waveform augmentation (docs/training.md, "Waveform augmentation"): channel simulations as
// batched LibTorch tensor ops on the device of their input, and the re-extraction of a
// feature store's rows from their augmented audio by the extractor of `tenor data build`.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/features/augment_config.h"
#include "data/features/store.h"

namespace tenor::features {

/// A padded batch of waveforms: samples [B, N] float, lengths [B] int64 (valid samples per
/// row, the rest 0), on one device.
struct Waveforms {
  at::Tensor samples;
  at::Tensor lengths;
};

// The ops. x: [B, N] float (full scale 1), lengths: [B] int64, per-row values [B] (any
// dtype), all on one device; each returns [B, N] with 0 past every row's length.

/// x * 10^(gain_db / 20), clipped to [-1, 1] as a converter would.
at::Tensor gain_op(const at::Tensor& x, const at::Tensor& lengths, const at::Tensor& gain_db);

/// Automatic gain control: each 10 ms step's level (RMS over 50 ms) moved toward
/// `target_db` (dBFS) by (1 - 1/ratio) of the difference, at most 20 dB either way, the gain
/// smoothed over 100 ms; clipped to [-1, 1].
at::Tensor agc_op(const at::Tensor& x, const at::Tensor& lengths, const at::Tensor& target_db,
                  const at::Tensor& ratio, int sample_rate_hz);

/// The telephone channel: band-limited to 300-3400 Hz (G.712), resampled to 8 kHz (FFT),
/// companded and quantised to 8 bits (G.711 A-law where `alaw` [B] bool, else mu-law),
/// decoded, band-limited again and resampled back to sample_rate_hz.
at::Tensor telephone_op(const at::Tensor& x, const at::Tensor& lengths, const at::Tensor& alaw,
                        int sample_rate_hz);

/// x + noise scaled so that mean(x^2) / mean(scaled noise^2) over each row's valid samples
/// is 10^(snr_db / 10). noise: [B, >= N] (the first N samples are used).
at::Tensor noise_op(const at::Tensor& x, const at::Tensor& lengths, const at::Tensor& snr_db,
                    const at::Tensor& noise);

/// `samples` of unit-RMS noise on the CPU from `seed`: color 0 white, 1 pink (power 1/f),
/// 2 brown (1/f^2), shaped in the frequency domain.
at::Tensor generated_noise(int64_t samples, int color, uint64_t seed);

/// Noise from the data's own non-speech: the 20 ms frames of `x` (mono, full scale 1) whose
/// RMS is at least kNonSpeechFloorDb below the loudest frame's and above digital silence
/// (-100 dBFS), concatenated in order; empty when there are none.
inline constexpr double kNonSpeechFloorDb = 30;
std::vector<float> non_speech(const std::vector<float>& x, int sample_rate_hz);

/// x convolved (FFT) with rirs [B, L] (causal, cut to each row's length).
at::Tensor reverb_op(const at::Tensor& x, const at::Tensor& lengths, const at::Tensor& rirs);

/// A synthetic room impulse response on the CPU: a direct path plus Gaussian noise decaying by
/// 60 dB over rt60_s (Schroeder's statistical model) of equal energy, normalised to unit
/// energy; rt60_s * sample_rate_hz samples long.
at::Tensor room_impulse_response(double rt60_s, int sample_rate_hz, uint64_t seed);

/// Speed perturbation: row b resampled (FFT) from lengths[b] to round(lengths[b] / factor[b])
/// samples, so it plays factor times faster and higher (sox `speed`).
Waveforms speed_op(const Waveforms& x, const std::vector<double>& factors);

/// The whole chain of `draws` (one per row, AugmentDraw's order of ops) on a batch. The noise
/// of rows with `data_noise` is a window of `noise_pool` (1-D, CPU; required for them) at an
/// offset drawn from the row's seed, wrapping around; the other rows' noise is generated.
Waveforms augment_waveforms(const Waveforms& x, const std::vector<AugmentDraw>& draws,
                            int sample_rate_hz, const at::Tensor& noise_pool = at::Tensor());

/// New frames and functionals of one store row (layouts as the store's).
struct RowFeatures {
  std::vector<float> frames;  ///< [T * F_lld]
  std::vector<float> functionals;
  std::vector<uint8_t> mask;
  /// With StoreAugmenter's speaker channel: the sums over every segment of the row's
  /// speaker in its call through the same channel (this row's included), shared by them.
  std::shared_ptr<const SpeakerSums> speaker;
};

/// Reads the audio of a store's rows again (where Store::audio says), augments it and
/// extracts its LLDs and functionals with the extractor and settings the store was built
/// with (its extractor_config), so an augmented row is what `tenor data build` gives for the
/// augmented audio. Own functionals are computed anew; the relative-to-baseline ones
/// (rel_*) are kept from the store: a channel on the whole call cancels in them.
class StoreAugmenter {
 public:
  /// Checks that `store` records its audio and that the audio of `rows` is where and what
  /// it was when the store was built (size, then SHA-256; each file once). Throws DataError
  /// naming `store_name`, the file and the fix; ConfigError for a bad config or device.
  /// With noise_data_share > 0, collects the noise pool: the non_speech of each audio file
  /// and channel of `rows` in row order (the first 60 s of each, at most 10 s kept from each
  /// scaled to unit RMS, 120 s in all), so the same store and rows give the same pool;
  /// DataError when it is empty.
  ///
  /// `speaker_channel` (what speaker_normalization "call" needs): the unit of augmentation
  /// is a speaker's segments in a call (all rows of the store with its call_id and speaker,
  /// whatever their split), not a row. One draw, keyed by the speaker's first row, goes to
  /// all of them in an epoch, as one recording chain goes under a whole call, and each
  /// augmented row carries the sums over all of them (RowFeatures::speaker), read again
  /// once per speaker and epoch. Where a speaker has one segment in its call this is the
  /// row's own draw and features, as without it. Their audio is checked too.
  StoreAugmenter(const Store& store, const std::string& store_name,
                 const std::vector<int64_t>& rows, AugmentConfig config,
                 const std::string& device, bool speaker_channel = false);
  ~StoreAugmenter();
  StoreAugmenter(const StoreAugmenter&) = delete;
  StoreAugmenter& operator=(const StoreAugmenter&) = delete;

  /// The features of those `rows` whose draw (augment_seed(run_seed, epoch, row), or of
  /// the speaker's first row with a speaker channel) augments them, by row; rows without
  /// audio are left out. Throws DataError naming the file when the audio cannot be read.
  /// Takes the result of a prefetch with the same arguments, waiting for it; otherwise
  /// computes here (a prefetch with other arguments is waited for and dropped first).
  std::map<int64_t, RowFeatures> operator()(const std::vector<int64_t>& rows, uint64_t run_seed,
                                            int64_t epoch);

  /// Starts operator()(rows, run_seed, epoch) on a worker thread of its own, so that the next
  /// batches' rows are read and extracted while this one trains, and returns (at once when
  /// the same is pending already). Several may run at once; with a speaker channel each
  /// waits for the one asked before it. operator() takes them in the order asked. A worker
  /// runs LibTorch with the process's intra-op thread count, so its result is bit for bit
  /// the synchronous one; its errors are thrown by the operator() call that takes it. Call
  /// both from one thread.
  void prefetch(const std::vector<int64_t>& rows, uint64_t run_seed, int64_t epoch);

  /// How operator() has served its calls so far: `read_ahead` took a prefetch's result,
  /// `on_the_spot` computed while the caller waited, and `dropped` counts the prefetches
  /// waited for and thrown away because the call asked for something else.
  struct Served {
    int64_t read_ahead = 0, on_the_spot = 0, dropped = 0;
  };
  Served served() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A fixed chain for `tenor data degrade`: `spec` is a comma-separated list of ops, each
/// `name[=value]`: telephone (mu-law) | mulaw | alaw (the telephone channel with that codec),
/// agc[=TARGET_DBFS] (ratio 4, target -20 by default), gain=DB, noise=SNR_DB (pink noise),
/// reverb=RT60_S. Speed is refused (it would move every segment's times). Applied in the
/// chain's order whatever the order given. Throws UsageError naming the op, with the nearest
/// known one, or the value and its range.
AugmentDraw parse_degrade_ops(const std::string& spec);

struct DegradeReport {
  size_t calls = 0, files = 0;
  double audio_seconds = 0;
};

/// Writes a new dataset at `out`: dataset.yaml as it is, the calls of `dataset_dir` (those of
/// `split` when not empty) in calls.jsonl, and each audio file they use through `ops`, every
/// channel, at its own rate, as 16-bit WAV (the extension becomes .wav). The noise of each
/// file and channel is seeded from (seed, file, channel). The input is never written; `out` is
/// complete or absent (built beside it, renamed into place). UsageError for an `out` that
/// exists and is not empty or lies inside the dataset; DataError for unreadable audio.
DegradeReport degrade_dataset(const std::filesystem::path& dataset_dir,
                              const std::filesystem::path& out, const AugmentDraw& ops,
                              uint64_t seed, const std::string& split = "",
                              const std::string& device = "cpu");

}  // namespace tenor::features
