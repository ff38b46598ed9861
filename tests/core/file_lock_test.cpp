#include "core/file_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "core/error.h"

namespace tenor {
namespace {
namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::path(testing::TempDir()) / (name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(FileLock, SecondHolderIsRefusedWithThePid) {
  fs::path lock = fresh_dir("lock") / "out.lock";
  // flock locks belong to open file descriptions, so a second FileLock in this process
  // conflicts like another process would.
  FileLock first(lock, "the run directory out");
  try {
    FileLock second(lock, "the run directory out");
    FAIL() << "second lock was granted";
  } catch (const IoError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("the run directory out is in use by another tenor process"), std::string::npos)
        << m;
    EXPECT_NE(m.find("pid " + std::to_string(::getpid())), std::string::npos) << m;
  }
}

TEST(FileLock, ReleasedOnDestructionAndFileRemoved) {
  fs::path lock = fresh_dir("lock-release") / "out.lock";
  { FileLock first(lock, "x"); EXPECT_TRUE(fs::exists(lock)); }
  EXPECT_FALSE(fs::exists(lock));
  FileLock again(lock, "x");
  EXPECT_TRUE(fs::exists(lock));
}

TEST(FileLock, DiesWithItsProcess) {
  fs::path lock = fresh_dir("lock-kill") / "out.lock";
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    FileLock held(lock, "x");
    ::pause();  // killed below, never unwinds: the kernel must release the lock
    ::_exit(0);
  }
  // The holder writes its PID only once it holds the lock: wait for that, not for the file.
  std::error_code ec;
  for (int i = 0; i < 500 && !(fs::exists(lock, ec) && fs::file_size(lock, ec) > 0); ++i)
    ::usleep(10000);
  EXPECT_THROW(FileLock(lock, "x"), IoError);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_TRUE(fs::exists(lock));  // the file stays after SIGKILL ...
  EXPECT_NO_THROW(FileLock(lock, "x"));  // ... but the lock does not
}

TEST(FileLock, UnwritableDirectoryIsAnIoError) {
  EXPECT_THROW(FileLock("/nonexistent-dir/x.lock", "x"), IoError);
}

}  // namespace
}  // namespace tenor
