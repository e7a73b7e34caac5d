// server/shim/internal/json.h — JSON for the legacy routes (internal to server/shim): a bounded
// parser for untrusted text, and string literals that are valid JSON (and safe inside JSONP)
// whatever bytes they are given.
#ifndef COUNTD_SERVER_SHIM_INTERNAL_JSON_H_
#define COUNTD_SERVER_SHIM_INTERNAL_JSON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "rapidjson/document.h"

namespace countd::shim {

// Deepest nesting of arrays and objects ParseJson accepts. Legacy requests need 3 levels; the
// bound keeps every recursive walk of a parsed document (parsing, printing, comparing) far from
// the end of a thread's stack.
inline constexpr int kMaxJsonDepth = 64;

// What may follow the JSON value.
enum class JsonTrailing {
  kWhitespaceOnly,  // RFC 8259: one value, surrounded by whitespace
  kIgnored,         // anything after the value is ignored (it is still checked for NUL bytes)
};

// Parses `text` (untrusted) into `doc`. Errors: INVALID_ARGUMENT, with a message saying why (no
// field name), when `text` is not one JSON value in valid UTF-8, holds a NUL byte anywhere, or
// nests arrays and objects deeper than kMaxJsonDepth; `doc` is then unspecified. Thread-safe.
absl::Status ParseJson(absl::string_view text, rapidjson::Document* doc,
                       JsonTrailing trailing = JsonTrailing::kWhitespaceOnly);

// A member name that `object` (which must be an object) holds more than once (the first one seen
// again, in document order), or nullopt when every name is unique.
absl::optional<std::string> RepeatedMember(const rapidjson::Value& object);

// RepeatedMember for `value` and every object nested in it (depth-first, document order).
absl::optional<std::string> RepeatedMemberAnywhere(const rapidjson::Value& value);

// `s` as a JSON string literal (with the quotes). Any bytes are accepted: a byte that is not part
// of valid UTF-8 becomes U+FFFD, and U+2028 / U+2029 are escaped so that the literal is also valid
// JavaScript (JSONP). The result is always valid JSON.
std::string JsonQuote(absl::string_view s);

}  // namespace countd::shim

#endif  // COUNTD_SERVER_SHIM_INTERNAL_JSON_H_
