// server/grpc/counters_service.h — the gRPC edge of countd.v1.Counters: converts messages to
// logic arguments and back, nothing more.
#ifndef COUNTD_SERVER_GRPC_COUNTERS_SERVICE_H_
#define COUNTD_SERVER_GRPC_COUNTERS_SERVICE_H_

#include "countd/v1/counters.grpc.pb.h"
#include "server/executor.h"
#include "server/grpc/grpc_auth.h"
#include "server/grpc/counters_api.h"

namespace countd::grpc_edge {

// Thread-safe; `api`, `executor` and `auth` must outlive it. Every call is checked by
// `auth` (GrpcAuth::CheckTenantCall) before its work is queued.
class CountersService final : public v1::Counters::CallbackService {
 public:
  CountersService(CountersApi* api, Executor* executor, const GrpcAuth* auth)
      : api_(api), executor_(executor), auth_(auth) {}

  grpc::ServerUnaryReactor* RegisterCounters(grpc::CallbackServerContext* ctx,
                                             const v1::RegisterCountersRequest* req,
                                             v1::RegisterCountersResponse* resp) override;
  grpc::ServerUnaryReactor* GetRegisteredCounters(grpc::CallbackServerContext* ctx,
                                                  const v1::GetRegisteredCountersRequest* req,
                                                  v1::GetRegisteredCountersResponse* resp) override;
  grpc::ServerUnaryReactor* UnregisterCounters(grpc::CallbackServerContext* ctx,
                                               const v1::UnregisterCountersRequest* req,
                                               v1::UnregisterCountersResponse* resp) override;
  grpc::ServerUnaryReactor* SetCounterSettings(grpc::CallbackServerContext* ctx,
                                               const v1::SetCounterSettingsRequest* req,
                                               v1::SetCounterSettingsResponse* resp) override;
  grpc::ServerUnaryReactor* GetCounterSettings(grpc::CallbackServerContext* ctx,
                                               const v1::GetCounterSettingsRequest* req,
                                               v1::GetCounterSettingsResponse* resp) override;
  grpc::ServerUnaryReactor* IncrementCounters(grpc::CallbackServerContext* ctx,
                                              const v1::IncrementCountersRequest* req,
                                              v1::IncrementCountersResponse* resp) override;
  grpc::ServerUnaryReactor* GetCounters(grpc::CallbackServerContext* ctx,
                                        const v1::GetCountersRequest* req,
                                        v1::GetCountersResponse* resp) override;
  grpc::ServerUnaryReactor* Incr(grpc::CallbackServerContext* ctx, const v1::IncrRequest* req,
                                 v1::IncrResponse* resp) override;
  grpc::ServerUnaryReactor* Decr(grpc::CallbackServerContext* ctx, const v1::DecrRequest* req,
                                 v1::DecrResponse* resp) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetRequest* req,
                                v1::GetResponse* resp) override;
  grpc::ServerUnaryReactor* GetBatch(grpc::CallbackServerContext* ctx,
                                     const v1::GetBatchRequest* req,
                                     v1::GetBatchResponse* resp) override;

 private:
  CountersApi* api_;
  Executor* executor_;
  const GrpcAuth* auth_;
};

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_COUNTERS_SERVICE_H_
