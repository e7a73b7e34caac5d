// server/grpc/reactor.h — runs one unary call's work on the executor and finishes it with the
// status mapped once, in server/errors.cc.
#ifndef COUNTD_SERVER_GRPC_REACTOR_H_
#define COUNTD_SERVER_GRPC_REACTOR_H_

#include <utility>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "server/executor.h"
#include "server/grpc/grpc_status.h"

namespace countd::grpc_edge {

// `admitted` is the call's authentication and authorization (GrpcAuth::CheckTenantCall or
// CheckOperatorCall, evaluated by the caller before the work is queued): when it is not OK the
// call finishes with it at once and `work` never runs. Otherwise `work` fills the response and
// returns the call's status; it runs on `executor` (inline or a worker). A saturated executor
// answers RESOURCE_EXHAUSTED without running it.
template <typename Work>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* ctx, Executor* executor,
                                   const absl::Status& admitted, Work work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!admitted.ok()) {
    reactor->Finish(ToGrpcStatus(admitted));
    return reactor;
  }
  bool scheduled = executor->Schedule([reactor, ctx, work = std::move(work)]() mutable {
    if (ctx->IsCancelled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled before it ran"));
      return;
    }
    reactor->Finish(ToGrpcStatus(work()));
  });
  if (!scheduled) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "server overloaded: request queue is full"));
  }
  return reactor;
}

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_REACTOR_H_
