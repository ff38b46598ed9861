#pragma once

#include <filesystem>

namespace tenor {

/// A path this process created for its own use (a file or a directory tree) that must not
/// outlive the command: removed when the object is destroyed (success, or an exception
/// unwinding), and also when the process is interrupted by SIGINT, SIGTERM or SIGHUP while the
/// object lives. An interrupt removes every live TemporaryPath, then ends the process by the
/// same signal (exit status 128 + signal, as without the handler). A signal the process was
/// started with ignored (`nohup`) stays ignored. SIGKILL cannot be caught: a command that
/// creates such paths removes the ones a killed predecessor left when it next runs.
class TemporaryPath {
 public:
  explicit TemporaryPath(std::filesystem::path path);
  ~TemporaryPath();
  TemporaryPath(const TemporaryPath&) = delete;
  TemporaryPath& operator=(const TemporaryPath&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// Disowns the path: it is kept from now on, also on an interrupt.
  void keep();

 private:
  std::filesystem::path path_;
  bool kept_ = false;
};

/// While alive, an interrupt waits before removing the TemporaryPaths and ending the process,
/// so that outputs written under it (a report's files) are either all written or none. Hold
/// it only for short, bounded work.
class DeferInterrupts {
 public:
  DeferInterrupts();
  ~DeferInterrupts();
  DeferInterrupts(const DeferInterrupts&) = delete;
  DeferInterrupts& operator=(const DeferInterrupts&) = delete;
};

}  // namespace tenor
