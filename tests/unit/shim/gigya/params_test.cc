// Unit tests of the Gigya parameter layer (server/shim/internal/gigya/params.h): reading parameters
// as legacy clients send them (repeats, JSON body values, booleans) and the opt-in paging of
// gm.getActionsLog's parse step. Pure: no service behind them.
#include "server/shim/internal/gigya/params.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"
#include "server/shim/internal/gigya/methods.h"
#include "tests/testing/http_request.h"

namespace countd::shim {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

http::HttpRequest Request(std::string method, const std::string& target, std::string body = "",
                          std::string content_type = "") {
  return test::MakeHttpRequest(std::move(method), target, std::move(body), std::move(content_type),
                               "192.0.2.1");
}

TEST(GigyaParamsTest, RepeatedNamesAreRecordedAndEveryPairIsKeptForTheSignature) {
  http::HttpRequest http = Request("GET", "/x.y?apiKey=site&_=1&_=2&UID=a&UID=b&sdk=python_3.6.0");
  absl::StatusOr<GigyaParams> p = GigyaParams::FromRequest(http);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_NE(p->Find("UID"), nullptr);
  EXPECT_EQ(*p->Find("UID"), "a");  // the first value
  EXPECT_THAT(p->Repeated({"UID", "counters"}), ElementsAre("UID"));
  EXPECT_THAT(p->Repeated({"counters"}), ElementsAre());
  EXPECT_THAT(p->Unknown({"UID"}), ElementsAre("_", "sdk"));
  std::vector<std::pair<std::string, std::string>> all = p->All();
  std::sort(all.begin(), all.end());
  EXPECT_THAT(all, ElementsAre(Pair("UID", "a"), Pair("UID", "b"), Pair("_", "1"), Pair("_", "2"),
                               Pair("apiKey", "site"), Pair("sdk", "python_3.6.0")));
}

TEST(GigyaParamsTest, ARepeatedCommonParameterIsUnparseable) {
  for (const char* query : {"apiKey=a&apiKey=a", "httpStatusCodes=true&httpStatusCodes=true",
                            "sig=a&sig=b", "context=1&context=2", "callback=f&callback=g"}) {
    absl::StatusOr<GigyaParams> p =
        GigyaParams::FromRequest(Request("GET", absl::StrCat("/x.y?", query)));
    ASSERT_FALSE(p.ok()) << query;
    EXPECT_EQ(logic::ReasonOf(p.status()), "unparseable") << query;
  }
  // In a JSON body as well.
  http::HttpRequest json =
      Request("POST", "/x.y", R"({"nonce":"1","nonce":"2"})", "application/json");
  EXPECT_FALSE(GigyaParams::FromRequest(json).ok());
}

TEST(GigyaParamsTest, JsonBodyValuesOtherThanStringsAreMarkedJson) {
  http::HttpRequest http =
      Request("POST", "/x.y", R"({"context":{"a":[1,"b"]},"s":"{\"a\":1}","n":5,"z":null})",
              "application/json");
  absl::StatusOr<GigyaParams> p = GigyaParams::FromRequest(http);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->IsJson("context"));
  EXPECT_EQ(*p->Find("context"), R"({"a":[1,"b"]})");
  EXPECT_FALSE(p->IsJson("s"));
  EXPECT_EQ(*p->Find("s"), R"({"a":1})");
  EXPECT_TRUE(p->IsJson("n"));
  EXPECT_TRUE(p->IsJson("z"));
  EXPECT_FALSE(p->IsJson("absent"));
  // A query string's values are strings.
  absl::StatusOr<GigyaParams> q =
      GigyaParams::FromRequest(Request("GET", "/x.y?context=%7B%22a%22%3A1%7D"));
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->IsJson("context"));
}

TEST(ParseGigyaBoolTest, TrueOrFalseInAnyCaseOrOneOrZero) {
  for (const char* yes : {"true", "TRUE", "True", "tRUE", "1"}) {
    absl::StatusOr<bool> b = ParseGigyaBool("f", yes);
    ASSERT_TRUE(b.ok()) << yes;
    EXPECT_TRUE(*b) << yes;
  }
  for (const char* no : {"false", "FALSE", "False", "0"}) {
    absl::StatusOr<bool> b = ParseGigyaBool("f", no);
    ASSERT_TRUE(b.ok()) << no;
    EXPECT_FALSE(*b) << no;
  }
  for (const char* bad : {"", "yes", "no", "2", "-1", "01", " true", "true\n", "t", "on"}) {
    absl::StatusOr<bool> b = ParseGigyaBool("enabled", bad);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(logic::FieldOf(b.status()), "enabled");
    EXPECT_EQ(logic::ReasonOf(b.status()), "");  // a bad value: 400006
  }
  // OptionalBool: absent or empty is no value.
  absl::StatusOr<GigyaParams> p =
      GigyaParams::FromRequest(Request("GET", "/x.y?a=&b=TRUE&c=maybe"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p->OptionalBool("a"), absl::nullopt);
  EXPECT_EQ(*p->OptionalBool("absent"), absl::nullopt);
  EXPECT_EQ(*p->OptionalBool("b"), absl::optional<bool>(true));
  EXPECT_FALSE(p->OptionalBool("c").ok());
}

// gm.getActionsLog: no paging parameter means every action (page_size 0, no token); pageSize
// or pageToken asks for one page.
TEST(GigyaMethodParseTest, ActionsLogPagingIsOptIn) {
  GigyaMethodTable table;
  AddGmMethods(nullptr, &table);
  auto parse = [&table](const std::string& query) -> absl::StatusOr<v1::GetActionsLogRequest> {
    http::HttpRequest http =
        Request("GET", absl::StrCat("/gm.getActionsLog?apiKey=site&UID=u", query));
    absl::StatusOr<GigyaParams> p = GigyaParams::FromRequest(http);
    if (!p.ok()) return p.status();
    absl::StatusOr<GigyaMethod::Request> r = table.at("gm.getActionsLog").parse(*p, http);
    if (!r.ok()) return r.status();
    return static_cast<const v1::GetActionsLogRequest&>(**r);
  };
  absl::StatusOr<v1::GetActionsLogRequest> all = parse("&startTime=5");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->page_size(), 0);
  EXPECT_EQ(all->page_token(), "");
  EXPECT_EQ(parse("&pageSize=&pageToken=")->page_size(), 0);  // empty is absent
  EXPECT_EQ(parse("&pageSize=7")->page_size(), 7);
  EXPECT_EQ(parse("&pageToken=t")->page_size(), kGigyaActionsLogPageSize);
  EXPECT_EQ(parse("&pageToken=t&pageSize=3")->page_size(), 3);
  for (const char* bad : {"&pageSize=0", "&pageSize=-1"}) {
    absl::StatusOr<v1::GetActionsLogRequest> r = parse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(logic::FieldOf(r.status()), "pageSize");
  }
}

}  // namespace
}  // namespace countd::shim
