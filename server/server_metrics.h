// server/server_metrics.h — countd's request metrics and request logs: a gRPC interceptor and an
// HTTP handler wrapper that count, time and log every call, and the /metrics text that adds the
// store's and the process's figures. Metric names and the log format are listed in README.md.
#ifndef COUNTD_SERVER_SERVER_METRICS_H_
#define COUNTD_SERVER_SERVER_METRICS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/server_interceptor.h"
#include "server/grpc/call_observer.h"
#include "server/http/http_server.h"
#include "server/metrics.h"
#include "storage/store.h"

namespace countd {

// Names the route of an HTTP request with a bounded label (see JsonShim::RouteLabel).
using RouteLabeler = std::function<std::string(absl::string_view method, absl::string_view path)>;

// Thread-safe. Everything it hands out (the interceptor factory, wrapped handlers) refers to it,
// so it must outlive the gRPC and HTTP servers that use them.
class ServerMetrics : public grpc_edge::CallObserver {
 public:
  // `store` may be null (then no countd_rocksdb_* figures); it must outlive this object.
  explicit ServerMetrics(storage::Store* store);
  ~ServerMetrics() override;

  // For grpc::ServerBuilder::experimental().SetInterceptorCreators(): counts
  // (countd_grpc_requests_total), times (countd_grpc_request_duration_seconds), tracks
  // (countd_grpc_in_flight_requests) and logs every call of a method not handed to
  // ObserveMethod (health, reflection). Methods not compiled into this binary are labelled
  // "unknown".
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewGrpcInterceptorFactory();

  // CallObserver: the same figures and log lines for the methods the gRPC table services serve,
  // reported by them without an interceptor. Only before the gRPC server starts.
  grpc_edge::MethodCallObserver* ObserveMethod(const std::string& method_path) override;

  // `handler` counted, timed, tracked and logged per route label (countd_http_*).
  http::HttpHandler WrapHttp(http::HttpHandler handler, RouteLabeler route_label);
  // `reject` counted and logged like WrapHttp's requests (route from the target's path).
  http::HttpRejectHandler WrapHttpReject(http::HttpRejectHandler reject, RouteLabeler route_label);

  // For HttpServerOptions::on_tls_handshake_error: counts the failure
  // (countd_http_tls_handshake_failures_total) and logs it at debug with the peer's address.
  void ObserveTlsHandshakeFailure(const std::string& remote_ip, const std::string& error);

  // The Prometheus text exposition (content type metrics::kContentType).
  std::string Render() const;

 private:
  class GrpcMethod;
  class Interceptor;
  class InterceptorFactory;
  // The figures of a gRPC method path ("unknown" for paths not compiled in).
  GrpcMethod* GrpcMethodFor(const char* method);
  // `remote_ip`: the client; `peer_ip`: the TCP peer (a trusted proxy when they differ).
  void ObserveHttp(absl::string_view method, const std::string& route, int status, double seconds,
                   absl::string_view remote_ip, absl::string_view peer_ip);
  void WriteStoreMetrics(metrics::ExpositionWriter& w) const;
  // --store=redis-cluster: the Redis client's counters instead of RocksDB's figures.
  void WriteRedisMetrics(metrics::ExpositionWriter& w) const;

  storage::Store* const store_;
  metrics::Registry registry_;
  metrics::Family<metrics::Counter>* grpc_requests_;
  metrics::Family<metrics::Histogram>* grpc_duration_;
  metrics::Gauge* grpc_in_flight_;
  std::unique_ptr<GrpcMethod> unknown_method_;
  metrics::Family<metrics::Counter>* http_requests_;
  metrics::Family<metrics::Histogram>* http_duration_;
  metrics::Gauge* http_in_flight_;
  metrics::Counter* tls_handshake_failures_;
  absl::Mutex methods_mu_;
  // Method paths found compiled in; bounded by the binary (unknown paths are never added).
  absl::flat_hash_map<std::string, std::unique_ptr<GrpcMethod>> methods_
      ABSL_GUARDED_BY(methods_mu_);
  // Paths handed to ObserveMethod: written before the gRPC server starts, read-only after.
  absl::flat_hash_set<std::string> self_observed_;
};

}  // namespace countd

#endif  // COUNTD_SERVER_SERVER_METRICS_H_
