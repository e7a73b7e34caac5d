#include "server/http/forwarded.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/types/optional.h"
#include "server/http/http_server.h"

namespace countd::http {
namespace {

// An address literal in binary form; IPv4-mapped IPv6 is folded into IPv4.
struct Address {
  std::array<uint8_t, 16> bytes{};
  bool v4 = false;
};

absl::optional<Address> ParseAddress(absl::string_view text) {
  if (text.empty() || text.size() > 45) return absl::nullopt;  // INET6_ADDRSTRLEN - 1
  // inet_pton reads a C string: a NUL would end the text early ("::\0junk" parses as "::").
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
      return absl::nullopt;
    }
  }
  const std::string s(text);
  Address a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.v4 = true;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return absl::nullopt;
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes.data(), kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
    std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
    std::memset(a.bytes.data() + 4, 0, 12);
    a.v4 = true;
  }
  return a;
}

std::string FormatAddress(const Address& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(a.v4 ? AF_INET : AF_INET6, a.bytes.data(), buf, sizeof(buf));
  return buf;
}

// True when the first `prefix` bits of `a` and `b` agree.
bool PrefixMatches(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int prefix) {
  const int whole = prefix / 8;
  if (std::memcmp(a.data(), b.data(), static_cast<size_t>(whole)) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

bool IsPort(absl::string_view text) {
  uint32_t port = 0;
  return !text.empty() && text.size() <= 5 && absl::SimpleAtoi(text, &port) && port <= 65535 &&
         std::all_of(text.begin(), text.end(), absl::ascii_isdigit);
}

// One X-Forwarded-For entry: an address, optionally with a port ("1.2.3.4:80", "[::1]:80").
absl::optional<Address> ParseForwardedFor(absl::string_view entry) {
  if (absl::ConsumePrefix(&entry, "[")) {
    const size_t close = entry.find(']');
    if (close == absl::string_view::npos) return absl::nullopt;
    absl::string_view rest = entry.substr(close + 1);
    if (!rest.empty() && !(absl::ConsumePrefix(&rest, ":") && IsPort(rest))) {
      return absl::nullopt;
    }
    absl::optional<Address> a = ParseAddress(entry.substr(0, close));
    if (a.has_value() && a->v4) return absl::nullopt;  // brackets are for IPv6
    return a;
  }
  const size_t colon = entry.find(':');
  if (colon != absl::string_view::npos && entry.find(':', colon + 1) == absl::string_view::npos) {
    if (!IsPort(entry.substr(colon + 1))) return absl::nullopt;
    absl::optional<Address> a = ParseAddress(entry.substr(0, colon));
    if (a.has_value() && !a->v4) return absl::nullopt;
    return a;
  }
  return ParseAddress(entry);
}

// host [":" port], host a DNS name or IPv4 literal, or "[" IPv6 "]".
bool IsHostAndPort(absl::string_view value) {
  if (value.empty() || value.size() > 261) return false;
  absl::string_view host = value;
  absl::string_view port;
  if (absl::StartsWith(value, "[")) {
    const size_t close = value.find(']');
    if (close == absl::string_view::npos) return false;
    absl::optional<Address> a = ParseAddress(value.substr(1, close - 1));
    if (!a.has_value() || a->v4) return false;
    absl::string_view rest = value.substr(close + 1);
    if (rest.empty()) return true;
    return absl::ConsumePrefix(&rest, ":") && IsPort(rest);
  }
  const size_t colon = value.find(':');
  if (colon != absl::string_view::npos) {
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
    if (!IsPort(port)) return false;
  }
  if (host.empty() || host.size() > 255) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return true;
}

// Every value of the header `lower_name`, in order: the comma-separated lists of all its lines.
std::vector<absl::string_view> HeaderList(const HttpRequest& request,
                                          absl::string_view lower_name) {
  std::vector<absl::string_view> values;
  for (const auto& [name, value] : request.headers) {
    if (name != lower_name) continue;
    for (absl::string_view v : absl::StrSplit(value, ',')) {
      values.push_back(absl::StripAsciiWhitespace(v));
    }
  }
  return values;
}

absl::Status BadHeader(absl::string_view header, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(header, " from a trusted proxy (--trusted-proxies) ", why));
}

}  // namespace

absl::StatusOr<ProxyList> ProxyList::Parse(absl::string_view list) {
  ProxyList out;
  if (absl::StripAsciiWhitespace(list).empty()) return out;
  for (absl::string_view raw : absl::StrSplit(list, ',')) {
    const absl::string_view entry = absl::StripAsciiWhitespace(raw);
    const size_t slash = entry.find('/');
    absl::optional<Address> a = ParseAddress(entry.substr(0, slash));
    if (!a.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", entry, "\" is not an IP address or CIDR range"));
    }
    Range r;
    r.bytes = a->bytes;
    r.v4 = a->v4;
    // An IPv4-mapped range (::ffff:10.0.0.0/104) is written with an IPv6 prefix length.
    const bool mapped = a->v4 && absl::StrContains(entry.substr(0, slash), ':');
    const int max_prefix = a->v4 && !mapped ? 32 : 128;
    const int min_prefix = mapped ? 96 : 0;
    r.prefix = a->v4 ? 32 : 128;
    if (slash != absl::string_view::npos) {
      absl::string_view digits = entry.substr(slash + 1);
      int prefix = 0;
      if (digits.empty() || digits.size() > 3 ||
          !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) ||
          !absl::SimpleAtoi(digits, &prefix) || prefix < min_prefix || prefix > max_prefix) {
        return absl::InvalidArgumentError(absl::StrCat(
            "\"", entry, "\": the prefix length must be ", min_prefix, "..", max_prefix));
      }
      r.prefix = mapped ? prefix - 96 : prefix;
      const int bits = a->v4 ? 32 : 128;
      // Host bits set are almost always a typo for another range: refuse rather than guess.
      Range masked = r;
      for (int bit = r.prefix; bit < bits; ++bit) {
        masked.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
      }
      if (masked.bytes != r.bytes) {
        Address network;
        network.bytes = masked.bytes;
        network.v4 = r.v4;
        return absl::InvalidArgumentError(absl::StrCat("\"", entry, "\" has host bits set (",
                                                       FormatAddress(network), "/", r.prefix,
                                                       " is the range)"));
      }
    }
    out.ranges_.push_back(r);
  }
  return out;
}

bool ProxyList::Contains(absl::string_view ip) const {
  if (ranges_.empty()) return false;
  absl::optional<Address> a = ParseAddress(ip);
  if (!a.has_value()) return false;
  for (const Range& r : ranges_) {
    if (r.v4 == a->v4 && PrefixMatches(r.bytes, a->bytes, r.prefix)) return true;
  }
  return false;
}

std::string ProxyList::ToString() const {
  return absl::StrJoin(ranges_, ",", [](std::string* out, const Range& r) {
    Address a;
    a.bytes = r.bytes;
    a.v4 = r.v4;
    absl::StrAppend(out, FormatAddress(a), "/", r.prefix);
  });
}

absl::Status ApplyForwardedHeaders(const ProxyList& trusted, HttpRequest* request) {
  if (!trusted.Contains(request->peer_ip)) return absl::OkStatus();

  std::string client_ip = request->remote_ip;
  const std::vector<absl::string_view> chain = HeaderList(*request, "x-forwarded-for");
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    absl::optional<Address> a = ParseForwardedFor(*it);
    if (!a.has_value()) {
      return BadHeader("X-Forwarded-For", "holds an entry that is not an IP address");
    }
    client_ip = FormatAddress(*a);
    if (!trusted.Contains(client_ip)) break;  // the first untrusted hop is the client
  }

  bool secure = request->secure;
  const std::vector<absl::string_view> protos = HeaderList(*request, "x-forwarded-proto");
  if (!protos.empty()) {
    if (absl::EqualsIgnoreCase(protos.back(), "https")) {
      secure = true;
    } else if (absl::EqualsIgnoreCase(protos.back(), "http")) {
      secure = false;
    } else {
      return BadHeader("X-Forwarded-Proto", "must be http or https");
    }
  }

  const std::vector<absl::string_view> hosts = HeaderList(*request, "x-forwarded-host");
  std::string host;
  if (!hosts.empty()) {
    if (!IsHostAndPort(hosts.back())) {
      return BadHeader("X-Forwarded-Host", "must be a host name or address with optional port");
    }
    host = std::string(hosts.back());
  }

  request->remote_ip = std::move(client_ip);
  request->secure = secure;
  if (!host.empty()) {
    auto& headers = request->headers;
    headers.erase(std::remove_if(headers.begin(), headers.end(),
                                 [](const auto& h) { return h.first == "host"; }),
                  headers.end());
    headers.emplace_back("host", std::move(host));
  }
  return absl::OkStatus();
}

}  // namespace countd::http
