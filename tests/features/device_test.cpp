// resolve_device: the one place a device string becomes a device (issue 18, item 4). Without
// a usable GPU, asking for CUDA is a ConfigError that says why and what to do instead.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "core/torch_compat.h"
#include "data/features/device.h"

namespace tenor::test {
namespace {

std::string config_error_of(const std::string& spec) {
  try {
    features::resolve_device(spec);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ResolveDevice, CpuAlwaysAndAutoFallsToCpuWithoutAGpu) {
  EXPECT_TRUE(features::resolve_device("cpu").is_cpu());
  const auto chosen = features::resolve_device("auto");
  EXPECT_EQ(chosen.is_cuda(), compat::cuda_device_count() > 0);
}

TEST(ResolveDevice, MalformedSpecsAreConfigErrorsEverywhere) {
  for (const char* spec : {"cuda:", "cuda:x", "cuda:-1", "cuda:1x", "cudax", "gpu", ""})
    EXPECT_NE(config_error_of(spec), "") << "'" << spec << "'";
  EXPECT_NE(config_error_of("cuda:x").find("cuda:N"), std::string::npos);
}

TEST(ResolveDevice, CudaWithoutAGpuSaysWhyAndTheFix) {
  const int gpus = compat::cuda_device_count();
  if (gpus > 0) GTEST_SKIP() << gpus << " GPU(s) visible: CUDA is usable here";
  for (const char* spec : {"cuda", "cuda:0", "cuda:3"}) {
    const std::string message = config_error_of(spec);
    EXPECT_NE(message.find(std::string("device '") + spec + "' asked for"), std::string::npos)
        << message;
    const bool compiled = !compat::cuda_compiled_version().empty();
    EXPECT_NE(message.find(compiled ? "no CUDA GPU is visible" : "has no CUDA compiled in"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("--device cpu"), std::string::npos) << message;
  }
}

TEST(ResolveDevice, AnIndexPastTheLastGpuIsRefused) {
  const int gpus = compat::cuda_device_count();
  if (gpus == 0) GTEST_SKIP() << "needs a GPU (gpu-check.sh runs it)";
  const std::string message = config_error_of("cuda:" + std::to_string(gpus));
  EXPECT_NE(message.find("only " + std::to_string(gpus) + " CUDA GPU(s) are visible"),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace tenor::test
