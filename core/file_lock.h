#pragma once

#include <filesystem>
#include <string>

namespace tenor {

/// An advisory, exclusive lock on a file path (flock(2)), held for the object's lifetime.
///
/// Two tenor processes writing one output (a run directory, a feature store) would interleave
/// their files; each takes this lock on the output first, and the second is refused with the
/// holder's PID. The lock dies with its process (also on SIGKILL), so a crash never leaves a
/// stale lock behind; the lock file records the holder's PID and command for the message and is
/// removed on release.
class FileLock {
 public:
  /// Takes the lock on `lock_path` without waiting. `what` names the locked output in the
  /// message ("the run directory runs/demo"). Throws IoError when another process holds it
  /// (naming its PID and the fix) or when the lock file cannot be created.
  FileLock(std::filesystem::path lock_path, const std::string& what);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace tenor
