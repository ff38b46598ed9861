#include "core/fetch_cache.h"

#include <cstdlib>

namespace tenor {

std::filesystem::path fetch_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::filesystem::path cache = xdg && *xdg ? std::filesystem::path(xdg)
                                                  : std::filesystem::path(home ? home : "/root") /
                                                        ".cache";
  return cache / "tenor";
}

}  // namespace tenor
