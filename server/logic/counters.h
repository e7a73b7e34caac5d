// server/logic/counters.h — the Signals counters: a per-tenant registry of (class, path) pairs
// and per-user counters with total, monthly, daily and last-7-days periods.
#ifndef COUNTD_SERVER_LOGIC_COUNTERS_H_
#define COUNTD_SERVER_LOGIC_COUNTERS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "server/logic/config_cache.h"
#include "server/logic/request_log.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd::logic {

inline constexpr int kDefaultMaxPathDepth = 2;
inline constexpr int kMaxPathDepthLimit = 8;
inline constexpr size_t kMaxRegisteredPerTenant = 1000;
inline constexpr size_t kMaxCountersPerCall = 100;
inline constexpr size_t kMaxQueriesPerCall = 100;
inline constexpr size_t kMaxCountersPerAnswer = 10000;

struct CounterPath {
  std::string cls;
  std::string path;
};

struct CounterIncrement {
  std::string cls;
  std::string path;
  absl::optional<double> value;   // default 0
  absl::optional<int64_t> count;  // default 1
};

// Who the counters belong to. Exactly one of the two must be set.
struct CounterUser {
  absl::optional<std::string> uid;
  absl::optional<std::string> reg_token;
};

struct IncrementCountersArgs {
  std::string tenant;
  CounterUser user;
  std::vector<CounterIncrement> counters;
  std::string request_id;                 // empty = none
  absl::optional<int64_t> event_time_ms;  // unix ms; absent = now
};

// A GetCounters filter; empty fields match everything (period: "total").
struct CounterQuery {
  std::string cls;
  std::string path;
  std::string period;
};

struct GetCountersArgs {
  std::string tenant;
  CounterUser user;
  std::vector<CounterQuery> counters;  // empty = every counter, period total
};

struct CounterValue {
  std::string cls;
  std::string path;
  std::string period;  // "total", "YYMM", "YYMMDD" or "last7Days"
  int64_t count = 0;
  absl::int128 value_micros = 0;
  absl::Time last_updated;
};

struct CounterSettings {
  int max_path_depth = kDefaultMaxPathDepth;
};

struct CountersOptions {
  int daily_retention_days = 90;
  int monthly_retention_months = 25;
  // When processes share the store: how stale a cached registry may be (ConfigCacheOptions).
  absl::Duration config_cache_ttl = kDefaultConfigCacheTtl;
};

// Validates a counter path: "/" or "/seg[/seg...]" with segments of [A-Za-z0-9_.-], no
// trailing slash, at most kMaxPathDepthLimit levels. Returns the depth ("/" is 0).
// Errors: INVALID_ARGUMENT naming `field`.
absl::StatusOr<int> PathDepth(absl::string_view field, absl::string_view path);

// The Signals counters service logic. Thread-safe: increments of different users run in
// parallel; registry changes are serialized per process and conditional on the registry's
// version record, so changes from processes sharing a store never lose one another. Each process
// caches registries: when the store is shared, a change made through one process is seen by the
// others' increments and reads at most `config_cache_ttl` after it returned (at once by the
// process that made it); the changes themselves always start from the stored registry.
class Counters {
 public:
  // `store`, `clock` and `requests` must outlive this object.
  Counters(storage::Store* store, const storage::Clock* clock, RequestLog* requests,
           CountersOptions options);

  // Registers pairs (no-op for pairs already registered).
  // Errors: INVALID_ARGUMENT naming the bad field (class, path syntax, depth over the tenant's
  // max_path_depth); FAILED_PRECONDITION when the tenant would pass kMaxRegisteredPerTenant;
  // UNAVAILABLE on storage failure.
  absl::Status RegisterCounters(const std::string& tenant, const std::vector<CounterPath>& paths);

  // The tenant's registered pairs ordered by class, then path. Errors: INVALID_ARGUMENT,
  // UNAVAILABLE.
  absl::StatusOr<std::vector<CounterPath>> GetRegisteredCounters(const std::string& tenant);

  // Unregisters pairs; data stays readable. Errors: INVALID_ARGUMENT, UNAVAILABLE.
  absl::Status UnregisterCounters(const std::string& tenant, const std::vector<CounterPath>& paths);

  // Settings of a tenant. Errors: INVALID_ARGUMENT (max_path_depth outside 1..8), UNAVAILABLE.
  absl::StatusOr<CounterSettings> SetCounterSettings(const std::string& tenant,
                                                     const CounterSettings& settings);
  absl::StatusOr<CounterSettings> GetCounterSettings(const std::string& tenant);

  // Applies all increments in one atomic write (or none).
  // Errors: INVALID_ARGUMENT naming the bad field; FAILED_PRECONDITION for an unregistered path
  // (field "counters[i].path") or a request_id reused for another request; UNAVAILABLE.
  absl::Status IncrementCounters(const IncrementCountersArgs& args);

  // Reads counters. Errors: INVALID_ARGUMENT naming the bad field (including a filter set that
  // matches more than kMaxCountersPerAnswer entries); UNAVAILABLE.
  absl::StatusOr<std::vector<CounterValue>> GetCounters(const GetCountersArgs& args);

 private:
  struct Registry {
    absl::flat_hash_set<std::string> pairs;  // class + '\0' + path
    CounterSettings settings;
  };

  // Validates tenant and pairs, then lets `change` edit a copy of the tenant's current registry
  // and fill a batch; writes the batch (with the version bump) and publishes the copy when it is
  // not empty.
  using RegistryChange = std::function<absl::Status(Registry* next, storage::WriteBatch* batch)>;
  absl::Status ChangeRegistry(const std::string& tenant, const std::vector<CounterPath>& paths,
                              const RegistryChange& change);

  absl::StatusOr<std::shared_ptr<const Registry>> GetRegistry(const std::string& tenant);
  absl::StatusOr<std::shared_ptr<const Registry>> LoadRegistry(const std::string& tenant);
  absl::Status UpdateRegistry(const std::string& tenant, const RegistryChange& change);

  storage::Store* store_;
  const storage::Clock* clock_;
  RequestLog* requests_;
  CountersOptions options_;

  ConfigCache<Registry> cache_;
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_COUNTERS_H_
