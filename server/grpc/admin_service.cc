#include "server/grpc/admin_service.h"

#include "server/grpc/reactor.h"

namespace countd::grpc_edge {

grpc::ServerUnaryReactor* AdminService::Backup(grpc::CallbackServerContext* ctx,
    const v1::BackupRequest* req, v1::BackupResponse* resp) {
  return RunUnary(ctx, executor_, auth_->CheckOperatorCall(*ctx),
                  [this, req, resp] { return api_->Backup(*req, resp); });
}

grpc::ServerUnaryReactor* AdminService::CreateTenant(grpc::CallbackServerContext* ctx,
    const v1::CreateTenantRequest* req, v1::CreateTenantResponse* resp) {
  return RunUnary(ctx, executor_, auth_->CheckOperatorCall(*ctx),
                  [this, req, resp] { return api_->CreateTenant(*req, resp); });
}

grpc::ServerUnaryReactor* AdminService::GetTenant(grpc::CallbackServerContext* ctx,
    const v1::GetTenantRequest* req, v1::GetTenantResponse* resp) {
  return RunUnary(ctx, executor_, auth_->CheckOperatorCall(*ctx),
                  [this, req, resp] { return api_->GetTenant(*req, resp); });
}

grpc::ServerUnaryReactor* AdminService::ListTenants(grpc::CallbackServerContext* ctx,
    const v1::ListTenantsRequest* req, v1::ListTenantsResponse* resp) {
  return RunUnary(ctx, executor_, auth_->CheckOperatorCall(*ctx),
                  [this, req, resp] { return api_->ListTenants(*req, resp); });
}

grpc::ServerUnaryReactor* AdminService::UpdateTenant(grpc::CallbackServerContext* ctx,
    const v1::UpdateTenantRequest* req, v1::UpdateTenantResponse* resp) {
  return RunUnary(ctx, executor_, auth_->CheckOperatorCall(*ctx),
                  [this, req, resp] { return api_->UpdateTenant(*req, resp); });
}

grpc::ServerUnaryReactor* AdminService::DeleteTenant(grpc::CallbackServerContext* ctx,
    const v1::DeleteTenantRequest* req, v1::DeleteTenantResponse* resp) {
  return RunUnary(ctx, executor_, auth_->CheckOperatorCall(*ctx),
                  [this, req, resp] { return api_->DeleteTenant(*req, resp); });
}

grpc::ServerUnaryReactor* AdminService::AddSecret(grpc::CallbackServerContext* ctx,
    const v1::AddSecretRequest* req, v1::AddSecretResponse* resp) {
  return RunUnary(ctx, executor_, auth_->CheckOperatorCall(*ctx),
                  [this, req, resp] { return api_->AddSecret(*req, resp); });
}

grpc::ServerUnaryReactor* AdminService::RevokeSecret(grpc::CallbackServerContext* ctx,
    const v1::RevokeSecretRequest* req, v1::RevokeSecretResponse* resp) {
  return RunUnary(ctx, executor_, auth_->CheckOperatorCall(*ctx),
                  [this, req, resp] { return api_->RevokeSecret(*req, resp); });
}

}  // namespace countd::grpc_edge
