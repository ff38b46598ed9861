#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace tenor {

/// The human log of one module (`data`, `train`, ...), written to stderr.
/// Metrics never go here: they go to metrics.jsonl.
std::shared_ptr<spdlog::logger> logger(const std::string& module);

/// Sets the level of every tenor logger: "debug", "info", "warn" or "error".
void set_log_level(const std::string& level);

}  // namespace tenor
