#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tenor {

/// A progress line on stderr: done/total, rate and ETA. Redrawn in place on a
/// terminal (at most 5 times a second); elsewhere (logs, CI) one line per 10 %.
class Progress {
 public:
  Progress(std::string what, std::string unit, int64_t total, bool enabled = true);
  void update(int64_t done);
  /// Prints the final line (with the total time).
  void finish();

 private:
  void draw(bool final);

  std::string what_, unit_;
  int64_t total_, done_ = 0, start_done_ = -1;
  bool enabled_, tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace tenor
