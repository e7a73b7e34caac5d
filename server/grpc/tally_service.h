// server/grpc/tally_service.h — the gRPC edge of countd.v1.Tally.
#ifndef COUNTD_SERVER_GRPC_TALLY_SERVICE_H_
#define COUNTD_SERVER_GRPC_TALLY_SERVICE_H_

#include "countd/v1/tally.grpc.pb.h"
#include "server/executor.h"
#include "server/grpc/grpc_auth.h"
#include "server/grpc/tally_api.h"

namespace countd::grpc_edge {

// Thread-safe; `api`, `executor` and `auth` must outlive it. Every call is checked by
// `auth` (GrpcAuth::CheckTenantCall) before its work is queued.
class TallyService final : public v1::Tally::CallbackService {
 public:
  TallyService(TallyApi* api, Executor* executor, const GrpcAuth* auth)
      : api_(api), executor_(executor), auth_(auth) {}

  grpc::ServerUnaryReactor* Increment(grpc::CallbackServerContext* ctx,
                                      const v1::TallyIncrementRequest* req,
                                      v1::TallyIncrementResponse* resp) override;
  grpc::ServerUnaryReactor* GetCount(grpc::CallbackServerContext* ctx,
                                     const v1::GetCountRequest* req,
                                     v1::GetCountResponse* resp) override;
  grpc::ServerUnaryReactor* GetTopK(grpc::CallbackServerContext* ctx,
                                    const v1::GetTopKRequest* req,
                                    v1::GetTopKResponse* resp) override;

 private:
  TallyApi* api_;
  Executor* executor_;
  const GrpcAuth* auth_;
};

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_TALLY_SERVICE_H_
