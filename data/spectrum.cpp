#include "data/spectrum.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/torch_compat.h"

namespace tenor::data {

FrameBandPower frame_band_power(const float* x, size_t n, size_t frame, size_t hop,
                                const std::vector<size_t>& edges) {
  FrameBandPower out;
  out.bands = edges.empty() ? 0 : edges.size() - 1;
  if (n < frame || out.bands == 0) return out;
  out.frames = (n - frame) / hop + 1;
  const auto dbl = at::TensorOptions().dtype(at::kDouble);
  auto signal = at::from_blob(const_cast<float*>(x), {static_cast<int64_t>(n)}, at::kFloat)
                    .to(at::kDouble);
  auto frames = signal.unfold(0, static_cast<int64_t>(frame), static_cast<int64_t>(hop));
  const auto half = static_cast<int64_t>(frame / 2);
  auto window = at::hann_window(static_cast<int64_t>(frame), /*periodic=*/true, dbl);
  auto power = compat::power(compat::rfft(frames * window, static_cast<int64_t>(frame)))
                   .narrow(1, 0, half);  // bins 0 .. frame/2 - 1
  std::vector<double> selector(frame / 2 * out.bands, 0.0);  // [bins x bands]: 1 where k in m
  for (size_t m = 0; m < out.bands; ++m)
    for (size_t k = edges[m]; k < std::min<size_t>(edges[m + 1], frame / 2); ++k)
      selector[k * out.bands + m] = 1.0;
  auto select = at::from_blob(selector.data(), {half, static_cast<int64_t>(out.bands)}, dbl);
  auto band = power.matmul(select).contiguous();
  auto total = power.narrow(1, 1, half - 1).sum(1);
  auto share = at::where(total > 0, band.sum(1) / total, at::zeros_like(total)).contiguous();
  auto mean_square = frames.square().mean(1).contiguous();
  auto copy = [](const at::Tensor& t) {
    const double* p = t.data_ptr<double>();
    return std::vector<double>(p, p + t.numel());
  };
  out.power = copy(band);
  out.in_band_share = copy(share);
  out.mean_square = copy(mean_square);
  return out;
}

MelFilters mel_filters(size_t nfft, double rate, size_t bands, double lo_hz, double hi_hz,
                       MelScale scale, bool equal_area) {
  constexpr double kSlaneyStep = 200.0 / 3, kSlaneyLogStep = 0.06875177742094912;  // ln 6.4 / 27
  auto mel = [scale](double f) {
    if (scale == MelScale::htk) return 2595.0 * std::log10(1.0 + f / 700.0);
    return f < 1000 ? f / kSlaneyStep : 15 + std::log(f / 1000) / kSlaneyLogStep;
  };
  auto hz = [scale](double m) {
    if (scale == MelScale::htk) return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0);
    return m < 15 ? m * kSlaneyStep : 1000 * std::exp(kSlaneyLogStep * (m - 15));
  };
  MelFilters out;
  out.edges_hz.resize(bands + 2);
  for (size_t i = 0; i < bands + 2; ++i)
    out.edges_hz[i] = hz(mel(lo_hz) + (mel(hi_hz) - mel(lo_hz)) * double(i) / double(bands + 1));
  const size_t bins = nfft / 2 + 1;
  out.weights.assign(bins * bands, 0.0);
  for (size_t m = 0; m < bands; ++m) {
    const double fl = out.edges_hz[m], fc = out.edges_hz[m + 1], fr = out.edges_hz[m + 2];
    const double scale_by = equal_area ? 2 / (fr - fl) : 1;
    for (size_t k = 0; k < bins; ++k) {
      const double f = double(k) * rate / double(nfft);
      const double w = std::min((f - fl) / (fc - fl), (fr - f) / (fr - fc));
      out.weights[k * bands + m] = std::max(0.0, w) * scale_by;
    }
  }
  return out;
}

}  // namespace tenor::data
