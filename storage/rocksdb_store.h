// storage/rocksdb_store.h — tuning knobs of the RocksDB Store that tests and tools may read, and
// its test hooks (kept off the Store interface).
#ifndef COUNTD_STORAGE_ROCKSDB_STORE_H_
#define COUNTD_STORAGE_ROCKSDB_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace countd::storage {

// Expired buckets are rewritten away at least this often even when a table gets no writes
// (RocksDB periodic compaction over the compaction filter).
inline constexpr absl::Duration kPeriodicCompaction = absl::Hours(24);

// Upper bound of the write-ahead log before memtables are flushed; bounds restart (WAL replay)
// time.
inline constexpr uint64_t kMaxTotalWalBytes = uint64_t{256} << 20;

// Merge operands the writer lets pile up on one counter before it writes the counter's value
// as a put (reads fold every operand in the memtables). The writer counts them itself: RocksDB's
// own max_successive_merges would search the memtable on every insert.
inline constexpr size_t kMaxSuccessiveMerges = 64;
// Keys the writer counts operands of at once; the counts restart when it is reached (a hot key
// is then settled up to kMaxSuccessiveMerges operands later).
inline constexpr size_t kMaxCountedKeys = size_t{1} << 16;

// Batches one replying thread may keep (Store::Submit) before they are applied at once.
// countd's completion-queue threads flush after at most 8 held replies, one batch each, so
// this only bounds a caller that flushes rarely.
inline constexpr size_t kMaxKeptBatches = 64;

// Test hooks of a Store returned by OpenRocksDbStore; any other Store gets kInvalidArgument.
//
// Forces a full compaction of `table` (drops expired buckets now).
absl::Status CompactForTest(Store& store, Table table);
// Counts the raw entries stored in `table`, live or expired but not yet compacted.
absl::StatusOr<int64_t> CountRawEntriesForTest(Store& store, Table table);
// Writes `value` at `key` of `table` as an older countd kept it: in the table's own family,
// not in a Signals record (kTotals: a 32-byte total; kMonthly, kDaily: a bucket of its own,
// moved into its counter's record when the store next opens read-write).
absl::Status PutLegacyForTest(Store& store, Table table, absl::string_view key,
                              absl::string_view value);
// Writes `value` as a merge operand at `key` of `table`'s own family, as an older countd's
// counter increments were (a 32-byte CounterCell delta).
absl::Status MergeLegacyForTest(Store& store, Table table, absl::string_view key,
                                absl::string_view value);
// The entries a read of `key` folds: merge operands plus the base value (0 when absent).
absl::StatusOr<int> MergeOperandsForTest(Store& store, Table table, absl::string_view key);
// Calls `hook` in the group writer just before each RocksDB write with the number of batches
// the write carries; a non-OK answer fails that write as a RocksDB error would (every batch of
// the group gets it). The hook may block to hold writes in the queue. nullptr removes it.
absl::Status SetWriteHookForTest(Store& store, std::function<absl::Status(size_t batches)> hook);
// Refuses new writes (kUnavailable) and returns once every queued write is answered, as the
// store's destructor does first.
absl::Status CloseForTest(Store& store);
// Whether CloseForTest (or the destructor) has begun.
absl::StatusOr<bool> ClosingForTest(Store& store);
// Writes waiting in the queue, the group being written excluded.
absl::StatusOr<size_t> QueuedWritesForTest(Store& store);

}  // namespace countd::storage

#endif  // COUNTD_STORAGE_ROCKSDB_STORE_H_
