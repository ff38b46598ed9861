#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

#include "core/error.h"

namespace tenor {
namespace {
std::mutex g_mutex;
spdlog::level::level_enum g_level = spdlog::level::info;
}  // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& module) {
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(module)) return existing;
  auto created = spdlog::stderr_color_mt(module);
  created->set_pattern("[%H:%M:%S %n] %^%l%$: %v");
  created->set_level(g_level);
  return created;
}

void set_log_level(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw UsageError("unknown log level '" + level + "'; use debug, info, warn or error");
  }
  std::lock_guard lock(g_mutex);
  g_level = parsed;
  spdlog::apply_all([&](std::shared_ptr<spdlog::logger> l) { l->set_level(parsed); });
}

}  // namespace tenor
