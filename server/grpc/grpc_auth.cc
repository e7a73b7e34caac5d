#include "server/grpc/grpc_auth.h"

#include <iterator>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "server/logic/secret_box.h"
#include "server/logic/status_util.h"
#include "server/logic/tenant_credentials.h"

namespace countd::grpc_edge {
namespace {

namespace reason = logic::auth_reason;

using Metadata = GrpcAuth::Metadata;

// The value of metadata `key` (nullopt when absent). Errors: kNoCredentials naming the key when
// it is sent more than once (which value would count is not obvious; refuse rather than guess).
absl::StatusOr<absl::optional<absl::string_view>> Single(const Metadata& metadata,
                                                         absl::string_view key) {
  auto [begin, end] = metadata.equal_range(grpc::string_ref(key.data(), key.size()));
  if (begin == end) return absl::optional<absl::string_view>();
  if (std::next(begin) != end) {
    return logic::AuthFailure(reason::kNoCredentials, key, "is sent more than once");
  }
  return absl::optional<absl::string_view>(
      absl::string_view(begin->second.data(), begin->second.size()));
}

// The tenant credential of a call's metadata, with the metadata key that carried its tenant and
// its secret (for error messages).
struct Presented {
  logic::TenantCredentials credentials;
  absl::string_view tenant_key;
  absl::string_view secret_key;
};

absl::StatusOr<Presented> ReadCredentials(const Metadata& metadata) {
  absl::StatusOr<absl::optional<absl::string_view>> authorization =
      Single(metadata, "authorization");
  if (!authorization.ok()) return authorization.status();
  absl::StatusOr<absl::optional<absl::string_view>> tenant = Single(metadata, "x-countd-tenant");
  if (!tenant.ok()) return tenant.status();
  absl::StatusOr<absl::optional<absl::string_view>> secret = Single(metadata, "x-countd-secret");
  if (!secret.ok()) return secret.status();
  absl::StatusOr<absl::optional<absl::string_view>> secret_id =
      Single(metadata, "x-countd-secret-id");
  if (!secret_id.ok()) return secret_id.status();
  absl::StatusOr<logic::TenantCredentials> credentials =
      logic::ParseTenantCredentials(*authorization, *tenant, *secret, *secret_id);
  if (!credentials.ok()) return credentials.status();
  Presented out;
  out.credentials = *std::move(credentials);
  out.tenant_key = authorization->has_value() ? "authorization" : "x-countd-tenant";
  out.secret_key = authorization->has_value() ? "authorization" : "x-countd-secret";
  return out;
}

// Checks a presented credential against the registry. The registry's failures are re-worded to
// name the metadata key the caller used; the secret never appears.
absl::StatusOr<logic::Principal> Authenticate(logic::TenantRegistry* tenants,
                                              const Presented& presented) {
  const logic::TenantCredentials& c = presented.credentials;
  absl::StatusOr<logic::Principal> principal =
      tenants->CheckSecret(c.tenant, c.secret_id, c.secret);
  if (principal.ok()) return principal;
  const std::string why = logic::ReasonOf(principal.status());
  if (why == reason::kUnknownTenant) {
    return logic::AuthFailure(
        reason::kUnknownTenant, presented.tenant_key,
        absl::StrCat("names tenant ", logic::Quote(c.tenant), ", which is not registered"));
  }
  if (why == reason::kBadSecret) {
    return logic::AuthFailure(
        reason::kBadSecret, presented.secret_key,
        absl::StrCat("does not hold a live secret of tenant ", logic::Quote(c.tenant),
                     c.secret_id.empty() ? std::string()
                                         : absl::StrCat(" with id ", logic::Quote(c.secret_id))));
  }
  return principal.status();
}

}  // namespace

GrpcAuth::GrpcAuth(GrpcAuthOptions options) : options_(std::move(options)) {}

GrpcAuth::~GrpcAuth() { logic::Cleanse(&options_.operator_token); }

absl::Status GrpcAuth::Check(const Metadata& metadata, api::Access access,
                             absl::string_view tenant) const {
  if (access == api::Access::kOperator) return CheckOperatorCall(metadata);
  return CheckTenantCall(metadata, access, tenant);
}

absl::Status GrpcAuth::CheckTenantCall(const Metadata& metadata, api::Access access,
                                       absl::string_view tenant) const {
  if (!options_.require_tenant_credentials) return absl::OkStatus();
  if (options_.tenants == nullptr) {
    // A wiring bug; refuse rather than serve unauthenticated.
    return absl::InternalError("authentication is required but no tenant registry is open");
  }
  absl::StatusOr<Presented> presented = ReadCredentials(metadata);
  if (!presented.ok()) return presented.status();
  absl::StatusOr<logic::Principal> principal = Authenticate(options_.tenants, *presented);
  if (!principal.ok()) return principal.status();
  absl::Status s =
      logic::Authorize(*principal, tenant,
                       access == api::Access::kRead ? logic::Access::kRead : logic::Access::kWrite);
  if (!s.ok()) return s;
  return options_.tenants->Admit(tenant);
}

absl::Status GrpcAuth::CheckOperatorCall(const Metadata& metadata) const {
  if (options_.operator_token.empty()) return absl::OkStatus();
  absl::StatusOr<absl::optional<absl::string_view>> authorization =
      Single(metadata, "authorization");
  if (!authorization.ok()) return authorization.status();
  constexpr absl::string_view kHowTo =
      "countd.v1.Admin needs \"authorization: Bearer <operator token>\" (the token of "
      "--operator-token-file)";
  if (authorization->has_value()) {
    absl::string_view value = absl::StripAsciiWhitespace(**authorization);
    constexpr absl::string_view kScheme = "bearer ";
    if (!absl::StartsWithIgnoreCase(value, kScheme)) {
      return logic::AuthFailure(reason::kNoCredentials, "authorization",
                                absl::StrCat("is not a Bearer credential: ", kHowTo));
    }
    absl::string_view token = absl::StripLeadingAsciiWhitespace(value.substr(kScheme.size()));
    if (logic::ConstantTimeEquals(token, options_.operator_token)) return absl::OkStatus();
  }
  // Not the operator. A tenant that authenticates is known but not allowed here.
  if (options_.tenants != nullptr) {
    absl::StatusOr<Presented> presented = ReadCredentials(metadata);
    if (presented.ok() && Authenticate(options_.tenants, *presented).ok()) {
      return logic::AuthFailure(
          reason::kRole, presented->tenant_key,
          absl::StrCat("is the credential of tenant ", logic::Quote(presented->credentials.tenant),
                       ", which may not call countd.v1.Admin: ", kHowTo));
    }
  }
  if (!authorization->has_value()) {
    return logic::AuthFailure(reason::kNoCredentials, "", absl::StrCat("no credentials: ", kHowTo));
  }
  return logic::AuthFailure(reason::kBadSecret, "authorization",
                            absl::StrCat("is not the operator token: ", kHowTo));
}

}  // namespace countd::grpc_edge
