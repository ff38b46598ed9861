#include <gtest/gtest.h>

#include <filesystem>

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

}  // namespace
}  // namespace tenor
