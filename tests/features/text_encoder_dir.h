#pragma once
// Where the tests find the fetched encoders (tools/text-encoders/fetch.sh, which
// scripts/install-deps.sh runs): a text encoder in $TENOR_TEXT_ENCODER_DIR, else the fetch
// cache.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/fetch_cache.h"

namespace tenor::test {

inline std::filesystem::path text_encoder_dir(const std::string& name = "minilm-l6") {
  if (const char* d = std::getenv("TENOR_TEXT_ENCODER_DIR")) return d;
  return fetch_cache_dir() / "text-encoders" / name;
}

/// A speech encoder fetch.sh lays out (whisper-tiny-en): the cache's speech-encoders/NAME.
inline std::filesystem::path speech_encoder_dir(const std::string& name) {
  return fetch_cache_dir() / "speech-encoders" / name;
}

/// A test parameter's name for encoder `name`: gtest takes letters, digits and '_' only.
inline std::string encoder_test_name(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

}  // namespace tenor::test
