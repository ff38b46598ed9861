#include "data/features/speech_encoder.h"

#include <cmath>
#include <cstring>

#include <torch/torch.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/fetch_cache.h"
#include "core/sha256.h"
#include "core/text.h"
#include "core/torch_compat.h"
#include "data/spectrum.h"

namespace tenor::features {
namespace fs = std::filesystem;

namespace {

/// Reads model.bin front to back; every read past the end is a DataError naming the file.
class Reader {
 public:
  explicit Reader(const fs::path& path) : file_(path.string()), bytes_(read_file(path)) {}
  template <typename T>
  T take() {
    need(sizeof(T));
    T value;
    std::memcpy(&value, bytes_.data() + at_, sizeof(T));  // little-endian, as x86 and ARM
    at_ += sizeof(T);
    return value;
  }
  std::string string() {
    const auto n = take<uint16_t>();  // with its terminating NUL
    need(n);
    std::string s(bytes_.data() + at_, n == 0 ? 0 : n - 1);
    at_ += n;
    return s;
  }
  const char* bytes(size_t n) {
    need(n);
    const char* p = bytes_.data() + at_;
    at_ += n;
    return p;
  }
  DataError damaged(const std::string& what) const {
    return DataError(file_ + " is damaged (" + what + " at byte " + std::to_string(at_) +
                     "); fetch it again: tools/text-encoders/fetch.sh whisper-tiny-en");
  }

 private:
  void need(size_t n) const {
    if (n > bytes_.size() - at_) throw damaged("it ends early");
  }
  std::string file_, bytes_;
  size_t at_ = 0;
};

torch::ScalarType ct2_type(int code, const Reader& in, const std::string& name) {
  switch (code) {  // CTranslate2's DataType
    case 0: return torch::kFloat;
    case 1: return torch::kChar;
    case 2: return torch::kShort;
    case 3: return torch::kInt;
    case 4: return torch::kHalf;
    case 5: return torch::kBFloat16;
    default: throw in.damaged("variable " + name + " has type code " + std::to_string(code));
  }
}

}  // namespace

std::map<std::string, torch::Tensor> read_ctranslate2(const fs::path& file) {
  Reader in(file);
  if (const auto version = in.take<uint32_t>(); version != 6)
    throw DataError(file.string() + " is a CTranslate2 model of binary version " +
                    std::to_string(version) + "; tenor reads version 6: fetch it again with "
                    "tools/text-encoders/fetch.sh whisper-tiny-en");
  in.string();           // the spec's name
  in.take<uint32_t>();   // its revision
  std::map<std::string, torch::Tensor> out;
  for (auto n = in.take<uint32_t>(); n > 0; --n) {
    const std::string name = in.string();
    std::vector<int64_t> shape(in.take<uint8_t>());
    for (auto& d : shape) d = in.take<uint32_t>();
    const auto type = ct2_type(in.take<uint8_t>(), in, name);
    const auto nbytes = in.take<uint32_t>();
    auto t = torch::empty(shape, torch::TensorOptions().dtype(type));
    if (size_t(t.numel()) * t.element_size() != nbytes)
      throw in.damaged("variable " + name + " holds " + std::to_string(nbytes) +
                       " bytes for shape " + c10::str(t.sizes()));
    std::memcpy(t.data_ptr(), in.bytes(nbytes), nbytes);
    out[name] = t.is_floating_point() ? t.to(torch::kFloat) : t.to(torch::kLong);
  }
  return out;
}

namespace whisper {

torch::Tensor mel_filters(int64_t mels) {
  constexpr size_t kFft = 400;
  const auto f = data::mel_filters(kFft, kSampleRate, size_t(mels), 0, kSampleRate / 2.0,
                                   data::MelScale::slaney, /*equal_area=*/true);
  return torch::tensor(f.weights, torch::kDouble)
      .view({int64_t(kFft / 2 + 1), mels})
      .t()
      .to(torch::kFloat)
      .contiguous();
}

torch::Tensor log_mel(const torch::Tensor& audio, const torch::Tensor& filters) {
  constexpr int64_t kFft = 400;
  // Frames centred on every hop (the ends mirrored), as torch.stft(center=True) frames them;
  // the last frame is dropped, as Whisper does.
  const auto mirrored = torch::reflection_pad1d(audio.unsqueeze(1), {kFft / 2, kFft / 2});
  auto frames = mirrored.squeeze(1).unfold(-1, kFft, kHop);
  frames = frames.slice(1, 0, frames.size(1) - 1) * torch::hann_window(kFft, audio.options());
  const auto power = compat::power(compat::rfft(frames, kFft));  // [B, frames, 201]
  auto mel = torch::matmul(filters, power.transpose(1, 2)).clamp_min(1e-10).log10();
  const auto loudest = std::get<0>(mel.flatten(1).max(1)).view({-1, 1, 1});
  return (torch::maximum(mel, loudest - 8.0) + 4.0) / 4.0;
}

BlockImpl::BlockImpl(int64_t width, int64_t heads, int64_t ffn)
    : attention_norm(register_module("attention_norm",
                                     torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
      ffn_norm(register_module("ffn_norm",
                               torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
      qkv(register_module("qkv", torch::nn::Linear(width, 3 * width))),
      out(register_module("out", torch::nn::Linear(width, width))),
      ffn_in(register_module("ffn_in", torch::nn::Linear(width, ffn))),
      ffn_out(register_module("ffn_out", torch::nn::Linear(ffn, width))),
      heads(heads) {}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, int64_t keep) {
  const int64_t rows = x.size(0), length = x.size(1), width = x.size(2);
  const int64_t kept = keep < 0 ? length : std::min(keep, length);
  auto parts = qkv(attention_norm(x)).view({rows, length, 3, heads, width / heads});
  parts = parts.permute({2, 0, 3, 1, 4});  // [3, B, heads, L, head width]
  // Every position is a key and a value; only the kept ones ask (are queries).
  const auto attended = compat::attention(parts[0].slice(2, 0, kept), parts[1], parts[2]);
  auto y = x.slice(1, 0, kept) + out(attended.transpose(1, 2).reshape({rows, kept, width}));
  return y + ffn_out(torch::gelu(ffn_in(ffn_norm(y))));
}

}  // namespace whisper

WhisperEncoderImpl::WhisperEncoderImpl(int64_t mels, int64_t width, int64_t layers,
                                       int64_t heads, int64_t ffn, int64_t positions)
    : conv1(register_module(
          "conv1", torch::nn::Conv1d(torch::nn::Conv1dOptions(mels, width, 3).padding(1)))),
      conv2(register_module("conv2", torch::nn::Conv1d(torch::nn::Conv1dOptions(width, width, 3)
                                                           .stride(2)
                                                           .padding(1)))),
      positions(register_buffer("positions", torch::zeros({positions, width}))),
      filters(register_buffer("filters", whisper::mel_filters(mels))),
      blocks(register_module("blocks", torch::nn::ModuleList())),
      norm(register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))) {
  for (int64_t i = 0; i < layers; ++i) blocks->push_back(whisper::Block(width, heads, ffn));
}

torch::Tensor WhisperEncoderImpl::forward(const torch::Tensor& mel, int64_t keep) {
  auto x = torch::gelu(conv2(torch::gelu(conv1(mel)))).transpose(1, 2);
  x = x + positions.slice(0, 0, x.size(1));
  const size_t n = blocks->size();
  for (size_t i = 0; i < n; ++i)
    x = (*blocks)[i]->as<whisper::Block>()->forward(x, i + 1 == n ? keep : -1);
  return norm(x);
}

torch::Tensor WhisperEncoderImpl::pooled(const torch::Tensor& audio,
                                         const std::vector<int64_t>& samples, int64_t window) {
  const int64_t rows = audio.size(0);
  TORCH_CHECK(int64_t(samples.size()) == rows, "one length per clip");
  TORCH_CHECK(window >= 640 && window <= whisper::kWindowSamples, "a window of 640 to 480000");
  auto padded = torch::zeros({rows, window}, audio.options());
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t n = samples[size_t(b)];
    TORCH_CHECK(n <= window && n <= audio.size(1),
                "a clip is longer than the window or than its row");
    padded[b].slice(0, 0, n) = audio[b].slice(0, 0, n);
  }
  const auto mel = whisper::log_mel(padded, filters);
  // Each clip's own frames, the only final states the mean reads: the last block computes
  // those of the longest clip's (the padding's are still keys and values in every block).
  auto frames = [&](int64_t b) {
    return std::max<int64_t>(1, (samples[size_t(b)] / whisper::kHop + 1) / 2);
  };
  int64_t keep = 1;
  for (int64_t b = 0; b < rows; ++b) keep = std::max(keep, frames(b));
  const auto states = forward(mel.slice(2, 0, mel.size(2) - mel.size(2) % 2), keep);
  auto out = torch::empty({rows, states.size(2)}, states.options());
  for (int64_t b = 0; b < rows; ++b) out[b] = states[b].slice(0, 0, frames(b)).mean(0);
  return out;
}

WhisperEncoder load_whisper_encoder(const fs::path& dir) {
  const fs::path file = dir / "model.bin";
  if (!fs::exists(file))
    throw DataError(file.string() + " is missing; fetch the encoder: "
                    "tools/text-encoders/fetch.sh whisper-tiny-en");
  auto v = read_ctranslate2(file);
  auto get = [&](const std::string& name) -> torch::Tensor& {
    auto it = v.find("encoder/" + name);
    if (it == v.end())
      throw DataError(file.string() + " has no variable encoder/" + name +
                      "; it is not a Whisper model: fetch it again with "
                      "tools/text-encoders/fetch.sh whisper-tiny-en");
    return it->second;
  };
  const auto& conv1 = get("conv1/weight");
  const auto& ffn = get("layer_0/ffn/linear_0/bias");
  const auto& positions = get("position_encodings/encodings");
  int64_t layers = 0;
  while (v.count("encoder/layer_" + std::to_string(layers) + "/ffn/linear_0/bias")) ++layers;
  WhisperEncoder encoder(conv1.size(1), conv1.size(0), layers, get("num_heads").item<int64_t>(),
                         ffn.size(0), positions.size(0));
  std::map<std::string, std::string> names = {
      {"conv1.weight", "conv1/weight"}, {"conv1.bias", "conv1/bias"},
      {"conv2.weight", "conv2/weight"}, {"conv2.bias", "conv2/bias"},
      {"positions", "position_encodings/encodings"},
      {"norm.weight", "layer_norm/gamma"}, {"norm.bias", "layer_norm/beta"}};
  for (int64_t i = 0; i < layers; ++i) {
    const std::string ours = "blocks." + std::to_string(i) + ".";
    const std::string theirs = "layer_" + std::to_string(i) + "/";
    for (const auto& [a, b] : std::map<std::string, std::string>{
             {"attention_norm.weight", "self_attention/layer_norm/gamma"},
             {"attention_norm.bias", "self_attention/layer_norm/beta"},
             {"qkv.weight", "self_attention/linear_0/weight"},
             {"qkv.bias", "self_attention/linear_0/bias"},
             {"out.weight", "self_attention/linear_1/weight"},
             {"out.bias", "self_attention/linear_1/bias"},
             {"ffn_norm.weight", "ffn/layer_norm/gamma"},
             {"ffn_norm.bias", "ffn/layer_norm/beta"},
             {"ffn_in.weight", "ffn/linear_0/weight"}, {"ffn_in.bias", "ffn/linear_0/bias"},
             {"ffn_out.weight", "ffn/linear_1/weight"}, {"ffn_out.bias", "ffn/linear_1/bias"}})
      names[ours + a] = theirs + b;
  }
  torch::NoGradGuard no_grad;
  auto assign = [&](const std::string& ours, torch::Tensor& to) {
    const auto& from = get(names.at(ours));
    if (from.sizes() != to.sizes())
      throw DataError(file.string() + ": encoder/" + names.at(ours) + " has shape " +
                      c10::str(from.sizes()) + " where " + c10::str(to.sizes()) +
                      " belongs; fetch it again with tools/text-encoders/fetch.sh whisper-tiny-en");
    to.copy_(from);
  };
  for (auto& p : encoder->named_parameters()) assign(p.key(), p.value());
  assign("positions", encoder->positions);
  encoder->eval();
  return encoder;
}

const std::vector<std::string>& known_speech_encoders() {
  static const std::vector<std::string> names = {"whisper-tiny-en"};
  return names;
}

fs::path resolve_speech_encoder(const std::string& value, const std::string& key) {
  const auto& known = known_speech_encoders();
  const bool is_name = std::find(known.begin(), known.end(), value) != known.end();
  fs::path dir = value;
  if (is_name) dir = fetch_cache_dir() / "speech-encoders" / value;
  std::error_code ec;
  if (!is_name && !fs::is_directory(dir, ec)) {
    const std::string near = nearest(value, known);
    throw ConfigError(key + ": '" + value + "' is neither a known speech encoder (" +
                      join(known, ", ") + ") nor a directory" +
                      (near.empty() ? "" : "; did you mean '" + near + "'?"));
  }
  if (!fs::is_regular_file(dir / "model.bin", ec))
    throw ConfigError(key + ": " + dir.string() + " has no model.bin; " +
                      (is_name ? "fetch the encoder with `tools/text-encoders/fetch.sh " + value +
                                     "`"
                               : std::string("give a directory laid out like "
                                             "tools/text-encoders/fetch.sh whisper-tiny-en "
                                             "lays one out (a CTranslate2 Whisper model.bin)")));
  return dir;
}

SpeechStates::SpeechStates(const fs::path& dir, c10::Device device, SpeechWindow window,
                           const std::string& expected_sha256)
    : device_(device), window_(window) {
  const fs::path file = dir / "model.bin";
  sha256_ = Sha256().update_file(file).hex();
  if (!expected_sha256.empty() && sha256_ != expected_sha256)
    throw DataError(file.string() + " has SHA-256 " + sha256_.substr(0, 12) +
                    ", but the features were built with the speech encoder of SHA-256 " +
                    expected_sha256.substr(0, 12) +
                    ": fetch the same weights again (tools/text-encoders/fetch.sh), or rebuild "
                    "the store and retrain with these");
  encoder_ = load_whisper_encoder(dir);
  encoder_->to(device_);
  width_ = encoder_->norm->options.normalized_shape()[0];
}

std::vector<std::vector<float>> SpeechStates::operator()(
    const std::vector<const float*>& clips, const std::vector<int64_t>& samples) const {
  // Every clip's 30 s windows, each run alone (its states then do not depend on windows beside
  // it in a batch, so a copy kept by augment.copies is what a resumed run computes again, bit
  // for bit); a clip's pooled states are the frame-weighted mean of its windows'.
  struct Window {
    size_t clip;
    int64_t from, samples, frames;
  };
  std::vector<Window> windows;
  for (size_t i = 0; i < clips.size(); ++i)
    for (int64_t from = 0; from < samples[i]; from += whisper::kWindowSamples) {
      const int64_t n = std::min(whisper::kWindowSamples, samples[i] - from);
      windows.push_back({i, from, n, std::max<int64_t>(1, (n / whisper::kHop + 1) / 2)});
    }
  std::vector<torch::Tensor> sums(clips.size());
  std::vector<int64_t> frames(clips.size(), 0);
  torch::NoGradGuard no_grad;
  constexpr int64_t kFrame = 2 * whisper::kHop;  // samples per encoder state
  for (const Window& w : windows) {
    // Padded: to Whisper's 30 s. Alone: to whole encoder frames, at least two (the log-mel
    // mirrors 200 samples at each end), the silence added being under 20 ms.
    const int64_t length =
        window_ == SpeechWindow::padded
            ? whisper::kWindowSamples
            : std::max<int64_t>(2 * kFrame, (w.samples + kFrame - 1) / kFrame * kFrame);
    auto audio = torch::empty({1, w.samples});
    std::memcpy(audio.data_ptr<float>(), clips[w.clip] + w.from,
                size_t(w.samples) * sizeof(float));
    const auto weighted =
        encoder_->pooled(audio.to(device_), {w.samples}, length).to(torch::kCPU)[0] *
        double(w.frames);
    sums[w.clip] = sums[w.clip].defined() ? sums[w.clip] + weighted : weighted;
    frames[w.clip] += w.frames;
  }
  std::vector<std::vector<float>> out(clips.size());
  for (size_t i = 0; i < clips.size(); ++i) {
    if (!frames[i]) continue;
    const auto mean = (sums[i] / double(frames[i])).contiguous();
    out[i].assign(mean.data_ptr<float>(), mean.data_ptr<float>() + mean.numel());
  }
  return out;
}

}  // namespace tenor::features
