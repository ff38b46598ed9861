// `tenor --version` names the tool, its commit and the LibTorch it was built against, and
// says truthfully what that LibTorch has compiled in (issue 18, item 2).
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/data/fixtures.h"

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// TENOR_TEST_TORCH_VERSION is "2.11.0+cu130" for the wheel: the C++ side reports "2.11.0".
std::string release_of(const std::string& version) { return version.substr(0, version.find('+')); }

}  // namespace

TEST(Version, NamesToolCommitLibTorchAndWhatIsCompiledIn) {
  std::string out;
  // No GPU visible, whatever the machine has: the count is then known to be 0.
  ::setenv("CUDA_VISIBLE_DEVICES", "", 1);
  ASSERT_EQ(tenor::test::run_tenor("--version", &out), 0) << out;
  const auto lines = lines_of(out);
  ASSERT_EQ(lines.size(), 6u) << out;
  const std::regex first(R"(tenor \d+\.\d+\.\d+ \(commit ([0-9a-f]{7,}(-dirty)?|unknown)\))");
  EXPECT_TRUE(std::regex_match(lines[0], first)) << lines[0];
  EXPECT_EQ(lines[1], "LibTorch " + release_of(TENOR_TEST_TORCH_VERSION));
  const std::string cuda = TENOR_TEST_TORCH_CUDA;
  if (cuda.empty()) {
    EXPECT_EQ(lines[2], "CUDA: not compiled in");
    EXPECT_EQ(lines[3], "cuDNN: not compiled in");
    EXPECT_EQ(lines[4], "NCCL: not compiled in");
  } else {
    EXPECT_EQ(lines[2], "CUDA: compiled in, " + cuda);
    EXPECT_TRUE(std::regex_match(lines[3], std::regex(R"(cuDNN: compiled in, \d+\.\d+\.\d+)")))
        << lines[3];
    EXPECT_TRUE(std::regex_match(lines[4], std::regex(R"(NCCL: compiled in, \d+\.\d+\.\d+)")))
        << lines[4];
  }
  EXPECT_EQ(lines[5], "CUDA devices visible: 0");
}
