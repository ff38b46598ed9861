#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tenor {
namespace {

/// "1234", "12.3" or "0.42": about three significant digits, no exponent.
std::string rate_text(double rate) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", rate >= 100 ? 0 : rate >= 10 ? 1 : 2, rate);
  return buf;
}

}  // namespace

Progress::Progress(std::string what, std::string unit, int64_t total, bool enabled)
    : Progress(std::move(what), std::move(unit), total, stderr, std::chrono::steady_clock::now) {
  enabled_ = enabled;
  tty_ = ::isatty(STDERR_FILENO) != 0;
}

Progress::Progress(std::string what, std::string unit, int64_t total, std::FILE* out, Clock now)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(true),
      tty_(false),
      out_(out),
      now_(std::move(now)),
      start_(now_()),
      first_update_(start_),
      last_update_(start_),
      last_draw_(start_) {}

void Progress::update(int64_t done) {
  const auto now = now_();
  if (start_done_ < 0) {  // the baseline: resumed work does not count towards the rate
    start_done_ = done;
    first_update_ = now;
  }
  done_ = done;
  last_update_ = now;
  // Nothing sensible to draw before a rate exists ("0.0 calls/s, ETA 00:00" is not).
  if (!enabled_ || rate() <= 0) return;
  const int decile = total_ > 0 ? static_cast<int>(10 * done_ / total_) : 10;
  if (tty_ ? now - last_draw_ > std::chrono::milliseconds(200) : decile != last_decile_) {
    last_decile_ = decile;
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (enabled_) draw(true);
}

double Progress::rate() const {
  const double seconds = std::chrono::duration<double>(last_update_ - first_update_).count();
  const int64_t work = done_ - std::max<int64_t>(start_done_, 0);
  return seconds > 0 && work > 0 ? double(work) / seconds : 0.0;
}

void Progress::draw(bool final) {
  const double elapsed = std::chrono::duration<double>(now_() - start_).count();
  const double r = rate();
  const int width = 24;
  int filled = total_ > 0 ? static_cast<int>(width * std::clamp<int64_t>(done_, 0, total_) / total_)
                          : width;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  char line[512];
  const auto done = static_cast<long long>(done_), total = static_cast<long long>(total_);
  if (final) {
    const std::string rate_part = r > 0 ? " (" + rate_text(r) + " " + unit_ + "/s)" : "";
    std::snprintf(line, sizeof line, "%s [%s] %lld/%lld %s in %.1f s%s", what_.c_str(),
                  bar.c_str(), done, total, unit_.c_str(), elapsed, rate_part.c_str());
  } else {
    const long long eta = std::llround(std::max<double>(0, double(total_ - done_)) / r);
    std::snprintf(line, sizeof line, "%s [%s] %lld/%lld %s, %s %s/s, ETA %02lld:%02lld",
                  what_.c_str(), bar.c_str(), done, total, unit_.c_str(), rate_text(r).c_str(),
                  unit_.c_str(), eta / 60, eta % 60);
  }
  std::fprintf(out_, tty_ ? "\r%s\033[K%s" : "%s%s", line, final || !tty_ ? "\n" : "");
  std::fflush(out_);
}

}  // namespace tenor
