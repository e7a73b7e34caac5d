#include "server/shim/internal/gigya/signature.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/logic/status_util.h"

namespace countd::shim {
namespace {

bool Unreserved(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string SignatureUrlEncode(absl::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size() * 3);
  for (char ch : value) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (Unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

absl::StatusOr<std::string> SignatureNormalizedUrl(bool secure, absl::string_view host,
                                                   absl::string_view path) {
  if (host.empty()) return logic::MissingField("Host");
  // Split "name[:port]"; an IPv6 literal is "[...]" with an optional ":port" after it.
  absl::string_view name = host;
  absl::string_view port;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == absl::string_view::npos) {
      return logic::BadValue("Host", "has an unclosed IPv6 literal");
    }
    name = host.substr(0, close + 1);
    absl::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return logic::BadValue("Host", "has text after the IPv6 literal");
      port = rest.substr(1);
    }
  } else if (size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
  }
  if (name.empty()) return logic::MissingField("Host");
  const char* scheme = secure ? "https" : "http";
  std::string out = absl::StrCat(scheme, "://", absl::AsciiStrToLower(name));
  if (!port.empty() || host.back() == ':') {
    bool digits =
        !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
          return absl::ascii_isdigit(static_cast<unsigned char>(c));
        });
    int number = 0;
    if (!digits || !absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
      return logic::BadValue("Host", "port must be a number in 1..65535");
    }
    if (number != (secure ? 443 : 80)) absl::StrAppend(&out, ":", number);
  }
  absl::StrAppend(&out, path);
  return out;
}

std::string SignatureSortedQuery(SignatureParams params) {
  params.erase(
      std::remove_if(params.begin(), params.end(), [](const auto& p) { return p.first == "sig"; }),
      params.end());
  // std::string compares as unsigned bytes (char_traits<char>::lt), i.e. byte order.
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, name, "=", SignatureUrlEncode(value));
  }
  return out;
}

std::string SignatureBaseString(absl::string_view method, absl::string_view normalized_url,
                                SignatureParams params) {
  return absl::StrCat(absl::AsciiStrToUpper(method), "&", SignatureUrlEncode(normalized_url), "&",
                      SignatureUrlEncode(SignatureSortedQuery(std::move(params))));
}

}  // namespace countd::shim
