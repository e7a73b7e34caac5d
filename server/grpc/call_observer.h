// server/grpc/call_observer.h — what the gRPC edge reports about each call it serves itself (the
// countd.v1 table services): one observer per method, resolved once at start, so counting a call
// costs no lookup, no lock and no allocation.
#ifndef COUNTD_SERVER_GRPC_CALL_OBSERVER_H_
#define COUNTD_SERVER_GRPC_CALL_OBSERVER_H_

#include <string>

#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace countd::grpc_edge {

// The calls of one method. Thread-safe.
class MethodCallObserver {
 public:
  virtual ~MethodCallObserver() = default;
  // A call of the method arrived (it is in flight until Finished).
  virtual void Started() = 0;
  // The call's status is about to be sent; `seconds` since Started. Runs once per started call.
  // `ctx` is the call's context (its peer is read only when the call is logged).
  virtual void Finished(const grpc::Status& status, double seconds,
                        const grpc::ServerContext& ctx) = 0;
};

// Hands out the observers. Thread-safe.
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  // The observer of the calls of `method_path` ("/countd.v1.Counters/Incr"); it lives as long as
  // this object. Call only before the gRPC server starts: from then on the calls of that method
  // are reported here only (not also by a general interceptor).
  virtual MethodCallObserver* ObserveMethod(const std::string& method_path) = 0;
};

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_CALL_OBSERVER_H_
