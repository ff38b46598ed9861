#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/error.h"

namespace tenor {
namespace fs = std::filesystem;

namespace {

/// This machine's name as it goes into a temporary's name: the characters a file name keeps
/// everywhere ([A-Za-z0-9._-], any other one as '_'), empty when the name cannot be read.
const std::string& host_tag() {
  static const std::string tag = [] {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) return std::string();
    std::string out(host);
    for (char& c : out) {
      const bool kept = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
      if (!kept) c = '_';
    }
    return out;
  }();
  return tag;
}

/// Whether `rest`, a temporary's name after ".NAME.tmp-", is "PID-N" or "PID-N@HOST" of a
/// process that no longer runs on this machine. A temporary named on another host (a file
/// system shared between machines) is never judged here: its PID means nothing on this one.
/// A name without a host is from a tenor before hosts were named and is judged as local.
bool written_by_dead_local_process(const std::string& rest) {
  if (rest.empty() || !std::isdigit(static_cast<unsigned char>(rest[0]))) return false;
  char* end = nullptr;
  const long pid = std::strtol(rest.c_str(), &end, 10);
  if (*end != '-' || pid <= 0) return false;
  const char* counter = end + 1;
  const char* after = counter;
  while (std::isdigit(static_cast<unsigned char>(*after))) ++after;
  if (after == counter) return false;
  if (*after == '@') {
    if (host_tag().empty() || std::string(after + 1) != host_tag()) return false;
  } else if (*after != '\0') {
    return false;
  }
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

fs::path temp_path_beside(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  std::ostringstream name;
  name << "." << target.filename().string() << ".tmp-" << ::getpid() << "-" << counter++;
  if (!host_tag().empty()) name << "@" << host_tag();
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
    if (!written_by_dead_local_process(found.substr(prefix.size()))) continue;
    std::error_code ignored;
    if (fs::remove_all(entry.path(), ignored) > 0 && !ignored) ++removed;
  }
  return removed;
}

fs::path temp_path_for_output(const fs::path& target) {
  remove_dead_temporaries(target);
  return temp_path_beside(target);
}

fs::path resolved_path(const fs::path& path) {
  if (path.empty()) throw UsageError("a path is empty; give a file or directory name");
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path), ec);
  if (ec) p = fs::absolute(path).lexically_normal();
  while (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p;
}

bool path_within(const fs::path& inner, const fs::path& outer) {
  const fs::path i = resolved_path(inner), o = resolved_path(outer);
  return std::mismatch(o.begin(), o.end(), i.begin(), i.end()).first == o.end();
}

fs::path new_output_directory(const fs::path& out_arg) {
  const fs::path out = resolved_path(out_arg);
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(out, ec)))  // resolved_path resolves every live one
    throw UsageError(out_arg.string() + " is a symbolic link to " +
                     fs::read_symlink(out, ec).string() + ", which does not exist; create that "
                     "directory or choose a new output directory");
  const auto status = fs::status(out, ec);
  if (fs::exists(status) && !fs::is_directory(status))
    throw UsageError(out_arg.string() + " is a file, not a directory; choose a new output "
                     "directory");
  if (fs::exists(status) && !fs::is_empty(out, ec))
    throw UsageError(out_arg.string() + " already exists and is not empty; choose a new output "
                     "directory");
  // The new directory is renamed into place whole: over the current one, the shell that ran
  // the command would be left in the removed directory and see nothing there.
  if (const fs::path here = fs::current_path(ec); !ec && out == resolved_path(here))
    throw UsageError(out_arg.string() + " is the current directory, which the output would "
                     "replace (this shell would be left in a removed directory); choose a new "
                     "output directory, e.g. " +
                     (out_arg / "out").lexically_normal().string());
  return out;
}

fs::path new_output_file(const fs::path& arg, const std::string& flag, const std::string& example) {
  std::error_code ec;
  if (fs::is_directory(arg, ec))
    throw UsageError(flag + " " + arg.string() + " is a directory; give a file name, e.g. " +
                     (arg / example).string());
  if (!arg.has_filename())
    throw UsageError(flag + " " + arg.string() + " ends in a separator, which names a "
                     "directory; give a file name, e.g. " +
                     resolved_path(arg).filename().string());
  return arg;
}

void publish_directory(const fs::path& temp, const fs::path& out) {
  std::error_code ec;
  fs::rename(temp, out, ec);  // replaces an empty directory; never merges into a full one
  if (!ec) return;
  std::error_code probe;
  if (fs::exists(fs::symlink_status(out, probe)) &&
      !(fs::is_directory(fs::symlink_status(out, probe)) && fs::is_empty(out, probe)))
    throw UsageError(out.string() + " was written by another command while this one ran; "
                     "choose a new output directory");
  throw IoError("cannot move " + temp.string() + " to " + out.string() + ": " + ec.message());
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
