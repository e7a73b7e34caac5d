// server/api/admin_api.h — the Admin service at the level of protobuf messages: converts
// requests to logic arguments and results back.
#ifndef COUNTD_SERVER_API_ADMIN_API_H_
#define COUNTD_SERVER_API_ADMIN_API_H_

#include "absl/status/status.h"
#include "countd/v1/admin.pb.h"
#include "server/api/rpc.h"
#include "server/logic/admin.h"
#include "server/logic/tenants.h"

namespace countd::api {

// Stateless apart from the logic objects, which must outlive it. Thread-safe.
// Each method fills `resp` and returns the call's status (errors as the logic method says, plus
// INVALID_ARGUMENT naming "role" for a SecretRole value the proto does not define).
class AdminApi {
 public:
  // `tenants` may be nullptr when no tenant registry is open (--auth=off without
  // --secrets-key-file): the tenant methods then fail FAILED_PRECONDITION saying so.
  AdminApi(logic::Admin* admin, logic::TenantRegistry* tenants)
      : admin_(admin), tenants_(tenants) {}

  absl::Status Backup(const v1::BackupRequest& req, v1::BackupResponse* resp);

  absl::Status CreateTenant(const v1::CreateTenantRequest& req, v1::CreateTenantResponse* resp);
  absl::Status GetTenant(const v1::GetTenantRequest& req, v1::GetTenantResponse* resp);
  absl::Status ListTenants(const v1::ListTenantsRequest& req, v1::ListTenantsResponse* resp);
  absl::Status UpdateTenant(const v1::UpdateTenantRequest& req, v1::UpdateTenantResponse* resp);
  absl::Status DeleteTenant(const v1::DeleteTenantRequest& req, v1::DeleteTenantResponse* resp);
  absl::Status AddSecret(const v1::AddSecretRequest& req, v1::AddSecretResponse* resp);
  absl::Status RevokeSecret(const v1::RevokeSecretRequest& req, v1::RevokeSecretResponse* resp);

 private:
  // The registry, or FAILED_PRECONDITION when none is open.
  absl::StatusOr<logic::TenantRegistry*> Registry() const;

  logic::Admin* admin_;
  logic::TenantRegistry* tenants_;
};

// The method table of countd.v1.Admin (server/api/rpc.h).
inline constexpr auto kAdminMethods =
    MakeMethodTable("Admin", Rpc<&AdminApi::Backup>{"Backup", Access::kOperator},
                    Rpc<&AdminApi::CreateTenant>{"CreateTenant", Access::kOperator},
                    Rpc<&AdminApi::GetTenant>{"GetTenant", Access::kOperator},
                    Rpc<&AdminApi::ListTenants>{"ListTenants", Access::kOperator},
                    Rpc<&AdminApi::UpdateTenant>{"UpdateTenant", Access::kOperator},
                    Rpc<&AdminApi::DeleteTenant>{"DeleteTenant", Access::kOperator},
                    Rpc<&AdminApi::AddSecret>{"AddSecret", Access::kOperator},
                    Rpc<&AdminApi::RevokeSecret>{"RevokeSecret", Access::kOperator});

}  // namespace countd::api

#endif  // COUNTD_SERVER_API_ADMIN_API_H_
