#include "tests/features/signals.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

#include "core/torch_compat.h"

namespace tenor::test {

std::vector<float> harmonic_signal(const Contour& f0, double seconds, int rate_hz, double peak) {
  const int64_t n = std::llround(seconds * rate_hz);
  std::vector<double> phase(n);
  double ph = 0;
  for (int64_t i = 0; i < n; ++i) {
    phase[i] = ph;
    ph += 2 * std::numbers::pi * f0(double(i) / rate_hz) / rate_hz;
  }
  const double top = std::min(4000.0, 0.45 * rate_hz);
  std::vector<double> y(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const double f = f0(double(i) / rate_hz);
    for (int k = 1; k * f < top; ++k) y[i] += std::sin(k * phase[i]) / k;
  }
  double m = 1e-12;
  for (double v : y) m = std::max(m, std::abs(v));
  std::vector<float> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = float(y[i] / m * peak);
  return out;
}

std::vector<float> sine(double freq_hz, double amplitude, double seconds, int rate_hz) {
  const int64_t n = std::llround(seconds * rate_hz);
  std::vector<float> out(n);
  for (int64_t i = 0; i < n; ++i)
    out[i] = float(amplitude * std::sin(2 * std::numbers::pi * freq_hz * i / rate_hz));
  return out;
}

void add_noise(std::vector<float>& x, double snr_db, uint64_t seed) {
  double ms = 0;
  for (float v : x) ms += double(v) * v;
  ms /= std::max<size_t>(x.size(), 1);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, std::sqrt(ms / std::pow(10.0, snr_db / 10)));
  for (auto& v : x) v = float(v + normal(rng));
}

std::vector<float> white_noise(int64_t n, double sigma, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, sigma);
  std::vector<float> out(n);
  for (auto& v : out) v = float(normal(rng));
  return out;
}

void band_limit(std::vector<float>& x, int rate_hz, double low_hz, double high_hz) {
  const int64_t n = int64_t(x.size());
  auto t = at::from_blob(x.data(), {n}, at::TensorOptions().dtype(at::kFloat)).to(at::kDouble);
  auto spec = compat::rfft(t, n);
  auto freqs =
      at::arange(spec.size(0), at::TensorOptions().dtype(at::kDouble)) * (double(rate_hz) / n);
  auto keep = ((freqs >= low_hz) & (freqs <= high_hz)).to(at::kDouble);
  auto y = compat::irfft(spec * keep, n).to(at::kFloat).contiguous();
  std::copy(y.data_ptr<float>(), y.data_ptr<float>() + n, x.begin());
}

}  // namespace tenor::test
