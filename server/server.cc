#include "server/server.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "countd/v1/admin.grpc.pb.h"
#include "countd/v1/counters.grpc.pb.h"
#include "countd/v1/gm.grpc.pb.h"
#include "countd/v1/tally.grpc.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/security/server_credentials.h"
#include "server/executor.h"
#include "server/grpc/completion_queues.h"
#include "server/grpc/grpc_auth.h"
#include "server/grpc/health_service.h"
#include "server/grpc/table_service.h"
#include "server/http/http_server.h"
#include "server/logic/tenants.h"
#include "server/server_metrics.h"
#include "server/services.h"
#include "server/shim/shim.h"
#include "spdlog/spdlog.h"
#include "storage/keys.h"
#include "storage/redis_cluster/redis_store.h"

namespace countd {
namespace {

constexpr size_t kMaxQueuedRequests = 100000;
// gRPC connection policy that is not a flag (README: Limits).
constexpr absl::Duration kKeepaliveTimeout = absl::Seconds(20);
constexpr absl::Duration kMinClientPingInterval = absl::Seconds(10);

// The host part of "HOST:PORT" (brackets of IPv6 kept).
std::string HostOf(const std::string& addr) {
  size_t colon = addr.rfind(':');
  return colon == std::string::npos ? addr : addr.substr(0, colon);
}

absl::Status CheckAddress(absl::string_view flag, const std::string& addr) {
  size_t colon = addr.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(addr.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", addr, "\" is not HOST:PORT with PORT 0..65535"));
  }
  return absl::OkStatus();
}

// Turns server reflection on or off for one ServerBuilder. Registering the plugin globally
// (InitProtoReflectionServerBuilderPlugin) would put it on every server of the process for good;
// this option decides per server, which also lets tests run both kinds in one process.
class ReflectionOption : public grpc::ServerBuilderOption {
 public:
  explicit ReflectionOption(bool enabled) : enabled_(enabled) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    const std::string name = grpc::reflection::ProtoServerReflectionPlugin().name();
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [&name](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
                                    return p->name() == name;
                                  }),
                   plugins->end());
    if (enabled_) {
      plugins->push_back(std::make_unique<grpc::reflection::ProtoServerReflectionPlugin>());
    }
  }

 private:
  const bool enabled_;
};

// --grpc-cq-threads: 0 = half the cores (at least 1, at most kMaxAutoCqThreads), leaving the
// rest to RocksDB's writes, the kernel's network work and the HTTP shim. Measured on 2 cores
// (h2load, 50 connections): 1 polling thread served Incr at 28.5k req/s and health Check at
// 46.5k, 2 threads 22.0k and 27.3k.
constexpr int kMaxAutoCqThreads = 8;
int GrpcCqThreads(int flag) {
  if (flag > 0) return flag;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(cores / 2, 1, kMaxAutoCqThreads);
}

int ClampedMillis(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

// Applies the message cap, stream cap and connection policy of `config` to `builder`.
void ApplyGrpcLimits(const ServerConfig& config, grpc::ServerBuilder& builder) {
  const int max_message =
      static_cast<int>(std::min<int64_t>(config.grpc_max_message_bytes, INT32_MAX));
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config.grpc_max_concurrent_streams);
  if (config.grpc_max_connection_idle > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                               ClampedMillis(config.grpc_max_connection_idle));
  }
  if (config.grpc_max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               ClampedMillis(config.grpc_max_connection_age));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               ClampedMillis(config.grpc_max_connection_age_grace));
  }
  // Server keepalive: ping a connection after this much silence; close it when the ping is not
  // answered within kKeepaliveTimeout (a peer that vanished without closing).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ClampedMillis(config.grpc_keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ClampedMillis(kKeepaliveTimeout));
  // Client keepalive: pings are accepted every kMinClientPingInterval or slower, with or without
  // calls in flight. gRPC's defaults (5 min, and 2 h without calls) would answer common client
  // settings such as a 30 s keepalive with GOAWAY "too_many_pings".
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             ClampedMillis(kMinClientPingInterval));
}

std::shared_ptr<grpc::ServerCredentials> GrpcCredentials(const TlsMaterial& tls) {
  if (tls.cert_chain_pem.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      tls.client_ca_pem.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls.client_ca_pem;
  options.pem_key_cert_pairs.push_back({tls.private_key_pem, tls.cert_chain_pem});
  return grpc::SslServerCredentials(options);
}

class CountdServerImpl : public CountdServer {
 public:
  explicit CountdServerImpl(const ServerConfig& config) : config_(config) {}

  ~CountdServerImpl() override { Shutdown(absl::ZeroDuration()); }

  absl::Status Init() {
    absl::Status s = CheckAddress("--grpc-addr", config_.grpc_addr);
    if (!s.ok()) return s;
    // Before the database opens: a bad certificate should not cost a WAL replay to find.
    absl::StatusOr<TlsMaterial> tls = LoadTlsMaterial(config_.tls);
    if (!tls.ok()) return tls.status();
    if (!tls->cert_chain_pem.empty()) {
      spdlog::info(
          "tls: {} on grpc and http; certificate subject=\"{}\" valid until {}",
          tls->client_ca_pem.empty() ? "server-authenticated" : "mutual", tls->leaf_subject,
          absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", tls->leaf_not_after, absl::UTCTimeZone()));
      if (tls->leaf_not_after < absl::Now()) {
        spdlog::warn(
            "tls: the certificate in --tls-cert-file expired on {}; clients will "
            "refuse it",
            absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", tls->leaf_not_after, absl::UTCTimeZone()));
      }
    }
    const storage::Clock* clock = config_.clock != nullptr ? config_.clock : storage::RealClock();

    absl::StatusOr<std::unique_ptr<storage::Store>> store = OpenStore(clock);
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    metrics_ = std::make_unique<ServerMetrics>(store_.get());
    s = OpenTenants(clock);
    if (!s.ok()) return s;

    ServicesOptions services_options;
    services_options.counters.daily_retention_days = config_.retention.daily_days;
    services_options.counters.monthly_retention_months = config_.retention.monthly_months;
    services_options.stash.retention_days = config_.retention.stash_days;
    services_options.tally.max_ranked_items = config_.tally_max_ranked_items;
    services_options.counters.config_cache_ttl = config_.config_cache_ttl;
    services_options.gm.config_cache_ttl = config_.config_cache_ttl;
    services_options.tenants = tenants_.get();
    services_ = std::make_unique<Services>(store_.get(), clock, services_options);
    absl::StatusOr<int64_t> split = services_->tally.SplitLegacyCounters();
    if (!split.ok()) return split.status();
    if (*split > 0) {
      spdlog::info(
          "tally: {} records of counters shared by ecount and topk copied into both ops "
          "(they are separate counters now)",
          *split);
    }

    int workers = config_.workers;
    // Auto: 32 whenever a request may block (an fsync, or a round trip to the cluster), so gRPC's
    // few polling threads never wait on I/O; else run on them.
    if (workers < 0) {
      workers = config_.sync == storage::SyncMode::kAlways ||
                        config_.store == storage::StoreKind::kRedisCluster
                    ? 32
                    : 0;
    }
    executor_ =
        workers == 0 ? NewInlineExecutor() : NewThreadPoolExecutor(workers, kMaxQueuedRequests);
    // Backups block on the disk for seconds: one thread of their own, never the request path's.
    admin_executor_ = NewThreadPoolExecutor(/*threads=*/1, /*max_queue=*/4);

    grpc_edge::GrpcAuthOptions auth_options;
    auth_options.tenants = tenants_.get();
    auth_options.require_tenant_credentials = config_.auth_required;
    auth_options.operator_token = config_.operator_token;
    grpc_auth_ = std::make_unique<grpc_edge::GrpcAuth>(std::move(auth_options));

    // The countd.v1 services run on gRPC's completion-queue API: a few polling threads of our own,
    // no thread hand-off when the work runs inline (docs/architecture.md, "The gRPC edge").
    AddTableService<v1::Counters::Service>(&services_->counters_api, api::kCountersMethods,
                                           executor_.get());
    AddTableService<v1::Tally::Service>(&services_->tally_api, api::kTallyMethods, executor_.get());
    AddTableService<v1::GameMechanics::Service>(&services_->gm_api, api::kGmMethods,
                                                executor_.get());
    AddTableService<v1::Admin::Service>(&services_->admin_api, api::kAdminMethods,
                                        admin_executor_.get());
    // The health service too: gRPC's own would run on the callback API (health_service.h).
    auto health = std::make_unique<grpc_edge::HealthService>(metrics_.get());
    health_service_ = health.get();
    cq_services_.push_back(health.get());
    grpc_services_.push_back(std::move(health));
    grpc::ServerBuilder builder;
    builder.SetOption(health_service_->BuilderOption());
    builder.SetOption(std::make_unique<ReflectionOption>(config_.grpc_reflection));
    ApplyGrpcLimits(config_, builder);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> observers;
    observers.push_back(metrics_->NewGrpcInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(observers));
    int port = 0;
    builder.AddListeningPort(config_.grpc_addr, GrpcCredentials(*tls), &port);
    for (const std::unique_ptr<grpc::Service>& service : grpc_services_) {
      builder.RegisterService(service.get());
    }
    const int cq_threads = GrpcCqThreads(config_.grpc_cq_threads);
    completion_queues_ = std::make_unique<grpc_edge::CompletionQueues>(builder, cq_threads);
    grpc_server_ = builder.BuildAndStart();
    if (grpc_server_ == nullptr || port == 0) {
      return absl::UnavailableError(
          absl::StrCat("--grpc-addr: cannot listen on ", config_.grpc_addr));
    }
    // Inline work: a polling thread flushes the WAL once for the calls it answers together.
    if (workers == 0) completion_queues_->DeferWalFlushesOf(store_.get());
    completion_queues_->Start(cq_services_);
    spdlog::info("grpc: {} completion-queue threads, request work {}", cq_threads,
                 workers == 0 ? "inline on them" : absl::StrCat("on ", workers, " workers"));
    grpc_address_ = absl::StrCat(HostOf(config_.grpc_addr), ":", port);
    // "" and each countd.v1 service by its full name, for a client that checks one service
    // (grpcurl, grpc_health_probe -service=...).
    grpc::HealthCheckServiceInterface* health_status = grpc_server_->GetHealthCheckService();
    health_status->SetServingStatus(true);
    for (const std::string& name : table_service_names_) {
      health_status->SetServingStatus(name, true);
    }
    return StartHttp(workers, *tls);
  }

  template <typename GeneratedService, typename Api, typename Table>
  void AddTableService(Api* api, const Table& table, Executor* executor) {
    auto service = grpc_edge::MakeTableService<GeneratedService>(api, table, executor,
                                                                 grpc_auth_.get(), metrics_.get());
    service->FlushWalBeforeReplies(store_.get());
    cq_services_.push_back(service.get());
    table_service_names_.push_back(service->full_name());
    grpc_services_.push_back(std::move(service));
  }

  absl::Status StartHttp(int workers, const TlsMaterial& tls) {
    shim::ShimServices services;
    services.counters = &services_->counters_api;
    services.tally = &services_->tally_api;
    services.gm = &services_->gm_api;
    services.ready = [this] { return CheckReady(); };
    services.metrics = [this] { return metrics_->Render(); };
    // An HTTP answer may show a write a polling thread has not flushed yet (read from the store or
    // from an in-memory ranking): flush first (CompletionQueues::DeferWalFlushesOf).
    services.before_reply = [store = store_.get()] {
      return store->WalFlushPending() ? store->FlushWal() : absl::OkStatus();
    };
    // nullptr = --auth=off: the shim answers without credentials (the registry, when open, is
    // then only for Admin).
    services.tenants = config_.auth_required ? tenants_.get() : nullptr;
    services.allow_insecure_secret = config_.allow_insecure_secret;
    services.signature_window = config_.signature_window;
    services.clock = config_.clock;
    shim_ = std::make_unique<shim::JsonShim>(std::move(services));
    http::HttpServerOptions options;
    // Handlers run on the io threads; with fsync per write, more threads let writes group-commit.
    options.threads = workers > 0 ? 16 : 2;
    options.max_body_bytes = static_cast<size_t>(config_.http_max_body_bytes);
    options.max_header_bytes = static_cast<size_t>(config_.http_max_header_bytes);
    options.read_timeout = config_.http_read_timeout;
    options.idle_timeout = config_.http_idle_timeout;
    options.max_connections = static_cast<size_t>(config_.http_max_connections);
    options.max_target_bytes = static_cast<size_t>(config_.http_max_url_bytes);
    options.trusted_proxies = config_.trusted_proxies;
    if (!config_.trusted_proxies.empty()) {
      spdlog::info("http: X-Forwarded-For/-Proto/-Host believed from {}",
                   config_.trusted_proxies.ToString());
    }
    if (!tls.cert_chain_pem.empty()) {
      options.tls =
          http::HttpTlsOptions{tls.cert_chain_pem, tls.private_key_pem, tls.client_ca_pem};
      options.on_tls_handshake_error = [this](const std::string& remote_ip,
                                              const std::string& error) {
        metrics_->ObserveTlsHandshakeFailure(remote_ip, error);
      };
    }
    RouteLabeler route_label = [this](absl::string_view method, absl::string_view path) {
      return shim_->RouteLabel(method, path);
    };
    absl::StatusOr<std::unique_ptr<http::HttpServer>> http_server = http::HttpServer::Start(
        config_.http_addr, options,
        metrics_->WrapHttp([this](const http::HttpRequest& r) { return shim_->Handle(r); },
                           route_label),
        metrics_->WrapHttpReject(
            [this](const std::string& target, absl::string_view kind) {
              return shim_->Reject(target, kind);
            },
            route_label));
    if (options.tls.has_value()) {
      OPENSSL_cleanse(options.tls->private_key_pem.data(), options.tls->private_key_pem.size());
    }
    if (!http_server.ok()) {
      // TLS material was checked up front; a "tls: " error here is about the same files.
      const absl::string_view flag = absl::StartsWith(http_server.status().message(), "tls: ")
                                         ? "--tls-cert-file/--tls-key-file/--tls-client-ca-file"
                                         : "--http-addr";
      return absl::Status(http_server.status().code(),
                          absl::StrCat(flag, ": ", http_server.status().message()));
    }
    http_server_ = *std::move(http_server);
    http_address_ = http_server_->address();
    return absl::OkStatus();
  }

  // Opens the tenant registry when there is a secrets key (always with --auth=required), and
  // says in the log how requests are authenticated. Never logs a secret or the token.
  absl::Status OpenTenants(const storage::Clock* clock) {
    if (config_.auth_required && config_.operator_token.empty()) {
      return absl::InvalidArgumentError("--operator-token-file: is required with --auth=required");
    }
    if (config_.auth_required && config_.secrets_key.empty()) {
      return absl::InvalidArgumentError("--secrets-key-file: is required with --auth=required");
    }
    if (!config_.secrets_key.empty()) {
      logic::TenantRegistry::Options options;
      options.clock = clock;
      options.secrets_key = config_.secrets_key;
      options.previous_secrets_key = config_.previous_secrets_key;
      options.config_cache_ttl = config_.config_cache_ttl;
      int rekeyed = 0;
      options.rekeyed = &rekeyed;
      absl::StatusOr<std::unique_ptr<logic::TenantRegistry>> tenants =
          logic::TenantRegistry::Open(store_.get(), options);
      if (!tenants.ok()) {
        return absl::Status(tenants.status().code(),
                            absl::StrCat("--secrets-key-file: ", tenants.status().message()));
      }
      tenants_ = *std::move(tenants);
      if (!config_.previous_secrets_key.empty()) {
        spdlog::info(
            "secrets key rotation: {} tenant records re-encrypted with the new "
            "--secrets-key-file; every secret now opens with it, so "
            "--previous-secrets-key-file can be removed",
            rekeyed);
      }
    }
    if (config_.auth_required) {
      absl::StatusOr<std::vector<logic::TenantInfo>> list = tenants_->ListTenants();
      spdlog::info(
          "authentication: required ({} tenants registered; Admin needs the operator "
          "token)",
          list.ok() ? list->size() : 0);
    } else {
      spdlog::warn(
          "authentication is OFF (--auth=off): every gRPC and HTTP caller may read and "
          "write every tenant; Admin is {}. For development only.",
          config_.operator_token.empty() ? "open to anyone" : "limited to the operator token");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<storage::Store>> OpenStore(const storage::Clock* clock) {
    if (config_.store == storage::StoreKind::kRedisCluster) {
      storage::redis::RedisStoreOptions options;
      options.client.seeds = config_.redis.nodes;
      options.client.username = config_.redis.username;
      options.client.password = config_.redis.password;
      options.client.connect_timeout = config_.redis.connect_timeout;
      options.client.command_timeout = config_.redis.command_timeout;
      options.key_prefix = config_.redis.key_prefix;
      options.retention = config_.retention;
      options.clock = clock;
      options.wait_replicas = config_.redis.wait_replicas;
      options.wait_timeout = config_.redis.wait_timeout;
      absl::StatusOr<std::unique_ptr<storage::Store>> store =
          storage::redis::OpenRedisClusterStore(options);
      if (store.ok()) {
        spdlog::info("storage: Redis Cluster via {} (key prefix \"{}\", WAIT {} replicas)",
                     config_.redis.nodes, config_.redis.key_prefix, config_.redis.wait_replicas);
      }
      return store;
    }
    storage::StoreOptions options;
    options.sync = config_.sync;
    options.retention = config_.retention;
    options.block_cache_bytes = config_.block_cache_bytes;
    options.memtable_bytes = config_.memtable_bytes;
    options.clock = clock;
    return storage::OpenRocksDbStore(config_.data_dir, options);
  }

  // Ready = the store is open and takes a write (the probe writes one tiny record; on Redis
  // Cluster every master must also answer PING and the slot map cover every slot).
  absl::Status CheckReady() {
    if (stopping_.load()) return absl::UnavailableError("shutting down");
    storage::WriteBatch probe(storage::keys::TenantRegistryPartition());
    probe.Put(storage::Table::kMeta, storage::keys::Join({"readyz"}),
              absl::StrCat(absl::ToUnixMillis(absl::Now())));
    absl::Status s = store_->Write(probe);
    if (!s.ok()) return s;
    return store_->Probe();
  }

  std::string grpc_address() const override { return grpc_address_; }
  std::string http_address() const override { return http_address_; }

  void Shutdown(absl::Duration grace) override {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;  // /readyz and the gRPC health service report NOT ready from here on
    if (grpc_server_ != nullptr) grpc_server_->GetHealthCheckService()->SetServingStatus(false);
    absl::Time start = absl::Now();
    if (http_server_ != nullptr) http_server_->Shutdown(grace);
    spdlog::info("shutdown: http stopped after {}", absl::FormatDuration(absl::Now() - start));
    if (grpc_server_ != nullptr) {
      if (completion_queues_ != nullptr) {
        completion_queues_->BeginShutdown(std::chrono::steady_clock::now() +
                                          absl::ToChronoNanoseconds(grace));
      }
      // A Watch stream never ends by itself: told NOT_SERVING above, it is ended now, or it
      // would hold the shutdown for the whole grace.
      if (health_service_ != nullptr) health_service_->EndWatches();
      grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
      grpc_server_->Wait();
    }
    spdlog::info("shutdown: grpc drained after {}", absl::FormatDuration(absl::Now() - start));
    if (executor_ != nullptr) executor_->Drain();
    if (admin_executor_ != nullptr) admin_executor_->Drain();  // a running backup completes
    // Every call has ended (Shutdown returned) and no work is left to finish one: nothing starts
    // an operation on the queues any more.
    if (completion_queues_ != nullptr) completion_queues_->Stop();
    if (store_ != nullptr) {
      absl::Status s = store_->Flush();
      if (!s.ok()) spdlog::error("flush on shutdown failed: {}", s.ToString());
    }
    spdlog::info("shutdown: database flushed after {}", absl::FormatDuration(absl::Now() - start));
    // Users before what they use: the servers, then the services they call, then the store.
    http_server_.reset();
    shim_.reset();
    grpc_server_.reset();
    completion_queues_.reset();
    cq_services_.clear();
    grpc_services_.clear();
    grpc_auth_.reset();
    services_.reset();
    tenants_.reset();
    store_.reset();
  }

 private:
  ServerConfig config_;
  std::unique_ptr<storage::Store> store_;
  // Referenced by the gRPC interceptors and HTTP handlers: outlives both servers (never reset).
  std::unique_ptr<ServerMetrics> metrics_;
  // nullptr when there is no secrets key (--auth=off without --secrets-key-file).
  std::unique_ptr<logic::TenantRegistry> tenants_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<Executor> admin_executor_;
  std::unique_ptr<grpc_edge::GrpcAuth> grpc_auth_;
  std::vector<std::unique_ptr<grpc::Service>> grpc_services_;
  // Full names of the countd.v1 services added (AddTableService), for the health service.
  std::vector<std::string> table_service_names_;
  std::vector<grpc_edge::CqService*> cq_services_;      // the same services
  grpc_edge::HealthService* health_service_ = nullptr;  // one of them
  // The polling threads of the table services; Shutdown stops them once every call ended.
  std::unique_ptr<grpc_edge::CompletionQueues> completion_queues_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<shim::JsonShim> shim_;
  std::unique_ptr<http::HttpServer> http_server_;
  std::string grpc_address_;
  std::string http_address_;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  std::atomic<bool> stopping_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<CountdServer>> CountdServer::Start(const ServerConfig& config) {
  auto server = std::make_unique<CountdServerImpl>(config);
  absl::Status s = server->Init();
  if (!s.ok()) return s;
  return std::unique_ptr<CountdServer>(std::move(server));
}

}  // namespace countd
