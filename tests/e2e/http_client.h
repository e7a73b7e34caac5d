// tests/e2e/http_client.h — HTTP clients for the e2e tests of the JSON shim: a libcurl client
// (HTTP or HTTPS) that reuses one connection (keep-alive) across requests, and a raw TCP
// connection for what curl cannot express (half-sent requests, pipelining, hand-made framing).
// Loopback only.
#ifndef COUNTD_TESTS_E2E_HTTP_CLIENT_H_
#define COUNTD_TESTS_E2E_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace countd::e2e {

// Every HTTP exchange of the tests is bounded by this.
inline constexpr absl::Duration kHttpTimeout = absl::Seconds(10);

// One HTTP response as received.
struct HttpResult {
  long status = 0;  // 0 when the exchange failed (see error)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;
  std::string error;  // transport error ("" when a response arrived)

  // The first header named `lower_name`, or nullptr.
  const std::string* Header(absl::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lower_name) return &value;
    }
    return nullptr;
  }
  std::string HeaderOr(absl::string_view lower_name, std::string fallback = "") const {
    const std::string* v = Header(lower_name);
    return v != nullptr ? *v : fallback;
  }
};

inline std::ostream& operator<<(std::ostream& os, const HttpResult& r) {
  os << "HTTP " << r.status;
  if (!r.error.empty()) os << " (error: " << r.error << ")";
  for (const auto& [name, value] : r.headers) os << "\n  " << name << ": " << value;
  return os << "\n  body: " << r.body.substr(0, 2000);
}

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// HTTPS settings of an HttpClient: PEM files.
struct HttpClientTls {
  std::string ca_file;    // trusted for the server's certificate (CURLOPT_CAINFO)
  std::string cert_file;  // client certificate for mutual TLS; "" = none
  std::string key_file;   // its private key
};

// An HTTP/1.1 client over libcurl for one server. One easy handle: consecutive requests reuse its
// connection when the server keeps it alive. Not thread-safe (one client per thread).
class HttpClient {
 public:
  // `host_port` is "127.0.0.1:PORT". With `tls`, requests go to https:// and verify the server
  // against tls->ca_file.
  explicit HttpClient(std::string host_port, std::optional<HttpClientTls> tls = std::nullopt)
      : base_(absl::StrCat(tls.has_value() ? "https://" : "http://", host_port)),
        tls_(std::move(tls)) {
    static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    (void)initialized;
    curl_ = curl_easy_init();
  }
  ~HttpClient() {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResult Get(const std::string& path, const HeaderList& headers = {}) {
    return Request("GET", path, nullptr, headers);
  }
  // POST with `body` (curl's default content type is application/x-www-form-urlencoded; pass a
  // Content-Type header to change it).
  HttpResult Post(const std::string& path, const std::string& body,
                  const HeaderList& headers = {}) {
    return Request("POST", path, &body, headers);
  }
  HttpResult PostJson(const std::string& path, const std::string& body) {
    return Post(path, body, {{"Content-Type", "application/json"}});
  }
  // Any method; `body` nullptr = none.
  HttpResult Request(const std::string& method, const std::string& path, const std::string* body,
                     const HeaderList& headers) {
    HttpResult result;
    if (curl_ == nullptr) {
      result.error = "curl_easy_init failed";
      return result;
    }
    // Reset keeps the live connection (curl_easy_reset keeps the connection cache).
    curl_easy_reset(curl_);
    const std::string url = base_ + path;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(kHttpTimeout)));
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &HttpClient::OnBody);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &result);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &HttpClient::OnHeader);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &result);
    if (tls_.has_value()) {
      curl_easy_setopt(curl_, CURLOPT_CAINFO, tls_->ca_file.c_str());
      curl_easy_setopt(curl_, CURLOPT_CAPATH, nullptr);  // only the given CA, not the system's
      if (!tls_->cert_file.empty()) {
        curl_easy_setopt(curl_, CURLOPT_SSLCERT, tls_->cert_file.c_str());
        curl_easy_setopt(curl_, CURLOPT_SSLKEY, tls_->key_file.c_str());
      }
    }
    if (body != nullptr) {
      curl_easy_setopt(curl_, CURLOPT_POST, 1L);
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body->data());
    } else {
      curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
    }
    if (method != "GET" && method != "POST") {
      curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    curl_slist* list = nullptr;
    for (const auto& [name, value] : headers) {
      list = curl_slist_append(list, absl::StrCat(name, ": ", value).c_str());
    }
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
    CURLcode code = curl_easy_perform(curl_);
    curl_slist_free_all(list);
    if (code != CURLE_OK) {
      result.status = 0;
      result.error = curl_easy_strerror(code);
      return result;
    }
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &result.status);
    long connects = 0;
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &connects);
    last_new_connections_ = connects;
    return result;
  }

  // How many new connections the last request had to open (0 = it reused a kept-alive one).
  long last_new_connections() const { return last_new_connections_; }

 private:
  static size_t OnBody(char* data, size_t size, size_t n, void* user) {
    static_cast<HttpResult*>(user)->body.append(data, size * n);
    return size * n;
  }
  static size_t OnHeader(char* data, size_t size, size_t n, void* user) {
    auto* result = static_cast<HttpResult*>(user);
    absl::string_view line(data, size * n);
    if (absl::StartsWith(line, "HTTP/")) {
      result->headers.clear();  // a new response (e.g. after "100 Continue")
      return size * n;
    }
    size_t colon = line.find(':');
    if (colon != absl::string_view::npos) {
      std::string name(absl::StripAsciiWhitespace(line.substr(0, colon)));
      absl::AsciiStrToLower(&name);
      result->headers.emplace_back(std::move(name),
                                   std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
    }
    return size * n;
  }

  const std::string base_;
  const std::optional<HttpClientTls> tls_;
  CURL* curl_ = nullptr;
  long last_new_connections_ = -1;
};

// A plain TCP connection to the server for hand-made requests. Every wait has a deadline.
// Not thread-safe.
class RawConnection {
 public:
  // Connects to "127.0.0.1:PORT". Errors: UNAVAILABLE when the connection fails.
  static absl::StatusOr<RawConnection> Connect(const std::string& host_port) {
    size_t colon = host_port.rfind(':');
    int port = 0;
    if (colon == std::string::npos || !absl::SimpleAtoi(host_port.substr(colon + 1), &port)) {
      return absl::InvalidArgumentError(absl::StrCat("bad address ", host_port));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", host_port));
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", strerror(errno)));
    // Blocking sends are bounded too.
    timeval tv{static_cast<time_t>(absl::ToInt64Seconds(kHttpTimeout)), 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      int err = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("connect ", host_port, ": ", strerror(err)));
    }
    return RawConnection(fd);
  }

  RawConnection(RawConnection&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}
  RawConnection& operator=(RawConnection&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = std::exchange(other.fd_, -1);
      buffer_ = std::move(other.buffer_);
    }
    return *this;
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection() { Close(); }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // Sends all of `data`. Errors: UNAVAILABLE when the peer is gone or the send times out.
  absl::Status Send(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return absl::UnavailableError(absl::StrCat("send: ", strerror(errno)));
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  // True when bytes (or EOF) are ready to read right now, without waiting.
  bool Readable() {
    if (!buffer_.empty()) return true;
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
  }

  // Reads one response (status line, headers, Content-Length body; 204/304 have none) within
  // `timeout`. Bytes after it stay buffered for the next call (pipelining).
  // Errors: DEADLINE_EXCEEDED, UNAVAILABLE when the peer closed first, INTERNAL when malformed.
  absl::StatusOr<HttpResult> ReadResponse(absl::Duration timeout = kHttpTimeout) {
    const absl::Time deadline = absl::Now() + timeout;
    size_t header_end = std::string::npos;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      absl::Status s = Fill(deadline);
      if (!s.ok()) return s;
    }
    HttpResult result;
    std::vector<absl::string_view> lines =
        absl::StrSplit(absl::string_view(buffer_).substr(0, header_end), "\r\n");
    std::vector<absl::string_view> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
    if (status_line.size() < 2 || !absl::StartsWith(status_line[0], "HTTP/1.") ||
        !absl::SimpleAtoi(status_line[1], &result.status)) {
      return absl::InternalError(absl::StrCat("bad status line: ", lines[0]));
    }
    size_t length = 0;
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == absl::string_view::npos) return absl::InternalError("bad header line");
      std::string name(lines[i].substr(0, colon));
      absl::AsciiStrToLower(&name);
      std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      if (name == "content-length" && !absl::SimpleAtoi(value, &length)) {
        return absl::InternalError("bad content-length");
      }
      result.headers.emplace_back(std::move(name), std::move(value));
    }
    if (result.status == 204 || result.status == 304 || result.status < 200) length = 0;
    const size_t total = header_end + 4 + length;
    while (buffer_.size() < total) {
      absl::Status s = Fill(deadline);
      if (!s.ok()) return s;
    }
    result.body = buffer_.substr(header_end + 4, length);
    buffer_.erase(0, total);
    return result;
  }

  // Waits up to `timeout` for the peer to close the connection, discarding what it sends.
  // True when it closed (EOF or reset).
  bool WaitForClose(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    buffer_.clear();
    for (;;) {
      absl::Status s = Fill(deadline);
      if (absl::IsUnavailable(s)) return true;
      if (!s.ok()) return false;
      buffer_.clear();
    }
  }

 private:
  explicit RawConnection(int fd) : fd_(fd) {}

  // Appends what arrives before `deadline`. DEADLINE_EXCEEDED / UNAVAILABLE (EOF or error).
  absl::Status Fill(absl::Time deadline) {
    for (;;) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("read timed out");
      pollfd p{fd_, POLLIN, 0};
      int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return absl::InternalError(absl::StrCat("poll: ", strerror(errno)));
      if (ready == 0) continue;  // the deadline check above ends the loop
      char chunk[16384];
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::UnavailableError(absl::StrCat("recv: ", strerror(errno)));
      if (n == 0) return absl::UnavailableError("peer closed the connection");
      buffer_.append(chunk, static_cast<size_t>(n));
      return absl::OkStatus();
    }
  }

  int fd_ = -1;
  std::string buffer_;
};

}  // namespace countd::e2e

#endif  // COUNTD_TESTS_E2E_HTTP_CLIENT_H_
