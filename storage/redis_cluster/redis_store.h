// storage/redis_cluster/redis_store.h — the Store (storage/store.h) over a Redis Cluster (7.0+),
// so that several countd processes share one store.
//
// Layout. Every key of a partition carries the hash tag "{<16 lowercase hex digits>}", the
// FNV-1a 64-bit hash of the partition id, so all of a partition's keys live in one slot and every
// Write is one atomic Lua script on one master. For each (partition, table) there is:
//   <prefix>{<tag>}h:<table name>:<partition id>  HASH  key -> value (the records)
//   <prefix>{<tag>}z:<table name>:<partition id>  ZSET  key, score 0 (the memcmp-ordered index
//                                                  that ZRANGEBYLEX pages through for Scan)
//   <prefix>{<tag>}e:<table name>:<partition id>  ZSET  key, score = expiry in unix ms (only for
//                                                  expiring tables: pruning and the group TTL)
// The full partition id follows the tag, so partitions whose hashes collide share a slot but
// never a key. `key_prefix` (no braces) lets several deployments share a cluster.
//
// Reads: Get/MultiGet are HGET/HMGET; Scan visits pages of 256 entries, each page one Lua script
// (one atomic read of keys and values), so a scan is NOT one snapshot: a write may land between
// pages. Expired records are hidden by storage/expiry.h with the store's clock and retention,
// exactly as RocksDB hides them.
//
// Writes: one Lua script checks every precondition (the caller passes the current time of the
// store's clock, so "absent or expired" is judged as on RocksDB), applies nothing and answers
// ABORTED if one fails, otherwise applies every op. AddCounter adds CounterCells exactly on their
// 32-byte encoding, byte by byte (never Lua's doubles). Memory stays bounded without per-field
// TTLs (Redis 7.0 has none): every write to an expiring group deletes up to
// kRedisPruneLimit of its expired fields (the oldest by expiry), and each group's three keys carry
// a TTL of its latest record expiry plus kRedisExpirySlack, so an idle group disappears whole.
//
// Rankings (Store::KeepsRankings is true): per ranking a sorted set per time bucket, one of the
// buckets kept and one aggregate that a forward-moving horizon subtracts expired buckets from;
// updated in the write script with the records (see kRankingLua and docs/storage.md).
//
// Durability: a Write returns after its master applied it; with `appendfsync always` on the
// masters that write is on the master's disk. wait_replicas > 0 adds WAIT in the same pipeline.
// What survives a master's kill -9 is what its AOF holds (and, after a failover, what its replica
// had received): see docs/storage.md.
#ifndef COUNTD_STORAGE_REDIS_CLUSTER_REDIS_STORE_H_
#define COUNTD_STORAGE_REDIS_CLUSTER_REDIS_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/clock.h"
#include "storage/redis_cluster/cluster_client.h"
#include "storage/store.h"

namespace countd::storage::redis {

// Expired fields one write deletes, at most, from each expiring group it touches.
inline constexpr int kRedisPruneLimit = 8;
// A group's keys outlive its latest record expiry by this much, so that processes whose clocks
// differ slightly never lose a record they still consider live.
inline constexpr absl::Duration kRedisExpirySlack = absl::Minutes(5);
// Entries per Scan page (one script call each).
inline constexpr int kRedisScanPage = 256;

struct RedisStoreOptions {
  ClusterClientOptions client;
  // First part of every key; must not contain '{' or '}'.
  std::string key_prefix = "countd";
  // Must be the same in every process sharing the cluster (writers prune and set TTLs by it).
  Retention retention;
  // Time source for expiry; must outlive the store. nullptr = RealClock().
  const Clock* clock = nullptr;
  // When > 0, every Write waits (WAIT) until this many replicas of the slot's master have it.
  int wait_replicas = 0;
  // Bound of that wait; must be positive and below client.command_timeout.
  absl::Duration wait_timeout = absl::Milliseconds(100);
};

// Connects to the cluster and returns a Store over it. Thread-safe like every Store.
// Stats: write_duration is measured; the RocksDB figures (memtables, caches, estimated_keys) stay
// 0, and `sync` says kAlways, the deployment contract (masters run appendfsync always), which the
// client does not probe. Checkpoint: kFailedPrecondition (use Redis persistence).
// ScanAllPartitions: kUnimplemented. Errors: kInvalidArgument for bad options; otherwise those of
// ClusterClient::Connect.
absl::StatusOr<std::unique_ptr<Store>> OpenRedisClusterStore(const RedisStoreOptions& options);

// The client counters of a store returned by OpenRedisClusterStore, for metrics.
// Errors: kInvalidArgument when `store` is another kind of store.
absl::StatusOr<ClusterClientStats> RedisClientStats(const Store& store);

// The physical key of a partition's table structure: kind 'h' (hash), 'z' (index) or 'e'
// (expiry index). Exposed for tests and operators.
std::string RedisGroupKey(absl::string_view key_prefix, const Partition& partition, Table table,
                          char kind);

// The base key of a ranking (WriteBatch::AddRanked): "<group key of kind 'r'>:<len>:<ranking>",
// followed by ":a" (aggregate ZSET), ":i" (bucket index), ":m" (state) and ":b:<end>" (buckets).
std::string RedisRankingKey(absl::string_view key_prefix, const Partition& partition,
                            absl::string_view ranking);

}  // namespace countd::storage::redis

#endif  // COUNTD_STORAGE_REDIS_CLUSTER_REDIS_STORE_H_
