// TemporaryPath: removed on destruction and on an interrupt, kept when disowned.
#include "core/temporary_path.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

namespace tenor {
namespace {
namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(testing::TempDir()) /
                       ("tenor-tmppath-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "sub" / "file") << "x";
  return dir;
}

TEST(TemporaryPath, RemovesItsTreeWhenDestroyedUnlessKept) {
  const fs::path a = fresh_dir("a"), b = fresh_dir("b");
  {
    TemporaryPath removed(a);
    TemporaryPath kept(b);
    kept.keep();
  }
  EXPECT_FALSE(fs::exists(a));
  EXPECT_TRUE(fs::exists(b / "sub" / "file"));
  fs::remove_all(b);
}

TEST(TemporaryPath, AnInterruptRemovesItAndEndsTheProcessByTheSignal) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    const fs::path dir = fresh_dir("signal-" + std::to_string(sig));
    const fs::path kept = fresh_dir("kept-" + std::to_string(sig));
    const pid_t pid = ::fork();
    if (pid == 0) {
      TemporaryPath temp(dir);
      TemporaryPath other(kept);
      other.keep();
      ::raise(sig);
      for (;;) ::pause();  // the watcher thread ends the process
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status)) << status;
    EXPECT_EQ(WTERMSIG(status), sig);
    EXPECT_FALSE(fs::exists(dir)) << sig;
    EXPECT_TRUE(fs::exists(kept / "sub" / "file")) << sig;
    fs::remove_all(kept);
  }
}

}  // namespace
}  // namespace tenor
