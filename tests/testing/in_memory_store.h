// tests/testing/in_memory_store.h — a storage::Store held in ordered maps, for fuzzing and tests
// that need the real service logic but neither a disk nor RocksDB's start-up cost.
#ifndef COUNTD_TESTS_TESTING_IN_MEMORY_STORE_H_
#define COUNTD_TESTS_TESTING_IN_MEMORY_STORE_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "storage/counter_cell.h"
#include "storage/store.h"

namespace countd::test {

// Keeps every table in a std::map under one mutex (one key space, like RocksDB: partitions only
// name where a key belongs); Write checks preconditions and applies a batch atomically. Counter
// adds combine with storage::AddCells, as RocksDB's merge operator does. Differences from
// RocksDbStore, by design: nothing ever expires (retention is not modelled, so use it where data
// is younger than every retention), nothing is durable, and Checkpoint is UNIMPLEMENTED.
// kind() is what the constructor says: kRocksDb (the default) for a store one process owns,
// kRedisCluster for a store several logic instances share, each standing for one of several
// countd processes on one cluster. Thread-safe.
class InMemoryStore : public storage::Store {
 public:
  explicit InMemoryStore(storage::StoreKind kind = storage::StoreKind::kRocksDb) : kind_(kind) {}

  storage::StoreKind kind() const override { return kind_; }

  absl::StatusOr<std::string> Get(const storage::Partition&, storage::Table table,
                                  absl::string_view key) override {
    absl::MutexLock lock(&mu_);
    return GetLocked(table, key);
  }

  absl::StatusOr<storage::CounterCell> GetCounter(const storage::Partition& partition,
                                                  storage::Table table,
                                                  absl::string_view key) override {
    absl::StatusOr<std::string> raw = Get(partition, table, key);
    if (!raw.ok()) return raw.status();
    return Decode(*raw);
  }

  std::vector<absl::StatusOr<std::string>> MultiGet(const storage::Partition& partition,
                                                    storage::Table table,
                                                    const std::vector<std::string>& keys) override {
    std::vector<absl::StatusOr<std::string>> out;
    out.reserve(keys.size());
    for (const std::string& key : keys) out.push_back(Get(partition, table, key));
    return out;
  }

  std::vector<absl::StatusOr<storage::CounterCell>> MultiGetCounters(
      const storage::Partition& partition, storage::Table table,
      const std::vector<std::string>& keys) override {
    std::vector<absl::StatusOr<storage::CounterCell>> out;
    out.reserve(keys.size());
    for (const std::string& key : keys) out.push_back(GetCounter(partition, table, key));
    return out;
  }

  absl::Status Scan(const storage::Partition&, storage::Table table,
                    const storage::ScanRange& range, const storage::ScanVisitor& visit) override {
    return ScanAllPartitions(table, range, visit);
  }

  // Visits a copy of the range, so the visitor may call back into the store.
  absl::Status ScanAllPartitions(storage::Table table, const storage::ScanRange& range,
                                 const storage::ScanVisitor& visit) override {
    std::vector<std::pair<std::string, std::string>> entries;
    {
      absl::MutexLock lock(&mu_);
      const Map& map = Tab(table);
      auto begin = map.lower_bound(range.begin);
      auto end = range.end.empty() ? map.end() : map.lower_bound(range.end);
      for (auto it = begin; it != end && it->first >= range.begin; ++it) entries.push_back(*it);
    }
    if (range.reverse) {
      for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        if (!visit(it->first, it->second)) break;
      }
    } else {
      for (const auto& [key, value] : entries) {
        if (!visit(key, value)) break;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Write(const storage::WriteBatch& batch) override {
    if (!batch.ranking_ops().empty()) {
      return absl::InvalidArgumentError("in-memory store: keeps no rankings");
    }
    absl::MutexLock lock(&mu_);
    for (const storage::WriteBatch::Precondition& p : batch.preconditions()) {
      absl::StatusOr<std::string> live = GetLocked(p.table, p.key);
      const bool holds = p.value.has_value() ? (live.ok() && *live == *p.value) : !live.ok();
      if (!holds) return absl::AbortedError("in-memory store: a record changed meanwhile");
    }
    // Check first, so that a refused batch changes nothing. Signals adds as their three ops.
    const std::vector<storage::WriteBatch::Op> ops = storage::ExpandedOps(batch);
    for (const storage::WriteBatch::Op& op : ops) {
      if (op.type == storage::WriteBatch::OpType::kAddCounter) {
        storage::CounterCell cell;
        if (!IsCounterTable(op.table) || !storage::DecodeCounterCell(op.value, &cell)) {
          return absl::InternalError(
              absl::StrCat("in-memory store: bad counter add on ", storage::TableName(op.table)));
        }
        auto it = Tab(op.table).find(op.key);
        if (it != Tab(op.table).end() && !storage::DecodeCounterCell(it->second, &cell)) {
          return absl::InternalError("in-memory store: counter add onto a non-counter value");
        }
      }
    }
    for (const storage::WriteBatch::Op& op : ops) {
      Map& map = Tab(op.table);
      switch (op.type) {
        case storage::WriteBatch::OpType::kPut: map[op.key] = op.value; break;
        case storage::WriteBatch::OpType::kDelete: map.erase(op.key); break;
        case storage::WriteBatch::OpType::kAddCounter: {
          storage::CounterCell delta, current;
          storage::DecodeCounterCell(op.value, &delta);
          auto it = map.find(op.key);
          if (it != map.end()) storage::DecodeCounterCell(it->second, &current);
          map[op.key] = storage::EncodeCounterCell(storage::AddCells(current, delta));
          break;
        }
        case storage::WriteBatch::OpType::kAddSignals:  // ExpandedOps replaced it
          return absl::InternalError("in-memory store: a Signals add left unexpanded");
      }
    }
    ++writes_;
    return absl::OkStatus();
  }

  absl::Status Flush() override { return absl::OkStatus(); }

  absl::StatusOr<storage::StoreStats> Stats() override {
    absl::MutexLock lock(&mu_);
    storage::StoreStats stats;
    for (const Map& map : tables_) stats.estimated_keys.push_back(map.size());
    return stats;
  }

  absl::Status Checkpoint(const std::string& dir) override {
    return absl::UnimplementedError("in-memory store: no checkpoints");
  }

  // Successful Write calls so far.
  int64_t writes() const {
    absl::MutexLock lock(&mu_);
    return writes_;
  }

 private:
  using Map = std::map<std::string, std::string>;

  absl::StatusOr<std::string> GetLocked(storage::Table table, absl::string_view key) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const Map& map = Tab(table);
    auto it = map.find(std::string(key));
    if (it == map.end()) return absl::NotFoundError("not found");
    return it->second;
  }

  static bool IsCounterTable(storage::Table t) {
    using storage::Table;
    return t == Table::kTotals || t == Table::kMonthly || t == Table::kDaily ||
           t == Table::kStash || t == Table::kTally || t == Table::kGmDaily;
  }

  static absl::StatusOr<storage::CounterCell> Decode(const std::string& raw) {
    storage::CounterCell cell;
    if (!storage::DecodeCounterCell(raw, &cell)) {
      return absl::DataLossError("in-memory store: not a counter cell");
    }
    return cell;
  }

  Map& Tab(storage::Table t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return tables_[static_cast<size_t>(t)];
  }
  const Map& Tab(storage::Table t) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return tables_[static_cast<size_t>(t)];
  }

  const storage::StoreKind kind_;
  mutable absl::Mutex mu_;
  std::array<Map, storage::kNumTables> tables_ ABSL_GUARDED_BY(mu_);
  int64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace countd::test

#endif  // COUNTD_TESTS_TESTING_IN_MEMORY_STORE_H_
