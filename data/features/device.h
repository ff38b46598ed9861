#pragma once

#include <c10/core/Device.h>

#include <string>

namespace tenor::features {

/// The one place a device string becomes a device: "auto" (CUDA when present, else
/// CPU), "cpu", "cuda" or "cuda:N". Asking for CUDA where there is none throws
/// ConfigError; nothing falls back silently.
c10::Device resolve_device(const std::string& spec);

/// LibTorch's CPU threads for this process when nothing chose them: where a cgroup CPU quota
/// (a container's --cpus) allows fewer cores than this process may run on, LibTorch's
/// default (one thread per core it may run on) is lowered to the quota's cores
/// (core/cpu.h), and that count is returned; 0 when it is left as it is, or OMP_NUM_THREADS
/// is set (not empty). Called as tenor starts and by the trainer (train() also runs outside
/// the CLI); a command's own `threads` wins after.
int fit_cpu_threads_to_quota();

}  // namespace tenor::features
