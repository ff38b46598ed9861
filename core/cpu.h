#pragma once
// How many cores this process may use: the one count every thread pool of tenor is sized by
// (data loading, training threads, the augmentation read ahead). A machine's core count is
// not it: taskset and cpusets narrow the cores a process may run on, and a container's CPU
// quota (docker --cpus, a Kubernetes CPU limit) caps the time it gets on them, so that
// threads sized by the cores it sees wait for each other instead of working.

#include <filesystem>
#include <string>

namespace tenor {

struct CpuShare {
  /// Cores in this process's affinity mask (sched_getaffinity), as OpenMP and so LibTorch's
  /// default count them.
  unsigned allowed = 1;
  /// The lowest cgroup CPU quota over this process's cgroup and its parents, in cores
  /// (quota over period); 0 where none is set.
  double quota = 0;
  /// The cores to size threads by: `allowed`, lowered to the quota rounded up (1.5 cores
  /// give 2), at least 1.
  unsigned usable() const;
};

/// Whether OMP_NUM_THREADS chooses LibTorch's threads (set and not empty): then nothing above
/// lowers them.
bool omp_num_threads_set();

/// This process's share, read once (a process does not move between cgroups while it runs).
const CpuShare& cpu_share();

/// The quota in cores found for the process whose /proc/self/cgroup reads `proc_self_cgroup`,
/// with the cgroup file systems mounted under `cgroup_root` (normally /sys/fs/cgroup): cgroup
/// v2's cpu.max ("max 100000" is none, "150000 100000" 1.5 cores) and v1's cpu.cfs_quota_us
/// over cpu.cfs_period_us (-1 is none), in the process's cgroup and each parent up to the
/// mount, whose own files are those of a container's cgroup. The lowest wins; 0 when none is
/// set or nothing can be read.
double cgroup_cpu_quota(const std::string& proc_self_cgroup,
                        const std::filesystem::path& cgroup_root);

}  // namespace tenor
