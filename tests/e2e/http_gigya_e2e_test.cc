// End-to-end tests of the Gigya-style accounts.* routes of the JSON shim: the real countd binary,
// libcurl over loopback; parameters by GET query, POST form and POST JSON; the full envelope,
// JSONP, httpStatusCodes and the error codes.
#include <regex>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/shim_e2e_util.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pointee;

class HttpGigyaE2eTest : public ShimE2eTest {
 protected:
  // Calls /<method> with `params` (plus apiKey=tenant_ unless `with_key` is false). kJson sends
  // the parameters as a JSON object of strings.
  HttpResult Call(const std::string& method, Params params, Via via = Via::kQuery,
                  bool with_key = true) {
    if (with_key) params.insert(params.begin(), {"apiKey", tenant_});
    return CallGigya(method, params, via);
  }

  // Parses the body as an envelope and checks every common member: callId, errorCode,
  // apiVersion, statusCode, statusReason, time; errorMessage and errorDetails only on errors.
  rapidjson::Document Envelope(const HttpResult& r, int error_code) {
    rapidjson::Document doc = ParseJson(r.body);
    EXPECT_FALSE(doc.HasParseError()) << r;
    if (doc.HasParseError() || !doc.IsObject()) {
      ADD_FAILURE() << "not a JSON object: " << r;
      doc.SetObject();
      return doc;
    }
    const std::string text = ToJson(doc);
    EXPECT_TRUE(doc.HasMember("callId") && doc["callId"].IsString() &&
                IsLowerHex32(doc["callId"].GetString()))
        << text;
    EXPECT_TRUE(doc.HasMember("errorCode") && doc["errorCode"].IsInt()) << text;
    if (doc.HasMember("errorCode") && doc["errorCode"].IsInt()) {
      EXPECT_EQ(doc["errorCode"].GetInt(), error_code) << text;
    }
    EXPECT_TRUE(doc.HasMember("apiVersion") && doc["apiVersion"].IsInt() &&
                doc["apiVersion"].GetInt() == 2)
        << text;
    const int status = error_code == 0 ? 200 : error_code / 1000;
    EXPECT_TRUE(doc.HasMember("statusCode") && doc["statusCode"].IsInt() &&
                doc["statusCode"].GetInt() == status)
        << text;
    const char* reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 404 ? "Not Found"
                         : status == 403 ? "Forbidden"
                                         : "Internal Server Error";
    EXPECT_TRUE(doc.HasMember("statusReason") && doc["statusReason"].IsString() &&
                std::string(doc["statusReason"].GetString()) == reason)
        << text;
    static const std::regex kTime(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
    EXPECT_TRUE(doc.HasMember("time") && doc["time"].IsString() &&
                std::regex_match(std::string(doc["time"].GetString()), kTime))
        << text;
    if (error_code == 0) {
      EXPECT_FALSE(doc.HasMember("errorMessage")) << text;
      EXPECT_FALSE(doc.HasMember("errorDetails")) << text;
    } else {
      EXPECT_TRUE(doc.HasMember("errorMessage") && doc["errorMessage"].IsString()) << text;
      EXPECT_TRUE(doc.HasMember("errorDetails") && doc["errorDetails"].IsString()) << text;
    }
    return doc;
  }

  // Expects an error envelope with `error_code` whose errorDetails name `param`; HTTP 200.
  void ExpectError(const HttpResult& r, int error_code, const std::string& param) {
    EXPECT_EQ(r.status, 200) << r;
    rapidjson::Document doc = Envelope(r, error_code);
    if (doc.HasMember("errorDetails") && doc["errorDetails"].IsString()) {
      EXPECT_THAT(std::string(doc["errorDetails"].GetString()), HasSubstr(param)) << r;
    }
  }

  void ExpectOk(const HttpResult& r) {
    EXPECT_EQ(r.status, 200) << r;
    Envelope(r, 0);
  }

  // A JSONP answer `callback({...});` (HTTP 200, text/javascript) as the answer inside it; a
  // body that is not so wrapped fails the test and comes back empty.
  HttpResult UnwrapJsonp(const HttpResult& r, const std::string& callback) {
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.HeaderOr("content-type"), "text/javascript") << r;
    HttpResult inner = r;
    inner.body.clear();
    const std::string open = callback + "(";
    if (!absl::StartsWith(r.body, open) || !absl::EndsWith(r.body, ");")) {
      ADD_FAILURE() << "not wrapped in " << callback << "(...);: " << r;
      return inner;
    }
    inner.body = r.body.substr(open.size(), r.body.size() - open.size() - 2);
    return inner;
  }

  void Register(const std::string& counters_json) {
    ExpectOk(Call("accounts.registerCounters", {{"counters", counters_json}}));
  }

  // The counters array of getCounters for `uid` (with an optional counters filter), as JSON text.
  std::string GetCountersJson(const std::string& uid, const std::string& filter = "") {
    Params p = {{"UID", uid}};
    if (!filter.empty()) p.emplace_back("counters", filter);
    HttpResult r = Call("accounts.getCounters", p);
    rapidjson::Document doc = Envelope(r, 0);
    if (!doc.HasMember("counters") || !doc["counters"].IsArray()) {
      ADD_FAILURE() << "no counters array: " << r;
      return "";
    }
    return ToJson(doc["counters"]);
  }
};

// --- registry --------------------------------------------------------------------------------

TEST_F(HttpGigyaE2eTest, RegisterCountersByQueryFormAndJson) {
  ExpectOk(Call("accounts.registerCounters",
                {{"counters", R"([{"class":"_buy","path":"/"},{"class":"_buy","path":"/shoes"}])"}},
                Via::kQuery));
  ExpectOk(Call("accounts.registerCounters", {{"counters", R"([{"class":"_view","path":"/a"}])"}},
                Via::kForm));
  // JSON body: counters as a real JSON array, as SDKs that post JSON send it.
  HttpResult r =
      http_->PostJson("/accounts.registerCounters",
                      absl::StrCat(R"({"apiKey":")", tenant_,
                                   R"(","counters":[{"class":"_view","path":"/a/b"}]})"));
  ExpectOk(r);
  // Re-registering is a no-op success.
  ExpectOk(Call("accounts.registerCounters", {{"counters", R"([{"class":"_view","path":"/a"}])"}}));

  for (Via via : {Via::kQuery, Via::kForm, Via::kJson}) {
    HttpResult list = Call("accounts.getRegisteredCounters", {}, via);
    rapidjson::Document doc = Envelope(list, 0);
    ASSERT_TRUE(doc.HasMember("counters")) << list;
    EXPECT_THAT(ToJson(doc["counters"]),
                JsonEq(R"([{"class":"_buy","path":"/"},{"class":"_buy","path":"/shoes"},)"
                       R"({"class":"_view","path":"/a"},{"class":"_view","path":"/a/b"}])"));
  }
}

TEST_F(HttpGigyaE2eTest, UnregisterCountersKeepsDataAndRefusesNewIncrements) {
  Register(R"([{"class":"_c","path":"/x"},{"class":"_c","path":"/y"}])");
  ExpectOk(Call("accounts.incrementCounters",
                {{"UID", "u1"}, {"counters", R"([{"class":"_c","path":"/x","count":2}])"}}));
  ExpectOk(Call("accounts.unregisterCounters", {{"counters", R"([{"class":"_c","path":"/x"}])"}},
                Via::kForm));
  HttpResult list = Call("accounts.getRegisteredCounters", {});
  rapidjson::Document doc = Envelope(list, 0);
  ASSERT_TRUE(doc.HasMember("counters")) << list;
  EXPECT_THAT(ToJson(doc["counters"]), JsonEq(R"([{"class":"_c","path":"/y"}])"));

  ExpectError(Call("accounts.incrementCounters",
                   {{"UID", "u1"}, {"counters", R"([{"class":"_c","path":"/x"}])"}}),
              400006, "counters");
  // The data is kept.
  rapidjson::Document counters = ParseJson(GetCountersJson("u1"));
  ASSERT_TRUE(counters.IsArray() && counters.Size() == 1) << ToJson(counters);
  EXPECT_EQ(counters[0]["count"].GetInt64(), 2);
}

// --- increment and read ------------------------------------------------------------------------

TEST_F(HttpGigyaE2eTest, IncrementThenGetCountersShowsExactCountAndValue) {
  Register(R"([{"class":"_buy","path":"/shoes"}])");
  const int64_t before = absl::ToUnixSeconds(absl::Now());
  for (int i = 0; i < 10; ++i) {
    // Alternate the three ways of sending parameters.
    Via via = i % 3 == 0 ? Via::kQuery : i % 3 == 1 ? Via::kForm : Via::kJson;
    ExpectOk(
        Call("accounts.incrementCounters",
             {{"UID", "buyer"}, {"counters", R"([{"class":"_buy","path":"/shoes","value":0.1}])"}},
             via));
  }
  const int64_t after = absl::ToUnixSeconds(absl::Now());

  HttpResult r = Call("accounts.getCounters",
                      {{"UID", "buyer"}, {"counters", R"([{"class":"_buy","path":"/shoes"}])"}});
  rapidjson::Document doc = Envelope(r, 0);
  ASSERT_TRUE(doc.HasMember("counters") && doc["counters"].IsArray()) << r;
  ASSERT_EQ(doc["counters"].Size(), 1u) << r;
  const rapidjson::Value& c = doc["counters"][0];
  EXPECT_EQ(std::string(c["class"].GetString()), "_buy");
  EXPECT_EQ(std::string(c["path"].GetString()), "/shoes");
  EXPECT_EQ(std::string(c["period"].GetString()), "total");
  ASSERT_TRUE(c["count"].IsInt64()) << r;
  EXPECT_EQ(c["count"].GetInt64(), 10);
  // 0.1 added ten times is exactly 1, written as a JSON number.
  ASSERT_TRUE(c["value"].IsNumber()) << r;
  EXPECT_EQ(c["value"].GetDouble(), 1.0) << r;
  EXPECT_THAT(r.body, HasSubstr(R"("value":1,)"));
  ASSERT_TRUE(c["lastUpdatedTimestamp"].IsInt64()) << r;
  const int64_t ts = c["lastUpdatedTimestamp"].GetInt64();
  EXPECT_GE(ts, before);
  EXPECT_LE(ts, after);
  ASSERT_TRUE(c["lastUpdated"].IsString()) << r;
  static const std::regex kLastUpdated(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$)");
  EXPECT_TRUE(std::regex_match(std::string(c["lastUpdated"].GetString()), kLastUpdated)) << r;
  EXPECT_EQ(std::string(c["lastUpdated"].GetString()),
            absl::FormatTime("%Y-%m-%d %H:%M:%SZ", absl::FromUnixSeconds(ts), absl::UTCTimeZone()));
}

// Numbers as clients write them: a count with a zero fraction (Python's json.dumps of a float
// writes 2.0) and numbers inside strings ("3", "0.5") count as those numbers.
TEST_F(HttpGigyaE2eTest, CountsAndValuesWrittenAsFloatsOrStringsAreTheirNumbers) {
  Register(R"([{"class":"_buy","path":"/"}])");
  ExpectOk(Call(
      "accounts.incrementCounters",
      {{"UID", "py"}, {"counters", R"([{"class":"_buy","path":"/","count":2.0,"value":1.5}])"}}));
  ExpectOk(Call(
      "accounts.incrementCounters",
      {{"UID", "py"}, {"counters", R"([{"class":"_buy","path":"/","count":"3","value":"0.5"}])"}},
      Via::kForm));
  ExpectOk(Call("accounts.incrementCounters",
                {{"UID", "py"}, {"counters", R"([{"class":"_buy","path":"/","count":"1.0"}])"}},
                Via::kJson));
  rapidjson::Document counters = ParseJson(GetCountersJson("py"));
  ASSERT_TRUE(counters.IsArray() && counters.Size() == 1) << ToJson(counters);
  EXPECT_EQ(counters[0]["count"].GetInt64(), 6) << ToJson(counters);
  EXPECT_EQ(counters[0]["value"].GetDouble(), 2.0) << ToJson(counters);
}

TEST_F(HttpGigyaE2eTest, GetCountersOfAUserWithoutDataIsEmpty) {
  EXPECT_THAT(GetCountersJson("nobody"), JsonEq("[]"));
}

TEST_F(HttpGigyaE2eTest, CountAndValueAccumulatePerPeriod) {
  Register(R"([{"class":"_p","path":"/a"}])");
  ExpectOk(
      Call("accounts.incrementCounters",
           {{"UID", "u"}, {"counters", R"([{"class":"_p","path":"/a","count":3,"value":2.5}])"}},
           Via::kJson));
  ExpectOk(Call("accounts.incrementCounters",
                {{"UID", "u"}, {"counters", R"([{"class":"_p","path":"/","value":1}])"}},
                Via::kForm));
  rapidjson::Document all =
      ParseJson(GetCountersJson("u", R"js([{"class":"_p","path":"/a","period":"regex('.*')"}])js"));
  ASSERT_TRUE(all.IsArray()) << ToJson(all);
  // total, YYMM, YYMMDD and last7Days, all with the same count and value.
  ASSERT_EQ(all.Size(), 4u) << ToJson(all);
  std::set<std::string> periods;
  for (const auto& c : all.GetArray()) {
    periods.insert(c["period"].GetString());
    EXPECT_EQ(c["count"].GetInt64(), 3) << ToJson(c);
    EXPECT_EQ(c["value"].GetDouble(), 2.5) << ToJson(c);
  }
  EXPECT_TRUE(periods.count("total") && periods.count("last7Days")) << ToJson(all);
}

// --- the envelope -------------------------------------------------------------------------------

TEST_F(HttpGigyaE2eTest, SuccessEnvelopeHasEveryFieldAndEchoesContext) {
  HttpResult r = Call("accounts.getRegisteredCounters", {{"context", R"(R"42" <&>)"}});
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.HeaderOr("content-type"), ::testing::StartsWith("application/json"));
  rapidjson::Document doc = Envelope(r, 0);
  ASSERT_TRUE(doc.HasMember("context") && doc["context"].IsString()) << r;
  EXPECT_EQ(std::string(doc["context"].GetString()), R"(R"42" <&>)");
  EXPECT_TRUE(doc.HasMember("counters")) << r;
  // Without context there is none.
  doc = Envelope(Call("accounts.getRegisteredCounters", {}), 0);
  EXPECT_FALSE(doc.HasMember("context"));
  // context is echoed on errors too.
  doc = Envelope(Call("accounts.getCounters", {{"context", "ctx-1"}}), 400002);
  ASSERT_TRUE(doc.HasMember("context") && doc["context"].IsString());
  EXPECT_EQ(std::string(doc["context"].GetString()), "ctx-1");
}

TEST_F(HttpGigyaE2eTest, CallIdsAreUniqueAcrossCalls) {
  std::set<std::string> ids;
  constexpr int kCalls = 30;
  for (int i = 0; i < kCalls; ++i) {
    HttpResult r = i % 2 == 0 ? Call("accounts.getRegisteredCounters", {})
                              : Call("accounts.getCounters", {});  // errors have ids too
    rapidjson::Document doc = Envelope(r, i % 2 == 0 ? 0 : 400002);
    ASSERT_TRUE(doc.HasMember("callId") && doc["callId"].IsString()) << r;
    ids.insert(doc["callId"].GetString());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kCalls));
}

TEST_F(HttpGigyaE2eTest, ErrorEnvelopeNamesTheParameter) {
  HttpResult r =
      Call("accounts.incrementCounters", {{"counters", R"([{"class":"_x","path":"/"}])"}});
  EXPECT_EQ(r.status, 200) << r;
  rapidjson::Document doc = Envelope(r, 400002);
  EXPECT_EQ(std::string(doc["errorMessage"].GetString()), "Missing required parameter");
  EXPECT_THAT(std::string(doc["errorDetails"].GetString()), HasSubstr("UID"));
  EXPECT_THAT(r.Header("access-control-allow-origin"), Pointee(std::string("*")));
}

// --- error codes --------------------------------------------------------------------------------

TEST_F(HttpGigyaE2eTest, MissingParametersAre400002) {
  const std::string counters = R"([{"class":"_m","path":"/"}])";
  ExpectError(Call("accounts.incrementCounters", {{"counters", counters}}), 400002, "UID");
  ExpectError(Call("accounts.incrementCounters", {{"UID", ""}, {"counters", counters}}), 400002,
              "UID");
  ExpectError(Call("accounts.incrementCounters", {{"UID", "u"}, {"counters", counters}}, Via::kForm,
                   /*with_key=*/false),
              400002, "apiKey");
  ExpectError(Call("accounts.incrementCounters", {{"UID", "u"}}, Via::kJson), 400002, "counters");
  ExpectError(Call("accounts.registerCounters", {}), 400002, "counters");
  ExpectError(Call("accounts.getRegisteredCounters", {}, Via::kQuery, /*with_key=*/false), 400002,
              "apiKey");
  ExpectError(Call("accounts.getCounters", {}), 400002, "UID");
  HttpResult r = Call("accounts.incrementCounters", {{"counters", counters}});
  rapidjson::Document doc = Envelope(r, 400002);
  EXPECT_EQ(std::string(doc["errorMessage"].GetString()), "Missing required parameter");
}

TEST_F(HttpGigyaE2eTest, CountersThatAreNotAJsonArrayAre400004) {
  for (const char* bad :
       {"xx", R"({"class":"_a","path":"/"})", "[1,2]",
        "[{\"class\":", R"([{"class":"_a","path":"/","count":"one"}])",
        R"([{"class":"_a","path":"/","count":1.5}])",
        R"([{"class":"_a","path":"/","count":"1.5"}])",
        R"([{"class":"_a","path":"/","count":true}])",
        R"([{"class":"_a","path":"/","count":1e19}])", R"([{"class":"_a","path":"/","value":"x"}])",
        R"([{"class":"_a","path":"/","value":"nan"}])",
        R"([{"class":"_a","path":"/","value":null}])", R"([{"class":1,"path":"/"}])"}) {
    HttpResult r =
        Call("accounts.incrementCounters", {{"UID", "u"}, {"counters", bad}}, Via::kForm);
    ExpectError(r, 400004, "counters");
    rapidjson::Document doc = ParseJson(r.body);
    EXPECT_EQ(std::string(doc["errorMessage"].GetString()), "Invalid parameter format") << bad;
  }
  ExpectError(Call("accounts.registerCounters", {{"counters", "not json"}}), 400004, "counters");
}

TEST_F(HttpGigyaE2eTest, UnregisteredPathIs400006) {
  HttpResult r = Call("accounts.incrementCounters",
                      {{"UID", "u"}, {"counters", R"([{"class":"_z","path":"/nowhere"}])"}});
  ExpectError(r, 400006, "counters");
  EXPECT_EQ(std::string(ParseJson(r.body)["errorMessage"].GetString()), "Invalid parameter value");
  // A path deeper than the tenant's max depth (2 by default) is a bad value; a malformed path
  // (trailing slash) is a bad format.
  ExpectError(
      Call("accounts.registerCounters", {{"counters", R"([{"class":"_z","path":"/a/b/c"}])"}}),
      400006, "counters[0].path");
  ExpectError(Call("accounts.registerCounters", {{"counters", R"([{"class":"_z","path":"/a/"}])"}}),
              400004, "counters[0].path");
}

TEST_F(HttpGigyaE2eTest, UnparseableRequestsAre400001) {
  // Bad percent-encoding in a form body and in the query string.
  HttpResult r = http_->Post("/accounts.getCounters", absl::StrCat("apiKey=", tenant_, "&UID=%zz"),
                             {{"Content-Type", "application/x-www-form-urlencoded"}});
  ExpectError(r, 400001, "");
  EXPECT_EQ(std::string(ParseJson(r.body)["errorMessage"].GetString()), "Invalid request format");
  ExpectError(http_->Get(absl::StrCat("/accounts.getCounters?apiKey=", tenant_, "&UID=%G1")),
              400001, "");
  // A parameter given twice (in the query, and across query and body).
  ExpectError(http_->Get(absl::StrCat("/accounts.getCounters?apiKey=", tenant_, "&UID=a&UID=b")),
              400001, "UID");
  ExpectError(http_->Post(absl::StrCat("/accounts.getCounters?UID=a"),
                          absl::StrCat("apiKey=", tenant_, "&UID=b"),
                          {{"Content-Type", "application/x-www-form-urlencoded"}}),
              400001, "UID");
  // A JSON body that is not an object, and a body of an unknown type.
  ExpectError(http_->PostJson("/accounts.getCounters", "[1,2"), 400001, "");
  ExpectError(http_->Post("/accounts.getCounters", "apiKey=x", {{"Content-Type", "text/plain"}}),
              400001, "");
}

// An unknown method is an error in the envelope like any other: HTTP 200 (a browser's JSONP
// script tag drops a 404 unread), HTTP 404 only with httpStatusCodes=true.
TEST_F(HttpGigyaE2eTest, UnknownMethodIs404000InAnHttp200) {
  for (const char* method : {"accounts.noSuchMethod", "nosuch.namespace"}) {
    for (Via via : {Via::kQuery, Via::kForm, Via::kJson}) {
      HttpResult r = Call(method, {{"context", "c1"}}, via);
      EXPECT_EQ(r.status, 200) << r;
      rapidjson::Document doc = Envelope(r, 404000);
      EXPECT_EQ(std::string(doc["errorMessage"].GetString()), "Not found") << r;
      EXPECT_EQ(std::string(doc["errorDetails"].GetString()), absl::StrCat("no method ", method))
          << r;
      EXPECT_EQ(std::string(doc["context"].GetString()), "c1") << r;
      EXPECT_THAT(r.Header("access-control-allow-origin"), Pointee(std::string("*")));
    }
    // JSONP: the callback is called with the error, HTTP 200.
    HttpResult j = Call(method, {{"format", "jsonp"}, {"callback", "gigya.callback"}});
    Envelope(UnwrapJsonp(j, "gigya.callback"), 404000);
    // httpStatusCodes=true (in any of its spellings) makes it an HTTP 404.
    for (const char* yes : {"true", "TRUE", "1"}) {
      HttpResult r = Call(method, {{"httpStatusCodes", yes}});
      EXPECT_EQ(r.status, 404) << yes << ": " << r;
      Envelope(r, 404000);
    }
    HttpResult no = Call(method, {{"httpStatusCodes", "false"}});
    EXPECT_EQ(no.status, 200) << no;
  }
}

// A client that joins its base URL and the method with a slash too many ("/accounts.getCounters/")
// names the same method; an unknown method so written is still 404000 in the envelope, JSONP
// included (a plain HTTP 404 would leave a script tag's callback uncalled).
TEST_F(HttpGigyaE2eTest, ATrailingSlashNamesTheSameMethod) {
  for (Via via : {Via::kQuery, Via::kForm, Via::kJson}) {
    HttpResult r = Call("accounts.getRegisteredCounters/", {}, via);
    EXPECT_EQ(r.status, 200) << r;
    rapidjson::Document doc = Envelope(r, 0);
    EXPECT_TRUE(doc.HasMember("counters")) << r;
    ExpectError(Call("accounts.getCounters/", {}, via), 400002, "UID");
  }
  HttpResult j =
      Call("accounts.noSuchMethod/", {{"format", "jsonp"}, {"callback", "gigya.callback"}});
  rapidjson::Document doc = Envelope(UnwrapJsonp(j, "gigya.callback"), 404000);
  EXPECT_EQ(std::string(doc["errorDetails"].GetString()), "no method accounts.noSuchMethod");
  // One slash only: a second segment is no Gigya method.
  HttpResult two = http_->Get(absl::StrCat("/accounts.getCounters//?apiKey=", tenant_));
  EXPECT_EQ(two.status, 404) << two;
  EXPECT_THAT(two.body, HasSubstr("no route")) << two;
}

// --- httpStatusCodes, JSONP ---------------------------------------------------------------------

TEST_F(HttpGigyaE2eTest, HttpStatusCodesTrueMakesHttpStatusFollowStatusCode) {
  HttpResult r = Call("accounts.getCounters", {{"httpStatusCodes", "true"}});
  EXPECT_EQ(r.status, 400) << r;
  Envelope(r, 400002);
  r = Call("accounts.getRegisteredCounters", {{"httpStatusCodes", "true"}});
  EXPECT_EQ(r.status, 200) << r;
  Envelope(r, 0);
  r = Call("accounts.getCounters", {{"UID", "u"}, {"httpStatusCodes", "true"}}, Via::kForm);
  EXPECT_EQ(r.status, 200) << r;
  Envelope(r, 0);
  // false (the default) keeps HTTP 200 on errors.
  r = Call("accounts.getCounters", {{"httpStatusCodes", "false"}});
  EXPECT_EQ(r.status, 200) << r;
  Envelope(r, 400002);
}

TEST_F(HttpGigyaE2eTest, JsonpWrapsTheEnvelopeInTheCallback) {
  HttpResult r = Call("accounts.getRegisteredCounters",
                      {{"format", "jsonp"}, {"callback", "gigya.cb_1$"}, {"context", "c7"}});
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.HeaderOr("content-type"), ::testing::StartsWith("text/javascript"));
  const std::string prefix = "gigya.cb_1$(";
  ASSERT_TRUE(absl::StartsWith(r.body, prefix)) << r;
  ASSERT_TRUE(absl::EndsWith(r.body, ");")) << r;
  HttpResult inner = r;
  inner.body = r.body.substr(prefix.size(), r.body.size() - prefix.size() - 2);
  rapidjson::Document doc = Envelope(inner, 0);
  ASSERT_TRUE(doc.HasMember("context"));
  EXPECT_EQ(std::string(doc["context"].GetString()), "c7");
  EXPECT_TRUE(doc.HasMember("counters"));

  // format in any case, as Gigya's other keywords.
  for (const char* jsonp : {"JSONP", "Jsonp"}) {
    HttpResult caps =
        Call("accounts.getRegisteredCounters", {{"format", jsonp}, {"callback", "F"}});
    Envelope(UnwrapJsonp(caps, "F"), 0);
  }
  HttpResult plain =
      Call("accounts.getRegisteredCounters", {{"format", "JSON"}, {"callback", "F"}});
  Envelope(plain, 0);
  ExpectError(Call("accounts.getRegisteredCounters", {{"format", "xml"}}), 400006, "format");

  // Errors are wrapped too.
  r = Call("accounts.getCounters", {{"format", "jsonp"}, {"callback", "F"}}, Via::kForm);
  ASSERT_TRUE(absl::StartsWith(r.body, "F(") && absl::EndsWith(r.body, ");")) << r;
  inner.body = r.body.substr(2, r.body.size() - 4);
  Envelope(inner, 400002);
}

TEST_F(HttpGigyaE2eTest, UnsafeCallbackIsRefusedAndNeverEchoed) {
  for (const char* callback :
       {"alert(document.cookie)//", "<script>x</script>", "1abc", "a b", "a;b", "x\"y"}) {
    HttpResult r =
        Call("accounts.getRegisteredCounters", {{"format", "jsonp"}, {"callback", callback}});
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_THAT(r.HeaderOr("content-type"), Not(HasSubstr("javascript"))) << callback;
    ExpectError(r, 400006, "callback");
    EXPECT_THAT(r.body, Not(HasSubstr(callback))) << r;
  }
  // format=jsonp without a callback.
  ExpectError(Call("accounts.getRegisteredCounters", {{"format", "jsonp"}}), 400002, "callback");
}

// --- atomicity: a refused write writes nothing
// ----------------------------------------------------

TEST_F(HttpGigyaE2eTest, RefusedIncrementWritesNothing) {
  Register(R"([{"class":"_a","path":"/ok"}])");
  ExpectOk(Call("accounts.incrementCounters",
                {{"UID", "u"}, {"counters", R"([{"class":"_a","path":"/ok","value":5}])"}}));
  const std::string before = GetCountersJson("u");
  ASSERT_THAT(before, HasSubstr("\"count\":1"));
  // One registered and one unregistered path: all or none, so none.
  ExpectError(
      Call("accounts.incrementCounters",
           {{"UID", "u"},
            {"counters", R"([{"class":"_a","path":"/ok","value":5},{"class":"_a","path":"/no"}])"}},
           Via::kJson),
      400006, "counters[1]");
  // A bad member after a good one.
  ExpectError(Call("accounts.incrementCounters",
                   {{"UID", "u"},
                    {"counters",
                     R"([{"class":"_a","path":"/ok"},{"class":"_a","path":"/ok","count":-1}])"}}),
              400006, "counters[1]");
  // Ignored parameters do not make a refused call pass.
  ExpectError(Call("accounts.incrementCounters", {{"UID", "u"},
                                                  {"counters", R"([{"class":"_a","path":"/no"}])"},
                                                  {"x", "1"},
                                                  {"sdk", "python_3.6.0"}}),
              400006, "counters[0].path");
  // A known parameter given twice is refused, even among ignored ones that repeat.
  ExpectError(http_->Get(absl::StrCat(
                  "/accounts.incrementCounters?apiKey=", tenant_,
                  "&_=1&_=2&UID=u&UID=v&counters=", UrlEncode(R"([{"class":"_a","path":"/ok"}])"))),
              400001, "UID");
  EXPECT_THAT(GetCountersJson("u"), JsonEq(before));
  EXPECT_THAT(GetCountersJson("v"), JsonEq("[]"));
}

TEST_F(HttpGigyaE2eTest, RegTokenUsersAreSeparateFromUids) {
  Register(R"([{"class":"_r","path":"/"}])");
  ExpectOk(Call("accounts.incrementCounters",
                {{"regToken", "same"}, {"counters", R"([{"class":"_r","path":"/"}])"}}));
  EXPECT_THAT(GetCountersJson("same"), JsonEq("[]"));
  HttpResult r = Call("accounts.getCounters", {{"regToken", "same"}});
  rapidjson::Document doc = Envelope(r, 0);
  ASSERT_TRUE(doc.HasMember("counters") && doc["counters"].IsArray()) << r;
  EXPECT_EQ(doc["counters"].Size(), 1u) << r;
  // Both at once is refused, for reads and writes (and the write adds nothing).
  ExpectError(Call("accounts.getCounters", {{"regToken", "same"}, {"UID", "same"}}), 400006, "UID");
  ExpectError(
      Call("accounts.incrementCounters",
           {{"regToken", "same"}, {"UID", "same"}, {"counters", R"([{"class":"_r","path":"/"}])"}}),
      400006, "UID");
  EXPECT_THAT(GetCountersJson("same"), JsonEq("[]"));
  r = Call("accounts.getCounters", {{"regToken", "same"}});
  doc = Envelope(r, 0);
  ASSERT_TRUE(doc.HasMember("counters") && doc["counters"].IsArray()) << r;
  ASSERT_EQ(doc["counters"].Size(), 1u) << r;
  EXPECT_EQ(doc["counters"][0]["count"].GetInt64(), 1) << r;
}

// --- legacy clients as they really call
// ------------------------------------------------------------

// The total count of ("_sdk", "/") for `uid` (-1 when absent).
int64_t SdkCount(const rapidjson::Document& counters) {
  if (!counters.IsArray()) return -2;
  for (const auto& c : counters.GetArray()) {
    if (std::string(c["class"].GetString()) == "_sdk" &&
        std::string(c["period"].GetString()) == "total") {
      return c["count"].GetInt64();
    }
  }
  return -1;
}

// What a method does not take is ignored, as Gigya ignored it: the parameters the official
// SDKs, the JS SDK and jQuery add, and the documented cid. Each call is applied exactly once.
TEST_F(HttpGigyaE2eTest, ParametersOfLegacyClientsAreIgnored) {
  Register(R"([{"class":"_sdk","path":"/"}])");
  // As Python's json.dumps writes it (the Python SDK's jsonstringify).
  const std::string counters = R"([{"class": "_sdk", "path": "/"}])";
  // The Python SDK: a form POST with sdk, format and httpStatusCodes on every call (signed in
  // http_auth_e2e_test).
  ExpectOk(Call("accounts.incrementCounters",
                {{"UID", "u"},
                 {"counters", counters},
                 {"format", "json"},
                 {"httpStatusCodes", "false"},
                 {"sdk", "python_3.6.0"}},
                Via::kForm));
  // The JS SDK: JSONP over GET with its own parameters, the key spelled APIKey.
  HttpResult js = Call("accounts.incrementCounters",
                       {{"APIKey", tenant_},
                        {"UID", "u"},
                        {"counters", counters},
                        {"sdk", "js_latest"},
                        {"targetEnv", "jssdk"},
                        {"pageURL", "https://shop.example/cart?step=2#pay"},
                        {"sdkBuild", "15703"},
                        {"authMode", "cookie"},
                        {"format", "jsonp"},
                        {"callback", "gigya.callback"},
                        {"context", "R3948184752"}},
                       Via::kQuery, /*with_key=*/false);
  rapidjson::Document doc = Envelope(UnwrapJsonp(js, "gigya.callback"), 0);
  EXPECT_EQ(std::string(doc["context"].GetString()), "R3948184752");
  // jQuery's $.ajax({dataType: "jsonp", cache: false}): its callback name and the _ cache-buster.
  HttpResult jq = http_->Get(absl::StrCat(
      "/accounts.incrementCounters?callback=jQuery37109_1700000000000&apiKey=", tenant_,
      "&UID=u&counters=", UrlEncode(counters), "&format=jsonp&_=1700000000001"));
  Envelope(UnwrapJsonp(jq, "jQuery37109_1700000000000"), 0);
  // cid, listed by the incrementCounters docs, in a JSON body.
  ExpectOk(Call("accounts.incrementCounters",
                {{"UID", "u"}, {"counters", counters}, {"cid", "checkout-widget"}}, Via::kJson));
  // Reads ignore them too.
  HttpResult read = Call("accounts.getCounters",
                         {{"UID", "u"},
                          {"sdk", "python_3.6.0"},
                          {"format", "json"},
                          {"httpStatusCodes", "false"},
                          {"_", "1700000000002"}},
                         Via::kForm);
  doc = Envelope(read, 0);
  ASSERT_TRUE(doc.HasMember("counters")) << read;
  rapidjson::Document list;
  list.CopyFrom(doc["counters"], list.GetAllocator());
  EXPECT_EQ(SdkCount(list), 4) << read;
  ExpectOk(
      Call("accounts.getRegisteredCounters", {{"UID", "u"}, {"targetEnv", "jssdk"}}, Via::kJson));
}

// The names of ignored parameters never reach an answer (they go to the debug log only).
TEST_F(HttpGigyaE2eTest, IgnoredParameterNamesAreNeverEchoed) {
  for (Via via : {Via::kQuery, Via::kForm, Via::kJson}) {
    HttpResult r = Call("accounts.getCounters",
                        {{"zzIgnoredName", "v1"}, {"foo_bar", "v2"}, {"sdk", "python_3.6.0"}}, via);
    EXPECT_EQ(r.status, 200) << r;
    rapidjson::Document doc = Envelope(r, 400002);
    EXPECT_EQ(std::string(doc["errorDetails"].GetString()), "UID: required") << r;
    EXPECT_THAT(r.body, Not(HasSubstr("zzIgnoredName")));
    EXPECT_THAT(r.body, Not(HasSubstr("foo_bar")));
    EXPECT_THAT(r.body, Not(HasSubstr("fooBar")));
    EXPECT_THAT(r.body, Not(HasSubstr("python_3.6.0")));
  }
}

// Booleans read the same in every method: true/false in any case, or 1/0; empty is absent.
TEST_F(HttpGigyaE2eTest, BooleansAreTrueOrFalseInAnyCaseOrOneOrZero) {
  // httpStatusCodes, seen on a refusal (getCounters without UID: 400002).
  for (const char* yes : {"true", "TRUE", "True", "tRuE", "1"}) {
    HttpResult r = Call("accounts.getCounters", {{"httpStatusCodes", yes}});
    EXPECT_EQ(r.status, 400) << yes << ": " << r;
    Envelope(r, 400002);
    // On success the status stays 200.
    HttpResult ok = Call("accounts.getRegisteredCounters", {{"httpStatusCodes", yes}}, Via::kForm);
    EXPECT_EQ(ok.status, 200) << yes << ": " << ok;
    Envelope(ok, 0);
  }
  for (const char* no : {"false", "FALSE", "False", "0", ""}) {
    HttpResult r = Call("accounts.getCounters", {{"httpStatusCodes", no}}, Via::kJson);
    EXPECT_EQ(r.status, 200) << no << ": " << r;
    Envelope(r, 400002);
  }
  for (const char* bad : {"yes", "2", "t", "on", " true", "true ", "truee", "01"}) {
    HttpResult r = Call("accounts.getRegisteredCounters", {{"httpStatusCodes", bad}});
    EXPECT_EQ(r.status, 200) << bad << ": " << r;  // not known to be true
    rapidjson::Document doc = Envelope(r, 400006);
    EXPECT_THAT(std::string(doc["errorDetails"].GetString()), HasSubstr("httpStatusCodes: ")) << r;
  }
  // dontHandleScreenSet (accepted on every method, nothing to suppress here): the same rule.
  for (const char* v : {"true", "FALSE", "1", "0", ""}) {
    ExpectOk(Call("accounts.getRegisteredCounters", {{"dontHandleScreenSet", v}}));
  }
  ExpectError(Call("accounts.getRegisteredCounters", {{"dontHandleScreenSet", "maybe"}}), 400006,
              "dontHandleScreenSet");
  // A bad boolean refuses a write, which then writes nothing.
  Register(R"([{"class":"_b","path":"/"}])");
  ExpectError(Call("accounts.incrementCounters", {{"UID", "u"},
                                                  {"counters", R"([{"class":"_b","path":"/"}])"},
                                                  {"dontHandleScreenSet", "nope"}}),
              400006, "dontHandleScreenSet");
  EXPECT_THAT(GetCountersJson("u"), JsonEq("[]"));
}

// context is echoed as sent: a JSON body's object, array (or other JSON value) as that JSON
// value, a string as a string, whatever it looks like.
TEST_F(HttpGigyaE2eTest, ContextComesBackUnchanged) {
  for (const char* context :
       {R"({"step":2,"items":["a",{"b":null}],"ok":true,"n":-1.5})", R"([1,"two",{"3":[]}])", "{}",
        "[]", "42", "false", "null", R"("a string")", R"("{\"not\":\"an object\"}")"}) {
    const std::string body =
        absl::StrCat(R"({"apiKey":")", tenant_, R"(","context":)", context, "}");
    HttpResult ok = http_->PostJson("/accounts.getRegisteredCounters", body);
    rapidjson::Document doc = Envelope(ok, 0);
    ASSERT_TRUE(doc.HasMember("context")) << ok;
    EXPECT_THAT(ToJson(doc["context"]), JsonEq(context)) << ok;
    // On an error as well, and in JSONP.
    HttpResult err = http_->PostJson("/accounts.getCounters", body);
    doc = Envelope(err, 400002);
    EXPECT_THAT(ToJson(doc["context"]), JsonEq(context)) << err;
    HttpResult j = http_->PostJson(
        "/accounts.getRegisteredCounters",
        absl::StrCat(R"({"apiKey":")", tenant_, R"(","format":"jsonp","callback":"cb","context":)",
                     context, "}"));
    ASSERT_TRUE(absl::StartsWith(j.body, "cb(") && absl::EndsWith(j.body, ");")) << j;
    HttpResult inner = j;
    inner.body = j.body.substr(3, j.body.size() - 5);
    doc = Envelope(inner, 0);
    EXPECT_THAT(ToJson(doc["context"]), JsonEq(context)) << j;
  }
  // In a query string or a form every value is a string, JSON-looking or not.
  for (Via via : {Via::kQuery, Via::kForm, Via::kJson}) {
    HttpResult r = Call("accounts.getRegisteredCounters", {{"context", R"({"a":[1,2]})"}}, via);
    rapidjson::Document doc = Envelope(r, 0);
    ASSERT_TRUE(doc.HasMember("context") && doc["context"].IsString()) << r;
    EXPECT_EQ(std::string(doc["context"].GetString()), R"({"a":[1,2]})");
  }
}

// errorDetails names a parameter (or a member of one) the way the caller wrote it; the service's
// own field names still read in Gigya's spelling.
TEST_F(HttpGigyaE2eTest, ErrorDetailsNameParametersAsTheCallerSpelledThem) {
  Register(R"([{"class":"_s","path":"/"}])");
  for (const char* member : {"foo_bar", "_", "a__b_", "Foo_Bar", "_count"}) {
    HttpResult r =
        Call("accounts.incrementCounters",
             {{"UID", "u"},
              {"counters", absl::StrCat(R"([{"class":"_s","path":"/",")", member, R"(":1}])")}});
    rapidjson::Document doc = Envelope(r, 400006);
    EXPECT_EQ(std::string(doc["errorDetails"].GetString()),
              absl::StrCat("counters[0].", member, ": is not a counter member"))
        << r;
  }
  // A repeated parameter is named as sent.
  HttpResult twice =
      http_->Get(absl::StrCat("/accounts.getCounters?apiKey=", tenant_, "&regToken=a&regToken=b"));
  EXPECT_THAT(std::string(Envelope(twice, 400001)["errorDetails"].GetString()),
              HasSubstr("parameter regToken given more than once"));
  // The service's fields: uid -> UID, counters[i].path as is.
  EXPECT_EQ(
      std::string(Envelope(Call("accounts.getCounters", {}), 400002)["errorDetails"].GetString()),
      "UID: required");
  HttpResult deep =
      Call("accounts.registerCounters",
           {{"counters", R"([{"class":"_s","path":"/"},{"class":"_s","path":"/a/b/c"}])"}});
  EXPECT_THAT(std::string(Envelope(deep, 400006)["errorDetails"].GetString()),
              HasSubstr("counters[1].path: "));
  EXPECT_THAT(GetCountersJson("u"), JsonEq("[]"));
}

}  // namespace
}  // namespace countd::e2e
