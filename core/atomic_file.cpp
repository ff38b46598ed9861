#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/error.h"

namespace tenor {
namespace fs = std::filesystem;

fs::path temp_path_beside(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  std::ostringstream name;
  name << "." << target.filename().string() << ".tmp-" << ::getpid() << "-" << counter++;
  return target.parent_path() / name.str();
}

bool is_temp_name_of(const std::string& name, const std::string& target_name) {
  return name.rfind("." + target_name + ".tmp-", 0) == 0;
}

size_t remove_dead_temporaries(const fs::path& target) {
  const std::string name = target.filename().string();
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const std::string prefix = "." + name + ".tmp-";
  size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string found = entry.path().filename().string();
    if (!is_temp_name_of(found, name)) continue;
    // .NAME.tmp-PID-COUNTER: the writer is gone when no process has its PID.
    const std::string rest = found.substr(prefix.size());
    const auto dash = rest.find('-');
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str(), &end, 10);
    if (dash == std::string::npos || end != rest.c_str() + dash || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code ignored;
    if (fs::remove_all(entry.path(), ignored) > 0 && !ignored) ++removed;
  }
  return removed;
}

fs::path temp_path_for_output(const fs::path& target) {
  remove_dead_temporaries(target);
  return temp_path_beside(target);
}

AtomicFile::AtomicFile(fs::path target)
    : target_(std::move(target)), temp_(temp_path_beside(target_)) {
  out_.open(temp_, std::ios::binary | std::ios::trunc);
  if (!out_) {
    throw IoError("cannot create " + temp_.string() + " (for " + target_.string() + "): " +
                  std::strerror(errno) + "; check that the directory exists and is writable");
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    out_.close();
    std::error_code ignored;
    fs::remove(temp_, ignored);
  }
}

void AtomicFile::commit() {
  out_.flush();
  if (!out_) throw IoError("writing " + target_.string() + " failed: " + std::strerror(errno));
  out_.close();
  int fd = ::open(temp_.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec)
    throw IoError("cannot rename " + temp_.string() + " to " + target_.string() + ": " +
                  ec.message());
  committed_ = true;
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  AtomicFile file(path);
  file.stream().write(content.data(), static_cast<std::streamsize>(content.size()));
  file.commit();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot read " + path.string() + ": " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace tenor
