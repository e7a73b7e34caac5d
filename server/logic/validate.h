// server/logic/validate.h — syntax checks on identifiers shared by every service.
#ifndef COUNTD_SERVER_LOGIC_VALIDATE_H_
#define COUNTD_SERVER_LOGIC_VALIDATE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace countd::logic {

inline constexpr size_t kMaxIdentifierBytes = 256;

// OK when `value` is 1-256 bytes of printable ASCII (0x20-0x7E). Else INVALID_ARGUMENT naming
// `field`: "missing" when empty, "format" otherwise.
absl::Status CheckIdentifier(absl::string_view field, absl::string_view value);

// CheckIdentifier plus: only [A-Za-z0-9_.~-] (URL-safe, no ':').
absl::Status CheckUrlSafe(absl::string_view field, absl::string_view value);

// CheckIdentifier plus: no '/' or '\'.
absl::Status CheckNoSlash(absl::string_view field, absl::string_view value);

// OK for an empty value (the field is optional), else CheckIdentifier.
absl::Status CheckOptionalIdentifier(absl::string_view field, absl::string_view value);

// The length (1-4) of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF) that `s` starts with; 0 when `s` is empty or starts with anything else.
size_t Utf8SequenceLength(absl::string_view s);

// True when all of `s` is well-formed UTF-8.
bool IsValidUtf8(absl::string_view s);

// OK when `value` (free text: titles, descriptions, metadata) is well-formed UTF-8, as every
// string of a countd.v1 message must be. Else INVALID_ARGUMENT "format" naming `field`.
absl::Status CheckUtf8(absl::string_view field, absl::string_view value);

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_VALIDATE_H_
