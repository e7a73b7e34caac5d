// End-to-end tests of the canonical proto3-JSON mapping (POST /v1/<Service>/<Method>), the
// health endpoints and unknown routes of the JSON shim: the real countd binary, libcurl over
// loopback.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/shim_e2e_util.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class HttpCanonicalE2eTest : public ShimE2eTest {
 protected:
  HttpResult Call(const std::string& route, const std::string& json) {
    return http_->PostJson(absl::StrCat("/v1/", route), json);
  }
  std::string T() { return absl::StrCat(R"("tenant":")", tenant_, R"(")"); }

  // Expects the grpc-gateway error form {"code","message","details"} with `code` and HTTP
  // `http_status`, the message naming `field`.
  void ExpectError(const HttpResult& r, int http_status, int code, const std::string& field) {
    EXPECT_EQ(r.status, http_status) << r;
    EXPECT_THAT(r.HeaderOr("content-type"), StartsWith("application/json")) << r;
    rapidjson::Document doc = ParseJson(r.body);
    ASSERT_TRUE(doc.IsObject()) << r;
    EXPECT_EQ(doc.MemberCount(), 3u) << r;
    ASSERT_TRUE(doc.HasMember("code") && doc["code"].IsInt()) << r;
    EXPECT_EQ(doc["code"].GetInt(), code) << r;
    ASSERT_TRUE(doc.HasMember("message") && doc["message"].IsString()) << r;
    EXPECT_THAT(std::string(doc["message"].GetString()), HasSubstr(field)) << r;
    ASSERT_TRUE(doc.HasMember("details") && doc["details"].IsArray()) << r;
  }
};

TEST_F(HttpCanonicalE2eTest, StashIncrGetAndGetBatch) {
  const std::string today = TodayIso();
  HttpResult r =
      Call("Counters/Incr", absl::StrCat("{", T(), R"(,"visitorId":"v","counterName":"c"})"));
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.HeaderOr("content-type"), StartsWith("application/json"));
  EXPECT_THAT(r.body, JsonEq(absl::StrCat(R"({"key":")", tenant_, ":c:", today, R"("})")));
  // proto3 JSON accepts the original field names as well, and int64 as strings or numbers.
  EXPECT_EQ(Call("Counters/Incr",
                 absl::StrCat("{", T(), R"(,"visitor_id":"v","counter_name":"c","delta":"4"})"))
                .status,
            200);
  EXPECT_EQ(Call("Counters/Decr",
                 absl::StrCat("{", T(), R"(,"visitorId":"v","counterName":"c","delta":2})"))
                .status,
            200);
  if (TodayIso() != today) GTEST_SKIP() << "crossed UTC midnight";
  EXPECT_THAT(
      Call("Counters/Get",
           absl::StrCat("{", T(), R"(,"visitorId":"v","counterName":"c","date":")", today, R"("})"))
          .body,
      JsonEq(R"({"count":"3"})"));
  EXPECT_THAT(Call("Counters/GetBatch",
                   absl::StrCat("{", T(), R"(,"keys":["v:c:)", today, R"(","w:c:2020-01-01"]})"))
                  .body,
              JsonEq(absl::StrCat(R"({"counts":{"v:c:)", today, R"(":"3"}})")));
}

TEST_F(HttpCanonicalE2eTest, SignalsRegisterIncrementAndGetCounters) {
  EXPECT_THAT(Call("Counters/RegisterCounters",
                   absl::StrCat("{", T(), R"(,"counters":[{"class":"_buy","path":"/shoes"}]})"))
                  .body,
              JsonEq("{}"));
  EXPECT_THAT(Call("Counters/GetRegisteredCounters", absl::StrCat("{", T(), "}")).body,
              JsonEq(R"({"counters":[{"class":"_buy","path":"/shoes"}]})"));
  for (int i = 0; i < 10; ++i) {
    HttpResult r = Call(
        "Counters/IncrementCounters",
        absl::StrCat("{", T(),
                     R"(,"uid":"u","counters":[{"class":"_buy","path":"/shoes","value":0.1}]})"));
    ASSERT_EQ(r.status, 200) << r;
  }
  HttpResult r = Call("Counters/GetCounters", absl::StrCat("{", T(), R"(,"uid":"u"})"));
  ASSERT_EQ(r.status, 200) << r;
  rapidjson::Document doc = ParseJson(r.body);
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("counters") && doc["counters"].IsArray()) << r;
  ASSERT_EQ(doc["counters"].Size(), 1u) << r;
  const rapidjson::Value& c = doc["counters"][0];
  EXPECT_EQ(std::string(c["class"].GetString()), "_buy");
  EXPECT_EQ(std::string(c["period"].GetString()), "total");
  EXPECT_EQ(std::string(c["count"].GetString()), "10");  // int64 is a string in proto3 JSON
  EXPECT_EQ(std::string(c["valueDecimal"].GetString()), "1");
  EXPECT_DOUBLE_EQ(c["value"].GetDouble(), 1.0);
  ASSERT_TRUE(c.HasMember("lastUpdated") && c["lastUpdated"].IsString()) << r;
  EXPECT_THAT(std::string(c["lastUpdated"].GetString()), ::testing::EndsWith("Z"));
}

TEST_F(HttpCanonicalE2eTest, TallyIncrementGetCountAndGetTopK) {
  for (const char* countable : {"a", "b", "b"}) {
    HttpResult r = Call("Tally/Increment",
                        absl::StrCat("{", T(), R"(,"op":"OP_TOPK","counter":"c","countable":")",
                                     countable, R"(","windowMinutes":60})"));
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_THAT(r.body, JsonEq("{}"));
  }
  EXPECT_THAT(
      Call(
          "Tally/Increment",
          absl::StrCat(
              "{", T(),
              R"(,"op":"OP_TOPK","counter":"c","countable":"a","windowMinutes":60,"metadata":"A","delta":"5"})"))
          .body,
      JsonEq("{}"));
  EXPECT_THAT(Call("Tally/GetCount",
                   absl::StrCat("{", T(), R"(,"counter":"c","countable":"a","op":"OP_TOPK"})"))
                  .body,
              JsonEq(R"({"count":"6"})"));
  // The ECOUNT counter of the same name (the default of GetCount) is another counter.
  ExpectError(Call("Tally/GetCount", absl::StrCat("{", T(), R"(,"counter":"c","countable":"a"})")),
              404, 5, "counter");
  EXPECT_THAT(
      Call("Tally/GetTopK", absl::StrCat("{", T(), R"(,"counter":"c","k":2,"withMetadata":true})"))
          .body,
      JsonEq(
          R"({"items":[{"countable":"a","count":"6","metadata":"A"},{"countable":"b","count":"2"}]})"));
  EXPECT_THAT(Call("Tally/GetTopK", absl::StrCat("{", T(), R"(,"counter":"c","k":1})")).body,
              JsonEq(R"({"items":[{"countable":"a","count":"6"}]})"));
}

TEST_F(HttpCanonicalE2eTest, ErrorsUseGatewayStatuses) {
  // INVALID_ARGUMENT -> 400, code 3.
  ExpectError(
      Call("Counters/Incr", absl::StrCat("{", T(), R"(,"visitorId":"bad id!","counterName":"c"})")),
      400, 3, "visitor_id");
  ExpectError(
      Call("Tally/Increment",
           absl::StrCat("{", T(),
                        R"(,"op":"OP_TOPK","counter":"c","countable":"a","windowMinutes":0})")),
      400, 3, "window_minutes");
  // NOT_FOUND -> 404, code 5.
  ExpectError(
      Call("Counters/Get",
           absl::StrCat("{", T(), R"(,"visitorId":"v","counterName":"c","date":"2020-01-01"})")),
      404, 5, "date");
  ExpectError(
      Call("Tally/GetCount", absl::StrCat("{", T(), R"(,"counter":"none","countable":"a"})")), 404,
      5, "");
  // FAILED_PRECONDITION -> 400, code 9 (unregistered path).
  ExpectError(
      Call("Counters/IncrementCounters",
           absl::StrCat("{", T(), R"(,"uid":"u","counters":[{"class":"_x","path":"/nope"}]})")),
      400, 9, "counters[0].path");
  // The refused increment wrote nothing.
  EXPECT_THAT(Call("Counters/GetCounters", absl::StrCat("{", T(), R"(,"uid":"u"})")).body,
              JsonEq(R"({"counters":[]})"));
}

TEST_F(HttpCanonicalE2eTest, MalformedJsonAndUnknownFieldsAre400) {
  ExpectError(Call("Counters/Incr", R"({"tenant":)"), 400, 3, "body");
  ExpectError(Call("Counters/Incr", "[]"), 400, 3, "body");
  ExpectError(Call("Counters/Incr",
                   absl::StrCat("{", T(), R"(,"visitorId":"v","counterName":"c","bogus":1})")),
              400, 3, "bogus");
  ExpectError(Call("Counters/Incr", absl::StrCat("{", T(), R"(,"visitorId":7,"counterName":"c"})")),
              400, 3, "body");
  // Both members of a oneof.
  ExpectError(
      Call("Counters/IncrementCounters",
           absl::StrCat("{", T(),
                        R"(,"uid":"v","regToken":"v","counters":[{"class":"_c","path":"/"}]})")),
      400, 3, "");
  // Nothing of the refused requests was written.
  EXPECT_EQ(
      Call("Counters/Get", absl::StrCat("{", T(), R"(,"visitorId":"v","counterName":"c","date":")",
                                        TodayIso(), R"("})"))
          .status,
      404);
}

TEST_F(HttpCanonicalE2eTest, OnlyPostWithJsonIsAccepted) {
  ExpectError(http_->Get("/v1/Counters/GetRegisteredCounters"), 400, 3, "POST");
  ExpectError(http_->Request("PUT", "/v1/Counters/GetRegisteredCounters", nullptr, {}), 400, 3,
              "POST");
  ExpectError(http_->Post("/v1/Counters/GetRegisteredCounters", absl::StrCat("{", T(), "}"),
                          {{"Content-Type", "text/plain"}}),
              400, 3, "content-type");
}

TEST_F(HttpCanonicalE2eTest, UnknownMethodIs404) {
  ExpectError(Call("Counters/NoSuchMethod", "{}"), 404, 5, "NoSuchMethod");
  ExpectError(Call("Nope/Get", "{}"), 404, 5, "Nope");
}

TEST_F(HttpCanonicalE2eTest, HealthAndReadiness) {
  HttpResult r = http_->Get("/healthz");
  EXPECT_EQ(r.status, 200) << r;
  r = http_->Get("/readyz");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(R"({"status":"ready"})"));
}

TEST_F(HttpCanonicalE2eTest, UnknownRouteIs404) {
  for (const char* path : {"/", "/nothing", "/v2/Counters/Incr", "/stashx/v1.1", "/healthz/x"}) {
    HttpResult r = http_->Get(path);
    EXPECT_EQ(r.status, 404) << path << "\n" << r;
  }
}

}  // namespace
}  // namespace countd::e2e
