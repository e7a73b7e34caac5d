// End-to-end tests of the Stash routes of the JSON shim (/stash/v1.1/count/...): the real countd
// binary, libcurl over loopback. Stash answers HTTP 200 always, the status in the body.
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/shim_e2e_util.h"

namespace countd::e2e {
namespace {

using ::testing::AnyOf;
using ::testing::Pointee;

class HttpStashE2eTest : public ShimE2eTest {
 protected:
  std::string IncrPath(const std::string& key, const char* op = "incr") {
    return absl::StrCat("/stash/v1.1/count/", op, "/", tenant_, "/public/", key);
  }
  std::string GetPath(const std::string& key) {
    return absl::StrCat("/stash/v1.1/count/get/", tenant_, "/public/", key);
  }
  std::string BatchPath() {
    return absl::StrCat("/stash/v1.1/count/getbatch/", tenant_, "/public");
  }

  // Incr/decr answered 200 with today's key; returns the date the server used.
  void ExpectKeyAnswer(const HttpResult& r, const std::string& counter) {
    ASSERT_EQ(r.status, 200) << r;
    rapidjson::Document doc = ParseJson(r.body);
    ASSERT_TRUE(doc.IsObject()) << r;
    ASSERT_EQ(doc.MemberCount(), 2u) << r;
    ASSERT_TRUE(doc.HasMember("status") && doc["status"].IsInt()) << r;
    EXPECT_EQ(doc["status"].GetInt(), 200) << r;
    ASSERT_TRUE(doc.HasMember("data") && doc["data"].IsString()) << r;
    std::string data = doc["data"].GetString();
    // Today's UTC bucket (the day may have turned since SetUp).
    EXPECT_THAT(data, AnyOf(absl::StrCat(tenant_, ":", counter, ":", today_),
                            absl::StrCat(tenant_, ":", counter, ":", TodayIso())))
        << r;
  }

  void SetUp() override {
    ShimE2eTest::SetUp();
    today_ = TodayIso();
  }

  // Skips a test whose day-based expectations were made on another UTC day (ran over midnight).
  bool DayChanged() { return TodayIso() != today_; }

  std::string today_;
};

// --- incr / decr ---------------------------------------------------------------------------

TEST_F(HttpStashE2eTest, IncrWithDateDimensionAnswersTodaysKey) {
  HttpResult r = http_->Post(IncrPath("v1:clicks"), R"({"dimension":"date"})",
                             {{"Content-Type", "application/json"}});
  ExpectKeyAnswer(r, "clicks");
  if (DayChanged()) GTEST_SKIP() << "crossed UTC midnight";
  EXPECT_THAT(r.Header("access-control-allow-origin"), Pointee(std::string("*")));
  EXPECT_THAT(r.HeaderOr("content-type"), ::testing::StartsWith("application/json"));
  EXPECT_THAT(http_->Get(GetPath("v1:clicks:" + today_)).body,
              JsonEq(R"({"status":200,"data":"1"})"));
}

TEST_F(HttpStashE2eTest, IncrWithEmptyBodyCountsToo) {
  for (int i = 0; i < 3; ++i) {
    ExpectKeyAnswer(http_->Post(IncrPath("v1:views"), ""), "views");
  }
  if (DayChanged()) GTEST_SKIP() << "crossed UTC midnight";
  EXPECT_THAT(http_->Get(GetPath("v1:views:" + today_)).body,
              JsonEq(R"({"status":200,"data":"3"})"));
}

TEST_F(HttpStashE2eTest, DecrGoesBelowZero) {
  ExpectKeyAnswer(http_->Post(IncrPath("v1:stock", "incr"), ""), "stock");
  ExpectKeyAnswer(http_->Post(IncrPath("v1:stock", "decr"), R"({"dimension":"date"})"), "stock");
  ExpectKeyAnswer(http_->Post(IncrPath("v1:stock", "decr"), ""), "stock");
  if (DayChanged()) GTEST_SKIP() << "crossed UTC midnight";
  EXPECT_THAT(http_->Get(GetPath("v1:stock:" + today_)).body,
              JsonEq(R"({"status":200,"data":"-1"})"));
}

TEST_F(HttpStashE2eTest, VisitorsAndTenantsAreSeparate) {
  ExpectKeyAnswer(http_->Post(IncrPath("alice:c"), ""), "c");
  ExpectKeyAnswer(http_->Post(IncrPath("alice:c"), ""), "c");
  ExpectKeyAnswer(http_->Post(IncrPath("bob:c"), ""), "c");
  if (DayChanged()) GTEST_SKIP() << "crossed UTC midnight";
  EXPECT_THAT(http_->Get(GetPath("alice:c:" + today_)).body,
              JsonEq(R"({"status":200,"data":"2"})"));
  EXPECT_THAT(http_->Get(GetPath("bob:c:" + today_)).body, JsonEq(R"({"status":200,"data":"1"})"));
  EXPECT_THAT(
      http_->Get(absl::StrCat("/stash/v1.1/count/get/other-", tenant_, "/public/alice:c:", today_))
          .body,
      JsonEq(R"({"status":404})"));
}

// --- get -----------------------------------------------------------------------------------

TEST_F(HttpStashE2eTest, GetMissingBucketIs404InTheBody) {
  HttpResult r = http_->Get(GetPath("nobody:c:2020-01-01"));
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(R"({"status":404})"));
  EXPECT_THAT(r.Header("access-control-allow-origin"), Pointee(std::string("*")));
  // Another day of an existing counter is missing too.
  ExpectKeyAnswer(http_->Post(IncrPath("v:c"), ""), "c");
  EXPECT_THAT(http_->Get(GetPath("v:c:2020-01-01")).body, JsonEq(R"({"status":404})"));
}

// --- getbatch ------------------------------------------------------------------------------

TEST_F(HttpStashE2eTest, GetBatchAnswersExistingKeysAsSent) {
  ExpectKeyAnswer(http_->Post(IncrPath("a:c"), ""), "c");
  ExpectKeyAnswer(http_->Post(IncrPath("a:c"), ""), "c");
  ExpectKeyAnswer(http_->Post(IncrPath("b:c"), ""), "c");
  if (DayChanged()) GTEST_SKIP() << "crossed UTC midnight";
  const std::string ka = "a:c:" + today_;
  const std::string kb = "b:c:" + today_;
  HttpResult r =
      http_->PostJson(BatchPath(), absl::StrCat(R"({"keys":[")", ka, R"(",")", kb, R"("]})"));
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(absl::StrCat(R"({"status":200,"data":{")", ka, R"(":"2",")", kb,
                                          R"(":"1"}})")));
  // A missing key is left out.
  r = http_->PostJson(BatchPath(), absl::StrCat(R"({"keys":[")", ka, R"(","zz:c:2020-01-01"]})"));
  EXPECT_THAT(r.body, JsonEq(absl::StrCat(R"({"status":200,"data":{")", ka, R"(":"2"}})")));
}

TEST_F(HttpStashE2eTest, GetBatchWhereNoKeyExistsIs404) {
  // The documents: 404 "when the requested key or keys are not found".
  HttpResult r = http_->PostJson(BatchPath(), R"({"keys":["zz:c:2020-01-01","yy:c:2020-01-02"]})");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(R"({"status":404})"));
  EXPECT_THAT(r.Header("access-control-allow-origin"), Pointee(std::string("*")));
  EXPECT_THAT(http_->PostJson(BatchPath(), R"({"keys":["zz:c:2020-01-01"]})").body,
              JsonEq(R"({"status":404})"));
  // An existing counter on another day is not found either; today's is.
  ExpectKeyAnswer(http_->Post(IncrPath("a:c"), ""), "c");
  if (DayChanged()) GTEST_SKIP() << "crossed UTC midnight";
  EXPECT_THAT(http_->PostJson(BatchPath(), R"({"keys":["a:c:2020-01-01"]})").body,
              JsonEq(R"({"status":404})"));
  EXPECT_THAT(http_
                  ->PostJson(BatchPath(),
                             absl::StrCat(R"({"keys":["a:c:2020-01-01","a:c:)", today_, R"("]})"))
                  .body,
              JsonEq(absl::StrCat(R"({"status":200,"data":{"a:c:)", today_, R"(":"1"}})")));
  // A key that is malformed is still 400, not 404.
  EXPECT_THAT(http_->PostJson(BatchPath(), R"({"keys":["zz:c:2020-01-01","bad"]})").body,
              JsonEq(R"({"status":400})"));
}

// --- bodies as jQuery, fetch and the documents send them -------------------------------------

constexpr char kFormType[] = "application/x-www-form-urlencoded; charset=UTF-8";

TEST_F(HttpStashE2eTest, IncrAndDecrTakeFormAndJsLiteralBodies) {
  // jQuery's $.post(url, {dimension: 'date'}).
  ExpectKeyAnswer(
      http_->Post(IncrPath("v1:forms"), "dimension=date", {{"Content-Type", kFormType}}), "forms");
  // The documents' body, as fetch() sends a string (text/plain).
  ExpectKeyAnswer(http_->Post(IncrPath("v1:forms"), "{ dimension: 'date' }",
                              {{"Content-Type", "text/plain;charset=UTF-8"}}),
                  "forms");
  // $.post(url, JSON.stringify(...)): JSON labelled as a form.
  ExpectKeyAnswer(
      http_->Post(IncrPath("v1:forms"), R"({"dimension":"date"})", {{"Content-Type", kFormType}}),
      "forms");
  // The multi-line literal of the documents, trailing comma and all.
  ExpectKeyAnswer(http_->Post(IncrPath("v1:forms"), "{\n  dimension: \"date\",\n}\n"), "forms");
  ExpectKeyAnswer(
      http_->Post(IncrPath("v1:forms", "decr"), "dimension=date", {{"Content-Type", kFormType}}),
      "forms");
  if (DayChanged()) GTEST_SKIP() << "crossed UTC midnight";
  EXPECT_THAT(http_->Get(GetPath("v1:forms:" + today_)).body,
              JsonEq(R"({"status":200,"data":"3"})"));
}

TEST_F(HttpStashE2eTest, GetBatchTakesJQueryFormsAndJsLiterals) {
  ExpectKeyAnswer(http_->Post(IncrPath("a:f"), ""), "f");
  ExpectKeyAnswer(http_->Post(IncrPath("a:f"), ""), "f");
  ExpectKeyAnswer(http_->Post(IncrPath("b:f"), ""), "f");
  if (DayChanged()) GTEST_SKIP() << "crossed UTC midnight";
  const std::string ka = "a:f:" + today_;
  const std::string kb = "b:f:" + today_;
  const std::string both =
      absl::StrCat(R"({"status":200,"data":{")", ka, R"(":"2",")", kb, R"(":"1"}})");
  // $.post(url, {keys: [ka, kb]}): keys%5B%5D=... (jQuery's default) or keys=... (traditional).
  for (const std::string& body :
       {absl::StrCat("keys%5B%5D=", UrlEncode(ka), "&keys%5B%5D=", UrlEncode(kb)),
        absl::StrCat("keys=", UrlEncode(ka), "&keys=", UrlEncode(kb)),
        absl::StrCat("keys=", ka, "&keys=", kb, "&keys=zz:f:2020-01-01"),
        absl::StrCat("{ keys: [ '", ka, "', '", kb, "', ] }")}) {
    HttpResult r = http_->Post(BatchPath(), body, {{"Content-Type", kFormType}});
    EXPECT_EQ(r.status, 200) << body << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(both)) << body;
  }
  // One key, traditional: keys=<key>.
  EXPECT_THAT(http_->Post(BatchPath(), absl::StrCat("keys=", UrlEncode(kb))).body,
              JsonEq(absl::StrCat(R"({"status":200,"data":{")", kb, R"(":"1"}})")));
  // All missing, as a form: 404 like JSON.
  EXPECT_THAT(http_->Post(BatchPath(), "keys%5B%5D=zz%3Af%3A2020-01-01").body,
              JsonEq(R"({"status":404})"));
  // Eleven keys as a form: 400 like JSON.
  std::string eleven;
  for (int i = 0; i < 11; ++i) absl::StrAppend(&eleven, i ? "&" : "", "keys=a:f:", today_);
  EXPECT_THAT(http_->Post(BatchPath(), eleven).body, JsonEq(R"({"status":400})"));
}

TEST_F(HttpStashE2eTest, BadFormAndJsLiteralBodiesAre400AndWriteNothing) {
  for (const char* body :
       {"dimension=week", "dimension=date&x=1", "dimension=date&dimension=date", "dimension",
        "dimension[]=date", "=date", "dimension=%zz", "dimension=date%00", "dimension=%FF",
        "{ dimension: date }", "{ dimension: 'date', }}", "{ dimension: 'date' } // c",
        "{ dimension: 'date', dimension: 'date' }", "{ dimension: 'da' + 'te' }",
        "{ dimension: '\\x64ate' }", "{ dimension: undefined }", "{ 'dimension': 'date'"}) {
    HttpResult r = http_->Post(IncrPath("v:refused2"), body, {{"Content-Type", kFormType}});
    EXPECT_EQ(r.status, 200) << body << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(R"({"status":400})")) << body;
  }
  EXPECT_THAT(http_->Get(GetPath("v:refused2:" + today_)).body, JsonEq(R"({"status":404})"));
  for (const char* body :
       {"keys=a:f:2020-01-01&keys%5B%5D=b:f:2020-01-01", "keys=a:f:2020-01-01&x=1", "keys",
        "{ keys: 'a:f:2020-01-01' }", "{ keys: [a] }"}) {
    HttpResult r = http_->Post(BatchPath(), body);
    EXPECT_EQ(r.status, 200) << body << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(R"({"status":400})")) << body;
  }
}

TEST_F(HttpStashE2eTest, GetBatchOfTenKeysWorksElevenIs400) {
  ExpectKeyAnswer(http_->Post(IncrPath("k0:c"), ""), "c");
  if (DayChanged()) GTEST_SKIP() << "crossed UTC midnight";
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) keys.push_back(absl::StrCat("\"k", i, ":c:", today_, "\""));
  HttpResult r =
      http_->PostJson(BatchPath(), absl::StrCat(R"({"keys":[)", absl::StrJoin(keys, ","), "]}"));
  EXPECT_THAT(r.body,
              JsonEq(absl::StrCat(R"({"status":200,"data":{"k0:c:)", today_, R"(":"1"}})")));
  keys.push_back(absl::StrCat("\"k10:c:", today_, "\""));
  r = http_->PostJson(BatchPath(), absl::StrCat(R"({"keys":[)", absl::StrJoin(keys, ","), "]}"));
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(R"({"status":400})"));
}

TEST_F(HttpStashE2eTest, GetBatchRejectsBadBodies) {
  for (const char* body :
       {"", "{}", R"({"keys":[]})", R"({"keys":"a:c:2020-01-01"})", R"({"keys":[1]})",
        R"({"keys":["a:c"]})", R"({"keys":["a:c:2020-02-30"]})",
        R"({"keys":["a:c:2020-01-01"],"x":1})", R"({"keys":["a:c:2020-01-01"])"}) {
    HttpResult r = http_->PostJson(BatchPath(), body);
    EXPECT_EQ(r.status, 200) << body << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(R"({"status":400})")) << body;
  }
  // GET is not how getbatch is called.
  EXPECT_THAT(http_->Get(BatchPath()).body, JsonEq(R"({"status":400})"));
}

// --- bad input -------------------------------------------------------------------------------

TEST_F(HttpStashE2eTest, BadVisitorIdIs400AndWritesNothing) {
  // '!' and '%' (as %25) are outside [A-Za-z0-9_.~-]; so is a space (%20).
  for (const char* key : {"bad!id:c", "bad%25id:c", "bad%20id:c"}) {
    HttpResult r = http_->Post(IncrPath(key), "");
    EXPECT_EQ(r.status, 200) << key << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(R"({"status":400})")) << key;
  }
  EXPECT_THAT(http_->Get(GetPath("bad!id:c:" + today_)).body, JsonEq(R"({"status":400})"));
}

TEST_F(HttpStashE2eTest, MalformedKeyIs400) {
  // incr wants visitor:counter; get wants visitor:counter:date.
  for (const char* key : {"novisitor", "a:b:c", ":c", "v:"}) {
    EXPECT_THAT(http_->Post(IncrPath(key), "").body, JsonEq(R"({"status":400})")) << key;
  }
  for (const char* key : {"v:c", "v:c:2020-01-01:x", ":c:2020-01-01"}) {
    EXPECT_THAT(http_->Get(GetPath(key)).body, JsonEq(R"({"status":400})")) << key;
  }
}

TEST_F(HttpStashE2eTest, BadDateIs400) {
  for (const char* date : {"2020-13-01", "2020-02-30", "20200101", "2020-1-01", "yesterday"}) {
    HttpResult r = http_->Get(GetPath(absl::StrCat("v:c:", date)));
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_THAT(r.body, JsonEq(R"({"status":400})")) << date;
  }
}

TEST_F(HttpStashE2eTest, BadIncrBodiesAre400AndWriteNothing) {
  for (const char* body :
       {R"({"dimension":"date")", "not json", R"({"dimension":"month"})",
        R"({"dimension":"date","extra":1})", R"({"other":"x"})", "[]", R"({"dimension":1})"}) {
    HttpResult r = http_->PostJson(IncrPath("v:refused"), body);
    EXPECT_EQ(r.status, 200) << body << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(R"({"status":400})")) << body;
  }
  EXPECT_THAT(http_->Get(GetPath("v:refused:" + today_)).body, JsonEq(R"({"status":404})"));
}

TEST_F(HttpStashE2eTest, WrongMethodIs400) {
  EXPECT_THAT(http_->Get(IncrPath("v:c")).body, JsonEq(R"({"status":400})"));
  EXPECT_THAT(http_->Get(IncrPath("v:c", "decr")).body, JsonEq(R"({"status":400})"));
  EXPECT_THAT(http_->Post(GetPath("v:c:2020-01-01"), "").body, JsonEq(R"({"status":400})"));
  const std::string put = "";
  EXPECT_THAT(http_->Request("PUT", IncrPath("v:c"), &put, {}).body, JsonEq(R"({"status":400})"));
  EXPECT_THAT(http_->Request("DELETE", GetPath("v:c:2020-01-01"), nullptr, {}).body,
              JsonEq(R"({"status":400})"));
  // Nothing was counted by the refused writes.
  EXPECT_THAT(http_->Get(GetPath("v:c:" + today_)).body, JsonEq(R"({"status":404})"));
}

TEST_F(HttpStashE2eTest, UnknownStashPathIs404InTheBody) {
  for (std::string path : {absl::StrCat("/stash/v1.1/count/frob/", tenant_, "/public/v:c"),
                           absl::StrCat("/stash/v1.0/count/incr/", tenant_, "/public/v:c"),
                           absl::StrCat("/stash/v1.1/count/incr/", tenant_, "/private/v:c"),
                           absl::StrCat("/stash/v1.1/count/incr/", tenant_, "/public/v:c/extra")}) {
    HttpResult r = http_->Post(path, "");
    EXPECT_EQ(r.status, 200) << path << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(R"({"status":404})")) << path;
  }
}

// --- CORS ------------------------------------------------------------------------------------

TEST_F(HttpStashE2eTest, PreflightIsAnswered204WithAllowedMethods) {
  HttpResult r = http_->Request("OPTIONS", IncrPath("v:c"), nullptr,
                                {{"Origin", "https://shop.example"},
                                 {"Access-Control-Request-Method", "POST"},
                                 {"Access-Control-Request-Headers", "content-type"}});
  EXPECT_EQ(r.status, 204) << r;
  EXPECT_THAT(r.Header("access-control-allow-origin"), Pointee(std::string("*")));
  ASSERT_NE(r.Header("access-control-allow-methods"), nullptr) << r;
  EXPECT_THAT(*r.Header("access-control-allow-methods"), ::testing::HasSubstr("POST"));
  EXPECT_THAT(*r.Header("access-control-allow-methods"), ::testing::HasSubstr("GET"));
  ASSERT_NE(r.Header("access-control-allow-headers"), nullptr) << r;
  EXPECT_THAT(absl::AsciiStrToLower(*r.Header("access-control-allow-headers")),
              ::testing::HasSubstr("content-type"));
  EXPECT_EQ(r.body, "");
  // The preflight wrote nothing.
  EXPECT_THAT(http_->Get(GetPath("v:c:" + today_)).body, JsonEq(R"({"status":404})"));
  // Error answers carry CORS too, so browsers can read them.
  HttpResult bad = http_->Get(GetPath("v:c:bad"));
  EXPECT_THAT(bad.Header("access-control-allow-origin"), Pointee(std::string("*")));
}

}  // namespace
}  // namespace countd::e2e
