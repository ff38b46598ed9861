#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/text.h"

namespace tenor {
namespace {

TEST(Text, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("caf\xe9"));       // Latin-1
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));      // truncated
}

TEST(Text, NearestSuggestsTyposOnly) {
  std::vector<std::string> keys = {"train", "dev", "test"};
  EXPECT_EQ(nearest("trian", keys), "train");
  EXPECT_EQ(nearest("tset", keys), "test");
  EXPECT_EQ(nearest("validation", keys), "");
}

TEST(Text, NumbersAsAPersonWritesThem) {
  EXPECT_EQ(format_number(0.004), "0.004");
  EXPECT_EQ(format_number(0.0040000000000000001), "0.004");
  EXPECT_EQ(format_number(100.0), "100");
  EXPECT_EQ(format_number(36.521437), "36.5214");
  EXPECT_EQ(format_number(-1.5), "-1.5");
  EXPECT_EQ(format_number(1e-7), "1e-07");
}

TEST(Text, ShortestNumbersReadBackExactly) {
  EXPECT_EQ(shortest_number(0.004), "0.004");
  EXPECT_EQ(shortest_number(1.5e-4), "0.00015");
  EXPECT_EQ(shortest_number(2.0), "2");
  for (double v : {0.1, 1.0 / 3.0, 2e-5, 123456.789, -0.9})
    EXPECT_EQ(std::stod(shortest_number(v)), v) << shortest_number(v);
}

TEST(Text, PrintableEscapesControlAndBadBytes) {
  EXPECT_EQ(printable("a\nb"), "a\\x0ab");
  EXPECT_EQ(printable("\xff"), "\\xff");
  EXPECT_EQ(printable(std::string(100, 'x'), 10), std::string(10, 'x') + "...");
}

}  // namespace
}  // namespace tenor
