#include "server/logic/status_util.h"

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace countd::logic {
namespace {

absl::Status Make(absl::StatusCode code, absl::string_view field, absl::string_view reason,
                  std::string message) {
  absl::Status s(code, message);
  s.SetPayload(kFieldPayload, absl::Cord(field));
  if (!reason.empty()) s.SetPayload(kReasonPayload, absl::Cord(reason));
  return s;
}

}  // namespace

absl::Status Unparseable(absl::string_view why) {
  return Make(absl::StatusCode::kInvalidArgument, "request", "unparseable",
              absl::StrCat("request: ", why));
}

absl::Status MissingField(absl::string_view field) {
  return Make(absl::StatusCode::kInvalidArgument, field, "missing",
              absl::StrCat(field, ": required"));
}

absl::Status BadFormat(absl::string_view field, absl::string_view why) {
  return Make(absl::StatusCode::kInvalidArgument, field, "format", absl::StrCat(field, ": ", why));
}

absl::Status BadValue(absl::string_view field, absl::string_view why) {
  return Make(absl::StatusCode::kInvalidArgument, field, "", absl::StrCat(field, ": ", why));
}

absl::Status Refused(absl::string_view field, absl::string_view why) {
  return Make(absl::StatusCode::kFailedPrecondition, field, "", absl::StrCat(field, ": ", why));
}

absl::Status NotFound(absl::string_view field, absl::string_view why) {
  return Make(absl::StatusCode::kNotFound, field, "", absl::StrCat(field, ": ", why));
}

absl::Status AuthFailure(absl::string_view reason, absl::string_view field, absl::string_view why) {
  absl::StatusCode code = absl::StatusCode::kUnauthenticated;
  if (reason == auth_reason::kRole || reason == auth_reason::kOtherTenant ||
      reason == auth_reason::kOrigin) {
    code = absl::StatusCode::kPermissionDenied;
  } else if (reason == auth_reason::kRateLimited) {
    code = absl::StatusCode::kResourceExhausted;
  }
  return Make(code, field, reason,
              field.empty() ? std::string(why) : absl::StrCat(field, ": ", why));
}

std::string FieldOf(const absl::Status& status) {
  absl::optional<absl::Cord> field = status.GetPayload(kFieldPayload);
  return field.has_value() ? std::string(*field) : std::string();
}

std::string ReasonOf(const absl::Status& status) {
  absl::optional<absl::Cord> reason = status.GetPayload(kReasonPayload);
  return reason.has_value() ? std::string(*reason) : std::string();
}

std::string Quote(absl::string_view value) {
  constexpr size_t kMax = 64;
  std::string out = "\"";
  out += absl::CHexEscape(value.substr(0, kMax));
  out += value.size() > kMax ? "\"..." : "\"";
  return out;
}

absl::Status WithFieldPrefix(const absl::Status& status, absl::string_view prefix) {
  if (status.ok()) return status;
  std::string field = FieldOf(status);
  absl::Status out(status.code(), absl::StrCat(prefix, status.message()));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  out.SetPayload(kFieldPayload, absl::Cord(absl::StrCat(prefix, field)));
  return out;
}

}  // namespace countd::logic
