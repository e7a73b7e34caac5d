// storage/store.h — durable storage for countd: tables of byte keys grouped into partitions,
// atomic conditional writes within a partition, counter cells added without reading, and
// time-based expiry of bucketed tables. Implemented by RocksDB (one node, the default) and by
// Redis Cluster (storage/redis_cluster/redis_store.h).
#ifndef COUNTD_STORAGE_STORE_H_
#define COUNTD_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/clock.h"
#include "storage/counter_cell.h"

namespace countd::storage {

// The tables of the store. Each is a RocksDB column family tuned for its access pattern.
enum class Table : int {
  kMeta = 0,  // small configuration records (registry, settings); point reads, prefix scans
  // kTotals, kMonthly and kDaily hold only CounterCells (a Put of other bytes is refused with
  // kInternal): RocksDB keeps a counter's total, months and days in one record of the totals
  // family (storage/signals_cell.h) and these three tables are views of it.
  kTotals,    // CounterCell per counter, never expires; merge-heavy
  kMonthly,   // CounterCell per counter and month; key ends with a month index (keys.h)
  kDaily,     // CounterCell per counter and day; key ends with a day index
  kStash,     // CounterCell per visitor counter and day; key ends with a day index
  kRequests,  // idempotency records; value starts with an 8-byte big-endian expiry (unix s)
  kTally,  // CounterCell per Tally sub-bucket; key ends with an 8-byte big-endian expiry (unix s)
  kTallyMeta,  // Tally per-countable metadata and counter settings; never expires
  kGmLog,      // GameMechanics action log entries; never expires
  kGmState,    // GameMechanics per-user state (balances, levels) and leaderboard indexes
  kGmDaily,    // CounterCell of points per user, challenge and day; key ends with a day index
};
inline constexpr int kNumTables = 11;

// Name of a table (its column family; kMonthly's and kDaily's hold only what an older countd
// wrote, until the store moves it into the records of the totals family at open).
const char* TableName(Table table);

// How long bucketed tables keep data. A bucket is dropped (by compaction, and hidden from reads
// before that) once it is older than the newest `n` buckets of its unit, counting the current one.
struct Retention {
  int daily_days = 90;      // kDaily
  int monthly_months = 25;  // kMonthly
  int stash_days = 90;      // kStash
  int gm_daily_days = 8;    // kGmDaily (7-day sums need the last 7)
};

enum class SyncMode {
  kNone,    // the WAL is written before a write returns, not fsynced: survives process death
  kAlways,  // the WAL is fsynced before a write returns (concurrent writers share one fsync)
};

struct StoreOptions {
  SyncMode sync = SyncMode::kNone;
  Retention retention;
  // Shared LRU block cache for all tables (data, index and filter blocks).
  size_t block_cache_bytes = size_t{128} << 20;
  // Budget for all memtables together; a full budget forces flushes.
  size_t memtable_bytes = size_t{64} << 20;
  // Time source for expiry; must outlive the store. nullptr = RealClock().
  const Clock* clock = nullptr;
  // RocksDB: open an existing database for reading only (a stopped node's data dir, or a
  // backup that Admin.Backup made) and change nothing in its directory: no WAL replayed into
  // files, no log or options file written. Write, Flush and Checkpoint answer
  // kFailedPrecondition. While it is open no countd can open the directory (and it is refused
  // while a countd has it open). A process must not open one directory both ways at once: POSIX
  // drops a process's record locks on a file when it closes any descriptor of it.
  bool read_only = false;
};

// A partition: the unit of every atomic write and every scan. Each key of each table belongs to
// exactly one partition, and every access to the key names that partition (the functions in
// keys.h build both). On RocksDB a partition costs nothing (keys are unique across partitions and
// any write is atomic); on Redis Cluster it is the hash tag that puts all of its keys in one
// slot, so a partition is also the unit of placement: a hot partition is served by one master.
// Partitions of countd: a Signals user, a Stash visitor, a Tally counter, a tenant (its registry,
// settings and all of its GameMechanics data) and the tenant registry (keys.h).
class Partition {
 public:
  explicit Partition(std::string id) : id_(std::move(id)) {}
  const std::string& id() const { return id_; }

  friend bool operator==(const Partition& a, const Partition& b) { return a.id_ == b.id_; }
  friend bool operator!=(const Partition& a, const Partition& b) { return a.id_ != b.id_; }

 private:
  std::string id_;
};

// An ordered set of writes to one partition applied atomically by Store::Write: all or none,
// and only when every precondition (Expect) holds at the moment of writing. Not thread-safe;
// build it on one thread.
class WriteBatch {
 public:
  enum class OpType { kPut, kDelete, kAddCounter, kAddSignals };
  struct Op {
    OpType type;
    Table table;
    std::string key;
    std::string value;  // kPut: the value; kAddCounter: an encoded CounterCell delta
    int32_t month = 0;  // kAddSignals: the month and day buckets the delta also goes to
    int32_t day = 0;
    CounterCell delta;  // kAddSignals: the delta (`value` stays empty)
  };
  // An op of `type` on `key` holding `value`, its kAddSignals fields left at zero.
  static Op MakeOp(OpType type, Table table, std::string key, std::string value) {
    Op op;
    op.type = type;
    op.table = table;
    op.key = std::move(key);
    op.value = std::move(value);
    return op;
  }
  // The batch applies only if the live value of `key` equals `value` (nullopt: the key is
  // absent or expired).
  struct Precondition {
    Table table;
    std::string key;
    std::optional<std::string> value;
  };

  explicit WriteBatch(Partition partition) : partition_(std::move(partition)) {}

  // Room for `ops` more ops without reallocating.
  void Reserve(size_t ops) { ops_.reserve(ops_.size() + ops); }
  void Put(Table table, absl::string_view key, absl::string_view value);
  void Delete(Table table, absl::string_view key);
  // Adds `delta` to the CounterCell at `key` (absent counts as zero) without reading it.
  void AddCounter(Table table, absl::string_view key, const CounterCell& delta);
  // Adds `delta` to the Signals counter `key` of kTotals and to its buckets `month` of kMonthly
  // and `day` of kDaily (keys::WithBucket(key, month), keys::WithBucket(key, day)): the three
  // AddCounter ops of a Signals increment as one op, which RocksDB composes into the counter's
  // record without building the bucket keys. Other stores apply ExpandedOps.
  // Takes the key by value: a caller that built it for this op moves it in.
  void AddSignals(std::string key, int32_t month, int32_t day, const CounterCell& delta);
  // Makes the batch conditional: Store::Write applies nothing and fails ABORTED unless, when it
  // writes, `key` holds exactly `value` (nullopt: is absent). This is how N processes sharing
  // one store keep read-modify-write exact (optimistic concurrency: read, build, write with the
  // values read as preconditions, and on ABORTED read again). Put/Delete/AddCounter of the same
  // batch do not affect its preconditions, which are all checked before any op applies.
  // Rule for callers: a key that any batch expects is only ever changed by batches that carry
  // preconditions (RocksDB serializes conditional batches that expect a common key;
  // unconditional batches take no lock, so the hot increment path stays lock-free).
  void Expect(Table table, absl::string_view key, std::optional<std::string> value);

  // Rankings (only on a store whose KeepsRankings() is true; any other store refuses a batch
  // that carries these ops with kInvalidArgument). A ranking is named within the batch's
  // partition and holds, per time bucket, a count per item; its total for an item is the sum
  // of the buckets that end after the ranking's horizon. Store::ReadRanking reads the top.
  enum class RankingOpType { kAdd, kReset };
  struct RankingOp {
    RankingOpType type;
    std::string ranking;
    std::string item;        // kAdd only
    int64_t bucket_end = 0;  // kAdd: the bucket's end (unix s)
    int64_t keep_until = 0;  // kAdd: the bucket is dropped at this instant (unix s)
    int64_t horizon = 0;     // kAdd: buckets ending at or before it no longer count (unix s)
    int64_t window = 0;      // kAdd: the window's identity (e.g. its length); see below
    int64_t delta = 0;       // kAdd: any sign
  };
  // Adds `delta` to `item` in the bucket ending at `bucket_end` of `ranking`, applied with the
  // batch (atomically with its other ops). `horizon` moves the ranking's horizon forward (never
  // back) as of this write; a different `window` than the ranking's last one re-evaluates every
  // kept bucket against `horizon` (a widened window counts kept buckets again).
  void AddRanked(absl::string_view ranking, absl::string_view item, int64_t bucket_end,
                 int64_t keep_until, int64_t horizon, int64_t window, int64_t delta);
  // Forgets every bucket of `ranking` (for rebuilding it, e.g. when data is moved in); ops of the
  // same ranking later in the batch start from empty.
  void ResetRanking(absl::string_view ranking);

  // Declares that nothing but the store reflects this batch: its caller keeps no in-memory state
  // (a ranking, a cache) that it updates from the write. A store may then keep a batch of
  // counter increments alone (AddCounter ops, no preconditions) that a replying thread submits,
  // and apply it a little later (Store::Submit).
  void AllowDeferredApply() { deferred_apply_ = true; }
  bool deferred_apply_allowed() const { return deferred_apply_; }

  const Partition& partition() const { return partition_; }
  const std::vector<Op>& ops() const { return ops_; }
  const std::vector<Precondition>& preconditions() const { return preconditions_; }
  const std::vector<RankingOp>& ranking_ops() const { return ranking_ops_; }
  bool empty() const { return ops_.empty() && ranking_ops_.empty(); }

 private:
  Partition partition_;
  std::vector<Op> ops_;
  std::vector<Precondition> preconditions_;
  std::vector<RankingOp> ranking_ops_;
  bool deferred_apply_ = false;
};

// The top of a ranking (Store::ReadRanking).
struct RankingTop {
  struct Entry {
    std::string item;
    int64_t total = 0;
  };
  std::vector<Entry> top;  // total > 0 only; total descending, then item ascending (bytewise)
  size_t self_rank = 0;    // 1-based rank of the asked item; 0 when its total is <= 0 or not asked
  int64_t self_total = 0;  // its total (any sign; 0 when it has none)
};

// Range of a scan within one partition: keys k with begin <= k < end (end empty = no upper
// bound). Keys of other partitions are never visited, even when they fall in the range.
struct ScanRange {
  std::string begin;
  std::string end;
  bool reverse = false;  // visit from the largest key down
};

// The ops of `batch` with every kAddSignals op replaced by its three AddCounter ops, in place:
// for stores that keep kTotals, kMonthly and kDaily apart.
std::vector<WriteBatch::Op> ExpandedOps(const WriteBatch& batch);

// Checks what every store refuses before writing anything of `batch`: an AddCounter on a table
// that holds no counters, or of a value that is not a CounterCell, and a Put on kTotals, kMonthly
// or kDaily of a value that is not a CounterCell. Errors: kInternal (a caller's bug) naming the
// table.
absl::Status CheckBatchOps(const WriteBatch& batch);

// The smallest range holding every key that starts with `prefix`.
ScanRange PrefixRange(absl::string_view prefix);

// Visited key and value of a scan; return false to stop early. The views are valid only during
// the call.
using ScanVisitor = std::function<bool(absl::string_view key, absl::string_view value)>;

// A fixed-bucket distribution of durations, as plain numbers.
struct DurationHistogram {
  std::vector<double> upper_bounds_seconds;  // ascending
  // counts[i]: observations d with upper_bounds_seconds[i-1] < d <= upper_bounds_seconds[i]
  // (not cumulative); the last entry (index upper_bounds_seconds.size()) counts those above
  // every bound.
  std::vector<uint64_t> counts;
  double sum_seconds = 0;
};

// Figures about a store for monitoring, read at one moment; RocksDB's estimates where noted.
struct StoreStats {
  uint64_t memtable_bytes = 0;            // all memtables of all tables
  uint64_t pending_compaction_bytes = 0;  // estimate of bytes compaction must still rewrite
  uint64_t block_cache_usage_bytes = 0;   // bytes held by the shared block cache
  uint64_t block_cache_capacity_bytes = 0;
  // Estimated keys per table, indexed by static_cast<int>(Table) (counts overwritten and
  // expired keys not yet compacted away).
  std::vector<uint64_t> estimated_keys;
  SyncMode sync = SyncMode::kNone;   // the sync mode `write_duration` was measured with
  DurationHistogram write_duration;  // Store::Write durations since the store was opened
};

// Which store a process runs on, for the few decisions that differ (backups, upgrades).
enum class StoreKind { kRocksDb, kRedisCluster };

// Marks the current thread, while alive, as one that answers its callers only after
// Store::FlushWal (countd's completion-queue threads when they run the request work inline).
class DeferWalFlush {
 public:
  DeferWalFlush() { ++depth_; }
  ~DeferWalFlush() { --depth_; }
  DeferWalFlush(const DeferWalFlush&) = delete;
  DeferWalFlush& operator=(const DeferWalFlush&) = delete;

  static bool Active() { return depth_ > 0; }

 private:
  inline static thread_local int depth_ = 0;
};

// A Store persists countd's tables. All methods are safe to call concurrently, also from several
// processes sharing one store (Redis Cluster). Reads see every write that returned before they
// started; expired buckets and records are never returned. Every key is read and written with
// the partition it belongs to (see Partition).
class Store {
 public:
  virtual ~Store() = default;

  virtual StoreKind kind() const = 0;

  // Reads one value. Errors: kNotFound when absent or expired; kUnavailable on storage failure;
  // kDeadlineExceeded when a remote store did not answer in time.
  virtual absl::StatusOr<std::string> Get(const Partition& partition, Table table,
                                          absl::string_view key) = 0;

  // Reads one counter cell. Errors: kNotFound when absent or expired; kDataLoss when the stored
  // bytes are not a counter; kUnavailable on storage failure.
  virtual absl::StatusOr<CounterCell> GetCounter(const Partition& partition, Table table,
                                                 absl::string_view key) = 0;

  // Reads many values of one partition at once; the result has one entry per key, in order,
  // each as Get.
  virtual std::vector<absl::StatusOr<std::string>> MultiGet(
      const Partition& partition, Table table, const std::vector<std::string>& keys) = 0;

  // Reads many counter cells of one partition at once; one entry per key, in order, each as
  // GetCounter.
  virtual std::vector<absl::StatusOr<CounterCell>> MultiGetCounters(
      const Partition& partition, Table table, const std::vector<std::string>& keys) = 0;

  // Visits live entries of `range` within `partition` in key order (or reverse). RocksDB visits
  // one snapshot; Redis Cluster visits pages of entries, each page one atomic read. Errors:
  // kUnavailable on storage failure (the visitor may have seen some entries before it).
  virtual absl::Status Scan(const Partition& partition, Table table, const ScanRange& range,
                            const ScanVisitor& visit) = 0;

  // Visits live entries of `range` across every partition, in key order. Only a store with one
  // ordered key space (RocksDB) implements it; Redis Cluster returns kUnimplemented. For
  // one-time upgrades of data an older countd wrote (which only RocksDB can hold) and for moving
  // a node's data out. Errors: kUnimplemented; kUnavailable as Scan.
  virtual absl::Status ScanAllPartitions(Table table, const ScanRange& range,
                                         const ScanVisitor& visit) = 0;

  // Applies `batch` (all of it in batch.partition()) atomically and durably (per the store's
  // durability settings) before returning, provided its preconditions hold.
  // Errors: kAborted when a precondition does not hold; kUnavailable when the write failed;
  // kDeadlineExceeded when a remote store did not answer in time (then the batch may or may
  // not have been applied: callers that must know retry with preconditions or a request_id).
  // On kAborted and kUnavailable nothing of the batch is applied.
  virtual absl::Status Write(const WriteBatch& batch) = 0;

  // Write, taking the batch, which a store may keep and apply later: RocksDB with --sync=none,
  // on a thread inside a DeferWalFlush scope (whose replies wait for its FlushWal anyway), keeps
  // a batch that AllowDeferredApply and holds only AddCounter ops and no preconditions, and
  // returns OK once its ops are valid. The thread's kept batches are applied together, in
  // order and as one atomic write (increments of one counter summed), at the latest when the
  // same thread next calls FlushWal, reads this store or writes a batch it does not keep. So the
  // thread reads its own writes, its writes stay in program order, and no other thread can see
  // a kept write before the thread may acknowledge it. A failure to apply them is returned by
  // the call that applied them and by the thread's next FlushWal, whose held replies then
  // answer it (the writes are not acknowledged). Kept batches a thread never flushes are lost
  // when the store closes, like any write not yet acknowledged. Every other case: Write(batch).
  virtual absl::Status Submit(WriteBatch batch) { return Write(batch); }

  // Whether this store keeps rankings (WriteBatch::AddRanked, ReadRanking) that every process
  // sharing it sees: Redis Cluster. On RocksDB (one process) the logic ranks in memory, which is
  // cheaper, and this is false.
  virtual bool KeepsRankings() const { return false; }

  // Up to `k` items of `ranking` in `partition` with a positive total over the buckets ending
  // after `horizon` (moved forward as AddRanked does, for `window`), and the rank and total of
  // `self_item` when not empty. A ranking never written reads empty.
  // Errors: kUnimplemented when !KeepsRankings(); kOutOfRange when a total or bucket count of
  // the ranking left the range the store counts exactly (|x| >= 2^53): read the buckets
  // instead; kUnavailable / kDeadlineExceeded as Get.
  virtual absl::StatusOr<RankingTop> ReadRanking(const Partition& partition,
                                                 absl::string_view ranking, int64_t horizon,
                                                 int64_t window, size_t k,
                                                 absl::string_view self_item) {
    return absl::UnimplementedError("storage: this store keeps no rankings");
  }

  // Whether the whole store is reachable, for readiness: OK on RocksDB (an open database is
  // there); on Redis Cluster every master answers PING and the slot map covers every slot.
  // Errors: kUnavailable naming what is missing; kDeadlineExceeded.
  virtual absl::Status Probe() { return absl::OkStatus(); }

  // Flushes memtables and the WAL; used before a clean shutdown. Errors: kUnavailable.
  virtual absl::Status Flush() = 0;

  // Deferred WAL flushes (RocksDB with --sync=none). A Write on a thread inside a
  // DeferWalFlush scope may return OK while its WAL record is still in the process's memory, and
  // a Submit there may return OK for a batch kept in memory: that thread must call FlushWal
  // before it lets anyone see a result (its own or another thread's write, read from the store
  // or from memory). A Write on any other thread flushes before it returns. Pending: a WAL record
  // not yet flushed, or a batch this thread submitted and the store keeps. Other stores never
  // defer: pending is always false.
  virtual bool WalFlushPending() const { return false; }
  // Applies the batches this thread submitted and the store keeps (Submit), then writes every
  // WAL record made so far to the operating system (not fsync). Errors: kUnavailable, also when
  // applying this thread's kept batches failed since its last FlushWal.
  virtual absl::Status FlushWal() { return absl::OkStatus(); }

  // Monitoring figures (see StoreStats); cheap enough to call on every metrics scrape.
  // Errors: kUnavailable when the figures cannot be read.
  virtual absl::StatusOr<StoreStats> Stats() = 0;

  // RocksDB only (Redis Cluster answers kFailedPrecondition pointing to Redis' own persistence):
  // creates in `dir` a consistent copy of the whole database, openable with OpenRocksDbStore
  // (with the same options) as a complete data directory: it holds every write that returned
  // before the call started and no part of any write still in flight (each WriteBatch is
  // either wholly in or wholly out). Safe to call while other threads read and write; they
  // are not blocked beyond a memtable flush. Table files are hard-linked when `dir` is on the
  // database's filesystem (nearly free, and they share disk blocks with the live files until
  // compaction replaces those), copied otherwise. `dir` must not exist; its parent must. On
  // failure no `dir` is left behind (a partial copy may remain as "<dir>.tmp" until the next
  // checkpoint to `dir` removes it).
  // Errors: kInvalidArgument when `dir` is empty or already exists; kUnavailable when the
  // copy fails (missing parent, unwritable, disk full, ...).
  virtual absl::Status Checkpoint(const std::string& dir) = 0;
};

// Opens or creates a RocksDB-backed Store in `dir` (with options.read_only: opens the existing
// one without writing).
// Errors: kUnavailable when the database cannot be opened (locked, corrupt, unwritable, missing
// when read-only); kFailedPrecondition, read-only only, when another process has it open or it
// lacks a table (an older countd wrote it: open it once read-write, on a copy for a backup).
absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(const std::string& dir,
                                                        const StoreOptions& options);

}  // namespace countd::storage

#endif  // COUNTD_STORAGE_STORE_H_
