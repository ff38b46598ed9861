#include "data/features/device.h"

#include <ATen/Context.h>

#include "core/error.h"

namespace tenor::features {

c10::Device resolve_device(const std::string& spec) {
  const bool cuda = at::hasCUDA();
  if (spec == "auto") return cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    if (!cuda)
      throw ConfigError("device '" + spec +
                        "' asked for, but this LibTorch has no CUDA or no GPU is visible; use "
                        "--device cpu or auto");
    int index = 0;
    if (spec.size() > 5) {
      try {
        index = std::stoi(spec.substr(5));
      } catch (const std::exception&) {
        throw ConfigError("device '" + spec + "' is not of the form cuda:N");
      }
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw ConfigError("unknown device '" + spec + "'; use auto, cpu, cuda or cuda:N");
}

}  // namespace tenor::features
