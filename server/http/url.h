// server/http/url.h — percent-decoding and query/form parsing for the JSON shim.
#ifndef COUNTD_SERVER_HTTP_URL_H_
#define COUNTD_SERVER_HTTP_URL_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace countd::http {

// Decodes %XX escapes (and '+' as space when `plus_is_space`, as in forms and query strings).
// Returns nullopt for a malformed escape or a NUL byte, raw or decoded (no parameter or path
// segment may hold one).
absl::optional<std::string> PercentDecode(absl::string_view in, bool plus_is_space);

// Parses "a=1&b=2" (application/x-www-form-urlencoded). Empty pairs are skipped; a name without
// '=' has an empty value. Returns nullopt when any part is malformed.
absl::optional<std::vector<std::pair<std::string, std::string>>> ParseForm(absl::string_view in);

// Splits a path into its percent-decoded segments ("/a/b/" -> {"a", "b", ""}).
// Returns nullopt when a segment is malformed or decodes to something holding '/'.
absl::optional<std::vector<std::string>> PathSegments(absl::string_view path);

}  // namespace countd::http

#endif  // COUNTD_SERVER_HTTP_URL_H_
