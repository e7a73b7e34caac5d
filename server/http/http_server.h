// server/http/http_server.h — a small embeddable HTTP/1.1 server (transport only: no routing, no
// JSON). Route families (the JSON shim, health, metrics) sit on top of it as an HttpHandler.
#ifndef COUNTD_SERVER_HTTP_HTTP_SERVER_H_
#define COUNTD_SERVER_HTTP_HTTP_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/http/forwarded.h"

namespace countd::http {

// One complete request as received. Nothing is decoded: the handler owns percent-decoding,
// form and JSON parsing.
struct HttpRequest {
  std::string method;  // "GET", "POST", "OPTIONS"... as sent (tokens are case-sensitive)
  std::string
      target;        // raw request target, e.g. "/stash/v1.1/count/get/t/public/a:b:2024-01-01?x=1"
  std::string path;  // target before the first '?', NOT percent-decoded
  std::string query;  // after the first '?', raw ("" when none)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;  // de-chunked when sent with Transfer-Encoding: chunked
  // The client's address without port, e.g. "127.0.0.1" or "::1": the TCP peer, or for a peer
  // in HttpServerOptions::trusted_proxies the client named by X-Forwarded-For.
  std::string remote_ip;
  // The TCP peer's address, whoever it is (a proxy or the client itself).
  std::string peer_ip;
  // True when the client's request arrived over TLS: this connection is TLS (--tls-cert-file),
  // or a trusted proxy says X-Forwarded-Proto: https. The `secret` parameter of the Gigya routes
  // is refused when false unless --allow-insecure-secret.
  bool secure = false;

  // Returns the value of the first header named `lower_name` (which must be lower-case), or
  // nullptr when there is none. The pointer lives as long as this request is unchanged.
  const std::string* Header(absl::string_view lower_name) const;
};

// An RFC 9110 token character (the characters of a header field name).
bool IsTokenChar(char c);

// What the handler answers. The server owns framing: it sets Content-Length and Connection.
struct HttpResponse {
  int status = 200;                               // must be 200..599; anything else is sent as 500
  std::string content_type = "application/json";  // "" = no Content-Type header
  // Extra headers, sent in order. Headers named Content-Length or Transfer-Encoding are ignored;
  // "Connection: close" closes the connection after this response. Headers whose name or value
  // holds CR, LF or NUL (or whose value exceeds 8 KiB) are dropped, never sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // not sent for HEAD requests (Content-Length still says its size)
};

// Called for every complete request. May be called concurrently from several io threads, but
// never concurrently for one connection. It runs on the io thread that read the request, so
// while it blocks that thread serves no other connection: it may block briefly (a storage write),
// never for long. Must not throw (if it does, the client gets a 500 and the connection closes).
using HttpHandler = std::function<HttpResponse(const HttpRequest& request)>;

// Kinds of requests the server rejects itself, before any HttpHandler sees them.
inline constexpr absl::string_view kRejectBodyTooLarge = "body_too_large";      // default 413
inline constexpr absl::string_view kRejectHeaderTooLarge = "header_too_large";  // default 431
inline constexpr absl::string_view kRejectBadRequest = "bad_request";           // default 400
inline constexpr absl::string_view kRejectUriTooLong = "uri_too_long";          // default 414
// A trusted proxy's X-Forwarded-For/-Proto/-Host header is malformed (forwarded.h).
inline constexpr absl::string_view kRejectBadForwarded = "bad_forwarded_header";  // default 400

// Answers a rejected request, so that each route family can answer in its own format (decide by
// `target`). `target` is the raw request target when the request line was parsed, else "";
// for kRejectUriTooLong it may be only the beginning of the target (as much as was read).
// `kind` is one of the kReject* values above. The connection is closed after the answer.
// Same threading rules as HttpHandler. Timeouts and peers that disconnect get no answer.
using HttpRejectHandler =
    std::function<HttpResponse(const std::string& target, absl::string_view kind)>;

// TLS for a listener: every connection starts with a TLS handshake (TLS 1.2 or later, the
// server's cipher preference, ALPN "http/1.1"); plaintext requests fail that handshake.
struct HttpTlsOptions {
  std::string cert_chain_pem;   // PEM certificates, the server's own first
  std::string private_key_pem;  // unencrypted PEM private key of the first certificate
  // PEM CA certificates. Non-empty: mutual TLS, clients must present a certificate that chains
  // to one of them, else the handshake fails. Empty: clients are not asked for one.
  std::string client_ca_pem;
};

struct HttpServerOptions {
  size_t max_body_bytes = size_t{1} << 20;  // larger bodies: kRejectBodyTooLarge
  size_t max_header_bytes = size_t{16}
                            << 10;  // request line + all fields; else kRejectHeaderTooLarge
  // Longest request target (path and query, raw); longer: kRejectUriTooLong. Checked before
  // max_header_bytes, so a target longer than both is kRejectUriTooLong too.
  size_t max_target_bytes = size_t{8} << 10;
  // A request (request line, headers and body) must arrive within this. On a new connection it
  // counts from accept; on a kept-alive connection from the first byte of the request. Expiry
  // closes the connection without an answer.
  absl::Duration read_timeout = absl::Seconds(10);
  // How long a kept-alive connection may wait for the first byte of its next request.
  absl::Duration idle_timeout = absl::Seconds(60);
  // A response must be written (the peer must read it) within this, else the connection closes.
  absl::Duration write_timeout = absl::Seconds(10);
  int threads = 2;  // io threads; >= 1. Handlers run on these.
  // Connections beyond this many open ones are accepted and closed at once.
  size_t max_connections = 10000;
  // Set: serve HTTPS only (HttpRequest::secure is true on every request). Absent: plaintext.
  std::optional<HttpTlsOptions> tls;
  // Peers whose X-Forwarded-For/-Proto/-Host headers are believed (ApplyForwardedHeaders in
  // forwarded.h) before the handler sees the request; a malformed one is kRejectBadForwarded.
  // Empty: every such header is ignored.
  ProxyList trusted_proxies;
  // Called (on an io thread, so it must be quick and must not throw) for every TLS connection
  // whose handshake failed or did not finish within read_timeout: a plaintext client, an
  // untrusted or missing client certificate, a port scanner. `error` is OpenSSL's or Asio's
  // reason and holds no request data. Empty = not reported.
  std::function<void(const std::string& remote_ip, const std::string& error)>
      on_tls_handshake_error;
};

// An HTTP/1.1 (and 1.0) server, plaintext or over TLS: keep-alive, pipelining (answered in order,
// one at a time per connection), chunked request bodies, "Expect: 100-continue". All I/O, the
// TLS handshake included, is asynchronous and bounded by timeouts, so slow or stalled peers hold
// a socket, never a thread.
//
// Thread-safety: address() and port() may be called from any thread. Shutdown() may be called
// from any thread except an io thread (that is: not from inside a handler), and concurrently.
class HttpServer {
 public:
  // Binds `addr` and starts serving on `options.threads` new threads. `addr` is "HOST:PORT" with
  // HOST an IPv4 literal (0.0.0.0, 127.0.0.1), a bracketed IPv6 literal ([::], [::1]) or
  // "localhost" (= 127.0.0.1); PORT 0 picks a free port. No other names are resolved.
  // `handler` must be non-empty; an empty `reject` answers with the default statuses above and
  // an empty text/plain body.
  // Errors: kInvalidArgument for a malformed address, an empty handler or bad options (with
  // options.tls: a certificate, key or CA that does not load, or a key that does not match the
  // certificate; those messages start with "tls: "); kUnavailable when the socket cannot be
  // opened, bound or listened on (e.g. port in use).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& addr,
                                                           const HttpServerOptions& options,
                                                           HttpHandler handler,
                                                           HttpRejectHandler reject);

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Shutdown(absl::ZeroDuration()).
  ~HttpServer();

  // The address actually bound, "HOST:PORT" with the real port, e.g. "127.0.0.1:41235" or
  // "[::1]:8080".
  std::string address() const;
  int port() const;

  // Stops accepting and closes idle connections at once. Requests already being read, handled or
  // written get up to `grace` to finish (their responses say "Connection: close"); then every
  // connection is closed and the io threads are joined. Returns when all threads have exited,
  // which may take longer than `grace` only while a handler is still running. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  class Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace countd::http

#endif  // COUNTD_SERVER_HTTP_HTTP_SERVER_H_
