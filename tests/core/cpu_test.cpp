// cgroup_cpu_quota and CpuShare::usable: the cores a container's CPU quota leaves a process,
// read from cgroup trees laid out as the kernel does under /sys/fs/cgroup.
#include "core/cpu.h"

#include <gtest/gtest.h>

#include "tests/data/fixtures.h"

namespace tenor {
namespace {
namespace fs = std::filesystem;

/// A kernel file: its text and the line break the kernel ends it with.
void write(const fs::path& file, const std::string& text) { test::write_text(file, text + "\n"); }

TEST(CgroupCpuQuota, ReadsCgroupV2AndTakesTheLowestOfTheCgroupAndItsParents) {
  const fs::path root = test::make_temp_dir("cgroup-v2");
  const std::string self = "0::/kubepods/pod1/container\n";
  EXPECT_EQ(cgroup_cpu_quota(self, root), 0) << "no files: no quota";
  write(root / "kubepods/pod1/container/cpu.max", "max 100000");
  EXPECT_EQ(cgroup_cpu_quota(self, root), 0) << "max: no quota";
  write(root / "kubepods/pod1/cpu.max", "250000 100000");
  EXPECT_DOUBLE_EQ(cgroup_cpu_quota(self, root), 2.5);
  write(root / "kubepods/pod1/container/cpu.max", "150000 100000");
  EXPECT_DOUBLE_EQ(cgroup_cpu_quota(self, root), 1.5);
  // Inside a container with its own cgroup namespace the path is "/" and the mount's own
  // file is the container's limit.
  const fs::path inside = test::make_temp_dir("cgroup-v2-inside");
  write(inside / "cpu.max", "50000 100000");
  EXPECT_DOUBLE_EQ(cgroup_cpu_quota("0::/\n", inside), 0.5);
}

TEST(CgroupCpuQuota, ReadsCgroupV1WhereverTheCpuControllerIsMounted) {
  for (const std::string mount : {"cpu", "cpu,cpuacct"}) {
    const fs::path root = test::make_temp_dir("cgroup-v1");
    const std::string self = "5:memory:/docker/abc\n4:" + mount + ":/docker/abc\n0::/\n";
    write(root / mount / "docker/abc/cpu.cfs_quota_us", "-1");
    write(root / mount / "docker/abc/cpu.cfs_period_us", "100000");
    EXPECT_EQ(cgroup_cpu_quota(self, root), 0) << mount << ": -1 is no quota";
    write(root / mount / "docker/abc/cpu.cfs_quota_us", "300000");
    EXPECT_DOUBLE_EQ(cgroup_cpu_quota(self, root), 3.0) << mount;
    // Without a cgroup namespace the path names the host's tree, absent inside the
    // container, whose own limit is the mount's file.
    const fs::path inside = test::make_temp_dir("cgroup-v1-inside");
    write(inside / mount / "cpu.cfs_quota_us", "200000");
    write(inside / mount / "cpu.cfs_period_us", "100000");
    EXPECT_DOUBLE_EQ(cgroup_cpu_quota(self, inside), 2.0) << mount;
  }
}

TEST(CgroupCpuQuota, IgnoresWhatItCannotRead) {
  const fs::path root = test::make_temp_dir("cgroup-bad");
  write(root / "cpu.max", "lots 100000");
  write(root / "cpu/cpu.cfs_quota_us", "200000");
  write(root / "cpu/cpu.cfs_period_us", "0");
  for (const char* self : {"", "garbage\n", "0::/\n", "4:cpu:/\n", "4:cpuset:/\n"})
    EXPECT_EQ(cgroup_cpu_quota(self, root), 0) << "'" << self << "'";
  EXPECT_EQ(cgroup_cpu_quota("0::/\n", root / "absent"), 0);
}

TEST(CpuShare, UsesTheQuotaRoundedUpButNeverMoreThanTheCoresAllowed) {
  EXPECT_EQ((CpuShare{16, 0}).usable(), 16u);
  EXPECT_EQ((CpuShare{16, 2}).usable(), 2u);
  EXPECT_EQ((CpuShare{16, 1.5}).usable(), 2u);
  EXPECT_EQ((CpuShare{16, 0.25}).usable(), 1u);
  EXPECT_EQ((CpuShare{4, 8}).usable(), 4u);
  EXPECT_EQ((CpuShare{0, 0}).usable(), 1u);
  EXPECT_GE(cpu_share().allowed, 1u);
  EXPECT_LE(cpu_share().usable(), cpu_share().allowed);
}

}  // namespace
}  // namespace tenor
