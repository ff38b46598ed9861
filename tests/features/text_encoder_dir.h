#pragma once
// Where the tests find the fetched text encoder (tools/text-encoders/fetch.sh, which
// scripts/install-deps.sh runs): $TENOR_TEXT_ENCODER_DIR, else the fetch cache.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace tenor::test {

inline std::filesystem::path text_encoder_dir(const std::string& name = "minilm-l6") {
  if (const char* d = std::getenv("TENOR_TEXT_ENCODER_DIR")) return d;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::filesystem::path cache =
      xdg ? std::filesystem::path(xdg) : std::filesystem::path(home ? home : "/root") / ".cache";
  return cache / "tenor/text-encoders" / name;
}

/// A test parameter's name for encoder `name`: gtest takes letters, digits and '_' only.
inline std::string encoder_test_name(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

}  // namespace tenor::test
