// server/logic/status_util.h — building absl::Status errors that name the offending field.
//
// Legacy protocols need two facts beyond the code: which parameter was wrong, and whether it was
// missing, badly formatted, or had a bad value. They travel as payloads on the status, read once
// by server/errors.cc.
#ifndef COUNTD_SERVER_LOGIC_STATUS_UTIL_H_
#define COUNTD_SERVER_LOGIC_STATUS_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace countd::logic {

// Payload type URL holding the offending field's name (e.g. "counters[2].path").
inline constexpr absl::string_view kFieldPayload = "countd/field";
// Payload type URL holding why an INVALID_ARGUMENT happened: "missing", "format" or
// "unparseable"; absent for a bad value.
inline constexpr absl::string_view kReasonPayload = "countd/reason";

// INVALID_ARGUMENT: the request as a whole cannot be parsed (reason "unparseable", field
// "request"); legacy protocols answer it as a malformed request rather than a bad field.
absl::Status Unparseable(absl::string_view why);
// INVALID_ARGUMENT: `field` is required but absent or empty.
absl::Status MissingField(absl::string_view field);
// INVALID_ARGUMENT: `field` is malformed (wrong syntax or type). `why` completes the message.
absl::Status BadFormat(absl::string_view field, absl::string_view why);
// INVALID_ARGUMENT: `field` is well-formed but its value is not allowed.
absl::Status BadValue(absl::string_view field, absl::string_view why);
// FAILED_PRECONDITION about `field` (valid request refused in the current state).
absl::Status Refused(absl::string_view field, absl::string_view why);
// NOT_FOUND about `field`.
absl::Status NotFound(absl::string_view field, absl::string_view why);

// Why a request was not authenticated or not allowed: the countd/reason payload of the statuses
// AuthFailure builds. server/errors.cc maps each to its protocol form.
namespace auth_reason {
inline constexpr absl::string_view kUnknownTenant = "unknown_tenant";  // UNAUTHENTICATED, 400093
inline constexpr absl::string_view kNoCredentials = "no_credentials";  // UNAUTHENTICATED, 403007
inline constexpr absl::string_view kBadSecret = "bad_secret";          // UNAUTHENTICATED, 403007
inline constexpr absl::string_view kBadSignature = "bad_signature";    // UNAUTHENTICATED, 403003
inline constexpr absl::string_view kExpired = "expired";               // UNAUTHENTICATED, 403002
inline constexpr absl::string_view kReplay = "replay";                 // UNAUTHENTICATED, 403004
inline constexpr absl::string_view kInsecure = "insecure";         // secret over plain HTTP: 400001
inline constexpr absl::string_view kRole = "role";                 // PERMISSION_DENIED, 403007
inline constexpr absl::string_view kOtherTenant = "other_tenant";  // PERMISSION_DENIED, 403007
inline constexpr absl::string_view kOrigin = "origin";             // PERMISSION_DENIED, Qubit 403
inline constexpr absl::string_view kRateLimited = "rate_limited";  // RESOURCE_EXHAUSTED, 403048
}  // namespace auth_reason

// An authentication or authorization failure with one of the auth_reason values: the code is
// UNAUTHENTICATED, PERMISSION_DENIED (kRole, kOtherTenant, kOrigin) or RESOURCE_EXHAUSTED
// (kRateLimited). `field` names the parameter at fault ("sig", "timestamp", "apiKey", ...; may
// be empty). The message never contains a secret or signature value.
absl::Status AuthFailure(absl::string_view reason, absl::string_view field, absl::string_view why);

// The field named by a status made above; empty when none.
std::string FieldOf(const absl::Status& status);
// The reason payload ("missing", "format") or empty.
std::string ReasonOf(const absl::Status& status);

// Shortens `value` for an error message (at most 64 bytes, non-printables escaped).
std::string Quote(absl::string_view value);

// Prefixes the field of `status` with `prefix` (e.g. "counters[3]." + "path"). Keeps payloads.
absl::Status WithFieldPrefix(const absl::Status& status, absl::string_view prefix);

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_STATUS_UTIL_H_
