#include "data/features/device.h"

#include <ATen/Context.h>

#include <charconv>

#include "core/cpu.h"
#include "core/error.h"
#include "core/torch_compat.h"

namespace tenor::features {
namespace {

/// Why `spec` cannot run here, or "" when it can: a LibTorch without CUDA, no GPU visible, or
/// an index past the last GPU. One sentence with the fix, for ConfigError (exit 2).
std::string cuda_unavailable(const std::string& spec, int index) {
  const std::string cuda = compat::cuda_compiled_version();
  if (cuda.empty())
    return "device '" + spec + "' asked for, but this tenor's LibTorch (" +
           compat::torch_version() +
           ") has no CUDA compiled in; use --device cpu or auto, or rebuild against the CUDA "
           "torch wheel (scripts/build.sh's default)";
  const int gpus = compat::cuda_device_count();
  if (gpus == 0 || !at::hasCUDA())
    return "device '" + spec + "' asked for, but no CUDA GPU is visible (LibTorch " +
           compat::torch_version() + ", CUDA " + cuda +
           "); check the driver (nvidia-smi) and CUDA_VISIBLE_DEVICES, or use --device cpu or "
           "auto";
  if (index >= gpus)
    return "device '" + spec + "' asked for, but only " + std::to_string(gpus) +
           " CUDA GPU(s) are visible (cuda:0..cuda:" + std::to_string(gpus - 1) +
           "); pick one of those, or use --device cuda";
  return "";
}

}  // namespace

c10::Device resolve_device(const std::string& spec) {
  if (spec == "auto")
    return cuda_unavailable("auto", 0).empty() ? c10::Device(c10::kCUDA, 0)
                                               : c10::Device(c10::kCPU);
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (spec.size() > 4) {
      const char* begin = spec.data() + 5;
      const char* end = spec.data() + spec.size();
      auto [last, ec] = std::from_chars(begin, end, index);
      if (spec[4] != ':' || ec != std::errc() || last != end || begin == end || index < 0)
        throw ConfigError("device '" + spec + "' is not of the form cuda:N (N = 0, 1, ...)");
    }
    const std::string why = cuda_unavailable(spec, index);
    if (!why.empty()) throw ConfigError(why);
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw ConfigError("unknown device '" + spec + "'; use auto, cpu, cuda or cuda:N");
}

int fit_cpu_threads_to_quota() {
  const CpuShare& share = cpu_share();
  if (omp_num_threads_set() || share.usable() >= share.allowed) return 0;
  compat::set_cpu_threads(int(share.usable()));
  return int(share.usable());
}

}  // namespace tenor::features
