#pragma once
// Whisper's audio encoder (Radford et al. 2022) as a native LibTorch module: the 80-band log-mel
// Whisper computes (25 ms Hann frames every 10 ms at 16 kHz, Slaney mel bands, log10 floored
// 8 below the clip's loudest band), two GELU convolutions (the second halves the frame rate),
// sinusoidal positions, pre-LayerNorm self-attention blocks and a final LayerNorm. The weights
// are read from a CTranslate2 model.bin (tools/text-encoders/fetch.sh whisper-tiny-en lays one
// out); the log-mel and the states equal Hugging Face `transformers`' WhisperFeatureExtractor
// and WhisperEncoder on the same audio and weights within 1e-4 in fp32 (tests).
//
// A store built with `tenor data build --speech-encoder whisper-tiny-en` keeps each segment's
// pooled states (SpeechStates) as functional columns speech_0..speech_<width-1>, computed again
// for augmented rows, at `tenor predict` and by `tenor eval --dataset` (docs/feature-store.md).
// A linear probe on them carried RAVDESS anger through every degraded channel
// (docs/benchmarks.md, "Sixteenth pass").

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <c10/core/Device.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace tenor::features {

/// Every variable of a CTranslate2 model.bin (binary version 6), by name: floating point
/// variables as float32, integer ones as int64. DataError naming the file and the fix when it
/// is truncated, of another version or holds a type this does not read.
std::map<std::string, torch::Tensor> read_ctranslate2(const std::filesystem::path& file);

namespace whisper {

constexpr int64_t kSampleRate = 16000;
constexpr int64_t kHop = 160;             ///< samples between log-mel frames (10 ms)
constexpr int64_t kWindowSamples = 480000;  ///< the 30 s every input is padded to

/// The Slaney-scale triangular mel filters of Whisper's log-mel (librosa's, which
/// transformers reproduces): [mels, 201] for its 400-point FFT at 16 kHz, 0 to 8000 Hz.
torch::Tensor mel_filters(int64_t mels);

/// Whisper's log-mel of 16 kHz mono audio [B, S] (float, -1 to 1): [B, mels, S / 160].
torch::Tensor log_mel(const torch::Tensor& audio, const torch::Tensor& filters);

struct BlockImpl : torch::nn::Module {
  BlockImpl(int64_t width, int64_t heads, int64_t ffn);
  /// [B, L, width] -> [B, kept, width]: the states of the first `keep` positions (all when
  /// keep < 0), each attending over all L.
  torch::Tensor forward(const torch::Tensor& x, int64_t keep = -1);
  torch::nn::LayerNorm attention_norm{nullptr}, ffn_norm{nullptr};
  torch::nn::Linear qkv{nullptr}, out{nullptr}, ffn_in{nullptr}, ffn_out{nullptr};
  int64_t heads;
};
TORCH_MODULE(Block);

}  // namespace whisper

struct WhisperEncoderImpl : torch::nn::Module {
  WhisperEncoderImpl(int64_t mels, int64_t width, int64_t layers, int64_t heads, int64_t ffn,
                     int64_t positions);
  /// log-mel [B, mels, T] (T even, at most 2 x positions) -> states [B, T / 2, width], or of
  /// the first `keep` frames only (the last block computes no others; keep < 0: all).
  torch::Tensor forward(const torch::Tensor& mel, int64_t keep = -1);
  /// 16 kHz mono clips [B, S], each of `samples[b]` samples (at most `window`), padded with
  /// silence to `window` samples (30 s, as Whisper was trained; 640 at least) -> [B, width]:
  /// the mean of the final states over each clip's own frames (the padding's are left out).
  torch::Tensor pooled(const torch::Tensor& audio, const std::vector<int64_t>& samples,
                       int64_t window = whisper::kWindowSamples);

  torch::nn::Conv1d conv1{nullptr}, conv2{nullptr};
  torch::Tensor positions, filters;  ///< buffers: sinusoids [positions, width]; mel_filters
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(WhisperEncoder);

/// The encoder of DIR/model.bin (a CTranslate2 Whisper model), in eval mode: DataError naming
/// the file and the fix when a variable is missing or of another shape.
WhisperEncoder load_whisper_encoder(const std::filesystem::path& dir);

/// The speech encoders tools/text-encoders/fetch.sh knows (`tenor data build --speech-encoder`).
const std::vector<std::string>& known_speech_encoders();

/// The directory of speech encoder `name_or_dir`: a known name lives where fetch.sh lays it out
/// (${XDG_CACHE_HOME:-$HOME/.cache}/tenor/speech-encoders/NAME); anything else is a directory.
/// Checks that model.bin is there: ConfigError naming `key`, the value and the fix.
std::filesystem::path resolve_speech_encoder(const std::string& name_or_dir,
                                             const std::string& key = "--speech-encoder");

/// How a window of a segment is shown to the encoder (BuildOptions::speech_window): padded with
/// silence to Whisper's 30 s, as it was trained, or alone, on its own frames.
enum class SpeechWindow { padded, clip };

/// A segment's pooled speech-encoder states, as a feature store keeps them: the encoder of a
/// directory (resolve_speech_encoder) on one device, its weights identified by model.bin's
/// SHA-256. Calls may come from several threads at once (the module is only read).
class SpeechStates {
 public:
  /// Loads DIR/model.bin onto `device`, to show it each window as `window` says. With
  /// `expected_sha256`, DataError when model.bin is another file than the one a store or model
  /// was built with (naming both and the fix).
  SpeechStates(const std::filesystem::path& dir, c10::Device device,
               SpeechWindow window = SpeechWindow::padded,
               const std::string& expected_sha256 = "");
  int64_t width() const { return width_; }
  const std::string& sha256() const { return sha256_; }
  /// Per clip (16 kHz mono, `samples[i]` floats at `clips[i]`): the final states averaged over
  /// the clip's own frames. A clip over 30 s is cut into 30 s windows, each padded to 30 s as
  /// Whisper was trained (or, with SpeechWindow::clip, to a whole number of encoder frames, at
  /// least two), and the mean taken over the frames of all of them; each window is run alone, so a
  /// clip's states do not depend on the clips given with it. An empty clip gives an empty
  /// vector.
  std::vector<std::vector<float>> operator()(const std::vector<const float*>& clips,
                                             const std::vector<int64_t>& samples) const;

 private:
  mutable WhisperEncoder encoder_{nullptr};
  c10::Device device_;
  SpeechWindow window_ = SpeechWindow::padded;
  std::string sha256_;
  int64_t width_ = 0;
};

}  // namespace tenor::features
