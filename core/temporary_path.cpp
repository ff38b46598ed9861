#include "core/temporary_path.h"

#include <unistd.h>

#include <csignal>
#include <mutex>
#include <set>
#include <thread>

namespace tenor {
namespace fs = std::filesystem;

namespace {

// The handler only writes the signal's number into a pipe (async-signal-safe); a watcher
// thread reads it and does the removal with ordinary code. It holds `registry_mutex` while
// it removes and until the process ends, so a main thread unwinding at the same time blocks
// in ~TemporaryPath instead of reporting an error about the files being removed.
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::multiset<fs::path>& registry() {
  static std::multiset<fs::path> paths;
  return paths;
}
std::mutex& defer_mutex() {
  static std::mutex m;
  return m;
}

int signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = ::write(signal_pipe[1], &byte, 1);
}

[[noreturn]] void watch() {
  unsigned char sig = 0;
  while (::read(signal_pipe[0], &sig, 1) != 1) {
  }
  std::lock_guard defer(defer_mutex());
  std::lock_guard lock(registry_mutex());
  // The other threads run on meanwhile and may create a file in a directory being removed
  // (which then fails to go): remove, deepest first, until none is left.
  std::error_code ec;
  for (int round = 0; round < 1000; ++round) {
    bool left = false;
    for (auto p = registry().rbegin(); p != registry().rend(); ++p) {
      fs::remove_all(*p, ec);
      left = left || fs::exists(fs::symlink_status(*p, ec));
    }
    if (!left) break;
    std::this_thread::yield();
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);  // ends the process with this thread holding the locks
  for (;;) ::pause();
}

/// Installs the handlers and starts the watcher once per process (again in a forked child,
/// which has the parent's handlers but not its watcher thread).
void install_once() {
  static std::mutex mutex;
  static pid_t installed_for = 0;
  std::lock_guard lock(mutex);
  if (installed_for == ::getpid()) return;
  installed_for = ::getpid();
  if (::pipe(signal_pipe) != 0) return;  // no cleanup on interrupt; the destructors still run
  std::thread(watch).detach();
  for (int sig : kSignals) {
    struct sigaction old {};
    ::sigaction(sig, nullptr, &old);
    if (old.sa_handler == SIG_IGN) continue;
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    ::sigaction(sig, &action, nullptr);
  }
}

}  // namespace

TemporaryPath::TemporaryPath(fs::path path) : path_(std::move(path)) {
  install_once();
  std::lock_guard lock(registry_mutex());
  registry().insert(path_);
}

TemporaryPath::~TemporaryPath() {
  // Removed under the lock: an interrupt meanwhile waits for it rather than skipping a path
  // already taken off the registry but not yet removed.
  std::lock_guard lock(registry_mutex());
  if (kept_) return;
  registry().erase(registry().find(path_));
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void TemporaryPath::keep() {
  std::lock_guard lock(registry_mutex());
  if (kept_) return;
  registry().erase(registry().find(path_));
  kept_ = true;
}

DeferInterrupts::DeferInterrupts() { defer_mutex().lock(); }
DeferInterrupts::~DeferInterrupts() { defer_mutex().unlock(); }

}  // namespace tenor
