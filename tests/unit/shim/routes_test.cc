// Tests of the pure parse steps of the JSON shim's route families (server/shim/internal/routes.h,
// gigya_methods.h): HTTP request in, countd.v1 request or error out, with no service behind them.
#include <string>
#include <variant>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"
#include "server/shim/internal/gigya/methods.h"
#include "server/shim/internal/routes.h"
#include "tests/testing/http_request.h"

namespace countd::shim {
namespace {

// From 192.0.2.1, the address gm.notifyAction records when no `ip` is sent.
http::HttpRequest Request(std::string method, const std::string& target, std::string body = "",
                          std::string content_type = "") {
  return test::MakeHttpRequest(std::move(method), target, std::move(body), std::move(content_type),
                               "192.0.2.1");
}

TEST(ParseStashRequestTest, IncrBecomesAnIncrRequest) {
  absl::StatusOr<StashRequest> r = ParseStashRequest(
      Request("POST", "/stash/v1.1/count/incr/site/public/v%2Ex:c1", R"({"dimension":"date"})"));
  ASSERT_TRUE(r.ok()) << r.status();
  const auto* incr = std::get_if<v1::IncrRequest>(&*r);
  ASSERT_NE(incr, nullptr);
  EXPECT_EQ(incr->tenant(), "site");
  EXPECT_EQ(incr->visitor_id(), "v.x");
  EXPECT_EQ(incr->counter_name(), "c1");
}

TEST(ParseStashRequestTest, GetAndGetBatch) {
  absl::StatusOr<StashRequest> get =
      ParseStashRequest(Request("GET", "/stash/v1.1/count/get/site/public/v:c:2024-03-01"));
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(std::get<v1::GetRequest>(*get).date(), "2024-03-01");
  absl::StatusOr<StashRequest> batch = ParseStashRequest(
      Request("POST", "/stash/v1.1/count/getbatch/site/public", R"({"keys":["a:b:c","d"]})"));
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_THAT(std::get<v1::GetBatchRequest>(*batch).keys(), ::testing::ElementsAre("a:b:c", "d"));
}

TEST(ParseStashRequestTest, NoRouteIsNotFoundAndABadRequestIsInvalid) {
  EXPECT_TRUE(absl::IsNotFound(
      ParseStashRequest(Request("POST", "/stash/v1.1/count/incr/site/private/v:c")).status()));
  EXPECT_TRUE(absl::IsNotFound(
      ParseStashRequest(Request("POST", "/stash/v1.1/count/nope/site/public/v:c")).status()));
  for (const http::HttpRequest& bad :
       {Request("GET", "/stash/v1.1/count/incr/site/public/v:c"),
        Request("POST", "/stash/v1.1/count/incr/site/public/v"),
        Request("POST", "/stash/v1.1/count/incr/site/public/v%2Fx:c"),
        Request("POST", "/stash/v1.1/count/incr/site/public/v:c", R"({"dimension":"week"})"),
        Request("POST", "/stash/v1.1/count/getbatch/site/public", R"({"keys":[1]})")}) {
    absl::Status s = ParseStashRequest(bad).status();
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << bad.method << " " << bad.target << ": " << s;
  }
}

TEST(ParseTallyRequestTest, PostBecomesAnIncrementWithMetadata) {
  absl::StatusOr<TallyRequest> r = ParseTallyRequest(
      Request("POST", "/tally/site/topk/articles/a%201/60", R"({"metadata":"m"})"));
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& inc = std::get<v1::TallyIncrementRequest>(*r);
  EXPECT_EQ(inc.op(), v1::OP_TOPK);
  EXPECT_EQ(inc.counter(), "articles");
  EXPECT_EQ(inc.countable(), "a 1");
  EXPECT_EQ(inc.window_minutes(), 60);
  EXPECT_EQ(inc.metadata(), "m");
}

TEST(ParseTallyRequestTest, ReadsAndTheirErrors) {
  absl::StatusOr<TallyRequest> topk =
      ParseTallyRequest(Request("GET", "/tally/site/topk/articles/?k=10&metadata=true"));
  ASSERT_TRUE(topk.ok()) << topk.status();
  EXPECT_EQ(std::get<v1::GetTopKRequest>(*topk).k(), 10);
  EXPECT_TRUE(std::get<v1::GetTopKRequest>(*topk).with_metadata());
  EXPECT_TRUE(std::holds_alternative<v1::GetCountRequest>(
      *ParseTallyRequest(Request("GET", "/tally/site/ecount/articles/a1"))));
  EXPECT_TRUE(
      absl::IsNotFound(ParseTallyRequest(Request("GET", "/tally/site/count/c/x")).status()));
  for (const char* bad :
       {"/tally/site/topk/c?k=0", "/tally/site/topk/c?k=1&k=2", "/tally/site/ecount/c/x?y=1"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseTallyRequest(Request("GET", bad)).status())) << bad;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(
      ParseTallyRequest(Request("POST", "/tally/site/ecount/c/x/43201")).status()));
}

TEST(ParseStashRequestTest, BodiesAsJsonJsLiteralOrForm) {
  const std::string incr = "/stash/v1.1/count/incr/site/public/v:c";
  // The Content-Type does not decide: jQuery labels JSON text as a form.
  for (const http::HttpRequest& ok :
       {Request("POST", incr, "dimension=date", "application/x-www-form-urlencoded"),
        Request("POST", incr, "dimension=date"), Request("POST", incr, "{ dimension: 'date' }"),
        Request("POST", incr, R"({"dimension":"date"})", "application/x-www-form-urlencoded")}) {
    absl::StatusOr<StashRequest> r = ParseStashRequest(ok);
    ASSERT_TRUE(r.ok()) << ok.body << ": " << r.status();
    EXPECT_TRUE(std::holds_alternative<v1::IncrRequest>(*r)) << ok.body;
  }
  for (const char* bad :
       {"dimension=week", "dimension=date&x=1", "dimension=date&dimension=date", "dimension",
        "{ dimension: date }", "{ dimension: 'date', x: 1 }", "dimension[]=date"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseStashRequest(Request("POST", incr, bad)).status()))
        << bad;
  }
  const std::string batch = "/stash/v1.1/count/getbatch/site/public";
  for (const char* body : {"keys%5B%5D=a%3Ab%3Ac&keys%5B%5D=d", "keys=a:b:c&keys=d",
                           "{ keys: [ 'a:b:c', 'd', ] }", R"({"keys":["a:b:c","d"]})"}) {
    absl::StatusOr<StashRequest> r = ParseStashRequest(Request("POST", batch, body));
    ASSERT_TRUE(r.ok()) << body << ": " << r.status();
    EXPECT_THAT(std::get<v1::GetBatchRequest>(*r).keys(), ::testing::ElementsAre("a:b:c", "d"))
        << body;
  }
  absl::StatusOr<StashRequest> one = ParseStashRequest(Request("POST", batch, "keys=a:b:c"));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_THAT(std::get<v1::GetBatchRequest>(*one).keys(), ::testing::ElementsAre("a:b:c"));
  for (const char* bad :
       {"keys=a&keys[]=b", "keys=a&x=1", "", "keys=", "{ keys: 'a:b:c' }", "{ keys: [1] }"}) {
    absl::StatusOr<StashRequest> r = ParseStashRequest(Request("POST", batch, bad));
    // keys= is one empty key: refused by the service, not here.
    if (std::string(bad) == "keys=") {
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_THAT(std::get<v1::GetBatchRequest>(*r).keys(), ::testing::ElementsAre(""));
      continue;
    }
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << bad;
  }
}

TEST(ParseTallyRequestTest, MetadataAsJsonJsLiteralOrForm) {
  const std::string path = "/tally/site/topk/articles/a1/60";
  for (const char* body : {R"({"metadata":"{'id':1}"})", R"({ metadata: '{\'id\':1}' })",
                           "metadata=%7B'id'%3A1%7D", "metadata=%7B%27id%27%3A1%7D"}) {
    absl::StatusOr<TallyRequest> r = ParseTallyRequest(Request("POST", path, body));
    ASSERT_TRUE(r.ok()) << body << ": " << r.status();
    EXPECT_EQ(std::get<v1::TallyIncrementRequest>(*r).metadata(), "{'id':1}") << body;
  }
  EXPECT_FALSE(std::get<v1::TallyIncrementRequest>(*ParseTallyRequest(Request("POST", path, "")))
                   .has_metadata());
  for (const char* bad : {"metadata=a&metadata=b", "metadata=a&x=1", "meta=a", "metadata",
                          "{ metadata: 1 }", "{ metadata: 'a' } x", R"({"metadata\u0000x":"a"})"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseTallyRequest(Request("POST", path, bad)).status()))
        << bad;
  }
}

TEST(ParseTallyRequestTest, TopKTakesKFromThePathAndEcountAWindow) {
  for (const char* target :
       {"/tally/site/topk/c/10", "/tally/site/topk/c/10/", "/tally/site/topk/c/10?k=10",
        "/tally/site/topk/c/10?k=010", "/tally/site/topk/c?k=10", "/tally/site/topk/c/?k=10"}) {
    absl::StatusOr<TallyRequest> r = ParseTallyRequest(Request("GET", target));
    ASSERT_TRUE(r.ok()) << target << ": " << r.status();
    EXPECT_EQ(std::get<v1::GetTopKRequest>(*r).k(), 10) << target;
    EXPECT_EQ(std::get<v1::GetTopKRequest>(*r).counter(), "c") << target;
  }
  EXPECT_TRUE(std::get<v1::GetTopKRequest>(
                  *ParseTallyRequest(Request("GET", "/tally/site/topk/c/3?metadata=true")))
                  .with_metadata());
  EXPECT_FALSE(
      std::get<v1::GetTopKRequest>(*ParseTallyRequest(Request("GET", "/tally/site/topk/c/")))
          .has_k());
  for (const char* bad :
       {"/tally/site/topk/c/0", "/tally/site/topk/c/1001", "/tally/site/topk/c/abc",
        "/tally/site/topk/c/-1", "/tally/site/topk/c/1e2", "/tally/site/topk/c/10?k=11",
        "/tally/site/topk/c//", "/tally/site/ecount/c/x/0", "/tally/site/ecount/c/x/43201",
        "/tally/site/ecount/c/x/abc", "/tally/site/ecount/c/x//",
        "/tally/site/ecount/c/x/60?k=1"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseTallyRequest(Request("GET", bad)).status())) << bad;
  }
  for (const char* target : {"/tally/site/ecount/c/x/60", "/tally/site/ecount/c/x/60/",
                             "/tally/site/ecount/c/x/", "/tally/site/ecount/c/x/43200"}) {
    absl::StatusOr<TallyRequest> r = ParseTallyRequest(Request("GET", target));
    ASSERT_TRUE(r.ok()) << target << ": " << r.status();
    EXPECT_EQ(std::get<v1::GetCountRequest>(*r).countable(), "x") << target;
  }
  for (const char* none : {"/tally/site/topk/c/10/x", "/tally/site/ecount/c/x/60/y"}) {
    EXPECT_TRUE(absl::IsNotFound(ParseTallyRequest(Request("GET", none)).status())) << none;
  }
}

TEST(ParseCanonicalRequestTest, ReadsProto3JsonAndRefusesTheRest) {
  v1::IncrRequest req;
  ASSERT_TRUE(ParseCanonicalRequest(
                  Request("POST", "/v1/Counters/Incr",
                          R"({"tenant":"t","visitorId":"v","delta":"3"})", "application/json"),
                  &req)
                  .ok());
  EXPECT_EQ(req.visitor_id(), "v");
  EXPECT_EQ(req.delta(), 3);
  v1::IncrRequest other;
  EXPECT_FALSE(ParseCanonicalRequest(Request("GET", "/v1/Counters/Incr"), &other).ok());
  EXPECT_FALSE(
      ParseCanonicalRequest(Request("POST", "/v1/Counters/Incr", "{}", "text/plain"), &other).ok());
  EXPECT_FALSE(
      ParseCanonicalRequest(Request("POST", "/v1/Counters/Incr", R"({"evil":1})"), &other).ok());
}

// The Gigya parse steps need no service: a table built over null APIs parses.
TEST(GigyaMethodParseTest, IncrementCountersParsesWithoutAService) {
  GigyaMethodTable table;
  AddAccountsMethods(nullptr, &table);
  AddGmMethods(nullptr, &table);
  http::HttpRequest http = Request(
      "GET",
      "/accounts.incrementCounters?apiKey=site&UID=u1&requestID=r&counters=%5B%7B%22class%22%3A"
      "%22_buy%22%2C%22path%22%3A%22%2F%22%2C%22count%22%3A2%7D%5D");
  absl::StatusOr<GigyaParams> params = GigyaParams::FromRequest(http);
  ASSERT_TRUE(params.ok()) << params.status();
  absl::StatusOr<GigyaMethod::Request> parsed =
      table.at("accounts.incrementCounters").parse(*params, http);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const auto& req = static_cast<const v1::IncrementCountersRequest&>(**parsed);
  EXPECT_EQ(req.tenant(), "site");
  EXPECT_EQ(req.uid(), "u1");
  EXPECT_EQ(req.request_id(), "r");
  ASSERT_EQ(req.counters_size(), 1);
  EXPECT_EQ(req.counters(0).count(), 2);
  // notifyAction logs the caller's address when no ip is sent.
  http::HttpRequest notify = Request("GET", "/gm.notifyAction?apiKey=site&UID=u1&action=a");
  absl::StatusOr<GigyaParams> np = GigyaParams::FromRequest(notify);
  ASSERT_TRUE(np.ok());
  absl::StatusOr<GigyaMethod::Request> n = table.at("gm.notifyAction").parse(*np, notify);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(static_cast<const v1::NotifyActionRequest&>(**n).ip(), "192.0.2.1");
  // A parse error names the parameter.
  http::HttpRequest bad = Request("GET", "/gm.redeemPoints?apiKey=site&UID=u1&points=1e3");
  absl::StatusOr<GigyaParams> bp = GigyaParams::FromRequest(bad);
  ASSERT_TRUE(bp.ok());
  absl::Status s = table.at("gm.redeemPoints").parse(*bp, bad).status();
  EXPECT_EQ(logic::FieldOf(s), "points");
  EXPECT_EQ(logic::ReasonOf(s), "format");
}

}  // namespace
}  // namespace countd::shim
