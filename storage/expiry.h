// storage/expiry.h — which records of which tables expire, and when: the one rule that every
// Store implementation applies (RocksDB in its reads and compaction filter, Redis Cluster in its
// reads, write scripts and key TTLs).
#ifndef COUNTD_STORAGE_EXPIRY_H_
#define COUNTD_STORAGE_EXPIRY_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace countd::storage {

// The expiring tables: kDaily, kMonthly, kStash, kGmDaily (by the 4-byte bucket suffix of the
// key against Retention), kRequests (by the 8-byte big-endian unix-seconds expiry that starts
// the value) and kTally (by the 8-byte big-endian unix-seconds expiry that ends the key). Every
// other table keeps its records until they are deleted.
bool TableExpires(Table table);

// True when the expiry of a record of `table` depends on its value, not only on its key
// (kRequests).
bool ExpiryDependsOnValue(Table table);

// True when the record (`key`, `value`) of `table` is past its expiry at `now`. Always false for
// tables that never expire. Records too short to hold their expiry count as expired. `value` is
// ignored unless ExpiryDependsOnValue(table). Pure function; thread-safe.
bool IsExpired(Table table, absl::string_view key, absl::string_view value,
               const Retention& retention, absl::Time now);

// For the tables whose keys end with a bucket index (kDaily, kMonthly, kStash, kGmDaily): the
// newest bucket expired at `now` (IsExpired is BucketOf(key) <= it). nullopt for other tables.
std::optional<int32_t> LastExpiredBucket(Table table, const Retention& retention, absl::Time now);

// The first instant at which the record is expired: IsExpired(..., t) == (t >= *ExpiresAt(...))
// for every t. nullopt for tables that never expire; absl::InfinitePast() for records too short
// to hold their expiry. Pure function; thread-safe.
std::optional<absl::Time> ExpiresAt(Table table, absl::string_view key, absl::string_view value,
                                    const Retention& retention);

}  // namespace countd::storage

#endif  // COUNTD_STORAGE_EXPIRY_H_
