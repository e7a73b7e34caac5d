// End-to-end tests of the JSON shim's transport: request size and URL limits answered in each
// route family's form (and writing nothing), oversized headers, keep-alive, a stalled client that
// must not hold up others, and the open-connection limit. The real countd binary, libcurl and raw
// sockets over loopback.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/shim_e2e_util.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;

constexpr size_t kMaxBody = size_t{1} << 20;  // the server's body limit (1 MiB)

// `json` padded with trailing spaces to `size` bytes: still valid JSON, so a server that read
// past its limit would act on it.
std::string Padded(const std::string& json, size_t size) {
  std::string out = json;
  if (out.size() < size) out.append(size - out.size(), ' ');
  return out;
}

class HttpLimitsE2eTest : public ShimE2eTest {
 protected:
  std::string StashIncr(const std::string& key) {
    return absl::StrCat("/stash/v1.1/count/incr/", tenant_, "/public/", key);
  }
  std::string StashGet(const std::string& key) {
    return absl::StrCat("/stash/v1.1/count/get/", tenant_, "/public/", key, ":", TodayIso());
  }
  RawConnection Connect() {
    absl::StatusOr<RawConnection> c = RawConnection::Connect(address());
    EXPECT_TRUE(c.ok()) << c.status();
    return *std::move(c);
  }
};

// --- body limit ---------------------------------------------------------------------------------

TEST_F(HttpLimitsE2eTest, BodyAtTheLimitIsServed) {
  HttpResult r =
      http_->PostJson(StashIncr("v:atlimit"), Padded(R"({"dimension":"date"})", kMaxBody));
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, HasSubstr(R"("status":200)"));
  EXPECT_THAT(http_->Get(StashGet("v:atlimit")).body, JsonEq(R"({"status":200,"data":"1"})"));
}

TEST_F(HttpLimitsE2eTest, StashBodyOverLimitIs400InTheBodyAndWritesNothing) {
  HttpResult r =
      http_->PostJson(StashIncr("v:big"), Padded(R"({"dimension":"date"})", kMaxBody + 1));
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(R"({"status":400})"));
  EXPECT_NE(r.Header("access-control-allow-origin"), nullptr) << r;
  EXPECT_THAT(http_->Get(StashGet("v:big")).body, JsonEq(R"({"status":404})"));
}

TEST_F(HttpLimitsE2eTest, TallyBodyOverLimitIsNotSaved) {
  HttpResult r = http_->PostJson(absl::StrCat("/tally/", tenant_, "/ecount/c/big/60"),
                                 Padded(R"({"metadata":"m"})", kMaxBody + 1));
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(R"({"error":"not saved"})"));
  EXPECT_THAT(http_->Get(absl::StrCat("/tally/", tenant_, "/ecount/c/big")).body,
              JsonEq(R"({"status":404})"));
}

TEST_F(HttpLimitsE2eTest, GigyaBodyOverLimitIs400001AndWritesNothing) {
  ASSERT_THAT(http_
                  ->Get(absl::StrCat(
                      "/accounts.registerCounters?apiKey=", tenant_,
                      "&counters=%5B%7B%22class%22%3A%22_b%22%2C%22path%22%3A%22%2F%22%7D%5D"))
                  .body,
              HasSubstr(R"("errorCode":0)"));
  const std::string call = absl::StrCat(R"({"apiKey":")", tenant_,
                                        R"(","UID":"u","counters":[{"class":"_b","path":"/"}]})");
  HttpResult r = http_->PostJson("/accounts.incrementCounters", Padded(call, kMaxBody + 1));
  EXPECT_EQ(r.status, 200) << r;
  rapidjson::Document doc = ParseJson(r.body);
  ASSERT_TRUE(doc.IsObject()) << r;
  ASSERT_TRUE(doc.HasMember("errorCode") && doc["errorCode"].IsInt()) << r;
  EXPECT_EQ(doc["errorCode"].GetInt(), 400001) << r;
  EXPECT_EQ(doc["statusCode"].GetInt(), 400) << r;
  EXPECT_EQ(std::string(doc["errorMessage"].GetString()), "Invalid request format") << r;
  EXPECT_EQ(doc["callId"].GetStringLength(), 32u) << r;
  // Nothing was counted; the same call within the limit is.
  HttpResult get = http_->Get(absl::StrCat("/accounts.getCounters?apiKey=", tenant_, "&UID=u"));
  EXPECT_THAT(get.body, HasSubstr(R"("counters":[])")) << get;
  EXPECT_THAT(http_->PostJson("/accounts.incrementCounters", Padded(call, kMaxBody)).body,
              HasSubstr(R"("errorCode":0)"));
  get = http_->Get(absl::StrCat("/accounts.getCounters?apiKey=", tenant_, "&UID=u"));
  EXPECT_THAT(get.body, HasSubstr(R"("count":1,)")) << get;
}

TEST_F(HttpLimitsE2eTest, CanonicalBodyOverLimitIs413WithCode3AndWritesNothing) {
  const std::string call =
      absl::StrCat(R"({"tenant":")", tenant_, R"(","visitorId":"v","counterName":"big"})");
  HttpResult r = http_->PostJson("/v1/Counters/Incr", Padded(call, kMaxBody + 1));
  EXPECT_EQ(r.status, 413) << r;
  rapidjson::Document doc = ParseJson(r.body);
  ASSERT_TRUE(doc.IsObject()) << r;
  ASSERT_TRUE(doc.HasMember("code") && doc["code"].IsInt()) << r;
  EXPECT_EQ(doc["code"].GetInt(), 3) << r;
  EXPECT_TRUE(doc.HasMember("message") && doc["message"].IsString()) << r;
  EXPECT_TRUE(doc.HasMember("details") && doc["details"].IsArray()) << r;
  EXPECT_THAT(http_->Get(StashGet("v:big")).body, JsonEq(R"({"status":404})"));
}

TEST_F(HttpLimitsE2eTest, ChunkedBodyOverLimitIsRefusedToo) {
  RawConnection c = Connect();
  // Valid JSON in chunks whose total passes the limit only with the padding.
  std::string request = absl::StrCat("POST ", StashIncr("v:chunked"),
                                     " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n");
  const std::string head = R"({"dimension":"date"})";
  absl::StrAppend(&request, absl::Hex(head.size()), "\r\n", head, "\r\n");
  const std::string pad(kMaxBody / 2, ' ');
  for (int i = 0; i < 2; ++i) absl::StrAppend(&request, absl::Hex(pad.size()), "\r\n", pad, "\r\n");
  request += "0\r\n\r\n";
  ASSERT_TRUE(c.Send(request).ok());
  absl::StatusOr<HttpResult> r = c.ReadResponse();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << *r;
  EXPECT_THAT(r->body, JsonEq(R"({"status":400})"));
  EXPECT_THAT(http_->Get(StashGet("v:chunked")).body, JsonEq(R"({"status":404})"));
}

// --- header limit ----------------------------------------------------------------------------

TEST_F(HttpLimitsE2eTest, HeaderOverLimitIsRejectedInTheFamilysForm) {
  const HeaderList big = {{"X-Padding", std::string(17 * 1024, 'h')}};
  // Stash: {"status":400} with HTTP 200, and the connection is closed.
  HttpResult r = http_->Post(StashIncr("v:hdr"), "", big);
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(R"({"status":400})"));
  EXPECT_EQ(r.HeaderOr("connection"), "close") << r;
  // Gigya: the envelope with 400001.
  r = http_->Get(absl::StrCat("/accounts.getRegisteredCounters?apiKey=", tenant_), big);
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, HasSubstr(R"("errorCode":400001)"));
  // Canonical: 431 with {"code":3,...}.
  r = http_->Post("/v1/Counters/GetRegisteredCounters", "{}", big);
  EXPECT_EQ(r.status, 431) << r;
  EXPECT_THAT(r.body, HasSubstr(R"("code":3)"));
  // Elsewhere: a plain 431.
  EXPECT_EQ(http_->Get("/healthz", big).status, 431);
  // Many small fields add up: the limit is on the whole header.
  HeaderList many;
  for (int i = 0; i < 40; ++i) many.emplace_back(absl::StrCat("X-F", i), std::string(500, 'f'));
  EXPECT_EQ(http_->Get("/healthz", many).status, 431);
  // A header under the limit is fine.
  r = http_->Post(StashIncr("v:hdr2"), "", {{"X-Padding", std::string(8 * 1024, 'h')}});
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, HasSubstr(R"("status":200)"));
  EXPECT_THAT(http_->Get(StashGet("v:hdr2")).body, JsonEq(R"({"status":200,"data":"1"})"));
  // The refused request wrote nothing.
  EXPECT_THAT(http_->Get(StashGet("v:hdr")).body, JsonEq(R"({"status":404})"));
}

// --- URL limit -----------------------------------------------------------------------------------

TEST_F(HttpLimitsE2eTest, UrlOverLimitIsRefusedInTheFamilysFormAndWritesNothing) {
  constexpr size_t kMaxUrl = 8 << 10;  // --http-max-url-bytes default
  // A target of exactly the limit is served.
  const std::string fits = "/healthz?pad=" + std::string(kMaxUrl - 13, 'p');
  ASSERT_EQ(fits.size(), kMaxUrl);
  HttpResult r = http_->Get(fits);
  EXPECT_EQ(r.status, 200) << r;
  const std::string pad = "&pad=" + std::string(kMaxUrl, 'p');
  // Stash: {"status":400} with HTTP 200, CORS, and the connection closed.
  r = http_->Post(StashIncr("v:url") + "?x=1" + pad, "");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(R"({"status":400})"));
  EXPECT_NE(r.Header("access-control-allow-origin"), nullptr) << r;
  EXPECT_EQ(r.HeaderOr("connection"), "close") << r;
  // Tally: not saved.
  r = http_->Post(absl::StrCat("/tally/", tenant_, "/ecount/c/url/60?x=1", pad), "");
  EXPECT_THAT(r.body, JsonEq(R"({"error":"not saved"})"));
  // Gigya: the envelope with 400001.
  r = http_->Get(absl::StrCat("/accounts.incrementCounters?apiKey=", tenant_, pad));
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, HasSubstr(R"("errorCode":400001)"));
  EXPECT_THAT(r.body, HasSubstr("uri_too_long"));
  // Canonical: 414 with {"code":3,...}.
  r = http_->PostJson("/v1/Counters/Incr?x=1" + pad, "{}");
  EXPECT_EQ(r.status, 414) << r;
  EXPECT_THAT(r.body, HasSubstr(R"("code":3)"));
  // Elsewhere: a plain 414.
  r = http_->Get("/healthz?x=1" + pad);
  EXPECT_EQ(r.status, 414) << r;
  EXPECT_THAT(r.body, JsonEq(R"({"error":"uri_too_long"})"));
  // Longer than the whole header limit (16 KiB) too: still the URL answer, not 431.
  r = http_->Post(StashIncr("v:url") + "?x=1" + pad + pad, "");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(R"({"status":400})"));
  EXPECT_THAT(http_->Get(StashGet("v:url")).body, JsonEq(R"({"status":404})"));
  EXPECT_THAT(http_->Get(absl::StrCat("/tally/", tenant_, "/ecount/c/url")).body,
              JsonEq(R"({"status":404})"));
}

// --- malformed requests --------------------------------------------------------------------------

TEST_F(HttpLimitsE2eTest, MalformedRequestsAreAnsweredInTheFamilysFormAndWriteNothing) {
  struct Case {
    std::string request;
    long status;
    std::string body_part;
  };
  const std::string incr = StashIncr("v:smuggle");
  const std::vector<Case> cases = {
      // A header line without a colon.
      {absl::StrCat("POST ", incr, " HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"), 200,
       R"({"status":400})"},
      // Content-Length together with Transfer-Encoding (request smuggling).
      {absl::StrCat("POST ", incr,
                    " HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
       200, R"({"status":400})"},
      {absl::StrCat("POST /accounts.getRegisteredCounters?apiKey=", tenant_,
                    " HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
       200, R"("errorCode":400001)"},
      {absl::StrCat("POST /tally/", tenant_,
                    "/ecount/c/x/60 HTTP/1.1\r\nHost: x\r\n"
                    "Transfer-Encoding: gzip\r\n\r\n"),
       200, R"({"error":"not saved"})"},
      {"POST /v1/Counters/Incr HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
       "Content-Length: 2\r\n\r\nab",
       400, R"("code":3)"},
      {"GARBAGE\r\n\r\n", 400, ""},
  };
  for (const Case& c : cases) {
    RawConnection conn = Connect();
    ASSERT_TRUE(conn.Send(c.request).ok());
    absl::StatusOr<HttpResult> r = conn.ReadResponse();
    ASSERT_TRUE(r.ok()) << r.status() << "\n" << c.request;
    EXPECT_EQ(r->status, c.status) << c.request << "\n" << *r;
    EXPECT_THAT(r->body, HasSubstr(c.body_part)) << c.request;
    EXPECT_EQ(r->HeaderOr("connection"), "close") << *r;
    EXPECT_TRUE(conn.WaitForClose(kHttpTimeout)) << c.request;
  }
  EXPECT_THAT(http_->Get(StashGet("v:smuggle")).body, JsonEq(R"({"status":404})"));
  EXPECT_THAT(http_->Get(absl::StrCat("/tally/", tenant_, "/ecount/c/x")).body,
              JsonEq(R"({"status":404})"));
}

// --- connections ------------------------------------------------------------------------------

TEST_F(HttpLimitsE2eTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  // libcurl: after the first request, each one reuses the connection.
  ASSERT_EQ(http_->Get("/healthz").status, 200);
  for (int i = 0; i < 5; ++i) {
    HttpResult r = http_->Post(StashIncr("v:ka"), "");
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(http_->last_new_connections(), 0) << "request " << i << " opened a new connection";
  }
  EXPECT_THAT(http_->Get(StashGet("v:ka")).body, JsonEq(R"({"status":200,"data":"5"})"));
  EXPECT_EQ(http_->last_new_connections(), 0);

  // A raw socket: sequential requests, then two pipelined ones, all on one connection.
  RawConnection c = Connect();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").ok());
    absl::StatusOr<HttpResult> r = c.ReadResponse();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
  }
  ASSERT_TRUE(c.Send(absl::StrCat("GET ", StashGet("v:ka"), " HTTP/1.1\r\nHost: x\r\n\r\n",
                                  "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"))
                  .ok());
  absl::StatusOr<HttpResult> first = c.ReadResponse();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(first->body, JsonEq(R"({"status":200,"data":"5"})"));
  absl::StatusOr<HttpResult> second = c.ReadResponse();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(second->body, JsonEq(R"({"status":"ready"})"));
  // "Connection: close" is honoured: the server answers, then closes.
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok());
  absl::StatusOr<HttpResult> last = c.ReadResponse();
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->status, 200);
  EXPECT_TRUE(c.WaitForClose(kHttpTimeout));
}

TEST_F(HttpLimitsE2eTest, StalledClientsDoNotBlockOthers) {
  // More stalled connections than the server has io threads, each holding half a request: one
  // without the end of its header, others with a promised body that never comes.
  std::vector<RawConnection> stalled;
  stalled.push_back(Connect());
  ASSERT_TRUE(
      stalled.back()
          .Send(absl::StrCat("POST ", StashIncr("v:stall"), " HTTP/1.1\r\nHost: x\r\nContent-Le"))
          .ok());
  for (int i = 0; i < 4; ++i) {
    stalled.push_back(Connect());
    ASSERT_TRUE(stalled.back()
                    .Send(absl::StrCat("POST ", StashIncr("v:stall"),
                                       " HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{\"dim"))
                    .ok());
  }
  // Meanwhile other clients are served, well before the server's 10 s read timeout.
  const absl::Time start = absl::Now();
  for (int i = 0; i < 3; ++i) {
    HttpClient other(address());
    HttpResult r = other.Post(StashIncr("v:other"), "");
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_THAT(r.body, HasSubstr(R"("status":200)"));
  }
  EXPECT_THAT(http_->Get(StashGet("v:other")).body, JsonEq(R"({"status":200,"data":"3"})"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The stalled requests got no answer (none is complete)...
  for (RawConnection& c : stalled) EXPECT_FALSE(c.Readable());
  // ...and one that completes its body now is served normally.
  ASSERT_TRUE(stalled[1].Send("ension\":\"date\"}").ok());
  absl::StatusOr<HttpResult> r = stalled[1].ReadResponse();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr(R"("status":200)"));
  EXPECT_THAT(http_->Get(StashGet("v:stall")).body, JsonEq(R"({"status":200,"data":"1"})"));
}

// --- connection limit ------------------------------------------------------------------------

// A server of its own with --http-max-connections=2.
class HttpConnectionLimitE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::ServerProcessOptions options;
    options.data_dir = dir_.Sub("data");
    options.extra_args = {"--http-max-connections=2"};
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
        test::ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // A connection that has been served one request and is kept alive.
  absl::StatusOr<RawConnection> Served() {
    absl::StatusOr<RawConnection> c = RawConnection::Connect(server_->http_address());
    if (!c.ok()) return c.status();
    absl::Status s = c->Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    if (!s.ok()) return s;
    absl::StatusOr<HttpResult> r = c->ReadResponse();
    if (!r.ok()) return r.status();
    if (r->status != 200) return absl::InternalError(absl::StrCat("HTTP ", r->status));
    return c;
  }

  test::ScopedTempDir dir_;
  std::unique_ptr<test::ServerProcess> server_;
};

TEST_F(HttpConnectionLimitE2eTest, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  absl::StatusOr<RawConnection> first = Served();
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<RawConnection> second = Served();
  ASSERT_TRUE(second.ok()) << second.status();
  // The third is accepted and closed without an answer, well before any timeout.
  absl::StatusOr<RawConnection> third = RawConnection::Connect(server_->http_address());
  ASSERT_TRUE(third.ok()) << third.status();
  (void)third->Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  const absl::Time start = absl::Now();
  EXPECT_TRUE(third->WaitForClose(kHttpTimeout));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The open ones are still served.
  ASSERT_TRUE(second->Send("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  absl::StatusOr<HttpResult> r = second->ReadResponse();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  // Once one closes, a new connection gets its place (the server frees it asynchronously).
  first->Close();
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    HttpClient next(server_->http_address());
    served = next.Get("/healthz").status == 200;
    if (!served) absl::SleepFor(absl::Milliseconds(20));  // bounded polling
  }
  EXPECT_TRUE(served);
}

}  // namespace
}  // namespace countd::e2e
