#pragma once
// Where the tests find the fetched encoders (tools/text-encoders/fetch.sh, which
// scripts/install-deps.sh runs): a text encoder in $TENOR_TEXT_ENCODER_DIR, else the fetch
// cache.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace tenor::test {

/// Where fetch.sh keeps what it fetches: ${XDG_CACHE_HOME:-$HOME/.cache}/tenor.
inline std::filesystem::path fetch_cache() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::filesystem::path cache =
      xdg ? std::filesystem::path(xdg) : std::filesystem::path(home ? home : "/root") / ".cache";
  return cache / "tenor";
}

inline std::filesystem::path text_encoder_dir(const std::string& name = "minilm-l6") {
  if (const char* d = std::getenv("TENOR_TEXT_ENCODER_DIR")) return d;
  return fetch_cache() / "text-encoders" / name;
}

/// A speech encoder fetch.sh lays out (whisper-tiny-en): the cache's speech-encoders/NAME.
inline std::filesystem::path speech_encoder_dir(const std::string& name) {
  return fetch_cache() / "speech-encoders" / name;
}

/// A test parameter's name for encoder `name`: gtest takes letters, digits and '_' only.
inline std::string encoder_test_name(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

}  // namespace tenor::test
