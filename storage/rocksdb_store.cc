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
#include "storage/keys.h"
#include "storage/signals_cell.h"
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
  ops_.push_back(MakeOp(OpType::kPut, table, std::string(key), std::string(value)));
}

void WriteBatch::Delete(Table table, absl::string_view key) {
  ops_.push_back(MakeOp(OpType::kDelete, table, std::string(key), std::string()));
}

void WriteBatch::AddCounter(Table table, absl::string_view key, const CounterCell& delta) {
  ops_.push_back(MakeOp(OpType::kAddCounter, table, std::string(key), EncodeCounterCell(delta)));
}

void WriteBatch::AddSignals(std::string key, int32_t month, int32_t day, const CounterCell& delta) {
  Op op = MakeOp(OpType::kAddSignals, Table::kTotals, std::move(key), std::string());
  op.month = month;
  op.day = day;
  op.delta = delta;
  ops_.push_back(std::move(op));
}

std::vector<WriteBatch::Op> ExpandedOps(const WriteBatch& batch) {
  std::vector<WriteBatch::Op> out;
  out.reserve(batch.ops().size());
  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.type != WriteBatch::OpType::kAddSignals) {
      out.push_back(op);
      continue;
    }
    using Type = WriteBatch::OpType;
    const std::string delta = EncodeCounterCell(op.delta);
    out.push_back(WriteBatch::MakeOp(Type::kAddCounter, Table::kTotals, op.key, delta));
    out.push_back(WriteBatch::MakeOp(Type::kAddCounter, Table::kMonthly,
                                     keys::WithBucket(op.key, op.month), delta));
    out.push_back(WriteBatch::MakeOp(Type::kAddCounter, Table::kDaily,
                                     keys::WithBucket(op.key, op.day), delta));
  }
  return out;
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

absl::Status CheckBatchOps(const WriteBatch& batch) {
  for (const WriteBatch::Op& op : batch.ops()) {
    CounterCell cell;
    if (op.type == WriteBatch::OpType::kAddSignals) {
      if (op.table != Table::kTotals) {
        return absl::InternalError("storage: a Signals add on a table other than totals");
      }
    } else if (op.type == WriteBatch::OpType::kAddCounter) {
      if (!IsCounterTable(op.table)) {
        return absl::InternalError(
            absl::StrCat("storage: counter add on table ", TableName(op.table)));
      }
      if (!DecodeCounterCell(op.value, &cell)) {
        return absl::InternalError("storage: counter add of a value that is not a cell");
      }
    } else if (op.type == WriteBatch::OpType::kPut && IsSignalsTable(op.table) &&
               !DecodeCounterCell(op.value, &cell)) {
      return absl::InternalError(absl::StrCat(
          "storage: put of a value that is not a cell on table ", TableName(op.table)));
    }
  }
  return absl::OkStatus();
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

absl::string_view View(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

// The expiry rule (storage/expiry.h) bound to the store's clock and retention. Thread-safe.
class Expiry {
 public:
  Expiry(const Clock* clock, Retention retention) : clock_(clock), retention_(retention) {}

  // True when the record is past its table's retention at time `now`.
  bool Expired(Table table, absl::string_view key, absl::string_view value, absl::Time now) const {
    return IsExpired(table, key, value, retention_, now);
  }

  bool Expires(Table table) const { return TableExpires(table); }

  // The newest expired month and day of Signals records at `now`. Compactions and reads ask for
  // every record; the answer holds for a whole UTC day, so each thread keeps the last one.
  std::pair<int32_t, int32_t> SignalsHorizon(absl::Time now) const {
    struct Cached {
      int monthly_months = -1, daily_days = -1;  // the retention it is for
      int64_t from_s = 0, until_s = 0;           // [from, until): the UTC day it holds for
      std::pair<int32_t, int32_t> horizon;
    };
    thread_local Cached cached;
    const int64_t now_s = absl::ToUnixSeconds(now);
    if (cached.monthly_months != retention_.monthly_months ||
        cached.daily_days != retention_.daily_days || now_s < cached.from_s ||
        now_s >= cached.until_s) {
      const int64_t day = keys::DayIndex(now);
      cached.monthly_months = retention_.monthly_months;
      cached.daily_days = retention_.daily_days;
      cached.from_s = day * 86400;
      cached.until_s = cached.from_s + 86400;
      cached.horizon = {*storage::LastExpiredBucket(Table::kMonthly, retention_, now),
                        *storage::LastExpiredBucket(Table::kDaily, retention_, now)};
    }
    return cached.horizon;
  }

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

// Whether the month or day bucket of `part` and `bucket` is past its retention at `now` (the
// total never is): the expiry rule of kMonthly and kDaily for the parts of a Signals record.
bool SignalsBucketExpired(const Expiry& expiry, SignalsPart part, int32_t bucket, absl::Time now) {
  const std::pair<int32_t, int32_t> horizon = expiry.SignalsHorizon(now);
  switch (part) {
    case SignalsPart::kMonth: return bucket <= horizon.first;
    case SignalsPart::kDay: return bucket <= horizon.second;
    default: return false;
  }
}

// The current state of a Signals record read whole from the store: the parts that exist and
// have not expired at `now`, each set to its value. Returns whether anything was dropped.
bool LiveSignalsParts(const Expiry& expiry, absl::Time now, SignalsCell* cell) {
  const size_t before = cell->entries.size();
  SettleSignalsCell(cell);
  auto expired = [&](const SignalsEntry& e) {
    return SignalsBucketExpired(expiry, e.part, e.bucket, now);
  };
  cell->entries.erase(std::remove_if(cell->entries.begin(), cell->entries.end(), expired),
                      cell->entries.end());
  return cell->entries.size() != before;
}

// Trims Signals records while RocksDB compacts: a whole value (not an operand, whose removes
// and adds still matter to what lies below it) loses its removed parts and expired buckets, and
// goes when nothing is left.
class SignalsCompactionFilter : public rocksdb::CompactionFilter {
 public:
  explicit SignalsCompactionFilter(const Expiry* expiry) : expiry_(expiry) {}

  Decision FilterV2(int /*level*/, const rocksdb::Slice& /*key*/, ValueType value_type,
                    const rocksdb::Slice& existing_value, std::string* new_value,
                    std::string* /*skip_until*/) const override {
    if (value_type != ValueType::kValue) return Decision::kKeep;
    SignalsCell cell;
    if (!DecodeSignalsCell(absl::string_view(existing_value.data(), existing_value.size()),
                           &cell)) {
      return Decision::kKeep;  // readers report it
    }
    const bool dropped = LiveSignalsParts(*expiry_, expiry_->clock()->Now(), &cell);
    // Nothing left: removed or expired now, or already by the merge that made this value.
    if (cell.entries.empty()) return Decision::kRemove;
    if (!dropped) return Decision::kKeep;
    *new_value = EncodeSignalsCell(cell);
    return Decision::kChangeValue;
  }

  const char* Name() const override { return "countd.SignalsCompactionFilter"; }

 private:
  const Expiry* expiry_;
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

// Composes Signals records (storage/signals_cell.h) in the totals family, where an increment
// of a counter's total, month and day is one operand. A full merge (a base, or none, and every
// operand above it) yields the record's current state, without removed parts or expired
// buckets; a partial merge composes operands only (their removes still matter below them).
class SignalsMergeOperator : public rocksdb::MergeOperator {
 public:
  explicit SignalsMergeOperator(const Expiry* expiry) : expiry_(expiry) {}

  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    SignalsCell cell;
    if (in.existing_value != nullptr && !DecodeSignalsCell(View(*in.existing_value), &cell)) {
      return false;  // RocksDB reports Corruption to the reader
    }
    SignalsCell operand;
    for (const rocksdb::Slice& s : in.operand_list) {
      if (!DecodeSignalsCell(View(s), &operand)) return false;
      for (const SignalsEntry& e : operand.entries) ApplySignalsEdit(&cell, e);
    }
    LiveSignalsParts(*expiry_, expiry_->clock()->Now(), &cell);
    out->new_value = EncodeSignalsCell(cell);
    return true;
  }

  bool PartialMerge(const rocksdb::Slice& /*key*/, const rocksdb::Slice& left,
                    const rocksdb::Slice& right, std::string* new_value,
                    rocksdb::Logger* /*logger*/) const override {
    SignalsCell older, newer;
    if (!DecodeSignalsCell(View(left), &older) || !DecodeSignalsCell(View(right), &newer)) {
      return false;
    }
    *new_value = EncodeSignalsCell(ComposeSignalsCells(older, newer));
    return true;
  }

  const char* Name() const override { return "countd.SignalsCompose"; }

 private:
  const Expiry* expiry_;
};

// RocksDB's info log, dropped: a read-only open must not write LOG files into the directory.
class DiscardingLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

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

// The edits a group makes to Signals records (storage/signals_cell.h), one operand per record
// key. Views into the callers' batches, which outlive the group.
class SignalsOperands {
 public:
  // Room for `ops` records without rehashing.
  void Reserve(size_t ops) { records_.reserve(ops); }

  void Add(const StagedOp& staged) {
    const WriteBatch::Op& op = *staged.op;
    if (op.type == WriteBatch::OpType::kAddSignals) {
      SignalsCell& record = records_[op.key];
      SignalsEntry e;
      e.cell = staged.cell;
      ApplySignalsEdit(&record, e);  // the total
      e.part = SignalsPart::kMonth;
      e.bucket = op.month;
      ApplySignalsEdit(&record, e);
      e.part = SignalsPart::kDay;
      e.bucket = op.day;
      ApplySignalsEdit(&record, e);
      return;
    }
    SignalsEdit edit = SignalsEdit::kAdd;
    CounterCell cell = staged.cell;  // an increment's delta
    if (op.type == WriteBatch::OpType::kPut) {
      edit = SignalsEdit::kSet;
      DecodeCounterCell(op.value, &cell);  // ValidateOps checked it
    } else if (op.type == WriteBatch::OpType::kDelete) {
      edit = SignalsEdit::kRemove;
    }
    absl::string_view counter_key;
    const SignalsEntry entry = SignalsEntryOf(op.table, op.key, edit, cell, &counter_key);
    ApplySignalsEdit(&records_[counter_key], entry);
  }

  std::vector<std::pair<absl::string_view, const SignalsCell*>> Sorted() const {
    std::vector<std::pair<absl::string_view, const SignalsCell*>> out;
    out.reserve(records_.size());
    for (const auto& [key, cell] : records_) out.emplace_back(key, &cell);
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
  }

 private:
  absl::flat_hash_map<absl::string_view, SignalsCell> records_;
};

// The RocksDB batch a group leader builds, and the callers it answers.
struct GroupBatch {
  std::vector<StagedOp> ops;
  // Every key staged, with the index in `ops` of its latest increment (-1: its latest op is a
  // put or delete). Views into the callers' batches, which outlive the group. Not the keys of
  // Signals tables, whose ops SignalsOperands composes per record.
  absl::flat_hash_map<TableKey, int> touched;
  bool signals_staged = false;  // an op of kTotals, kMonthly or kDaily is staged
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
    return MoveLegacySignalsBuckets();
  }

  // Moves the monthly and daily buckets an older countd kept as records of their own (one per
  // counter and bucket) into the counters' Signals records, up to kLegacyMoveChunk per atomic
  // write (each bucket added to its record and deleted in the same write), so a run that stops
  // resumes where it stopped and every bucket moves exactly once. Expired buckets are dropped.
  // A read-only open cannot move them and refuses such a directory.
  // Errors: kFailedPrecondition (read-only, buckets to move); kDataLoss for a bucket that is
  // not a counter cell (left in place); kUnavailable.
  absl::Status MoveLegacySignalsBuckets() {
    constexpr int kLegacyMoveChunk = 1000;
    const absl::Time now = clock_->Now();
    bool moved = false;
    for (Table table : {Table::kMonthly, Table::kDaily}) {
      // The iterator reads the family as it was when it was made; the chunks written meanwhile
      // do not disturb it.
      std::unique_ptr<rocksdb::Iterator> it(
          db_->NewIterator(rocksdb::ReadOptions(), Handle(table)));
      it->SeekToFirst();
      if (it->Valid() && options_.read_only) {
        return absl::FailedPreconditionError(absl::StrCat(
            "storage: the ", TableName(table),
            " buckets are in an older countd's layout: start this countd on the directory once "
            "(on a copy, for a backup)"));
      }
      while (it->Valid()) {
        rocksdb::WriteBatch wb;
        for (int n = 0; it->Valid() && n < kLegacyMoveChunk; it->Next(), ++n) {
          const absl::string_view key = View(it->key());
          CounterCell cell;
          if (!DecodeCounterCell(View(it->value()), &cell)) {
            return absl::DataLossError(absl::StrCat("storage: a record of table ", TableName(table),
                                                    " is not a counter cell"));
          }
          if (!expiry_.Expired(table, key, {}, now)) {
            absl::string_view counter_key;
            SignalsCell one;
            one.entries.push_back(
                SignalsEntryOf(table, key, SignalsEdit::kAdd, cell, &counter_key));
            rocksdb::Status s =
                wb.Merge(Handle(Table::kTotals), ToSlice(counter_key), EncodeSignalsCell(one));
            if (!s.ok()) return Unavailable("upgrade", s);
          }
          rocksdb::Status s = wb.Delete(Handle(table), it->key());
          if (!s.ok()) return Unavailable("upgrade", s);
        }
        rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), &wb);
        if (!s.ok()) return Unavailable("upgrade", s);
        moved = true;
      }
      if (!it->status().ok()) return Unavailable("upgrade", it->status());
    }
    if (moved) {
      rocksdb::Status s = db_->FlushWAL(/*sync=*/true);
      if (!s.ok()) return Unavailable("upgrade: flush wal", s);
    }
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
    if (IsSignalsTable(table)) {
      absl::string_view counter_key;
      const SignalsEntry want = SignalsEntryOf(table, key, SignalsEdit::kAdd, {}, &counter_key);
      rocksdb::PinnableSlice record;
      rocksdb::Status s =
          db_->Get(rocksdb::ReadOptions(), Handle(Table::kTotals), ToSlice(counter_key), &record);
      if (s.IsNotFound()) return absl::NotFoundError("not found");
      if (!s.ok()) return Unavailable("get", s);
      return SignalsPartValue(View(record), want, clock_->Now());
    }
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
    if (IsSignalsTable(table)) {
      std::vector<SignalsEntry> wanted;
      std::vector<std::string> counter_keys;
      wanted.reserve(keys.size());
      counter_keys.reserve(keys.size());
      for (const std::string& key : keys) {
        absl::string_view counter_key;
        wanted.push_back(SignalsEntryOf(table, key, SignalsEdit::kAdd, {}, &counter_key));
        counter_keys.emplace_back(counter_key);
      }
      const absl::Time now = clock_->Now();
      ForEachOfMultiGet(Table::kTotals, counter_keys,
                        [&](size_t i, const rocksdb::Status& s, absl::string_view record) {
                          if (s.IsNotFound()) {
                            out.push_back(absl::NotFoundError("not found"));
                          } else if (!s.ok()) {
                            out.push_back(Unavailable("multiget", s));
                          } else {
                            out.push_back(SignalsPartValue(record, wanted[i], now));
                          }
                        });
      return out;
    }
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
    if (IsSignalsTable(table)) return ScanSignals(table, range, visit);
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

  // The value of the part `want` names in the Signals record `record`, as the logical table
  // holds it (an encoded CounterCell). Errors: kNotFound when the part does not exist or has
  // expired at `now`; kDataLoss when the record is unreadable.
  absl::StatusOr<std::string> SignalsPartValue(absl::string_view record, const SignalsEntry& want,
                                               absl::Time now) const {
    SignalsCell cell;
    if (!DecodeSignalsCell(record, &cell)) return UnreadableRecord();
    const SignalsEntry* e = cell.Find(want.part, want.bucket);
    if (e == nullptr || !e->Exists()) return absl::NotFoundError("not found");
    if (SignalsBucketExpired(expiry_, want.part, want.bucket, now)) {
      return absl::NotFoundError("expired");
    }
    return EncodeCounterCell(e->cell);
  }

  static absl::Status UnreadableRecord() {
    return absl::DataLossError("storage: unreadable Signals counter record");
  }

  // Scan of kTotals, kMonthly or kDaily: the parts of that table in the Signals records, as
  // logical entries in logical key order. A monthly or daily key is its record's key followed by
  // the bucket, and no record key is a prefix of another (keys are whole '\0'-terminated parts),
  // so records in key order expanded bucket by bucket are in logical key order. Records from
  // the begin of the range cut after the last '\0' before its last 4 bytes (whole parts, so a
  // record with an entry at or past the begin has its key at or past that) up to its end (a
  // record key at or past the end has every logical key past it) hold every entry in the range;
  // entries outside it are skipped.
  absl::Status ScanSignals(Table table, const ScanRange& range, const ScanVisitor& visit) {
    const SignalsPart part = PartOfTable(table);
    std::string lower_key = range.begin;
    if (part != SignalsPart::kTotal) {
      // Cut after a part's terminator, never inside a bucket (whose bytes may be 0).
      const size_t cut =
          lower_key.size() > keys::kBucketSuffixSize
              ? lower_key.find_last_of('\0', lower_key.size() - keys::kBucketSuffixSize - 1)
              : std::string::npos;
      lower_key.erase(cut == std::string::npos ? 0 : cut + 1);
    }
    rocksdb::ReadOptions read_options;
    rocksdb::Slice lower(lower_key);
    rocksdb::Slice upper(range.end);
    read_options.iterate_lower_bound = &lower;
    if (!range.end.empty()) read_options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, Handle(Table::kTotals)));
    const absl::Time now = clock_->Now();
    if (range.reverse) {
      it->SeekToLast();
    } else {
      it->Seek(lower);
    }
    SignalsCell cell;
    std::string value;
    for (; it->Valid(); range.reverse ? it->Prev() : it->Next()) {
      const absl::string_view counter_key = View(it->key());
      if (!DecodeSignalsCell(View(it->value()), &cell)) return UnreadableRecord();
      LiveSignalsParts(expiry_, now, &cell);
      auto visit_entry = [&](const SignalsEntry& e) {
        if (e.part != part) return true;
        const std::string key = SignalsLogicalKey(counter_key, e);
        if (key < range.begin || (!range.end.empty() && key >= range.end)) return true;
        value = EncodeCounterCell(e.cell);
        return visit(key, value);
      };
      if (range.reverse) {
        for (auto e = cell.entries.rbegin(); e != cell.entries.rend(); ++e) {
          if (!visit_entry(*e)) return absl::OkStatus();
        }
      } else {
        for (const SignalsEntry& e : cell.entries) {
          if (!visit_entry(e)) return absl::OkStatus();
        }
      }
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
      if (op.type != WriteBatch::OpType::kAddCounter &&
          op.type != WriteBatch::OpType::kAddSignals) {
        return false;
      }
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
          if (IsSignalsTable(p.table) ? out.signals_staged
                                      : out.touched.contains(MakeTableKey(p.table, p.key))) {
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

  static absl::Status ValidateOps(const WriteBatch& batch) { return CheckBatchOps(batch); }

  // Stages one op of the group. An increment of a key whose latest staged op is an increment
  // is added into it when that is exact: both counts of one sign and their sum in range, so
  // that (x + a) + b == x + (a + b) under AddCells' saturation for every stored x. Puts and
  // deletes stay in order; an increment after one starts a new operand.
  void Stage(const WriteBatch::Op& op, GroupBatch* out) {
    if (IsSignalsTable(op.table)) {
      // Composed in op order per record by SignalsOperands (WriteStaged), which also sums the
      // increments of one part: exact for the counts Signals writes (never negative, and
      // saturating sums of non-negative counts do not depend on their grouping), as RocksDB's
      // own partial merges of the record's operands assume.
      CounterCell delta;
      if (op.type == WriteBatch::OpType::kAddSignals) {
        delta = op.delta;
      } else if (op.type == WriteBatch::OpType::kAddCounter) {
        DecodeCounterCell(op.value, &delta);  // ValidateOps checked it
      }
      out->ops.push_back(StagedOp{&op, delta, false, false, {}});
      out->signals_staged = true;
      return;
    }
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
    if (!DueForSettle(op.table, op.key)) return;
    absl::StatusOr<std::string> current = GetAny(op.table, op.key);
    if (!current.ok()) return;  // absent, expired (then dropped by compaction) or unreadable
    StagedOp settle{&op, CounterCell(), false, true, *std::move(current)};
    out->ops.push_back(std::move(settle));
  }

  // Counts one more merge operand written at `key` of `table` (the family's key); true at the
  // kMaxSuccessiveMerges-th since the key was last settled, when the count restarts.
  bool DueForSettle(Table table, absl::string_view key) {
    if (operand_counts_.size() >= kMaxCountedKeys) operand_counts_.clear();
    uint32_t& n = operand_counts_[absl::HashOf(static_cast<int>(table), key)];
    if (++n < kMaxSuccessiveMerges) return false;
    n = 0;
    return true;
  }

  // Writes the staged ops as one RocksDB batch and answers its members; empties `out`.
  void Commit(GroupBatch* out) {
    if (out->members.empty()) return;
    absl::Status status = WriteStaged(*out);
    for (PendingWrite* w : out->members) w->status = status;
    out->members.clear();
    out->ops.clear();
    out->touched.clear();
    out->signals_staged = false;
  }

  absl::Status WriteStaged(const GroupBatch& out) {
    rocksdb::WriteBatch wb;
    std::string folded;
    // In key order per table (stable: one key's ops keep their order). The memtable inserts a
    // batch's entries one after the other from where the previous one went, so neighbours are
    // found in a few steps instead of a search from the top of the skiplist each time.
    // Signals ops go to their records in op order (WriteSignals writes those in key order).
    std::vector<const StagedOp*> ordered;
    SignalsOperands signals;
    if (out.signals_staged) signals.Reserve(out.ops.size());
    for (const StagedOp& staged : out.ops) {
      if (IsSignalsTable(staged.op->table)) {
        signals.Add(staged);
      } else {
        ordered.push_back(&staged);
      }
    }
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
        case WriteBatch::OpType::kAddSignals:  // kTotals: staged with the Signals ops above
          return absl::InternalError("storage: a Signals add outside the Signals records");
      }
      if (!s.ok()) return Unavailable("batch", s);
    }
    if (absl::Status s = WriteSignals(signals, &wb); !s.ok()) return s;
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

  // Adds to `wb` one operand per Signals record that the group's ops of kTotals, kMonthly and
  // kDaily touch (their edits composed in op order), in key order; a record with
  // kMaxSuccessiveMerges operands since it was last settled is first settled, as
  // FoldHotCounter settles other counters.
  absl::Status WriteSignals(const SignalsOperands& signals, rocksdb::WriteBatch* wb) {
    rocksdb::ColumnFamilyHandle* cf = Handle(Table::kTotals);
    std::string operand;  // one buffer for every record's operand (RocksDB copies it)
    for (auto& [counter_key, cell] : signals.Sorted()) {
      if (DueForSettle(Table::kTotals, counter_key)) {
        rocksdb::PinnableSlice current;
        SignalsCell settled;
        rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), cf, ToSlice(counter_key), &current);
        if (got.ok() && DecodeSignalsCell(View(current), &settled)) {
          SettleSignalsCell(&settled);
          rocksdb::Status s = wb->Put(cf, ToSlice(counter_key), EncodeSignalsCell(settled));
          if (!s.ok()) return Unavailable("batch", s);
        }
      }
      EncodeSignalsCellTo(*cell, &operand);
      rocksdb::Status s = wb->Merge(cf, ToSlice(counter_key), operand);
      if (!s.ok()) return Unavailable("batch", s);
    }
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

  // Signals tables (kTotals, kMonthly, kDaily): the family of their records.
  absl::Status CompactForTest(Table table) {
    rocksdb::CompactRangeOptions cro;
    cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    rocksdb::ColumnFamilyHandle* cf = Handle(IsSignalsTable(table) ? Table::kTotals : table);
    rocksdb::Status s = db_->Flush(rocksdb::FlushOptions(), cf);
    if (s.ok()) s = db_->CompactRange(cro, cf, nullptr, nullptr);
    if (!s.ok()) return Unavailable("compact", s);
    return absl::OkStatus();
  }

  absl::Status PutLegacyForTest(Table table, absl::string_view key, absl::string_view value,
                                bool merge = false) {
    rocksdb::Status s =
        merge ? db_->Merge(rocksdb::WriteOptions(), Handle(table), ToSlice(key), ToSlice(value))
              : db_->Put(rocksdb::WriteOptions(), Handle(table), ToSlice(key), ToSlice(value));
    return s.ok() ? absl::OkStatus() : Unavailable("put", s);
  }

  // Signals tables: the operands of the record that holds the key's part.
  absl::StatusOr<int> MergeOperandsForTest(Table table, absl::string_view key) {
    if (IsSignalsTable(table)) {
      SignalsEntryOf(table, key, SignalsEdit::kAdd, {}, &key);
      table = Table::kTotals;
    }
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

  // Signals tables: the stored parts of that table in the records (expired or not) and any
  // record of an older layout in the table's own family.
  absl::StatusOr<int64_t> CountRawEntriesForTest(Table table) {
    int64_t n = 0;
    if (IsSignalsTable(table)) {
      std::unique_ptr<rocksdb::Iterator> it(
          db_->NewIterator(rocksdb::ReadOptions(), Handle(Table::kTotals)));
      SignalsCell cell;
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        if (!DecodeSignalsCell(View(it->value()), &cell)) return UnreadableRecord();
        for (const SignalsEntry& e : cell.entries) {
          n += e.Exists() && e.part == PartOfTable(table);
        }
      }
      if (!it->status().ok()) return Unavailable("count", it->status());
      if (table == Table::kTotals) return n;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), Handle(table)));
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
    if (table == Table::kTotals) {
      // The Signals records (signals_cell.h): kMonthly and kDaily are views of them, and their
      // own families only hold what an older countd wrote until MoveLegacySignalsBuckets runs.
      cf.merge_operator = std::make_shared<SignalsMergeOperator>(&expiry_);
      cf.max_successive_merges = 0;  // settled by the writer (WriteSignals)
      // Increments land on records spread over the whole key space, so every compaction of L0
      // files rewrites about all of the level below them. Waiting for 16 L0 files instead of 4
      // rewrites it a quarter as often: under P2's many-users load compaction took 22-42% less
      // CPU and the writer got it (bench/RESULTS.md, 2026-12-06 23:05). Reads check up to that
      // many more files (bloom filters for point reads; a prefix scan seeks in each).
      cf.level0_file_num_compaction_trigger = 16;
      cf.level0_slowdown_writes_trigger = 40;
      cf.level0_stop_writes_trigger = 60;
      signals_filter_ = std::make_unique<SignalsCompactionFilter>(&expiry_);
      cf.compaction_filter = signals_filter_.get();
      cf.periodic_compaction_seconds =
          static_cast<uint64_t>(absl::ToInt64Seconds(kPeriodicCompaction));
    } else if (IsCounterTable(table)) {
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
  std::unique_ptr<SignalsCompactionFilter> signals_filter_;
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

absl::Status PutLegacyForTest(Store& store, Table table, absl::string_view key,
                              absl::string_view value) {
  RocksDbStore* rocks = AsRocks(store);
  if (rocks == nullptr) return NotRocks();
  return rocks->PutLegacyForTest(table, key, value);
}

absl::Status MergeLegacyForTest(Store& store, Table table, absl::string_view key,
                                absl::string_view value) {
  RocksDbStore* rocks = AsRocks(store);
  if (rocks == nullptr) return NotRocks();
  return rocks->PutLegacyForTest(table, key, value, /*merge=*/true);
}

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
