#include "data/spectrum.h"

#include <ATen/ATen.h>

#include <algorithm>

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

}  // namespace tenor::data
