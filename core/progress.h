#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace tenor {

/// A progress line on stderr: done/total, rate and ETA. Redrawn in place on a
/// terminal (at most 5 times a second); elsewhere (logs, CI) one line per 10 %.
///
/// The rate counts only work seen between updates: the first update is the baseline (work
/// resumed from an earlier process, or done before the first update, would otherwise make
/// the rate up), so no line is drawn until a second update gives a rate, and the ETA is
/// (total - done) / rate. The final line gives the total time, and the rate when known.
class Progress {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  Progress(std::string what, std::string unit, int64_t total, bool enabled = true);
  /// For tests: lines go to `out` (as to a file, one per 10 %) and time comes from `now`.
  Progress(std::string what, std::string unit, int64_t total, std::FILE* out, Clock now);
  void update(int64_t done);
  /// Prints the final line (with the total time).
  void finish();

 private:
  void draw(bool final);
  /// Work per second since the first update; 0 while unknown.
  double rate() const;

  std::string what_, unit_;
  int64_t total_, done_ = 0, start_done_ = -1;
  bool enabled_, tty_;
  std::FILE* out_;
  Clock now_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, first_update_, last_update_, last_draw_;
};

}  // namespace tenor
