// server/shim/internal/gigya/signature.h — the base string a Gigya signed request is signed over
// (the "Gigya authorization method", as the official SDKs compute it). Pure functions, no state.
//
//   baseString    = UPPER(method) "&" UrlEncode(normalizedUrl) "&" UrlEncode(sortedQuery)
//   normalizedUrl = scheme "://" lowercase(host) [":" port, when not the scheme's default] path
//   sortedQuery   = every parameter but `sig`, sorted by name (byte order; ties by value),
//                   each as name "=" UrlEncode(value) (the name as sent), joined with "&"
//   UrlEncode     = RFC 3986: A-Z a-z 0-9 - . _ ~ kept, every other byte %XX (upper-case hex)
//
// The signature itself, Base64(HMAC-SHA1(Base64Decode(secret), baseString)), is checked by
// logic::TenantRegistry::CheckSignature.
#ifndef COUNTD_SERVER_SHIM_INTERNAL_GIGYA_SIGNATURE_H_
#define COUNTD_SERVER_SHIM_INTERNAL_GIGYA_SIGNATURE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace countd::shim {

using SignatureParams = std::vector<std::pair<std::string, std::string>>;

// RFC 3986 percent-encoding of every byte of `value` outside A-Za-z0-9-._~ (space = %20).
std::string SignatureUrlEncode(absl::string_view value);

// scheme://host[:port]path for a request that arrived with Host header `host` (empty when
// absent) at `path` (as sent on the wire, before '?'; not decoded). The scheme is https when
// `secure`, else http. The host is lower-cased; a port equal to the scheme's default (443 /
// 80) is dropped, any other is written as a plain decimal number. A bracketed IPv6 literal
// keeps its brackets ("[::1]:8443").
// Errors: INVALID_ARGUMENT "missing" naming "Host" when `host` is empty; INVALID_ARGUMENT
// naming "Host" when its port is not a number in 1..65535 or an IPv6 literal is unclosed.
absl::StatusOr<std::string> SignatureNormalizedUrl(bool secure, absl::string_view host,
                                                   absl::string_view path);

// The sorted query string of `params` (every pair but those named "sig"), as above.
std::string SignatureSortedQuery(SignatureParams params);

// The base string for `method` (upper-cased here), an already normalized URL and the request's
// parameters (query string and body merged, "sig" among them or not).
std::string SignatureBaseString(absl::string_view method, absl::string_view normalized_url,
                                SignatureParams params);

}  // namespace countd::shim

#endif  // COUNTD_SERVER_SHIM_INTERNAL_GIGYA_SIGNATURE_H_
