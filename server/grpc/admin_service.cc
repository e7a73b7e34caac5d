#include "server/grpc/admin_service.h"

#include "server/grpc/reactor.h"

namespace countd::grpc_edge {

grpc::ServerUnaryReactor* AdminService::Backup(grpc::CallbackServerContext* ctx,
    const v1::BackupRequest* req, v1::BackupResponse* resp) {
  return RunUnary(ctx, executor_, [this, req, resp] { return api_->Backup(*req, resp); });
}

}  // namespace countd::grpc_edge
