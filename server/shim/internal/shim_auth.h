// server/shim/internal/shim_auth.h — authentication and admission on the JSON shim (internal to
// server/shim): Gigya credentials (secret parameter or signed request), the origin and rate rules
// of the browser routes (Stash, Tally), and the header credential of the canonical routes. The
// decisions are the tenant registry's; this layer reads them out of HTTP requests.
#ifndef COUNTD_SERVER_SHIM_INTERNAL_SHIM_AUTH_H_
#define COUNTD_SERVER_SHIM_INTERNAL_SHIM_AUTH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/http/http_server.h"
#include "server/logic/tenants.h"
#include "server/shim/internal/gigya/params.h"
#include "storage/clock.h"

namespace countd::shim {

struct ShimAuthOptions {
  logic::TenantRegistry* tenants = nullptr;  // required; must outlive the ShimAuth
  const storage::Clock* clock = nullptr;     // required; must outlive the ShimAuth
  // Accept the Gigya `secret` parameter on plain-HTTP connections (--allow-insecure-secret).
  bool allow_insecure_secret = false;
  // A signed request's timestamp may be this far from the server's clock, either way; its
  // nonce is remembered (TenantRegistry::UseNonce) for that long after the timestamp.
  absl::Duration signature_window = absl::Seconds(120);
};

// Thread-safe. Every error is an absl::Status for server/errors.cc (AuthFailure reasons,
// MissingField / BadFormat for malformed credential parameters); no message holds a secret,
// signature, nonce or timestamp value.
class ShimAuth {
 public:
  explicit ShimAuth(const ShimAuthOptions& options);

  // A Gigya call of the gRPC method `service`/`rpc` (e.g. "Counters", "IncrementCounters"):
  // checks, in this order, apiKey (or APIKey) present (400002) and registered (kUnknownTenant,
  // field apiKey); then the credential: `secret` [+ `userKey`] (kInsecure on plain HTTP unless
  // allowed; kBadSecret), or a signature: `timestamp` (400002 missing / 400004 not an integer),
  // `nonce` (400002; 400006 when longer than 256 bytes), `sig` (400002), timestamp within the
  // window (kExpired), signature (kBadSignature), nonce unused (kReplay; kRateLimited when the
  // tenant's nonce records are full); neither → kNoCredentials; both → 400006 naming secret.
  // Then the secret's role against the method (kRole) and the tenant's rate (kRateLimited).
  absl::Status CheckGigya(const GigyaParams& params, const http::HttpRequest& request,
                          absl::string_view service, absl::string_view rpc);

  // A Stash or Tally call for `tenant` (the tracking id in the path): the tenant must be
  // registered (kUnknownTenant), the request's Origin header allowed (kOrigin) and, when
  // `admit`, the tenant's rate not exceeded (kRateLimited). Returns the value for
  // Access-Control-Allow-Origin: "*" when the tenant allows any origin, else the request's
  // origin (which then was allowed).
  absl::StatusOr<std::string> CheckBrowser(absl::string_view tenant,
                                           const http::HttpRequest& request, bool admit);

  // The caller of a canonical /v1/ route, from its headers (logic::ParseTenantCredentials):
  // kNoCredentials when absent or malformed, kUnknownTenant, kBadSecret.
  absl::StatusOr<logic::Principal> AuthenticateHeaders(const http::HttpRequest& request);

  // `principal` may call `service`/`rpc` on `tenant` (kOtherTenant, kRole) and the tenant's
  // rate admits one more request (kRateLimited).
  absl::Status Authorize(const logic::Principal& principal, absl::string_view tenant,
                         absl::string_view service, absl::string_view rpc);

 private:
  absl::StatusOr<logic::Principal> CheckSigned(const GigyaParams& params,
                                               const http::HttpRequest& request,
                                               const std::string& tenant,
                                               absl::string_view secret_id);

  const ShimAuthOptions options_;
};

}  // namespace countd::shim

#endif  // COUNTD_SERVER_SHIM_INTERNAL_SHIM_AUTH_H_
