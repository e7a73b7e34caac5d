// Tests of the Qubit routes' body reader (server/shim/internal/qubit_body.h): JSON, the documents'
// JavaScript-literal style and jQuery's forms in; one JSON object (or a refusal) out.
#include "server/shim/internal/qubit_body.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/shim/internal/json.h"

namespace countd::shim {
namespace {

std::string Compact(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// The body as read (compact JSON), or "refused: <message>".
std::string Read(absl::string_view body, std::initializer_list<absl::string_view> lists = {}) {
  rapidjson::Document doc;
  absl::Status s = ReadQubitBody(body, lists, &doc);
  if (!s.ok()) {
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    return absl::StrCat("refused: ", s.message());
  }
  EXPECT_TRUE(doc.IsObject());
  return Compact(doc);
}

using ::testing::StartsWith;

TEST(JsLiteralToJsonTest, JsonComesBackUnchanged) {
  for (const char* json :
       {R"({"dimension":"date"})", R"( { "keys" : [ "a:b:2024-01-01" , "c" ] } )",
        R"({"metadata":"{\"id\":1,'x':\u00e9\/\n"})", R"({"n":-1.5e3,"t":true,"f":false,"z":null})",
        "[]", "{}", "\"s\"", "{\"x\":\"caf\xC3\xA9\"}"}) {
    absl::StatusOr<std::string> out = JsLiteralToJson(json);
    ASSERT_TRUE(out.ok()) << json << ": " << out.status();
    EXPECT_EQ(*out, json);
  }
}

TEST(JsLiteralToJsonTest, RewritesTheDocumentsStyle) {
  EXPECT_EQ(*JsLiteralToJson("{ dimension: 'date' }"), R"({ "dimension": "date" })");
  EXPECT_EQ(*JsLiteralToJson("{\n  keys: [\n    'a:b:c',\n    'd',\n  ],\n}"),
            "{\n  \"keys\": [\n    \"a:b:c\",\n    \"d\"\n  ]\n}");
  // The metadata example of the documents: \' inside single quotes; a double quote is escaped.
  EXPECT_EQ(*JsLiteralToJson(R"({ metadata: '{\'id\':1,\'first_name\':\'Debra\'}' })"),
            R"({ "metadata": "{'id':1,'first_name':'Debra'}" })");
  EXPECT_EQ(*JsLiteralToJson(R"({'a"b': "it's"})"), R"({"a\"b": "it's"})");
  EXPECT_EQ(*JsLiteralToJson("{$x_1: 1, _: true,}"), R"({"$x_1": 1, "_": true})");
}

TEST(JsLiteralToJsonTest, RefusesWhatIsNotInTheSubset) {
  for (const char* text :
       {"{ a: undefined }", "{ a: NaN }", "{ a: -Infinity }", "{ a: x }", "{ a: 'b' + 'c' }",
        "{ a: 1 } // comment", "{ /* c */ a: 1 }", "{ a: `t` }", "{ a: 'unterminated }",
        R"({ a: '\x41' })", R"({ a: '\v' })", R"({ a: '\0' })", "{ a: 'line\\\ncontinued' }",
        "{ caf\xC3\xA9: 1 }", "{ a: (1) }", "{ a: 'b'; }", "{ a: 'b\\", "{ a: '\0' }"}) {
    absl::StatusOr<std::string> out = JsLiteralToJson(absl::string_view(text, strlen(text)));
    EXPECT_TRUE(absl::IsInvalidArgument(out.status())) << text << " -> " << out.value_or("");
  }
  absl::StatusOr<std::string> nul = JsLiteralToJson(absl::string_view("{a:'\0'}", 8));
  EXPECT_TRUE(absl::IsInvalidArgument(nul.status()));
}

TEST(JsLiteralToJsonTest, KeepsCommasThatAreNotTrailing) {
  // Only a comma after a value is dropped; the JSON parser then refuses the rest.
  EXPECT_EQ(*JsLiteralToJson("{,}"), "{,}");
  EXPECT_EQ(*JsLiteralToJson("[1,,]"), "[1,,]");
  EXPECT_EQ(*JsLiteralToJson("{a:,}"), R"({"a":,})");
}

TEST(ReadQubitBodyTest, ReadsJsonJsLiteralAndForms) {
  EXPECT_EQ(Read(""), "{}");
  EXPECT_EQ(Read(" \r\n\t"), "{}");
  EXPECT_EQ(Read(R"({"dimension":"date"})"), R"({"dimension":"date"})");
  EXPECT_EQ(Read("{ dimension: 'date' }"), R"({"dimension":"date"})");
  EXPECT_EQ(Read("dimension=date"), R"({"dimension":"date"})");
  EXPECT_EQ(Read("  dimension=date\r\n"), R"({"dimension":"date"})");
  EXPECT_EQ(Read("metadata=%7B%22id%22%3A1%7D+x&&"), R"({"metadata":"{\"id\":1} x"})");
  EXPECT_EQ(Read("metadata="), R"({"metadata":""})");
}

TEST(ReadQubitBodyTest, ListNamesTakeBothJQuerySpellings) {
  EXPECT_EQ(Read("keys%5B%5D=a&keys%5B%5D=b", {"keys"}), R"({"keys":["a","b"]})");
  EXPECT_EQ(Read("keys[]=a", {"keys"}), R"({"keys":["a"]})");
  EXPECT_EQ(Read("keys=a&keys=b&keys=a", {"keys"}), R"({"keys":["a","b","a"]})");
  EXPECT_EQ(Read("keys=a", {"keys"}), R"({"keys":["a"]})");
  // Without the list name, keys is a plain field that may not repeat, and keys[] another name.
  EXPECT_EQ(Read("keys=a"), R"({"keys":"a"})");
  EXPECT_EQ(Read("keys[]=a"), R"({"keys[]":"a"})");
  EXPECT_THAT(Read("keys=a&keys=b"), StartsWith("refused"));
  // One spelling per body.
  EXPECT_THAT(Read("keys=a&keys[]=b", {"keys"}), StartsWith("refused"));
  EXPECT_THAT(Read("keys[]=a&keys=b", {"keys"}), StartsWith("refused"));
  // JSON is not changed by list names.
  EXPECT_EQ(Read(R"({"keys":"a"})", {"keys"}), R"({"keys":"a"})");
}

TEST(ReadQubitBodyTest, RefusesMalformedBodies) {
  for (const char* body : {"dimension=date&dimension=date",
                           "not json",
                           "dimension",
                           "=date",
                           "dimension=date&x",
                           "a=%zz",
                           "a=%00",
                           "a=%FF",
                           "%FF=a",
                           "[]",
                           "null",
                           "\"date\"",
                           "{\"a\":1",
                           "{a:1} x",
                           "{\"a\":1,\"a\":2}",
                           "{a:1,'a':2}",
                           "{\"o\":{\"b\":1,\"b\":2}}",
                           "{a: 'b'}&c=d",
                           "{\"a\":\"\xFF\"}",
                           "{a: 0x10}",
                           "{a: .5}",
                           "{a: +1}",
                           "{a: 'raw\nnewline'}"}) {
    EXPECT_THAT(Read(body, {"keys"}), StartsWith("refused")) << body;
  }
  EXPECT_THAT(Read(std::string(100'000, '{')), StartsWith("refused"));
  EXPECT_THAT(Read(std::string("{\"a\":1}\0", 8)), StartsWith("refused"));
  EXPECT_THAT(Read(std::string("a=b\0", 4)), StartsWith("refused"));
}

TEST(ReadQubitBodyTest, ManyFieldsTakeLinearTime) {
  // 200000 distinct names (a quadratic lookup would take minutes), then the same name again.
  std::string form;
  for (int i = 0; i < 200'000; ++i) absl::StrAppend(&form, i == 0 ? "" : "&", "f", i, "=v");
  rapidjson::Document doc;
  ASSERT_TRUE(ReadQubitBody(form, {"keys"}, &doc).ok());
  EXPECT_EQ(doc.MemberCount(), 200'000u);
  EXPECT_THAT(Read(absl::StrCat(form, "&f7=v")), StartsWith("refused"));
  std::string keys;
  for (int i = 0; i < 200'000; ++i) absl::StrAppend(&keys, i == 0 ? "" : "&", "keys[]=k");
  ASSERT_TRUE(ReadQubitBody(keys, {"keys"}, &doc).ok());
  EXPECT_EQ(doc["keys"].Size(), 200'000u);
}

TEST(ReadQubitBodyTest, RefusalsNameTheBody) {
  rapidjson::Document doc;
  absl::Status s = ReadQubitBody("{ a: NaN }", {}, &doc);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("body"));
}

}  // namespace
}  // namespace countd::shim
