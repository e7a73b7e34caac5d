// server/http/forwarded.h — requests that come through a trusted reverse proxy (a Kubernetes
// ingress, a load balancer terminating TLS): which peers are trusted (--trusted-proxies), and
// how their X-Forwarded-For / -Proto / -Host headers restore what the client itself sent.
#ifndef COUNTD_SERVER_HTTP_FORWARDED_H_
#define COUNTD_SERVER_HTTP_FORWARDED_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace countd::http {

struct HttpRequest;

// A set of IP address ranges. Immutable after Parse; thread-safe.
class ProxyList {
 public:
  ProxyList() = default;  // empty: no peer is trusted

  // Parses a comma-separated list of CIDR ranges or single addresses, IPv4 or IPv6:
  // "10.0.0.0/8, fd00::/8, 192.168.1.7". Whitespace around entries is ignored; "" is the empty
  // list. IPv4-mapped IPv6 addresses count as their IPv4 address. Errors: INVALID_ARGUMENT
  // naming the entry that is not an address or whose prefix length is out of range or leaves
  // host bits set ("10.1.2.3/8": write 10.0.0.0/8).
  static absl::StatusOr<ProxyList> Parse(absl::string_view list);

  // True when `ip` (an address literal, as in HttpRequest::remote_ip) is in one of the ranges;
  // false for anything that is not an address literal.
  bool Contains(absl::string_view ip) const;

  bool empty() const { return ranges_.empty(); }
  // The ranges in canonical form, comma-separated ("10.0.0.0/8,fd00::/8"), for the startup log.
  std::string ToString() const;

 private:
  struct Range {
    std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes
    bool v4 = false;
    int prefix = 0;
  };
  std::vector<Range> ranges_;
};

// When the request's peer (request->peer_ip) is in `trusted`, rewrites `request` to describe the
// original client instead of the proxy:
// - remote_ip: from X-Forwarded-For, read from the right: the first address that is not itself a
//   trusted proxy (every entry trusted: the leftmost). Entries may carry a port ("1.2.3.4:5678",
//   "[2001:db8::1]:443"). Entries left of the client's are never read, so a client cannot forge
//   its address by sending its own X-Forwarded-For.
// - secure: from the last X-Forwarded-Proto value, "https" or "http" (any case). The last value
//   is the one the nearest proxy set, so a client's own header cannot claim https.
// - the Host header: replaced by the last X-Forwarded-Host value (a host with optional port).
// A header that is absent leaves its field as the proxy connection had it; several header lines
// of one name count as one comma-separated list. From an untrusted peer the headers are ignored
// and nothing changes. Errors (request unchanged): INVALID_ARGUMENT naming the header, for a
// malformed value from a trusted peer.
absl::Status ApplyForwardedHeaders(const ProxyList& trusted, HttpRequest* request);

}  // namespace countd::http

#endif  // COUNTD_SERVER_HTTP_FORWARDED_H_
