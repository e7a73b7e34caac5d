// server/grpc/reactor.h — runs one unary call's work on the executor and finishes it with the
// status mapped once, in server/errors.cc.
#ifndef COUNTD_SERVER_GRPC_REACTOR_H_
#define COUNTD_SERVER_GRPC_REACTOR_H_

#include <utility>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "server/errors.h"
#include "server/executor.h"

namespace countd::grpc_edge {

// `work` fills the response and returns the call's status; it runs on `executor` (inline or a
// worker). A saturated executor answers RESOURCE_EXHAUSTED without running it.
template <typename Work>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* ctx, Executor* executor,
                                   Work work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
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
