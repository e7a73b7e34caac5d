// server/server.h — one countd process: the store, the service logic, and the gRPC and HTTP
// listeners wired together, with an orderly shutdown.
#ifndef COUNTD_SERVER_SERVER_H_
#define COUNTD_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/http/forwarded.h"
#include "server/tls.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd {

// --store=redis-cluster settings (see the --redis-* flags).
struct RedisConfig {
  std::string nodes;     // seeds, HOST:PORT,HOST:PORT
  std::string username;  // ACL user; empty: AUTH <password>
  std::string password;  // from --redis-password-file; never logged
  std::string key_prefix = "countd";
  absl::Duration connect_timeout = absl::Seconds(1);
  absl::Duration command_timeout = absl::Seconds(2);
  int wait_replicas = 1;  // WAIT for this many replicas per write (docs/storage.md, Durability)
  absl::Duration wait_timeout = absl::Milliseconds(500);
};

struct ServerConfig {
  storage::StoreKind store = storage::StoreKind::kRocksDb;
  RedisConfig redis;
  // How stale a cached configuration may be when processes share the store (--config-cache-ttl;
  // see server/logic/config_cache.h).
  absl::Duration config_cache_ttl = absl::Seconds(1);
  std::string data_dir = "./data";
  std::string grpc_addr = "0.0.0.0:50051";
  std::string http_addr = "0.0.0.0:8080";
  storage::SyncMode sync = storage::SyncMode::kNone;
  absl::Duration grace_period = absl::Seconds(10);
  size_t block_cache_bytes = size_t{128} << 20;
  size_t memtable_bytes = size_t{64} << 20;
  storage::Retention retention;
  // Items all in-memory Tally rankings may hold together (see README: Tally memory).
  size_t tally_max_ranked_items = 2'000'000;
  // HTTP limits (see HttpServerOptions).
  int64_t http_max_body_bytes = 1 << 20;
  int64_t http_max_header_bytes = 16 << 10;
  absl::Duration http_read_timeout = absl::Seconds(10);
  absl::Duration http_idle_timeout = absl::Seconds(60);
  // Worker threads for request work; 0 = run on the gRPC polling threads (grpc_cq_threads). -1 =
  // automatic: 0 with
  // --sync=none, 32 with --sync=always (so concurrent fsyncs group-commit).
  int workers = -1;
  // Threads polling the gRPC completion queues of the countd.v1 services, one queue each;
  // 0 = the number of cores, at most 8.
  int grpc_cq_threads = 0;
  // Time source; nullptr = the real clock. Must outlive the server.
  const storage::Clock* clock = nullptr;

  // TLS on both ports (see server/tls.h): certificate + key = TLS; + client CA = mutual TLS.
  TlsFiles tls;
  // gRPC: server reflection; message cap in both directions; HTTP/2 streams per connection;
  // connection policy (zero durations = never).
  bool grpc_reflection = true;
  int64_t grpc_max_message_bytes = 4 << 20;
  int grpc_max_concurrent_streams = 1000;
  absl::Duration grpc_max_connection_idle = absl::Minutes(30);
  absl::Duration grpc_max_connection_age = absl::ZeroDuration();
  absl::Duration grpc_max_connection_age_grace = absl::Seconds(30);
  absl::Duration grpc_keepalive_time = absl::Hours(2);
  // HTTP: open connections (more are closed at once) and request-target length (414 beyond).
  int64_t http_max_connections = 10000;
  int64_t http_max_url_bytes = 8 << 10;
  // Reverse proxies whose X-Forwarded-For/-Proto/-Host headers are believed (--trusted-proxies):
  // the client address, whether the client used TLS, and the host it addressed (for Gigya
  // signatures). Empty: those headers are ignored.
  http::ProxyList trusted_proxies;
  // Authentication (README: Authentication and tenants). true (--auth=required): Counters, Tally
  // and GameMechanics calls and the HTTP routes need a tenant's credentials, and Admin calls the
  // operator token; `operator_token` and `secrets_key` are then required. false (--auth=off):
  // no tenant checks; Admin is open unless `operator_token` is set.
  bool auth_required = true;
  // The operator token (--operator-token-file); empty = none. Never logged.
  std::string operator_token;
  // The 32-byte AES-256 key of the tenant secrets (--secrets-key-file); empty = none. With
  // --auth=off a key still opens the tenant registry, for Admin.
  std::string secrets_key;
  // Key rotation (--previous-secrets-key-file): the key the secrets were sealed with so far;
  // empty = none. At open, secrets sealed with it are re-sealed with `secrets_key`. Never logged.
  std::string previous_secrets_key;
  // Accept the Gigya `secret` parameter over plain HTTP (--allow-insecure-secret).
  bool allow_insecure_secret = false;
  // Clock skew allowed for signed Gigya requests, and how long their nonces are kept.
  absl::Duration signature_window = absl::Seconds(120);
};

// A running countd. Thread-safe: Shutdown may be called from any thread.
class CountdServer {
 public:
  // Opens the database (and the tenant registry when there is a secrets key) and starts
  // listening. Errors: UNAVAILABLE when the database cannot be opened or a port cannot be bound;
  // INVALID_ARGUMENT for a bad address or bad TLS files (the message names the flag; checked
  // before the database is opened), or for auth_required without operator_token or
  // secrets_key; DATA_LOSS when the stored tenant secrets do not decrypt with secrets_key.
  static absl::StatusOr<std::unique_ptr<CountdServer>> Start(const ServerConfig& config);

  virtual ~CountdServer() = default;

  // "HOST:PORT" really bound (the port resolved when 0 was asked for).
  virtual std::string grpc_address() const = 0;
  virtual std::string http_address() const = 0;

  // Stops accepting, lets in-flight calls finish for up to `grace`, flushes and closes the
  // database. Idempotent; returns once everything is closed.
  virtual void Shutdown(absl::Duration grace) = 0;
};

}  // namespace countd

#endif  // COUNTD_SERVER_SERVER_H_
