// Tests of server/logic/matcher.h: exact values, "any", and RE2 patterns in regex('...').
#include "server/logic/matcher.h"

#include <string>

#include "absl/status/status.h"
#include "absl/types/optional.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"

namespace countd::logic {
namespace {

Matcher Parse(absl::string_view text) {
  absl::StatusOr<Matcher> m = Matcher::Parse("counters[0].class", text);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : Matcher();
}

void ExpectFormatError(absl::string_view text) {
  absl::StatusOr<Matcher> m = Matcher::Parse("counters[1].path", text);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << text;
  EXPECT_EQ(FieldOf(m.status()), "counters[1].path") << text;
  EXPECT_EQ(ReasonOf(m.status()), "format") << text;
  EXPECT_NE(m.status().message().find("counters[1].path"), absl::string_view::npos);
}

TEST(MatcherTest, EmptyTextMatchesAnything) {
  Matcher m = Parse("");
  EXPECT_TRUE(m.is_any());
  EXPECT_FALSE(m.exact().has_value());
  EXPECT_TRUE(m.Matches(""));
  EXPECT_TRUE(m.Matches("anything at all"));
}

TEST(MatcherTest, DefaultMatcherMatchesAnything) {
  Matcher m;
  EXPECT_TRUE(m.is_any());
  EXPECT_TRUE(m.Matches("x"));
}

TEST(MatcherTest, PlainTextIsAnExactValue) {
  Matcher m = Parse("views");
  EXPECT_FALSE(m.is_any());
  ASSERT_TRUE(m.exact().has_value());
  EXPECT_EQ(*m.exact(), "views");
  EXPECT_TRUE(m.Matches("views"));
  EXPECT_FALSE(m.Matches("view"));
  EXPECT_FALSE(m.Matches("views2"));
  EXPECT_FALSE(m.Matches("Views"));
  EXPECT_FALSE(m.Matches(""));
}

TEST(MatcherTest, RegexMetacharactersInAnExactValueAreLiteral) {
  Matcher m = Parse("a.c");
  ASSERT_TRUE(m.exact().has_value());
  EXPECT_TRUE(m.Matches("a.c"));
  EXPECT_FALSE(m.Matches("abc"));
}

TEST(MatcherTest, RegexMatchesPartially) {
  Matcher m = Parse("regex('ew')");
  EXPECT_FALSE(m.is_any());
  EXPECT_FALSE(m.exact().has_value());
  EXPECT_TRUE(m.Matches("views"));
  EXPECT_TRUE(m.Matches("ew"));
  EXPECT_FALSE(m.Matches("clicks"));
}

TEST(MatcherTest, AnchoredRegexMatchesWholeValue) {
  Matcher m = Parse("regex('^24..$')");
  EXPECT_TRUE(m.Matches("2401"));
  EXPECT_TRUE(m.Matches("2412"));
  EXPECT_FALSE(m.Matches("240115"));
  EXPECT_FALSE(m.Matches("2301"));
  EXPECT_FALSE(m.Matches("x2401"));
}

TEST(MatcherTest, RegexUsesRe2Syntax) {
  Matcher m = Parse("regex('^/a(/[a-z]+)?$')");
  EXPECT_TRUE(m.Matches("/a"));
  EXPECT_TRUE(m.Matches("/a/bc"));
  EXPECT_FALSE(m.Matches("/a/"));
  EXPECT_FALSE(m.Matches("/a/b/c"));
  Matcher classes = Parse("regex('^\\d{2}$')");
  EXPECT_TRUE(classes.Matches("42"));
  EXPECT_FALSE(classes.Matches("4a"));
}

TEST(MatcherTest, RegexPatternExtractsTheInside) {
  EXPECT_EQ(RegexPattern("regex('a.b')"), absl::optional<absl::string_view>("a.b"));
  EXPECT_EQ(RegexPattern("regex('')"), absl::optional<absl::string_view>(""));
  EXPECT_EQ(RegexPattern("regex('it's')"), absl::optional<absl::string_view>("it's"));
  EXPECT_EQ(RegexPattern("regex('a"), absl::nullopt);
  EXPECT_EQ(RegexPattern("regex(a)"), absl::nullopt);
  EXPECT_EQ(RegexPattern("regex(')"), absl::nullopt);
  EXPECT_EQ(RegexPattern("REGEX('a')"), absl::nullopt);
  EXPECT_EQ(RegexPattern(" regex('a')"), absl::nullopt);
  EXPECT_EQ(RegexPattern("views"), absl::nullopt);
}

TEST(MatcherTest, MalformedRegexIsFormatErrorNamingTheField) {
  ExpectFormatError("regex('(')");
  ExpectFormatError("regex('[a-')");
  ExpectFormatError("regex('a**')");
  ExpectFormatError("regex('(?<name')");
  ExpectFormatError("regex('\\')");
}

TEST(MatcherTest, UnclosedRegexIsFormatError) {
  ExpectFormatError("regex(");
  ExpectFormatError("regex('abc");
  ExpectFormatError("regex('abc)");
  ExpectFormatError("regex(abc)");
  ExpectFormatError("regex('abc')x");
  ExpectFormatError("regex(')");
}

TEST(MatcherTest, EmptyPatternIsFormatError) { ExpectFormatError("regex('')"); }

TEST(MatcherTest, PatternLengthIsLimited) {
  std::string at_limit = "regex('" + std::string(kMaxPatternBytes, 'a') + "')";
  EXPECT_TRUE(Parse(at_limit).Matches(std::string(kMaxPatternBytes, 'a')));
  ExpectFormatError("regex('" + std::string(kMaxPatternBytes + 1, 'a') + "')");
}

TEST(MatcherTest, HugeRepetitionFailsToCompile) {
  ExpectFormatError("regex('((a{1000}){1000}){1000}')");
}

TEST(MatcherTest, CatastrophicBacktrackingPatternStillAnswers) {
  // (a+)+$ takes exponential time in backtracking engines on "aaaa...!". RE2 is linear, so this
  // simply answers; the test checks correctness only.
  Matcher m = Parse("regex('(a+)+$')");
  std::string hostile(100000, 'a');
  hostile.push_back('!');
  EXPECT_FALSE(m.Matches(hostile));
  hostile.pop_back();
  EXPECT_TRUE(m.Matches(hostile));
  Matcher nested = Parse("regex('^(a|aa)+$')");
  EXPECT_FALSE(nested.Matches(std::string(50000, 'a') + "b"));
}

TEST(MatcherTest, MatchersAreCopyable) {
  Matcher original = Parse("regex('^x')");
  Matcher copy = original;
  EXPECT_TRUE(copy.Matches("xyz"));
  EXPECT_FALSE(copy.Matches("yx"));
  EXPECT_TRUE(original.Matches("xa"));
}

}  // namespace
}  // namespace countd::logic
