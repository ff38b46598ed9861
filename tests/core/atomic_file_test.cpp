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
  // A name carries the host that wrote it: a dead PID of this host goes, one of another host
  // (a file system shared between machines) stays, whatever this host's PIDs are.
  const std::string named = temp_path_beside(dir / "out.h5").filename().string();
  ASSERT_NE(named.find('@'), std::string::npos) << named;
  const std::string host = named.substr(named.find('@') + 1);
  char raw[256] = {};
  ASSERT_EQ(::gethostname(raw, sizeof raw - 1), 0);
  if (std::string(raw).find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
      std::string::npos) {
    EXPECT_EQ(host, raw);
  }
  write_file_atomic(dir / (".out.h5.tmp-" + dead + "-1@" + host), "a killed write here");
  std::vector<std::string> kept = {".other.h5.tmp-" + dead + "-0", ".out.h5.tmp-" + dead,
                                   ".out.h5.tmp-" + live + "-0", ".out.h5.tmp-x-0", "out.h5",
                                   ".out.h5.tmp-" + dead + "-2@elsewhere-" + host,
                                   ".out.h5.tmp-" + live + "-4@" + host,
                                   ".out.h5.tmp-" + dead + "-5x", ".out.h5.tmp-+" + dead + "-6"};
  for (const auto& name : kept) write_file_atomic(dir / name, "kept");
  EXPECT_EQ(remove_dead_temporaries(dir / "out.h5"), 3u);
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir)) left.push_back(entry.path().filename());
  std::sort(left.begin(), left.end());
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(left, kept);
  EXPECT_EQ(remove_dead_temporaries(dir / "missing-dir" / "x"), 0u);
}

TEST(AtomicFile, APublishedDirectoryReplacesOnlyAnEmptyOneAndSaysWhenItLostARace) {
  fs::path dir = fs::path(testing::TempDir()) / ("atomic-publish-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "empty");
  auto filled_temp = [&](const fs::path& out, const std::string& text) {
    const fs::path temp = temp_path_for_output(out);
    fs::create_directory(temp);
    write_file_atomic(temp / "calls.jsonl", text);
    return temp;
  };
  fs::path temp = filled_temp(dir / "new", "one");
  publish_directory(temp, dir / "new");
  EXPECT_EQ(read_file(dir / "new" / "calls.jsonl"), "one");
  EXPECT_FALSE(fs::exists(temp));
  temp = filled_temp(dir / "empty", "two");
  publish_directory(temp, dir / "empty");
  EXPECT_EQ(read_file(dir / "empty" / "calls.jsonl"), "two");

  // Another command wrote `new` between this one's check and its rename: its output stays
  // whole, never merged into, and this one says so with the fix.
  temp = filled_temp(dir / "new", "three");
  try {
    publish_directory(temp, dir / "new");
    ADD_FAILURE() << "a directory with content was replaced";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "new").string() +
                                         " was written by another command while this one ran; "
                                         "choose a new output directory");
  }
  EXPECT_EQ(read_file(dir / "new" / "calls.jsonl"), "one");
  EXPECT_EQ(read_file(temp / "calls.jsonl"), "three");  // the caller removes it
  write_file_atomic(dir / "file", "a file, not a directory");
  EXPECT_THROW(publish_directory(temp, dir / "file"), UsageError);
  EXPECT_THROW(publish_directory(dir / "missing", dir / "other"), IoError);
  EXPECT_FALSE(fs::exists(dir / "other"));
}

TEST(AtomicFile, ANewOutputDirectoryIsNormalAndOnlyAnEmptyOneIsAccepted) {
  fs::path dir = fs::path(testing::TempDir()) / ("atomic-new-out-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "empty");
  // "out/", as a shell's completion writes it, is the directory out: its temporary is named
  // beside it, not inside it, and the rename moves it into place.
  const fs::path out = new_output_directory(dir.string() + "/out/");
  EXPECT_EQ(out, fs::weakly_canonical(dir) / "out");
  const fs::path temp = temp_path_for_output(out);
  EXPECT_EQ(temp.parent_path(), out.parent_path());
  fs::create_directory(temp);
  publish_directory(temp, out);
  EXPECT_TRUE(fs::is_directory(out));
  EXPECT_EQ(new_output_directory(dir / "empty" / "." / ""), fs::weakly_canonical(dir) / "empty");
  fs::create_directory_symlink(dir / "empty", dir / "link");
  EXPECT_EQ(new_output_directory(dir / "link"), fs::weakly_canonical(dir) / "empty");

  write_file_atomic(dir / "file", "");
  fs::create_directory(dir / "full");
  write_file_atomic(dir / "full" / "x", "x");
  auto refusal = [](const fs::path& arg) {
    try {
      new_output_directory(arg);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refusal(dir / "file"),
            (dir / "file").string() + " is a file, not a directory; choose a new output directory");
  EXPECT_EQ(refusal(dir / "full"), (dir / "full").string() +
                                       " already exists and is not empty; choose a new output "
                                       "directory");
  EXPECT_EQ(refusal(""), "a path is empty; give a file or directory name");
  // A dangling link: renaming over it would fail and blame another command.
  fs::create_directory_symlink(dir / "gone" / "deep", dir / "dangling");
  EXPECT_EQ(refusal(dir / "dangling"), (dir / "dangling").string() + " is a symbolic link to " +
                                           (dir / "gone" / "deep").string() +
                                           ", which does not exist; create that directory or "
                                           "choose a new output directory");
  EXPECT_EQ(refusal(dir.string() + "/full/"), dir.string() + "/full/" +
                                                  " already exists and is not empty; choose a "
                                                  "new output directory");
  // `--out .` in an empty directory: the rename into place would remove it from under the
  // shell, which would then see nothing there.
  const fs::path before = fs::current_path();
  fs::current_path(dir / "empty");
  const std::string here = refusal("."), link = refusal(dir / "link");
  fs::current_path(before);
  EXPECT_EQ(here, ". is the current directory, which the output would replace (this shell would "
                  "be left in a removed directory); choose a new output directory, e.g. out");
  EXPECT_NE(link.find("is the current directory"), std::string::npos) << link;
}

/// path_within, the one "is this output inside that input" check: whole components, not
/// string prefixes, and neither "..", symbolic links nor trailing separators hide it.
TEST(AtomicFile, PathWithinComparesResolvedComponents) {
  fs::path dir = fs::path(testing::TempDir()) / ("atomic-within-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "data" / "calls");
  fs::create_directory_symlink(dir / "data", dir / "alias");
  EXPECT_TRUE(path_within(dir / "data", dir / "data"));
  EXPECT_TRUE(path_within(dir / "data" / "calls" / "new", dir / "data"));
  EXPECT_TRUE(path_within(dir / "alias" / "out", dir / "data"));
  EXPECT_TRUE(path_within(dir / "data" / "out", dir / "alias" / ""));
  EXPECT_TRUE(path_within(dir / "other" / ".." / "data" / "x", dir / "data"));
  EXPECT_FALSE(path_within(dir / "data2", dir / "data")) << "a prefix of the name is not inside";
  EXPECT_FALSE(path_within(dir / "data" / ".." / "out", dir / "data"));
  EXPECT_FALSE(path_within(dir, dir / "data"));
  EXPECT_THROW(path_within("", dir), UsageError);
  fs::remove_all(dir);
}

TEST(AtomicFile, ANewOutputFileIsNeverADirectory) {
  fs::path dir = fs::path(testing::TempDir()) / ("atomic-new-file-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "d");
  auto refusal = [](const fs::path& arg) {
    try {
      new_output_file(arg, "--out", "features.h5");
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refusal(dir / "s.h5"), "accepted");
  EXPECT_EQ(refusal(dir / "new" / "s.h5"), "accepted");  // a missing parent is created later
  EXPECT_EQ(refusal(dir / "d"), "--out " + (dir / "d").string() +
                                    " is a directory; give a file name, e.g. " +
                                    (dir / "d" / "features.h5").string());
  // "s.h5/" would be created as a directory holding the write's temporaries, then fail.
  EXPECT_EQ(refusal(dir.string() + "/s.h5/"),
            "--out " + dir.string() + "/s.h5/ ends in a separator, which names a directory; "
            "give a file name, e.g. s.h5");
  EXPECT_FALSE(fs::exists(dir / "s.h5"));
}

}  // namespace
}  // namespace tenor
