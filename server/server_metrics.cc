#include "server/server_metrics.h"

#include <atomic>
#include <chrono>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/grpcpp.h"
#include "spdlog/spdlog.h"
#include "storage/redis_cluster/redis_store.h"

namespace countd {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t Micros(double seconds) { return static_cast<int64_t>(seconds * 1e6); }

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

// Server faults: worth an operator's attention. Client errors stay at debug.
spdlog::level::level_enum GrpcLogLevel(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS: return spdlog::level::err;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return spdlog::level::warn;
    default: return spdlog::level::debug;
  }
}

// The request method as logged: standard verbs only, so a peer cannot write arbitrary text.
absl::string_view LoggedHttpMethod(absl::string_view m) {
  for (absl::string_view known : {"GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"}) {
    if (m == known) return known;
  }
  return "other";
}

}  // namespace

// The figures and the log line of one gRPC method (or of "unknown"). Its metric children are
// created on the first call that needs them, so /metrics lists only what happened, and cached, so
// a call after that costs a few relaxed atomics and no lock.
class ServerMetrics::GrpcMethod final : public grpc_edge::MethodCallObserver {
 public:
  GrpcMethod(ServerMetrics* m, std::string label) : m_(m), label_(std::move(label)) {}

  void Started() override { m_->grpc_in_flight_->Add(1); }

  void Finished(const grpc::Status& status, double seconds,
                const grpc::ServerContext& ctx) override {
    Record(status, seconds, [&ctx] { return ctx.peer(); });
  }

  // Runs once per call, before its status is sent (or when it ended without one): a client that
  // has its answer never sees its call still counted in flight.
  template <typename Peer>
  void Record(const grpc::Status& status, double seconds, const Peer& peer) {
    m_->grpc_in_flight_->Add(-1);
    const grpc::StatusCode code = status.error_code();
    const char* code_name = CodeName(code);
    RequestsWith(code)->Increment();
    Duration()->Observe(seconds);
    spdlog::level::level_enum level = GrpcLogLevel(code);
    if (!spdlog::should_log(level)) return;
    if (level == spdlog::level::debug) {
      spdlog::debug("grpc method={} code={} duration_us={} peer={}", label_, code_name,
                    Micros(seconds), peer());
    } else {
      // Only server faults get here; their messages come from storage and the service layer,
      // never from request data.
      spdlog::log(level, "grpc method={} code={} duration_us={} peer={} error=\"{}\"", label_,
                  code_name, Micros(seconds), peer(), status.error_message());
    }
  }

 private:
  static constexpr int kCodes = 17;  // OK .. UNAUTHENTICATED

  metrics::Counter* RequestsWith(grpc::StatusCode code) {
    int i = static_cast<int>(code);
    if (i < 0 || i >= kCodes) i = static_cast<int>(grpc::StatusCode::UNKNOWN);
    metrics::Counter* c = requests_[i].load(std::memory_order_acquire);
    if (c == nullptr) {
      c = m_->grpc_requests_->With({label_, CodeName(static_cast<grpc::StatusCode>(i))});
      requests_[i].store(c, std::memory_order_release);  // the same child whoever wins
    }
    return c;
  }

  metrics::Histogram* Duration() {
    metrics::Histogram* h = duration_.load(std::memory_order_acquire);
    if (h == nullptr) {
      h = m_->grpc_duration_->With({label_});
      duration_.store(h, std::memory_order_release);
    }
    return h;
  }

  ServerMetrics* const m_;
  const std::string label_;
  std::atomic<metrics::Counter*> requests_[kCodes] = {};
  std::atomic<metrics::Histogram*> duration_{nullptr};
};

// One per call of a method the table services do not observe themselves (health, reflection,
// unknown paths): created when the call is matched to a method, destroyed when it is done.
class ServerMetrics::Interceptor : public grpc::experimental::Interceptor {
 public:
  Interceptor(GrpcMethod* method, grpc::experimental::ServerRpcInfo* info)
      : method_(method), info_(info), start_(Clock::now()) {
    method_->Started();
  }

  ~Interceptor() override {
    // A call that ended without sending a status (the peer went away) counts as CANCELLED.
    if (!recorded_) Record(grpc::Status(grpc::StatusCode::CANCELLED, "call ended"));
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!recorded_ && methods->QueryInterceptionHookPoint(
                          grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void Record(const grpc::Status& status) {
    recorded_ = true;
    method_->Record(status, SecondsSince(start_), [this] {
      return info_->server_context() != nullptr ? info_->server_context()->peer() : std::string();
    });
  }

  GrpcMethod* const method_;
  grpc::experimental::ServerRpcInfo* const info_;
  const Clock::time_point start_;
  bool recorded_ = false;  // hooks of one call never run concurrently
};

class ServerMetrics::InterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit InterceptorFactory(ServerMetrics* m) : m_(m) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // The table services report their calls themselves (ObserveMethod); no interceptor for those.
    if (info->method() != nullptr && m_->self_observed_.contains(absl::string_view(info->method())))
      return nullptr;
    return new Interceptor(m_->GrpcMethodFor(info->method()), info);
  }

 private:
  ServerMetrics* const m_;
};

ServerMetrics::ServerMetrics(storage::Store* store) : store_(store) {
  grpc_requests_ =
      registry_.AddCounter("countd_grpc_requests_total",
                           "gRPC calls completed, by method and status code.", {"method", "code"});
  grpc_duration_ =
      registry_.AddHistogram("countd_grpc_request_duration_seconds",
                             "Time from a gRPC call's arrival to its status being sent, by method.",
                             {"method"}, metrics::LatencyBuckets());
  grpc_in_flight_ = registry_
                        .AddGauge("countd_grpc_in_flight_requests",
                                  "gRPC calls received and not yet finished.", {})
                        ->With({});
  unknown_method_ = std::make_unique<GrpcMethod>(this, "unknown");
  http_requests_ = registry_.AddCounter(
      "countd_http_requests_total",
      "HTTP requests answered (including refused ones), by route and HTTP status.",
      {"route", "code"});
  http_duration_ =
      registry_.AddHistogram("countd_http_request_duration_seconds",
                             "Time to handle an HTTP request once it was read, by route.",
                             {"route"}, metrics::LatencyBuckets());
  http_in_flight_ =
      registry_.AddGauge("countd_http_in_flight_requests", "HTTP requests being handled.", {})
          ->With({});
  tls_handshake_failures_ =
      registry_
          .AddCounter("countd_http_tls_handshake_failures_total",
                      "TLS handshakes on the HTTP port that failed or timed out (plaintext "
                      "clients, missing or untrusted client certificates, scanners).",
                      {})
          ->With({});
  registry_.AddCollector([this](metrics::ExpositionWriter& w) { WriteStoreMetrics(w); });
  registry_.AddCollector(metrics::WriteProcessMetrics);
}

ServerMetrics::~ServerMetrics() = default;

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ServerMetrics::NewGrpcInterceptorFactory() {
  return std::make_unique<InterceptorFactory>(this);
}

grpc_edge::MethodCallObserver* ServerMetrics::ObserveMethod(const std::string& method_path) {
  self_observed_.insert(method_path);
  return GrpcMethodFor(method_path.c_str());
}

ServerMetrics::GrpcMethod* ServerMetrics::GrpcMethodFor(const char* method) {
  if (method == nullptr) return unknown_method_.get();
  absl::string_view path(method);
  {
    absl::ReaderMutexLock lock(&methods_mu_);
    auto it = methods_.find(path);
    if (it != methods_.end()) return it->second.get();
  }
  // Unregistered methods reach the server's generic handler with the path the client sent; only
  // paths of methods compiled into this binary become label values, so the label stays bounded.
  bool known = path == "/grpc.health.v1.Health/Check" || path == "/grpc.health.v1.Health/Watch";
  size_t slash = path.rfind('/');
  if (!known && path.size() > 1 && path[0] == '/' && slash != absl::string_view::npos &&
      slash > 1) {
    std::string full = absl::StrCat(path.substr(1, slash - 1), ".", path.substr(slash + 1));
    known = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full) != nullptr;
  }
  if (!known) return unknown_method_.get();
  absl::MutexLock lock(&methods_mu_);
  std::unique_ptr<GrpcMethod>& entry = methods_[path];
  if (entry == nullptr) entry = std::make_unique<GrpcMethod>(this, std::string(path));
  return entry.get();
}

void ServerMetrics::ObserveHttp(absl::string_view method, const std::string& route, int status,
                                double seconds, absl::string_view remote_ip,
                                absl::string_view peer_ip) {
  http_requests_->With({route, absl::StrCat(status)})->Increment();
  http_duration_->With({route})->Observe(seconds);
  spdlog::level::level_enum level = status >= 500 ? spdlog::level::warn : spdlog::level::debug;
  if (!spdlog::should_log(level)) return;
  // Never the query, the body or header values: they can carry keys and user data.
  absl::string_view logged_method = LoggedHttpMethod(method);
  // via= names the proxy when a trusted one forwarded the request (--trusted-proxies).
  const bool forwarded = !peer_ip.empty() && peer_ip != remote_ip;
  spdlog::log(level, "http method={} route={} status={} duration_us={} remote={}{}{}",
              std::string_view(logged_method.data(), logged_method.size()), route, status,
              Micros(seconds), std::string_view(remote_ip.data(), remote_ip.size()),
              forwarded ? " via=" : "",
              forwarded ? std::string_view(peer_ip.data(), peer_ip.size()) : std::string_view());
}

http::HttpHandler ServerMetrics::WrapHttp(http::HttpHandler handler, RouteLabeler route_label) {
  return [this, handler = std::move(handler),
          route_label = std::move(route_label)](const http::HttpRequest& request) {
    http_in_flight_->Add(1);
    Clock::time_point start = Clock::now();
    http::HttpResponse response = handler(request);
    // The handler's own answer is what the client sees, except statuses outside 200..599.
    int status = response.status >= 200 && response.status <= 599 ? response.status : 500;
    ObserveHttp(request.method, route_label(request.method, request.path), status,
                SecondsSince(start), request.remote_ip, request.peer_ip);
    http_in_flight_->Add(-1);
    return response;
  };
}

http::HttpRejectHandler ServerMetrics::WrapHttpReject(http::HttpRejectHandler reject,
                                                      RouteLabeler route_label) {
  return [this, reject = std::move(reject), route_label = std::move(route_label)](
             const std::string& target, absl::string_view kind) {
    Clock::time_point start = Clock::now();
    http::HttpResponse response = reject(target, kind);
    int status = response.status >= 200 && response.status <= 599 ? response.status : 500;
    absl::string_view path = absl::string_view(target).substr(0, target.find('?'));
    ObserveHttp("other", route_label("", path), status, SecondsSince(start), "", "");
    return response;
  };
}

void ServerMetrics::ObserveTlsHandshakeFailure(const std::string& remote_ip,
                                               const std::string& error) {
  tls_handshake_failures_->Increment();
  spdlog::debug("http tls handshake failed: remote={} error=\"{}\"", remote_ip, error);
}

std::string ServerMetrics::Render() const { return registry_.Render(); }

void ServerMetrics::WriteStoreMetrics(metrics::ExpositionWriter& w) const {
  if (store_ == nullptr) return;
  absl::StatusOr<storage::StoreStats> stats = store_->Stats();
  if (!stats.ok()) {
    spdlog::warn("metrics: storage figures unavailable: {}", stats.status().ToString());
    return;
  }
  using metrics::MetricType;
  if (store_->kind() == storage::StoreKind::kRedisCluster) {
    WriteRedisMetrics(w);
    return;
  }
  w.Family("countd_rocksdb_memtable_bytes", "Bytes of all RocksDB memtables.", MetricType::kGauge);
  w.Sample("countd_rocksdb_memtable_bytes", {}, static_cast<double>(stats->memtable_bytes));
  w.Family("countd_rocksdb_pending_compaction_bytes",
           "RocksDB's estimate of the bytes compaction must still rewrite.", MetricType::kGauge);
  w.Sample("countd_rocksdb_pending_compaction_bytes", {},
           static_cast<double>(stats->pending_compaction_bytes));
  w.Family("countd_rocksdb_block_cache_usage_bytes", "Bytes held by the RocksDB block cache.",
           MetricType::kGauge);
  w.Sample("countd_rocksdb_block_cache_usage_bytes", {},
           static_cast<double>(stats->block_cache_usage_bytes));
  w.Family("countd_rocksdb_block_cache_capacity_bytes",
           "Capacity of the RocksDB block cache (--block-cache-mb).", MetricType::kGauge);
  w.Sample("countd_rocksdb_block_cache_capacity_bytes", {},
           static_cast<double>(stats->block_cache_capacity_bytes));
  w.Family("countd_rocksdb_estimated_keys",
           "RocksDB's estimate of the keys in a table (column family).", MetricType::kGauge);
  for (size_t i = 0; i < stats->estimated_keys.size(); ++i) {
    w.Sample("countd_rocksdb_estimated_keys",
             {{"table", storage::TableName(static_cast<storage::Table>(i))}},
             static_cast<double>(stats->estimated_keys[i]));
  }
  w.Family("countd_rocksdb_write_duration_seconds",
           "Duration of each atomic storage write (WAL append, plus fsync when sync=always).",
           MetricType::kHistogram);
  metrics::HistogramSnapshot h;
  h.upper_bounds = stats->write_duration.upper_bounds_seconds;
  h.counts = stats->write_duration.counts;
  h.sum = stats->write_duration.sum_seconds;
  w.HistogramSamples("countd_rocksdb_write_duration_seconds",
                     {{"sync", stats->sync == storage::SyncMode::kAlways ? "always" : "none"}}, h);
}

void ServerMetrics::WriteRedisMetrics(metrics::ExpositionWriter& w) const {
  absl::StatusOr<storage::redis::ClusterClientStats> stats =
      storage::redis::RedisClientStats(*store_);
  if (!stats.ok()) {
    spdlog::warn("metrics: Redis client figures unavailable: {}", stats.status().ToString());
    return;
  }
  using metrics::MetricType;
  auto counter = [&](const char* name, const char* help, int64_t value) {
    w.Family(name, help, MetricType::kCounter);
    w.Sample(name, {}, static_cast<double>(value));
  };
  counter("countd_redis_calls_total", "Calls of countd's Redis Cluster client (a pipeline is one).",
          stats->calls);
  counter("countd_redis_commands_total",
          "Commands written to Redis sockets, retries and ASKING included.", stats->commands);
  w.Family("countd_redis_errors_total", "Failed Redis client calls, by kind.",
           MetricType::kCounter);
  w.Sample("countd_redis_errors_total", {{"kind", "unavailable"}},
           static_cast<double>(stats->errors_unavailable));
  w.Sample("countd_redis_errors_total", {{"kind", "timeout"}},
           static_cast<double>(stats->errors_timeout));
  w.Sample("countd_redis_errors_total", {{"kind", "other"}},
           static_cast<double>(stats->errors_other));
  w.Sample("countd_redis_errors_total", {{"kind", "error_reply"}},
           static_cast<double>(stats->error_replies));
  w.Family("countd_redis_redirects_total", "MOVED and ASK redirects followed.",
           MetricType::kCounter);
  w.Sample("countd_redis_redirects_total", {{"kind", "moved"}},
           static_cast<double>(stats->redirects_moved));
  w.Sample("countd_redis_redirects_total", {{"kind", "ask"}},
           static_cast<double>(stats->redirects_ask));
  counter("countd_redis_retries_total", "Retries after TRYAGAIN, CLUSTERDOWN or a failed connect.",
          stats->retries);
  counter("countd_redis_slot_map_refreshes_total", "Slot map reloads from CLUSTER SLOTS.",
          stats->slot_map_refreshes);
  counter("countd_redis_connections_opened_total", "Connections opened to Redis nodes.",
          stats->connections_opened);
  w.Family("countd_redis_call_duration_seconds", "Duration of each Redis client call.",
           MetricType::kHistogram);
  metrics::HistogramSnapshot h;
  for (int64_t us : storage::redis::ClusterClientStats::kLatencyBoundsUs) {
    h.upper_bounds.push_back(static_cast<double>(us) / 1e6);
  }
  for (int64_t n : stats->latency_buckets) h.counts.push_back(static_cast<uint64_t>(n));
  h.sum = static_cast<double>(stats->latency_sum_us) / 1e6;
  w.HistogramSamples("countd_redis_call_duration_seconds", {}, h);
}

}  // namespace countd
