// `tenor --version`: what this binary is and what its LibTorch can do, so that a report
// from a user (or a GPU machine) says which build produced it.
#include <string>

#include "cli/commands.h"
#include "core/torch_compat.h"
#include "core/version.h"
#include "train/distributed.h"

namespace tenor::cli {
namespace {

std::string compiled_in(const std::string& version) {
  return version.empty() ? "not compiled in" : "compiled in, " + version;
}

}  // namespace

std::string version_text() {
  std::string out = std::string("tenor ") + kVersion + " (commit " + kGitCommit + ")\n";
  out += "LibTorch " + compat::torch_version() + "\n";
  out += "CUDA: " + compiled_in(compat::cuda_compiled_version()) + "\n";
  out += "cuDNN: " + compiled_in(compat::cudnn_compiled_version()) + "\n";
  out += "NCCL: " + compiled_in(train::nccl_version()) + "\n";
  out += "CUDA devices visible: " + std::to_string(compat::cuda_device_count());
  return out;
}

}  // namespace tenor::cli
