#include "data/audio.h"

#include <sndfile.h>
#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <utility>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"

namespace tenor::data {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kBlockFrames = 1 << 15;
constexpr double kClipLevel = 0.999;

std::string format_name(int format) {
  SF_FORMAT_INFO major{}, sub{};
  major.format = format & SF_FORMAT_TYPEMASK;
  sub.format = format & SF_FORMAT_SUBMASK;
  sf_command(nullptr, SFC_GET_FORMAT_INFO, &major, sizeof major);
  sf_command(nullptr, SFC_GET_FORMAT_INFO, &sub, sizeof sub);
  std::string out = major.name ? major.name : "unknown";
  if (sub.name) out += std::string(" ") + sub.name;
  return out;
}

struct SndFile {
  SNDFILE* file = nullptr;
  SF_INFO info{};
  explicit SndFile(const fs::path& path) {
    std::error_code ec;
    auto status = fs::status(path, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) {
      throw DataError(
          "cannot open audio " + path.string() + ": " + ec.message() +
          " (a symbolic link loop or a permission problem); fix the file or the `audio` path");
    }
    if (!fs::exists(status)) {
      throw DataError("audio file " + path.string() + " does not exist; fix the `audio` path");
    }
    if (!fs::is_regular_file(status)) {
      throw DataError("audio path " + path.string() +
                      " is not a regular file; point `audio` at a WAV or FLAC file");
    }
    if (fs::file_size(path, ec) == 0 && !ec) {
      throw DataError("audio file " + path.string() + " is empty (0 bytes); re-export it");
    }
    file = sf_open(path.c_str(), SFM_READ, &info);
    if (!file) {
      throw DataError("cannot read audio " + path.string() + ": " + sf_strerror(nullptr) +
                      "; tenor reads WAV and FLAC");
    }
  }
  ~SndFile() {
    if (file) sf_close(file);
  }
  SndFile(const SndFile&) = delete;
  SndFile& operator=(const SndFile&) = delete;
};

AudioInfo to_info(const SF_INFO& sf) {
  AudioInfo info;
  info.frames = sf.frames;
  info.sample_rate_hz = sf.samplerate;
  info.channels = sf.channels;
  info.format = format_name(sf.format);
  return info;
}

/// For RIFF/WAVE files: the byte count the `data` chunk declares and the bytes
/// actually present after its header, found by walking the chunk list. libsndfile
/// quietly clamps a lying header to the file's length, so truncation (a copy cut
/// short, a header written before the recording ended) is detected here.
struct WavDataChunk {
  bool found = false;
  uint64_t declared = 0;
  uint64_t present = 0;
};

WavDataChunk wav_data_chunk(const fs::path& path) {
  WavDataChunk out;
  std::ifstream in(path, std::ios::binary);
  char header[12];
  if (!in.read(header, 12) || std::memcmp(header, "RIFF", 4) != 0 ||
      std::memcmp(header + 8, "WAVE", 4) != 0) {
    return out;
  }
  std::error_code ec;
  uint64_t file_size = fs::file_size(path, ec);
  uint64_t pos = 12;
  for (int guard = 0; guard < 1024 && pos + 8 <= file_size; ++guard) {
    char chunk[8];
    in.seekg(static_cast<std::streamoff>(pos));
    if (!in.read(chunk, 8)) break;
    uint32_t size;
    std::memcpy(&size, chunk + 4, 4);  // little-endian on every platform we build for
    if (std::memcmp(chunk, "data", 4) == 0) {
      out.found = true;
      out.declared = size;
      out.present = file_size - (pos + 8);
      return out;
    }
    pos += 8 + size + (size & 1);
  }
  return out;
}

}  // namespace

void NonFiniteSamples::add(int c, int64_t at, float x) {
  if (count++ > 0) return;
  channel = c;
  frame = at;
  nan = std::isnan(x);
}

std::string NonFiniteSamples::describe(int sample_rate_hz) const {
  std::string out = "channel " + std::to_string(channel) + " sample " + std::to_string(frame);
  if (sample_rate_hz > 0) out += " (at " + format_seconds(double(frame) / sample_rate_hz) + ")";
  out += nan ? " is NaN" : " is infinite";
  if (count == 2) out += ", and 1 more sample is not a finite number";
  if (count > 2)
    out += ", and " + std::to_string(count - 1) + " more samples are not finite numbers";
  return out;
}

std::string NonFiniteSamples::describe_in_file(const std::string& name,
                                               int sample_rate_hz) const {
  return name + ": " + describe(sample_rate_hz) +
         "; a decoding or conversion error wrote them: re-export the recording from its source";
}

bool AudioScan::silent() const {
  return frames_read > 0 && std::all_of(channel_rms.begin(), channel_rms.end(),
                                         [](double rms) { return rms < kSilenceRms; });
}

std::string AudioScan::describe_over_full_scale() const {
  const double db = 20 * std::log10(peak);
  return "peaks at +" + format_number(std::round(db * 10) / 10) + " dBFS (" +
         format_number(std::round(peak * 10) / 10) + " times full scale), and float samples are "
         "read with full scale at 1: its loudness reads that much louder than the same voice at "
         "full scale; scale the samples into -1..1 in the tool that wrote the file";
}

AudioInfo probe_audio(const fs::path& path) {
  SndFile f(path);
  return to_info(f.info);
}

AudioScan scan_audio(const fs::path& path) {
  SndFile f(path);
  AudioScan scan;
  scan.info = to_info(f.info);
  scan.declared_duration_s = scan.info.duration_s();
  const int channels = std::max(1, f.info.channels);

  if (auto chunk = wav_data_chunk(path);
      chunk.found && chunk.declared != 0xFFFFFFFFu && chunk.declared > chunk.present) {
    int bytes_per_frame = 0;
    switch (f.info.format & SF_FORMAT_SUBMASK) {
      case SF_FORMAT_PCM_U8:
      case SF_FORMAT_PCM_S8:
        bytes_per_frame = 1;
        break;
      case SF_FORMAT_PCM_16:
        bytes_per_frame = 2;
        break;
      case SF_FORMAT_PCM_24:
        bytes_per_frame = 3;
        break;
      case SF_FORMAT_PCM_32:
      case SF_FORMAT_FLOAT:
        bytes_per_frame = 4;
        break;
      case SF_FORMAT_DOUBLE:
        bytes_per_frame = 8;
        break;
      default:
        break;
    }
    scan.truncated = true;
    if (bytes_per_frame > 0 && f.info.samplerate > 0) {
      scan.declared_duration_s =
          double(chunk.declared) / (bytes_per_frame * channels) / f.info.samplerate;
    }
  }

  std::vector<float> block(static_cast<size_t>(kBlockFrames * channels));
  std::vector<double> sum_sq(channels, 0.0);
  int64_t clipped = 0;
  double peak = 0;
  for (;;) {
    sf_count_t n = sf_readf_float(f.file, block.data(), kBlockFrames);
    if (n <= 0) break;
    for (sf_count_t i = 0; i < n; ++i) {
      for (int c = 0; c < channels; ++c) {
        float x = block[static_cast<size_t>(i * channels + c)];
        if (!std::isfinite(x)) {
          scan.non_finite.add(c, scan.frames_read + i, x);
          x = 0;
        }
        double a = std::fabs(x);
        peak = std::max(peak, a);
        clipped += a >= kClipLevel && a <= 1.0 + 1e-6;  // beyond it: over full scale, not clipped
        sum_sq[c] += double(x) * x;
      }
    }
    scan.frames_read += n;
  }
  if (scan.frames_read < f.info.frames) scan.truncated = true;
  scan.peak = peak;
  const double total = double(scan.frames_read) * channels;
  scan.clipped_share = total > 0 ? clipped / total : 0.0;
  for (int c = 0; c < channels; ++c) {
    scan.channel_rms.push_back(scan.frames_read > 0 ? std::sqrt(sum_sq[c] / scan.frames_read)
                                                    : 0.0);
  }
  return scan;
}

struct AudioReader::Handle {
  SndFile file;
  explicit Handle(const fs::path& path) : file(path) {}
};

AudioReader::AudioReader(const fs::path& path)
    : handle_(std::make_unique<Handle>(path)), path_(path), info_(to_info(handle_->file.info)) {}
AudioReader::AudioReader(const PcmView& pcm) : pcm_(pcm), path_(pcm.name), info_(pcm.info()) {}

AudioInfo PcmView::info() const {
  AudioInfo info;
  info.frames = first_frame + frames;
  info.sample_rate_hz = sample_rate_hz;
  info.channels = int(channels.size());
  info.format = "PCM float in memory";
  return info;
}
AudioReader::~AudioReader() = default;
AudioReader::AudioReader(AudioReader&&) noexcept = default;
AudioReader& AudioReader::operator=(AudioReader&&) noexcept = default;

namespace {
/// Frames [first, last) of the file for a range in seconds, clamped to the file.
std::pair<int64_t, int64_t> frame_range(const AudioInfo& info, double start_s, double end_s) {
  const int rate = info.sample_rate_hz;
  int64_t first =
      std::clamp<int64_t>(static_cast<int64_t>(std::floor(start_s * rate)), 0, info.frames);
  int64_t last =
      std::clamp<int64_t>(static_cast<int64_t>(std::ceil(end_s * rate)), first, info.frames);
  return {first, last};
}

/// soxr in streaming form: the same filter as soxr_oneshot, fed block by block.
class StreamResampler {
 public:
  StreamResampler(int from_hz, int to_hz) : from_hz_(from_hz), to_hz_(to_hz) {
    soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_error_t err = nullptr;
    soxr_ = soxr_create(from_hz, to_hz, 1, &err, &io, &quality, nullptr);
    if (err || !soxr_) throw DataError(std::string("resampling failed: ") + (err ? err : "?"));
    out_.resize(kBlockFrames * 2 + 64);
  }
  ~StreamResampler() { soxr_delete(soxr_); }
  StreamResampler(const StreamResampler&) = delete;
  StreamResampler& operator=(const StreamResampler&) = delete;

  void push(const float* in, size_t n, const std::function<void(const float*, size_t)>& sink) {
    in_total_ += n;
    size_t used = 0;
    do {
      size_t idone = 0, odone = 0;
      soxr_error_t err =
          soxr_process(soxr_, in + used, n - used, &idone, out_.data(), out_.size(), &odone);
      if (err) throw DataError(std::string("resampling failed: ") + err);
      used += idone;
      emit(odone, sink);
      if (idone == 0 && odone == 0) break;
    } while (used < n);
  }

  /// End of input: the resampler's tail, cut to round(n_in * to / from) samples in all as
  /// resample() does.
  void finish(const std::function<void(const float*, size_t)>& sink) {
    if (in_total_ == 0) return;
    limit_ = static_cast<size_t>(std::llround(double(in_total_) * to_hz_ / from_hz_));
    for (;;) {
      size_t odone = 0;
      soxr_error_t err =
          soxr_process(soxr_, nullptr, 0, nullptr, out_.data(), out_.size(), &odone);
      if (err) throw DataError(std::string("resampling failed: ") + err);
      if (odone == 0 || out_total_ >= limit_) break;
      emit(odone, sink);
    }
  }

 private:
  void emit(size_t n, const std::function<void(const float*, size_t)>& sink) {
    n = std::min(n, limit_ - out_total_);
    if (n > 0) sink(out_.data(), n);
    out_total_ += n;
  }
  soxr_t soxr_ = nullptr;
  int from_hz_, to_hz_;
  std::vector<float> out_;
  size_t in_total_ = 0, out_total_ = 0, limit_ = SIZE_MAX;
};
}  // namespace

void AudioReader::decode(int64_t first, int64_t last, int channel,
                         const std::function<void(const float*, size_t)>& sink) {
  if (channel >= info_.channels) {
    throw DataError(path_.string() + " has " + std::to_string(info_.channels) +
                    " channel(s); channel " + std::to_string(channel) + " does not exist");
  }
  if (!handle_) return decode_pcm(first, last, channel, sink);
  if (sf_seek(handle_->file.file, first, SEEK_SET) < 0) {
    throw DataError("cannot seek to " + format_number(double(first) / info_.sample_rate_hz) +
                    " s in " + path_.string());
  }
  const int channels = info_.channels;
  std::vector<float> block(static_cast<size_t>(kBlockFrames * channels));
  std::vector<float> mono(static_cast<size_t>(kBlockFrames));
  int64_t done = 0;
  while (done < last - first) {
    sf_count_t want = std::min<int64_t>(kBlockFrames, last - first - done);
    sf_count_t n = sf_readf_float(handle_->file.file, block.data(), want);
    if (n <= 0) break;
    for (sf_count_t i = 0; i < n; ++i) {
      float v;
      if (channel >= 0) {
        v = block[static_cast<size_t>(i * channels + channel)];
      } else {
        float sum = 0;
        for (int c = 0; c < channels; ++c) sum += block[static_cast<size_t>(i * channels + c)];
        v = sum / channels;
      }
      mono[static_cast<size_t>(i)] = std::isfinite(v) ? v : 0.0f;
    }
    sink(mono.data(), static_cast<size_t>(n));
    done += n;
  }
}

/// decode() of a PcmView: the same blocks, mixed down and non-finite samples zeroed alike.
void AudioReader::decode_pcm(int64_t first, int64_t last, int channel,
                             const std::function<void(const float*, size_t)>& sink) {
  if (first < pcm_.first_frame && last > first)
    throw DataError(pcm_.name + ": the audio before " +
                    format_number(double(pcm_.first_frame) / info_.sample_rate_hz) +
                    " s is no longer held, and " + format_number(double(first) / info_.sample_rate_hz) +
                    " s was asked for");
  const int channels = info_.channels;
  std::vector<float> mono(static_cast<size_t>(kBlockFrames));
  for (int64_t at = first; at < last;) {
    const int64_t n = std::min<int64_t>(kBlockFrames, last - at);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = at + i - pcm_.first_frame;
      float v;
      if (channel >= 0) {
        v = pcm_.channels[size_t(channel)][k];
      } else {
        float sum = 0;
        for (int c = 0; c < channels; ++c) sum += pcm_.channels[size_t(c)][k];
        v = sum / channels;
      }
      mono[size_t(i)] = std::isfinite(v) ? v : 0.0f;
    }
    sink(mono.data(), size_t(n));
    at += n;
  }
}

std::vector<float> AudioReader::read(double start_s, double end_s, int channel,
                                     int sample_rate_hz) {
  auto [first, last] = frame_range(info_, start_s, end_s);
  std::vector<float> mono;
  mono.reserve(static_cast<size_t>(last - first));
  decode(first, last, channel, [&](const float* x, size_t n) { mono.insert(mono.end(), x, x + n); });
  const int rate = info_.sample_rate_hz;
  if (sample_rate_hz > 0 && sample_rate_hz != rate) return resample(mono, rate, sample_rate_hz);
  return mono;
}

void AudioReader::read_blocks(double start_s, double end_s, int channel, int sample_rate_hz,
                              const std::function<void(const float*, size_t)>& sink) {
  auto [first, last] = frame_range(info_, start_s, end_s);
  const int rate = info_.sample_rate_hz;
  if (sample_rate_hz <= 0 || sample_rate_hz == rate) return decode(first, last, channel, sink);
  StreamResampler resampler(rate, sample_rate_hz);
  decode(first, last, channel,
         [&](const float* x, size_t n) { resampler.push(x, n, sink); });
  resampler.finish(sink);
}

std::vector<float> resample(const std::vector<float>& samples, int from_hz, int to_hz) {
  if (from_hz == to_hz || samples.empty()) return samples;
  const size_t out_len =
      static_cast<size_t>(std::llround(double(samples.size()) * to_hz / from_hz));
  std::vector<float> out(out_len);
  size_t produced = 0;
  soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  soxr_error_t err = soxr_oneshot(from_hz, to_hz, 1, samples.data(), samples.size(), nullptr,
                                  out.data(), out.size(), &produced, &io, &quality, nullptr);
  if (err) throw DataError(std::string("resampling failed: ") + err);
  out.resize(produced);
  return out;
}

void write_audio(const fs::path& path, const std::vector<float>& interleaved, int channels,
                 int sample_rate_hz) {
  SF_INFO info{};
  info.channels = channels;
  info.samplerate = sample_rate_hz;
  std::string ext = path.extension().string();
  info.format = (ext == ".flac" ? SF_FORMAT_FLAC : SF_FORMAT_WAV) | SF_FORMAT_PCM_16;
  fs::path temp = temp_path_beside(path);
  SNDFILE* f = sf_open(temp.c_str(), SFM_WRITE, &info);
  if (!f) throw IoError("cannot write audio " + path.string() + ": " + sf_strerror(nullptr));
  // Clip rather than wrap when converting to integers.
  sf_command(f, SFC_SET_CLIPPING, nullptr, SF_TRUE);
  sf_count_t frames = static_cast<sf_count_t>(interleaved.size() / std::max(1, channels));
  sf_count_t written = sf_writef_float(f, interleaved.data(), frames);
  sf_close(f);
  std::error_code ec;
  if (written != frames) {
    fs::remove(temp, ec);
    throw IoError("writing audio " + path.string() + " failed (disk full?)");
  }
  fs::rename(temp, path, ec);
  if (ec)
    throw IoError("cannot rename " + temp.string() + " to " + path.string() + ": " + ec.message());
}

}  // namespace tenor::data
