#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"

namespace tenor {
namespace {
namespace fs = std::filesystem;

TEST(AtomicFile, AppearsOnlyOnCommit) {
  fs::path dir = fs::path(testing::TempDir()) / ("atomic-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path target = dir / "out.txt";
  write_file_atomic(target, "old");
  {
    AtomicFile f(target);
    f.stream() << "new but abandoned";
  }
  EXPECT_EQ(read_file(target), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()),
            1);  // no temp left
  AtomicFile f(target);
  f.stream() << "new";
  f.commit();
  EXPECT_EQ(read_file(target), "new");
  EXPECT_THROW(AtomicFile(dir / "missing-dir" / "x"), IoError);
}

TEST(AtomicFile, TemporariesOfKilledWritesAreRemovedAndLiveOnesKept) {
  fs::path dir = fs::path(testing::TempDir()) / ("atomic-dead-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string dead = "4194305";  // above the largest pid_max Linux allows: no process
  const std::string live = std::to_string(::getpid());
  write_file_atomic(dir / (".out.h5.tmp-" + dead + "-0"), "a killed write");
  fs::create_directories(dir / (".out.h5.tmp-" + dead + "-3") / "fold1");  // a directory
  write_file_atomic(dir / (".out.h5.tmp-" + dead + "-3") / "fold1" / "calls.jsonl", "{}");
  std::vector<std::string> kept = {".other.h5.tmp-" + dead + "-0", ".out.h5.tmp-" + dead,
                                   ".out.h5.tmp-" + live + "-0", ".out.h5.tmp-x-0", "out.h5"};
  for (const auto& name : kept) write_file_atomic(dir / name, "kept");
  EXPECT_EQ(remove_dead_temporaries(dir / "out.h5"), 2u);
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir)) left.push_back(entry.path().filename());
  std::sort(left.begin(), left.end());
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(left, kept);
  EXPECT_EQ(remove_dead_temporaries(dir / "missing-dir" / "x"), 0u);
}

}  // namespace
}  // namespace tenor
