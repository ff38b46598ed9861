// cmake/GitStamp.cmake, which stamps every build with its commit (`tenor --version`, runs,
// stores, bundles): HEAD's short hash, "-dirty" when tracked files differ from HEAD, "unknown"
// outside git, and the stamp file left untouched when the stamp has not changed (so a build
// with nothing new relinks nothing). Run on throwaway git repositories.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

/// The file's text without its final newline (configure_file and git end theirs with one).
std::string without_newline(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

class GitStamp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("git-stamp");
    repo_ = dir_ / "repo";
    fs::create_directories(repo_);
    write_text(dir_ / "stamp.in", "@TENOR_GIT_COMMIT@");
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// `git ARGS` in the repository; its output.
  std::string git(const std::string& args) const {
    std::string out;
    const std::string command = "cd '" + repo_.string() +
                                "' && git -c user.name=t -c user.email=t@example.com " + args;
    EXPECT_EQ(run_command(command, &out), 0) << command << "\n" << out;
    return without_newline(out);
  }
  void commit_file(const std::string& text) {
    write_text(repo_ / "a.cpp", text);
    git("add a.cpp");
    git("commit -q -m change");
  }
  /// The stamp GitStamp.cmake writes for the repository. The ceiling keeps git from finding
  /// a repository above the temporary directory.
  std::string stamp() const {
    const std::string command = "GIT_CEILING_DIRECTORIES='" + dir_.string() + "' '" +
                                TENOR_CMAKE + "' -DSOURCE_DIR='" + repo_.string() + "' -DIN='" +
                                (dir_ / "stamp.in").string() + "' -DOUT='" + out().string() +
                                "' -P '" + TENOR_SOURCE_DIR + "/cmake/GitStamp.cmake'";
    std::string log;
    EXPECT_EQ(run_command(command, &log), 0) << command << "\n" << log;
    std::ifstream in(out());
    std::stringstream text;
    text << in.rdbuf();
    return without_newline(text.str());
  }
  fs::path out() const { return dir_ / "stamp.out"; }

  fs::path dir_, repo_;
};

TEST_F(GitStamp, NamesHeadAndSaysWhenTrackedFilesDifferFromIt) {
  git("init -q");
  commit_file("int a;\n");
  const std::string head = git("rev-parse --short HEAD");
  ASSERT_GE(head.size(), 7u);
  EXPECT_EQ(stamp(), head);
  // An untracked file is not part of any build's sources by itself: still clean.
  write_text(repo_ / "notes.txt", "scratch\n");
  EXPECT_EQ(stamp(), head);
  // A change not yet committed: the binary holds code its commit does not.
  write_text(repo_ / "a.cpp", "int a = 1;\n");
  EXPECT_EQ(stamp(), head + "-dirty");
  commit_file("int a = 1;\n");
  const std::string next = git("rev-parse --short HEAD");
  EXPECT_NE(next, head);
  EXPECT_EQ(stamp(), next);
}

TEST_F(GitStamp, LeavesAnUnchangedStampUntouchedSoNothingRelinks) {
  git("init -q");
  commit_file("int a;\n");
  const std::string first = stamp();
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(1);
  fs::last_write_time(out(), old);
  EXPECT_EQ(stamp(), first);
  EXPECT_EQ(fs::last_write_time(out()), old);
  write_text(repo_ / "a.cpp", "int b;\n");
  EXPECT_EQ(stamp(), first + "-dirty");
  EXPECT_NE(fs::last_write_time(out()), old);
}

TEST_F(GitStamp, IsUnknownOutsideGit) { EXPECT_EQ(stamp(), "unknown"); }

}  // namespace
}  // namespace tenor::test
