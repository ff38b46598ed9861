// Frame-level LLDs in ATen tensor ops (CPU or CUDA, decided by the input's device).
//
// Frame grid: frame k is centred on sample c_k = k * hop + hop / 2 of the row (time c_k / rate,
// with sample n at time (n + 0.5) / rate as in Praat). Every analysis window is centred on
// c_k; samples outside [0, length) are treated as absent (zero weight), so edge frames use
// partial windows instead of being dropped.
//
// References
//   [B93]  P. Boersma (1993), "Accurate short-term analysis of the fundamental frequency and
//          the harmonics-to-noise ratio of a sampled sound", IFA Proceedings 17, 97-110;
//          as implemented in Praat's Sound_to_Pitch.cpp / Pitch_pathFinder (AC method).
//   [PI]   Praat, Sound: To Intensity (Kaiser-windowed mean square, dB re 2e-5 Pa).
//   [E16]  F. Eyben et al. (2016), "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS)
//          for Voice Research and Affective Computing", IEEE Trans. Affective Computing 7(2).
//   [H90]  H. Hermansky (1990), "Perceptual linear predictive (PLP) analysis of speech",
//          JASA 87(4): equal-loudness curve and intensity-loudness power law.
//   [PJ]   Praat manual, "Voice 2. Jitter" and "Voice 3. Shimmer": local jitter/shimmer.
#include "data/features/lld.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "data/spectrum.h"
#include "core/text.h"
#include "core/torch_compat.h"

namespace tenor::features {

namespace {

/// Praat's intensity reference: (2e-5 Pa)^2, with full scale = 1 Pa [PI].
constexpr double kIntensityRefPa2 = 4e-10;
/// Mean squares below 1e-10 of the reference are clamped: intensity floor -100 dB.
constexpr double kIntensityFloorDb = -100.0;
/// Floor of power-spectrum values (full-scale sine peak = 0.25) before any log: -100 dB.
constexpr double kPowerFloor = 1e-10;
/// Frames per chunk of the frame-local computations (bounds memory for long inputs).
constexpr int64_t kFramesPerChunk = 1024;

int64_t ifloor(double x) { return static_cast<int64_t>(std::floor(x)); }

std::string name_value(const char* field, double value) {
  return std::string("features: ") + field + " = " + format_number(value);
}

/// Columns before mfcc_1: f0_hz, voiced, voicing_prob, intensity_db, loudness, hnr_db,
/// jitter_local, shimmer_local (see lld_column_names).
constexpr int64_t kFirstMfccColumn = 8;

/// Sample counts derived from the config, as Praat derives them [B93].
struct Geometry {
  int64_t hop = 0;
  int64_t period = 0;       ///< nsamp_period: samples in the longest period (1 / f0_floor)
  int64_t half_period = 0;  ///< halfnsamp_period
  int64_t pitch_half = 0;   ///< halfnsamp_window
  int64_t pitch_win = 0;    ///< nsamp_window = 2 * pitch_half (even)
  int64_t max_lag = 0;      ///< maximumLag
  int64_t brent_ixmax = 0;  ///< lags of r that are computed: 0..brent_ixmax
  int64_t pitch_nfft = 0;
  int64_t intensity_half = 0;  ///< Kaiser window of 2 * intensity_half + 1 samples
  int64_t spec_win = 0;
  int64_t spec_nfft = 0;
  int64_t pad = 0;  ///< zeros on both sides of the waveforms so every window fits
};

Geometry make_geometry(const LldConfig& c) {
  Geometry g;
  const double rate = c.sample_rate_hz;
  g.hop = c.hop_samples();
  g.period = ifloor(rate / c.f0_floor_hz);
  g.half_period = g.period / 2 + 1;
  const double window_s = c.periods_per_window / c.f0_floor_hz;
  g.pitch_half = ifloor(window_s * rate) / 2 - 1;
  g.pitch_win = 2 * g.pitch_half;
  g.max_lag = std::min(ifloor(double(g.pitch_win) / c.periods_per_window) + 2, g.pitch_win);
  g.brent_ixmax = ifloor(g.pitch_win * 0.5);  // interpolation depth 0.5 for AC-Hanning
  g.pitch_nfft = 1;
  while (g.pitch_nfft < g.pitch_win * 1.5) g.pitch_nfft *= 2;
  // Praat's To Intensity: window 6.4 / minimum pitch, halfWindowSamples = floor(half / dx) [PI].
  g.intensity_half = ifloor(0.5 * 6.4 / c.f0_floor_hz * rate);
  g.spec_win = std::max<int64_t>(16, std::llround(c.spectral_window_ms * rate / 1000.0));
  g.spec_nfft = 512;
  while (g.spec_nfft < g.spec_win) g.spec_nfft *= 2;
  g.pad = std::max({g.pitch_win, 2 * g.intensity_half + 1, g.spec_win, 2 * g.period}) + 2 * g.hop;
  return g;
}

/// Windows, filterbanks and projections on one device, float32.
struct Tables {
  at::Tensor hann;      ///< [pitch_win] Praat's Hanning: 0.5 - 0.5 cos(2 pi i / (W + 1)), i = 1..W
  at::Tensor window_r;  ///< [brent_ixmax + 2] autocorrelation of hann, normalised at lag 0
  at::Tensor kaiser;    ///< [2 h + 1] Praat's intensity window
  at::Tensor hamming;   ///< [spec_win]
  at::Tensor mel;       ///< [bins, mel_bands] triangular HTK-mel filters
  at::Tensor dct;       ///< [mel_bands, mfcc_count] orthonormal DCT-II rows 1..mfcc_count
  at::Tensor eq_loudness;  ///< [mel_bands] equal-loudness weight at band centres [H90]
  at::Tensor band_alpha_lo, band_alpha_hi, band_hamm_lo, band_hamm_hi;  ///< [bins] 0/1
  at::Tensor slope_lo, slope_hi;  ///< [bins] regression weights: y @ w = slope in dB/kHz
  at::Tensor pitch_pos;           ///< [pitch_win] sample offset from the frame centre
  double spec_norm = 1;           ///< 1 / (sum hamming)^2: full-scale sine peak bin = 0.25
};

at::Tensor to_tensor(const std::vector<double>& v) {
  return at::tensor(at::ArrayRef<double>(v), at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
}

Tables make_cpu_tables(const LldConfig& c, const Geometry& g) {
  Tables t;
  const double pi = std::numbers::pi;
  const double rate = c.sample_rate_hz;

  // Pitch window and its normalised autocorrelation (divides r, [B93] eq. 9).
  std::vector<double> hann(g.pitch_win);
  for (int64_t i = 0; i < g.pitch_win; ++i)
    hann[i] = 0.5 - 0.5 * std::cos((i + 1) * 2 * pi / (g.pitch_win + 1));
  std::vector<double> wr(g.brent_ixmax + 2, 0.0);
  for (int64_t lag = 0; lag < int64_t(wr.size()) && lag < g.pitch_win; ++lag) {
    double s = 0;
    for (int64_t i = 0; i + lag < g.pitch_win; ++i) s += hann[i] * hann[i + lag];
    wr[lag] = s;
  }
  const double wr0 = wr[0];
  for (auto& v : wr) v = std::max(v / wr0, 1e-6);
  t.hann = to_tensor(hann);
  t.window_r = to_tensor(wr);
  std::vector<double> pos(g.pitch_win);
  for (int64_t i = 0; i < g.pitch_win; ++i) pos[i] = double(i) - (g.pitch_half - 0.5);
  t.pitch_pos = to_tensor(pos);

  // Praat's intensity window: Kaiser-Bessel, I0((2 pi^2 + 0.5) sqrt(1 - x^2)), x in [-1, 1] [PI].
  const double half_s = 0.5 * 6.4 / c.f0_floor_hz;
  std::vector<double> kaiser(2 * g.intensity_half + 1);
  for (int64_t i = -g.intensity_half; i <= g.intensity_half; ++i) {
    const double x = i / rate / half_s, root = 1 - x * x;
    kaiser[i + g.intensity_half] =
        root <= 0 ? 0.0 : std::cyl_bessel_i(0.0, (2 * pi * pi + 0.5) * std::sqrt(root));
  }
  const double kmax = *std::max_element(kaiser.begin(), kaiser.end());
  for (auto& v : kaiser) v /= kmax;  // scale-free: intensity divides by the window sum
  t.kaiser = to_tensor(kaiser);

  // Spectral analysis window (eGeMAPS: Hamming, 25 ms [E16]).
  std::vector<double> hamming(g.spec_win);
  double wsum = 0;
  for (int64_t i = 0; i < g.spec_win; ++i) {
    hamming[i] = 0.54 - 0.46 * std::cos(2 * pi * i / (g.spec_win - 1));
    wsum += hamming[i];
  }
  t.hamming = to_tensor(hamming);
  t.spec_norm = 1.0 / (wsum * wsum);

  // HTK mel filterbank: mel(f) = 2595 log10(1 + f / 700), triangles equally spaced in mel.
  const int64_t bins = g.spec_nfft / 2 + 1;
  const double nyquist = rate / 2;
  const int m_bands = c.mel_bands;
  const data::MelFilters fb =
      data::mel_filters(size_t(g.spec_nfft), rate, size_t(m_bands), c.mel_low_hz,
                        std::min(c.mel_high_hz, nyquist), data::MelScale::htk, false);
  std::vector<double> eq(m_bands);
  for (int m = 0; m < m_bands; ++m) {
    const double fc = fb.edges_hz[size_t(m) + 1];
    // Equal-loudness curve E(w) = (w^2 + 56.8e6) w^4 / ((w^2 + 6.3e6)^2 (w^2 + 0.38e9)), w = 2 pi f
    // [H90].
    const double w2 = std::pow(2 * pi * fc, 2);
    eq[m] = (w2 + 56.8e6) * w2 * w2 / (std::pow(w2 + 6.3e6, 2) * (w2 + 0.38e9));
  }
  t.mel = to_tensor(fb.weights).reshape({bins, m_bands});
  t.eq_loudness = to_tensor(eq);

  // MFCC k = sqrt(2 / M) sum_m logmel_m cos(pi k (m + 0.5) / M), k = 1..mfcc_count (DCT-II, HTK).
  std::vector<double> dct(m_bands * c.mfcc_count);
  for (int m = 0; m < m_bands; ++m)
    for (int k = 1; k <= c.mfcc_count; ++k)
      dct[m * c.mfcc_count + (k - 1)] =
          std::sqrt(2.0 / m_bands) * std::cos(pi * k * (m + 0.5) / m_bands);
  t.dct = to_tensor(dct).reshape({m_bands, std::max(c.mfcc_count, 0)});

  // Band selectors and regression weights over FFT bins [E16].
  auto band = [&](double f_lo, double f_hi) {
    std::vector<double> b(bins);
    for (int64_t k = 0; k < bins; ++k) {
      const double f = k * rate / g.spec_nfft;
      b[k] = (f >= f_lo && f < f_hi) ? 1.0 : 0.0;
    }
    return b;
  };
  t.band_alpha_lo = to_tensor(band(50, 1000));
  t.band_alpha_hi = to_tensor(band(1000, 5000));
  t.band_hamm_lo = to_tensor(band(0, 2000));
  t.band_hamm_hi = to_tensor(band(2000, 5000));
  // Least-squares slope of y(f) over the band: sum (f - mean f) y / sum (f - mean f)^2, in dB/kHz.
  auto slope = [&](double f_lo, double f_hi) {
    auto b = band(f_lo, f_hi);
    double n = 0, fmean = 0;
    for (int64_t k = 0; k < bins; ++k)
      if (b[k] > 0) {
        n += 1;
        fmean += k * rate / g.spec_nfft / 1000.0;
      }
    fmean /= std::max(n, 1.0);
    double sff = 0;
    for (int64_t k = 0; k < bins; ++k)
      if (b[k] > 0) sff += std::pow(k * rate / g.spec_nfft / 1000.0 - fmean, 2);
    std::vector<double> w(bins, 0.0);
    for (int64_t k = 0; k < bins; ++k)
      if (b[k] > 0 && sff > 0) w[k] = (k * rate / g.spec_nfft / 1000.0 - fmean) / sff;
    return w;
  };
  t.slope_lo = to_tensor(slope(0, 500));
  t.slope_hi = to_tensor(slope(500, 1500));
  return t;
}

Tables tables_to(const Tables& cpu, const at::Device& device) {
  Tables t = cpu;
  for (at::Tensor* p : {&t.hann, &t.window_r, &t.kaiser, &t.hamming, &t.mel, &t.dct, &t.eq_loudness,
                        &t.band_alpha_lo, &t.band_alpha_hi, &t.band_hamm_lo, &t.band_hamm_hi,
                        &t.slope_lo, &t.slope_hi, &t.pitch_pos})
    *p = p->to(device);
  return t;
}

at::Tensor db10(const at::Tensor& ratio) { return 10.0 * at::log10(ratio); }

/// Per-frame results of one chunk of frames, all [B, Tc, ...].
struct ChunkOut {
  at::Tensor cand_f, cand_s;  ///< [B, Tc, K] candidate F0 (0 = voiceless) and strength
  at::Tensor rel_intensity;   ///< [B, Tc] local peak / global peak, clipped to 1 [B93]
  at::Tensor centred;         ///< [B, Tc, Wp] mean-removed pitch window (for shimmer amplitudes)
  at::Tensor intensity_db;    ///< [B, Tc]
  at::Tensor
      spectral;  ///< [B, Tc, S]: loudness, mfcc..., flux, alpha, hammarberg, slopes, logmel...
};

/// The F0 path's choice per frame, all [B, T].
struct Chosen {
  at::Tensor voiced;    ///< bool: a voiced candidate was chosen (and the frame exists)
  at::Tensor f0;        ///< Hz, 0 where unvoiced
  at::Tensor r_chosen;  ///< strength of the chosen candidate
  at::Tensor period;    ///< 1 / f0 in seconds, 0 where unvoiced
};

/// The frame before the first row given to rows(): jitter and shimmer compare with it.
struct Previous {
  at::Tensor voiced, period, amp;  ///< [B]; false/0 before the first frame of a waveform
};

/// What rows() assembles, all of the same frames.
struct RowInputs {
  at::Tensor cf, cs;        ///< [B, T, K] candidates
  Chosen path;              ///< [B, T]
  at::Tensor amp;           ///< [B, T] peak amplitude within half a chosen period
  at::Tensor intensity_db;  ///< [B, T]
  at::Tensor spectral;      ///< [B, T, S]
  at::Tensor frame_mask;    ///< [B, T] bool
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Config

void LldConfig::validate() const {
  auto fail = [](const std::string& what) { throw ConfigError(what); };
  if (sample_rate_hz < 4000 || sample_rate_hz > 192000)
    fail(name_value("sample_rate_hz", sample_rate_hz) + ": expected 4000..192000");
  if (!(frame_shift_ms > 0) || hop_samples() < 1)
    fail(name_value("frame_shift_ms", frame_shift_ms) + ": expected > 0 and at least one sample");
  if (!(f0_floor_hz >= 20)) fail(name_value("f0_floor_hz", f0_floor_hz) + ": expected >= 20");
  if (!(f0_ceiling_hz > f0_floor_hz))
    fail(name_value("f0_ceiling_hz", f0_ceiling_hz) + ": expected > f0_floor_hz (" +
         format_number(f0_floor_hz) + ")");
  if (!(f0_ceiling_hz < sample_rate_hz / 2.0))
    fail(name_value("f0_ceiling_hz", f0_ceiling_hz) + ": expected below Nyquist (" +
         format_number(sample_rate_hz / 2.0) + " Hz); lower it or raise sample_rate_hz");
  if (!(periods_per_window >= 1 && periods_per_window <= 10))
    fail(name_value("periods_per_window", periods_per_window) + ": expected 1..10");
  if (ifloor(periods_per_window / f0_floor_hz * sample_rate_hz) / 2 - 1 < 4)
    fail(name_value("f0_floor_hz", f0_floor_hz) +
         ": pitch window shorter than 10 samples; lower it");
  if (max_candidates < 2 || max_candidates > 64)
    fail(name_value("max_candidates", max_candidates) + ": expected 2..64");
  for (auto [name, v] : {std::pair{"silence_threshold", silence_threshold},
                         {"voicing_threshold", voicing_threshold}})
    if (!(v >= 0 && v <= 1)) fail(name_value(name, v) + ": expected 0..1");
  for (auto [name, v] : {std::pair{"octave_cost", octave_cost},
                         {"octave_jump_cost", octave_jump_cost},
                         {"voiced_unvoiced_cost", voiced_unvoiced_cost}})
    if (!(v >= 0 && v <= 10)) fail(name_value(name, v) + ": expected 0..10");
  if (!(spectral_window_ms >= 5 && spectral_window_ms <= 200))
    fail(name_value("spectral_window_ms", spectral_window_ms) + ": expected 5..200");
  if (mel_bands < 2 || mel_bands > 128)
    fail(name_value("mel_bands", mel_bands) + ": expected 2..128");
  if (!(mel_low_hz >= 0 && mel_low_hz < std::min(mel_high_hz, sample_rate_hz / 2.0)))
    fail(name_value("mel_low_hz", mel_low_hz) +
         ": expected 0 <= mel_low_hz < min(mel_high_hz, Nyquist)");
  if (mfcc_count < 0 || mfcc_count >= mel_bands)
    fail(name_value("mfcc_count", mfcc_count) + ": expected 0..mel_bands-1");
}

int64_t LldConfig::hop_samples() const {
  return std::llround(sample_rate_hz * frame_shift_ms / 1000.0);
}

std::vector<LldColumn> lld_columns(const LldConfig& config) {
  // Level-dependent: the absolute-level columns. intensity_db and the log-mel bands are
  // dB / ln of power, so a gain adds a constant to them; loudness is power^0.33, so a gain
  // scales it. Not: F0 and voicing; HNR, jitter and shimmer (ratios); MFCC 1.. (a gain adds
  // the same constant to every log-mel band, which only c0, not output, sees); spectral
  // flux (of L2-normalised spectra); alpha ratio, Hammarberg index and slopes (differences
  // of dB levels).
  std::vector<LldColumn> columns = {{"f0_hz", false},        {"voiced", false},
                                    {"voicing_prob", false}, {"intensity_db", true},
                                    {"loudness", true},      {"hnr_db", false},
                                    {"jitter_local", false}, {"shimmer_local", false}};
  for (int k = 1; k <= config.mfcc_count; ++k)
    columns.push_back({"mfcc_" + std::to_string(k), false});
  for (const char* n : {"spectral_flux", "alpha_ratio_db", "hammarberg_db",
                        "slope_0_500_db_per_khz", "slope_500_1500_db_per_khz"})
    columns.push_back({n, false});
  for (int m = 0; m < config.mel_bands; ++m)
    columns.push_back({"logmel_" + std::to_string(m), true});
  return columns;
}

std::vector<std::string> lld_column_names(const LldConfig& config) {
  std::vector<std::string> names;
  for (auto& c : lld_columns(config)) names.push_back(std::move(c.name));
  return names;
}

int64_t lld_frame_count(int64_t samples, const LldConfig& config) {
  const int64_t hop = config.hop_samples();
  return samples <= 0 ? 0 : (samples + hop - 1) / hop;
}

double lld_frame_time_s(int64_t frame, const LldConfig& config) {
  const int64_t hop = config.hop_samples();
  return double(frame * hop + hop / 2) / config.sample_rate_hz;
}

// ---------------------------------------------------------------------------------------------
// Extractor

struct LldExtractor::Impl {
  LldConfig config;
  Geometry geo;
  Tables cpu;
  std::map<std::string, Tables> by_device;

  const Tables& tables(const at::Device& device) {
    if (device.is_cpu()) return cpu;
    auto key = device.str();
    auto it = by_device.find(key);
    if (it == by_device.end()) it = by_device.emplace(key, tables_to(cpu, device)).first;
    return it->second;
  }

  /// Frames [B, Tc, W] of padded rows `xp` [B, N + 2 pad]: frame t0 + k covers samples
  /// c_{t0+k} + offset .. c_{t0+k} + offset + W - 1 (a strided view, no copy).
  at::Tensor frames(const at::Tensor& xp, int64_t t0, int64_t tc, int64_t offset, int64_t w) const {
    const int64_t start = geo.pad + geo.hop / 2 + offset + t0 * geo.hop;
    return xp.narrow(1, start, (tc - 1) * geo.hop + w).unfold(1, w, geo.hop);
  }

  ChunkOut chunk(const Tables& tab, const at::Tensor& xp, const at::Tensor& vp,
                 const at::Tensor& global_peak, int64_t t0, int64_t tc) const;
  at::Tensor spectral(const Tables& tab, const at::Tensor& xp, int64_t t0, int64_t tc) const;
  LldBatch run(const at::Tensor& waveforms, const at::Tensor& lengths);

  // Pieces of run() that LldStream shares, so that both compute the same numbers.
  /// Local scores [B, T, K] of Praat's path finder.
  at::Tensor local_scores(const at::Tensor& cf, const at::Tensor& cs,
                          const at::Tensor& rel_intensity) const;
  /// Costs [B, T, K, K] from the candidates cf_prev [B, T, K] of frames t to cf_cur of t + 1.
  at::Tensor transitions(const at::Tensor& cf_prev, const at::Tensor& cf_cur) const;
  /// chosen: [B, T, 1] candidate index per frame.
  Chosen choose(const at::Tensor& cf, const at::Tensor& cs, const at::Tensor& chosen,
                const at::Tensor& frame_mask) const;
  /// Peak |centred| [B, Tc] within half a period of the frame centre (shimmer's amplitude).
  at::Tensor amplitude(const Tables& tab, const at::Tensor& centred,
                       const at::Tensor& period) const;
  /// The LLD rows [B, T, F] of frames whose path is chosen.
  at::Tensor rows(const RowInputs& in, const Previous& prev) const;
};

ChunkOut LldExtractor::Impl::chunk(const Tables& tab, const at::Tensor& xp, const at::Tensor& vp,
                                   const at::Tensor& global_peak, int64_t t0, int64_t tc) const {
  const auto& c = config;
  const auto& g = geo;
  ChunkOut out;

  // --- F0 candidates: Praat's AC method [B93], vectorised over [B, Tc]. ---
  // Local mean over one longest period to both sides (2 * nsamp_period samples).
  auto seg = frames(xp, t0, tc, -g.period, 2 * g.period);
  auto segv = frames(vp, t0, tc, -g.period, 2 * g.period);
  auto local_mean = seg.sum(-1) / segv.sum(-1).clamp_min(1.0);  // [B, Tc]
  auto fv = frames(vp, t0, tc, -g.pitch_half, g.pitch_win);
  auto centred = (frames(xp, t0, tc, -g.pitch_half, g.pitch_win) - local_mean.unsqueeze(-1)) * fv;
  auto windowed = centred * tab.hann;  // [B, Tc, W]
  // Local peak of the windowed frame within half a longest period of the centre; its ratio
  // to the global peak drives the voiceless candidate's strength (silence threshold).
  const int64_t j0 = std::max<int64_t>(0, g.pitch_half - g.half_period);
  const int64_t j1 = std::min<int64_t>(g.pitch_win, g.pitch_half + g.half_period);
  auto local_peak = windowed.narrow(-1, j0, j1 - j0).abs().amax(-1);  // [B, Tc]
  auto gp = global_peak.unsqueeze(1);
  out.rel_intensity = at::where(gp > 0, (local_peak / gp.clamp_min(1e-30)).clamp_max(1.0),
                                at::zeros_like(local_peak));

  // Autocorrelation by FFT, normalised by lag 0 and by the window's autocorrelation:
  // r(tau) = r_xw(tau) / (r_xw(0) r_w(tau))  [B93, eq. 9].
  auto ac = compat::irfft(compat::power(compat::rfft(windowed, g.pitch_nfft)), g.pitch_nfft)
                .narrow(-1, 0, g.brent_ixmax + 2);
  auto ac0 = ac.narrow(-1, 0, 1);
  auto r = at::where(ac0 > 0, ac / (ac0.clamp_min(1e-30) * tab.window_r), at::zeros_like(ac));

  // Local maxima at lags 2..L-1 above half the voicing threshold are candidates.
  const int64_t lmax = std::min(g.max_lag, g.brent_ixmax);
  const int64_t nl = lmax - 2;
  auto rl = r.narrow(-1, 1, nl), rc = r.narrow(-1, 2, nl), rr = r.narrow(-1, 3, nl);
  auto is_peak =
      (rc > 0.5 * c.voicing_threshold) & (rc > rl) & (rc >= rr) & (local_peak > 0).unsqueeze(-1);
  // Parabolic interpolation of lag and height (Praat refines with sinc interpolation instead;
  // the difference is far below the 20% gross-error scale and ~0.01 in strength).
  auto dr = 0.5 * (rr - rl);
  auto d2r = at::where(is_peak, 2.0 * rc - rl - rr, at::ones_like(rc));
  auto lags = at::arange(2, lmax, r.options());
  auto lag = lags + dr / d2r;
  auto strength = rc + 0.5 * dr * dr / d2r;
  strength = at::where(strength > 1.0, 1.0 / strength.clamp_min(1e-6),
                       strength);  // reflect high values [B93]
  auto freq = double(c.sample_rate_hz) / lag.clamp_min(1.0);
  // Keep the strongest candidates by strength - octave_cost * log2(floor / f) (Praat's ranking).
  const double kNoPeak = -1e30;
  auto rank = at::where(is_peak, strength - c.octave_cost * at::log2(c.f0_floor_hz / freq),
                        at::full_like(strength, kNoPeak));
  const int64_t kv = std::min<int64_t>(c.max_candidates - 1, nl);
  auto top = at::topk(rank, kv, -1);
  auto top_valid = std::get<0>(top) > kNoPeak / 2;
  auto top_idx = std::get<1>(top);
  auto zeros_k = at::zeros_like(std::get<0>(top));
  auto cf = at::where(top_valid, freq.gather(-1, top_idx), zeros_k);
  auto cs = at::where(top_valid, strength.gather(-1, top_idx), zeros_k);
  auto voiceless = at::zeros_like(local_mean).unsqueeze(-1);  // candidate 0: voicelessness
  out.cand_f = at::cat({voiceless, cf}, -1);
  out.cand_s = at::cat({voiceless, cs}, -1);
  out.centred = centred;

  // --- Intensity: Praat's To Intensity [PI]. Mean over the window removed ("subtract mean"),
  // then the Kaiser-weighted mean square over the samples present, in dB re (2e-5 Pa)^2. ---
  const int64_t iw = 2 * g.intensity_half + 1;
  auto fi = frames(xp, t0, tc, -g.intensity_half, iw);
  auto fiv = frames(vp, t0, tc, -g.intensity_half, iw);
  auto n = fiv.sum(-1, true).clamp_min(1.0);
  auto d = (fi - fi.sum(-1, true) / n) * fiv;
  auto wsum = (fiv * tab.kaiser).sum(-1);
  auto ms = (d * d * tab.kaiser).sum(-1) / wsum.clamp_min(1e-30);
  out.intensity_db = db10(ms.clamp_min(kIntensityRefPa2 * std::pow(10.0, kIntensityFloorDb / 10)) /
                          kIntensityRefPa2);

  out.spectral = spectral(tab, xp, t0, tc);
  return out;
}

at::Tensor LldExtractor::Impl::spectral(const Tables& tab, const at::Tensor& xp, int64_t t0,
                                        int64_t tc) const {
  const auto& g = geo;
  // One frame before the chunk for spectral flux (zeros before the first frame).
  const int64_t first = t0 > 0 ? t0 - 1 : 0;
  const int64_t count = tc + (t0 - first);
  auto frames_s = frames(xp, first, count, -g.spec_win / 2, g.spec_win) * tab.hamming;
  auto power = compat::power(compat::rfft(frames_s, g.spec_nfft)) * tab.spec_norm;  // [B, C, bins]
  auto mel = at::matmul(power, tab.mel);                                            // [B, C, M]
  // Log-mel (natural log) of band power, floored [E16: 26 mel bands].
  auto logmel = at::log(mel.clamp_min(kPowerFloor));
  // MFCC 1..n: orthonormal DCT-II of log-mel [E16].
  auto mfcc = at::matmul(logmel, tab.dct);
  // Loudness: auditory spectrum = mel band power weighted by the equal-loudness curve and
  // compressed by the intensity-loudness power law (cube root), summed over bands [H90];
  // the eGeMAPS loudness is this sum over its auditory spectrum [E16]. Arbitrary units.
  auto loudness = (mel * tab.eq_loudness).clamp_min(0.0).pow(0.33).sum(-1, true);
  // Spectral flux: squared distance of consecutive L2-normalised magnitude spectra [E16];
  // the first frame of a row has 0.
  auto mag = at::sqrt(power);
  auto unit = mag / at::sqrt((power).sum(-1, true)).clamp_min(std::sqrt(kPowerFloor));
  at::Tensor flux;
  if (t0 > 0) {
    auto diff = unit.narrow(1, 1, tc) - unit.narrow(1, 0, tc);
    flux = (diff * diff).sum(-1, true);
  } else {
    auto diff = unit.narrow(1, 1, tc - 1) - unit.narrow(1, 0, tc - 1);
    flux = at::cat(
        {at::zeros_like(unit.narrow(1, 0, 1).narrow(-1, 0, 1)), (diff * diff).sum(-1, true)}, 1);
  }
  // Alpha ratio: energy 50-1000 Hz over 1-5 kHz, dB [E16].
  auto alpha = db10(((power * tab.band_alpha_lo).sum(-1, true) + kPowerFloor) /
                    ((power * tab.band_alpha_hi).sum(-1, true) + kPowerFloor));
  // Hammarberg index: strongest bin 0-2 kHz over strongest bin 2-5 kHz, dB [E16].
  auto hamm = db10(((power * tab.band_hamm_lo).amax(-1, true) + kPowerFloor) /
                   ((power * tab.band_hamm_hi).amax(-1, true) + kPowerFloor));
  // Spectral slopes: least-squares slope of the dB power spectrum over 0-500 and
  // 500-1500 Hz, dB/kHz [E16].
  auto power_db = db10(power + kPowerFloor);
  auto slope_lo = at::matmul(power_db, tab.slope_lo).unsqueeze(-1);
  auto slope_hi = at::matmul(power_db, tab.slope_hi).unsqueeze(-1);
  auto all = at::cat({loudness, mfcc, alpha, hamm, slope_lo, slope_hi, logmel}, -1);
  all = all.narrow(1, t0 - first, tc);
  // Order of columns after loudness: mfcc, flux, alpha, hammarberg, slopes, logmel.
  const int64_t nm = mfcc.size(-1);
  return at::cat({all.narrow(-1, 0, 1 + nm), flux, all.narrow(-1, 1 + nm, all.size(-1) - 1 - nm)},
                 -1);
}

at::Tensor LldExtractor::Impl::local_scores(const at::Tensor& cf, const at::Tensor& cs,
                                            const at::Tensor& rel_intensity) const {
  const auto& c = config;
  // Local score: voiced candidate strength - octave_cost * log2(ceiling / f); voiceless
  // (f = 0 or f >= ceiling) voicing_threshold + max(0, 2 - rel / (silence / (1 + voicing))).
  auto cvoiced = (cf > 0) & (cf < c.f0_ceiling_hz);
  auto unvoiced_strength =
      c.silence_threshold <= 0
          ? at::full_like(rel_intensity, c.voicing_threshold)
          : c.voicing_threshold +
                (2.0 - rel_intensity / (c.silence_threshold / (1.0 + c.voicing_threshold)))
                    .clamp_min(0.0);
  auto log2f = at::log2(cf.clamp_min(1.0));
  return at::where(cvoiced, cs - c.octave_cost * (std::log2(c.f0_ceiling_hz) - log2f),
                   unvoiced_strength.unsqueeze(-1).expand_as(cs));
}

at::Tensor LldExtractor::Impl::transitions(const at::Tensor& cf_prev,
                                           const at::Tensor& cf_cur) const {
  const auto& c = config;
  // Transition costs scaled to the 10 ms step as Praat does: octave_jump_cost * |log2(f1/f2)|
  // between voiced candidates, voiced_unvoiced_cost across a voicing change, 0 otherwise.
  const double step_correction = 0.01 / (double(geo.hop) / c.sample_rate_hz);
  const double jump_cost = c.octave_jump_cost * step_correction;
  const double vu_cost = c.voiced_unvoiced_cost * step_correction;
  const auto fopt = cf_prev.options();
  auto voiced = [&](const at::Tensor& f) { return (f > 0) & (f < c.f0_ceiling_hz); };
  auto vprev = voiced(cf_prev).unsqueeze(3), vcur = voiced(cf_cur).unsqueeze(2);
  auto lprev = at::log2(cf_prev.clamp_min(1.0)).unsqueeze(3),
       lcur = at::log2(cf_cur.clamp_min(1.0)).unsqueeze(2);
  auto zero = at::zeros({}, fopt);
  return at::where(vprev & vcur, jump_cost * (lprev - lcur).abs(),
                   at::where(vprev != vcur, at::full({}, vu_cost, fopt), zero));  // [B, T, K, K]
}

Chosen LldExtractor::Impl::choose(const at::Tensor& cf, const at::Tensor& cs,
                                  const at::Tensor& chosen, const at::Tensor& frame_mask) const {
  auto cvoiced = (cf > 0) & (cf < config.f0_ceiling_hz);
  Chosen out;
  out.voiced = cvoiced.gather(2, chosen).squeeze(-1) & frame_mask;
  auto zeros = at::zeros(frame_mask.sizes(), cf.options());
  out.f0 = at::where(out.voiced, cf.gather(2, chosen).squeeze(-1), zeros);
  out.r_chosen = cs.gather(2, chosen).squeeze(-1);
  out.period = at::where(out.voiced, 1.0 / out.f0.clamp_min(1.0), at::zeros_like(out.f0));
  return out;
}

at::Tensor LldExtractor::Impl::amplitude(const Tables& tab, const at::Tensor& centred,
                                         const at::Tensor& period) const {
  auto half_period = 0.5 * period * double(config.sample_rate_hz);  // [B, Tc]
  auto inside = tab.pitch_pos.abs() <= half_period.unsqueeze(-1);   // [B, Tc, W]
  return at::where(inside, centred.abs(), at::zeros_like(centred)).amax(-1);
}

at::Tensor LldExtractor::Impl::rows(const RowInputs& in, const Previous& prev) const {
  const auto& f0 = in.path.f0;
  const auto& voiced = in.path.voiced;
  const auto& period = in.path.period;
  const auto& amp = in.amp;
  const int64_t columns = int64_t(lld_column_names(config).size());
  // Voicing probability: the strongest in-range candidate strength (normalised autocorrelation
  // peak, Boersma's "strength"), 0..1 [B93].
  auto cvoiced = (in.cf > 0) & (in.cf < config.f0_ceiling_hz);
  auto voicing_prob = at::where(cvoiced, in.cs, at::zeros_like(in.cs)).amax(-1).clamp(0.0, 1.0);
  // HNR = 10 log10(r / (1 - r)) from the chosen peak r [B93, eq. 4], r clipped to
  // [1e-6, 1 - 1e-6] (+-60 dB); 0 on unvoiced frames.
  auto r_safe = in.path.r_chosen.clamp(1e-6, 1.0 - 1e-6);
  auto hnr = at::where(voiced, db10(r_safe / (1.0 - r_safe)), at::zeros_like(r_safe));

  // --- Jitter and shimmer (local), Praat's definitions [PJ] applied to consecutive voiced
  // frames instead of consecutive glottal periods (a frame-level approximation):
  //   jitter_local  = |T_k - T_{k-1}| / ((T_k + T_{k-1}) / 2), T = 1 / F0, pairs with a period
  //                   ratio > 1.3 (Praat's maximum period factor) give 0;
  //   shimmer_local = |A_k - A_{k-1}| / ((A_k + A_{k-1}) / 2), A = peak |x - local mean| within
  //                   half a period of the frame centre; ratio > 1.6 (maximum amplitude factor)
  //                   gives 0.
  // Both are 0 unless frames k and k-1 are voiced. ---
  auto shift = [](const at::Tensor& v, const at::Tensor& before) {  // v[:, t-1]
    return at::cat({before.unsqueeze(1), v.narrow(1, 0, v.size(1) - 1)}, 1);
  };
  auto pair = voiced & shift(voiced, prev.voiced);
  auto p_prev = shift(period, prev.period), a_prev = shift(amp, prev.amp);
  auto ratio = [](const at::Tensor& a, const at::Tensor& b) {
    return at::max(a, b) / at::min(a, b).clamp_min(1e-12);
  };
  auto rel_diff = [](const at::Tensor& a, const at::Tensor& b) {
    return (a - b).abs() / (0.5 * (a + b)).clamp_min(1e-12);
  };
  auto jitter = at::where(pair & (ratio(period, p_prev) <= 1.3), rel_diff(period, p_prev),
                          at::zeros_like(f0));
  auto shimmer = at::where(pair & (ratio(amp, a_prev) <= 1.6) & (amp > 0) & (a_prev > 0),
                           rel_diff(amp, a_prev), at::zeros_like(f0));

  const auto& spectral_cols = in.spectral;  // loudness, mfcc..., flux, alpha, ..., logmel...
  auto lld =
      at::cat({f0.unsqueeze(-1), voiced.to(at::kFloat).unsqueeze(-1), voicing_prob.unsqueeze(-1),
               in.intensity_db.unsqueeze(-1), spectral_cols.narrow(-1, 0, 1), hnr.unsqueeze(-1),
               jitter.unsqueeze(-1), shimmer.unsqueeze(-1),
               spectral_cols.narrow(-1, 1, columns - kFirstMfccColumn)},
              -1);
  TORCH_CHECK(lld.size(-1) == columns, "features: internal column count ", lld.size(-1),
              " != ", columns);
  // Defined values only: frames past the end are 0; a final guard maps any non-finite value to 0.
  return at::where(in.frame_mask.unsqueeze(-1) & at::isfinite(lld), lld, at::zeros_like(lld));
}

LldBatch LldExtractor::Impl::run(const at::Tensor& waveforms, const at::Tensor& lengths) {
  TORCH_CHECK(waveforms.dim() == 2, "features: waveforms must be [B, N], got ", waveforms.sizes());
  TORCH_CHECK(waveforms.is_floating_point(), "features: waveforms must be float, got ",
              waveforms.scalar_type());
  TORCH_CHECK(lengths.dim() == 1 && lengths.size(0) == waveforms.size(0),
              "features: lengths must be [B] = [", waveforms.size(0), "], got ", lengths.sizes());
  TORCH_CHECK(lengths.scalar_type() == at::kLong, "features: lengths must be int64, got ",
              lengths.scalar_type());
  TORCH_CHECK(lengths.device() == waveforms.device(), "features: lengths on ", lengths.device(),
              " but waveforms on ", waveforms.device());
  const auto& c = config;
  const auto& g = geo;
  const auto device = waveforms.device();
  const auto fopt = waveforms.options().dtype(at::kFloat);
  const auto bopt = waveforms.options().dtype(at::kBool);
  const int64_t batch = waveforms.size(0);
  const int64_t columns = int64_t(lld_column_names(c).size());
  auto len = lengths.clamp(0, waveforms.size(1));
  const int64_t max_len = batch > 0 ? len.max().item<int64_t>() : 0;
  const int64_t frames_total = lld_frame_count(max_len, c);
  if (frames_total == 0)
    return {at::zeros({batch, 0, columns}, fopt), at::zeros({batch, 0}, bopt),
            at::zeros({batch, 0}, bopt)};
  const Tables& tab = tables(device);

  // Rows as float32, samples past each length (and any NaN/inf) replaced by 0.
  auto x = waveforms.narrow(1, 0, max_len).to(at::kFloat);
  auto valid = at::arange(max_len, lengths.options()).unsqueeze(0) < len.unsqueeze(1);  // [B, N]
  x = at::where(valid & at::isfinite(x), x, at::zeros_like(x)).clamp(-1e4, 1e4);
  auto validf = valid.to(at::kFloat);
  auto frame_mask = (at::arange(frames_total, lengths.options()) * g.hop).unsqueeze(0) <
                    len.unsqueeze(1);  // [B, T]
  // Global peak of |x - mean| (Praat's silence reference) [B93].
  auto mean = x.sum(1, true) / len.unsqueeze(1).clamp_min(1).to(at::kFloat);
  auto global_peak = ((x - mean).abs() * validf).amax(1);  // [B]
  auto xp = at::constant_pad_nd(x, {g.pad, g.pad}, 0);
  auto vp = at::constant_pad_nd(validf, {g.pad, g.pad}, 0);

  // Frame-local analyses in chunks of frames (memory bound for long inputs); the mean-removed
  // pitch windows are kept for the shimmer amplitudes, which need the chosen F0.
  std::vector<at::Tensor> cand_f, cand_s, rel, inten, spec, centred;
  for (int64_t t0 = 0; t0 < frames_total; t0 += kFramesPerChunk) {
    const int64_t tc = std::min(kFramesPerChunk, frames_total - t0);
    auto out = chunk(tab, xp, vp, global_peak, t0, tc);
    cand_f.push_back(out.cand_f);
    cand_s.push_back(out.cand_s);
    rel.push_back(out.rel_intensity);
    inten.push_back(out.intensity_db);
    spec.push_back(out.spectral);
    centred.push_back(out.centred);
  }
  auto cf = at::cat(cand_f, 1), cs = at::cat(cand_s, 1);  // [B, T, K]
  auto rel_intensity = at::cat(rel, 1);
  const int64_t k = cf.size(2);

  // --- Path finder: Praat's Pitch_pathFinder (Viterbi) [B93]. ---
  auto delta = local_scores(cf, cs, rel_intensity);
  delta = at::where(frame_mask.unsqueeze(-1), delta, at::zeros_like(delta));
  std::vector<at::Tensor> path(frames_total);
  if (frames_total > 1) {
    const int64_t tm = frames_total - 1;
    auto trans = transitions(cf.narrow(1, 0, tm), cf.narrow(1, 1, tm));  // [B, T-1, K, K]
    // Past a row's end the path stays where it is (identity transition, no score).
    auto stay = (1.0 - at::eye(k, fopt)) * 1e9;
    trans = at::where(frame_mask.narrow(1, 1, tm).unsqueeze(-1).unsqueeze(-1), trans, stay);
    trans = trans.contiguous();
    std::vector<at::Tensor> psi(frames_total);
    auto acc = delta.select(1, 0);
    for (int64_t t = 1; t < frames_total; ++t) {
      auto best = (acc.unsqueeze(2) - trans.select(1, t - 1)).max(1);  // over previous candidates
      acc = std::get<0>(best) + delta.select(1, t);
      psi[t] = std::get<1>(best);
    }
    auto idx = acc.argmax(1, true);  // [B, 1]
    path[tm] = idx;
    for (int64_t t = tm; t >= 1; --t) {
      idx = psi[t].gather(1, idx);
      path[t - 1] = idx;
    }
  } else {
    path[0] = delta.select(1, 0).argmax(1, true);
  }
  RowInputs in;
  in.cf = cf;
  in.cs = cs;
  in.path = choose(cf, cs, at::cat(path, 1).unsqueeze(-1), frame_mask);
  std::vector<at::Tensor> amps;
  for (size_t i = 0; i < centred.size(); ++i) {
    const int64_t t0 = int64_t(i) * kFramesPerChunk, tc = centred[i].size(1);
    amps.push_back(amplitude(tab, centred[i], in.path.period.narrow(1, t0, tc)));
  }
  in.amp = at::cat(amps, 1);
  in.intensity_db = at::cat(inten, 1);
  in.spectral = at::cat(spec, 1);
  in.frame_mask = frame_mask;
  auto zeros = at::zeros({batch}, fopt);
  auto lld = rows(in, {zeros.to(at::kBool), zeros, zeros});
  return {lld, in.path.voiced, frame_mask};
}

LldExtractor::LldExtractor(LldConfig config) : impl_(std::make_unique<Impl>()) {
  config.validate();
  impl_->config = config;
  impl_->geo = make_geometry(config);
  impl_->cpu = make_cpu_tables(config, impl_->geo);
}
LldExtractor::~LldExtractor() = default;
LldExtractor::LldExtractor(LldExtractor&&) noexcept = default;
LldExtractor& LldExtractor::operator=(LldExtractor&&) noexcept = default;

const LldConfig& LldExtractor::config() const { return impl_->config; }

LldBatch LldExtractor::operator()(const at::Tensor& waveforms, const at::Tensor& lengths) {
  return impl_->run(waveforms, lengths);
}


// ---------------------------------------------------------------------------------------------
// Stream

void WaveformStats::add(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    // As the extractor cleans its rows: NaN/inf -> 0, then clamped to +-1e4.
    const float v = std::isfinite(x[i]) ? std::clamp(x[i], -1e4f, 1e4f) : 0.0f;
    if (samples == 0 || v < min) min = v;
    if (samples == 0 || v > max) max = v;
    sum += v;
    ++samples;
  }
}

float WaveformStats::global_peak() const {
  if (samples == 0) return 0;
  // The extractor: mean = float sum / float length, peak = max |x - mean| in float; rounding
  // is monotonic, so the extremes of x give the extreme of |x - mean|.
  const float mean = float(sum) / float(samples);
  return std::max(std::fabs(max - mean), std::fabs(min - mean));
}

namespace {
/// Frames of one analysed chunk whose path is still open, [1, tc, ...].
struct OpenChunk {
  int64_t t0 = 0;
  at::Tensor cf, cs, intensity_db, spectral, centred;
};
}  // namespace

struct LldStream::State {
  LldExtractor extractor;
  LldExtractor::Impl& im;
  const Tables& tab;
  int64_t total = 0, frames_total = 0, max_open = 0;
  int64_t k = 0;                 ///< candidates per frame
  at::Tensor global_peak;        ///< [1]
  std::vector<float> buf;        ///< samples from global index buf_start on, cleaned
  int64_t buf_start = 0, received = 0;
  int64_t next_chunk = 0;        ///< first frame not yet analysed
  int64_t first_open = 0;        ///< first frame not yet output
  std::vector<OpenChunk> open;   ///< chunks holding frames >= first_open
  std::vector<uint8_t> psi;      ///< [frame - first_open][k] back-pointers of the open frames
  at::Tensor acc;                ///< [1, K] Viterbi scores after frame next_chunk - 1
  at::Tensor last_cf;            ///< [1, 1, K] candidates of frame next_chunk - 1
  Previous prev;                 ///< the last frame output
  int64_t forced = 0;

  State(LldConfig config, const WaveformStats& stats, int64_t max_open_frames)
      : extractor(std::move(config)),
        im(*extractor.impl_),
        tab(im.tables(at::Device(at::kCPU))),
        total(stats.samples),
        frames_total(lld_frame_count(stats.samples, im.config)),
        max_open(std::max<int64_t>(max_open_frames, kFramesPerChunk)),
        global_peak(at::full({1}, stats.global_peak(), at::TensorOptions().dtype(at::kFloat))) {
    auto zeros = at::zeros({1}, at::TensorOptions().dtype(at::kFloat));
    prev = {zeros.to(at::kBool), zeros, zeros};
  }

  /// Samples [from, to) of the waveform, zero outside it, and their validity (1 inside).
  std::pair<at::Tensor, at::Tensor> window(int64_t from, int64_t to) const {
    auto x = at::zeros({1, to - from}, at::TensorOptions().dtype(at::kFloat));
    auto v = at::zeros({1, to - from}, at::TensorOptions().dtype(at::kFloat));
    const int64_t a = std::max<int64_t>(from, 0), b = std::min(to, total);
    if (b > a) {
      std::copy(buf.begin() + (a - buf_start), buf.begin() + (b - buf_start),
                x.data_ptr<float>() + (a - from));
      v.narrow(1, a - from, b - a).fill_(1.0);
    }
    return {x, v};
  }

  /// Analyses frames next_chunk.. (one chunk, as the extractor's own) and runs the path
  /// finder forward over them.
  void analyse() {
    const auto& g = im.geo;
    const int64_t t0 = next_chunk, tc = std::min(kFramesPerChunk, frames_total - t0);
    const int64_t base = t0 > 0 ? t0 - 1 : 0;  // one frame before for spectral flux
    auto [xp, vp] = window(base * g.hop - g.pad, (t0 + tc) * g.hop + g.pad);
    auto out = im.chunk(tab, xp, vp, global_peak, t0 - base, tc);
    k = out.cand_f.size(2);
    auto delta = im.local_scores(out.cand_f, out.cand_s, out.rel_intensity);
    // [1, tc, K, K]: into frame t0 + i from the frame before (frame 0: unused).
    auto before = t0 > 0 ? last_cf : out.cand_f.narrow(1, 0, 1);
    auto trans =
        im.transitions(at::cat({before, out.cand_f.narrow(1, 0, tc - 1)}, 1), out.cand_f)
            .contiguous();
    const size_t psi_at = psi.size();
    psi.resize(psi_at + size_t(tc * k), 0);
    for (int64_t i = 0; i < tc; ++i) {
      if (t0 + i == 0) {
        acc = delta.select(1, 0);
        continue;
      }
      auto best = (acc.unsqueeze(2) - trans.select(1, i)).max(1);  // over previous candidates
      acc = std::get<0>(best) + delta.select(1, i);
      auto from = std::get<1>(best).contiguous();
      const int64_t* p = from.data_ptr<int64_t>();
      for (int64_t s = 0; s < k; ++s) psi[psi_at + size_t(i * k + s)] = uint8_t(p[s]);
    }
    last_cf = out.cand_f.narrow(1, tc - 1, 1);
    open.push_back({t0, out.cand_f, out.cand_s, out.intensity_db, out.spectral, out.centred});
    next_chunk = t0 + tc;
    // Samples before the next chunk's first window are no longer needed.
    const int64_t keep_from = std::max<int64_t>(0, (next_chunk - 1) * g.hop - g.pad);
    if (keep_from > buf_start) {
      buf.erase(buf.begin(), buf.begin() + std::min<int64_t>(keep_from - buf_start, buf.size()));
      buf_start = keep_from;
    }
  }

  /// Back-pointer of open frame `t` (> first_open) for state `s`: the state at t - 1.
  int64_t back(int64_t t, int64_t s) const { return psi[size_t((t - first_open) * k + s)]; }

  /// The frame up to which every surviving path agrees and its state, or -1.
  std::pair<int64_t, int64_t> merged() const {
    std::vector<char> alive(static_cast<size_t>(k), 1);
    std::vector<char> before(alive.size(), 0);
    for (int64_t t = next_chunk - 1; t > first_open; --t) {
      std::fill(before.begin(), before.end(), 0);
      for (int64_t s = 0; s < k; ++s)
        if (alive[size_t(s)]) before[size_t(back(t, s))] = 1;
      alive.swap(before);
      if (std::count(alive.begin(), alive.end(), 1) == 1)
        return {t - 1, std::find(alive.begin(), alive.end(), 1) - alive.begin()};
    }
    return {-1, -1};
  }

  /// Outputs frames first_open..last, the path ending in `state` at `last`.
  at::Tensor emit(int64_t last, int64_t state) {
    std::vector<int64_t> chosen(size_t(last - first_open + 1));
    chosen.back() = state;
    for (int64_t t = last; t > first_open; --t)
      chosen[size_t(t - 1 - first_open)] = back(t, chosen[size_t(t - first_open)]);
    std::vector<at::Tensor> out;
    for (const auto& c : open) {
      const int64_t a = std::max(first_open, c.t0), b = std::min(last + 1, c.t0 + c.cf.size(1));
      if (b <= a) continue;
      out.push_back(rows_of(c, a - c.t0, b - a, chosen.data() + (a - first_open)));
    }
    psi.erase(psi.begin(), psi.begin() + (last + 1 - first_open) * k);
    first_open = last + 1;
    while (!open.empty() && open.front().t0 + open.front().cf.size(1) <= first_open)
      open.erase(open.begin());
    return out.empty() ? empty_rows() : at::cat(out, 1).select(0, 0);
  }

  at::Tensor rows_of(const OpenChunk& c, int64_t from, int64_t n, const int64_t* chosen) {
    RowInputs in;
    in.cf = c.cf.narrow(1, from, n);
    in.cs = c.cs.narrow(1, from, n);
    in.frame_mask = at::ones({1, n}, at::TensorOptions().dtype(at::kBool));
    auto idx = at::from_blob(const_cast<int64_t*>(chosen), {1, n, 1},
                             at::TensorOptions().dtype(at::kLong))
                   .clone();
    in.path = im.choose(in.cf, in.cs, idx, in.frame_mask);
    in.amp = im.amplitude(tab, c.centred.narrow(1, from, n), in.path.period);
    in.intensity_db = c.intensity_db.narrow(1, from, n);
    in.spectral = c.spectral.narrow(1, from, n);
    auto lld = im.rows(in, prev);
    prev = {in.path.voiced.select(1, n - 1), in.path.period.select(1, n - 1),
            in.amp.select(1, n - 1)};
    return lld;
  }

  at::Tensor empty_rows() const {
    return at::zeros({0, int64_t(lld_column_names(im.config).size())},
                     at::TensorOptions().dtype(at::kFloat));
  }

  /// Analyses every chunk whose samples have arrived; outputs what is decided.
  at::Tensor advance(bool at_end) {
    std::vector<at::Tensor> out;
    const auto& g = im.geo;
    while (next_chunk < frames_total) {
      const int64_t tc = std::min(kFramesPerChunk, frames_total - next_chunk);
      if (!at_end && received < std::min(total, (next_chunk + tc) * g.hop + g.pad)) break;
      analyse();
      auto [last, state] = merged();
      if (last < 0 && next_chunk - first_open > max_open) {
        ++forced;  // the survivors stayed apart too long: take the best path so far
        last = next_chunk - 1;
        state = acc.argmax(1).item<int64_t>();
      }
      if (last >= first_open) out.push_back(emit(last, state));
    }
    if (at_end && first_open < frames_total)
      out.push_back(emit(frames_total - 1, acc.argmax(1).item<int64_t>()));
    return out.empty() ? empty_rows() : at::cat(out, 0);
  }
};

LldStream::LldStream(LldConfig config, const WaveformStats& stats, int64_t max_open_frames)
    : state_(std::make_unique<State>(std::move(config), stats, max_open_frames)) {}
LldStream::~LldStream() = default;
LldStream::LldStream(LldStream&&) noexcept = default;
LldStream& LldStream::operator=(LldStream&&) noexcept = default;

at::Tensor LldStream::push(const float* samples, int64_t n) {
  auto& s = *state_;
  if (n < 0 || s.received + n > s.total)
    throw DataError("features: " + std::to_string(s.received + n) +
                    " samples streamed, more than the " + std::to_string(s.total) +
                    " of the first pass; the audio changed between the two reads");
  for (int64_t i = 0; i < n; ++i)
    s.buf.push_back(std::isfinite(samples[i]) ? std::clamp(samples[i], -1e4f, 1e4f) : 0.0f);
  s.received += n;
  return s.advance(false);
}

at::Tensor LldStream::finish() {
  auto& s = *state_;
  if (s.received != s.total)
    throw DataError("features: " + std::to_string(s.received) + " samples streamed, not the " +
                    std::to_string(s.total) +
                    " of the first pass; the audio changed between the two reads");
  return s.advance(true);
}

int64_t LldStream::frames_out() const { return state_->first_open; }
int64_t LldStream::forced_decisions() const { return state_->forced; }

}  // namespace tenor::features
