// server/logic/config_cache.h — in-process caches of stored configuration (the Signals registry,
// the GameMechanics configuration, the tenant registry) that stay correct when several countd
// processes share one store: every change bumps a version record in the same atomic, conditional
// write, and a process re-reads that record before it trusts a cached value older than a bound.
#ifndef COUNTD_SERVER_LOGIC_CONFIG_CACHE_H_
#define COUNTD_SERVER_LOGIC_CONFIG_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd::logic {

// How long, by default, a process sharing its store serves a cached configuration before it
// re-reads the configuration's version record (--config-cache-ttl).
inline constexpr absl::Duration kDefaultConfigCacheTtl = absl::Seconds(1);
// Longest --config-cache-ttl accepted.
inline constexpr absl::Duration kMaxConfigCacheTtl = absl::Hours(1);

struct ConfigCacheOptions {
  // Required; must outlive the cache. Measures the age of a cached value.
  const storage::Clock* clock = nullptr;
  // The staleness bound, >= 0: a read that starts more than `ttl` after a change returned (in
  // any process) sees that change. 0 = every read checks the version record. Ignored on a store
  // one process owns (StoreKind::kRocksDb): every change goes through this process's cache, which
  // is therefore never stale and never re-checked.
  absl::Duration ttl = kDefaultConfigCacheTtl;
  // Units held at most; past it the cache forgets everything (units reload on demand).
  size_t max_units = 4096;
};

// One cached unit: the partition its records and version record live in, and the version
// record's key (table kMeta; storage/keys.h builds them).
struct ConfigUnit {
  storage::Partition partition;
  std::string version_key;
  std::string what;  // for error messages, e.g. "the GameMechanics configuration of tenant \"a\""
};

// The untyped core of ConfigCache<T> (below), which is what callers use.
//
// Each unit has a version record: an 8-byte big-endian count of its changes (absent = 0).
// Update() adds to the change's batch the precondition "the version is still the one the change
// was computed from" and the bumped version, so that concurrent changes from different processes
// never lose one another (the loser re-reads and recomputes). Get() serves a cached value while
// it was validated less than `ttl` ago; after that it reads the version record (one point read)
// and reloads the unit only when the version moved.
//
// Thread-safe. Changes (and loads) are serialized per cache; validated reads take a reader lock.
class ConfigVersionCache {
 public:
  using Value = std::shared_ptr<const void>;
  // Where the unit `name` and its version record live.
  using Locate = std::function<ConfigUnit(const std::string& name)>;
  // Reads the records of unit `name` from the store. `previous` is the value held before
  // (nullptr when none), for loaders that can reuse parts of it. Called under the change lock.
  using Loader =
      std::function<absl::StatusOr<Value>(const std::string& name, const Value& previous)>;
  // Computes a change from `current`: fills `batch` (of the unit's partition) and returns the
  // value the unit has once the batch is written. A batch left empty writes nothing and keeps
  // the cached value (a no-op). May run more than once per Update (after ABORTED), each time
  // from a fresh `current` and an empty batch.
  using Change =
      std::function<absl::StatusOr<Value>(const Value& current, storage::WriteBatch* batch)>;

  // `store` must outlive the cache; `locate` and `load` are called for as long as it lives.
  ConfigVersionCache(storage::Store* store, const ConfigCacheOptions& options, Locate locate,
                     Loader load);
  ConfigVersionCache(const ConfigVersionCache&) = delete;
  ConfigVersionCache& operator=(const ConfigVersionCache&) = delete;

  // The unit's value, validated at most `ttl` ago (loaded when not held). On the fast path (a
  // unit held and fresh, or any held unit when nothing is re-validated) it takes a reader lock
  // and copies a pointer: no storage access, no allocation.
  // Errors: those of the loader; UNAVAILABLE / DEADLINE_EXCEEDED when the version read fails;
  // DATA_LOSS when the version record is not 8 bytes. A failed read caches nothing.
  absl::StatusOr<Value> Get(absl::string_view name);

  // Applies `change` to the unit's current value (exact as of the call: the version record is
  // read first when the store is shared) and writes its batch with the version precondition and
  // bump; the new value is then what this process reads (read-your-writes). Retried from fresh
  // reads when another process changed the unit meanwhile.
  // Errors: those of `change` (nothing written); those of Get; the write's (UNAVAILABLE;
  // DEADLINE_EXCEEDED, after which the unit is reloaded on next use since the write may have
  // landed); ABORTED after kMaxWriteAttempts conflicting attempts.
  absl::Status Update(absl::string_view name, const Change& change);

  // Whether cached values are re-validated (the store is shared by several processes).
  bool revalidates() const { return revalidate_; }

 private:
  struct Entry {
    Value value;
    uint64_t version = 0;
    // Every change that returned before this instant is in `value`.
    absl::Time checked;
  };

  // Get past the fast path: check the version, or load. `start`: when Get began (revalidating).
  absl::StatusOr<Value> GetSlow(const std::string& name, absl::Time start);
  absl::StatusOr<uint64_t> ReadVersion(const ConfigUnit& unit);
  // Loads the unit and caches it. Requires change_mu_.
  absl::StatusOr<Entry> LoadLocked(const std::string& name, const ConfigUnit& unit,
                                   const Value& previous) ABSL_EXCLUSIVE_LOCKS_REQUIRED(change_mu_);
  // The unit as of now (read the version, reload when it moved). Requires change_mu_.
  absl::StatusOr<Entry> FreshLocked(const std::string& name, const ConfigUnit& unit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(change_mu_);
  absl::optional<Entry> Cached(const std::string& name) const;
  void Put(const std::string& name, Entry entry);
  void Drop(const std::string& name);

  storage::Store* const store_;
  const ConfigCacheOptions options_;
  const Locate locate_;
  const Loader load_;
  const bool revalidate_;
  absl::Mutex change_mu_;
  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(change_mu_);
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// A ConfigVersionCache of values of type T, by unit name (e.g. a tenant). Thread-safe.
template <typename T>
class ConfigCache {
 public:
  using Ptr = std::shared_ptr<const T>;
  using Locate = ConfigVersionCache::Locate;
  using Loader = std::function<absl::StatusOr<Ptr>(const std::string& name, const T* previous)>;
  using Change = std::function<absl::StatusOr<Ptr>(const T& current, storage::WriteBatch* batch)>;

  ConfigCache(storage::Store* store, const ConfigCacheOptions& options, Locate locate, Loader load)
      : core_(store, options, std::move(locate),
              [load = std::move(load)](const std::string& name,
                                       const ConfigVersionCache::Value& previous)
                  -> absl::StatusOr<ConfigVersionCache::Value> {
                absl::StatusOr<Ptr> v = load(name, static_cast<const T*>(previous.get()));
                if (!v.ok()) return v.status();
                return ConfigVersionCache::Value(*std::move(v));
              }) {}

  absl::StatusOr<Ptr> Get(absl::string_view name) {
    absl::StatusOr<ConfigVersionCache::Value> v = core_.Get(name);
    if (!v.ok()) return v.status();
    return std::static_pointer_cast<const T>(*std::move(v));
  }

  absl::Status Update(absl::string_view name, const Change& change) {
    return core_.Update(
        name,
        [&](const ConfigVersionCache::Value& current,
            storage::WriteBatch* batch) -> absl::StatusOr<ConfigVersionCache::Value> {
          absl::StatusOr<Ptr> next = change(*static_cast<const T*>(current.get()), batch);
          if (!next.ok()) return next.status();
          return ConfigVersionCache::Value(*std::move(next));
        });
  }

  bool revalidates() const { return core_.revalidates(); }

 private:
  ConfigVersionCache core_;
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_CONFIG_CACHE_H_
