// RocksDB implementation of Store. rocksdb/ headers stay inside this file.
#include "storage/rocksdb_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/cache.h"
#include "rocksdb/compaction_filter.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "rocksdb/write_buffer_manager.h"
#include "storage/expiry.h"
#include "storage/store.h"
#include "storage/write_durations.h"

namespace countd::storage {

const char* TableName(Table table) {
  switch (table) {
    case Table::kMeta: return "meta";
    case Table::kTotals: return "totals";
    case Table::kMonthly: return "monthly";
    case Table::kDaily: return "daily";
    case Table::kStash: return "stash";
    case Table::kRequests: return "requests";
    case Table::kTally: return "tally";
    case Table::kTallyMeta: return "tally_meta";
    case Table::kGmLog: return "gm_log";
    case Table::kGmState: return "gm_state";
    case Table::kGmDaily: return "gm_daily";
  }
  return "unknown";
}

void WriteBatch::Put(Table table, absl::string_view key, absl::string_view value) {
  ops_.push_back({OpType::kPut, table, std::string(key), std::string(value)});
}

void WriteBatch::Delete(Table table, absl::string_view key) {
  ops_.push_back({OpType::kDelete, table, std::string(key), {}});
}

void WriteBatch::AddCounter(Table table, absl::string_view key, const CounterCell& delta) {
  ops_.push_back({OpType::kAddCounter, table, std::string(key), EncodeCounterCell(delta)});
}

void WriteBatch::AddRanked(absl::string_view ranking, absl::string_view item, int64_t bucket_end,
                           int64_t keep_until, int64_t horizon, int64_t window, int64_t delta) {
  ranking_ops_.push_back(RankingOp{RankingOpType::kAdd, std::string(ranking), std::string(item),
                                   bucket_end, keep_until, horizon, window, delta});
}

void WriteBatch::ResetRanking(absl::string_view ranking) {
  RankingOp op;
  op.type = RankingOpType::kReset;
  op.ranking = std::string(ranking);
  ranking_ops_.push_back(std::move(op));
}

void WriteBatch::Expect(Table table, absl::string_view key, std::optional<std::string> value) {
  preconditions_.push_back({table, std::string(key), std::move(value)});
}

ScanRange PrefixRange(absl::string_view prefix) {
  ScanRange range;
  range.begin = std::string(prefix);
  // The end is the prefix with its last non-0xff byte incremented (and what follows dropped).
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  range.end = std::move(end);
  return range;
}

namespace {

// The expiry rule (storage/expiry.h) bound to the store's clock and retention. Thread-safe.
class Expiry {
 public:
  Expiry(const Clock* clock, Retention retention) : clock_(clock), retention_(retention) {}

  // True when the record is past its table's retention at time `now`.
  bool Expired(Table table, absl::string_view key, absl::string_view value, absl::Time now) const {
    return IsExpired(table, key, value, retention_, now);
  }

  bool Expires(Table table) const { return TableExpires(table); }

  const Clock* clock() const { return clock_; }

 private:
  const Clock* clock_;
  Retention retention_;
};

// Drops expired buckets and records while RocksDB compacts: no scans ever delete old data.
class ExpiryCompactionFilter : public rocksdb::CompactionFilter {
 public:
  ExpiryCompactionFilter(const Expiry* expiry, Table table) : expiry_(expiry), table_(table) {}

  Decision FilterV2(int /*level*/, const rocksdb::Slice& key, ValueType value_type,
                    const rocksdb::Slice& existing_value, std::string* /*new_value*/,
                    std::string* /*skip_until*/) const override {
    if (value_type != ValueType::kValue && value_type != ValueType::kMergeOperand) {
      return Decision::kKeep;
    }
    // Merge operands of a request record never exist; for buckets the key alone decides.
    absl::string_view k(key.data(), key.size());
    absl::string_view v(existing_value.data(), existing_value.size());
    return expiry_->Expired(table_, k, v, expiry_->clock()->Now()) ? Decision::kRemove
                                                                   : Decision::kKeep;
  }

  const char* Name() const override { return "countd.ExpiryCompactionFilter"; }

 private:
  const Expiry* expiry_;
  Table table_;
};

// Combines CounterCell deltas: the write path merges, it never reads.
class CounterMergeOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing_value,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    CounterCell delta;
    if (!DecodeCounterCell(absl::string_view(value.data(), value.size()), &delta)) return false;
    if (existing_value == nullptr) {
      new_value->assign(value.data(), value.size());
      return true;
    }
    CounterCell base;
    if (!DecodeCounterCell(absl::string_view(existing_value->data(), existing_value->size()),
                           &base)) {
      return false;  // RocksDB reports Corruption to the reader
    }
    *new_value = EncodeCounterCell(AddCells(base, delta));
    return true;
  }

  const char* Name() const override { return "countd.CounterAdd"; }
};

// RocksDB's info log, dropped: a read-only open must not write LOG files into the directory.
class DiscardingLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

absl::string_view View(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

absl::Status Unavailable(absl::string_view what, const rocksdb::Status& s) {
  return absl::UnavailableError(absl::StrCat("storage: ", what, ": ", s.ToString()));
}

// A caller's batch waiting in the write queue (RocksDbStore::Write), on the caller's stack.
struct PendingWrite {
  const WriteBatch* batch;
  absl::Status status;
  bool done = false;  // answered: `status` is final
  bool lead = false;  // this caller writes the next group
};

using TableKey = std::pair<int, absl::string_view>;
inline TableKey MakeTableKey(Table table, absl::string_view key) {
  return {static_cast<int>(table), key};
}

// One op of a group as it will be written; `cell` is the summed delta of folded increments.
// `settled` (with `value`) is a put of a counter's current value, written ahead of its next
// increment so that RocksDB reads fold few operands (see FoldHotCounter).
struct StagedOp {
  const WriteBatch::Op* op;
  CounterCell cell;
  bool folded = false;
  bool settled = false;
  std::string value;
};

// The RocksDB batch a group leader builds, and the callers it answers.
struct GroupBatch {
  std::vector<StagedOp> ops;
  // Every key staged, with the index in `ops` of its latest increment (-1: its latest op is a
  // put or delete). Views into the callers' batches, which outlive the group.
  absl::flat_hash_map<TableKey, int> touched;
  std::vector<PendingWrite*> members;
};

// The batches one thread submitted to one store and the store keeps (Store::Submit), until the
// thread's next FlushWal, read or other write applies them.
struct KeptBatches {
  std::vector<WriteBatch> batches;
  absl::Status failed;  // applying kept batches failed since the thread's last FlushWal
};
// Per store, by RocksDbStore::id_ (never reused, unlike an address: a store closed with batches
// still kept leaves an entry no later store can mistake for its own).
thread_local absl::flat_hash_map<uint64_t, KeptBatches> kept_by_store;
// Batches kept on this thread, for every store: the fast "nothing kept" test of reads.
thread_local size_t kept_on_thread = 0;
std::atomic<uint64_t> next_store_id{1};

class RocksDbStore : public Store {
 public:
  RocksDbStore(const StoreOptions& options)
      : options_(options),
        clock_(options.clock != nullptr ? options.clock : RealClock()),
        expiry_(clock_, options.retention) {}

  ~RocksDbStore() override {
    Close();
    if (db_ != nullptr) {
      if (!options_.read_only) db_->FlushWAL(/*sync=*/true).PermitUncheckedError();
      for (rocksdb::ColumnFamilyHandle* h : handles_) {
        db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
      }
      db_->Close().PermitUncheckedError();
      db_.reset();
    }
    if (dir_lock_fd_ >= 0) close(dir_lock_fd_);  // releases the read-only lock, after the close
  }

  absl::Status Open(const std::string& dir) {
    cache_ = rocksdb::NewLRUCache(options_.block_cache_bytes);
    write_buffers_ = std::make_shared<rocksdb::WriteBufferManager>(options_.memtable_bytes);

    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    db_options.write_buffer_manager = write_buffers_;
    db_options.max_total_wal_size = kMaxTotalWalBytes;
    db_options.max_background_jobs = 2;
    db_options.bytes_per_sync = 1 << 20;
    db_options.keep_log_file_num = 5;
    db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
    db_options.avoid_unnecessary_blocking_io = true;
    // --sync=none: WAL records are written to the OS by FlushWal (see Write), so a thread that
    // answers many calls at once (DeferWalFlush) pays one write() for all of them.
    db_options.manual_wal_flush = manual_wal_flush_;

    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    families.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
    for (int i = 0; i < kNumTables; ++i) {
      Table t = static_cast<Table>(i);
      families.emplace_back(TableName(t), FamilyOptions(t));
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    rocksdb::Status s;
    if (options_.read_only) {
      absl::Status ready = PrepareReadOnly(dir, families, &db_options);
      if (!ready.ok()) return ready;
      s = rocksdb::DB::OpenForReadOnly(db_options, dir, families, &handles, &db);
    } else {
      s = rocksdb::DB::Open(db_options, dir, families, &handles, &db);
    }
    if (!s.ok()) return Unavailable(absl::StrCat("open ", dir), s);
    db_.reset(db);
    handles_ = std::move(handles);
    return absl::OkStatus();
  }

  // Read-only open: refuses a database another process has open (its data would change under
  // the reader) and holds it against writers meanwhile; checks that every table exists (a
  // read-only open cannot create one); keeps RocksDB's info log out of the directory.
  absl::Status PrepareReadOnly(const std::string& dir,
                               const std::vector<rocksdb::ColumnFamilyDescriptor>& families,
                               rocksdb::DBOptions* db_options) {
    // RocksDB holds an fcntl write lock on <dir>/LOCK while a database is open (and never
    // removes the file). A read lock conflicts with it, and with the write lock of a countd that
    // starts later, and needs no write access: a backup on read-only media can still be read.
    // An open-file-description lock, so that it also conflicts within this process. No LOCK
    // file: the directory was never opened read-write (e.g. a checkpoint), no one has it.
    const std::string lock_path = dir + "/LOCK";
    int fd = open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      struct flock lock = {};
      lock.l_type = F_RDLCK;
      lock.l_whence = SEEK_SET;
      if (fcntl(fd, F_OFD_SETLK, &lock) != 0) {
        const int err = errno;
        close(fd);
        if (err == EACCES || err == EAGAIN) {
          return absl::FailedPreconditionError(absl::StrCat(
              "storage: ", dir,
              " is open in another process (a running countd?): stop it first, or read a "
              "backup of it (Admin.Backup)"));
        }
        return absl::UnavailableError(
            absl::StrCat("storage: lock ", lock_path, ": ", std::strerror(err)));
      }
      dir_lock_fd_ = fd;
    } else if (errno != ENOENT) {
      return absl::UnavailableError(
          absl::StrCat("storage: open ", lock_path, ": ", std::strerror(errno)));
    }
    std::vector<std::string> names;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(*db_options, dir, &names);
    if (!s.ok()) return Unavailable(absl::StrCat("open ", dir, " read-only"), s);
    std::vector<std::string> missing;
    for (const rocksdb::ColumnFamilyDescriptor& f : families) {
      if (std::find(names.begin(), names.end(), f.name) == names.end()) missing.push_back(f.name);
    }
    if (!missing.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "storage: ", dir, " lacks the tables ", absl::StrJoin(missing, ", "),
          ": an older countd wrote it; start this countd on it once (on a copy, for a backup)"));
    }
    db_options->create_if_missing = false;
    db_options->create_missing_column_families = false;
    db_options->info_log = std::make_shared<DiscardingLogger>();
    return absl::OkStatus();
  }

  absl::Status RefuseReadOnly(absl::string_view what) const {
    return absl::FailedPreconditionError(
        absl::StrCat("storage: ", what, ": the store was opened read-only"));
  }

  StoreKind kind() const override { return StoreKind::kRocksDb; }

  // One key space: the partition only names where a key belongs (see Partition).
  absl::StatusOr<std::string> Get(const Partition&, Table table, absl::string_view key) override {
    if (absl::Status applied = ApplyKept(); !applied.ok()) return applied;
    return GetAny(table, key);
  }

  absl::StatusOr<std::string> GetAny(Table table, absl::string_view key) {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Handle(table), ToSlice(key), &value);
    if (s.IsNotFound()) return absl::NotFoundError("not found");
    if (!s.ok()) return Unavailable("get", s);
    if (Expired(table, key, View(value))) return absl::NotFoundError("expired");
    return value.ToString();
  }

  absl::StatusOr<CounterCell> GetCounter(const Partition&, Table table,
                                         absl::string_view key) override {
    if (absl::Status applied = ApplyKept(); !applied.ok()) return applied;
    absl::StatusOr<std::string> raw = GetAny(table, key);
    if (!raw.ok()) return raw.status();
    return DecodeCounterCellOrDataLoss(*raw);
  }

  std::vector<absl::StatusOr<std::string>> MultiGet(const Partition&, Table table,
                                                    const std::vector<std::string>& keys) override {
    if (absl::Status applied = ApplyKept(); !applied.ok()) {
      return std::vector<absl::StatusOr<std::string>>(keys.size(), applied);
    }
    return MultiGetAny(table, keys);
  }

  std::vector<absl::StatusOr<std::string>> MultiGetAny(Table table,
                                                       const std::vector<std::string>& keys) {
    std::vector<absl::StatusOr<std::string>> out;
    out.reserve(keys.size());
    ForEachOfMultiGet(table, keys, [&](size_t i, const rocksdb::Status& s, absl::string_view v) {
      if (s.IsNotFound() || (s.ok() && Expired(table, keys[i], v))) {
        out.push_back(absl::NotFoundError("not found"));
      } else if (!s.ok()) {
        out.push_back(Unavailable("multiget", s));
      } else {
        out.push_back(std::string(v));
      }
    });
    return out;
  }

  std::vector<absl::StatusOr<CounterCell>> MultiGetCounters(
      const Partition&, Table table, const std::vector<std::string>& keys) override {
    if (absl::Status applied = ApplyKept(); !applied.ok()) {
      return std::vector<absl::StatusOr<CounterCell>>(keys.size(), applied);
    }
    std::vector<absl::StatusOr<CounterCell>> out;
    out.reserve(keys.size());
    for (absl::StatusOr<std::string>& raw : MultiGetAny(table, keys)) {
      out.push_back(raw.ok() ? DecodeCounterCellOrDataLoss(*raw) : raw.status());
    }
    return out;
  }

  absl::Status Scan(const Partition&, Table table, const ScanRange& range,
                    const ScanVisitor& visit) override {
    return ScanAllPartitions(table, range, visit);
  }

  absl::Status ScanAllPartitions(Table table, const ScanRange& range,
                                 const ScanVisitor& visit) override {
    if (absl::Status applied = ApplyKept(); !applied.ok()) return applied;
    rocksdb::ReadOptions read_options;
    rocksdb::Slice lower(range.begin);
    rocksdb::Slice upper(range.end);
    read_options.iterate_lower_bound = &lower;
    if (!range.end.empty()) read_options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, Handle(table)));
    absl::Time now = clock_->Now();
    bool expires = expiry_.Expires(table);
    if (range.reverse) {
      it->SeekToLast();
    } else {
      it->Seek(lower);
    }
    for (; it->Valid(); range.reverse ? it->Prev() : it->Next()) {
      absl::string_view k = View(it->key());
      absl::string_view v = View(it->value());
      if (expires && expiry_.Expired(table, k, v, now)) continue;
      if (!visit(k, v)) return absl::OkStatus();
    }
    if (!it->status().ok()) return Unavailable("scan", it->status());
    return absl::OkStatus();
  }

  // Every write goes through one writer at a time (group commit): a caller queues its batch; the
  // first caller to find no writer active leads, takes every queued batch, checks their
  // preconditions against the store, writes all that hold as one RocksDB batch (one WAL append,
  // one fsync with --sync=always) and then answers each caller; the next queued caller leads the
  // next group. One writer means no RocksDB write-thread contention (spinning, yielding) and no
  // locks for conditional batches: a precondition read in the group sees every earlier write.
  absl::Status Write(const WriteBatch& batch) override {
    if (options_.read_only) return RefuseReadOnly("write");
    if (!batch.ranking_ops().empty()) {
      return absl::InvalidArgumentError(
          "storage: RocksDB keeps no rankings (Store::KeepsRankings is false); rank in memory");
    }
    // This thread's kept batches go first: its writes apply in the order it made them.
    if (absl::Status applied = ApplyKept(); !applied.ok()) return applied;
    const auto start = std::chrono::steady_clock::now();
    absl::Status status = WriteNow({&batch});
    if (status.ok() && !DeferWalFlush::Active()) status = FlushWal();
    write_durations_.Observe(std::chrono::steady_clock::now() - start);
    return status;
  }

  // Keeps the increments a replying thread submits (see Store::Submit): applied together, the
  // increments of a hot counter are summed into one merge operand and the group costs one
  // RocksDB write, instead of one memtable entry per call and counter.
  absl::Status Submit(WriteBatch batch) override {
    if (!Keepable(batch)) return Write(batch);
    if (absl::Status valid = ValidateOps(batch); !valid.ok()) return valid;
    KeptBatches& kept = kept_by_store[id_];
    kept.batches.push_back(std::move(batch));
    ++kept_on_thread;
    if (kept.batches.size() >= kMaxKeptBatches) return ApplyKept();
    return absl::OkStatus();
  }

  bool Keepable(const WriteBatch& batch) const {
    if (!manual_wal_flush_ || !DeferWalFlush::Active() || !batch.deferred_apply_allowed() ||
        !batch.preconditions().empty() || !batch.ranking_ops().empty()) {
      return false;
    }
    for (const WriteBatch::Op& op : batch.ops()) {
      if (op.type != WriteBatch::OpType::kAddCounter) return false;
    }
    return true;
  }

  // Writes this thread's kept batches as one group. On failure nothing of them is applied, and
  // the thread's next FlushWal reports it too.
  absl::Status ApplyKept() {
    if (kept_on_thread == 0) return absl::OkStatus();
    auto it = kept_by_store.find(id_);
    if (it == kept_by_store.end() || it->second.batches.empty()) return absl::OkStatus();
    std::vector<WriteBatch> batches;
    batches.swap(it->second.batches);
    kept_on_thread -= batches.size();
    std::vector<const WriteBatch*> group;
    group.reserve(batches.size());
    for (const WriteBatch& b : batches) group.push_back(&b);
    const auto start = std::chrono::steady_clock::now();
    absl::Status status = WriteNow(group);
    write_durations_.Observe(std::chrono::steady_clock::now() - start);
    // WriteNow does not touch kept_by_store: `it` is still valid.
    if (!status.ok() && it->second.failed.ok()) it->second.failed = status;
    return status;
  }

  // Every write goes through one writer at a time (group commit): a caller queues its batches;
  // the first caller to find no writer active leads, takes every queued batch, checks their
  // preconditions against the store, writes all that hold as one RocksDB batch (one WAL append,
  // one fsync with --sync=always) and then answers each caller; the next queued caller leads the
  // next group. One writer means no RocksDB write-thread contention (spinning, yielding) and no
  // locks for conditional batches: a precondition read in the group sees every earlier write.
  // A caller's batches are queued together and so written in one group; returns the first
  // error among them.
  absl::Status WriteNow(const std::vector<const WriteBatch*>& batches) {
    std::vector<PendingWrite> selves;
    selves.reserve(batches.size());
    for (const WriteBatch* b : batches) selves.push_back(PendingWrite{b, absl::OkStatus()});
    PendingWrite& first = selves.front();
    mu_.Lock();
    if (closing_) {
      mu_.Unlock();
      return absl::UnavailableError("storage: write: the store is closing");
    }
    for (PendingWrite& w : selves) queue_.push_back(&w);
    if (leader_active_) {
      mu_.Await(absl::Condition(
          +[](PendingWrite* w) { return w->done || w->lead; }, &first));
    } else {
      leader_active_ = true;
      first.lead = true;
    }
    if (!first.done) {
      // A leader takes the whole queue, and this caller's batches are in it one after the
      // other: they are all in this group.
      std::vector<PendingWrite*> group(queue_.begin(), queue_.end());
      queue_.clear();
      mu_.Unlock();
      WriteGroup(group);
      mu_.Lock();
      for (PendingWrite* w : group) w->done = true;
      if (queue_.empty()) {
        leader_active_ = false;
      } else {
        queue_.front()->lead = true;  // hands the writer on
      }
    }
    absl::Status status;
    for (PendingWrite& w : selves) {
      if (!w.status.ok()) {
        status = std::move(w.status);
        break;
      }
    }
    mu_.Unlock();
    return status;
  }

  bool WalFlushPending() const override {
    if (!manual_wal_flush_) return false;
    if (written_.load(std::memory_order_acquire) > flushed_.load(std::memory_order_acquire)) {
      return true;
    }
    auto it = kept_by_store.find(id_);
    return it != kept_by_store.end() && (!it->second.batches.empty() || !it->second.failed.ok());
  }

  absl::Status FlushWal() override {
    if (!manual_wal_flush_) return absl::OkStatus();
    ApplyKept().IgnoreError();  // a failure is also kept in `failed`, read next
    absl::Status failed;
    if (auto it = kept_by_store.find(id_); it != kept_by_store.end()) {
      failed = std::exchange(it->second.failed, absl::OkStatus());
    }
    absl::Status flushed = FlushWalRecords();
    return failed.ok() ? flushed : failed;
  }

  // Writes the WAL records made so far to the operating system.
  absl::Status FlushWalRecords() {
    absl::MutexLock lock(&flush_mu_);
    // Every write counted here has returned from RocksDB (writes count and write under this
    // lock): the flush covers it.
    const uint64_t upto = written_.load(std::memory_order_acquire);
    if (flushed_.load(std::memory_order_acquire) >= upto) return absl::OkStatus();
    rocksdb::Status s = db_->FlushWAL(/*sync=*/false);
    if (!s.ok()) return Unavailable("flush wal", s);
    flushed_.store(upto, std::memory_order_release);
    return absl::OkStatus();
  }

  // Refuses new writes and waits until every queued write is answered. Idempotent.
  void Close() {
    // Kept batches of this thread are dropped (not acknowledged: never flushed); other threads'
    // stay in their own memory under an id no other store has.
    if (auto it = kept_by_store.find(id_); it != kept_by_store.end()) {
      kept_on_thread -= it->second.batches.size();
      kept_by_store.erase(it);
    }
    absl::MutexLock lock(&mu_);
    closing_ = true;
    mu_.Await(absl::Condition(
        +[](RocksDbStore* s) { return !s->leader_active_ && s->queue_.empty(); }, this));
  }

  bool ClosingForTest() {
    absl::MutexLock lock(&mu_);
    return closing_;
  }

  size_t QueuedWritesForTest() {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

  void SetWriteHookForTest(std::function<absl::Status(size_t)> hook) {
    absl::MutexLock lock(&mu_);
    write_hook_ = std::move(hook);
  }

  // Writes one group (the leader alone runs this). Each batch answers for itself: a failed
  // precondition or an invalid op leaves out that batch only; a failed RocksDB write fails every
  // batch that shared it. Increments of one counter within the group are summed into one merge
  // operand where the sum is exact (see Stage).
  void WriteGroup(const std::vector<PendingWrite*>& group) {
    GroupBatch out;
    for (PendingWrite* w : group) {
      const WriteBatch& batch = *w->batch;
      if (!batch.preconditions().empty()) {
        // A precondition must see the writes of earlier batches of the group: when one of them
        // touched an expected key, commit what is staged first and read after it.
        for (const WriteBatch::Precondition& p : batch.preconditions()) {
          if (out.touched.contains(MakeTableKey(p.table, p.key))) {
            Commit(&out);
            break;
          }
        }
        w->status = CheckPreconditions(batch);
        if (!w->status.ok()) continue;
      }
      w->status = ValidateOps(batch);
      if (!w->status.ok()) continue;
      for (const WriteBatch::Op& op : batch.ops()) Stage(op, &out);
      out.members.push_back(w);
    }
    Commit(&out);
  }

  absl::Status CheckPreconditions(const WriteBatch& batch) {
    for (const WriteBatch::Precondition& p : batch.preconditions()) {
      absl::StatusOr<std::string> live = GetAny(p.table, p.key);
      if (!live.ok() && !absl::IsNotFound(live.status())) return live.status();
      const bool holds = p.value.has_value() ? (live.ok() && *live == *p.value) : !live.ok();
      if (!holds) {
        return absl::AbortedError(
            absl::StrCat("storage: a record of table ", TableName(p.table), " changed meanwhile"));
      }
    }
    return absl::OkStatus();
  }

  static absl::Status ValidateOps(const WriteBatch& batch) {
    for (const WriteBatch::Op& op : batch.ops()) {
      if (op.type == WriteBatch::OpType::kAddCounter) {
        if (!IsCounterTable(op.table)) {
          return absl::InternalError(
              absl::StrCat("storage: counter add on table ", TableName(op.table)));
        }
        CounterCell cell;
        if (!DecodeCounterCell(op.value, &cell)) {
          return absl::InternalError("storage: counter add of a value that is not a cell");
        }
      }
    }
    return absl::OkStatus();
  }

  // Stages one op of the group. An increment of a key whose latest staged op is an increment
  // is added into it when that is exact: both counts of one sign and their sum in range, so
  // that (x + a) + b == x + (a + b) under AddCells' saturation for every stored x. Puts and
  // deletes stay in order; an increment after one starts a new operand.
  void Stage(const WriteBatch::Op& op, GroupBatch* out) {
    auto [it, inserted] = out->touched.try_emplace(MakeTableKey(op.table, op.key), -1);
    if (op.type == WriteBatch::OpType::kAddCounter) {
      CounterCell delta;
      DecodeCounterCell(op.value, &delta);  // ValidateOps checked it
      if (!inserted && it->second >= 0) {
        StagedOp& last = out->ops[it->second];
        int64_t sum;
        if ((last.cell.count >= 0) == (delta.count >= 0) &&
            !__builtin_add_overflow(last.cell.count, delta.count, &sum)) {
          last.cell = AddCells(last.cell, delta);
          last.folded = true;
          return;
        }
      }
      if (inserted) FoldHotCounter(op, out);
      it->second = static_cast<int>(out->ops.size());
      out->ops.push_back(StagedOp{&op, delta, false, false, {}});
      return;
    }
    it->second = -1;
    out->ops.push_back(StagedOp{&op, CounterCell(), false, false, {}});
  }

  // Bounds the merge operands of one counter in the memtables (which every read of it folds),
  // as RocksDB's max_successive_merges would but without its memtable search on every insert:
  // the writer counts the operands it wrote per key (by hash; a collision only settles a key
  // early) and, at kMaxSuccessiveMerges, reads the counter's value and writes it as a put ahead
  // of the group's increment. Exact because only this writer writes: nothing changes the key
  // between the read and the group's write, and this is the key's first op in the group.
  void FoldHotCounter(const WriteBatch::Op& op, GroupBatch* out) {
    if (operand_counts_.size() >= kMaxCountedKeys) operand_counts_.clear();
    uint32_t& n = operand_counts_[absl::HashOf(static_cast<int>(op.table), op.key)];
    if (++n < kMaxSuccessiveMerges) return;
    n = 0;
    absl::StatusOr<std::string> current = GetAny(op.table, op.key);
    if (!current.ok()) return;  // absent, expired (then dropped by compaction) or unreadable
    StagedOp settle{&op, CounterCell(), false, true, *std::move(current)};
    out->ops.push_back(std::move(settle));
  }

  // Writes the staged ops as one RocksDB batch and answers its members; empties `out`.
  void Commit(GroupBatch* out) {
    if (out->members.empty()) return;
    absl::Status status = WriteStaged(*out);
    for (PendingWrite* w : out->members) w->status = status;
    out->members.clear();
    out->ops.clear();
    out->touched.clear();
  }

  absl::Status WriteStaged(const GroupBatch& out) {
    rocksdb::WriteBatch wb;
    std::string folded;
    // In key order per table (stable: one key's ops keep their order). The memtable inserts a
    // batch's entries one after the other from where the previous one went, so neighbours are
    // found in a few steps instead of a search from the top of the skiplist each time.
    std::vector<const StagedOp*> ordered;
    ordered.reserve(out.ops.size());
    for (const StagedOp& staged : out.ops) ordered.push_back(&staged);
    std::stable_sort(ordered.begin(), ordered.end(), [](const StagedOp* a, const StagedOp* b) {
      if (a->op->table != b->op->table) return a->op->table < b->op->table;
      return a->op->key < b->op->key;
    });
    for (const StagedOp* staged_ptr : ordered) {
      const StagedOp& staged = *staged_ptr;
      const WriteBatch::Op& op = *staged.op;
      rocksdb::ColumnFamilyHandle* cf = Handle(op.table);
      rocksdb::Status s;
      switch (op.type) {
        case WriteBatch::OpType::kPut: s = wb.Put(cf, op.key, op.value); break;
        case WriteBatch::OpType::kDelete: s = wb.Delete(cf, op.key); break;
        case WriteBatch::OpType::kAddCounter:
          if (staged.settled) {
            s = wb.Put(cf, op.key, staged.value);
          } else if (staged.folded) {
            folded = EncodeCounterCell(staged.cell);
            s = wb.Merge(cf, op.key, folded);
          } else {
            s = wb.Merge(cf, op.key, op.value);
          }
          break;
      }
      if (!s.ok()) return Unavailable("batch", s);
    }
    std::function<absl::Status(size_t)> hook;
    {
      absl::MutexLock lock(&mu_);
      hook = write_hook_;
    }
    if (hook) {
      absl::Status injected = hook(out.members.size());
      if (!injected.ok()) return injected;
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync == SyncMode::kAlways;
    rocksdb::Status s;
    {
      // Counted before RocksDB makes it visible, and under the flush lock: whoever reads the
      // write (from the store, or a ranking updated after it) then sees a flush pending, and a
      // FlushWal that counts it runs only after the record is in the WAL buffer.
      absl::MutexLock lock(&flush_mu_);
      written_.fetch_add(1, std::memory_order_release);
      s = db_->Write(write_options, &wb);
    }
    if (!s.ok()) return Unavailable("write", s);
    return absl::OkStatus();
  }

  absl::Status Flush() override {
    if (options_.read_only) return RefuseReadOnly("flush");
    if (absl::Status applied = ApplyKept(); !applied.ok()) return applied;
    rocksdb::Status s = db_->FlushWAL(/*sync=*/true);
    if (!s.ok()) return Unavailable("flush wal", s);
    rocksdb::FlushOptions flush_options;
    std::vector<rocksdb::ColumnFamilyHandle*> cfs(handles_.begin() + 1, handles_.end());
    s = db_->Flush(flush_options, cfs);
    if (!s.ok()) return Unavailable("flush", s);
    return absl::OkStatus();
  }

  absl::StatusOr<StoreStats> Stats() override {
    StoreStats stats;
    uint64_t v = 0;
    // Aggregated over every column family.
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
      stats.memtable_bytes = v;
    }
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimatePendingCompactionBytes,
                                      &v)) {
      stats.pending_compaction_bytes = v;
    }
    stats.block_cache_usage_bytes = cache_->GetUsage();
    stats.block_cache_capacity_bytes = cache_->GetCapacity();
    stats.estimated_keys.assign(kNumTables, 0);
    for (int i = 0; i < kNumTables; ++i) {
      if (db_->GetIntProperty(Handle(static_cast<Table>(i)),
                              rocksdb::DB::Properties::kEstimateNumKeys, &v)) {
        stats.estimated_keys[i] = v;
      }
    }
    stats.sync = options_.sync;
    stats.write_duration = write_durations_.Snapshot();
    return stats;
  }

  absl::Status Checkpoint(const std::string& dir) override {
    if (options_.read_only) return RefuseReadOnly("checkpoint");
    absl::Status flushed = FlushWal();  // the checkpoint holds what was acknowledged
    if (!flushed.ok()) return flushed;
    if (dir.empty()) return absl::InvalidArgumentError("storage: checkpoint: empty directory");
    // RocksDB wants an absolute path and stages the copy in "<dir>.tmp": a trailing slash
    // would put the staging directory inside the target, so normalize first.
    std::error_code ec;
    std::filesystem::path target = std::filesystem::absolute(dir, ec).lexically_normal();
    if (ec) {
      return absl::UnavailableError(absl::StrCat("storage: checkpoint ", dir, ": ", ec.message()));
    }
    if (!target.has_filename()) target = target.parent_path();
    if (std::filesystem::exists(std::filesystem::symlink_status(target, ec))) {
      return absl::InvalidArgumentError(
          absl::StrCat("storage: checkpoint: ", target.string(), " already exists"));
    }
    rocksdb::Checkpoint* raw = nullptr;
    rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    // log_size_for_flush = 0: flush every memtable first, so the copy is almost all hard-linked
    // table files and opening it replays (almost) no WAL. RocksDB still copies the live WAL
    // tail written after the flush, so the copy holds every acknowledged write.
    if (s.ok()) s = checkpoint->CreateCheckpoint(target.string(), /*log_size_for_flush=*/0);
    if (s.IsInvalidArgument()) {
      return absl::InvalidArgumentError(
          absl::StrCat("storage: checkpoint ", target.string(), ": ", s.ToString()));
    }
    if (!s.ok()) return Unavailable(absl::StrCat("checkpoint ", target.string()), s);
    return absl::OkStatus();
  }

  absl::Status CompactForTest(Table table) {
    rocksdb::CompactRangeOptions cro;
    cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    rocksdb::Status s = db_->Flush(rocksdb::FlushOptions(), Handle(table));
    if (s.ok()) s = db_->CompactRange(cro, Handle(table), nullptr, nullptr);
    if (!s.ok()) return Unavailable("compact", s);
    return absl::OkStatus();
  }

  absl::StatusOr<int> MergeOperandsForTest(Table table, absl::string_view key) {
    constexpr int kMax = 4096;
    std::vector<rocksdb::PinnableSlice> operands(kMax);
    rocksdb::GetMergeOperandsOptions options;
    options.expected_max_number_of_operands = kMax;
    int n = 0;
    rocksdb::Status s = db_->GetMergeOperands(rocksdb::ReadOptions(), Handle(table), ToSlice(key),
                                              operands.data(), &options, &n);
    if (s.IsNotFound()) return 0;
    if (!s.ok()) return Unavailable("merge operands", s);
    return n;
  }

  absl::StatusOr<int64_t> CountRawEntriesForTest(Table table) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), Handle(table)));
    int64_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    if (!it->status().ok()) return Unavailable("count", it->status());
    return n;
  }

 private:
  // Runs one batched RocksDB MultiGet and hands each (index, status, value) to `fn`.
  template <typename Fn>
  void ForEachOfMultiGet(Table table, const std::vector<std::string>& keys, Fn fn) {
    std::vector<rocksdb::Slice> slices;
    slices.reserve(keys.size());
    for (const std::string& k : keys) slices.emplace_back(k);
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    db_->MultiGet(rocksdb::ReadOptions(), Handle(table), keys.size(), slices.data(), values.data(),
                  statuses.data());
    for (size_t i = 0; i < keys.size(); ++i) fn(i, statuses[i], View(values[i]));
  }

  static rocksdb::Slice ToSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

  rocksdb::ColumnFamilyHandle* Handle(Table table) const {
    return handles_[static_cast<int>(table) + 1];  // [0] is RocksDB's default family
  }

  bool Expired(Table table, absl::string_view key, absl::string_view value) const {
    return expiry_.Expires(table) && expiry_.Expired(table, key, value, clock_->Now());
  }

  rocksdb::ColumnFamilyOptions FamilyOptions(Table table) {
    rocksdb::ColumnFamilyOptions cf;
    rocksdb::BlockBasedTableOptions bbt;
    bbt.block_cache = cache_;
    bbt.cache_index_and_filter_blocks = true;
    bbt.pin_l0_filter_and_index_blocks_in_cache = true;
    bbt.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    bbt.format_version = 5;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(bbt));
    // Per-family memtables; the WriteBufferManager caps their sum at memtable_bytes.
    bool small = table == Table::kMeta || table == Table::kRequests || table == Table::kTallyMeta ||
                 table == Table::kGmState;
    cf.write_buffer_size = options_.memtable_bytes / (small ? 8 : 4);
    cf.max_write_buffer_number = 3;
    cf.level_compaction_dynamic_level_bytes = true;
    if (IsCounterTable(table)) {
      cf.merge_operator = std::make_shared<CounterMergeOperator>();
      // A hot counter's deltas pile up in the memtable and every read folds them all. The
      // writer bounds them (FoldHotCounter); RocksDB's max_successive_merges stays 0, since it
      // would search the memtable on every insert.
      cf.max_successive_merges = 0;
    }
    if (expiry_.Expires(table)) {
      filters_.push_back(std::make_unique<ExpiryCompactionFilter>(&expiry_, table));
      cf.compaction_filter = filters_.back().get();
      cf.periodic_compaction_seconds =
          static_cast<uint64_t>(absl::ToInt64Seconds(kPeriodicCompaction));
    }
    return cf;
  }

  StoreOptions options_;
  const Clock* clock_;
  const uint64_t id_ = next_store_id.fetch_add(1, std::memory_order_relaxed);
  Expiry expiry_;
  // The write queue (see Write).
  absl::Mutex mu_;
  std::deque<PendingWrite*> queue_ ABSL_GUARDED_BY(mu_);
  // Deferred WAL flushes (FlushWal): RocksDB writes made (counted just before each, under
  // flush_mu_), and the count the last flush covered.
  const bool manual_wal_flush_ = options_.sync == SyncMode::kNone && !options_.read_only;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> flushed_{0};
  absl::Mutex flush_mu_;
  bool leader_active_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::function<absl::Status(size_t)> write_hook_ ABSL_GUARDED_BY(mu_);
  // Merge operands written per counter key (hash) since its value was last settled; only the
  // group leader touches it. Cleared when it reaches kMaxCountedKeys keys.
  absl::flat_hash_map<uint64_t, uint32_t> operand_counts_;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers_;
  std::vector<std::unique_ptr<ExpiryCompactionFilter>> filters_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  int dir_lock_fd_ = -1;  // read-only: holds the read lock on <dir>/LOCK
  WriteDurations write_durations_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(const std::string& dir,
                                                        const StoreOptions& options) {
  auto store = std::make_unique<RocksDbStore>(options);
  absl::Status s = store->Open(dir);
  if (!s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

absl::Status CompactForTest(Store& store, Table table) {
  auto* rocks = dynamic_cast<RocksDbStore*>(&store);
  if (rocks == nullptr) return absl::InvalidArgumentError("storage: not a RocksDB store");
  return rocks->CompactForTest(table);
}

absl::StatusOr<int64_t> CountRawEntriesForTest(Store& store, Table table) {
  auto* rocks = dynamic_cast<RocksDbStore*>(&store);
  if (rocks == nullptr) return absl::InvalidArgumentError("storage: not a RocksDB store");
  return rocks->CountRawEntriesForTest(table);
}

namespace {
RocksDbStore* AsRocks(Store& store) { return dynamic_cast<RocksDbStore*>(&store); }
absl::Status NotRocks() { return absl::InvalidArgumentError("storage: not a RocksDB store"); }
}  // namespace

absl::StatusOr<int> MergeOperandsForTest(Store& store, Table table, absl::string_view key) {
  RocksDbStore* rocks = AsRocks(store);
  if (rocks == nullptr) return NotRocks();
  return rocks->MergeOperandsForTest(table, key);
}

absl::Status SetWriteHookForTest(Store& store, std::function<absl::Status(size_t)> hook) {
  RocksDbStore* rocks = AsRocks(store);
  if (rocks == nullptr) return NotRocks();
  rocks->SetWriteHookForTest(std::move(hook));
  return absl::OkStatus();
}

absl::Status CloseForTest(Store& store) {
  RocksDbStore* rocks = AsRocks(store);
  if (rocks == nullptr) return NotRocks();
  rocks->Close();
  return absl::OkStatus();
}

absl::StatusOr<bool> ClosingForTest(Store& store) {
  RocksDbStore* rocks = AsRocks(store);
  if (rocks == nullptr) return NotRocks();
  return rocks->ClosingForTest();
}

absl::StatusOr<size_t> QueuedWritesForTest(Store& store) {
  RocksDbStore* rocks = AsRocks(store);
  if (rocks == nullptr) return NotRocks();
  return rocks->QueuedWritesForTest();
}

}  // namespace countd::storage
