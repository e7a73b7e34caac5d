// server/grpc/grpc_auth.h — who may make a gRPC call: the credentials in a call's metadata,
// checked against the tenant registry (Counters, Tally, GameMechanics) or the operator token
// (Admin). The decisions are logic's (TenantRegistry, Authorize); this reads them out of gRPC
// metadata. grpc.health.v1 and reflection are not countd's services and are never checked.
//
// Metadata (keys are lower case in gRPC):
//   tenant calls:  authorization: Bearer <tenant>:<secret>   (split at the last ':')
//             or   x-countd-tenant: <tenant> + x-countd-secret: <secret>
//                  [+ x-countd-secret-id: s2 to name the secret]
//   Admin calls:   authorization: Bearer <operator token>
#ifndef COUNTD_SERVER_GRPC_GRPC_AUTH_H_
#define COUNTD_SERVER_GRPC_GRPC_AUTH_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"
#include "server/api/rpc.h"
#include "server/logic/tenants.h"

namespace countd::grpc_edge {

struct GrpcAuthOptions {
  // The tenant registry; nullptr when none is open. Must outlive the GrpcAuth.
  logic::TenantRegistry* tenants = nullptr;
  // Tenant calls must carry credentials of their tenant (--auth=required; needs `tenants`).
  // false (--auth=off): tenant calls are not checked at all.
  bool require_tenant_credentials = false;
  // The token every Admin call must present; empty = Admin is open (--auth=off without
  // --operator-token-file). Never logged, never put in a message.
  std::string operator_token;
};

// Immutable after construction: thread-safe. Every error is an absl::Status for
// server/errors.cc (logic::AuthFailure reasons); no message holds a secret or token.
class GrpcAuth {
 public:
  explicit GrpcAuth(GrpcAuthOptions options);
  ~GrpcAuth();

  // The metadata of a call as gRPC hands it over (ServerContextBase::client_metadata()).
  using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

  // A call that needs `access` (its row in the method table, server/api/rpc.h) on `tenant` (the
  // request's tenant field; ignored for Access::kOperator). Tenant calls: OK at once when tenant
  // checks are off. Else, in order: the credential is present and well-formed (UNAUTHENTICATED
  // kNoCredentials naming the metadata key), the tenant is registered (kUnknownTenant) and the
  // secret is live (kBadSecret); the credential's tenant is `tenant` (PERMISSION_DENIED
  // kOtherTenant) and its role allows `access` (PERMISSION_DENIED kRole); the tenant's rate
  // admits the call (RESOURCE_EXHAUSTED kRateLimited).
  // Operator calls (Admin): OK when Admin is open or the call carries the operator token
  // (compared in constant time). UNAUTHENTICATED without a credential or with a wrong token;
  // PERMISSION_DENIED (kRole) with a valid tenant credential.
  absl::Status Check(const Metadata& metadata, api::Access access, absl::string_view tenant) const;

 private:
  absl::Status CheckTenantCall(const Metadata& metadata, api::Access access,
                               absl::string_view tenant) const;
  absl::Status CheckOperatorCall(const Metadata& metadata) const;

  GrpcAuthOptions options_;  // not changed after construction (the destructor wipes the token)
};

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_GRPC_AUTH_H_
