#include "core/cpu.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace tenor {

namespace fs = std::filesystem;

namespace {

/// The first line of a small kernel file, "" when it cannot be read.
std::string first_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

/// A whole number at the start of `text`; false when there is none.
bool leading_number(const std::string& text, long long* value) {
  char* end = nullptr;
  *value = std::strtoll(text.c_str(), &end, 10);
  return end != text.c_str();
}

/// The cgroup directories that hold `path`'s limits under `mount`: its own and each parent's,
/// up to the mount (inside a container, the mount is the container's own cgroup).
std::vector<fs::path> own_and_parents(const fs::path& mount, const std::string& path) {
  std::vector<fs::path> dirs;
  for (fs::path rel = fs::path(path).relative_path();; rel = rel.parent_path()) {
    dirs.push_back(rel.empty() ? mount : mount / rel);
    if (rel.empty()) break;
  }
  return dirs;
}

/// cgroup v2: cpu.max is "max PERIOD" (no limit) or "QUOTA PERIOD" in microseconds.
double v2_quota(const fs::path& dir) {
  std::istringstream in(first_line(dir / "cpu.max"));
  std::string quota;
  long long period = 0, q = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return 0;
  return leading_number(quota, &q) && q > 0 ? double(q) / double(period) : 0;
}

/// cgroup v1: cpu.cfs_quota_us (-1: no limit) over cpu.cfs_period_us.
double v1_quota(const fs::path& dir) {
  long long quota = 0, period = 0;
  if (!leading_number(first_line(dir / "cpu.cfs_quota_us"), &quota) || quota <= 0) return 0;
  if (!leading_number(first_line(dir / "cpu.cfs_period_us"), &period) || period <= 0) return 0;
  return double(quota) / double(period);
}

void keep_lowest(double quota, double* lowest) {
  if (quota > 0 && (*lowest == 0 || quota < *lowest)) *lowest = quota;
}

}  // namespace

double cgroup_cpu_quota(const std::string& proc_self_cgroup, const fs::path& cgroup_root) {
  double lowest = 0;
  std::istringstream lines(proc_self_cgroup);
  for (std::string line; std::getline(lines, line);) {
    // "ID:CONTROLLERS:PATH": ID 0 with no controllers is v2's one hierarchy.
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (id == "0" && controllers.empty()) {
      for (const fs::path& mount : {cgroup_root, cgroup_root / "unified"})
        for (const fs::path& dir : own_and_parents(mount, path))
          keep_lowest(v2_quota(dir), &lowest);
      continue;
    }
    if (("," + controllers + ",").find(",cpu,") == std::string::npos) continue;
    for (const std::string& name : {controllers, std::string("cpu"), std::string("cpu,cpuacct")})
      for (const fs::path& dir : own_and_parents(cgroup_root / name, path))
        keep_lowest(v1_quota(dir), &lowest);
  }
  return lowest;
}

bool omp_num_threads_set() {
  const char* omp = std::getenv("OMP_NUM_THREADS");
  return omp && *omp;
}

unsigned CpuShare::usable() const {
  const unsigned cores = std::max(1u, allowed);
  if (quota <= 0) return cores;
  return std::clamp(unsigned(std::ceil(quota - 1e-9)), 1u, cores);
}

const CpuShare& cpu_share() {
  static const CpuShare share = [] {
    CpuShare s;
    cpu_set_t mask;
    CPU_ZERO(&mask);
    s.allowed = sched_getaffinity(0, sizeof mask, &mask) == 0
                    ? unsigned(CPU_COUNT(&mask))
                    : std::thread::hardware_concurrency();
    s.allowed = std::max(1u, s.allowed);
    std::ifstream in("/proc/self/cgroup");
    std::stringstream text;
    text << in.rdbuf();
    s.quota = cgroup_cpu_quota(text.str(), "/sys/fs/cgroup");
    return s;
  }();
  return share;
}

}  // namespace tenor
