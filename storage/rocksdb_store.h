// storage/rocksdb_store.h — tuning knobs of the RocksDB Store that tests and tools may read.
#ifndef COUNTD_STORAGE_ROCKSDB_STORE_H_
#define COUNTD_STORAGE_ROCKSDB_STORE_H_

#include <cstdint>

#include "absl/time/time.h"

namespace countd::storage {

// Expired buckets are rewritten away at least this often even when a table gets no writes
// (RocksDB periodic compaction over the compaction filter).
inline constexpr absl::Duration kPeriodicCompaction = absl::Hours(24);

// Upper bound of the write-ahead log before memtables are flushed; bounds restart (WAL replay)
// time.
inline constexpr uint64_t kMaxTotalWalBytes = uint64_t{256} << 20;

// Merge operands of one key allowed in a memtable before RocksDB folds them into a value.
inline constexpr size_t kMaxSuccessiveMerges = 64;

}  // namespace countd::storage

#endif  // COUNTD_STORAGE_ROCKSDB_STORE_H_
