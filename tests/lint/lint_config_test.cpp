// The lint gate's configuration (.clang-tidy at the repository root): a function of 80 lines
// and one of cognitive complexity 25 pass, one line or one increment more fails with the
// file:line, and nothing else is flagged. Runs clang-tidy on small generated files (no
// LibTorch, so each run takes a fraction of a second); skips when clang-tidy is absent.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

struct TidyResult {
  int status = -1;
  std::string output;
};

/// clang-tidy with the repository's .clang-tidy on `code`, written to a fresh file.
TidyResult tidy(const std::string& name, const std::string& code) {
  const fs::path file = make_temp_dir("lint") / (name + ".cpp");
  write_text(file, code);
  const std::string cmd = std::string(TENOR_CLANG_TIDY) + " --quiet --config-file=" +
                          TENOR_SOURCE_DIR + "/.clang-tidy " + file.string() +
                          " -- -std=c++20 2>&1";
  TidyResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

/// A function whose body spans `lines` lines, counted as clang-tidy counts them (from the
/// line of `{` to the line of `}`).
std::string function_of_lines(int lines) {
  std::string code = "int f(int x) {\n";
  for (int i = 0; i < lines - 2; ++i) code += "  x += 1;\n";
  return code + "  return x;\n}\n";
}

/// A function of `n` flat `if`s: cognitive complexity n (one increment each, no nesting).
std::string function_of_complexity(int n) {
  std::string code = "int g(int x) {\n  int y = 0;\n";
  for (int i = 0; i < n; ++i) code += "  if (x == " + std::to_string(i) + ") ++y;\n";
  return code + "  return y;\n}\n";
}

class LintConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(TENOR_CLANG_TIDY)) GTEST_SKIP() << "clang-tidy not installed";
  }
};

TEST_F(LintConfig, EightyLinesPassAndEightyOneFailWithFileAndLine) {
  const TidyResult ok = tidy("eighty", function_of_lines(80));
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_EQ(ok.output.find("error:"), std::string::npos) << ok.output;
  const TidyResult bad = tidy("eighty_one", function_of_lines(81));
  EXPECT_NE(bad.status, 0) << bad.output;
  EXPECT_NE(bad.output.find("eighty_one.cpp:1:5: error: function 'f' exceeds"), std::string::npos)
      << bad.output;
  EXPECT_NE(bad.output.find("81 lines including whitespace and comments (threshold 80)"),
            std::string::npos)
      << bad.output;
}

TEST_F(LintConfig, CognitiveComplexityTwentyFivePassesAndTwentySixFails) {
  const TidyResult ok = tidy("c25", function_of_complexity(25));
  EXPECT_EQ(ok.status, 0) << ok.output;
  const TidyResult bad = tidy("c26", function_of_complexity(26));
  EXPECT_NE(bad.status, 0) << bad.output;
  EXPECT_NE(bad.output.find("c26.cpp:1:5: error: function 'g' has cognitive complexity of 26 "
                            "(threshold 25)"),
            std::string::npos)
      << bad.output;
}

TEST_F(LintConfig, OnlyTheTwoChecksRun) {
  // Many parameters, statements, branches and a magic number, nested deep, in few lines: none of
  // the other size limits nor any other check applies.
  const TidyResult r = tidy("other", R"(int h(int a, int b, int c, int d, int e, int f, int g) {
  int v1 = a, v2 = b, v3 = c, v4 = d, v5 = e, v6 = f, v7 = g, v8 = 42, v9 = 7;
  if (a) { if (b) { if (c) { if (d) { v1 += v2 + v3 + v4 + v5 + v6 + v7 + v8 + v9; } } } }
  switch (e) { case 1: return 1; case 2: return 2; case 3: return 3; default: break; }
  return v1;
}
)");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("warning:"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tenor::test
