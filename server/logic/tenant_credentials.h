// server/logic/tenant_credentials.h — reads a tenant's credential from the request headers
// (HTTP) or metadata (gRPC) every non-Gigya edge accepts:
//   authorization: Bearer <tenant>:<secret>
// or
//   x-countd-tenant: <tenant>   x-countd-secret: <secret>
// with an optional x-countd-secret-id: <secret id> naming which live secret is meant.
// Protocol-free: the callers look the values up; checking them is TenantRegistry::CheckSecret.
#ifndef COUNTD_SERVER_LOGIC_TENANT_CREDENTIALS_H_
#define COUNTD_SERVER_LOGIC_TENANT_CREDENTIALS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace countd::logic {

struct TenantCredentials {
  std::string tenant;
  std::string secret;     // never logged, never put in an error message
  std::string secret_id;  // "" = any live secret of the tenant
};

// The values of the headers (nullopt when the header is absent). A Bearer credential is split
// at its last ':' (tenant names hold none; secrets are base64). The scheme name "Bearer" is
// case-insensitive.
// Errors (all AuthFailure, UNAUTHENTICATED; messages never hold the secret):
//   kNoCredentials with an empty field when none of authorization / x-countd-tenant /
//   x-countd-secret is present; kNoCredentials naming "authorization" when that header is not
//   "Bearer <tenant>:<secret>" with both parts non-empty, or when it is sent together with
//   x-countd-tenant / x-countd-secret; naming "x-countd-tenant" or "x-countd-secret" when one of
//   the pair is absent or empty; naming "x-countd-secret-id" when it is present but empty.
absl::StatusOr<TenantCredentials> ParseTenantCredentials(
    absl::optional<absl::string_view> authorization, absl::optional<absl::string_view> tenant,
    absl::optional<absl::string_view> secret, absl::optional<absl::string_view> secret_id);

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_TENANT_CREDENTIALS_H_
