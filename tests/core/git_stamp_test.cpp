// cmake/GitStamp.cmake, which stamps every build with its commit (`tenor --version`, runs,
// stores, bundles): HEAD's short hash, "-dirty" when tracked files differ from HEAD, "unknown"
// outside git, and the stamp file left untouched when the stamp has not changed (so a build
// with nothing new relinks nothing). Run on throwaway git repositories.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tenor::test {
namespace {

namespace fs = std::filesystem;

/// The standard output of `command` (run by the shell), its trailing newline dropped.
std::string output_of(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 256> buffer{};
  while (fgets(buffer.data(), int(buffer.size()), pipe) != nullptr) out += buffer.data();
  pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

/// The file's text without its final newline (configure_file ends the file with one).
std::string read(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

class GitStamp : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tenor-git-stamp-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    repo_ = dir_ / "repo";
    fs::create_directories(repo_);
    in_ = dir_ / "stamp.in";
    out_ = dir_ / "stamp.out";
    std::ofstream(in_) << "@TENOR_GIT_COMMIT@";
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// `git ARGS` in the repository, quietly.
  void git(const std::string& args) const {
    const std::string command = "cd '" + repo_.string() +
                                "' && git -c user.name=t -c user.email=t@example.com " + args +
                                " >/dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  /// The stamp GitStamp.cmake writes for `source`.
  std::string stamp(const fs::path& source) const {
    // The ceiling keeps git from finding a repository above the temporary directory.
    const std::string command = "GIT_CEILING_DIRECTORIES='" + dir_.string() + "' '" +
                                std::string(TENOR_CMAKE) + "' -DSOURCE_DIR='" +
                                source.string() + "' -DIN='" + in_.string() + "' -DOUT='" +
                                out_.string() + "' -P '" + TENOR_SOURCE_DIR +
                                "/cmake/GitStamp.cmake'";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    return read(out_);
  }

  fs::path dir_, repo_, in_, out_;
};

TEST_F(GitStamp, NamesHeadAndSaysWhenTrackedFilesDifferFromIt) {
  git("init -q");
  std::ofstream(repo_ / "a.cpp") << "int a;\n";
  git("add a.cpp");
  git("commit -q -m one");
  const std::string head = output_of("cd '" + repo_.string() + "' && git rev-parse --short HEAD");
  ASSERT_GE(head.size(), 7u);
  EXPECT_EQ(stamp(repo_), head);
  // An untracked file is not part of any build's sources by itself: still clean.
  std::ofstream(repo_ / "notes.txt") << "scratch\n";
  EXPECT_EQ(stamp(repo_), head);
  // A change not yet committed: the binary holds code its commit does not.
  std::ofstream(repo_ / "a.cpp") << "int a = 1;\n";
  EXPECT_EQ(stamp(repo_), head + "-dirty");
  git("commit -q -am two");
  const std::string next = output_of("cd '" + repo_.string() + "' && git rev-parse --short HEAD");
  EXPECT_NE(next, head);
  EXPECT_EQ(stamp(repo_), next);
}

TEST_F(GitStamp, LeavesAnUnchangedStampUntouchedSoNothingRelinks) {
  git("init -q");
  std::ofstream(repo_ / "a.cpp") << "int a;\n";
  git("add a.cpp");
  git("commit -q -m one");
  const std::string first = stamp(repo_);
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(1);
  fs::last_write_time(out_, old);
  EXPECT_EQ(stamp(repo_), first);
  EXPECT_EQ(fs::last_write_time(out_), old);
  std::ofstream(repo_ / "a.cpp") << "int b;\n";
  EXPECT_EQ(stamp(repo_), first + "-dirty");
  EXPECT_NE(fs::last_write_time(out_), old);
}

TEST_F(GitStamp, IsUnknownOutsideGit) { EXPECT_EQ(stamp(repo_), "unknown"); }

}  // namespace
}  // namespace tenor::test
