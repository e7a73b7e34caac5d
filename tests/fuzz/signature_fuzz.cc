// libFuzzer target for the Gigya signature base string (server/shim/internal/gigya/signature.h).
//
// Input layout: byte 0 bit 0 = secure (https); the rest split at '\n' into method, Host header,
// path, then one parameter per line as name=value (split at the first '='; a line without '='
// is a name with an empty value). Missing lines are empty.
//
// Checks, abort() on violation:
//  - the base string is UPPER(method) "&" part2 "&" part3, where part2 and part3 hold only
//    unreserved characters and upper-case %XX escapes: the only raw '&' after the method is the
//    separator between them;
//  - part2 decodes to the normalized URL and part3 to the sorted query;
//  - the sorted query does not depend on the order the parameters came in, and ignores sig;
//  - every value survives SignatureUrlEncode and decoding unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/shim/internal/gigya/signature.h"

namespace {

using countd::shim::SignatureParams;

void Check(bool ok) {
  if (!ok) abort();
}

bool Unreserved(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

int UpperHex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// True when `s` is only unreserved characters and upper-case %XX escapes.
bool WellEncoded(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (Unreserved(s[i])) continue;
    if (s[i] != '%' || i + 2 >= s.size() || UpperHex(s[i + 1]) < 0 || UpperHex(s[i + 2]) < 0) {
      return false;
    }
    i += 2;
  }
  return true;
}

// Decodes a WellEncoded string (NUL bytes allowed).
std::string Decode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      out.push_back(static_cast<char>(UpperHex(s[i + 1]) * 16 + UpperHex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool secure = (data[0] & 1) != 0;
  absl::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<absl::string_view> lines = absl::StrSplit(input, '\n');
  lines.resize(std::max<size_t>(lines.size(), 3));
  const absl::string_view method = lines[0];
  const absl::string_view host = lines[1];
  const absl::string_view path = lines[2];
  SignatureParams params;
  for (size_t i = 3; i < lines.size(); ++i) {
    size_t eq = lines[i].find('=');
    params.emplace_back(std::string(lines[i].substr(0, eq)),
                        eq == absl::string_view::npos ? "" : std::string(lines[i].substr(eq + 1)));
  }

  for (const auto& [name, value] : params) {
    std::string encoded = countd::shim::SignatureUrlEncode(value);
    Check(WellEncoded(encoded));
    Check(Decode(encoded) == value);
  }

  absl::StatusOr<std::string> url = countd::shim::SignatureNormalizedUrl(secure, host, path);
  if (!url.ok()) return 0;  // malformed Host: refused before any signature is computed
  Check(absl::string_view(*url).substr(0, secure ? 8 : 7) == (secure ? "https://" : "http://"));

  const std::string query = countd::shim::SignatureSortedQuery(params);
  SignatureParams reversed(params.rbegin(), params.rend());
  Check(countd::shim::SignatureSortedQuery(reversed) == query);
  SignatureParams without_sig;
  for (const auto& p : params) {
    if (p.first != "sig") without_sig.push_back(p);
  }
  Check(countd::shim::SignatureSortedQuery(without_sig) == query);

  const std::string base = countd::shim::SignatureBaseString(method, *url, params);
  const std::string upper_method = absl::AsciiStrToUpper(method);
  Check(base.size() > upper_method.size() &&
        base.compare(0, upper_method.size(), upper_method) == 0);
  Check(base[upper_method.size()] == '&');
  absl::string_view rest = absl::string_view(base).substr(upper_method.size() + 1);
  size_t amp = rest.find('&');
  Check(amp != absl::string_view::npos);
  absl::string_view part2 = rest.substr(0, amp);
  absl::string_view part3 = rest.substr(amp + 1);
  Check(part3.find('&') == absl::string_view::npos);  // exactly one raw '&' after the method
  Check(WellEncoded(part2) && WellEncoded(part3));
  Check(Decode(part2) == *url);
  Check(Decode(part3) == query);
  return 0;
}
