#pragma once
// Short-time band power of a signal, by LibTorch's FFT (at::fft_rfft through
// core/torch_compat.h, the project's one FFT), and the project's one mel filterbank. Free of
// LibTorch headers, so its callers compile fast.

#include <cstddef>
#include <vector>

namespace tenor::data {

/// Per frame: the power in each band, the mean square and the share of the spectrum inside the
/// bands.
struct FrameBandPower {
  size_t frames = 0;
  size_t bands = 0;
  std::vector<double> power;          ///< [frames x bands], row-major
  std::vector<double> mean_square;    ///< [frames], of the samples (before the window)
  std::vector<double> in_band_share;  ///< [frames], of the power in bins 1 .. frame/2 - 1
};

/// The frames of `frame` samples every `hop` samples of x[0, n) (whole frames only), each
/// Hann-windowed (periodic) and transformed; band m sums |X_k|^2 over the FFT bins
/// k in [edges[m], edges[m + 1]), so `edges` holds bands + 1 ascending bins below frame / 2.
/// Computed in double precision.
FrameBandPower frame_band_power(const float* x, size_t n, size_t frame, size_t hop,
                                const std::vector<size_t>& edges);

/// The mel scale of a filterbank: HTK's 2595 log10(1 + f / 700) (openSMILE's, the LLDs'), or
/// Slaney's, linear below 1 kHz and logarithmic above (librosa's default, Whisper's).
enum class MelScale { htk, slaney };

/// Triangular mel filters over the nfft / 2 + 1 bins of an `nfft`-point FFT at `rate` Hz.
struct MelFilters {
  std::vector<double> edges_hz;  ///< bands + 2, equally spaced in mel: band m is m .. m + 2
  std::vector<double> weights;   ///< [nfft / 2 + 1 x bands], row-major
};

/// `bands` triangles between lo_hz and hi_hz, each 1 at its centre; with `equal_area`
/// (Slaney's norm) each is scaled by 2 / its width in Hz, so that all have the same area.
MelFilters mel_filters(size_t nfft, double rate, size_t bands, double lo_hz, double hi_hz,
                       MelScale scale, bool equal_area);

}  // namespace tenor::data
