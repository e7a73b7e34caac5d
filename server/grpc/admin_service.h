// server/grpc/admin_service.h — the gRPC edge of countd.v1.Admin: converts messages to logic
// arguments and back, nothing more.
#ifndef COUNTD_SERVER_GRPC_ADMIN_SERVICE_H_
#define COUNTD_SERVER_GRPC_ADMIN_SERVICE_H_

#include "countd/v1/admin.grpc.pb.h"
#include "server/executor.h"
#include "server/grpc/admin_api.h"

namespace countd::grpc_edge {

// Thread-safe; `api` and `executor` must outlive it. Admin calls block on the disk for as long as
// a backup takes, so `executor` should be a worker pool of their own (the server gives them one
// thread), never the inline executor of the request path.
class AdminService final : public v1::Admin::CallbackService {
 public:
  AdminService(AdminApi* api, Executor* executor) : api_(api), executor_(executor) {}

  grpc::ServerUnaryReactor* Backup(grpc::CallbackServerContext* ctx, const v1::BackupRequest* req,
                                   v1::BackupResponse* resp) override;

 private:
  AdminApi* api_;
  Executor* executor_;
};

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_ADMIN_SERVICE_H_
