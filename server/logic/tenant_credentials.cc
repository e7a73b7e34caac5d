#include "server/logic/tenant_credentials.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/logic/status_util.h"

namespace countd::logic {
namespace {

constexpr absl::string_view kHowTo =
    "send \"authorization: Bearer <tenant>:<secret>\", or x-countd-tenant and x-countd-secret";

absl::Status Bad(absl::string_view field, absl::string_view why) {
  return AuthFailure(auth_reason::kNoCredentials, field, why);
}

}  // namespace

absl::StatusOr<TenantCredentials> ParseTenantCredentials(
    absl::optional<absl::string_view> authorization, absl::optional<absl::string_view> tenant,
    absl::optional<absl::string_view> secret, absl::optional<absl::string_view> secret_id) {
  if (!authorization.has_value() && !tenant.has_value() && !secret.has_value()) {
    return Bad("", absl::StrCat("no credentials: ", kHowTo));
  }
  TenantCredentials out;
  if (secret_id.has_value()) {
    if (secret_id->empty()) return Bad("x-countd-secret-id", "is empty: omit it or name a secret");
    out.secret_id = std::string(*secret_id);
  }
  if (authorization.has_value()) {
    if (tenant.has_value() || secret.has_value()) {
      return Bad("authorization",
                 "sent together with x-countd-tenant/x-countd-secret: send one form only");
    }
    absl::string_view value = absl::StripAsciiWhitespace(*authorization);
    constexpr absl::string_view kScheme = "bearer ";
    if (!absl::StartsWithIgnoreCase(value, kScheme)) {
      return Bad("authorization", absl::StrCat("is not a Bearer credential: ", kHowTo));
    }
    absl::string_view token = absl::StripLeadingAsciiWhitespace(value.substr(kScheme.size()));
    size_t colon = token.rfind(':');
    if (colon == absl::string_view::npos || colon == 0 || colon + 1 == token.size()) {
      return Bad("authorization", "must be \"Bearer <tenant>:<secret>\" with both parts non-empty");
    }
    out.tenant = std::string(token.substr(0, colon));
    out.secret = std::string(token.substr(colon + 1));
    return out;
  }
  if (!tenant.has_value() || tenant->empty()) {
    return Bad("x-countd-tenant", "is required with x-countd-secret");
  }
  if (!secret.has_value() || secret->empty()) {
    return Bad("x-countd-secret", "is required with x-countd-tenant");
  }
  out.tenant = std::string(*tenant);
  out.secret = std::string(*secret);
  return out;
}

}  // namespace countd::logic
