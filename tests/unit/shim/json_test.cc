// Tests of server/shim/internal/json.h: the bounded JSON parser of the legacy routes and JsonQuote.
#include "server/shim/internal/json.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace countd::shim {
namespace {

using ::testing::HasSubstr;

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// Parses `json` strictly (UTF-8 validated) and returns the string value it holds.
std::string StrictString(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsString()) return "<not a JSON string: " + json + ">";
  return std::string(doc.GetString(), doc.GetStringLength());
}

TEST(ParseJsonTest, ParsesAnObject) {
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(R"( {"a":[1,{"b":"c"}]} )", &doc).ok());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["a"][1]["b"].GetString(), std::string("c"));
}

TEST(ParseJsonTest, AcceptsTheMaximumDepthAndRefusesOneMore) {
  rapidjson::Document doc;
  EXPECT_TRUE(ParseJson(Nested(kMaxJsonDepth), &doc).ok());
  absl::Status s = ParseJson(Nested(kMaxJsonDepth + 1), &doc);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("nested deeper than 64"));
}

TEST(ParseJsonTest, RefusesADepthBombQuicklyWithoutRecursing) {
  // 500k levels would overflow the stack of a recursive parser (the crash this guards against).
  const std::string bomb = Nested(500'000);
  const std::string object_bomb =
      absl::StrCat(std::string(300'000, '{'), std::string(300'000, '}'));
  rapidjson::Document doc;
  const absl::Time start = absl::Now();
  EXPECT_FALSE(ParseJson(bomb, &doc).ok());
  EXPECT_FALSE(ParseJson(object_bomb, &doc).ok());
  EXPECT_FALSE(
      ParseJson(absl::StrCat("{\"counters\":", bomb, "}"), &doc, JsonTrailing::kIgnored).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(ParseJsonTest, BracketsInsideStringsDoNotCount) {
  rapidjson::Document doc;
  const std::string deep_text = absl::StrCat("[\"", std::string(1000, '['), "\\\"", "\"]");
  EXPECT_TRUE(ParseJson(deep_text, &doc).ok());
  ASSERT_TRUE(doc.IsArray());
}

TEST(ParseJsonTest, RefusesNulBytesAnywhere) {
  rapidjson::Document doc;
  EXPECT_FALSE(ParseJson(std::string("{\"a\":\"b\"}\0", 10), &doc).ok());
  EXPECT_FALSE(ParseJson(std::string("{\"a\":\"b\"}\0xx", 12), &doc, JsonTrailing::kIgnored).ok());
  EXPECT_FALSE(ParseJson(std::string("{\"a\":\"b\0c\"}", 11), &doc).ok());
  EXPECT_FALSE(ParseJson(std::string("\0", 1), &doc).ok());
  // An escaped NUL is a character of the string, not a NUL byte of the text.
  EXPECT_TRUE(ParseJson(R"({"a":"b\u0000c"})", &doc).ok());
}

TEST(ParseJsonTest, RefusesInvalidUtf8) {
  rapidjson::Document doc;
  EXPECT_FALSE(ParseJson("{\"a\":\"\xff\"}", &doc).ok());
  EXPECT_FALSE(ParseJson("{\"a\":\"\xc0\xaf\"}", &doc).ok());      // overlong '/'
  EXPECT_FALSE(ParseJson("{\"a\":\"\xed\xa0\x80\"}", &doc).ok());  // a surrogate
  EXPECT_FALSE(ParseJson("{\"a\":\"\xe0\x80\xaf\"}", &doc).ok());  // overlong, 3 bytes
  EXPECT_TRUE(ParseJson("{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", &doc).ok());
}

TEST(ParseJsonTest, TrailingTextIsRefusedUnlessIgnored) {
  rapidjson::Document doc;
  EXPECT_FALSE(ParseJson("{} x", &doc).ok());
  EXPECT_FALSE(ParseJson("{}{}", &doc).ok());
  EXPECT_TRUE(ParseJson("{} \r\n\t", &doc).ok());
  EXPECT_TRUE(ParseJson("{} x", &doc, JsonTrailing::kIgnored).ok());
}

TEST(ParseJsonTest, RefusesNonStandardNumbers) {
  rapidjson::Document doc;
  for (const char* bad : {"NaN", "Infinity", "-Infinity", "0x10", "1e999", "+1", ".5", "01"}) {
    EXPECT_FALSE(ParseJson(absl::StrCat("[", bad, "]"), &doc).ok()) << bad;
  }
}

TEST(RepeatedMemberTest, FindsTheRepeatedName) {
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(R"({"a":1,"b":2,"c":3})", &doc).ok());
  EXPECT_FALSE(RepeatedMember(doc).has_value());
  ASSERT_TRUE(ParseJson(R"({"a":1,"b":2,"b":3,"a":4})", &doc).ok());
  EXPECT_EQ(RepeatedMember(doc), "b");
  ASSERT_TRUE(ParseJson(R"({})", &doc).ok());
  EXPECT_FALSE(RepeatedMember(doc).has_value());
}

TEST(RepeatedMemberTest, AnywhereFindsNestedRepeats) {
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(R"({"a":[{"b":1},{"c":{"d":1,"d":2}}],"e":1})", &doc).ok());
  EXPECT_FALSE(RepeatedMember(doc).has_value());
  EXPECT_EQ(RepeatedMemberAnywhere(doc), "d");
  ASSERT_TRUE(ParseJson(R"([{"a":1},{"a":1}])", &doc).ok());
  EXPECT_FALSE(RepeatedMemberAnywhere(doc).has_value());
}

TEST(JsonQuoteTest, EscapesWhatJsonRequires) {
  EXPECT_EQ(JsonQuote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(JsonQuote(std::string("\x01\n\0", 3)), R"("\u0001\n\u0000")");
  EXPECT_EQ(StrictString(JsonQuote("h\xc3\xa9llo")), "h\xc3\xa9llo");
}

TEST(JsonQuoteTest, ReplacesInvalidUtf8SoTheResultIsValidJson) {
  for (const std::string& bad :
       {std::string("\xff"), std::string("a\xc0\xafz"), std::string("\xed\xa0\x80"),
        std::string("\xe2\x82"), std::string("\xf4\x90\x80\x80"), std::string("\x80\x80")}) {
    const std::string quoted = JsonQuote(bad);
    const std::string back = StrictString(quoted);
    EXPECT_THAT(back, HasSubstr("\xEF\xBF\xBD")) << quoted;
    EXPECT_THAT(back, testing::Not(HasSubstr("<not a JSON string"))) << quoted;
  }
  EXPECT_EQ(StrictString(JsonQuote("a\xc0\xafz")), "a\xEF\xBF\xBD\xEF\xBF\xBDz");
}

TEST(JsonQuoteTest, EscapesLineSeparatorsForJsonp) {
  const std::string quoted = JsonQuote(
      "a\xe2\x80\xa8"
      "b\xe2\x80\xa9"
      "c");
  EXPECT_EQ(quoted, R"("a\u2028b\u2029c")");
  EXPECT_EQ(StrictString(quoted),
            "a\xe2\x80\xa8"
            "b\xe2\x80\xa9"
            "c");
}

}  // namespace
}  // namespace countd::shim
