#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tenor::data {

/// What the audio header says.
struct AudioInfo {
  int64_t frames = 0;
  int sample_rate_hz = 0;
  int channels = 0;
  std::string format;  ///< e.g. "WAV PCM_16", "FLAC PCM_16"
  double duration_s() const { return sample_rate_hz > 0 ? double(frames) / sample_rate_hz : 0.0; }
};

/// Reads the header only. Throws DataError naming the file and the reason.
AudioInfo probe_audio(const std::filesystem::path& path);

/// Samples that are not numbers (NaN or infinite): how many, and the first. Audio is read with
/// them as silence, so every reader refuses or reports them with this one description.
struct NonFiniteSamples {
  int64_t count = 0;
  int channel = 0;     ///< of the first
  int64_t frame = -1;  ///< of the first, from the start of the audio
  bool nan = false;    ///< the first is NaN (else infinite)
  void add(int channel, int64_t frame, float x);
  /// "channel 0 sample 100 (at 0.00625 s) is NaN, and 99 more samples are not finite numbers"
  std::string describe(int sample_rate_hz) const;
  /// describe() of the audio file `name` with the fix: "NAME: channel 0 ...; re-export ...".
  std::string describe_in_file(const std::string& name, int sample_rate_hz) const;
};

/// Below this RMS on every channel (-80 dBFS) a recording is all silence.
inline constexpr double kSilenceRms = 1e-4;

/// Result of reading a whole file once (validation).
struct AudioScan {
  AudioInfo info;
  int64_t frames_read = 0;          ///< frames actually decoded
  double declared_duration_s = 0;   ///< what the header claims
  bool truncated = false;           ///< header promises more than the file holds
  double peak = 0;                  ///< max |sample|, full scale = 1
  double clipped_share = 0;         ///< share of samples at full scale, 0.999 <= |x| <= 1
  std::vector<double> channel_rms;  ///< RMS per channel (full scale = 1)
  NonFiniteSamples non_finite;      ///< read as silence
  double duration_s() const {
    return info.sample_rate_hz > 0 ? double(frames_read) / info.sample_rate_hz : 0.0;
  }
  /// Float samples beyond -1..1 (integer PCM cannot hold them): read as they are, so louder
  /// than anything at full scale 1 the model learnt from.
  bool over_full_scale() const { return peak > 1.0 + 1e-6; }
  /// Every channel below kSilenceRms: its scores would describe no voice.
  bool silent() const;
  /// "peaks at +29.5 dBFS (30 times full scale): ..." with the fix, for over_full_scale().
  std::string describe_over_full_scale() const;
};

/// Streams the file once, in blocks. Throws DataError if it cannot be opened.
AudioScan scan_audio(const std::filesystem::path& path);

/// PCM audio held by its owner rather than in a file (a product's call, scoring/scoring.h):
/// per channel a pointer to the call's samples from frame `first_frame` on, `frames` of them,
/// float at full scale 1. Nothing is copied: the owner keeps the samples alive while a reader
/// of the view is in use. `first_frame` > 0: the audio before it is gone (a stream drops what
/// no turn can still need); reading it is a DataError.
struct PcmView {
  int sample_rate_hz = 0;
  int64_t first_frame = 0;
  int64_t frames = 0;
  std::vector<const float*> channels;
  std::string name = "the call's samples";  ///< what messages call it

  /// What a header would say: frames = first_frame + frames.
  AudioInfo info() const;
};

/// Lazy reader of one audio file (or of PCM in memory): reads only the requested range of
/// one channel, resampled (soxr, high quality) to the requested rate. Never holds the whole
/// file in memory.
class AudioReader {
 public:
  explicit AudioReader(const std::filesystem::path& path);
  /// Reads `pcm` as a file of its rate and channels; the samples are not copied.
  explicit AudioReader(const PcmView& pcm);
  ~AudioReader();
  AudioReader(AudioReader&&) noexcept;
  AudioReader& operator=(AudioReader&&) noexcept;

  const AudioInfo& info() const { return info_; }

  /// Samples of `channel` in [start_s, end_s) at `sample_rate_hz` (0 = native rate).
  /// `channel` = -1 mixes all channels down. Times are clamped to the file.
  std::vector<float> read(double start_s, double end_s, int channel = -1, int sample_rate_hz = 0);

  /// The samples read() returns for the same arguments, streamed: `sink(samples, n)` is called
  /// with consecutive blocks (of a few ten thousand samples). Memory is one block and the
  /// resampler's state, never the range. Resampling is soxr's streaming form of the same
  /// filter; the samples equal read()'s (tests/features/stream_test.cpp). Throws as read().
  void read_blocks(double start_s, double end_s, int channel, int sample_rate_hz,
                   const std::function<void(const float*, size_t)>& sink);

 private:
  struct Handle;
  /// Decodes frames [first, last) of `channel` (-1: mixed down) in blocks to `sink`.
  void decode(int64_t first, int64_t last, int channel,
              const std::function<void(const float*, size_t)>& sink);
  void decode_pcm(int64_t first, int64_t last, int channel,
                  const std::function<void(const float*, size_t)>& sink);
  std::unique_ptr<Handle> handle_;  ///< null when reading pcm_
  PcmView pcm_;
  std::filesystem::path path_;
  AudioInfo info_;
};

/// Resamples mono samples with soxr (high quality). Returns the input if rates match.
std::vector<float> resample(const std::vector<float>& samples, int from_hz, int to_hz);

/// Writes interleaved float samples as 16-bit PCM WAV (or FLAC by extension), atomically.
void write_audio(const std::filesystem::path& path, const std::vector<float>& interleaved,
                 int channels, int sample_rate_hz);

}  // namespace tenor::data
