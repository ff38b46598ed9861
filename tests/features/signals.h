#pragma once
// Synthetic test signals with known F0 contours (harmonic complexes), noise and
// telephone band-limiting, generated in the tests (no binary fixtures).

#include <cstdint>
#include <functional>
#include <vector>

namespace tenor::test {

/// F0 in Hz as a function of time in seconds.
using Contour = std::function<double(double)>;

/// Harmonic complex with phase integrated from `f0`, harmonics k = 1.. below min(4 kHz, 0.45 rate)
/// with amplitude 1/k, scaled to peak `peak`.
std::vector<float> harmonic_signal(const Contour& f0, double seconds, int rate_hz,
                                   double peak = 0.5);

/// Sine of `amplitude` (full scale 1) at `freq_hz`.
std::vector<float> sine(double freq_hz, double amplitude, double seconds, int rate_hz);

/// Adds white Gaussian noise at `snr_db` relative to the signal's mean square (fixed seed).
void add_noise(std::vector<float>& x, double snr_db, uint64_t seed = 7);

/// `n` samples of white Gaussian noise of standard deviation `sigma`.
std::vector<float> white_noise(int64_t n, double sigma, uint64_t seed = 7);

/// Zero-phase band-pass by FFT masking (telephone: 300-3400 Hz).
void band_limit(std::vector<float>& x, int rate_hz, double low_hz, double high_hz);

}  // namespace tenor::test
