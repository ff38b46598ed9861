#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace tenor {

Progress::Progress(std::string what, std::string unit, int64_t total, bool enabled)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::update(int64_t done) {
  if (start_done_ < 0) start_done_ = done;  // resumed work does not count towards the rate
  done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  int decile = total_ > 0 ? static_cast<int>(10 * done_ / total_) : 10;
  if (tty_ ? now - last_draw_ > std::chrono::milliseconds(200) : decile != last_decile_) {
    last_decile_ = decile;
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (enabled_) draw(true);
}

void Progress::draw(bool final) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? double(done_ - std::max<int64_t>(start_done_, 0)) / elapsed : 0;
  const double eta = rate > 0 ? double(total_ - done_) / rate : 0;
  const int width = 24;
  int filled = total_ > 0 ? static_cast<int>(width * done_ / total_) : width;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  char line[256];
  if (final) {
    std::snprintf(line, sizeof line, "%s [%s] %lld/%lld %s in %.1f s (%.1f %s/s)", what_.c_str(),
                  bar.c_str(), static_cast<long long>(done_), static_cast<long long>(total_),
                  unit_.c_str(), elapsed, rate, unit_.c_str());
  } else {
    std::snprintf(line, sizeof line, "%s [%s] %lld/%lld %s, %.1f %s/s, ETA %02d:%02d",
                  what_.c_str(), bar.c_str(), static_cast<long long>(done_),
                  static_cast<long long>(total_), unit_.c_str(), rate, unit_.c_str(),
                  static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
  }
  std::fprintf(stderr, tty_ ? "\r%s\033[K%s" : "%s%s", line, final || !tty_ ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace tenor
