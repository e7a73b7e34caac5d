#include "server/shim/internal/shim_auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/api/rpc.h"
#include "server/logic/status_util.h"
#include "server/logic/tenant_credentials.h"
#include "server/shim/internal/gigya/signature.h"

namespace countd::shim {
namespace {

namespace reason = logic::auth_reason;

// Longer nonces are refused: the cache keeps every nonce for the whole window.
constexpr size_t kMaxNonceBytes = 256;

bool HasReason(const absl::Status& s, absl::string_view r) { return logic::ReasonOf(s) == r; }

// The value of header `name` (lower-case), nullopt when absent. A credential header sent twice is
// refused rather than picking one of the values.
absl::StatusOr<absl::optional<absl::string_view>> SingleHeader(const http::HttpRequest& request,
                                                               absl::string_view name) {
  absl::optional<absl::string_view> found;
  for (const auto& [n, v] : request.headers) {
    if (n != name) continue;
    if (found.has_value()) {
      return logic::AuthFailure(reason::kNoCredentials, name, "is sent more than once");
    }
    found = absl::string_view(v);
  }
  return found;
}

// The registry's failures in the words of the edge, naming the edge's own field. The registry's
// messages are not passed on for these reasons, so that what a caller reads about credentials is
// decided (and reviewed for leaks) in one place.
absl::Status Relabel(const absl::Status& s, absl::string_view tenant_field,
                     absl::string_view secret_field) {
  if (HasReason(s, reason::kUnknownTenant)) {
    return logic::AuthFailure(reason::kUnknownTenant, tenant_field, "is not a registered tenant");
  }
  if (HasReason(s, reason::kBadSecret)) {
    return logic::AuthFailure(reason::kBadSecret, secret_field,
                              "does not match a live secret of the tenant");
  }
  return s;
}

// Whole seconds since the epoch: an optional '-' and 1..19 digits.
absl::optional<int64_t> ParseUnixSeconds(absl::string_view text) {
  absl::string_view digits = text;
  if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
  if (digits.empty() || digits.size() > 19) return absl::nullopt;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return absl::nullopt;
  }
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v)) return absl::nullopt;
  return v;
}

}  // namespace

ShimAuth::ShimAuth(const ShimAuthOptions& options) : options_(options) {}

absl::Status ShimAuth::CheckGigya(const GigyaParams& params, const http::HttpRequest& request,
                                  absl::string_view service, absl::string_view rpc) {
  absl::StatusOr<std::string> tenant = params.Required("apiKey");
  if (!tenant.ok()) return tenant.status();
  absl::StatusOr<logic::TenantSettings> settings = options_.tenants->Settings(*tenant);
  if (!settings.ok()) return Relabel(settings.status(), "apiKey", "secret");

  std::string secret_id;
  if (const std::string* user_key = params.Find("userKey"); user_key != nullptr) {
    if (user_key->empty()) return logic::BadValue("userKey", "is empty: omit it or name a secret");
    secret_id = *user_key;
  }
  const std::string* secret = params.Find("secret");
  const bool is_signed = params.Find("sig") != nullptr || params.Find("timestamp") != nullptr ||
                         params.Find("nonce") != nullptr;
  absl::StatusOr<logic::Principal> principal;
  if (secret != nullptr && is_signed) {
    return logic::BadValue("secret",
                           "send either secret or a signature (timestamp, nonce, sig), not both");
  } else if (secret != nullptr) {
    if (secret->empty()) return logic::MissingField("secret");
    if (!request.secure && !options_.allow_insecure_secret) {
      return logic::AuthFailure(reason::kInsecure, "secret",
                                "is refused over plain HTTP: call over HTTPS, or sign the request "
                                "(timestamp, nonce, sig) instead of sending the secret");
    }
    principal = options_.tenants->CheckSecret(*tenant, secret_id, *secret);
    if (!principal.ok()) return Relabel(principal.status(), "apiKey", "secret");
  } else if (is_signed) {
    principal = CheckSigned(params, request, *tenant, secret_id);
    if (!principal.ok()) return principal.status();
  } else {
    return logic::AuthFailure(
        reason::kNoCredentials, "",
        "no credentials: send secret (with userKey to name one) over HTTPS, or sign the request "
        "with timestamp, nonce and sig (README: Gigya request signing)");
  }
  return Authorize(*principal, *tenant, service, rpc);
}

absl::StatusOr<logic::Principal> ShimAuth::CheckSigned(const GigyaParams& params,
                                                       const http::HttpRequest& request,
                                                       const std::string& tenant,
                                                       absl::string_view secret_id) {
  absl::StatusOr<std::string> timestamp = params.Required("timestamp");
  if (!timestamp.ok()) return timestamp.status();
  absl::optional<int64_t> seconds = ParseUnixSeconds(*timestamp);
  if (!seconds.has_value()) {
    return logic::BadFormat("timestamp", "must be whole seconds since 1970-01-01 UTC");
  }
  absl::StatusOr<std::string> nonce = params.Required("nonce");
  if (!nonce.ok()) return nonce.status();
  if (nonce->size() > kMaxNonceBytes) {
    return logic::BadValue("nonce", absl::StrCat("is longer than ", kMaxNonceBytes, " bytes"));
  }
  absl::StatusOr<std::string> sig = params.Required("sig");
  if (!sig.ok()) return sig.status();

  const absl::Time signed_at = absl::FromUnixSeconds(*seconds);
  const absl::Time now = options_.clock->Now();
  if (absl::AbsDuration(now - signed_at) > options_.signature_window) {
    return logic::AuthFailure(
        reason::kExpired, "timestamp",
        absl::StrCat("is more than ", absl::FormatDuration(options_.signature_window),
                     " away from the server's time (",
                     absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now, absl::UTCTimeZone()),
                     "): check the client's clock and sign each request when it is sent"));
  }
  const std::string* host = request.Header("host");
  absl::StatusOr<std::string> url = SignatureNormalizedUrl(
      request.secure, host != nullptr ? absl::string_view(*host) : "", request.path);
  if (!url.ok()) return url.status();
  std::string base = SignatureBaseString(request.method, *url, params.All());
  absl::StatusOr<logic::Principal> principal =
      options_.tenants->CheckSignature(tenant, secret_id, base, *sig);
  if (!principal.ok()) {
    if (HasReason(principal.status(), reason::kBadSignature)) {
      // The URL the server signed for is the usual culprit (a proxy changing the scheme, host or
      // port): say which one was used.
      return logic::AuthFailure(
          reason::kBadSignature, "sig",
          absl::StrCat("does not match the request: expected Base64(HMAC-SHA1(secret, "
                       "base string)) over the URL ",
                       *url, " and every parameter but sig, signed with a live secret",
                       secret_id.empty() ? "" : " (the one userKey names)"));
    }
    return Relabel(principal.status(), "apiKey", "sig");
  }
  // Only now: a request that does not verify must not be able to fill the cache.
  absl::Status fresh =
      options_.tenants->UseNonce(tenant, *nonce, signed_at + options_.signature_window);
  if (!fresh.ok()) return fresh;
  return principal;
}

absl::StatusOr<std::string> ShimAuth::CheckBrowser(absl::string_view tenant,
                                                   const http::HttpRequest& request, bool admit) {
  absl::StatusOr<logic::TenantSettings> settings = options_.tenants->Settings(tenant);
  if (!settings.ok()) return Relabel(settings.status(), "tracking_id", "secret");
  const std::string* origin = request.Header("origin");
  absl::string_view origin_value = origin != nullptr ? absl::string_view(*origin) : "";
  absl::Status s = options_.tenants->CheckOrigin(tenant, origin_value);
  if (!s.ok()) return Relabel(s, "tracking_id", "secret");
  if (admit) {
    s = options_.tenants->Admit(tenant);
    if (!s.ok()) return Relabel(s, "tracking_id", "secret");
  }
  if (settings->allowed_origins.empty()) return std::string("*");
  return std::string(origin_value);
}

absl::StatusOr<logic::Principal> ShimAuth::AuthenticateHeaders(const http::HttpRequest& request) {
  absl::optional<absl::string_view> values[4];
  const absl::string_view names[4] = {"authorization", "x-countd-tenant", "x-countd-secret",
                                      "x-countd-secret-id"};
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<absl::optional<absl::string_view>> v = SingleHeader(request, names[i]);
    if (!v.ok()) return v.status();
    values[i] = *v;
  }
  absl::StatusOr<logic::TenantCredentials> credentials =
      logic::ParseTenantCredentials(values[0], values[1], values[2], values[3]);
  if (!credentials.ok()) return credentials.status();
  absl::StatusOr<logic::Principal> principal = options_.tenants->CheckSecret(
      credentials->tenant, credentials->secret_id, credentials->secret);
  if (!principal.ok()) return Relabel(principal.status(), "tenant", "secret");
  return principal;
}

absl::Status ShimAuth::Authorize(const logic::Principal& principal, absl::string_view tenant,
                                 absl::string_view service, absl::string_view rpc) {
  const logic::Access access = api::AccessOf(service, rpc) == api::Access::kRead
                                   ? logic::Access::kRead
                                   : logic::Access::kWrite;
  absl::Status s = logic::Authorize(principal, tenant, access);
  if (!s.ok()) return s;
  return options_.tenants->Admit(tenant);
}

}  // namespace countd::shim
