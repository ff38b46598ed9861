#pragma once

#include <c10/core/Device.h>

#include <string>

namespace tenor::features {

/// The one place a device string becomes a device: "auto" (CUDA when present, else
/// CPU), "cpu", "cuda" or "cuda:N". Asking for CUDA where there is none throws
/// ConfigError; nothing falls back silently.
c10::Device resolve_device(const std::string& spec);

}  // namespace tenor::features
