// Unit tests of countd::shim::JsonShim, built in-process over the real service logic and a real
// RocksDB store wrapped in FailingStore: every route family maps a storage failure to its own
// server-fault answer, and a few pure routing cases. No sockets: requests go to Handle().
#include "server/shim/shim.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "storage/clock.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/testing/failing_store.h"
#include "tests/testing/http_request.h"
#include "tests/testing/service_stack.h"
#include "tests/testing/temp_dir.h"

namespace countd::shim {
namespace {

using test::FailingStore;
using ::testing::HasSubstr;
using ::testing::Not;

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  return doc;
}

// The body is JSON equal to `expected` (member order ignored).
MATCHER_P(JsonEq, expected, absl::StrCat("is JSON equal to ", expected)) {
  rapidjson::Document got = Parse(arg);
  if (got.HasParseError()) {
    *result_listener << "which is not JSON";
    return false;
  }
  rapidjson::Document want = Parse(expected);
  return !want.HasParseError() && got == want;
}

const std::string* FindHeader(const http::HttpResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (absl::EqualsIgnoreCase(n, name)) return &v;
  }
  return nullptr;
}

std::string Describe(const http::HttpResponse& r) {
  return absl::StrCat("HTTP ", r.status, " ", r.body);
}

class ShimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    storage::StoreOptions options;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenRocksDbStore(dir_.Sub("db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    base_ = *std::move(store);
    store_ = std::make_unique<FailingStore>(base_.get());
    stack_ = std::make_unique<test::ServiceStack>(store_.get());
    ShimServices services;
    services.counters = &stack_->counters_api;
    services.tally = &stack_->tally_api;
    services.gm = &stack_->gm_api;
    // As the server does: ready = the store takes a write.
    services.ready = [this] {
      storage::WriteBatch probe(storage::keys::TenantRegistryPartition());
      probe.Put(storage::Table::kMeta, storage::keys::Join({"readyz"}),
                absl::StrCat(absl::ToUnixMillis(absl::Now())));
      return store_->Write(probe);
    };
    services.before_reply = [this] {
      ++before_reply_calls_;
      return before_reply_status_;
    };
    shim_ = std::make_unique<JsonShim>(std::move(services));
  }

  static http::HttpRequest Request(std::string method, std::string target, std::string body = "",
                                   std::string content_type = "") {
    return test::MakeHttpRequest(std::move(method), target, std::move(body),
                                 std::move(content_type));
  }

  http::HttpResponse Get(const std::string& target) {
    return shim_->Handle(Request("GET", target));
  }
  http::HttpResponse PostForm(const std::string& target, const std::string& body) {
    return shim_->Handle(Request("POST", target, body, "application/x-www-form-urlencoded"));
  }
  http::HttpResponse PostJson(const std::string& target, const std::string& body) {
    return shim_->Handle(Request("POST", target, body, "application/json"));
  }

  // Parses a Gigya envelope and returns its errorCode (-1 when unreadable).
  static int ErrorCode(const http::HttpResponse& r) {
    rapidjson::Document doc = Parse(r.body);
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("errorCode") ||
        !doc["errorCode"].IsInt()) {
      return -1;
    }
    return doc["errorCode"].GetInt();
  }

  void RegisterBuyCounter() {
    http::HttpResponse r = PostForm(
        "/accounts.registerCounters",
        "apiKey=site&counters=%5B%7B%22class%22%3A%22_buy%22%2C%22path%22%3A%22%2F%22%7D%5D");
    ASSERT_EQ(ErrorCode(r), 0) << Describe(r);
  }

  // The count of ("_buy", "/") for uid u (-1 when absent).
  int64_t BuyCount() {
    http::HttpResponse r = Get("/accounts.getCounters?apiKey=site&UID=u");
    rapidjson::Document doc = Parse(r.body);
    EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
    if (!doc.IsObject() || !doc.HasMember("counters") || !doc["counters"].IsArray()) return -2;
    for (const auto& c : doc["counters"].GetArray()) {
      if (std::string(c["class"].GetString()) == "_buy" &&
          std::string(c["path"].GetString()) == "/" &&
          std::string(c["period"].GetString()) == "total") {
        return c["count"].GetInt64();
      }
    }
    return -1;
  }

  test::ScopedTempDir dir_;
  std::unique_ptr<storage::Store> base_;
  std::unique_ptr<FailingStore> store_;
  std::unique_ptr<test::ServiceStack> stack_;
  std::unique_ptr<JsonShim> shim_;
  // What the durability barrier (ShimServices::before_reply) answers, and how often it ran.
  absl::Status before_reply_status_;
  int before_reply_calls_ = 0;
};

constexpr char kIncrement[] =
    "apiKey=site&UID=u&counters=%5B%7B%22class%22%3A%22_buy%22%2C%22path%22%3A%22%2F%22%7D%5D";

// --- Gigya ---------------------------------------------------------------------------------------

TEST_F(ShimTest, GigyaIncrementCountersStorageFailureIs500001) {
  RegisterBuyCounter();
  http::HttpResponse ok = PostForm("/accounts.incrementCounters", kIncrement);
  ASSERT_EQ(ErrorCode(ok), 0) << Describe(ok);
  ASSERT_EQ(BuyCount(), 1);

  store_->FailNextWrite();
  http::HttpResponse r = PostForm("/accounts.incrementCounters", kIncrement);
  EXPECT_EQ(store_->injected(FailingStore::Op::kWrite), 1);
  EXPECT_EQ(r.status, 200) << Describe(r);  // Gigya answers HTTP 200 unless asked otherwise
  rapidjson::Document doc = Parse(r.body);
  ASSERT_TRUE(doc.IsObject()) << Describe(r);
  EXPECT_EQ(doc["errorCode"].GetInt(), 500001) << Describe(r);
  EXPECT_EQ(doc["statusCode"].GetInt(), 500) << Describe(r);
  EXPECT_EQ(std::string(doc["statusReason"].GetString()), "Internal Server Error");
  EXPECT_EQ(std::string(doc["errorMessage"].GetString()), "General Server error");
  ASSERT_TRUE(doc.HasMember("errorDetails") && doc["errorDetails"].IsString());
  // The failed write left nothing behind.
  EXPECT_EQ(BuyCount(), 1);

  // With httpStatusCodes=true the HTTP status is the statusCode.
  store_->FailNextWrite();
  http::HttpResponse coded =
      PostForm("/accounts.incrementCounters", absl::StrCat(kIncrement, "&httpStatusCodes=true"));
  EXPECT_EQ(coded.status, 500) << Describe(coded);
  EXPECT_EQ(ErrorCode(coded), 500001) << Describe(coded);
  EXPECT_EQ(BuyCount(), 1);

  // Once storage recovers the same call succeeds.
  http::HttpResponse again = PostForm("/accounts.incrementCounters", kIncrement);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(ErrorCode(again), 0) << Describe(again);
  EXPECT_EQ(BuyCount(), 2);
}

TEST_F(ShimTest, GigyaReadFailureIs500001) {
  RegisterBuyCounter();
  ASSERT_EQ(ErrorCode(PostForm("/accounts.incrementCounters", kIncrement)), 0);
  store_->FailNext(FailingStore::Op::kGet, 10);
  store_->FailNext(FailingStore::Op::kScan, 10);
  http::HttpResponse r = Get("/accounts.getCounters?apiKey=site&UID=u&httpStatusCodes=true");
  EXPECT_EQ(r.status, 500) << Describe(r);
  EXPECT_EQ(ErrorCode(r), 500001) << Describe(r);
}

TEST_F(ShimTest, GmNotifyActionStorageFailureIs500001AndChangesNothing) {
  http::HttpResponse set = PostForm("/gm.setActionConfig", "apiKey=site&actionID=earn&points=5");
  ASSERT_EQ(ErrorCode(set), 0) << Describe(set);
  store_->FailNextWrite();
  http::HttpResponse r = PostForm("/gm.notifyAction", "apiKey=site&UID=u&action=earn");
  EXPECT_EQ(store_->injected(FailingStore::Op::kWrite), 1);
  EXPECT_EQ(r.status, 200) << Describe(r);
  rapidjson::Document doc = Parse(r.body);
  ASSERT_TRUE(doc.IsObject()) << Describe(r);
  EXPECT_EQ(doc["errorCode"].GetInt(), 500001) << Describe(r);
  EXPECT_EQ(doc["statusCode"].GetInt(), 500);
  EXPECT_EQ(std::string(doc["errorMessage"].GetString()), "General Server error");

  // Nothing was logged or granted.
  EXPECT_THAT(Get("/gm.getActionsLog?apiKey=site&UID=u").body, HasSubstr("\"actions\":[]"));
  http::HttpResponse status = Get("/gm.getChallengeStatus?apiKey=site&UID=u");
  EXPECT_THAT(status.body, HasSubstr("\"pointsTotal\":0")) << Describe(status);

  // A config write failing is a server fault too, and with httpStatusCodes a 500.
  store_->FailNextWrite();
  http::HttpResponse cfg =
      PostForm("/gm.setActionConfig", "apiKey=site&actionID=other&points=1&httpStatusCodes=true");
  EXPECT_EQ(cfg.status, 500) << Describe(cfg);
  EXPECT_EQ(ErrorCode(cfg), 500001) << Describe(cfg);
  EXPECT_THAT(Get("/gm.getActionConfig?apiKey=site").body, Not(HasSubstr("\"other\"")));

  // After recovery the grant goes through once.
  http::HttpResponse ok = PostForm("/gm.notifyAction", "apiKey=site&UID=u&action=earn");
  EXPECT_EQ(ErrorCode(ok), 0) << Describe(ok);
  EXPECT_THAT(Get("/gm.getChallengeStatus?apiKey=site&UID=u").body, HasSubstr("\"pointsTotal\":5"));
}

// --- Stash / Tally -------------------------------------------------------------------------------

TEST_F(ShimTest, StashIncrStorageFailureIsStatus500InA200) {
  const std::string incr = "/stash/v1.1/count/incr/site/public/v:c";
  store_->FailNextWrite();
  http::HttpResponse r = PostJson(incr, "");
  EXPECT_EQ(store_->injected(FailingStore::Op::kWrite), 1);
  EXPECT_EQ(r.status, 200) << Describe(r);
  EXPECT_THAT(r.body, JsonEq(R"({"status":500})")) << Describe(r);
  const std::string* cors = FindHeader(r, "Access-Control-Allow-Origin");
  ASSERT_NE(cors, nullptr);
  EXPECT_EQ(*cors, "*");

  // The failed increment counted nothing: one good increment reads 1.
  http::HttpResponse ok = PostJson(incr, "");
  EXPECT_THAT(ok.body, HasSubstr("\"status\":200")) << Describe(ok);
  const std::string today = absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone());
  http::HttpResponse got = Get(absl::StrCat("/stash/v1.1/count/get/site/public/v:c:", today));
  if (absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone()) != today) {
    GTEST_SKIP() << "crossed UTC midnight";
  }
  EXPECT_THAT(got.body, JsonEq(R"({"status":200,"data":"1"})")) << Describe(got);
}

TEST_F(ShimTest, TallyPostStorageFailureIsNotSaved) {
  const std::string add = "/tally/site/ecount/logins/alice/60";
  store_->FailNextWrite();
  http::HttpResponse r = PostJson(add, "");
  EXPECT_EQ(store_->injected(FailingStore::Op::kWrite), 1);
  EXPECT_EQ(r.status, 200) << Describe(r);
  EXPECT_THAT(r.body, JsonEq(R"({"error":"not saved"})")) << Describe(r);

  http::HttpResponse ok = PostJson(add, "");
  EXPECT_THAT(ok.body, JsonEq(R"({"status":"saved"})")) << Describe(ok);
  // The refused write was not counted.
  EXPECT_THAT(Get("/tally/site/ecount/logins/alice").body, JsonEq(R"({"data":"1"})"));
}

TEST_F(ShimTest, TallyGetEcountStorageFailureIsStatus500) {
  ASSERT_THAT(PostJson("/tally/site/ecount/logins/alice/60", "").body,
              JsonEq(R"({"status":"saved"})"));
  store_->FailNext(FailingStore::Op::kGet, 10);
  store_->FailNext(FailingStore::Op::kScan, 10);
  http::HttpResponse r = Get("/tally/site/ecount/logins/alice");
  EXPECT_GT(store_->injected(FailingStore::Op::kGet) + store_->injected(FailingStore::Op::kScan), 0)
      << "the count was answered without reading the store";
  EXPECT_EQ(r.status, 200) << Describe(r);
  EXPECT_THAT(r.body, JsonEq(R"({"status":500})")) << Describe(r);
}

// --- canonical ---------------------------------------------------------------------------------

TEST_F(ShimTest, CanonicalIncrStorageFailureIs503Unavailable) {
  store_->FailNextWrite();
  http::HttpResponse r =
      PostJson("/v1/Counters/Incr", R"({"tenant":"site","visitorId":"v","counterName":"c"})");
  EXPECT_EQ(store_->injected(FailingStore::Op::kWrite), 1);
  EXPECT_EQ(r.status, 503) << Describe(r);
  rapidjson::Document doc = Parse(r.body);
  ASSERT_TRUE(doc.IsObject()) << Describe(r);
  EXPECT_EQ(doc["code"].GetInt(), 14) << Describe(r);
  ASSERT_TRUE(doc["message"].IsString());
  EXPECT_FALSE(std::string(doc["message"].GetString()).empty());
  ASSERT_TRUE(doc["details"].IsArray());

  http::HttpResponse ok =
      PostJson("/v1/Counters/Incr", R"({"tenant":"site","visitorId":"v","counterName":"c"})");
  EXPECT_EQ(ok.status, 200) << Describe(ok);
  EXPECT_THAT(ok.body, HasSubstr("\"key\":\"site:c:"));
}

// --- durability barrier ------------------------------------------------------------------------

// The work was done but could not be made durable (a WAL flush failed): every family answers
// with its own form of a storage failure, as if the write had failed.
TEST_F(ShimTest, AnAnswerThatCannotBeMadeDurableIsEachFamilysStorageFailure) {
  EXPECT_THAT(PostJson("/tally/site/ecount/logins/alice/60", "").body,
              JsonEq(R"({"status":"saved"})"));
  EXPECT_EQ(before_reply_calls_, 1);
  before_reply_status_ = absl::UnavailableError("storage: flush wal: disk gone");

  http::HttpResponse stash = PostJson("/stash/v1.1/count/incr/site/public/v:c", "");
  EXPECT_EQ(stash.status, 200) << Describe(stash);
  EXPECT_THAT(stash.body, JsonEq(R"({"status":500})")) << Describe(stash);

  http::HttpResponse tally = PostJson("/tally/site/ecount/logins/alice/60", "");
  EXPECT_THAT(tally.body, JsonEq(R"({"error":"not saved"})")) << Describe(tally);

  http::HttpResponse gigya = Get("/accounts.getCounters?apiKey=site&UID=u");
  EXPECT_THAT(gigya.body, HasSubstr("\"errorCode\":500001")) << Describe(gigya);

  http::HttpResponse canonical =
      PostJson("/v1/Counters/Incr", R"({"tenant":"site","visitorId":"v","counterName":"c"})");
  EXPECT_EQ(canonical.status, 503) << Describe(canonical);
  EXPECT_THAT(canonical.body, HasSubstr("\"code\":14")) << Describe(canonical);
  EXPECT_EQ(before_reply_calls_, 5);
}

// --- health ------------------------------------------------------------------------------------

TEST_F(ShimTest, ReadyzIs503WhileWritesFailAnd200After) {
  http::HttpResponse before = Get("/readyz");
  EXPECT_EQ(before.status, 200) << Describe(before);
  EXPECT_THAT(before.body, JsonEq(R"({"status":"ready"})"));

  store_->FailNextWrite(2);
  for (int i = 0; i < 2; ++i) {
    http::HttpResponse r = Get("/readyz");
    EXPECT_EQ(r.status, 503) << Describe(r);
    rapidjson::Document doc = Parse(r.body);
    ASSERT_TRUE(doc.IsObject()) << Describe(r);
    EXPECT_EQ(std::string(doc["status"].GetString()), "unavailable");
    EXPECT_THAT(std::string(doc["reason"].GetString()), HasSubstr("injected"));
  }
  EXPECT_EQ(store_->pending(FailingStore::Op::kWrite), 0);
  http::HttpResponse after = Get("/readyz");
  EXPECT_EQ(after.status, 200) << Describe(after);
  // Liveness does not depend on storage.
  store_->FailNextWrite();
  EXPECT_EQ(Get("/healthz").status, 200);
}

// --- routing -----------------------------------------------------------------------------------

TEST_F(ShimTest, UnknownPathIs404) {
  for (const char* target : {"/foo", "/", "/foo/bar", "/stashx"}) {
    http::HttpResponse r = Get(target);
    EXPECT_EQ(r.status, 404) << target << ": " << Describe(r);
    EXPECT_THAT(r.body, HasSubstr("no route")) << target;
  }
  // An unknown Gigya-style method is 404000 in the envelope, HTTP 200 unless httpStatusCodes.
  http::HttpResponse g = Get("/gm.noSuchMethod?apiKey=site");
  EXPECT_EQ(g.status, 200) << Describe(g);
  EXPECT_EQ(ErrorCode(g), 404000) << Describe(g);
  http::HttpResponse coded = Get("/gm.noSuchMethod?apiKey=site&httpStatusCodes=TRUE");
  EXPECT_EQ(coded.status, 404) << Describe(coded);
  EXPECT_EQ(ErrorCode(coded), 404000) << Describe(coded);
}

TEST_F(ShimTest, OptionsPreflightOnStashAndTally) {
  for (const char* target :
       {"/stash/v1.1/count/incr/site/public/v:c", "/tally/site/ecount/logins/alice/60"}) {
    http::HttpResponse r = shim_->Handle(Request("OPTIONS", target));
    EXPECT_EQ(r.status, 204) << target;
    EXPECT_TRUE(r.body.empty()) << target;
    const std::string* methods = FindHeader(r, "Access-Control-Allow-Methods");
    ASSERT_NE(methods, nullptr) << target;
    EXPECT_THAT(*methods, HasSubstr("POST"));
    EXPECT_THAT(*methods, HasSubstr("OPTIONS"));
    const std::string* origin = FindHeader(r, "Access-Control-Allow-Origin");
    ASSERT_NE(origin, nullptr) << target;
    EXPECT_EQ(*origin, "*");
  }
  // A preflight writes nothing.
  EXPECT_EQ(store_->forwarded(FailingStore::Op::kWrite), 0);
}

// Found by a black-box audit: a page whose requests carry X-Requested-With (jQuery's ajaxSetup
// habit) was refused by the browser, as the preflight allowed Content-Type only.
TEST_F(ShimTest, PreflightAllowsTheHeadersItIsAskedForWhenTheyAreHeaderNames) {
  for (const char* target : {"/stash/v1.1/count/incr/site/public/v:c",
                             "/tally/site/topk/c/x/60", "/accounts.getCounters"}) {
    http::HttpRequest request = Request("OPTIONS", target);
    request.headers.emplace_back("access-control-request-headers",
                                 "content-type, x-requested-with");
    http::HttpResponse r = shim_->Handle(request);
    EXPECT_EQ(r.status, 204) << target;
    const std::string* allowed = FindHeader(r, "Access-Control-Allow-Headers");
    ASSERT_NE(allowed, nullptr) << target;
    EXPECT_EQ(*allowed, "content-type, x-requested-with") << target;
  }
  // Anything but a list of header names is not echoed.
  http::HttpRequest request = Request("OPTIONS", "/tally/site/topk/c/x/60");
  request.headers.emplace_back("access-control-request-headers", "x-a\r\nSet-Cookie: a=b");
  http::HttpResponse r = shim_->Handle(request);
  const std::string* allowed = FindHeader(r, "Access-Control-Allow-Headers");
  ASSERT_NE(allowed, nullptr);
  EXPECT_EQ(*allowed, "Content-Type");
  request = Request("OPTIONS", "/tally/site/topk/c/x/60");
  request.headers.emplace_back("access-control-request-headers", std::string(2000, 'x'));
  allowed = FindHeader(shim_->Handle(request), "Access-Control-Allow-Headers");
  ASSERT_NE(allowed, nullptr);
  EXPECT_EQ(*allowed, "Content-Type");
}

// Found by a black-box audit: a Stash or Tally-increment URL with a trailing slash (a client
// joining its base URL with '/') answered 404, which Stash clients read as "no such key".
TEST_F(ShimTest, StashAndTallyIncrementTakeOneTrailingSlash) {
  EXPECT_THAT(shim_->Handle(Request("POST", "/stash/v1.1/count/incr/site/public/v:c/")).body,
              HasSubstr(R"("status":200)"));
  http::HttpResponse r = Get("/stash/v1.1/count/get/site/public/v:c:" +
                             absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone()) + "/");
  EXPECT_THAT(r.body, HasSubstr(R"("data":"1")")) << Describe(r);
  r = shim_->Handle(Request("POST", "/stash/v1.1/count/getbatch/site/public/",
                            absl::StrCat(R"({"keys":["v:c:)",
                                         absl::FormatTime("%Y-%m-%d", absl::Now(),
                                                          absl::UTCTimeZone()),
                                         R"("]})"),
                            "application/json"));
  EXPECT_THAT(r.body, HasSubstr(R"("status":200)")) << Describe(r);
  // Two slashes are no route, and an empty key stays an empty key (refused), not a missing one.
  EXPECT_THAT(shim_->Handle(Request("POST", "/stash/v1.1/count/incr/site/public/v:c//")).body,
              Not(HasSubstr(R"("status":200)")));
  EXPECT_THAT(shim_->Handle(Request("POST", "/stash/v1.1/count/incr/site/public/")).body,
              JsonEq(R"({"status":400})"));

  EXPECT_THAT(shim_->Handle(Request("POST", "/tally/site/ecount/c/x/60/")).body,
              JsonEq(R"({"status":"saved"})"));
  EXPECT_THAT(Get("/tally/site/ecount/c/x").body, JsonEq(R"({"data":"1"})"));
  EXPECT_THAT(shim_->Handle(Request("POST", "/tally/site/ecount/c/x/60//")).body,
              JsonEq(R"({"error":"not saved"})"));
  EXPECT_THAT(Get("/tally/site/ecount/c/x").body, JsonEq(R"({"data":"1"})"));
}

// Found by a black-box audit: metadata= (empty) on a top-K read was refused; as for every
// boolean of the legacy routes, empty is absent.
TEST_F(ShimTest, TallyTopKEmptyMetadataIsAbsent) {
  ASSERT_THAT(shim_->Handle(Request("POST", "/tally/site/topk/c/x/60")).body,
              JsonEq(R"({"status":"saved"})"));
  http::HttpResponse r = Get("/tally/site/topk/c?metadata=&k=2");
  EXPECT_THAT(r.body, HasSubstr(R"("data")")) << Describe(r);
  EXPECT_THAT(r.body, JsonEq(Get("/tally/site/topk/c?k=2").body));
  EXPECT_THAT(Get("/tally/site/topk/c?metadata=maybe").body, JsonEq(R"({"status":400})"));
}

// Found by the hostile-input e2e corpus: a PUT, DELETE or lower-case "get" on a Gigya route was
// treated as a GET and called the method, writing; and by a black-box audit: so was a HEAD.
TEST_F(ShimTest, GigyaRefusesMethodsOtherThanGetAndPostAndWritesNothing) {
  RegisterBuyCounter();
  const int64_t writes = store_->forwarded(FailingStore::Op::kWrite);
  const std::string target =
      "/accounts.incrementCounters?apiKey=site&UID=u&counters=%5B%7B%22class%22%3A%22_buy%22%2C"
      "%22path%22%3A%22%2F%22%7D%5D";
  for (const char* method : {"HEAD", "PUT", "DELETE", "PATCH", "get", "post"}) {
    http::HttpResponse r = shim_->Handle(Request(method, target));
    EXPECT_EQ(ErrorCode(r), 400001) << method << ": " << Describe(r);
    EXPECT_THAT(r.body, HasSubstr("method")) << method;
  }
  EXPECT_EQ(store_->forwarded(FailingStore::Op::kWrite), writes);
  EXPECT_EQ(ErrorCode(Get(target)), 0);
}

// Found by the gigya_params fuzzer: format=jsonp with an empty callback was refused (400002) but
// answered as JSONP with an empty name: "({...});" as text/javascript.
TEST_F(ShimTest, JsonpWithAnEmptyCallbackIsAPlainJsonRefusal) {
  for (const char* target : {"/accounts.getRegisteredCounters?apiKey=site&format=jsonp&callback=",
                             "/accounts.getRegisteredCounters?apiKey=site&format=jsonp&callback"}) {
    http::HttpResponse r = Get(target);
    EXPECT_EQ(r.content_type, "application/json") << target;
    EXPECT_EQ(ErrorCode(r), 400002) << Describe(r);
    EXPECT_EQ(r.body.front(), '{') << Describe(r);
  }
}

// Found by a black-box audit: a 400001 (the request refused as a whole) answered HTTP 200 and
// plain JSON although its query string asked for status codes or JSONP; and when the query
// itself repeats an envelope parameter, nothing is guessed.
TEST_F(ShimTest, ARefusedRequestIsAnsweredInTheFormItsQueryAsksFor) {
  const std::string target = "/gm.getActionConfig?httpStatusCodes=true&apiKey=a&apiKey=b";
  http::HttpResponse r = Get(target);
  EXPECT_EQ(ErrorCode(r), 400001) << Describe(r);
  EXPECT_EQ(r.status, 400) << Describe(r);

  r = shim_->Handle(Request("PUT", "/gm.getActionConfig?httpStatusCodes=1&apiKey=site"));
  EXPECT_EQ(ErrorCode(r), 400001) << Describe(r);
  EXPECT_EQ(r.status, 400) << Describe(r);

  r = shim_->Handle(Request("POST", "/gm.getActionConfig?httpStatusCodes=true&context=c1", "{bad",
                            "application/json"));
  EXPECT_EQ(ErrorCode(r), 400001) << Describe(r);
  EXPECT_EQ(r.status, 400) << Describe(r);
  EXPECT_THAT(r.body, HasSubstr(R"("context":"c1")"));

  r = Get("/gm.getActionConfig?format=JSONP&callback=cb.f&apiKey=a&apiKey=b");
  EXPECT_EQ(r.content_type, "text/javascript") << Describe(r);
  ASSERT_TRUE(absl::StartsWith(r.body, "cb.f({")) << Describe(r);
  EXPECT_TRUE(absl::EndsWith(r.body, "});")) << Describe(r);
  EXPECT_EQ(r.status, 200);

  // An unsafe name is still never echoed; a repeated envelope parameter is not read.
  r = Get("/gm.getActionConfig?format=jsonp&callback=alert(1)&apiKey=a&apiKey=b");
  EXPECT_EQ(r.content_type, "application/json") << Describe(r);
  EXPECT_THAT(r.body, Not(HasSubstr("alert")));
  r = Get("/gm.getActionConfig?httpStatusCodes=true&httpStatusCodes=true&apiKey=site");
  EXPECT_EQ(ErrorCode(r), 400001) << Describe(r);
  EXPECT_EQ(r.status, 200) << Describe(r);
}

// Found by a black-box audit: format= (empty) was 400006; as every empty optional parameter it
// is absent (JSON). A format that is neither json nor jsonp is still refused.
TEST_F(ShimTest, EmptyFormatIsJson) {
  http::HttpResponse r = Get("/accounts.getRegisteredCounters?apiKey=site&format=");
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
  EXPECT_EQ(r.content_type, "application/json");
  r = Get("/accounts.getRegisteredCounters?apiKey=site&format=xml");
  EXPECT_EQ(ErrorCode(r), 400006) << Describe(r);
  EXPECT_THAT(r.body, HasSubstr("format")) << Describe(r);
}

// Found by a black-box audit: errorDetails said "apiKey" to a caller that spelled it "APIKey".
TEST_F(ShimTest, ErrorDetailsNameTheTenantAsTheCallerSpelledIt) {
  for (const char* target : {"/gm.getTopUsers?APIKey=", "/accounts.getRegisteredCounters?APIKey=",
                             "/gm.getActionConfig?APIKey="}) {
    http::HttpResponse r = Get(target);
    EXPECT_EQ(ErrorCode(r), 400002) << target << ": " << Describe(r);
    EXPECT_THAT(r.body, HasSubstr(R"("errorDetails":"APIKey)")) << target << ": " << Describe(r);
  }
  http::HttpResponse r = Get("/gm.getTopUsers?apiKey=");
  EXPECT_THAT(r.body, HasSubstr(R"("errorDetails":"apiKey)")) << Describe(r);
}

// Found by a black-box audit: a JSON array (what gm.getActionConfig answers, and how an SDK
// encodes a list) was stored as one challenge named ["books"].
TEST_F(ShimTest, SetActionConfigTakesChallengesAsACommaListOrAJsonArray) {
  for (const char* id : {"books", "music", "films"}) {
    http::HttpResponse r = PostForm("/gm.setChallengeConfig",
                                    absl::StrCat("apiKey=site&challengeID=", id, "&title=T"));
    ASSERT_EQ(ErrorCode(r), 0) << Describe(r);
  }
  auto challenges_of = [this](const std::string& action) {
    http::HttpResponse r = Get("/gm.getActionConfig?apiKey=site&actionID=" + action);
    EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
    rapidjson::Document doc = Parse(r.body);
    std::vector<std::string> out;
    if (!doc.IsObject() || !doc.HasMember("actions")) return out;
    for (const auto& a : doc["actions"].GetArray()) {
      if (std::string(a["actionID"].GetString()) != action) continue;
      for (const auto& c : a["challenges"].GetArray()) out.emplace_back(c.GetString());
    }
    return out;
  };
  using ::testing::UnorderedElementsAre;
  http::HttpResponse r = PostJson("/gm.setActionConfig",
                                  R"({"apiKey":"site","actionID":"a1","points":5,)"
                                  R"("challenges":["books","music"]})");
  ASSERT_EQ(ErrorCode(r), 0) << Describe(r);
  EXPECT_THAT(challenges_of("a1"), UnorderedElementsAre("books", "music"));
  r = PostForm("/gm.setActionConfig",
               "apiKey=site&actionID=a2&points=5&challenges=%5B%22films%22%5D");
  ASSERT_EQ(ErrorCode(r), 0) << Describe(r);
  EXPECT_THAT(challenges_of("a2"), UnorderedElementsAre("films"));
  r = PostForm("/gm.setActionConfig", "apiKey=site&actionID=a3&points=5&challenges=books,+films");
  ASSERT_EQ(ErrorCode(r), 0) << Describe(r);
  EXPECT_THAT(challenges_of("a3"), UnorderedElementsAre("books", "films"));

  // An array that is not one of strings is refused and configures nothing (form values here;
  // a JSON body's array arrives as the same text).
  for (const char* bad : {"%5B%22books%22%2C1%5D", "%5B%22books%22", "%5B%5B%22books%22%5D%5D"}) {
    r = PostForm("/gm.setActionConfig",
                 absl::StrCat("apiKey=site&actionID=a4&points=5&challenges=", bad));
    EXPECT_EQ(ErrorCode(r), 400004) << bad << ": " << Describe(r);
    EXPECT_THAT(r.body, HasSubstr("challenges")) << Describe(r);
  }
  r = PostJson("/gm.setActionConfig",
               R"({"apiKey":"site","actionID":"a4","points":5,"challenges":["books",{}]})");
  EXPECT_EQ(ErrorCode(r), 400004) << Describe(r);
  r = Get("/gm.getActionConfig?apiKey=site&actionID=a4");
  EXPECT_THAT(r.body, Not(HasSubstr(R"("a4")"))) << Describe(r);
}

// Found by a black-box audit: `levels` refused "10" and 10.0 where `counters` takes them (an
// SDK building the array from form fields sends strings).
TEST_F(ShimTest, ChallengeLevelsTakeWholeNumbersAsCountersDo) {
  http::HttpResponse r = PostForm(
      "/gm.setChallengeConfig",
      "apiKey=site&challengeID=quiz&levels=" +
          std::string("%5B%7B%22level%22%3A%221%22%2C%22pointsRequired%22%3A%2210%22%7D%2C"
                      "%7B%22level%22%3A2.0%2C%22pointsRequired%22%3A30%7D%5D"));
  ASSERT_EQ(ErrorCode(r), 0) << Describe(r);
  r = Get("/gm.getChallengeConfig?apiKey=site&includeChallenges=quiz");
  EXPECT_THAT(r.body, HasSubstr(R"({"level":1,)")) << Describe(r);
  EXPECT_THAT(r.body, HasSubstr(R"("pointsRequired":10})")) << Describe(r);
  EXPECT_THAT(r.body, HasSubstr(R"("pointsRequired":30})")) << Describe(r);
  // Still refused: a fraction, a word, blanks, a level past int32; nothing is configured.
  for (const char* levels : {R"([{"level":1,"pointsRequired":"1.5"}])",
                             R"([{"level":1,"pointsRequired":"ten"}])",
                             R"([{"level":" 1","pointsRequired":5}])",
                             R"([{"level":4294967296,"pointsRequired":5}])"}) {
    r = PostJson("/gm.setChallengeConfig",
                 absl::StrCat(R"({"apiKey":"site","challengeID":"bad","levels":)", levels, "}"));
    EXPECT_NE(ErrorCode(r), 0) << levels << ": " << Describe(r);
    EXPECT_THAT(r.body, HasSubstr("levels[0].")) << Describe(r);
  }
  r = Get("/gm.getChallengeConfig?apiKey=site&includeChallenges=bad");
  EXPECT_THAT(r.body, Not(HasSubstr(R"("challengeID":"bad")"))) << Describe(r);
}

// Found by the hostile-input e2e corpus: ?k=1&k=1000 silently used the last k.
TEST_F(ShimTest, TallyTopKRefusesARepeatedParameter) {
  EXPECT_THAT(Get("/tally/site/topk/c?k=1&k=1000").body, JsonEq(R"({"status":400})"));
  EXPECT_THAT(Get("/tally/site/topk/c?metadata=true&metadata=false").body,
              JsonEq(R"({"status":400})"));
}

// Found by the hostile-input e2e corpus: protobuf's JSON parser kept the last of two "tenant"
// members, so {"tenant":"a","tenant":"b"} acted on tenant b; and it took bytes that are not UTF-8.
TEST_F(ShimTest, CanonicalRefusesRepeatedMembersAndInvalidUtf8AndWritesNothing) {
  for (const std::string& body :
       {std::string(R"({"tenant":"a","tenant":"b","visitorId":"v","counterName":"c"})"),
        std::string(R"({"tenant":"a","visitorId":"v","counterName":"c","delta":"1","delta":"2"})"),
        std::string("{\"tenant\":\"a\xff\",\"visitorId\":\"v\",\"counterName\":\"c\"}"),
        std::string(100000, '[') + std::string(100000, ']')}) {
    http::HttpResponse r = PostJson("/v1/Counters/Incr", body);
    EXPECT_EQ(r.status, 400) << Describe(r);
    EXPECT_THAT(r.body, HasSubstr(R"("code":3)"));
  }
  EXPECT_EQ(PostJson("/v1/Counters/SetCounterSettings",
                     R"({"tenant":"a","settings":{"maxPathDepth":3,"maxPathDepth":4}})")
                .status,
            400);
  EXPECT_EQ(store_->forwarded(FailingStore::Op::kWrite), 0);
}

}  // namespace
}  // namespace countd::shim
