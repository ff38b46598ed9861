#pragma once
// Peak resident memory of one run of the `tenor` binary, for tests that hold memory flat.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace tenor::test {

/// Peak resident memory in MB of `tenor ARGS...` (stdout and stderr discarded), from the
/// child's own rusage (wait4); -1 if it did not exit with 0.
inline double peak_rss_mb(const std::vector<std::string>& args) {
  std::vector<std::string> argv_s = {TENOR_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  if (pid < 0 || wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0)
    return -1;
  return double(usage.ru_maxrss) / 1024.0;  // kB on Linux
}

}  // namespace tenor::test
