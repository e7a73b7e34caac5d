// server/logic/nonce_cache.h — remembers the nonces of signed requests for as long as their
// signature is valid, so that a captured request cannot be sent again. Protocol-free.
#ifndef COUNTD_SERVER_LOGIC_NONCE_CACHE_H_
#define COUNTD_SERVER_LOGIC_NONCE_CACHE_H_

#include <cstddef>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd::logic {

// The (tenant, nonce) pairs seen, each until its expiry. Memory stays bounded: a record is
// dropped once expired (no replay of it can pass the timestamp check any more), and a tenant
// holds at most `max_per_tenant` unexpired records. Nothing unexpired is ever evicted: a full
// tenant gets its new signed requests refused (rate limited) until records expire, instead of
// silently forgetting nonces that could then be replayed.
//
// Checked in memory. With a store, every record is also written there (table kRequests, scope
// "nonce", expiring with the record) before Use() says OK, and Load() reads the unexpired ones
// back at start: a restart forgets nothing. Processes sharing a store (Redis Cluster) each keep
// their own memory, but the store write expects the record absent, so a nonce first seen by
// another process is refused as a replay by the store. Thread-safe.
class NonceCache {
 public:
  struct Options {
    const storage::Clock* clock = nullptr;  // required; must outlive the cache
    size_t max_per_tenant = 100'000;        // unexpired records per tenant; >= 1
    // Where records survive restarts; nullptr = memory only. Must outlive the cache.
    storage::Store* store = nullptr;
  };

  explicit NonceCache(const Options& options);
  NonceCache(const NonceCache&) = delete;
  NonceCache& operator=(const NonceCache&) = delete;

  // Reads the unexpired records of the store into memory (call once, before Use). OK without a
  // store. Errors: UNAVAILABLE when storage fails; DATA_LOSS for a malformed record.
  absl::Status Load();

  // Records that `tenant` used `nonce` in a request whose signature stays valid until
  // `expires` (inclusive). OK the first time. Errors: AuthFailure kReplay (field "nonce") when
  // the pair was recorded and has not expired; AuthFailure kRateLimited (field "nonce") when
  // the tenant already holds max_per_tenant unexpired records (nothing is recorded then);
  // UNAVAILABLE when the store fails (the record is dropped again, so a retry may use it).
  // An `expires` already past is accepted and forgotten at once: callers refuse stale
  // timestamps before they get here.
  absl::Status Use(absl::string_view tenant, absl::string_view nonce, absl::Time expires);

  // Unexpired records held, all tenants together (expired ones may still count until the next
  // Use() sweeps them).
  size_t SizeForTest() const;

 private:
  struct TenantNonces {
    // Expiry order; the strings live in these nodes, which never move.
    std::multimap<absl::Time, std::string> by_expiry;
    absl::flat_hash_set<absl::string_view> seen;  // views into by_expiry's strings
  };

  // Drops the expired records of `t`.
  static void Expire(TenantNonces* t, absl::Time now);
  // Drops the expired records of every tenant, at most once a second; empty tenants go.
  void SweepLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records (tenant, nonce) until `expires` in memory. kReplay / kRateLimited as Use.
  absl::Status RecordLocked(absl::string_view tenant, absl::string_view nonce, absl::Time expires,
                            absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the record RecordLocked made (after a failed store write).
  void Forget(absl::string_view tenant, absl::string_view nonce, absl::Time expires);

  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, TenantNonces> tenants_ ABSL_GUARDED_BY(mu_);
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_NONCE_CACHE_H_
