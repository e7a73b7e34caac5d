// Tests of server/http/url.h: percent-decoding, forms and path segments of the JSON shim.
#include "server/http/url.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace countd::http {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;
using ::testing::Pair;

TEST(PercentDecodeTest, DecodesEscapesAndOptionallyPlus) {
  EXPECT_THAT(PercentDecode("a%20b%2Fc%c3%A9", false), Optional(std::string("a b/c\xc3\xa9")));
  EXPECT_THAT(PercentDecode("a+b", false), Optional(std::string("a+b")));
  EXPECT_THAT(PercentDecode("a+b", true), Optional(std::string("a b")));
  EXPECT_THAT(PercentDecode("", true), Optional(std::string()));
}

TEST(PercentDecodeTest, RefusesMalformedEscapes) {
  for (const char* bad : {"%", "%4", "a%zz", "%g0", "%%41", "abc%2"}) {
    EXPECT_EQ(PercentDecode(bad, true), absl::nullopt) << bad;
  }
}

// Found by the url fuzzer: a raw NUL byte passed through while %00 was refused, so a form body
// could still carry NUL into a parameter.
TEST(PercentDecodeTest, RefusesNulRawOrEscaped) {
  EXPECT_EQ(PercentDecode("a%00b", false), absl::nullopt);
  EXPECT_EQ(PercentDecode(std::string("a\0b", 3), false), absl::nullopt);
  EXPECT_EQ(PercentDecode(std::string("\0", 1), true), absl::nullopt);
  EXPECT_EQ(ParseForm(std::string("apiKey=a\0b", 10)), absl::nullopt);
  EXPECT_EQ(PathSegments(std::string("/stash/a\0b", 10)), absl::nullopt);
}

TEST(ParseFormTest, SplitsPairsAndSkipsEmptyOnes) {
  auto form = ParseForm("a=1&&b=x+y&c&d=%3D");
  ASSERT_TRUE(form.has_value());
  EXPECT_THAT(*form, ElementsAre(Pair("a", "1"), Pair("b", "x y"), Pair("c", ""), Pair("d", "=")));
  EXPECT_EQ(ParseForm("a=%zz"), absl::nullopt);
}

TEST(PathSegmentsTest, DecodesSegmentsAndRefusesEncodedSlashes) {
  EXPECT_THAT(PathSegments("/a/b%20c/"), Optional(ElementsAre("a", "b c", "")));
  EXPECT_THAT(PathSegments("/../x"), Optional(ElementsAre("..", "x")));
  EXPECT_EQ(PathSegments("/a%2Fb"), absl::nullopt);
  EXPECT_EQ(PathSegments("/a%2fb"), absl::nullopt);
  EXPECT_EQ(PathSegments("no-slash"), absl::nullopt);
}

}  // namespace
}  // namespace countd::http
