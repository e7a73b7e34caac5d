// Tests of server/logic/validate.h: identifier syntax shared by every service.
#include "server/logic/validate.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"

namespace countd::logic {
namespace {

void ExpectFormatError(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(FieldOf(s), field) << s;
  EXPECT_EQ(ReasonOf(s), "format") << s;
  EXPECT_NE(s.message().find(field), absl::string_view::npos) << s;
}

TEST(ValidateTest, AcceptsPrintableAscii) {
  EXPECT_TRUE(CheckIdentifier("f", "a").ok());
  EXPECT_TRUE(CheckIdentifier("f", " !\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~").ok());
}

TEST(ValidateTest, EmptyIdentifierIsMissing) {
  absl::Status s = CheckIdentifier("tenant", "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldOf(s), "tenant");
  EXPECT_EQ(ReasonOf(s), "missing");
}

TEST(ValidateTest, LengthLimitIs256Bytes) {
  EXPECT_TRUE(CheckIdentifier("uid", std::string(256, 'a')).ok());
  absl::Status s = CheckIdentifier("uid", std::string(257, 'a'));
  ExpectFormatError(s, "uid");
  EXPECT_NE(s.message().find("257"), absl::string_view::npos) << s;
}

TEST(ValidateTest, RejectsControlAndNonAsciiBytes) {
  for (const std::string& bad :
       {std::string("a\tb"), std::string("a\nb"), std::string("\x7f"), std::string("caf\xc3\xa9"),
        std::string("a\0b", 3), std::string("\x80"), std::string("\xff")}) {
    SCOPED_TRACE(bad);
    ExpectFormatError(CheckIdentifier("class", bad), "class");
  }
}

TEST(ValidateTest, UrlSafeAllowsOnlyUnreservedCharacters) {
  EXPECT_TRUE(CheckUrlSafe("visitor_id", "AZaz09_.~-").ok());
  for (const char* bad : {"a:b", "a/b", "a b", "a?b", "a%20", "a+b", "a@b", "a#b"}) {
    SCOPED_TRACE(bad);
    ExpectFormatError(CheckUrlSafe("visitor_id", bad), "visitor_id");
  }
  EXPECT_EQ(ReasonOf(CheckUrlSafe("visitor_id", "")), "missing");
  ExpectFormatError(CheckUrlSafe("visitor_id", std::string(257, 'a')), "visitor_id");
}

TEST(ValidateTest, NoSlashRejectsBothSlashes) {
  EXPECT_TRUE(CheckNoSlash("counter", "a:b c").ok());
  ExpectFormatError(CheckNoSlash("counter", "a/b"), "counter");
  ExpectFormatError(CheckNoSlash("counter", "a\\b"), "counter");
  EXPECT_EQ(ReasonOf(CheckNoSlash("counter", "")), "missing");
  ExpectFormatError(CheckNoSlash("counter", "a\nb"), "counter");
}

TEST(ValidateTest, OptionalIdentifierMayBeEmpty) {
  EXPECT_TRUE(CheckOptionalIdentifier("request_id", "").ok());
  EXPECT_TRUE(CheckOptionalIdentifier("request_id", "r-1").ok());
  ExpectFormatError(CheckOptionalIdentifier("request_id", "r\x01"), "request_id");
  ExpectFormatError(CheckOptionalIdentifier("request_id", std::string(257, 'r')), "request_id");
}

TEST(ValidateTest, Utf8SequenceLengthFollowsRfc3629) {
  EXPECT_EQ(Utf8SequenceLength(""), 0u);
  EXPECT_EQ(Utf8SequenceLength("a"), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xc3\xa9"), 2u);          // U+00E9
  EXPECT_EQ(Utf8SequenceLength("\xe2\x82\xac"), 3u);      // U+20AC
  EXPECT_EQ(Utf8SequenceLength("\xf0\x9f\x98\x80"), 4u);  // U+1F600
  EXPECT_EQ(Utf8SequenceLength("\xf4\x8f\xbf\xbf"), 4u);  // U+10FFFF
  for (const std::string& bad :
       {std::string("\x80"), std::string("\xbf"),
        std::string("\xc0\xaf"),                                           // continuation, overlong
        std::string("\xc1\xbf"), std::string("\xe0\x80\xaf"),              // overlong
        std::string("\xf0\x80\x80\xaf"), std::string("\xed\xa0\x80"),      // overlong, surrogate
        std::string("\xf4\x90\x80\x80"), std::string("\xf5\x80\x80\x80"),  // above U+10FFFF
        std::string("\xff"), std::string("\xc3"), std::string("\xe2\x82"),  // truncated
        std::string("\xc3\x41")}) {
    EXPECT_EQ(Utf8SequenceLength(bad), 0u) << absl::CHexEscape(bad);
  }
}

TEST(ValidateTest, CheckUtf8NamesTheField) {
  EXPECT_TRUE(CheckUtf8("metadata", "").ok());
  EXPECT_TRUE(CheckUtf8("metadata", "caf\xc3\xa9 \xe2\x82\xac").ok());
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));
  EXPECT_FALSE(IsValidUtf8("ok\xc0\xaf"));
  ExpectFormatError(CheckUtf8("metadata", "ok\xff"), "metadata");
}

}  // namespace
}  // namespace countd::logic
