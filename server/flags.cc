#include "server/flags.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/logic/config_cache.h"
#include "server/logic/secret_box.h"

ABSL_FLAG(std::string, store, "rocksdb",
          "Where data lives: rocksdb (embedded, --data-dir; one process) or redis-cluster "
          "(--redis-nodes; any number of stateless countd processes share one Redis Cluster).");
ABSL_FLAG(std::string, data_dir, "./data", "RocksDB data directory (created when missing).");
ABSL_FLAG(std::string, redis_nodes, "",
          "--store=redis-cluster: seed nodes HOST:PORT,HOST:PORT (any one reachable node is "
          "enough; the rest of the cluster is learned from CLUSTER SLOTS).");
ABSL_FLAG(std::string, redis_username, "", "--store=redis-cluster: ACL user name (Redis 6+).");
ABSL_FLAG(std::string, redis_password_file, "",
          "--store=redis-cluster: file holding the password sent with AUTH (surrounding "
          "whitespace trimmed); empty: no AUTH.");
ABSL_FLAG(std::string, redis_key_prefix, "countd",
          "--store=redis-cluster: prefix of every key countd writes, so several deployments can "
          "share one cluster.");
ABSL_FLAG(absl::Duration, redis_connect_timeout, absl::Seconds(1),
          "--store=redis-cluster: bound of one connection attempt.");
ABSL_FLAG(absl::Duration, redis_command_timeout, absl::Seconds(2),
          "--store=redis-cluster: bound of one exchange with a node; slower calls fail "
          "DEADLINE_EXCEEDED.");
ABSL_FLAG(int32_t, redis_wait_replicas, 1,
          "--store=redis-cluster: replicas that must acknowledge every write (WAIT) before "
          "countd answers; 0 relies on the masters' own AOF (appendfsync always).");
ABSL_FLAG(absl::Duration, redis_wait_timeout, absl::Milliseconds(500),
          "--store=redis-cluster: how long a write waits for --redis-wait-replicas.");
ABSL_FLAG(absl::Duration, config_cache_ttl, absl::Seconds(1),
          "--store=redis-cluster: how stale a process's cached configuration (tenants, Signals "
          "registry, GameMechanics configuration) may be: a change made through another process "
          "is seen at most this long after it returned (0s: check on every read). Ignored "
          "with --store=rocksdb (one process, never stale).");
ABSL_FLAG(bool, restart, false,
          "countd migrate-to-redis only: start the copy over, forgetting the progress an earlier "
          "run recorded in the cluster.");
ABSL_FLAG(bool, verify_only, false,
          "countd migrate-to-redis only: copy nothing, only compare the data dir with the "
          "cluster.");
ABSL_FLAG(int64_t, max_partitions, 0,
          "countd migrate-to-redis only: stop after copying this many partitions (one "
          "partition's records in one table count as one), recording the progress; the next run "
          "continues. 0 = no limit.");
ABSL_FLAG(std::string, grpc_addr, "0.0.0.0:50051", "gRPC listen address HOST:PORT (port 0 = any).");
ABSL_FLAG(std::string, http_addr, "0.0.0.0:8080",
          "HTTP listen address HOST:PORT for the JSON shim, health and metrics (port 0 = any).");
ABSL_FLAG(
    std::string, sync, "none",
    "none: WAL written before each reply, not fsynced (survives process death); always: "
    "WAL fsynced before each reply, concurrent writes share one fsync (survives power loss).");
ABSL_FLAG(absl::Duration, grace_period, absl::Seconds(10),
          "On SIGTERM/SIGINT, how long in-flight calls may run before they are cancelled.");
ABSL_FLAG(int64_t, block_cache_mb, 128, "RocksDB block cache for all tables, MiB (>= 8).");
ABSL_FLAG(int64_t, memtable_mb, 64, "Budget of all RocksDB memtables together, MiB (>= 8).");
ABSL_FLAG(int32_t, daily_retention_days, 90, "Days a Signals daily bucket is kept (1..3650).");
ABSL_FLAG(int32_t, monthly_retention_months, 25,
          "Months a Signals monthly bucket is kept (1..1200).");
ABSL_FLAG(int32_t, stash_retention_days, 90, "Days a Stash daily bucket is kept (1..3650).");
ABSL_FLAG(int64_t, tally_max_ranked_items, 2'000'000,
          "Items all in-memory Tally top-K rankings may hold together (about 170 bytes each); "
          "past it the least recently used rankings are dropped and rebuilt on demand.");
ABSL_FLAG(int64_t, http_max_body_bytes, 1 << 20,
          "Largest HTTP request body accepted (bytes); larger ones are refused in the route "
          "family's error form.");
ABSL_FLAG(int64_t, http_max_header_bytes, 16 << 10,
          "Largest HTTP request line plus headers (bytes), which also caps the URL length.");
ABSL_FLAG(absl::Duration, http_read_timeout, absl::Seconds(10),
          "Time a client has to send a whole HTTP request; slower connections are closed.");
ABSL_FLAG(absl::Duration, http_idle_timeout, absl::Seconds(60),
          "How long an idle keep-alive HTTP connection is kept open.");
ABSL_FLAG(
    int32_t, workers, -1,
    "Threads that run request work: 0 = the --grpc-cq-threads, -1 = auto (32 for --sync=always "
    "or --store=redis-cluster, else 0), else 1..1024.");
ABSL_FLAG(int32_t, grpc_cq_threads, 0,
          "Threads that receive and answer the countd.v1 gRPC calls (one completion queue each; "
          "with --workers=0 the request work runs on them too): 0 = half the cores, 1..8; "
          "else 1..64.");
ABSL_FLAG(std::string, log_level, "info", "Log level: debug, info, warn or error.");
ABSL_FLAG(std::string, auth, "required",
          "required: every Counters/Tally/GameMechanics call and HTTP route needs a tenant's "
          "credentials and Admin needs the operator token (--operator-token-file and "
          "--secrets-key-file are then required); off: no tenant checks (development only), "
          "Admin open unless --operator-token-file is given.");
ABSL_FLAG(std::string, operator_token_file, "",
          "File holding the operator token Admin calls must send as 'authorization: Bearer "
          "<token>' (surrounding whitespace trimmed; at least 32 characters). Required with "
          "--auth=required.");
ABSL_FLAG(std::string, secrets_key_file, "",
          "File holding the 32-byte AES-256 key that encrypts tenant secrets at rest, as 64 hex "
          "digits or 44 characters of base64 (head -c32 /dev/urandom | base64). Required with "
          "--auth=required; with --auth=off it opens the tenant registry for Admin.");
ABSL_FLAG(std::string, previous_secrets_key_file, "",
          "Key rotation: the file of the secrets key used so far. At start, tenant secrets "
          "sealed with it are re-encrypted with --secrets-key-file (logged with their count); "
          "remove this flag once countd has started with both.");
ABSL_FLAG(bool, allow_insecure_secret, false,
          "Accept the Gigya 'secret' parameter on plain-HTTP connections (signed requests are "
          "always accepted).");
ABSL_FLAG(absl::Duration, signature_window, absl::Seconds(120),
          "How far a signed Gigya request's timestamp may be from the server's clock, either way; "
          "its nonce is remembered that long.");

// TLS, reflection, and gRPC/HTTP connection limits.
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain, the server's certificate first. With --tls-key-file: TLS on "
          "both the gRPC and the HTTP port. Read at start only (rotation = restart).");
ABSL_FLAG(std::string, tls_key_file, "",
          "Unencrypted PEM private key of the --tls-cert-file certificate.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle. Set: mutual TLS, clients on both ports must present a certificate "
          "signed by one of these CAs. Needs --tls-cert-file and --tls-key-file.");
ABSL_FLAG(bool, grpc_reflection, true,
          "Serve gRPC server reflection (grpcurl list/describe without .proto files). The gRPC "
          "health service is served either way.");
ABSL_FLAG(int64_t, grpc_max_message_bytes, 4 << 20,
          "Largest gRPC message received or sent, bytes (16384..1073741824); larger ones fail "
          "with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int32_t, grpc_max_concurrent_streams, 1000,
          "Calls in flight per gRPC connection (HTTP/2 MAX_CONCURRENT_STREAMS, 1..1000000); "
          "clients queue further calls.");
ABSL_FLAG(absl::Duration, grpc_max_connection_idle, absl::Minutes(30),
          "A gRPC connection without calls for this long is closed with GOAWAY (clients "
          "reconnect when needed). 0 = never.");
ABSL_FLAG(absl::Duration, grpc_max_connection_age, absl::ZeroDuration(),
          "gRPC connections are closed with GOAWAY after about this long (+-10%), so that "
          "clients reconnect and rebalance. 0 = never.");
ABSL_FLAG(absl::Duration, grpc_max_connection_age_grace, absl::Seconds(30),
          "After --grpc-max-connection-age, how long calls in flight may still finish.");
ABSL_FLAG(absl::Duration, grpc_keepalive_time, absl::Hours(2),
          "The server pings a gRPC connection that was silent this long, and closes it when "
          "the ping is not answered within 20s (>= 10s).");
ABSL_FLAG(int64_t, http_max_connections, 10000,
          "Open HTTP connections (1..1000000); further ones are accepted and closed at once.");
ABSL_FLAG(std::string, trusted_proxies, "",
          "Comma-separated CIDR ranges or addresses of reverse proxies (ingress, load balancer) "
          "whose X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host headers countd believes: "
          "the client address, https for the Gigya secret check, and the URL Gigya signatures "
          "are verified against. Empty: those headers are ignored.");
ABSL_FLAG(int64_t, http_max_url_bytes, 8 << 10,
          "Longest HTTP request target (path and query), bytes (256..--http-max-header-bytes); "
          "longer ones are refused in the route family's error form (else 414).");

namespace countd {
namespace {

const char* const kFlagNames[] = {
    "store",
    "data_dir",
    "redis_nodes",
    "redis_username",
    "redis_password_file",
    "redis_key_prefix",
    "redis_connect_timeout",
    "redis_command_timeout",
    "redis_wait_replicas",
    "redis_wait_timeout",
    "config_cache_ttl",
    "restart",
    "verify_only",
    "max_partitions",
    "grpc_addr",
    "http_addr",
    "sync",
    "grace_period",
    "block_cache_mb",
    "memtable_mb",
    "daily_retention_days",
    "monthly_retention_months",
    "stash_retention_days",
    "tally_max_ranked_items",
    "http_max_body_bytes",
    "http_max_header_bytes",
    "http_read_timeout",
    "http_idle_timeout",
    "workers",
    "grpc_cq_threads",
    "log_level",
    "tls_cert_file",
    "tls_key_file",
    "tls_client_ca_file",
    "grpc_reflection",
    "grpc_max_message_bytes",
    "grpc_max_concurrent_streams",
    "grpc_max_connection_idle",
    "grpc_max_connection_age",
    "grpc_max_connection_age_grace",
    "grpc_keepalive_time",
    "http_max_connections",
    "http_max_url_bytes",
    "trusted_proxies",
    "auth",
    "operator_token_file",
    "secrets_key_file",
    "previous_secrets_key_file",
    "allow_insecure_secret",
    "signature_window",
};

absl::Status Bad(absl::string_view flag, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", why));
}

template <typename T>
absl::Status CheckRange(absl::string_view flag, T value, T lo, T hi) {
  if (value < lo || value > hi) {
    return Bad(flag, absl::StrCat(value, " is outside ", lo, "..", hi));
  }
  return absl::OkStatus();
}

// Flags naming files with credentials: the startup log says only whether they are set.
const char* const kCredentialFileFlags[] = {"operator_token_file", "secrets_key_file",
                                            "previous_secrets_key_file", "redis_password_file"};

// Credential files are small; a bigger one is the wrong file.
constexpr std::streamsize kMaxCredentialFileBytes = 4096;

// The contents of a credential file named by `flag`. Errors: INVALID_ARGUMENT naming the flag
// and the path (never the contents).
absl::StatusOr<std::string> ReadCredentialFile(absl::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Bad(flag, absl::StrCat("cannot read \"", path, "\": ", std::strerror(errno)));
  }
  std::string text(kMaxCredentialFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return Bad(flag, absl::StrCat("cannot read \"", path, "\": ", std::strerror(errno)));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > static_cast<size_t>(kMaxCredentialFileBytes)) {
    return Bad(flag, absl::StrCat("\"", path, "\" is larger than ", kMaxCredentialFileBytes,
                                  " bytes: not a credential file"));
  }
  return text;
}

// The 32-byte key in the secrets key file `path` of flag `flag`. Errors: INVALID_ARGUMENT naming
// the flag and the path (never the contents).
absl::StatusOr<std::string> ReadSecretsKey(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> text = ReadCredentialFile(flag, path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> key = logic::ParseSecretsKey(*text);
  logic::Cleanse(&*text);
  if (!key.ok()) return Bad(flag, absl::StrCat("\"", path, "\" ", key.status().message()));
  return key;
}

// The operator token of --operator-token-file: trimmed, at least 32 printable characters
// without spaces (it travels in a header).
absl::StatusOr<std::string> ReadOperatorToken(const std::string& path) {
  absl::StatusOr<std::string> text = ReadCredentialFile("operator-token-file", path);
  if (!text.ok()) return text.status();
  std::string token(absl::StripAsciiWhitespace(*text));
  logic::Cleanse(&*text);
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      logic::Cleanse(&token);
      return Bad("operator-token-file",
                 absl::StrCat("\"", path,
                              "\" must hold one token of printable ASCII without "
                              "spaces or line breaks (it is sent in a header)"));
    }
  }
  if (token.size() < 32) {
    const size_t n = token.size();
    logic::Cleanse(&token);
    return Bad("operator-token-file",
               absl::StrCat("\"", path, "\" holds a token of ", n,
                            " characters; at least 32 are required (e.g. head -c32 "
                            "/dev/urandom | base64)"));
  }
  return token;
}

// "--data-dir=x" -> "--data_dir=x": the documented spelling uses dashes, Abseil flag names
// are identifiers. Values and non-flag arguments are left alone.
std::string NormalizeFlagName(std::string arg) {
  if (arg.size() < 2 || arg[0] != '-' || arg == "--") return arg;
  size_t start = arg[1] == '-' ? 2 : 1;
  size_t end = arg.find('=');
  if (end == std::string::npos) end = arg.size();
  for (size_t i = start; i < end; ++i) {
    if (arg[i] == '-') arg[i] = '_';
  }
  return arg;
}

// 0 (= never) or within 1s..1 year.
absl::Status CheckOptionalDuration(absl::string_view flag, absl::Duration d) {
  if (d == absl::ZeroDuration() || (d >= absl::Seconds(1) && d <= absl::Hours(24 * 365))) {
    return absl::OkStatus();
  }
  return Bad(flag, absl::StrCat(absl::FormatDuration(d), " is neither 0 nor within 1s..8760h"));
}

// The TLS, reflection and connection-limit flags into `c` (after the HTTP header limit is set).
absl::Status TlsAndConnectionFlags(ServerConfig& c) {
  c.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  c.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  c.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  c.grpc_reflection = absl::GetFlag(FLAGS_grpc_reflection);
  c.grpc_max_message_bytes = absl::GetFlag(FLAGS_grpc_max_message_bytes);
  absl::Status s = CheckRange<int64_t>("grpc-max-message-bytes", c.grpc_max_message_bytes, 16 << 10,
                                       int64_t{1} << 30);
  if (!s.ok()) return s;
  c.grpc_max_concurrent_streams = absl::GetFlag(FLAGS_grpc_max_concurrent_streams);
  s = CheckRange("grpc-max-concurrent-streams", c.grpc_max_concurrent_streams, 1, 1'000'000);
  if (!s.ok()) return s;
  c.grpc_max_connection_idle = absl::GetFlag(FLAGS_grpc_max_connection_idle);
  s = CheckOptionalDuration("grpc-max-connection-idle", c.grpc_max_connection_idle);
  if (!s.ok()) return s;
  c.grpc_max_connection_age = absl::GetFlag(FLAGS_grpc_max_connection_age);
  s = CheckOptionalDuration("grpc-max-connection-age", c.grpc_max_connection_age);
  if (!s.ok()) return s;
  c.grpc_max_connection_age_grace = absl::GetFlag(FLAGS_grpc_max_connection_age_grace);
  if (c.grpc_max_connection_age_grace < absl::ZeroDuration() ||
      c.grpc_max_connection_age_grace > absl::Hours(24)) {
    return Bad("grpc-max-connection-age-grace", "must be within 0s..24h");
  }
  c.grpc_keepalive_time = absl::GetFlag(FLAGS_grpc_keepalive_time);
  if (c.grpc_keepalive_time < absl::Seconds(10) || c.grpc_keepalive_time > absl::Hours(24 * 365)) {
    return Bad("grpc-keepalive-time", "must be within 10s..8760h");
  }
  c.http_max_connections = absl::GetFlag(FLAGS_http_max_connections);
  s = CheckRange<int64_t>("http-max-connections", c.http_max_connections, 1, 1'000'000);
  if (!s.ok()) return s;
  c.http_max_url_bytes = absl::GetFlag(FLAGS_http_max_url_bytes);
  if (c.http_max_url_bytes < 256 || c.http_max_url_bytes > c.http_max_header_bytes) {
    return Bad("http-max-url-bytes",
               absl::StrCat(c.http_max_url_bytes, " is outside 256..", c.http_max_header_bytes,
                            " (the request line is part of --http-max-header-bytes)"));
  }
  absl::StatusOr<http::ProxyList> proxies =
      http::ProxyList::Parse(absl::GetFlag(FLAGS_trusted_proxies));
  if (!proxies.ok()) return Bad("trusted-proxies", proxies.status().message());
  c.trusted_proxies = *std::move(proxies);
  return absl::OkStatus();
}

// The --redis-* flags into `r`. `nodes_required`: the reason --redis-nodes must be set (nullptr:
// it may be empty).
absl::Status RedisFlags(const char* nodes_required, RedisConfig* r) {
  r->nodes = absl::GetFlag(FLAGS_redis_nodes);
  if (nodes_required != nullptr && r->nodes.empty()) {
    return Bad("redis-nodes", absl::StrCat(nodes_required, " (HOST:PORT,HOST:PORT)"));
  }
  r->username = absl::GetFlag(FLAGS_redis_username);
  const std::string password_file = absl::GetFlag(FLAGS_redis_password_file);
  if (!password_file.empty()) {
    absl::StatusOr<std::string> password = ReadCredentialFile("redis-password-file", password_file);
    if (!password.ok()) return password.status();
    r->password = std::string(absl::StripAsciiWhitespace(*password));
    logic::Cleanse(&*password);
    if (r->password.empty()) return Bad("redis-password-file", "the file is empty");
  }
  r->key_prefix = absl::GetFlag(FLAGS_redis_key_prefix);
  if (r->key_prefix.empty() || r->key_prefix.size() > 64 ||
      r->key_prefix.find_first_of("{} \t\r\n") != std::string::npos) {
    return Bad("redis-key-prefix", "must be 1..64 characters without braces or whitespace");
  }
  r->connect_timeout = absl::GetFlag(FLAGS_redis_connect_timeout);
  r->command_timeout = absl::GetFlag(FLAGS_redis_command_timeout);
  for (auto [flag, d] :
       {std::pair<const char*, absl::Duration>{"redis-connect-timeout", r->connect_timeout},
        {"redis-command-timeout", r->command_timeout}}) {
    if (d < absl::Milliseconds(1) || d > absl::Minutes(1)) return Bad(flag, "must be 1ms..1m");
  }
  r->wait_replicas = absl::GetFlag(FLAGS_redis_wait_replicas);
  absl::Status replicas = CheckRange<int32_t>("redis-wait-replicas", r->wait_replicas, 0, 16);
  if (!replicas.ok()) return replicas;
  r->wait_timeout = absl::GetFlag(FLAGS_redis_wait_timeout);
  if (r->wait_timeout < absl::Milliseconds(1) || r->wait_timeout >= r->command_timeout) {
    return Bad("redis-wait-timeout", "must be at least 1ms and below --redis-command-timeout");
  }
  return absl::OkStatus();
}

// The RocksDB cache and memtable sizes and the retention flags.
absl::Status RocksDbFlags(size_t* block_cache_bytes, size_t* memtable_bytes,
                          storage::Retention* retention) {
  int64_t cache_mb = absl::GetFlag(FLAGS_block_cache_mb);
  absl::Status s = CheckRange<int64_t>("block-cache-mb", cache_mb, 8, 1 << 20);
  if (!s.ok()) return s;
  *block_cache_bytes = static_cast<size_t>(cache_mb) << 20;
  int64_t memtable_mb = absl::GetFlag(FLAGS_memtable_mb);
  s = CheckRange<int64_t>("memtable-mb", memtable_mb, 8, 1 << 20);
  if (!s.ok()) return s;
  *memtable_bytes = static_cast<size_t>(memtable_mb) << 20;
  retention->daily_days = absl::GetFlag(FLAGS_daily_retention_days);
  s = CheckRange("daily-retention-days", retention->daily_days, 1, 3650);
  if (!s.ok()) return s;
  retention->monthly_months = absl::GetFlag(FLAGS_monthly_retention_months);
  s = CheckRange("monthly-retention-months", retention->monthly_months, 1, 1200);
  if (!s.ok()) return s;
  retention->stash_days = absl::GetFlag(FLAGS_stash_retention_days);
  return CheckRange("stash-retention-days", retention->stash_days, 1, 3650);
}

}  // namespace

std::vector<std::string> ArgsWithEnvironment(int argc, char** argv) {
  std::vector<std::string> args;
  args.emplace_back(argc > 0 ? argv[0] : "countd");
  for (const char* name : kFlagNames) {
    std::string env = absl::StrCat("COUNTD_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(env.c_str());
    if (value != nullptr) args.push_back(absl::StrCat("--", name, "=", value));
  }
  for (int i = 1; i < argc; ++i) args.push_back(NormalizeFlagName(argv[i]));
  return args;
}

absl::StatusOr<ServerConfig> ConfigFromFlags() {
  ServerConfig c;
  const std::string store = absl::GetFlag(FLAGS_store);
  if (store == "rocksdb") {
    c.store = storage::StoreKind::kRocksDb;
  } else if (store == "redis-cluster") {
    c.store = storage::StoreKind::kRedisCluster;
  } else {
    return Bad("store", absl::StrCat("\"", store, "\" is not rocksdb or redis-cluster"));
  }
  if (absl::GetFlag(FLAGS_restart) || absl::GetFlag(FLAGS_verify_only) ||
      absl::GetFlag(FLAGS_max_partitions) != 0) {
    const char* flag = absl::GetFlag(FLAGS_restart)       ? "restart"
                       : absl::GetFlag(FLAGS_verify_only) ? "verify-only"
                                                          : "max-partitions";
    return Bad(flag, "is a flag of `countd migrate-to-redis`, not of the server");
  }
  c.data_dir = absl::GetFlag(FLAGS_data_dir);
  if (c.data_dir.empty()) return Bad("data-dir", "must not be empty");
  absl::Status redis = RedisFlags(c.store == storage::StoreKind::kRedisCluster
                                      ? "is required with --store=redis-cluster"
                                      : nullptr,
                                  &c.redis);
  if (!redis.ok()) return redis;
  c.config_cache_ttl = absl::GetFlag(FLAGS_config_cache_ttl);
  if (c.config_cache_ttl < absl::ZeroDuration() || c.config_cache_ttl > logic::kMaxConfigCacheTtl) {
    return Bad("config-cache-ttl", "must be within 0s..1h");
  }
  c.grpc_addr = absl::GetFlag(FLAGS_grpc_addr);
  c.http_addr = absl::GetFlag(FLAGS_http_addr);
  std::string sync = absl::GetFlag(FLAGS_sync);
  if (sync == "none") {
    c.sync = storage::SyncMode::kNone;
  } else if (sync == "always") {
    c.sync = storage::SyncMode::kAlways;
  } else {
    return Bad("sync", absl::StrCat("\"", sync, "\" is not none or always"));
  }
  c.grace_period = absl::GetFlag(FLAGS_grace_period);
  if (c.grace_period < absl::ZeroDuration() || c.grace_period > absl::Hours(1)) {
    return Bad("grace-period", "must be within 0s..1h");
  }
  absl::Status s = RocksDbFlags(&c.block_cache_bytes, &c.memtable_bytes, &c.retention);
  if (!s.ok()) return s;
  int64_t ranked = absl::GetFlag(FLAGS_tally_max_ranked_items);
  s = CheckRange<int64_t>("tally-max-ranked-items", ranked, 1000, int64_t{1} << 32);
  if (!s.ok()) return s;
  c.tally_max_ranked_items = static_cast<size_t>(ranked);
  c.http_max_body_bytes = absl::GetFlag(FLAGS_http_max_body_bytes);
  s = CheckRange<int64_t>("http-max-body-bytes", c.http_max_body_bytes, 1024, int64_t{64} << 20);
  if (!s.ok()) return s;
  c.http_max_header_bytes = absl::GetFlag(FLAGS_http_max_header_bytes);
  s = CheckRange<int64_t>("http-max-header-bytes", c.http_max_header_bytes, 1024, 1 << 20);
  if (!s.ok()) return s;
  c.http_read_timeout = absl::GetFlag(FLAGS_http_read_timeout);
  c.http_idle_timeout = absl::GetFlag(FLAGS_http_idle_timeout);
  if (c.http_read_timeout <= absl::ZeroDuration() || c.http_read_timeout > absl::Hours(1)) {
    return Bad("http-read-timeout", "must be within (0s, 1h]");
  }
  if (c.http_idle_timeout <= absl::ZeroDuration() || c.http_idle_timeout > absl::Hours(24)) {
    return Bad("http-idle-timeout", "must be within (0s, 24h]");
  }
  c.workers = absl::GetFlag(FLAGS_workers);
  s = CheckRange("workers", c.workers, -1, 1024);
  if (!s.ok()) return s;
  c.grpc_cq_threads = absl::GetFlag(FLAGS_grpc_cq_threads);
  s = CheckRange("grpc-cq-threads", c.grpc_cq_threads, 0, 64);
  if (!s.ok()) return s;
  s = TlsAndConnectionFlags(c);
  if (!s.ok()) return s;
  std::string level = LogLevelFlag();
  if (level != "debug" && level != "info" && level != "warn" && level != "error") {
    return Bad("log-level", absl::StrCat("\"", level, "\" is not debug, info, warn or error"));
  }
  std::string auth = absl::GetFlag(FLAGS_auth);
  if (auth == "required") {
    c.auth_required = true;
  } else if (auth == "off") {
    c.auth_required = false;
  } else {
    return Bad("auth", absl::StrCat("\"", auth, "\" is not required or off"));
  }
  const std::string token_file = absl::GetFlag(FLAGS_operator_token_file);
  if (!token_file.empty()) {
    absl::StatusOr<std::string> token = ReadOperatorToken(token_file);
    if (!token.ok()) return token.status();
    c.operator_token = *std::move(token);
  } else if (c.auth_required) {
    return Bad("operator-token-file",
               "is required with --auth=required: a file holding the operator token (at least 32 "
               "characters, e.g. head -c32 /dev/urandom | base64 > FILE); for development, "
               "--auth=off runs without authentication");
  }
  const std::string key_file = absl::GetFlag(FLAGS_secrets_key_file);
  const std::string previous_file = absl::GetFlag(FLAGS_previous_secrets_key_file);
  if (!key_file.empty()) {
    absl::StatusOr<std::string> key = ReadSecretsKey("secrets-key-file", key_file);
    if (!key.ok()) return key.status();
    c.secrets_key = *std::move(key);
    if (!previous_file.empty()) {
      absl::StatusOr<std::string> previous =
          ReadSecretsKey("previous-secrets-key-file", previous_file);
      if (!previous.ok()) return previous.status();
      c.previous_secrets_key = *std::move(previous);
      if (c.previous_secrets_key == c.secrets_key) {
        return Bad("previous-secrets-key-file",
                   "holds the same key as --secrets-key-file: rotation needs a new key there");
      }
    }
  } else if (!previous_file.empty()) {
    return Bad("previous-secrets-key-file", "needs --secrets-key-file (the new key)");
  } else if (c.auth_required) {
    return Bad("secrets-key-file",
               "is required with --auth=required: a file holding the 32-byte key that encrypts "
               "tenant secrets (head -c32 /dev/urandom | base64 > FILE); for development, "
               "--auth=off runs without authentication");
  }
  c.allow_insecure_secret = absl::GetFlag(FLAGS_allow_insecure_secret);
  c.signature_window = absl::GetFlag(FLAGS_signature_window);
  if (c.signature_window <= absl::ZeroDuration() || c.signature_window > absl::Hours(24)) {
    return Bad("signature-window", "must be within (0s, 24h]");
  }
  return c;
}

absl::StatusOr<MigrateConfig> MigrateConfigFromFlags() {
  MigrateConfig c;
  c.data_dir = absl::GetFlag(FLAGS_data_dir);
  if (c.data_dir.empty()) return Bad("data-dir", "must not be empty");
  absl::Status s = RedisFlags("is required: the cluster to move the data into", &c.redis);
  if (!s.ok()) return s;
  s = RocksDbFlags(&c.block_cache_bytes, &c.memtable_bytes, &c.retention);
  if (!s.ok()) return s;
  c.restart = absl::GetFlag(FLAGS_restart);
  c.verify_only = absl::GetFlag(FLAGS_verify_only);
  c.max_partitions = absl::GetFlag(FLAGS_max_partitions);
  if (c.max_partitions < 0) return Bad("max-partitions", "must be 0 (no limit) or more");
  if (c.verify_only && (c.restart || c.max_partitions != 0)) {
    return Bad("verify-only", "copies nothing: --restart and --max-partitions do not apply");
  }
  const std::string level = LogLevelFlag();
  if (level != "debug" && level != "info" && level != "warn" && level != "error") {
    return Bad("log-level", absl::StrCat("\"", level, "\" is not debug, info, warn or error"));
  }
  return c;
}

std::string LogLevelFlag() { return absl::GetFlag(FLAGS_log_level); }

std::string EffectiveFlags() {
  std::string out;
  for (const char* name : kFlagNames) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) continue;
    std::string value = flag->CurrentValue();
    for (const char* credential : kCredentialFileFlags) {
      if (absl::string_view(name) == credential) value = value.empty() ? "<unset>" : "<set>";
    }
    absl::StrAppend(&out, out.empty() ? "" : " ", name, "=", value);
  }
  return out;
}

}  // namespace countd
