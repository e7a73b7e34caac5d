// tests/unit/http/http_server_test.cc — HttpServer against a real client (libcurl) and, where curl
// cannot express the case, raw loopback sockets. All traffic goes to 127.0.0.1; every wait is
// bounded.

#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_certs.h"

namespace countd::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Cap on any single wait in these tests.
constexpr absl::Duration kCap = absl::Seconds(5);

// ---- libcurl helpers --------------------------------------------------------------------------

struct CurlResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  long num_connects = -1;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased

  std::string Header(absl::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lower_name) return value;
    }
    return "<none>";
  }
};

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<CurlResult*>(user)->body.append(data, size * n);
  return size * n;
}

size_t AppendHeader(char* data, size_t size, size_t n, void* user) {
  absl::string_view line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    static_cast<CurlResult*>(user)->headers.emplace_back(
        absl::AsciiStrToLower(line.substr(0, colon)),
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return size * n;
}

// One easy handle; reusing it reuses its connection (keep-alive).
class Curl {
 public:
  Curl() : handle_(curl_easy_init()) {}
  ~Curl() {
    if (list_ != nullptr) curl_slist_free_all(list_);
    curl_easy_cleanup(handle_);
  }
  CURL* get() { return handle_; }

  // Trust `ca_pem` for the server and, when `cert_pem` is set, present that client certificate.
  // Kept for every later Perform on this handle.
  void UseTls(const std::string& ca_pem, const std::string& cert_pem = "",
              const std::string& key_pem = "") {
    // CURL_BLOB_COPY: curl keeps its own copies.
    curl_blob ca{const_cast<char*>(ca_pem.data()), ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(handle_, CURLOPT_CAINFO_BLOB, &ca);
    if (!cert_pem.empty()) {
      curl_blob cert{const_cast<char*>(cert_pem.data()), cert_pem.size(), CURL_BLOB_COPY};
      curl_blob key{const_cast<char*>(key_pem.data()), key_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(handle_, CURLOPT_SSLCERT_BLOB, &cert);
      curl_easy_setopt(handle_, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(handle_, CURLOPT_SSLKEY_BLOB, &key);
      curl_easy_setopt(handle_, CURLOPT_SSLKEYTYPE, "PEM");
    }
  }

  // Performs `method` on url; `body` is sent for POST. `extra_headers` are "Name: value" lines.
  CurlResult Perform(const std::string& method, const std::string& url,
                     const std::string* body = nullptr,
                     const std::vector<std::string>& extra_headers = {}) {
    CurlResult result;
    curl_easy_setopt(handle_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle_, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(kCap)));
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, &AppendBody);
    curl_easy_setopt(handle_, CURLOPT_WRITEDATA, &result);
    curl_easy_setopt(handle_, CURLOPT_HEADERFUNCTION, &AppendHeader);
    curl_easy_setopt(handle_, CURLOPT_HEADERDATA, &result);
    curl_easy_setopt(handle_, CURLOPT_PROXY, "");  // never go through an environment proxy
    if (method == "POST") {
      curl_easy_setopt(handle_, CURLOPT_POST, 1L);
      curl_easy_setopt(handle_, CURLOPT_POSTFIELDS, body->data());
      curl_easy_setopt(handle_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
    } else if (method == "HEAD") {
      curl_easy_setopt(handle_, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(handle_, CURLOPT_HTTPGET, 1L);
    }
    if (list_ != nullptr) curl_slist_free_all(list_);
    list_ = nullptr;
    for (const std::string& h : extra_headers) list_ = curl_slist_append(list_, h.c_str());
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, list_);
    result.code = curl_easy_perform(handle_);
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &result.status);
    curl_easy_getinfo(handle_, CURLINFO_NUM_CONNECTS, &result.num_connects);
    return result;
  }

 private:
  CURL* handle_;
  curl_slist* list_ = nullptr;
};

// ---- raw socket helpers -----------------------------------------------------------------------

// A blocking loopback TCP client with bounded reads.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }

  bool Send(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads until `done(received)` holds, the peer closes (eof() then holds) or `cap` passes.
  // Returns everything received so far.
  std::string ReadUntil(const std::function<bool(const std::string&)>& done,
                        absl::Duration cap = kCap) {
    const absl::Time deadline = absl::Now() + cap;
    while (!eof_ && !done(received_)) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        eof_ = true;  // orderly close or reset: either way the server is done with us
      } else {
        received_.append(buf, static_cast<size_t>(n));
      }
    }
    return received_;
  }
  std::string ReadUntilEof(absl::Duration cap = kCap) {
    return ReadUntil([](const std::string&) { return false; }, cap);
  }
  std::string ReadUntilContains(absl::string_view needle, absl::Duration cap = kCap) {
    return ReadUntil([needle](const std::string& s) { return absl::StrContains(s, needle); }, cap);
  }
  bool eof() const { return eof_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string received_;
};

int CountOccurrences(absl::string_view hay, absl::string_view needle) {
  int n = 0;
  for (size_t pos = hay.find(needle); pos != absl::string_view::npos;
       pos = hay.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// ---- fixture ----------------------------------------------------------------------------------

HttpServerOptions TestOptions() {
  HttpServerOptions options;
  options.max_body_bytes = 64 << 10;
  options.max_header_bytes = 4 << 10;
  options.read_timeout = absl::Seconds(3);
  options.idle_timeout = absl::Seconds(3);
  options.write_timeout = absl::Seconds(3);
  options.threads = 2;
  return options;
}

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
    // A handler blocked on `release_` must never outlive the test.
    if (!release_.HasBeenNotified()) release_.Notify();
  }

  void StartServer(const HttpServerOptions& options = TestOptions()) {
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
        "127.0.0.1:0", options, [this](const HttpRequest& r) { return Echo(r); },
        [this](const std::string& target, absl::string_view kind) { return Reject(target, kind); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    base_ =
        absl::StrCat(options.tls.has_value() ? "https" : "http", "://127.0.0.1:", server_->port());
  }

  // Echoes the request: body as sent, the rest in X- headers.
  HttpResponse Echo(const HttpRequest& request) {
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(request);
    }
    if (request.path == "/throw") throw std::runtime_error("handler bug");
    if (request.path == "/block") {
      entered_.Notify();
      release_.WaitForNotificationWithTimeout(kCap);
    }
    HttpResponse response;
    response.content_type = "text/plain";
    response.headers = {{"X-Method", request.method},
                        {"X-Path", request.path},
                        {"X-Query", request.query},
                        {"X-Remote-Ip", request.remote_ip},
                        {"X-Body-Size", std::to_string(request.body.size())}};
    if (const std::string* v = request.Header("x-test"))
      response.headers.emplace_back("X-Echo", *v);
    if (request.path == "/bad-header") {
      response.headers.emplace_back("X-Injected", "a\r\nSet-Cookie: evil=1");
      response.headers.emplace_back("Bad Name", "x");
    }
    if (request.path == "/close") response.headers.emplace_back("Connection", "close");
    response.body = request.body.empty() ? absl::StrCat("path=", request.path) : request.body;
    return response;
  }

  HttpResponse Reject(const std::string& target, absl::string_view kind) {
    {
      absl::MutexLock lock(&mu_);
      rejections_.emplace_back(kind);
    }
    HttpResponse response;
    response.status = kind == kRejectBodyTooLarge     ? 413
                      : kind == kRejectHeaderTooLarge ? 431
                      : kind == kRejectUriTooLong     ? 414
                                                      : 400;
    response.headers.emplace_back("X-Reject-Kind", std::string(kind));
    response.body = absl::StrCat("{\"rejected\":\"", kind, "\",\"target\":\"", target, "\"}");
    return response;
  }

  std::vector<HttpRequest> Requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  std::vector<std::string> Rejections() {
    absl::MutexLock lock(&mu_);
    return rejections_;
  }

  // A plain GET on a fresh connection; used to prove the server is still serving.
  void ExpectServes(absl::string_view path) {
    Curl curl;
    CurlResult r = curl.Perform("GET", absl::StrCat(base_, path));
    ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, absl::StrCat("path=", path));
  }

  std::unique_ptr<HttpServer> server_;
  std::string base_;
  absl::Notification entered_;  // a handler reached "/block"
  absl::Notification release_;  // lets "/block" return
  absl::Mutex mu_;
  std::vector<HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> rejections_ ABSL_GUARDED_BY(mu_);
};

// ---- tests ------------------------------------------------------------------------------------

TEST_F(HttpServerTest, PortZeroBindsARealPort) {
  StartServer();
  EXPECT_GT(server_->port(), 0);
  EXPECT_EQ(server_->address(), absl::StrCat("127.0.0.1:", server_->port()));
}

TEST_F(HttpServerTest, LocalhostMeansLoopbackV4) {
  auto server = HttpServer::Start(
      "localhost:0", TestOptions(), [](const HttpRequest&) { return HttpResponse(); }, nullptr);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->address(), absl::StrCat("127.0.0.1:", (*server)->port()));
}

TEST_F(HttpServerTest, MalformedAddressIsInvalidArgument) {
  for (const char* addr : {"", "nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999",
                           "127.0.0.1:abc", "127.0.0.1:-1", ":80", "example.com:80", "::1:80",
                           "[::1:80", "1.2.3:80", "127.0.0.1:8080:1"}) {
    auto server = HttpServer::Start(
        addr, TestOptions(), [](const HttpRequest&) { return HttpResponse(); }, nullptr);
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << "addr=" << addr;
  }
}

TEST_F(HttpServerTest, EmptyHandlerAndBadOptionsAreInvalidArgument) {
  EXPECT_EQ(HttpServer::Start("127.0.0.1:0", TestOptions(), nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  HttpServerOptions options = TestOptions();
  options.threads = 0;
  EXPECT_EQ(HttpServer::Start(
                "127.0.0.1:0", options, [](const HttpRequest&) { return HttpResponse(); }, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpServerTest, PortInUseIsUnavailable) {
  StartServer();
  auto second = HttpServer::Start(
      server_->address(), TestOptions(), [](const HttpRequest&) { return HttpResponse(); },
      nullptr);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

TEST_F(HttpServerTest, GetRoundTripCarriesPathQueryAndHeaders) {
  StartServer();
  Curl curl;
  CurlResult r = curl.Perform("GET", base_ + "/stash/v1.1/count/get/t/public/a%3Ab?x=1&y=%20",
                              nullptr, {"X-Test: hello", "X-Other: two"});
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "text/plain");
  EXPECT_EQ(r.Header("x-method"), "GET");
  EXPECT_EQ(r.Header("x-path"), "/stash/v1.1/count/get/t/public/a%3Ab");  // not decoded
  EXPECT_EQ(r.Header("x-query"), "x=1&y=%20");
  EXPECT_EQ(r.Header("x-echo"), "hello");
  EXPECT_EQ(r.Header("x-remote-ip"), "127.0.0.1");

  std::vector<HttpRequest> seen = Requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/stash/v1.1/count/get/t/public/a%3Ab?x=1&y=%20");
  ASSERT_NE(seen[0].Header("x-other"), nullptr);
  EXPECT_EQ(*seen[0].Header("x-other"), "two");
  EXPECT_EQ(seen[0].Header("X-Other"), nullptr);  // lookups take lower-case names
  for (const auto& [name, value] : seen[0].headers) EXPECT_EQ(name, absl::AsciiStrToLower(name));
  EXPECT_FALSE(seen[0].secure);  // plaintext listener
}

TEST_F(HttpServerTest, PostRoundTripEchoesBody) {
  StartServer();
  Curl curl;
  const std::string body = R"({"dimension":"date"})";
  CurlResult r = curl.Perform("POST", base_ + "/stash/v1.1/count/incr/t/public/v:c", &body,
                              {"Content-Type: application/json"});
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.Header("x-method"), "POST");
  std::vector<HttpRequest> seen = Requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, body);
  ASSERT_NE(seen[0].Header("content-type"), nullptr);
  EXPECT_EQ(*seen[0].Header("content-type"), "application/json");
}

TEST_F(HttpServerTest, ChunkedBodyIsDechunked) {
  StartServer();
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.Send("POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
             "Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  std::string got = c.ReadUntilEof();
  EXPECT_THAT(got, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(got, HasSubstr("\r\n\r\nhello world"));
}

TEST_F(HttpServerTest, HeadGetsLengthButNoBody) {
  StartServer();
  Curl curl;
  CurlResult r = curl.Perform("HEAD", base_ + "/abc");
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-length"), "9");  // "path=/abc"
  EXPECT_EQ(r.body, "");
}

TEST_F(HttpServerTest, KeepAliveReusesTheConnection) {
  StartServer();
  Curl curl;
  CurlResult first = curl.Perform("GET", base_ + "/one");
  ASSERT_EQ(first.code, CURLE_OK) << curl_easy_strerror(first.code);
  EXPECT_EQ(first.num_connects, 1);
  const std::string body = "second";
  CurlResult second = curl.Perform("POST", base_ + "/two", &body);
  ASSERT_EQ(second.code, CURLE_OK) << curl_easy_strerror(second.code);
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "second");
  EXPECT_EQ(second.num_connects, 0);  // no new connection: the first was kept alive
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
             "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string got = c.ReadUntilEof();
  EXPECT_TRUE(c.eof());
  EXPECT_EQ(CountOccurrences(got, "HTTP/1.1 200 OK"), 3) << got;
  const size_t a = got.find("X-Path: /a");
  const size_t b = got.find("X-Path: /b");
  const size_t cc = got.find("X-Path: /c");
  ASSERT_NE(a, std::string::npos) << got;
  ASSERT_NE(b, std::string::npos) << got;
  ASSERT_NE(cc, std::string::npos) << got;
  EXPECT_LT(a, b);
  EXPECT_LT(b, cc);
  EXPECT_THAT(got, HasSubstr("\r\n\r\nxyz"));
}

TEST_F(HttpServerTest, ConnectionCloseIsHonored) {
  StartServer();
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string got = c.ReadUntilEof();
  EXPECT_TRUE(c.eof());
  EXPECT_THAT(got, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(absl::AsciiStrToLower(got), HasSubstr("connection: close"));
}

TEST_F(HttpServerTest, HandlerConnectionCloseClosesAfterResponse) {
  StartServer();
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("GET /close HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got = c.ReadUntilEof();
  EXPECT_TRUE(c.eof());
  EXPECT_THAT(got, HasSubstr("path=/close"));
  EXPECT_EQ(CountOccurrences(absl::AsciiStrToLower(got), "connection: close"), 1) << got;
}

TEST_F(HttpServerTest, Http10ClosesUnlessKeepAliveAsked) {
  StartServer();
  {
    RawClient c(server_->port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.Send("GET /old HTTP/1.0\r\n\r\n"));
    std::string got = c.ReadUntilEof();
    EXPECT_TRUE(c.eof());
    EXPECT_THAT(got, HasSubstr("HTTP/1.0 200 OK"));
    EXPECT_THAT(got, HasSubstr("path=/old"));
  }
  {
    RawClient c(server_->port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.Send("GET /k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    std::string got = c.ReadUntilContains("path=/k1");
    EXPECT_FALSE(c.eof());
    EXPECT_THAT(absl::AsciiStrToLower(got), HasSubstr("connection: keep-alive"));
    ASSERT_TRUE(c.Send("GET /k2 HTTP/1.0\r\n\r\n"));
    got = c.ReadUntilEof();
    EXPECT_THAT(got, HasSubstr("path=/k2"));
  }
}

TEST_F(HttpServerTest, BodyOverLimitGetsRejectHandlerAnswer) {
  HttpServerOptions options = TestOptions();
  options.max_body_bytes = 1024;
  StartServer(options);
  Curl curl;
  const std::string body(4096, 'b');
  CurlResult r = curl.Perform("POST", base_ + "/upload?q=1", &body);
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.Header("x-reject-kind"), "body_too_large");
  EXPECT_EQ(r.body, R"({"rejected":"body_too_large","target":"/upload?q=1"})");
  EXPECT_TRUE(Requests().empty());  // the handler never saw it
  // A body exactly at the limit passes.
  Curl fresh;
  const std::string fits(1024, 'f');
  r = fresh.Perform("POST", base_ + "/upload", &fits);
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, fits);
}

TEST_F(HttpServerTest, ChunkedBodyOverLimitIsRejectedAndClosed) {
  HttpServerOptions options = TestOptions();
  options.max_body_bytes = 16;
  StartServer(options);
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.Send("POST /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"));
  std::string got = c.ReadUntilEof();
  EXPECT_TRUE(c.eof());
  EXPECT_THAT(got, HasSubstr("HTTP/1.1 413"));
  EXPECT_THAT(got, HasSubstr(R"({"rejected":"body_too_large","target":"/chunks"})"));
  EXPECT_THAT(Rejections(), ::testing::ElementsAre("body_too_large"));
}

TEST_F(HttpServerTest, HeaderOverLimitGetsRejectHandlerAnswer) {
  HttpServerOptions options = TestOptions();
  options.max_header_bytes = 1024;
  StartServer(options);
  Curl curl;
  CurlResult r = curl.Perform("GET", base_ + "/big", nullptr,
                              {absl::StrCat("X-Big: ", std::string(2000, 'a'))});
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(r.Header("x-reject-kind"), "header_too_large");
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_TRUE(Requests().empty());
  ExpectServes("/after");
}

TEST_F(HttpServerTest, MalformedRequestLineIsBadRequestThenClose) {
  StartServer();
  for (const char* line : {"BAD REQUEST LINE\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/9.9.9\r\n\r\n",
                           "GET / HTTP/1.1\r\nNo-Colon-Here\r\n\r\n"}) {
    RawClient c(server_->port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.Send(line));
    std::string got = c.ReadUntilEof();
    EXPECT_TRUE(c.eof()) << line;
    EXPECT_THAT(got, HasSubstr("HTTP/1.1 400")) << line;
    EXPECT_THAT(got, HasSubstr(R"("rejected":"bad_request")")) << line;
  }
  EXPECT_TRUE(Requests().empty());
}

TEST_F(HttpServerTest, HostileInputNeverReachesHandlerOrKillsServer) {
  StartServer();
  const std::vector<std::string> inputs = {
      std::string("\0\0\0\0\r\n\r\n", 8),
      "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET / HTTP/1.1\r\nX : a\r\n\r\n",  // space before the colon
      "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n",
      std::string(100000, 'A'),
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello prefix
  };
  for (const std::string& input : inputs) {
    RawClient c(server_->port());
    ASSERT_TRUE(c.connected());
    c.Send(input);  // the server may close before it has read everything
    std::string got = c.ReadUntilEof();
    EXPECT_TRUE(c.eof()) << absl::CEscape(input.substr(0, 60));
    EXPECT_THAT(got, Not(HasSubstr("HTTP/1.1 200"))) << absl::CEscape(input.substr(0, 60));
  }
  EXPECT_TRUE(Requests().empty());
  ExpectServes("/still-alive");
}

TEST_F(HttpServerTest, ResponseHeadersThatCouldSplitTheResponseAreDropped) {
  StartServer();
  Curl curl;
  CurlResult r = curl.Perform("GET", base_ + "/bad-header");
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("x-injected"), "<none>");
  EXPECT_EQ(r.Header("set-cookie"), "<none>");
  EXPECT_EQ(r.Header("x-path"), "/bad-header");
}

TEST_F(HttpServerTest, ThrowingHandlerGives500AndServerLives) {
  StartServer();
  Curl curl;
  CurlResult r = curl.Perform("GET", base_ + "/throw");
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 500);
  ExpectServes("/after-throw");
}

TEST_F(HttpServerTest, ExpectContinueSendsBodyWithoutWaiting) {
  StartServer();
  Curl curl;
  // With a 60 s fallback, curl only sends the body this early if the server answers 100 Continue;
  // the request's own timeout (kCap) is far shorter.
  curl_easy_setopt(curl.get(), CURLOPT_EXPECT_100_TIMEOUT_MS, 60000L);
  std::string body(4096, 'x');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  CurlResult r = curl.Perform("POST", base_ + "/continue", &body, {"Expect: 100-continue"});
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, body);
  std::vector<HttpRequest> seen = Requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, body);
  ASSERT_NE(seen[0].Header("expect"), nullptr);
}

TEST_F(HttpServerTest, StalledClientIsClosedAfterReadTimeoutWhileOthersAreServed) {
  HttpServerOptions options = TestOptions();
  options.read_timeout = absl::Milliseconds(300);
  options.threads = 1;  // one io thread: the stalled peer must not hold it
  StartServer(options);
  RawClient stalled(server_->port());
  ASSERT_TRUE(stalled.connected());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(stalled.Send("GET /slow HTTP/1.1\r\nHost: x\r\nX-Half: "));
  ExpectServes("/meanwhile");
  std::string got = stalled.ReadUntilEof();
  const absl::Duration waited = absl::Now() - start;
  EXPECT_TRUE(stalled.eof());
  EXPECT_EQ(got, "");  // timeouts get no answer
  EXPECT_GE(waited, absl::Milliseconds(250));
  EXPECT_LT(waited, kCap);
  EXPECT_EQ(Requests().size(), 1u);  // only /meanwhile
}

TEST_F(HttpServerTest, SilentNewConnectionIsClosedAfterReadTimeout) {
  HttpServerOptions options = TestOptions();
  options.read_timeout = absl::Milliseconds(300);
  StartServer(options);
  RawClient silent(server_->port());
  ASSERT_TRUE(silent.connected());
  silent.ReadUntilEof();
  EXPECT_TRUE(silent.eof());
}

TEST_F(HttpServerTest, IdleKeptAliveConnectionIsClosedAfterIdleTimeout) {
  HttpServerOptions options = TestOptions();
  options.idle_timeout = absl::Milliseconds(300);
  StartServer(options);
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("GET /ka HTTP/1.1\r\nHost: x\r\n\r\n"));
  c.ReadUntilContains("path=/ka");
  ASSERT_FALSE(c.eof());
  const absl::Time start = absl::Now();
  c.ReadUntilEof();
  EXPECT_TRUE(c.eof());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
}

TEST_F(HttpServerTest, ConnectionsBeyondMaxAreClosedAtOnce) {
  HttpServerOptions options = TestOptions();
  options.max_connections = 1;
  StartServer(options);
  auto first = std::make_unique<RawClient>(server_->port());
  ASSERT_TRUE(first->connected());
  ASSERT_TRUE(first->Send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n"));
  first->ReadUntilContains("path=/first");  // the first connection is registered and open
  ASSERT_FALSE(first->eof());

  RawClient second(server_->port());
  ASSERT_TRUE(second.connected());
  second.Send("GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(second.ReadUntilEof(), "");
  EXPECT_TRUE(second.eof());

  // Once the first closes, new connections are served again (its slot frees asynchronously).
  first.reset();
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    RawClient next(server_->port());
    next.Send("GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    served = absl::StrContains(next.ReadUntilEof(), "path=/next");
    if (!served) absl::SleepFor(absl::Milliseconds(20));  // bounded polling
  }
  EXPECT_TRUE(served);
}

TEST_F(HttpServerTest, ShutdownWithIdleConnectionsCompletesAtOnce) {
  StartServer();
  Curl curl;
  CurlResult r = curl.Perform("GET", base_ + "/warm");  // leaves a kept-alive connection
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  RawClient silent(server_->port());  // connected, never sends
  ASSERT_TRUE(silent.connected());
  ExpectServes("/sync");  // by now `silent` has been accepted

  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Seconds(30));
  EXPECT_LT(absl::Now() - start, kCap);
  silent.ReadUntilEof();
  EXPECT_TRUE(silent.eof());
  server_->Shutdown(absl::Seconds(30));  // idempotent

  RawClient after(server_->port());
  EXPECT_FALSE(after.connected());  // no longer listening
}

TEST_F(HttpServerTest, ShutdownLetsInFlightRequestFinish) {
  StartServer();
  CurlResult r;
  std::thread client([&] {
    Curl curl;
    r = curl.Perform("GET", base_ + "/block");
  });
  ASSERT_TRUE(entered_.WaitForNotificationWithTimeout(kCap));
  std::thread stopper([&] { server_->Shutdown(kCap); });
  // Bounded polling until Shutdown has stopped accepting (so it is under way), then let the
  // handler finish inside the grace period.
  bool refused = false;
  for (int attempt = 0; attempt < 250 && !refused; ++attempt) {
    refused = !RawClient(server_->port()).connected();
    if (!refused) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(refused);
  release_.Notify();
  stopper.join();
  client.join();
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "path=/block");
  EXPECT_EQ(r.Header("connection"), "close");
}

TEST_F(HttpServerTest, DefaultRejectionsWithoutRejectHandler) {
  HttpServerOptions options = TestOptions();
  options.max_body_bytes = 10;
  auto server = HttpServer::Start(
      "127.0.0.1:0", options, [](const HttpRequest&) { return HttpResponse(); }, nullptr);
  ASSERT_TRUE(server.ok()) << server.status();
  RawClient c((*server)->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890"));
  std::string got = c.ReadUntilEof();
  EXPECT_THAT(got, HasSubstr("HTTP/1.1 413"));
}

// ---- request target limit ---------------------------------------------------------------------

TEST_F(HttpServerTest, TargetOverLimitIsUriTooLongWithTheTarget) {
  HttpServerOptions options = TestOptions();
  options.max_target_bytes = 100;
  StartServer(options);
  const std::string fits = "/f?" + std::string(97, 'q');  // exactly 100 bytes
  const std::string over = "/o?" + std::string(98, 'q');  // 101 bytes
  Curl curl;
  CurlResult r = curl.Perform("GET", base_ + fits);
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  r = curl.Perform("GET", base_ + over);
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 414);
  EXPECT_EQ(r.Header("x-reject-kind"), "uri_too_long");
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_EQ(r.body, absl::StrCat(R"({"rejected":"uri_too_long","target":")", over, R"("})"));
  EXPECT_EQ(Requests().size(), 1u);  // only the one that fit
}

TEST_F(HttpServerTest, TargetLongerThanTheHeaderLimitIsUriTooLongToo) {
  // The request line does not even end within max_header_bytes: still 414 (not 431), and the
  // reject handler gets the target's beginning, enough to tell the route family.
  HttpServerOptions options = TestOptions();
  options.max_target_bytes = 1024;
  options.max_header_bytes = 2048;
  StartServer(options);
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(absl::StrCat("GET /family/", std::string(5000, 'x'), " HTTP/1.1\r\n\r\n")));
  std::string got = c.ReadUntilEof();
  EXPECT_TRUE(c.eof());
  EXPECT_THAT(got, HasSubstr("HTTP/1.1 414"));
  EXPECT_THAT(got, HasSubstr(absl::StrCat(R"({"rejected":"uri_too_long","target":"/family/)",
                                          std::string(1024 - 8, 'x'), R"("})")));
  // A short target with oversized fields is still a header problem.
  Curl curl;
  CurlResult r = curl.Perform("GET", base_ + "/short", nullptr,
                              {absl::StrCat("X-Big: ", std::string(3000, 'a'))});
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 431);
  EXPECT_TRUE(Requests().empty());
}

TEST_F(HttpServerTest, DefaultRejectionForALongTargetIs414) {
  HttpServerOptions options = TestOptions();
  options.max_target_bytes = 16;
  auto server = HttpServer::Start(
      "127.0.0.1:0", options, [](const HttpRequest&) { return HttpResponse(); }, nullptr);
  ASSERT_TRUE(server.ok()) << server.status();
  RawClient c((*server)->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("GET /0123456789abcdef HTTP/1.1\r\n\r\n"));
  EXPECT_THAT(c.ReadUntilEof(), HasSubstr("HTTP/1.1 414"));
  options.max_target_bytes = 0;
  EXPECT_EQ(HttpServer::Start(
                "127.0.0.1:0", options, [](const HttpRequest&) { return HttpResponse(); }, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- TLS --------------------------------------------------------------------------------------

const test::TestPki& Pki() {
  static const absl::StatusOr<test::TestPki>* pki =
      new absl::StatusOr<test::TestPki>(test::MakeTestPki());
  EXPECT_TRUE(pki->ok()) << pki->status();
  static const test::TestPki empty;
  return pki->ok() ? **pki : empty;
}

class HttpServerTlsTest : public HttpServerTest {
 protected:
  // TLS options with the test server certificate; `mutual` adds the test CA for client certs.
  HttpServerOptions TlsOptions(bool mutual = false) {
    HttpServerOptions options = TestOptions();
    HttpTlsOptions tls;
    tls.cert_chain_pem = Pki().server.cert_pem;
    tls.private_key_pem = Pki().server.key_pem;
    if (mutual) tls.client_ca_pem = Pki().ca.cert_pem;
    options.tls = tls;
    options.on_tls_handshake_error = [this](const std::string& remote_ip,
                                            const std::string& error) {
      absl::MutexLock lock(&mu_);
      handshake_errors_.push_back(absl::StrCat(remote_ip, " ", error));
    };
    return options;
  }

  std::vector<std::string> HandshakeErrors() {
    absl::MutexLock lock(&mu_);
    return handshake_errors_;
  }

  // Waits (bounded) until at least `n` handshake errors were reported.
  bool AwaitHandshakeErrors(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return handshake_errors_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kCap);
  }

  CurlResult TlsGet(const std::string& path, const test::TestCert* client = nullptr) {
    Curl curl;
    if (client != nullptr) {
      curl.UseTls(Pki().ca.cert_pem, client->cert_pem, client->key_pem);
    } else {
      curl.UseTls(Pki().ca.cert_pem);
    }
    return curl.Perform("GET", base_ + path);
  }

  std::vector<std::string> handshake_errors_ ABSL_GUARDED_BY(mu_);
};

TEST_F(HttpServerTlsTest, ServesHttpsAndMarksRequestsSecure) {
  StartServer(TlsOptions());
  Curl curl;
  curl.UseTls(Pki().ca.cert_pem);
  CurlResult r = curl.Perform("GET", base_ + "/hello?x=1", nullptr, {"X-Test: tls"});
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "path=/hello");
  EXPECT_EQ(r.Header("x-echo"), "tls");
  EXPECT_EQ(r.Header("x-remote-ip"), "127.0.0.1");
  // Keep-alive works over TLS: the second request reuses the connection.
  const std::string body(3000, 'p');
  r = curl.Perform("POST", base_ + "/again", &body);
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.num_connects, 0);
  std::vector<HttpRequest> seen = Requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].secure);
  EXPECT_TRUE(seen[1].secure);
  long version = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_HTTP_VERSION, &version);
  EXPECT_EQ(version, CURL_HTTP_VERSION_1_1);
  EXPECT_TRUE(HandshakeErrors().empty());
}

TEST_F(HttpServerTlsTest, UntrustedServerCertificateFailsTheClient) {
  StartServer(TlsOptions());
  Curl curl;
  curl.UseTls(Pki().other_ca.cert_pem);  // the client trusts another CA
  CurlResult r = curl.Perform("GET", base_ + "/x");
  EXPECT_NE(r.code, CURLE_OK);
  EXPECT_TRUE(Requests().empty());
}

TEST_F(HttpServerTlsTest, PlaintextRequestIsClosedReportedAndServerKeepsServing) {
  StartServer(TlsOptions());
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got = c.ReadUntilEof();
  EXPECT_TRUE(c.eof());
  EXPECT_THAT(got, Not(HasSubstr("HTTP/1.1")));  // at most a TLS alert, never an HTTP answer
  ASSERT_TRUE(AwaitHandshakeErrors(1));
  EXPECT_THAT(HandshakeErrors()[0], ::testing::StartsWith("127.0.0.1 "));
  // A plaintext curl fails the same way.
  Curl plain;
  CurlResult r = plain.Perform("GET", absl::StrCat("http://127.0.0.1:", server_->port(), "/p"));
  EXPECT_NE(r.status, 200);
  EXPECT_TRUE(Requests().empty());
  CurlResult ok = TlsGet("/after");
  ASSERT_EQ(ok.code, CURLE_OK) << curl_easy_strerror(ok.code);
  EXPECT_EQ(ok.status, 200);
}

TEST_F(HttpServerTlsTest, UnfinishedHandshakeIsClosedAfterReadTimeoutWithoutHoldingAThread) {
  HttpServerOptions options = TlsOptions();
  options.read_timeout = absl::Milliseconds(300);
  options.threads = 1;
  StartServer(options);
  RawClient silent(server_->port());  // connects, never starts the handshake
  ASSERT_TRUE(silent.connected());
  RawClient partial(server_->port());  // half a ClientHello
  ASSERT_TRUE(partial.connected());
  ASSERT_TRUE(partial.Send("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"));
  const absl::Time start = absl::Now();
  CurlResult r = TlsGet("/meanwhile");  // served by the only io thread meanwhile
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  silent.ReadUntilEof();
  partial.ReadUntilEof();
  EXPECT_TRUE(silent.eof());
  EXPECT_TRUE(partial.eof());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  ASSERT_TRUE(AwaitHandshakeErrors(2));
  EXPECT_THAT(HandshakeErrors(), ::testing::Contains(HasSubstr("read timeout")));
}

TEST_F(HttpServerTlsTest, BodyOverLimitIsRejectedOverTlsToo) {
  HttpServerOptions options = TlsOptions();
  options.max_body_bytes = 1024;
  StartServer(options);
  Curl curl;
  curl.UseTls(Pki().ca.cert_pem);
  const std::string body(256 << 10, 'b');  // still uploading when the 413 is sent
  CurlResult r = curl.Perform("POST", base_ + "/upload", &body);
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.Header("x-reject-kind"), "body_too_large");
  EXPECT_TRUE(Requests().empty());
}

TEST_F(HttpServerTlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  StartServer(TlsOptions(/*mutual=*/true));
  CurlResult none = TlsGet("/none");
  EXPECT_NE(none.code, CURLE_OK);
  CurlResult other = TlsGet("/other", &Pki().other_client);
  EXPECT_NE(other.code, CURLE_OK);
  EXPECT_TRUE(Requests().empty());
  ASSERT_TRUE(AwaitHandshakeErrors(2));

  CurlResult good = TlsGet("/good", &Pki().client);
  ASSERT_EQ(good.code, CURLE_OK) << curl_easy_strerror(good.code);
  EXPECT_EQ(good.status, 200);
  EXPECT_EQ(good.body, "path=/good");
  ASSERT_EQ(Requests().size(), 1u);
  EXPECT_TRUE(Requests()[0].secure);
}

TEST_F(HttpServerTlsTest, BadTlsMaterialIsInvalidArgument) {
  auto start = [](const HttpTlsOptions& tls) {
    HttpServerOptions options = TestOptions();
    options.tls = tls;
    return HttpServer::Start(
               "127.0.0.1:0", options, [](const HttpRequest&) { return HttpResponse(); }, nullptr)
        .status();
  };
  HttpTlsOptions good{Pki().server.cert_pem, Pki().server.key_pem, ""};
  ASSERT_TRUE(start(good).ok()) << start(good);

  HttpTlsOptions mismatched = good;
  mismatched.private_key_pem = Pki().client.key_pem;
  absl::Status s = start(mismatched);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::StartsWith("tls: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr("private key"));

  HttpTlsOptions no_cert = good;
  no_cert.cert_chain_pem = "not a certificate";
  s = start(no_cert);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("certificate chain"));

  HttpTlsOptions no_key = good;
  no_key.private_key_pem = "";
  EXPECT_EQ(start(no_key).code(), absl::StatusCode::kInvalidArgument);

  HttpTlsOptions bad_ca = good;
  bad_ca.client_ca_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  s = start(bad_ca);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("client CA"));
}

TEST_F(HttpServerTlsTest, ShutdownClosesConnectionsStillInTheirHandshake) {
  StartServer(TlsOptions());
  RawClient silent(server_->port());
  ASSERT_TRUE(silent.connected());
  CurlResult r = TlsGet("/sync");  // by now `silent` has been accepted
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Seconds(30));
  EXPECT_LT(absl::Now() - start, kCap);
  silent.ReadUntilEof();
  EXPECT_TRUE(silent.eof());
  EXPECT_TRUE(HandshakeErrors().empty());  // a shutdown is not the client's failure
}

}  // namespace
}  // namespace countd::http
