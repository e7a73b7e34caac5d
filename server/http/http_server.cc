// server/http/http_server.cc — HttpServer on Boost.Beast + Asio (header-only Boost 1.81).
//
// Shape: one io_context run by N threads. The acceptor and every connection (Session) live on
// their own strand, so a connection's steps never run concurrently and other threads (Shutdown)
// reach it only by posting to that strand. A Session reads one request, calls the handler
// synchronously on its strand, writes the response, and only then reads the next request:
// pipelined requests are answered in order simply because the unparsed bytes stay in the
// session's buffer. Every read and write carries a deadline (beast::tcp_stream expiry), so a slow
// peer costs a socket, never a thread.
//
// TLS: Session is a template over its stream (beast::tcp_stream or beast::ssl_stream over one), so
// the parser, limits and keep-alive logic exist once. A TLS session first runs the handshake
// under the first request's deadline; the orderly close sends close_notify.
//
// Nothing here throws across the API: Asio calls use the error_code overloads, handler calls are
// wrapped, and the io threads survive a throwing completion handler.

#include "server/http/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/util/openssl_util.h"

namespace countd::http {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

const std::string* HttpRequest::Header(absl::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Interim answer to "Expect: 100-continue"; written raw because it has no body or fields.
constexpr absl::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// Read size while waiting for the first bytes of a request.
constexpr size_t kFirstReadBytes = 4096;
// After the last response of a connection we half-close and drain what the peer still sends for
// a while before closing (see Session::LingerClose).
constexpr std::chrono::seconds kLingerTimeout(1);
constexpr size_t kLingerMaxBytes = size_t{1} << 20;
// Upper bound on one extra response header value.
constexpr size_t kMaxHeaderValueBytes = size_t{8} << 10;
// Pause before accepting again after an accept error such as EMFILE, so it cannot spin.
constexpr std::chrono::milliseconds kAcceptRetryDelay(50);
// After the grace period, how long Shutdown waits for force-closed connections to wind down
// before it stops the io_context regardless.
constexpr absl::Duration kForceCloseWait = absl::Seconds(2);
// Timeouts are capped so that now() + timeout cannot overflow the steady clock.
constexpr absl::Duration kMaxTimeout = absl::Hours(24 * 365);

std::chrono::steady_clock::duration ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(std::clamp(d, absl::ZeroDuration(), kMaxTimeout)));
}

// RFC 9110 token (a header field name).
bool IsToken(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

// A header value that cannot split the response (no CR, LF or NUL) and fits Beast's limits.
bool IsSafeHeaderValue(absl::string_view s) {
  return s.size() <= kMaxHeaderValueBytes &&
         s.find_first_of(absl::string_view("\r\n\0", 3)) == absl::string_view::npos;
}

// True if a Connection header value lists the "close" option.
bool HasCloseToken(absl::string_view value) {
  for (auto token : bhttp::token_list(beast::string_view(value.data(), value.size()))) {
    if (beast::iequals(token, "close")) return true;
  }
  return false;
}

HttpResponse DefaultRejection(absl::string_view kind) {
  HttpResponse response;
  response.content_type = "text/plain";
  if (kind == kRejectBodyTooLarge) {
    response.status = 413;
    response.body = "request body too large\n";
  } else if (kind == kRejectHeaderTooLarge) {
    response.status = 431;
    response.body = "request header too large\n";
  } else if (kind == kRejectUriTooLong) {
    response.status = 414;
    response.body = "request target too long\n";
  } else {
    response.status = 400;
    response.body = "bad request\n";
  }
  return response;
}

HttpResponse InternalError() {
  HttpResponse response;
  response.status = 500;
  response.content_type = "text/plain";
  response.body = "internal error\n";
  response.headers.emplace_back("Connection", "close");
  return response;
}

std::string FormatEndpoint(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return absl::StrCat("[", ep.address().to_string(), "]:", ep.port());
  return absl::StrCat(ep.address().to_string(), ":", ep.port());
}

// Parses "HOST:PORT" as documented on HttpServer::Start.
absl::StatusOr<tcp::endpoint> ParseAddress(const std::string& addr) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("http address \"", addr, "\" has no :PORT"));
  }
  const absl::string_view host = absl::string_view(addr).substr(0, colon);
  const absl::string_view port_text = absl::string_view(addr).substr(colon + 1);
  uint32_t port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http address \"", addr, "\" has a bad port \"", port_text, "\""));
  }
  error_code ec;
  asio::ip::address ip;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    ip = asio::ip::make_address_v6(std::string(host.substr(1, host.size() - 2)), ec);
  } else if (host == "localhost") {
    ip = asio::ip::address_v4::loopback();
  } else {
    // Unbracketed IPv6 ("::1:80") is ambiguous and host names are not resolved: both fail here.
    ip = asio::ip::make_address_v4(std::string(host), ec);
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("http address \"", addr, "\" has a bad host \"", host,
                     "\" (want an IPv4 literal, [IPv6] literal or localhost)"));
  }
  return tcp::endpoint(ip, static_cast<uint16_t>(port));
}

// The ALPN protocol countd speaks over TLS. A client that offers only others (h2) gets no ALPN
// answer and may go on with HTTP/1.1 or give up; it never gets h2 frames parsed as HTTP/1.1.
int SelectHttp11(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                 unsigned int in_len, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, kHttp11, sizeof(kHttp11), in, in_len) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

absl::Status TlsError(absl::string_view what, const error_code& ec) {
  return absl::InvalidArgumentError(absl::StrCat("tls: ", what, ": ", ec.message()));
}

// The server-side TLS context for `tls`: TLS 1.2+, no compression or renegotiation, the server's
// cipher order, and with a client CA bundle mandatory client certificates.
absl::StatusOr<std::unique_ptr<asio::ssl::context>> MakeTlsContext(const HttpTlsOptions& tls) {
  std::unique_ptr<asio::ssl::context> ctx;
  try {
    ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  } catch (const std::exception& e) {  // Asio reports SSL_CTX_new failing only by throwing
    return absl::InvalidArgumentError(absl::StrCat("tls: cannot create a context: ", e.what()));
  }
  SSL_CTX* native = ctx->native_handle();
  error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use |
                       asio::ssl::context::no_compression,
                   ec);
  if (ec) return TlsError("options", ec);
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return absl::InvalidArgumentError("tls: cannot require TLS 1.2");
  }
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  // An encrypted key fails to load instead of OpenSSL prompting on the terminal.
  ctx->set_password_callback(
      [](std::size_t, asio::ssl::context::password_purpose) { return std::string(); }, ec);
  if (ec) return TlsError("password callback", ec);
  ctx->use_certificate_chain(asio::buffer(tls.cert_chain_pem), ec);
  if (ec) return TlsError("the certificate chain does not load", ec);
  ctx->use_private_key(asio::buffer(tls.private_key_pem), asio::ssl::context::pem, ec);
  if (ec) return TlsError("the private key does not load", ec);
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "tls: the private key does not belong to the first certificate of the chain");
  }
  if (!tls.client_ca_pem.empty()) {
    ctx->add_certificate_authority(asio::buffer(tls.client_ca_pem), ec);
    if (ec) return TlsError("the client CA bundle does not load", ec);
    // The CertificateRequest lists the acceptable CAs, so clients with several certificates
    // pick the right one.
    openssl::BioPtr bio(
        BIO_new_mem_buf(tls.client_ca_pem.data(), static_cast<int>(tls.client_ca_pem.size())));
    if (bio == nullptr) return absl::InvalidArgumentError("tls: out of memory");
    for (;;) {
      openssl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      if (cert == nullptr) break;
      if (SSL_CTX_add_client_CA(native, cert.get()) != 1) {
        ERR_clear_error();
        return absl::InvalidArgumentError("tls: cannot list a client CA");
      }
    }
    ERR_clear_error();  // the loop ends on "no start line"
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return TlsError("verify mode", ec);
    // Required for session resumption when client certificates are verified.
    static constexpr unsigned char kSessionContext[] = "countd-http";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof(kSessionContext) - 1);
  }
  SSL_CTX_set_alpn_select_cb(native, &SelectHttp11, nullptr);
  return ctx;
}

// What the server needs of a connection, whatever its transport.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual asio::any_io_executor executor() = 0;
  // Starts serving; call once, after the session is registered.
  virtual void Start() = 0;
  // Graceful stop: closes the connection now if it is between requests (or still in its TLS
  // handshake), else after the response to the request in progress.
  virtual void BeginStop() = 0;
  // Closes the connection whatever it is doing; pending operations complete with errors.
  virtual void ForceClose() = 0;
};

// State shared by the server and all its sessions. Sessions hold it by shared_ptr, so it outlives
// any session that the io_context destroys late.
struct ServerState {
  HttpServerOptions options;
  HttpHandler handler;
  HttpRejectHandler reject;
  // Set when options.tls is: every session is a TLS session. Read-only once serving.
  std::unique_ptr<asio::ssl::context> tls;

  // Set once by Shutdown; read by sessions when deciding on keep-alive.
  std::atomic<bool> stopping_hint{false};

  absl::Mutex mu;
  bool stopping ABSL_GUARDED_BY(mu) = false;  // no new sessions once set
  absl::flat_hash_map<const SessionBase*, std::weak_ptr<SessionBase>> sessions ABSL_GUARDED_BY(mu);
};

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
Stream MakeStream(tcp::socket socket, ServerState& state) {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    return Stream(std::move(socket), *state.tls);
  } else {
    return Stream(std::move(socket));
  }
}

// One connection over `Stream` (PlainStream or TlsStream): the request loop is the same for
// both; only the start (TLS handshake) and the orderly close (TLS close_notify) differ. All
// member functions except the constructor, the destructor and executor() run on the session's
// strand.
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Session(tcp::socket socket, std::shared_ptr<ServerState> state)
      : stream_(MakeStream<Stream>(std::move(socket), *state)), state_(std::move(state)) {
    error_code ec;
    tcp::endpoint peer = Tcp().socket().remote_endpoint(ec);
    if (!ec) {
      asio::ip::address ip = peer.address();
      if (ip.is_v6() && ip.to_v6().is_v4_mapped()) {
        ip = asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
      }
      remote_ip_ = ip.to_string(ec);
    }
    // Responses are written in one go; don't let Nagle hold back the last segment.
    Tcp().socket().set_option(tcp::no_delay(true), ec);
  }

  ~Session() override {
    absl::MutexLock lock(&state_->mu);
    state_->sessions.erase(this);
  }

  asio::any_io_executor executor() override { return Tcp().get_executor(); }

  void Start() override {
    asio::dispatch(Tcp().get_executor(),
                   beast::bind_front_handler(&Session::Begin, this->shared_from_this()));
  }

  void BeginStop() override {
    stopping_ = true;
    if (phase_ == Phase::kWaiting || phase_ == Phase::kHandshake) CloseNow();
  }

  void ForceClose() override {
    stopping_ = true;
    CloseNow();
  }

 private:
  enum class Phase {
    kHandshake,  // TLS handshake in progress: may be closed at once on shutdown
    kWaiting,    // no byte of the next request yet: may be closed at once on shutdown
    kReading,    // part of a request has arrived
    kHandling,   // the handler runs
    kWriting,    // a response (or 100 Continue) is being written
    kClosing,
  };

  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  // The first request's deadline counts from accept and covers the TLS handshake: a client that
  // never finishes its handshake is closed after read_timeout like one that never sends a byte.
  void Begin() {
    if (stopping_) return CloseNow();
    Tcp().expires_after(ToSteady(state_->options.read_timeout));
    if constexpr (kTls) {
      phase_ = Phase::kHandshake;
      stream_.async_handshake(
          asio::ssl::stream_base::server,
          beast::bind_front_handler(&Session::OnHandshake, this->shared_from_this()));
    } else {
      WaitForRequest();
    }
  }

  void OnHandshake(error_code ec) {
    if (ec) {
      // A shutdown closing the socket is not the client's failure.
      if (!stopping_ && ec != asio::error::operation_aborted &&
          state_->options.on_tls_handshake_error) {
        std::string why = ec == beast::error::timeout
                              ? std::string("handshake not completed within the read timeout")
                              : absl::StrCat(ec.category().name(), ": ", ec.message());
        try {
          state_->options.on_tls_handshake_error(remote_ip_, why);
        } catch (...) {
        }
      }
      return CloseNow();
    }
    WaitForRequest();
  }

  // Waits for the first bytes of a request: the first request of a connection within the
  // read_timeout set in Begin(), later ones of a kept-alive connection within idle_timeout.
  void WaitForRequest() {
    if (stopping_) return CloseNow();
    phase_ = Phase::kWaiting;
    parser_.reset();
    if (!first_request_) Tcp().expires_after(ToSteady(state_->options.idle_timeout));
    if (buffer_.size() > 0) return OnFirstBytes(error_code(), 0);  // pipelined
    stream_.async_read_some(
        buffer_.prepare(kFirstReadBytes),
        beast::bind_front_handler(&Session::OnFirstBytes, this->shared_from_this()));
  }

  void OnFirstBytes(error_code ec, size_t n) {
    if (ec || stopping_) return CloseNow();  // eof, timeout, reset or shutdown: no answer
    buffer_.commit(n);
    phase_ = Phase::kReading;
    // The first request's deadline counts from accept; later ones from their first byte.
    if (!first_request_) Tcp().expires_after(ToSteady(state_->options.read_timeout));
    parser_.emplace();
    const uint64_t header_limit = std::min<uint64_t>(state_->options.max_header_bytes, UINT32_MAX);
    parser_->header_limit(static_cast<uint32_t>(header_limit));
    parser_->body_limit(static_cast<uint64_t>(state_->options.max_body_bytes));
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::OnHeader, this->shared_from_this()));
  }

  void OnHeader(error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    const auto& req = parser_->get();
    if (req.target().size() > state_->options.max_target_bytes) {
      return Reject(kRejectUriTooLong);
    }
    // RFC 9112 6.1/6.3: a request whose Transfer-Encoding does not end in chunked has no
    // reliable length, and one with both Transfer-Encoding and Content-Length is a request
    // smuggling attempt. Beast 1.81 accepts both (as a bodyless request), so refuse them here.
    if (req.count(bhttp::field::transfer_encoding) > 0 &&
        (!parser_->chunked() || req.count(bhttp::field::content_length) > 0)) {
      return Reject(kRejectBadRequest);
    }
    if (parser_->is_done()) return HandleRequest();
    // Answer "Expect: 100-continue" unless the body has started arriving anyway; otherwise the
    // client waits (curl: 1 s) before sending the body.
    if (req.version() == 11 && buffer_.size() == 0 &&
        beast::iequals(req[bhttp::field::expect], "100-continue")) {
      phase_ = Phase::kWriting;
      asio::async_write(
          stream_, asio::buffer(kContinue.data(), kContinue.size()),
          beast::bind_front_handler(&Session::OnContinueWritten, this->shared_from_this()));
      return;
    }
    ReadBody();
  }

  void OnContinueWritten(error_code ec, size_t) {
    if (ec) return CloseNow();
    phase_ = Phase::kReading;
    ReadBody();  // same deadline: the whole request must arrive within read_timeout
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnBody, this->shared_from_this()));
  }

  void OnBody(error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    HandleRequest();
  }

  void OnReadError(error_code ec) {
    if (ec == bhttp::error::body_limit) return Reject(kRejectBodyTooLarge);
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      if (std::optional<std::string> target = OverlongTarget()) {
        return Reject(kRejectUriTooLong, std::move(target));
      }
      return Reject(kRejectHeaderTooLarge);
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
      switch (static_cast<bhttp::error>(ec.value())) {
        case bhttp::error::bad_line_ending:
        case bhttp::error::bad_method:
        case bhttp::error::bad_target:
        case bhttp::error::bad_version:
        case bhttp::error::bad_field:
        case bhttp::error::bad_value:
        case bhttp::error::bad_content_length:
        case bhttp::error::bad_transfer_encoding:
        case bhttp::error::bad_chunk:
        case bhttp::error::bad_chunk_extension:
        case bhttp::error::bad_obs_fold:
        case bhttp::error::multiple_content_length: return Reject(kRejectBadRequest);
        default: break;  // end_of_stream, partial_message...: the peer went away
      }
    }
    CloseNow();  // timeout, reset, shutdown: no answer
  }

  // After the header limit was hit: the request target (or, when its request line did not even
  // end within the limit, its beginning) if the target alone is longer than max_target_bytes;
  // nullopt when the fields made the header too large.
  std::optional<std::string> OverlongTarget() {
    const size_t limit = state_->options.max_target_bytes;
    if (parser_.has_value() && !parser_->get().target().empty()) {
      beast::string_view target = parser_->get().target();
      if (target.size() <= limit) return std::nullopt;
      return std::string(target);
    }
    // The request line is still unparsed: "METHOD SP target..." without its end.
    const auto data = buffer_.data();
    absl::string_view raw(static_cast<const char*>(data.data()), data.size());
    raw = raw.substr(0, raw.find("\r\n"));
    const size_t space = raw.find(' ');
    if (space == absl::string_view::npos) return std::nullopt;
    absl::string_view target = raw.substr(space + 1);
    target = target.substr(0, target.find(' '));
    if (target.size() <= limit) return std::nullopt;
    return std::string(target.substr(0, limit));
  }

  // Answers a request the parser refused, then closes the connection. `target` overrides the
  // parsed target (for a request line that was never completely read).
  void Reject(absl::string_view kind, std::optional<std::string> target = std::nullopt) {
    phase_ = Phase::kHandling;
    unsigned version = 11;
    if (parser_.has_value()) {
      if (!target.has_value()) target = std::string(parser_->get().target());
      if (parser_->is_header_done()) version = parser_->get().version();
    }
    HttpResponse response;
    if (state_->reject) {
      try {
        response = state_->reject(target.value_or(""), kind);
      } catch (...) {
        response = InternalError();
      }
    } else {
      response = DefaultRejection(kind);
    }
    SendResponse(std::move(response), version, /*keep_alive=*/false, /*head=*/false);
  }

  void HandleRequest() {
    phase_ = Phase::kHandling;
    first_request_ = false;
    bhttp::request<bhttp::string_body> msg = parser_->release();
    parser_.reset();

    HttpRequest request;
    request.method = std::string(msg.method_string());
    request.target = std::string(msg.target());
    const size_t question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) request.query = request.target.substr(question + 1);
    request.headers.reserve(std::distance(msg.begin(), msg.end()));
    for (const auto& field : msg) {
      std::string name(field.name_string());
      absl::AsciiStrToLower(&name);
      request.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    request.body = std::move(msg.body());
    request.remote_ip = remote_ip_;
    request.peer_ip = remote_ip_;
    request.secure = kTls;
    if (!ApplyForwardedHeaders(state_->options.trusted_proxies, &request).ok()) {
      // The reason names only the header, never its value; the route family answers 400.
      return Reject(kRejectBadForwarded, request.target);
    }

    HttpResponse response;
    try {
      response = state_->handler(request);
    } catch (...) {
      response = InternalError();
    }
    // Checked after the handler: a shutdown that began while it ran closes this connection.
    const bool keep_alive = msg.keep_alive() && !stopping_ && !state_->stopping_hint.load();
    SendResponse(std::move(response), msg.version(), keep_alive, msg.method() == bhttp::verb::head);
  }

  void SendResponse(HttpResponse r, unsigned version, bool keep_alive, bool head) {
    response_ = {};
    response_.version(version == 10 ? 10 : 11);
    const int status = (r.status >= 200 && r.status <= 599) ? r.status : 500;
    response_.result(static_cast<unsigned>(status));
    if (!r.content_type.empty() && IsSafeHeaderValue(r.content_type)) {
      response_.set(bhttp::field::content_type, r.content_type);
    }
    for (const auto& [name, value] : r.headers) {
      if (!IsToken(name) || !IsSafeHeaderValue(value)) continue;
      if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding")) {
        continue;  // framing belongs to the server
      }
      if (beast::iequals(name, "connection")) {
        if (HasCloseToken(value)) keep_alive = false;
        continue;
      }
      response_.insert(name, value);
    }
    // 204 and 304 carry neither a body nor (for 204, must not) a Content-Length.
    if (status != 204 && status != 304) {
      response_.content_length(r.body.size());
      if (!head) response_.body() = std::move(r.body);
    }
    response_.keep_alive(keep_alive);

    phase_ = Phase::kWriting;
    Tcp().expires_after(ToSteady(state_->options.write_timeout));
    bhttp::async_write(
        stream_, response_,
        beast::bind_front_handler(&Session::OnWrite, this->shared_from_this(), !keep_alive));
  }

  void OnWrite(bool close, error_code ec, size_t) {
    if (ec) return CloseNow();
    response_ = {};  // free the body now, not at the next response
    if (close || stopping_) return LingerClose();
    WaitForRequest();
  }

  // Ends the connection without destroying the last response: closing a socket with unread
  // input makes the kernel send RST, which can discard the response (e.g. the 413 for a body the
  // peer is still uploading) before the peer reads it. Plaintext: half-closes, then discards
  // input until EOF, kLingerMaxBytes or kLingerTimeout. TLS: first sends close_notify and waits
  // for the peer's; if application data arrives instead (a client still uploading), goes on as
  // plaintext does, discarding the rest undecrypted. One kLingerTimeout bounds it all.
  void LingerClose() {
    phase_ = Phase::kClosing;
    Tcp().expires_after(kLingerTimeout);
    if constexpr (kTls) {
      stream_.async_shutdown(
          beast::bind_front_handler(&Session::OnTlsShutdown, this->shared_from_this()));
    } else {
      DrainAndClose();
    }
  }

  void OnTlsShutdown(error_code ec) {
    // Done when the peer answered with close_notify, closed, or the linger time ran out.
    if (!ec || ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
        ec == beast::error::timeout || ec == asio::error::operation_aborted) {
      return CloseNow();
    }
    DrainAndClose();
  }

  void DrainAndClose() {
    error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return CloseNow();
    linger_bytes_ = 0;
    Tcp().async_read_some(
        asio::buffer(scratch_),
        beast::bind_front_handler(&Session::OnLingerRead, this->shared_from_this()));
  }

  void OnLingerRead(error_code ec, size_t n) {
    linger_bytes_ += n;
    if (ec || linger_bytes_ > kLingerMaxBytes) return CloseNow();
    Tcp().async_read_some(
        asio::buffer(scratch_),
        beast::bind_front_handler(&Session::OnLingerRead, this->shared_from_this()));
  }

  void CloseNow() {
    phase_ = Phase::kClosing;
    error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    Tcp().close();  // noexcept; cancels pending operations and timers
  }

  Stream stream_;
  const std::shared_ptr<ServerState> state_;
  std::string remote_ip_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> response_;
  Phase phase_ = Phase::kWaiting;
  bool first_request_ = true;
  bool stopping_ = false;
  size_t linger_bytes_ = 0;
  std::array<char, 4096> scratch_;
};

}  // namespace

// Owns the io_context, the acceptor and the io threads.
class HttpServer::Impl {
 public:
  explicit Impl(std::shared_ptr<ServerState> state)
      : state_(std::move(state)),
        acceptor_(asio::make_strand(ioc_)),
        retry_timer_(acceptor_.get_executor()),
        work_(asio::make_work_guard(ioc_)) {}

  ~Impl() { Shutdown(absl::ZeroDuration()); }

  absl::Status Listen(const tcp::endpoint& endpoint) {
    error_code ec;
    const std::string where = FormatEndpoint(endpoint);
    if (acceptor_.open(endpoint.protocol(), ec); ec) {
      return absl::UnavailableError(
          absl::StrCat("http: cannot open socket for ", where, ": ", ec.message()));
    }
    acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (acceptor_.bind(endpoint, ec); ec) {
      return absl::UnavailableError(absl::StrCat("http: cannot bind ", where, ": ", ec.message()));
    }
    if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) {
      return absl::UnavailableError(
          absl::StrCat("http: cannot listen on ", where, ": ", ec.message()));
    }
    tcp::endpoint bound = acceptor_.local_endpoint(ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("http: cannot read bound address of ", where, ": ", ec.message()));
    }
    bound_ = bound;
    return absl::OkStatus();
  }

  void Run() {
    asio::post(acceptor_.get_executor(), [this] { DoAccept(); });
    threads_.reserve(state_->options.threads);
    for (int i = 0; i < state_->options.threads; ++i) {
      threads_.emplace_back([this] {
        // A completion handler that throws (it should not) unwinds out of run(); the connection
        // it served is dropped, and this thread goes back to serving the others.
        for (;;) {
          try {
            ioc_.run();
            return;
          } catch (...) {
          }
        }
      });
    }
  }

  const tcp::endpoint& bound() const { return bound_; }

  void Shutdown(absl::Duration grace) {
    absl::MutexLock shutdown_lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    if (ioc_.get_executor().running_in_this_thread()) {
      // Joining our own thread would deadlock (or throw); this is a caller bug.
      fprintf(stderr, "countd::http::HttpServer::Shutdown called from an io thread\n");
      std::abort();
    }

    // 1. Stop accepting. The hint is set first: once the port refuses connections, every response
    // from now on says "Connection: close".
    state_->stopping_hint.store(true);
    asio::post(acceptor_.get_executor(), [this] {
      error_code ec;
      acceptor_.close(ec);
      retry_timer_.cancel();
    });
    // 2. Idle connections close now, busy ones after their current response.
    for (auto& session : Snapshot(/*set_stopping=*/true)) {
      asio::post(session->executor(), [session] { session->BeginStop(); });
    }
    WaitForNoSessions(grace);
    // 3. Out of grace: close the rest.
    for (auto& session : Snapshot(/*set_stopping=*/false)) {
      asio::post(session->executor(), [session] { session->ForceClose(); });
    }
    WaitForNoSessions(kForceCloseWait);
    // 4. Stop the threads. Only a handler that is still running can delay the joins.
    work_.reset();
    ioc_.stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    // The threads are gone, so the acceptor may be touched here directly; the posted close may
    // not have run before stop().
    error_code ec;
    acceptor_.close(ec);
  }

 private:
  std::vector<std::shared_ptr<SessionBase>> Snapshot(bool set_stopping) {
    std::vector<std::shared_ptr<SessionBase>> live;
    absl::MutexLock lock(&state_->mu);
    if (set_stopping) state_->stopping = true;
    live.reserve(state_->sessions.size());
    for (auto& [ptr, weak] : state_->sessions) {
      if (std::shared_ptr<SessionBase> s = weak.lock()) live.push_back(std::move(s));
    }
    return live;
  }

  void WaitForNoSessions(absl::Duration timeout) {
    absl::MutexLock lock(&state_->mu);
    auto* sessions = &state_->sessions;
    state_->mu.AwaitWithTimeout(absl::Condition(
                                    +[](decltype(sessions) s) { return s->empty(); }, sessions),
                                timeout);
  }

  // Runs on the acceptor's strand.
  void DoAccept() {
    acceptor_.async_accept(asio::make_strand(ioc_), [this](error_code ec, tcp::socket socket) {
      OnAccept(ec, std::move(socket));
    });
  }

  void OnAccept(error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open() || ec == asio::error::operation_aborted) return;
    if (ec) {
      // EMFILE, ENOBUFS, ECONNABORTED...: try again shortly rather than spin or give up.
      retry_timer_.expires_after(kAcceptRetryDelay);
      retry_timer_.async_wait([this](error_code wait_ec) {
        if (!wait_ec && acceptor_.is_open()) DoAccept();
      });
      return;
    }
    std::shared_ptr<SessionBase> session;
    {
      absl::MutexLock lock(&state_->mu);
      if (state_->stopping) {
        error_code ignored;
        socket.close(ignored);
        return;
      }
      if (state_->sessions.size() < state_->options.max_connections) {
        if (state_->tls != nullptr) {
          session = std::make_shared<Session<TlsStream>>(std::move(socket), state_);
        } else {
          session = std::make_shared<Session<PlainStream>>(std::move(socket), state_);
        }
        state_->sessions.emplace(session.get(), session);
      }
    }
    if (session) {
      session->Start();
    } else {
      error_code ignored;  // over max_connections: accepted and closed at once
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    }
    DoAccept();
  }

  const std::shared_ptr<ServerState> state_;
  // Declared before everything that uses it, so it is destroyed last.
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  tcp::endpoint bound_;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& addr,
                                                              const HttpServerOptions& options,
                                                              HttpHandler handler,
                                                              HttpRejectHandler reject) {
  if (!handler) return absl::InvalidArgumentError("http: handler is empty");
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("http: threads must be >= 1, got ", options.threads));
  }
  if (options.max_header_bytes == 0) {
    return absl::InvalidArgumentError("http: max_header_bytes must be > 0");
  }
  if (options.max_target_bytes == 0) {
    return absl::InvalidArgumentError("http: max_target_bytes must be > 0");
  }
  if (options.read_timeout <= absl::ZeroDuration() ||
      options.idle_timeout <= absl::ZeroDuration() ||
      options.write_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("http: timeouts must be > 0");
  }
  absl::StatusOr<tcp::endpoint> endpoint = ParseAddress(addr);
  if (!endpoint.ok()) return endpoint.status();

  auto state = std::make_shared<ServerState>();
  state->options = options;
  state->handler = std::move(handler);
  state->reject = std::move(reject);
  if (options.tls.has_value()) {
    absl::StatusOr<std::unique_ptr<asio::ssl::context>> tls = MakeTlsContext(*options.tls);
    if (!tls.ok()) return tls.status();
    state->tls = *std::move(tls);
    // The context holds its own copy of the key: this one is wiped.
    OPENSSL_cleanse(state->options.tls->private_key_pem.data(),
                    state->options.tls->private_key_pem.size());
    state->options.tls->private_key_pem.clear();
  }
  auto impl = std::make_unique<Impl>(std::move(state));
  if (absl::Status s = impl->Listen(*endpoint); !s.ok()) return s;
  impl->Run();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(absl::ZeroDuration()); }

std::string HttpServer::address() const { return FormatEndpoint(impl_->bound()); }

int HttpServer::port() const { return impl_->bound().port(); }

void HttpServer::Shutdown(absl::Duration grace) { impl_->Shutdown(grace); }

}  // namespace countd::http
