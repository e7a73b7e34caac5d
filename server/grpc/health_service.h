// server/grpc/health_service.h — the standard grpc.health.v1.Health service (Check and Watch) on
// countd's completion queues. gRPC 1.51's built-in health service uses the callback API, and any
// callback service starts gRPC's own polling threads beside ours: measured here, that alone took
// a bare completion-queue server from 18 to 30 us of CPU per call. This one behaves like the
// built-in one: "" is SERVING until told otherwise, Check of an unknown name is NOT_FOUND, Watch
// sends the status at once and every change after, until the client ends it or the server
// shuts down (EndWatches).
#ifndef COUNTD_SERVER_GRPC_HEALTH_SERVICE_H_
#define COUNTD_SERVER_GRPC_HEALTH_SERVICE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/server_builder_option.h"
#include "server/grpc/call_observer.h"
#include "server/grpc/completion_queues.h"

namespace countd::grpc_edge {

// Thread-safe. `observer` (for Check; Watch streams are left to gRPC interceptors) must outlive
// it; it must outlive the server's shutdown and the CompletionQueues' Stop.
class HealthService final : public grpc::health::v1::Health::AsyncService, public CqService {
 public:
  explicit HealthService(CallObserver* observer);
  ~HealthService() override;

  // For ServerBuilder::SetOption: makes grpc::Server::GetHealthCheckService() set the statuses
  // here (and keeps gRPC from adding its own health service).
  std::unique_ptr<grpc::ServerBuilderOption> BuilderOption();

  void ServeOn(grpc::ServerCompletionQueue* cq) override;

  // grpc::HealthCheckServiceInterface: one service name, or every name known ("" always is).
  void SetServingStatus(const std::string& service, bool serving);
  void SetServingStatus(bool serving);
  // Every name NOT_SERVING from now on; later changes are ignored.
  void Shutdown();
  // The server is shutting down: every Watch stream, once it has sent its current status, ends
  // with UNAVAILABLE, and so does any Watch that starts from now on. Without it a Watch would
  // stay open until the shutdown's grace ran out.
  void EndWatches();

 private:
  class CheckCall;
  class WatchCall;
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // SERVICE_UNKNOWN for a name never set.
  ServingStatus StatusOf(const std::string& service) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Tells every watch of `service` (of every name when null) its current status.
  void NotifyWatches(const std::string* service) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A watch starts: it is sent the current status, then every change until Unregister.
  void Register(WatchCall* watch);
  void Unregister(WatchCall* watch);

  MethodCallObserver* const check_observer_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_watches_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<WatchCall*> watches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_HEALTH_SERVICE_H_
