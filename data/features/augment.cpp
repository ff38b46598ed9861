#include "data/features/augment.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "data/dataset.h"
#include "core/sha256.h"
#include "data/audio.h"
#include "data/features/build.h"
#include "data/features/device.h"
#include "data/features/functionals.h"
#include "data/features/lld.h"
#include "data/features/speech_encoder.h"

namespace tenor::features {
namespace fs = std::filesystem;

// ---- configuration and draws ----

namespace {

void check_range(bool ok, const std::string& key, double value, const std::string& expected) {
  if (!ok) {
    std::ostringstream v;
    v << value;
    throw ConfigError("config key '" + key + "' is " + v.str() + "; " + expected);
  }
}

void check_probability(const std::string& key, double p) {
  check_range(p >= 0 && p <= 1, key, p, "a probability lies in [0, 1]");
}

void check_interval(const std::string& prefix, const std::string& name, double lo, double hi,
                    double min, double max, const std::string& unit) {
  const std::string range = "use " + format_number(min) + " .. " + format_number(max) + unit;
  check_range(lo >= min && lo <= max, prefix + name + "_min", lo, range);
  check_range(hi >= min && hi <= max, prefix + name + "_max", hi, range);
  check_range(lo <= hi, prefix + name + "_min", lo,
              "it must not exceed " + prefix + name + "_max (" + format_number(hi) + ")");
}

/// splitmix64 (Steele et al. 2014): the draws' generator, the same on every platform.
struct SplitMix {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  ///< [0, 1)
  double in(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool chance(double p) { return uniform() < p; }
};

}  // namespace

void AugmentConfig::validate(const std::string& p) const {
  check_probability(p + "probability", probability);
  check_probability(p + "speed_probability", speed_probability);
  check_probability(p + "reverb_probability", reverb_probability);
  check_probability(p + "noise_probability", noise_probability);
  check_probability(p + "agc_probability", agc_probability);
  check_probability(p + "telephone_probability", telephone_probability);
  check_probability(p + "telephone_alaw_share", telephone_alaw_share);
  check_probability(p + "gain_probability", gain_probability);
  check_probability(p + "noise_data_share", noise_data_share);
  check_interval(p, "speed", speed_min, speed_max, 0.5, 2, "");
  check_interval(p, "reverb_rt60_s", reverb_rt60_s_min, reverb_rt60_s_max, 0.01, 2, " s");
  check_interval(p, "noise_snr_db", noise_snr_db_min, noise_snr_db_max, -20, 100, " dB");
  if (noise_reference != "segment" && noise_reference != "call")
    throw ConfigError("config key '" + p + "noise_reference' is '" + noise_reference +
                      "'; use segment (the SNR against each row's own audio) or call (against "
                      "the whole channel of the call the row is cut from)");
  check_interval(p, "agc_target_db", agc_target_db_min, agc_target_db_max, -60, 0, " dBFS");
  check_interval(p, "agc_ratio", agc_ratio_min, agc_ratio_max, 1, 100, "");
  check_interval(p, "gain_db", gain_db_min, gain_db_max, -60, 40, " dB");
  check_range(consistency >= 0 && consistency <= 100, p + "consistency", consistency,
              "use a weight in 0 .. 100 (0: off)");
  check_range(copies >= 0 && copies <= 1000, p + "copies", copies,
              "use 0 (a new chain every epoch) or 1 .. 1000 fixed chains per row");
  check_range(consistency == 0 || probability > 0, p + "consistency", consistency,
              "it compares augmented rows with their clean features, and " + p +
                  "probability is 0: set " + p + "probability above 0, or consistency to 0");
}

uint64_t augment_seed(uint64_t run_seed, int64_t epoch, int64_t row) {
  SplitMix a{run_seed ^ 0x6175676d656e74ULL};  // "augment": not the order's or dropout's seed
  SplitMix b{a.next() ^ uint64_t(epoch)};
  SplitMix c{b.next() ^ uint64_t(row)};
  return c.next();
}

AugmentDraw draw_augment(const AugmentConfig& c, uint64_t seed) {
  SplitMix g{seed};
  AugmentDraw d;
  d.seed = g.next();
  if (!g.chance(c.probability)) return d;
  // Every value is drawn whether or not its op applies, so one op's probability does not
  // shift the values of the others.
  d.speed = g.chance(c.speed_probability);
  d.speed_factor = g.in(c.speed_min, c.speed_max);
  d.reverb = g.chance(c.reverb_probability);
  d.rt60_s = g.in(c.reverb_rt60_s_min, c.reverb_rt60_s_max);
  d.noise = g.chance(c.noise_probability);
  d.snr_db = g.in(c.noise_snr_db_min, c.noise_snr_db_max);
  d.noise_color = int(g.next() % 3);
  d.agc = g.chance(c.agc_probability);
  d.agc_target_db = g.in(c.agc_target_db_min, c.agc_target_db_max);
  d.agc_ratio = g.in(c.agc_ratio_min, c.agc_ratio_max);
  d.telephone = g.chance(c.telephone_probability);
  d.alaw = g.chance(c.telephone_alaw_share);
  d.gain = g.chance(c.gain_probability);
  d.gain_db = g.in(c.gain_db_min, c.gain_db_max);
  d.data_noise = g.chance(c.noise_data_share);  // last: the draws above keep their values
  return d;
}

// ---- ops ----

namespace {

/// [B, N] bool: sample n of row b lies within lengths[b].
at::Tensor valid_mask(const at::Tensor& x, const at::Tensor& lengths) {
  auto n = at::arange(x.size(1), lengths.options());
  return n.unsqueeze(0) < lengths.unsqueeze(1);
}

at::Tensor zero_past_length(const at::Tensor& y, const at::Tensor& lengths) {
  return y * valid_mask(y, lengths).to(y.scalar_type());
}

at::Tensor per_row(const at::Tensor& v, const at::Tensor& like) {
  return v.to(like.device(), at::kFloat).reshape({-1, 1});
}

void check_batch(const at::Tensor& x, const at::Tensor& lengths) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == at::kFloat, "augment: x must be [B, N] float");
  TORCH_CHECK(lengths.dim() == 1 && lengths.size(0) == x.size(0),
              "augment: lengths must be [B]");
}

/// Zeroes every bin of spectrum X (of an n-sample signal at `rate`) outside [lo, hi] Hz.
at::Tensor band_limit(const at::Tensor& X, int64_t n, double rate, double lo, double hi) {
  auto f = at::arange(X.size(1), X.options().dtype(at::kFloat)) * float(rate / double(n));
  return X * ((f >= float(lo)) & (f <= float(hi))).to(X.scalar_type());
}

/// G.711 mu-law (mu = 255) or A-law (A = 87.6) companding, 8-bit quantisation, expansion.
at::Tensor g711(const at::Tensor& x, const at::Tensor& alaw) {
  auto a = x.clamp(-1, 1).abs(), s = x.sign();
  const double mu = 255, A = 87.6, la = 1 + std::log(A);
  auto mu_c = at::log1p(mu * a) / std::log1p(mu);
  auto a_c = at::where(a < 1 / A, A * a / la, (1 + at::log((A * a).clamp_min(1e-12))) / la);
  auto quant = [](const at::Tensor& y) { return at::round(y * 127) / 127; };
  auto mu_x = (at::pow(1 + mu, quant(mu_c)) - 1) / mu;
  auto qa = quant(a_c);
  auto a_x = at::where(qa < 1 / la, qa * la / A, at::exp(qa * la - 1) / A);
  return s * at::where(alaw.to(x.device()).reshape({-1, 1}), a_x, mu_x);
}

}  // namespace

at::Tensor gain_op(const at::Tensor& x, const at::Tensor& lengths, const at::Tensor& gain_db) {
  check_batch(x, lengths);
  auto g = at::pow(10.0, per_row(gain_db, x) / 20);
  return zero_past_length((x * g).clamp(-1, 1), lengths);
}

at::Tensor agc_op(const at::Tensor& x, const at::Tensor& lengths, const at::Tensor& target_db,
                  const at::Tensor& ratio, int sample_rate_hz) {
  check_batch(x, lengths);
  const int64_t hop = std::max<int64_t>(1, sample_rate_hz / 100), win = 5 * hop;
  auto power = at::avg_pool1d((x * x).unsqueeze(1), {win}, {hop}, {win / 2}, true, true);
  auto level_db = 10 * at::log10(power.squeeze(1) + 1e-10);
  auto gain_db =
      ((per_row(target_db, x) - level_db) * (1 - 1 / per_row(ratio, x))).clamp(-20, 20);
  // Smoothed over 100 ms (10 steps), as an AGC's attack and release do.
  gain_db = at::avg_pool1d(gain_db.unsqueeze(1), {11}, {1}, {5}, true, false).squeeze(1);
  auto gain = at::pow(10.0, gain_db / 20).repeat_interleave(hop, 1);
  if (gain.size(1) < x.size(1))
    gain = at::cat({gain, gain.narrow(1, gain.size(1) - 1, 1).expand(
                              {x.size(0), x.size(1) - gain.size(1)})},
                   1);
  return zero_past_length((x * gain.narrow(1, 0, x.size(1))).clamp(-1, 1), lengths);
}

at::Tensor telephone_op(const at::Tensor& x, const at::Tensor& lengths, const at::Tensor& alaw,
                        int sample_rate_hz) {
  check_batch(x, lengths);
  const int64_t rate = sample_rate_hz, n = x.size(1);
  // Padded so that the 8 kHz signal has a whole number of samples, plus 64 ms against the
  // wrap-around of the circular filters.
  const int64_t step = rate / std::gcd(rate, int64_t{8000});
  const int64_t padded = ((n + rate * 64 / 1000 + step - 1) / step) * step;
  const int64_t narrow = rate > 8000 ? padded * 8000 / rate : padded;
  auto X = band_limit(at::fft_rfft(x, padded, 1), padded, double(rate), 300, 3400);
  auto x8 = at::fft_irfft(X.narrow(1, 0, narrow / 2 + 1), narrow, 1) *
            float(double(narrow) / double(padded));
  auto coded = g711(x8, alaw);
  auto Y = at::fft_rfft(coded, narrow, 1);
  Y = band_limit(Y, narrow, double(rate) * double(narrow) / double(padded), 300, 3400);
  Y = at::constant_pad_nd(Y, {0, padded / 2 + 1 - Y.size(1)});
  auto y = at::fft_irfft(Y, padded, 1) * float(double(padded) / double(narrow));
  return zero_past_length(y.narrow(1, 0, n).contiguous(), lengths);
}

at::Tensor noise_op(const at::Tensor& x, const at::Tensor& lengths, const at::Tensor& snr_db,
                    const at::Tensor& noise) {
  check_batch(x, lengths);
  TORCH_CHECK(noise.dim() == 2 && noise.size(0) == x.size(0) && noise.size(1) >= x.size(1),
              "augment: noise must be [B, >= N]");
  auto mask = valid_mask(x, lengths).to(at::kFloat);
  auto count = lengths.to(at::kFloat).clamp_min(1).reshape({-1, 1});
  auto nz = noise.narrow(1, 0, x.size(1)).to(x.device()) * mask;
  auto p_signal = (x * x).sum(1, true) / count;
  auto p_noise = (nz * nz).sum(1, true) / count;
  auto snr = at::pow(10.0, per_row(snr_db, x) / 10);
  auto scale = at::sqrt(p_signal / (p_noise.clamp_min(1e-20) * snr));
  return x + nz * scale;
}

at::Tensor generated_noise(int64_t samples, int color, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto white = at::randn({std::max<int64_t>(samples, 1)}, gen, at::kFloat);
  at::Tensor shaped = white;
  if (color > 0) {
    auto X = at::fft_rfft(white);
    auto k = at::arange(X.size(0), at::kFloat).clamp_min(1);
    X = X / at::pow(k, 0.5 * color);  // power 1/f^color
    X.index_put_({0}, 0);
    shaped = at::fft_irfft(X, white.size(0));
  }
  auto rms = at::sqrt((shaped * shaped).mean()).clamp_min(1e-12);
  return (shaped / rms).narrow(0, 0, samples).contiguous();
}

std::vector<float> non_speech(const std::vector<float>& x, int sample_rate_hz) {
  const size_t frame = size_t(std::max(1, sample_rate_hz / 50));  // 20 ms
  const size_t frames = x.size() / frame;
  std::vector<double> level_db(frames);
  double loudest = -1e300;
  for (size_t i = 0; i < frames; ++i) {
    double sum = 0;
    for (size_t k = i * frame; k < (i + 1) * frame; ++k) sum += double(x[k]) * x[k];
    level_db[i] = 10 * std::log10(sum / double(frame) + 1e-30);
    loudest = std::max(loudest, level_db[i]);
  }
  std::vector<float> out;
  for (size_t i = 0; i < frames; ++i)
    if (level_db[i] <= loudest - kNonSpeechFloorDb && level_db[i] > -100)
      out.insert(out.end(), x.begin() + long(i * frame), x.begin() + long((i + 1) * frame));
  return out;
}

at::Tensor room_impulse_response(double rt60_s, int sample_rate_hz, uint64_t seed) {
  const int64_t n = std::max<int64_t>(2, int64_t(std::ceil(rt60_s * sample_rate_hz)));
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto t = at::arange(n, at::kDouble) / double(sample_rate_hz);
  // amplitude 10^(-3 t / rt60): the energy falls 60 dB over rt60
  auto tail = at::randn({n}, gen, at::kDouble) * at::pow(10.0, -3 * t / rt60_s);
  tail = tail / at::sqrt((tail * tail).sum()).clamp_min(1e-12);
  tail.index_put_({0}, tail[0] + 1);  // the direct path, as much energy as the tail
  return (tail / at::sqrt((tail * tail).sum())).to(at::kFloat);
}

at::Tensor reverb_op(const at::Tensor& x, const at::Tensor& lengths, const at::Tensor& rirs) {
  check_batch(x, lengths);
  const int64_t n = x.size(1), nfft = n + rirs.size(1) - 1;
  auto Y = at::fft_rfft(x, nfft, 1) * at::fft_rfft(rirs.to(x.device(), at::kFloat), nfft, 1);
  return zero_past_length(at::fft_irfft(Y, nfft, 1).narrow(1, 0, n).contiguous(), lengths);
}

Waveforms speed_op(const Waveforms& x, const std::vector<double>& factors) {
  check_batch(x.samples, x.lengths);
  const auto lengths = x.lengths.to(at::kCPU);
  const int64_t b = x.samples.size(0);
  std::vector<int64_t> out_len(static_cast<size_t>(b));
  std::vector<at::Tensor> rows;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t n = lengths[i].item<int64_t>();
    const int64_t m = std::max<int64_t>(1, std::llround(double(n) / factors[size_t(i)]));
    out_len[size_t(i)] = n > 0 ? m : 0;
    if (n == 0 || factors[size_t(i)] == 1.0) {  // unchanged, not rounded through an FFT
      out_len[size_t(i)] = n;
      rows.push_back(x.samples[i].narrow(0, 0, n));
      continue;
    }
    auto X = at::fft_rfft(x.samples[i].narrow(0, 0, n));
    const int64_t bins = m / 2 + 1;
    X = bins <= X.size(0) ? X.narrow(0, 0, bins) : at::constant_pad_nd(X, {0, bins - X.size(0)});
    rows.push_back(at::fft_irfft(X, m) * float(double(m) / double(n)));
  }
  const int64_t width = std::max<int64_t>(1, *std::max_element(out_len.begin(), out_len.end()));
  Waveforms out{x.samples.new_zeros({b, width}),
                at::tensor(out_len, at::kLong).to(x.samples.device())};
  for (int64_t i = 0; i < b; ++i)
    if (out_len[size_t(i)] > 0)
      out.samples[i].narrow(0, 0, out_len[size_t(i)]).copy_(rows[size_t(i)]);
  return out;
}

namespace {

/// Applies `op(rows_x, rows_lengths, rows)` to the rows of `x` whose draw has `flag` set, in
/// place of those rows; `rows` are their indices into `draws`.
template <class Op>
void on_rows(Waveforms& x, const std::vector<AugmentDraw>& draws, bool AugmentDraw::*flag,
             Op op) {
  std::vector<int64_t> rows;
  for (size_t i = 0; i < draws.size(); ++i)
    if (draws[i].*flag) rows.push_back(int64_t(i));
  if (rows.empty()) return;
  auto index = at::tensor(rows, at::kLong).to(x.samples.device());
  auto y = op(x.samples.index_select(0, index), x.lengths.index_select(0, index), rows);
  x.samples.index_copy_(0, index, y);
}

/// [rows] of one value of each row's draw.
at::Tensor values(const std::vector<AugmentDraw>& draws, const std::vector<int64_t>& rows,
                  double AugmentDraw::*value) {
  std::vector<double> v;
  for (int64_t r : rows) v.push_back(draws[size_t(r)].*value);
  return at::tensor(v, at::kDouble);
}

/// [rows, width] of per-row CPU tensors (each at most width long), zero-padded, on `device`.
at::Tensor stack_padded(const std::vector<at::Tensor>& parts, int64_t width, c10::Device device) {
  auto out = at::zeros({int64_t(parts.size()), width}, at::kFloat);
  for (size_t i = 0; i < parts.size(); ++i)
    out[int64_t(i)].narrow(0, 0, parts[i].size(0)).copy_(parts[i]);
  return out.to(device);
}

/// `n` samples of the 1-D CPU `pool` from an offset drawn from `seed`, wrapping around.
at::Tensor pool_window(const at::Tensor& pool, int64_t n, uint64_t seed) {
  TORCH_CHECK(pool.defined() && pool.dim() == 1 && pool.size(0) > 0,
              "augment: a row takes noise from the data but there is no noise pool");
  const int64_t offset = int64_t(SplitMix{seed}.next() % uint64_t(pool.size(0)));
  auto index = (at::arange(n, at::kLong) + offset).remainder(pool.size(0));
  return pool.index_select(0, index);
}

}  // namespace

Waveforms augment_waveforms(const Waveforms& in, const std::vector<AugmentDraw>& draws,
                            int sample_rate_hz, const at::Tensor& noise_pool) {
  TORCH_CHECK(int64_t(draws.size()) == in.samples.size(0), "augment: one draw per row");
  Waveforms x{in.samples.clone(), in.lengths};
  if (std::any_of(draws.begin(), draws.end(), [](const auto& d) { return d.speed; })) {
    std::vector<double> factors;
    for (const auto& d : draws) factors.push_back(d.speed ? d.speed_factor : 1.0);
    x = speed_op(x, factors);
  }
  const auto device = x.samples.device();
  on_rows(x, draws, &AugmentDraw::reverb, [&](const at::Tensor& s, const at::Tensor& l,
                                              const std::vector<int64_t>& rows) {
    std::vector<at::Tensor> rirs;
    int64_t width = 1;
    for (int64_t r : rows) {
      const auto& d = draws[size_t(r)];
      rirs.push_back(room_impulse_response(d.rt60_s, sample_rate_hz, d.seed ^ 0x7265766572ULL));
      width = std::max(width, rirs.back().size(0));
    }
    return reverb_op(s, l, stack_padded(rirs, width, device));
  });
  on_rows(x, draws, &AugmentDraw::noise, [&](const at::Tensor& s, const at::Tensor& l,
                                             const std::vector<int64_t>& rows) {
    std::vector<at::Tensor> noise;
    for (int64_t r : rows) {
      const auto& d = draws[size_t(r)];
      noise.push_back(d.data_noise
                          ? pool_window(noise_pool, s.size(1), d.seed ^ 0x706f6f6cULL)
                          : generated_noise(s.size(1), d.noise_color, d.seed ^ 0x6e6f697365ULL));
    }
    return noise_op(s, l, values(draws, rows, &AugmentDraw::snr_db),
                    stack_padded(noise, s.size(1), device));
  });
  on_rows(x, draws, &AugmentDraw::agc, [&](const at::Tensor& s, const at::Tensor& l,
                                           const std::vector<int64_t>& rows) {
    return agc_op(s, l, values(draws, rows, &AugmentDraw::agc_target_db),
                  values(draws, rows, &AugmentDraw::agc_ratio), sample_rate_hz);
  });
  on_rows(x, draws, &AugmentDraw::telephone, [&](const at::Tensor& s, const at::Tensor& l,
                                                 const std::vector<int64_t>& rows) {
    std::vector<uint8_t> alaw;
    for (int64_t r : rows) alaw.push_back(draws[size_t(r)].alaw);
    return telephone_op(s, l, at::tensor(alaw, at::kByte).to(at::kBool), sample_rate_hz);
  });
  on_rows(x, draws, &AugmentDraw::gain, [&](const at::Tensor& s, const at::Tensor& l,
                                            const std::vector<int64_t>& rows) {
    return gain_op(s, l, values(draws, rows, &AugmentDraw::gain_db));
  });
  return x;
}

// ---- re-extraction of store rows ----

struct StoreAugmenter::Impl {
  Impl(const Store& s, std::string name, AugmentConfig c)
      : store(s), store_name(std::move(name)), config(std::move(c)) {}
  const Store& store;
  std::string store_name;
  AugmentConfig config;
  c10::Device device = c10::kCPU;
  BuildOptions build;  ///< the store's extractor settings
  /// Extractors not in use: each compute() takes one (or makes it), so prefetches run at once.
  std::vector<std::unique_ptr<LldExtractor>> idle_extractors;
  /// Guards idle_extractors and channel_power (prefetch workers share them).
  std::mutex mutex;
  fs::path dataset_dir;
  std::map<std::string, std::vector<int64_t>> call_rows;
  LldTable layout;  ///< the LLD columns
  size_t own_functionals = 0;
  /// The store's speech encoder (BuildOptions::speech_encoder), nullptr without one; its
  /// columns follow the own functionals.
  std::unique_ptr<SpeechStates> speech;
  size_t speech_width = 0;
  /// augment.copies: the speech states of each (row, draw seed) computed so far (guarded by
  /// `mutex`).
  std::map<std::pair<int64_t, uint64_t>, std::vector<float>> speech_kept;
  at::Tensor noise_pool;  ///< the training calls' non-speech (noise_data_share), 1-D CPU
  /// noise_reference "call": the mean power of each audio file's channel, read once
  std::map<std::pair<std::string, int>, double> channel_power;
  /// The speaker channel: each row's speaker in its call, as the group's first row, and
  /// each group's rows with audio in store order.
  bool speaker_channel = false;
  std::vector<int64_t> group_of;
  std::map<int64_t, std::vector<int64_t>> group_rows;
  /// The speaker channel: the sums of the groups augmented so far in epoch `sums_epoch`.
  int64_t sums_epoch = 0;
  std::map<int64_t, std::shared_ptr<const SpeakerSums>> sums;
  /// StoreAugmenter::prefetch: the arguments and results of those running or done that
  /// nothing has taken yet, in the order asked. Their workers share the members above;
  /// operator() waits for all of them before it computes itself.
  struct Pending {
    std::vector<int64_t> rows;
    uint64_t run_seed = 0;
    int64_t epoch = 0;
    std::shared_future<std::map<int64_t, RowFeatures>> result;
    bool is(const std::vector<int64_t>& r, uint64_t s, int64_t e) const {
      return rows == r && run_seed == s && epoch == e;
    }
  };
  std::deque<Pending> pending;
  Served served;

  fs::path audio_file(int64_t row) const {
    return dataset_dir / store.segments[size_t(row)].audio.path;
  }
  void check_audio(const std::vector<int64_t>& rows) const;
  void collect_noise(const std::vector<int64_t>& rows);
  std::vector<float> read(int64_t row) const;
  double call_power(int64_t row);
  RowFeatures features(int64_t row, const at::Tensor& lld, int64_t samples,
                       const std::vector<float>& speech_states) const;
  std::vector<std::vector<float>> speech_states(const std::vector<int64_t>& rows,
                                                const std::vector<AugmentDraw>& draws,
                                                const Waveforms& w);
  std::map<int64_t, RowFeatures> augment(const std::vector<int64_t>& rows,
                                         std::vector<AugmentDraw> draws);
  std::shared_ptr<const SpeakerSums> speaker_sums(int64_t group, const AugmentDraw& draw,
                                                  const std::map<int64_t, RowFeatures>& batch);
  std::map<int64_t, RowFeatures> compute(const std::vector<int64_t>& rows, uint64_t run_seed,
                                         int64_t epoch);
  /// Waits for the pending prefetches and forgets them, their results and their errors.
  void drop_pending() {
    for (const Pending& p : pending) p.result.wait();
    pending.clear();
  }
};

void StoreAugmenter::Impl::check_audio(const std::vector<int64_t>& rows) const {
  const std::string fix = "; rebuild the store from the dataset where it is now (`tenor data "
                          "build`), or put the file back";
  std::set<std::string> seen;
  for (int64_t r : rows) {
    const AudioSource& a = store.segments[size_t(r)].audio;
    if (a.path.empty() || !seen.insert(a.path).second) continue;
    const fs::path file = audio_file(r);
    std::error_code ec;
    const uintmax_t bytes = fs::file_size(file, ec);
    const std::string what = store_name + ": the audio of call " +
                             store.segments[size_t(r)].call_id + ", " + file.string();
    if (ec)
      throw DataError(what + ", which augment reads again, is missing (the dataset moved from " +
                      store.meta.dataset_dir + ", or the file was deleted)" + fix);
    if (int64_t(bytes) != a.bytes || Sha256().update_file(file).hex() != a.sha256)
      throw DataError(what + ", changed since the store was built (" +
                      (int64_t(bytes) != a.bytes ? std::to_string(a.bytes) + " bytes then, " +
                                                       std::to_string(bytes) + " now"
                                                 : "same size, another SHA-256") +
                      "): its frames would not match its labels" + fix);
  }
}

void StoreAugmenter::Impl::collect_noise(const std::vector<int64_t>& rows) {
  const int rate = build.lld.sample_rate_hz;
  const size_t per_file = size_t(10 * rate), total = size_t(120 * rate);
  std::vector<float> pool;
  std::set<std::pair<std::string, int>> seen;
  for (int64_t r : rows) {
    const AudioSource& a = store.segments[size_t(r)].audio;
    if (a.path.empty() || !seen.insert({a.path, a.channel}).second) continue;
    std::vector<float> quiet;
    try {
      data::AudioReader reader(audio_file(r));
      quiet = non_speech(reader.read(0, 60, a.channel, rate), rate);
    } catch (const Error& e) {
      throw DataError(store_name + ": cannot read " + audio_file(r).string() +
                      " for augment's noise from the data: " + e.what());
    }
    quiet.resize(std::min(quiet.size(), per_file));
    double sum = 0;
    for (float v : quiet) sum += double(v) * v;
    const float scale = quiet.empty() ? 0.f : float(1 / std::sqrt(sum / double(quiet.size())));
    for (float v : quiet) pool.push_back(v * scale);
    if (pool.size() >= total) break;
  }
  if (pool.empty())
    throw DataError(store_name + ": the training audio has no non-speech to take noise from (no "
                    "20 ms stretch 30 dB below the loudest of its file); set "
                    "augment.noise_data_share 0 for generated noise");
  noise_pool = at::tensor(at::ArrayRef<float>(pool)).narrow(0, 0, std::min(pool.size(), total))
                   .clone();
}

std::vector<float> StoreAugmenter::Impl::read(int64_t row) const {
  const StoreSegment& s = store.segments[size_t(row)];
  try {
    data::AudioReader reader(audio_file(row));
    return reader.read(s.start_s, s.end_s, s.audio.channel, build.lld.sample_rate_hz);
  } catch (const Error& e) {
    throw DataError(store_name + ": call " + s.call_id + " segment " + std::to_string(s.segment) +
                    ": cannot read " + audio_file(row).string() + " again for augment: " +
                    e.what());
  }
}

/// The mean power of the whole channel row `row` is cut from, at the store's rate (the SNR
/// reference of noise_reference "call", as `tenor data degrade` measures it), streamed so
/// that a long call does not sit in memory; once per file and channel.
double StoreAugmenter::Impl::call_power(int64_t row) {
  const StoreSegment& s = store.segments[size_t(row)];
  const auto key = std::make_pair(s.audio.path, s.audio.channel);
  {
    const std::lock_guard lock(mutex);
    if (auto it = channel_power.find(key); it != channel_power.end()) return it->second;
  }
  double sum = 0;
  int64_t count = 0;
  try {
    data::AudioReader reader(audio_file(row));
    const auto info = reader.info();
    const double seconds = double(info.frames) / info.sample_rate_hz;
    reader.read_blocks(0, seconds, s.audio.channel, build.lld.sample_rate_hz,
                       [&](const float* x, size_t n) {
                         for (size_t i = 0; i < n; ++i) sum += double(x[i]) * x[i];
                         count += int64_t(n);
                       });
  } catch (const Error& e) {
    throw DataError(store_name + ": call " + s.call_id + ": cannot read " +
                    audio_file(row).string() + " again for augment.noise_reference: " +
                    e.what());
  }
  const std::lock_guard lock(mutex);  // two workers may both have read it: the same value
  return channel_power[key] = count ? sum / double(count) : 0;
}

namespace {

double level_db(double power) { return 10 * std::log10(std::max(power, 1e-20)); }

double mean_power(const std::vector<float>& x) {
  double sum = 0;
  for (float v : x) sum += double(v) * v;
  return x.empty() ? 0 : sum / double(x.size());
}

}  // namespace

/// Row `row`'s features from its augmented LLDs (`lld` [T, F] on the CPU) of `samples`
/// samples and the speech-encoder states of its augmented audio (empty without an encoder):
/// own functionals by segment_functionals over the call's turns (the segment's end moved by
/// its new duration), then the speech states, relative ones from the store.
RowFeatures StoreAugmenter::Impl::features(int64_t row, const at::Tensor& lld, int64_t samples,
                                           const std::vector<float>& speech_states) const {
  const StoreSegment& seg = store.segments[size_t(row)];
  const int64_t frames = lld_frame_count(samples, build.lld);
  LldTable t;
  t.columns = layout.columns;
  auto rows = lld.narrow(0, 0, frames).contiguous();
  t.values.assign(rows.data_ptr<float>(), rows.data_ptr<float>() + rows.numel());
  for (int64_t i = 0; i < frames; ++i) t.time_s.push_back(lld_frame_time_s(i, build.lld));
  std::vector<Turn> turns;
  for (int64_t r : call_rows.at(seg.call_id)) {
    const auto& o = store.segments[size_t(r)];
    turns.push_back({o.speaker, o.start_s, o.end_s});
  }
  const double end_s = seg.start_s + double(samples) / build.lld.sample_rate_hz;
  const SegmentInfo info = segment_info(
      {seg.speaker, seg.start_s, end_s}, turns,
      seg.text.empty() ? std::nullopt : std::optional<std::string>(seg.text));
  RowFeatures f;
  segment_functionals(t, info, build.functionals, f.functionals, f.mask);
  const size_t ff = store.layout.functional_columns.size();
  const size_t computed = own_functionals + speech_width;
  if (f.functionals.size() != own_functionals || computed > ff ||
      (!speech_states.empty() && speech_states.size() != speech_width))
    throw std::logic_error("augment: the functionals do not match the store's layout");
  if (speech_states.empty()) {
    f.functionals.insert(f.functionals.end(), speech_width, 0.0f);
    f.mask.insert(f.mask.end(), speech_width, 0);
  } else {
    f.functionals.insert(f.functionals.end(), speech_states.begin(), speech_states.end());
    f.mask.insert(f.mask.end(), speech_width, 1);
  }
  f.functionals.insert(f.functionals.end(),
                       store.functionals.begin() + long(size_t(row) * ff + computed),
                       store.functionals.begin() + long(size_t(row + 1) * ff));
  f.mask.insert(f.mask.end(),
                store.functional_mask.begin() + long(size_t(row) * ff + computed),
                store.functional_mask.begin() + long(size_t(row + 1) * ff));
  f.frames = std::move(t.values);
  return f;
}

StoreAugmenter::StoreAugmenter(const Store& store, const std::string& store_name,
                               const std::vector<int64_t>& rows, AugmentConfig config,
                               const std::string& device, bool speaker_channel)
    : impl_(std::make_unique<Impl>(store, store_name, std::move(config))) {
  Impl& m = *impl_;
  m.config.validate();
  if (!store.has_audio_sources || store.meta.dataset_dir.empty())
    throw DataError(store_name +
                    " does not record where its audio lies (built before tenor recorded it), "
                    "which augment reads; rebuild it with `tenor data build`, or set "
                    "augment.probability 0");
  m.build = build_options_from_config(nlohmann::json::parse(store.meta.extractor_config));
  m.device = resolve_device(device);
  m.speech = load_speech_encoder(m.build, m.device.str());
  m.speech_width = size_t(m.build.speech_encoder_width);
  m.dataset_dir = store.meta.dataset_dir;
  for (size_t r = 0; r < store.segments.size(); ++r)
    m.call_rows[store.segments[r].call_id].push_back(int64_t(r));
  m.layout.columns = lld_column_names(m.build.lld);
  m.own_functionals = functional_names(m.layout).size();
  if (m.layout.columns != store.layout.lld_columns)
    throw DataError(store_name + ": its LLD columns are not those of its extractor settings; "
                    "rebuild it with `tenor data build`");
  std::vector<int64_t> read_again = rows;
  if (speaker_channel) {
    m.speaker_channel = true;
    std::map<std::pair<std::string, std::string>, int64_t> first;
    m.group_of.resize(store.segments.size());
    for (size_t r = 0; r < store.segments.size(); ++r) {
      const StoreSegment& seg = store.segments[r];
      const int64_t g = first.try_emplace({seg.call_id, seg.speaker}, int64_t(r)).first->second;
      m.group_of[r] = g;
      if (!seg.audio.path.empty()) m.group_rows[g].push_back(int64_t(r));
    }
    std::set<int64_t> groups;
    for (int64_t r : rows) groups.insert(m.group_of[size_t(r)]);
    for (int64_t g : groups)
      if (auto it = m.group_rows.find(g); it != m.group_rows.end())
        read_again.insert(read_again.end(), it->second.begin(), it->second.end());
  }
  m.check_audio(read_again);
  if (m.config.enabled() && m.config.noise_probability > 0 && m.config.noise_data_share > 0)
    m.collect_noise(rows);
}

StoreAugmenter::~StoreAugmenter() {
  if (impl_) impl_->drop_pending();  // its worker uses impl_
}

/// `rows` through `draws` (one each), read, augmented and extracted as one batch.
std::map<int64_t, RowFeatures> StoreAugmenter::Impl::augment(const std::vector<int64_t>& rows,
                                                             std::vector<AugmentDraw> draws) {
  std::map<int64_t, RowFeatures> out;
  if (rows.empty()) return out;
  std::vector<std::vector<float>> audio;
  int64_t width = 1;
  for (int64_t r : rows) {
    audio.push_back(read(r));
    width = std::max<int64_t>(width, int64_t(audio.back().size()));
  }
  // noise_reference "call": the draw's SNR holds against the call's channel, so the row's own
  // SNR is lower by as much as the row is quieter than the call (noise_op measures the row).
  if (config.noise_reference == "call")
    for (size_t i = 0; i < rows.size(); ++i)
      if (draws[i].noise)
        draws[i].snr_db -= level_db(call_power(rows[i])) - level_db(mean_power(audio[i]));
  Waveforms w{at::zeros({int64_t(rows.size()), width}, at::kFloat), at::Tensor()};
  std::vector<int64_t> lengths;
  for (size_t i = 0; i < audio.size(); ++i) {
    std::copy(audio[i].begin(), audio[i].end(), w.samples[int64_t(i)].data_ptr<float>());
    lengths.push_back(int64_t(audio[i].size()));
  }
  w.samples = w.samples.to(device);
  w.lengths = at::tensor(lengths, at::kLong).to(device);
  w = augment_waveforms(w, draws, build.lld.sample_rate_hz, noise_pool);
  std::unique_ptr<LldExtractor> extract;
  {
    const std::lock_guard lock(mutex);
    if (!idle_extractors.empty())
      extract = std::move(idle_extractors.back()), idle_extractors.pop_back();
  }
  if (!extract) extract = std::make_unique<LldExtractor>(build.lld);
  auto lld = (*extract)(w.samples, w.lengths).lld.to(at::kCPU);
  {
    const std::lock_guard lock(mutex);
    idle_extractors.push_back(std::move(extract));
  }
  auto new_lengths = w.lengths.to(at::kCPU);
  const auto states = speech_states(rows, draws, w);
  for (size_t i = 0; i < rows.size(); ++i)
    out[rows[i]] = features(rows[i], lld[int64_t(i)], new_lengths[int64_t(i)].item<int64_t>(),
                            states[i]);
  return out;
}

/// The speech-encoder states of augmented `rows` (`w`, through `draws`): empty without an
/// encoder; with augment.copies, those of a (row, draw) computed before are taken as kept.
std::vector<std::vector<float>> StoreAugmenter::Impl::speech_states(
    const std::vector<int64_t>& rows, const std::vector<AugmentDraw>& draws, const Waveforms& w) {
  std::vector<std::vector<float>> out(rows.size());
  if (!speech) return out;
  std::vector<size_t> missing;  // rows whose states are not kept yet
  if (config.copies > 0) {
    const std::lock_guard lock(mutex);
    for (size_t i = 0; i < rows.size(); ++i)
      if (auto it = speech_kept.find({rows[i], draws[i].seed}); it != speech_kept.end())
        out[i] = it->second;
      else
        missing.push_back(i);
  } else {
    for (size_t i = 0; i < rows.size(); ++i) missing.push_back(i);
  }
  if (missing.empty()) return out;
  const auto audio = w.samples.to(at::kCPU).contiguous();
  const auto lengths = w.lengths.to(at::kCPU);
  std::vector<const float*> clips;
  std::vector<int64_t> samples;
  for (size_t i : missing) {
    clips.push_back(audio[int64_t(i)].data_ptr<float>());
    samples.push_back(lengths[int64_t(i)].item<int64_t>());
  }
  auto states = (*speech)(clips, samples);
  const std::lock_guard lock(mutex);
  for (size_t k = 0; k < missing.size(); ++k) {
    if (config.copies > 0) speech_kept[{rows[missing[k]], draws[missing[k]].seed}] = states[k];
    out[missing[k]] = std::move(states[k]);
  }
  return out;
}

/// The speaker channel: the sums over all rows of `group` through `draw`, once per group and
/// epoch. When `batch` (augmented with the same draw) holds them all, from there; else all
/// are read and augmented here, in chunks of store order that do not depend on the batch,
/// so the sums are the same whichever batch asks first (a resume mid-epoch included).
std::shared_ptr<const SpeakerSums> StoreAugmenter::Impl::speaker_sums(
    int64_t group, const AugmentDraw& draw, const std::map<int64_t, RowFeatures>& batch) {
  if (auto it = sums.find(group); it != sums.end()) return it->second;
  constexpr size_t kChunk = 32;
  const std::vector<int64_t>& turns = group_rows.at(group);
  const bool in_batch =
      std::all_of(turns.begin(), turns.end(), [&](int64_t r) { return batch.count(r) > 0; });
  std::map<int64_t, RowFeatures> alone;
  for (size_t k = 0; !in_batch && k < turns.size(); k += kChunk) {
    const std::vector<int64_t> part(turns.begin() + long(k),
                                    turns.begin() + long(std::min(k + kChunk, turns.size())));
    alone.merge(augment(part, std::vector<AugmentDraw>(part.size(), draw)));
  }
  const auto& extracted = in_batch ? batch : alone;
  auto out = std::make_shared<SpeakerSums>();
  const size_t fl = store.layout.lld_columns.size(), ff = store.layout.functional_columns.size();
  for (int64_t r : turns) {
    const RowFeatures& f = extracted.at(r);
    out->add(f.frames.data(), int64_t(f.frames.size() / fl), fl, f.functionals.data(),
             f.mask.data(), ff);
  }
  return sums[group] = out;
}

std::map<int64_t, RowFeatures> StoreAugmenter::Impl::compute(const std::vector<int64_t>& rows,
                                                              uint64_t run_seed, int64_t epoch) {
  if (speaker_channel && epoch != sums_epoch) sums.clear(), sums_epoch = epoch;
  std::vector<int64_t> chosen;
  std::vector<AugmentDraw> draws;
  for (int64_t r : rows) {
    if (store.segments[size_t(r)].audio.path.empty()) continue;
    const int64_t key = speaker_channel ? group_of[size_t(r)] : r;
    const int64_t chain = config.copies > 0 ? epoch % config.copies : epoch;
    AugmentDraw d = draw_augment(config, augment_seed(run_seed, chain, key));
    if (d.any()) chosen.push_back(r), draws.push_back(d);
  }
  std::map<int64_t, RowFeatures> out = augment(chosen, draws);
  if (speaker_channel)
    for (size_t i = 0; i < chosen.size(); ++i)
      out[chosen[i]].speaker = speaker_sums(group_of[size_t(chosen[i])], draws[i], out);
  return out;
}

std::map<int64_t, RowFeatures> StoreAugmenter::operator()(const std::vector<int64_t>& rows,
                                                          uint64_t run_seed, int64_t epoch) {
  Impl& m = *impl_;
  if (!m.pending.empty() && m.pending.front().is(rows, run_seed, epoch)) {
    auto result = std::move(m.pending.front().result);
    m.pending.pop_front();
    ++m.served.read_ahead;
    return result.get();
  }
  m.served.dropped += int64_t(m.pending.size());
  m.drop_pending();
  ++m.served.on_the_spot;
  return m.compute(rows, run_seed, epoch);
}

StoreAugmenter::Served StoreAugmenter::served() const { return impl_->served; }

void StoreAugmenter::prefetch(const std::vector<int64_t>& rows, uint64_t run_seed,
                              int64_t epoch) {
  Impl& m = *impl_;
  for (const Impl::Pending& p : m.pending)
    if (p.is(rows, run_seed, epoch)) return;
  // The speaker channel's sums come from the first batch that holds a speaker's turns, so
  // its prefetches run one after the other, in the order asked.
  std::shared_future<std::map<int64_t, RowFeatures>> before;
  if (m.speaker_channel && !m.pending.empty()) before = m.pending.back().result;
  // A new thread starts with no intra-op thread count of its own; ATen gives it the
  // process's (at::set_num_threads) on its first parallel op, so results match this thread's.
  m.pending.push_back({rows, run_seed, epoch,
                       std::async(std::launch::async, [&m, rows, run_seed, epoch, before] {
                         if (before.valid()) before.wait();
                         return m.compute(rows, run_seed, epoch);
                       }).share()});
}

// ---- degraded copies of a dataset ----

namespace {

double op_value(const std::string& op, const std::string& value, double fallback, double min,
                double max) {
  if (value.empty()) {
    if (std::isnan(fallback)) throw UsageError("--ops: '" + op + "' needs a value, e.g. " + op +
                                               "=" + std::to_string(int(min + max) / 2));
    return fallback;
  }
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  const std::string range = format_number(min) + " .. " + format_number(max);
  if (end == value.c_str() || *end != '\0' || std::isnan(v))
    throw UsageError("--ops: " + op + "=" + value + " is not a number; give one in " + range);
  if (!(v >= min && v <= max))
    throw UsageError("--ops: " + op + "=" + value + " is outside " + range + "; give one in it");
  return v;
}

}  // namespace

AugmentDraw parse_degrade_ops(const std::string& spec) {
  static const std::vector<std::string> kOps = {"telephone", "mulaw", "alaw", "agc",
                                                "gain",      "noise", "reverb"};
  AugmentDraw d;
  std::stringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t eq = item.find('=');
    const std::string op = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (op == "telephone" || op == "mulaw" || op == "alaw") {
      d.telephone = true;
      d.alaw = d.alaw || op == "alaw";
    } else if (op == "agc") {
      d.agc = true, d.agc_target_db = op_value(op, value, -20, -60, 0), d.agc_ratio = 4;
    } else if (op == "gain") {
      d.gain = true, d.gain_db = op_value(op, value, NAN, -60, 40);
    } else if (op == "noise") {
      d.noise = true, d.snr_db = op_value(op, value, NAN, -20, 100), d.noise_color = 1;
    } else if (op == "reverb") {
      d.reverb = true, d.rt60_s = op_value(op, value, NAN, 0.01, 2);
    } else if (op == "speed") {
      throw UsageError("--ops: speed would move every segment's times; degrade with the others");
    } else {
      const std::string near = nearest(op, kOps);
      throw UsageError("--ops: unknown op '" + op + "'" +
                       (near.empty() ? "; use " + join(kOps, ", ")
                                     : "; did you mean '" + near + "'?"));
    }
  }
  if (!d.any()) throw UsageError("--ops lists no op; use e.g. --ops telephone,agc,noise=10");
  return d;
}

namespace {

/// One audio file through `ops`, every channel a row; written as WAV at `to`.
double degrade_file(const fs::path& from, const fs::path& to, const AugmentDraw& ops,
                    uint64_t seed, int64_t file, c10::Device device) {
  data::AudioReader reader(from);
  const auto info = reader.info();
  const double seconds = double(info.frames) / info.sample_rate_hz;
  const int64_t c = info.channels, n = info.frames;
  auto x = at::zeros({c, std::max<int64_t>(n, 1)}, at::kFloat);
  std::vector<AugmentDraw> draws;
  for (int64_t k = 0; k < c; ++k) {
    auto samples = reader.read(0, seconds, int(k), 0);
    std::copy_n(samples.begin(), std::min<int64_t>(n, int64_t(samples.size())),
                x[k].data_ptr<float>());
    draws.push_back(ops);
    draws.back().seed = augment_seed(seed, file, k);
  }
  Waveforms w{x.to(device), at::full({c}, n, at::kLong).to(device)};
  auto y = augment_waveforms(w, draws, info.sample_rate_hz).samples.to(at::kCPU);
  auto interleaved = y.narrow(1, 0, n).t().contiguous();
  fs::create_directories(to.parent_path());
  data::write_audio(to, std::vector<float>(interleaved.data_ptr<float>(),
                                           interleaved.data_ptr<float>() + interleaved.numel()),
                    int(c), info.sample_rate_hz);
  return seconds;
}

}  // namespace

DegradeReport degrade_dataset(const fs::path& dir, const fs::path& out, const AugmentDraw& ops,
                              uint64_t seed, const std::string& split, const std::string& device) {
  data::Dataset ds = data::load_dataset_or_throw(dir);
  std::error_code ec;
  const fs::path absolute_out = new_output_directory(out);
  data::refuse_output_inside_dataset(dir, absolute_out);
  if (!split.empty())
    std::erase_if(ds.calls, [&](const data::Call& c) { return c.split != split; });
  if (ds.calls.empty())
    throw DataError(dir.string() + " has no call in split '" + split + "'; give another --split");
  const c10::Device dev = resolve_device(device);
  if (absolute_out.has_parent_path()) fs::create_directories(absolute_out.parent_path(), ec);
  const fs::path temp = temp_path_for_output(absolute_out);
  DegradeReport report;
  try {
    fs::create_directory(temp);
    fs::copy_file(dir / "dataset.yaml", temp / "dataset.yaml");
    std::map<std::string, std::string> written;  // input audio -> output audio
    std::set<std::string> taken;
    for (auto& call : ds.calls) {
      ++report.calls;
      if (call.audio.empty()) continue;
      fs::path to = fs::path(call.audio).replace_extension(".wav");
      if (!written.count(call.audio) && taken.count(to.string()))  // a.flac beside a.wav
        to = fs::path(call.audio).replace_extension(".degraded.wav");
      auto [it, fresh] = written.emplace(call.audio, to.string());
      taken.insert(to.string());
      if (fresh) {
        try {
          report.audio_seconds += degrade_file(ds.root / call.audio, temp / it->second, ops, seed,
                                               int64_t(report.files++), dev);
        } catch (const Error& e) {
          throw DataError("call " + call.call_id + ": " + (ds.root / call.audio).string() + ": " +
                          e.what());
        }
      }
      call.audio = it->second;
    }
    data::write_calls_jsonl(ds, temp / "calls.jsonl");
    publish_directory(temp, absolute_out);  // replaces the empty directory checked above
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(temp, ec);
    throw IoError(std::string("cannot write ") + out.string() + ": " + e.what());
  } catch (...) {
    fs::remove_all(temp, ec);
    throw;
  }
  return report;
}

}  // namespace tenor::features
