#pragma once
// The few LibTorch calls whose spelling differs (or may differ) between Debian's
// LibTorch 1.13 and LibTorch 2.x. Everything version-dependent goes here; the rest
// of the code uses ATen ops that are stable across both.
//
// - FFTs: always the torch.fft family (at::fft_rfft / at::fft_irfft), never the
//   removed at::rfft/at::irfft of 1.7 and earlier; optional arguments are passed as
//   plain values so c10::optional (1.13) and std::optional (2.x) both accept them.
// - Thread control: at::set_num_threads / at::get_num_threads (ATen/Parallel.h).
// - c10d: a backend (ProcessGroupGloo, ProcessGroupNCCL) is a c10d::ProcessGroup in 1.13
//   and a c10d::Backend since 2.0; both have the same allreduce/broadcast/barrier calls.
// - What is compiled in (`tenor --version`, resolve_device): asked of ATen's CUDA hooks,
//   which a CPU LibTorch answers by throwing and a CUDA one answers without a GPU; cuDNN 9
//   (LibTorch 2.x) numbers its versions differently from cuDNN 8 and earlier.
// tenor builds against LibTorch 2.11 from the torch wheel by default and Debian's 1.13 with
// TENOR_TORCH=system (cmake/TenorTorch.cmake); both compile from this one header.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <cmath>
#include <cstdint>
#include <string>

#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif

namespace c10d {
class ProcessGroup;
class Backend;
}  // namespace c10d

namespace tenor::compat {

/// The c10d class a collective backend derives from (see the note at the top); complete
/// only where the c10d headers are included (train/distributed.cpp).
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
using CollectiveBackend = c10d::Backend;
#else
using CollectiveBackend = c10d::ProcessGroup;
#endif

/// One-sided FFT of real `x` along the last dim, zero-padded (or cut) to `n`: [..., n/2 + 1]
/// complex.
inline at::Tensor rfft(const at::Tensor& x, int64_t n) { return at::fft_rfft(x, n, -1); }

/// Inverse of rfft: real [..., n] from [..., n/2 + 1] complex.
inline at::Tensor irfft(const at::Tensor& spectrum, int64_t n) {
  return at::fft_irfft(spectrum, n, -1);
}

/// Softmax attention of queries over keys and values [..., L, D] without a mask: ATen's fused
/// kernel where LibTorch has one (2.0 on; it reads the scores block by block instead of
/// writing all of them out), the same product in three ops on 1.13.
inline at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v);
#else
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  return at::matmul(at::softmax(at::matmul(q, k.transpose(-1, -2)) * scale, -1), v);
#endif
}
/// |X|^2 of a complex tensor, as real.
inline at::Tensor power(const at::Tensor& spectrum) {
  auto re = at::real(spectrum);
  auto im = at::imag(spectrum);
  return re * re + im * im;
}

/// Intra-op threads of ATen on CPU (0 leaves the LibTorch default).
inline void set_cpu_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

/// Mixed-precision autocast for the ops of one device type within a scope (LibTorch has
/// no C++ AMP API of its own: this mirrors torch.autocast). Does nothing when `on` is
/// false. The setters became per-device in 2.4; 1.13 has separate CPU and GPU ones.
class Autocast {
 public:
  Autocast(c10::DeviceType device, bool on, at::ScalarType dtype) : device_(device), on_(on) {
    if (!on_) return;
    previous_ = enabled(device_);
    previous_dtype_ = get_dtype(device_);
    set(device_, true, dtype);
    at::autocast::increment_nesting();
  }
  ~Autocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set(device_, previous_, previous_dtype_);
  }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
#if defined(TORCH_VERSION_MAJOR) && \
    (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))
  static bool enabled(c10::DeviceType d) { return at::autocast::is_autocast_enabled(d); }
  static at::ScalarType get_dtype(c10::DeviceType d) { return at::autocast::get_autocast_dtype(d); }
  static void set(c10::DeviceType d, bool on, at::ScalarType t) {
    at::autocast::set_autocast_enabled(d, on);
    at::autocast::set_autocast_dtype(d, t);
  }
#else
  static bool enabled(c10::DeviceType d) {
    return d == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
  }
  static at::ScalarType get_dtype(c10::DeviceType d) {
    return d == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                           : at::autocast::get_autocast_cpu_dtype();
  }
  static void set(c10::DeviceType d, bool on, at::ScalarType t) {
    if (d == c10::kCUDA) {
      at::autocast::set_enabled(on);
      at::autocast::set_autocast_gpu_dtype(t);
    } else {
      at::autocast::set_cpu_enabled(on);
      at::autocast::set_autocast_cpu_dtype(t);
    }
  }
#endif
  c10::DeviceType device_;
  bool on_;
  bool previous_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

/// "13.0": the CUDA runtime this LibTorch was compiled against, or "" when it has no CUDA
/// (the CPU LibTorch's hooks throw for the query; the CUDA one answers without a GPU).
inline std::string cuda_compiled_version() {
  try {
    const long v = at::detail::getCUDAHooks().versionCUDART();  // 13000 for 13.0
    return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
  } catch (const std::exception&) {
    return "";
  }
}

/// "9.19.0": the cuDNN compiled in, or "" when none. cuDNN 9 numbers its versions
/// major*10000 + minor*100 + patch, cuDNN 8 and earlier (LibTorch 1.13) major*1000 + ...
inline std::string cudnn_compiled_version() {
  try {
    const auto& hooks = at::detail::getCUDAHooks();
    if (!hooks.compiledWithCuDNN()) return "";
    const long v = hooks.versionCuDNN();
    const long major_unit = v >= 90000 ? 10000 : 1000;
    return std::to_string(v / major_unit) + "." + std::to_string(v % major_unit / 100) + "." +
           std::to_string(v % 100);
  } catch (const std::exception&) {
    return "";
  }
}

/// CUDA devices this process sees (0 without a GPU, a driver, or a CUDA LibTorch).
inline int cuda_device_count() {
  try {
    return at::detail::getCUDAHooks().getNumGPUs();
  } catch (const std::exception&) {
    return 0;
  }
}

/// ATen's fused AdamW kernel for the CPU (at::_fused_adamw_, LibTorch 2.4 and later): one
/// pass per parameter instead of the several ops of torch::optim::AdamW (train/optimizer.h,
/// whose fused step compiles only under TENOR_TORCH_FUSED_ADAMW: 1.13's optimizers also key
/// their state by another type).
#if defined(TORCH_VERSION_MAJOR) && \
    (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))
#define TENOR_TORCH_FUSED_ADAMW 1
#else
#define TENOR_TORCH_FUSED_ADAMW 0
#endif
inline constexpr bool kFusedAdamW = TENOR_TORCH_FUSED_ADAMW != 0;

/// "1.13.1", "2.11.0", or "unknown".
inline std::string torch_version() {
#ifdef TORCH_VERSION
  return TORCH_VERSION;
#else
  return "unknown";
#endif
}

}  // namespace tenor::compat
