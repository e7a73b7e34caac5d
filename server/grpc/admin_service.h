// server/grpc/admin_service.h — the gRPC edge of countd.v1.Admin: converts messages to logic
// arguments and back, nothing more.
#ifndef COUNTD_SERVER_GRPC_ADMIN_SERVICE_H_
#define COUNTD_SERVER_GRPC_ADMIN_SERVICE_H_

#include "countd/v1/admin.grpc.pb.h"
#include "server/executor.h"
#include "server/grpc/admin_api.h"
#include "server/grpc/grpc_auth.h"

namespace countd::grpc_edge {

// Thread-safe; `api`, `executor` and `auth` must outlive it. Every call must pass
// GrpcAuth::CheckOperatorCall before its work is queued. Admin calls block on the disk for as
// long as a backup takes, so `executor` should be a worker pool of their own (the server gives
// them one thread), never the inline executor of the request path.
class AdminService final : public v1::Admin::CallbackService {
 public:
  AdminService(AdminApi* api, Executor* executor, const GrpcAuth* auth)
      : api_(api), executor_(executor), auth_(auth) {}

  grpc::ServerUnaryReactor* Backup(grpc::CallbackServerContext* ctx, const v1::BackupRequest* req,
                                   v1::BackupResponse* resp) override;
  grpc::ServerUnaryReactor* CreateTenant(grpc::CallbackServerContext* ctx,
                                         const v1::CreateTenantRequest* req,
                                         v1::CreateTenantResponse* resp) override;
  grpc::ServerUnaryReactor* GetTenant(grpc::CallbackServerContext* ctx,
                                      const v1::GetTenantRequest* req,
                                      v1::GetTenantResponse* resp) override;
  grpc::ServerUnaryReactor* ListTenants(grpc::CallbackServerContext* ctx,
                                        const v1::ListTenantsRequest* req,
                                        v1::ListTenantsResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateTenant(grpc::CallbackServerContext* ctx,
                                         const v1::UpdateTenantRequest* req,
                                         v1::UpdateTenantResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteTenant(grpc::CallbackServerContext* ctx,
                                         const v1::DeleteTenantRequest* req,
                                         v1::DeleteTenantResponse* resp) override;
  grpc::ServerUnaryReactor* AddSecret(grpc::CallbackServerContext* ctx,
                                      const v1::AddSecretRequest* req,
                                      v1::AddSecretResponse* resp) override;
  grpc::ServerUnaryReactor* RevokeSecret(grpc::CallbackServerContext* ctx,
                                         const v1::RevokeSecretRequest* req,
                                         v1::RevokeSecretResponse* resp) override;

 private:
  AdminApi* api_;
  Executor* executor_;
  const GrpcAuth* auth_;
};

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_ADMIN_SERVICE_H_
