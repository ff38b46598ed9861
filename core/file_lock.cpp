#include "core/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace tenor {
namespace fs = std::filesystem;

namespace {

/// What the holder wrote into the lock file ("pid 1234: tenor train ..."), or "" if unreadable.
std::string holder_of(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string this_command() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : raw)
    if (c == '\0') c = ' ';
  while (!raw.empty() && raw.back() == ' ') raw.pop_back();
  return raw;
}

}  // namespace

FileLock::FileLock(fs::path lock_path, const std::string& what) : path_(std::move(lock_path)) {
  // The file may be unlinked by a releasing holder between our open() and flock(); then the
  // lock we got is on an orphaned inode, so check that the path still names what we locked.
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      throw IoError("cannot create the lock file " + path_.string() + " for " + what + ": " +
                    std::strerror(errno) + "; check that the directory exists and is writable");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        std::string holder = holder_of(path_);
        throw IoError(what + " is in use by another tenor process (" +
                      (holder.empty() ? std::string("its PID is not recorded yet") : holder) +
                      "); wait for it to finish or stop it, or choose another output (lock file " +
                      path_.string() + ")");
      }
      throw IoError("cannot lock " + path_.string() + " for " + what + ": " + std::strerror(err));
    }
    struct stat held {}, named {};
    if (::fstat(fd, &held) == 0 && ::stat(path_.c_str(), &named) == 0 &&
        held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
      fd_ = fd;
      std::ostringstream who;
      who << "pid " << ::getpid() << ": " << this_command() << "\n";
      std::string text = who.str();
      if (::ftruncate(fd_, 0) == 0) {
        ssize_t ignored = ::pwrite(fd_, text.data(), text.size(), 0);
        (void)ignored;
      }
      return;
    }
    ::close(fd);  // raced with a release that removed the file: try again on the new one
  }
  throw IoError("cannot take the lock " + path_.string() + " for " + what +
                ": it keeps being replaced; is another process deleting it?");
}

FileLock::~FileLock() {
  if (fd_ < 0) return;
  // Unlink while still holding the lock, so a waiter never locks a file that is about to vanish
  // unnoticed (it re-checks the inode after locking).
  std::error_code ignored;
  fs::remove(path_, ignored);
  ::close(fd_);
}

}  // namespace tenor
