#include "server/migration.h"

#include <deque>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/executor.h"
#include "server/logic/gm_rankings.h"
#include "server/logic/tally.h"
#include "storage/counter_cell.h"
#include "storage/keys.h"

namespace countd {
namespace {

namespace keys = storage::keys;
using storage::Partition;
using storage::Store;
using storage::Table;

// --- Progress, kept in the target under a partition of its own (no countd partition's id starts
// with its tag part) ---

const Partition& ProgressPartition() {
  static const Partition* const p = new Partition(keys::Join({"migration"}));
  return *p;
}

const std::string& ProgressKey() {
  static const std::string* const k = new std::string(keys::Join({"progress"}));
  return *k;
}

constexpr char kProgressVersion = 1;
constexpr absl::Duration kProgressEvery = absl::Seconds(1);
constexpr absl::Duration kLogEvery = absl::Seconds(10);
constexpr size_t kMaxReportedMismatches = 20;

struct Progress {
  bool done = false;
  std::string source;
  int table = 0;         // tables before it are copied
  std::string last_key;  // of `table`: partitions up to the one ending with it are copied
  std::array<int64_t, storage::kNumTables> records{};
};

void PutString(std::string* out, absl::string_view s) {
  keys::PutBigEndian64(out, static_cast<int64_t>(s.size()));
  out->append(s.data(), s.size());
}

std::string EncodeProgress(const Progress& p) {
  std::string out;
  out.push_back(kProgressVersion);
  out.push_back(p.done ? 'd' : 'c');
  keys::PutBigEndian64(&out, p.table);
  PutString(&out, p.source);
  PutString(&out, p.last_key);
  for (int64_t n : p.records) keys::PutBigEndian64(&out, n);
  return out;
}

// Reads the fields of EncodeProgress in order; false when the bytes run out.
class ProgressReader {
 public:
  explicit ProgressReader(absl::string_view in) : in_(in) {}
  bool Int(int64_t* v) {
    if (in_.size() < 8) return false;
    *v = keys::GetBigEndian64(in_);
    in_.remove_prefix(8);
    return true;
  }
  bool String(std::string* s) {
    int64_t n = 0;
    if (!Int(&n) || n < 0 || static_cast<uint64_t>(n) > in_.size()) return false;
    s->assign(in_.data(), static_cast<size_t>(n));
    in_.remove_prefix(static_cast<size_t>(n));
    return true;
  }
  bool empty() const { return in_.empty(); }

 private:
  absl::string_view in_;
};

absl::StatusOr<Progress> DecodeProgress(absl::string_view in) {
  const absl::Status bad = absl::DataLossError(
      "migration: the progress record in the cluster is unreadable; start over with --restart");
  if (in.size() < 2 || in[0] != kProgressVersion || (in[1] != 'c' && in[1] != 'd')) return bad;
  Progress p;
  p.done = in[1] == 'd';
  ProgressReader r(in.substr(2));
  int64_t table = 0;
  if (!r.Int(&table) || table < 0 || table > storage::kNumTables) return bad;
  p.table = static_cast<int>(table);
  if (!r.String(&p.source) || !r.String(&p.last_key)) return bad;
  for (int64_t& n : p.records) {
    if (!r.Int(&n)) return bad;
  }
  if (!r.empty()) return bad;
  return p;
}

// The progress recorded in `target`; nullopt when none.
absl::StatusOr<std::optional<Progress>> ReadProgress(Store& target) {
  absl::StatusOr<std::string> raw = target.Get(ProgressPartition(), Table::kMeta, ProgressKey());
  if (absl::IsNotFound(raw.status())) return std::optional<Progress>();
  if (!raw.ok()) return raw.status();
  absl::StatusOr<Progress> p = DecodeProgress(*raw);
  if (!p.ok()) return p.status();
  return std::optional<Progress>(*std::move(p));
}

absl::Status WriteProgress(Store& target, const Progress& p) {
  storage::WriteBatch batch(ProgressPartition());
  batch.Put(Table::kMeta, ProgressKey(), EncodeProgress(p));
  return target.Write(batch);
}

// --- What the records are ---

bool IsCounterTable(Table t) {
  return t == Table::kTotals || t == Table::kMonthly || t == Table::kDaily || t == Table::kStash ||
         t == Table::kTally || t == Table::kGmDaily;
}

// The Redis hash tag of a partition's keys, for naming it without its (personal) id.
std::string PartitionHash(const Partition& p) {
  return absl::StrCat("{", absl::Hex(keys::Fnv1a64(p.id()), absl::kZeroPad16), "}");
}

absl::Status Unreadable(Table table, absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("migration: ", what, " in table ", storage::TableName(table), " is unreadable"));
}

// A Tally bucket (kTally): its names, op, end and expiry.
struct TallyBucket {
  absl::string_view tenant, counter, countable;
  bool topk = false;  // of the counter's top-K op
  int64_t end = 0;
  int64_t expiry = 0;
};

TallyBucket ParseTallyBucket(absl::string_view key) {
  // PartitionOfKey accepted the key: four parts before the 16-byte suffix.
  std::vector<absl::string_view> p =
      keys::Split(key.substr(0, key.size() - keys::kTallySuffixSize));
  TallyBucket b;
  b.tenant = p[1];
  b.counter = p[2];
  b.countable = p[3];
  b.topk = absl::StartsWith(key, keys::TallyCounterPrefix(keys::kTallyTopK, b.tenant, b.counter));
  b.end = keys::TallyBucketEnd(key);
  b.expiry = keys::GetBigEndian64(key.substr(key.size() - 8));
  return b;
}

// A GameMechanics daily bucket (kGmDaily): tenant, challenge, uid and day.
struct GmDay {
  absl::string_view tenant, challenge, uid;
  int32_t day = 0;
};

GmDay ParseGmDay(absl::string_view key) {
  // PartitionOfKey accepted the key: three parts before the 4-byte day.
  std::vector<absl::string_view> p = keys::Split(keys::WithoutBucket(key));
  return GmDay{p[0], p[1], p[2], keys::BucketOf(key)};
}

// The window (minutes) of the Tally top-K counter (tenant, counter) in `store`; 0 when it has
// none (never incremented: nothing is ranked).
absl::StatusOr<int32_t> TopKWindow(Store& store, absl::string_view tenant,
                                   absl::string_view counter) {
  absl::StatusOr<std::string> raw =
      store.Get(keys::TallyPartition(tenant, counter), Table::kTallyMeta,
                keys::TallySettingsKey(keys::kTallyTopK, tenant, counter));
  if (absl::IsNotFound(raw.status())) return 0;
  if (!raw.ok()) return raw.status();
  int32_t window = 0;
  if (!absl::SimpleAtoi(*raw, &window) || window < 1 || window > logic::kMaxWindowMinutes) {
    return Unreadable(Table::kTallyMeta, "the window of a Tally counter");
  }
  return window;
}

// A clock that stands at one instant: both sides of a ranking comparison read at the same time.
class FixedClock : public storage::Clock {
 public:
  explicit FixedClock(absl::Time t) : t_(t) {}
  absl::Time Now() const override { return t_; }

 private:
  absl::Time t_;
};

absl::Status CheckStores(Store& source, Store& target) {
  if (source.kind() != storage::StoreKind::kRocksDb) {
    return absl::InvalidArgumentError("migration: the source must be a RocksDB store");
  }
  if (!target.KeepsRankings()) {
    return absl::InvalidArgumentError(
        "migration: the target must keep rankings (a Redis Cluster store)");
  }
  // Records of the layout Tally used before its two ops were separate: countd splits them at
  // start (Tally::SplitLegacyCounters), which writes; this read-only copy does not.
  for (Table table : {Table::kTally, Table::kTallyMeta}) {
    for (const std::string& prefix : keys::TallyLegacyPrefixes(table)) {
      bool found = false;
      absl::Status s = source.ScanAllPartitions(table, storage::PrefixRange(prefix),
                                                [&](absl::string_view, absl::string_view) {
                                                  found = true;
                                                  return false;
                                                });
      if (!s.ok()) return s;
      if (found) {
        return absl::FailedPreconditionError(absl::StrCat(
            "migration: the source holds Tally records (table ", storage::TableName(table),
            ") of the layout an older countd shared between ecount and topk; start this countd "
            "on it once (on a copy, for a backup), which moves them, then migrate"));
      }
    }
  }
  return absl::OkStatus();
}

// Visits the live records of `table` from `begin` on, in runs of consecutive records of one
// partition ("segments"): begin(partition, first key), record(key, value) for each, then
// end() (false: stop before the next segment). In kTally a segment also holds one op only: the
// buckets of a counter's two ops may be adjacent, and only the top-K op's feed a ranking.
// Request_id records of the layout before partitions are counted in *skipped and belong to no
// segment. Returns whether the table was visited to its end.
struct SegmentVisitor {
  std::function<absl::Status(const Partition&, absl::string_view)> begin;
  std::function<absl::Status(absl::string_view, absl::string_view)> record;
  std::function<absl::StatusOr<bool>()> end;
};

absl::StatusOr<bool> ScanSegments(Store& source, Table table, const std::string& begin,
                                  const SegmentVisitor& v, int64_t* skipped) {
  std::optional<Partition> current;
  std::string current_op;  // kTally: the tag part of the segment's keys
  absl::Status failed;
  bool stopped = false;
  storage::ScanRange range;
  range.begin = begin;
  absl::Status s =
      source.ScanAllPartitions(table, range, [&](absl::string_view key, absl::string_view value) {
        absl::StatusOr<Partition> p = keys::PartitionOfKey(table, key);
        if (table == Table::kRequests && absl::IsFailedPrecondition(p.status())) {
          ++*skipped;
          return true;
        }
        if (!p.ok()) {
          failed = p.status();
          return false;
        }
        absl::string_view op;
        if (table == Table::kTally) op = key.substr(0, key.find('\0'));
        if (!current.has_value() || *current != *p || op != current_op) {
          if (current.has_value()) {
            absl::StatusOr<bool> more = v.end();
            if (!more.ok() || !*more) {
              failed = more.status();
              stopped = more.ok();
              current.reset();
              return false;
            }
          }
          current = *std::move(p);
          current_op.assign(op.data(), op.size());
          failed = v.begin(*current, key);
          if (!failed.ok()) return false;
        }
        failed = v.record(key, value);
        return failed.ok();
      });
  if (!s.ok()) return s;
  if (!failed.ok()) return failed;
  if (stopped) return false;
  if (current.has_value()) {
    absl::StatusOr<bool> more = v.end();
    if (!more.ok()) return more.status();
  }
  return true;
}

// --- Copy ---

// Copies table by table, partition by partition. A partition that fits one write (most: a user,
// a visitor) is written by a pool of writers, up to options.parallel_writes at once (a write
// waits for its master's fsync: partitions of different masters then overlap); a bigger one is
// written by the scanning thread, its writes in order, after every write before it ended. The
// progress only ever names a partition when it and every partition before it are written.
class Copier {
 public:
  Copier(Store& source, Store& target, const MigrationOptions& options)
      : source_(source),
        target_(target),
        options_(options),
        clock_(options.clock != nullptr ? options.clock : storage::RealClock()) {
    if (options.parallel_writes > 1) {
      pool_ = NewThreadPoolExecutor(options.parallel_writes,
                                    static_cast<size_t>(options.parallel_writes));
    }
  }

  ~Copier() {
    // No write may outlive the copier (every path out of Run drains; this is the backstop).
    if (pool_ != nullptr) pool_->Drain();
  }

  absl::StatusOr<CopyReport> Run() {
    absl::StatusOr<CopyReport> report = RunSteps();
    absl::Status drained = Drain();
    if (report.ok() && !drained.ok()) return drained;
    return report;
  }

 private:
  // One partition handed to the pool, in dispatch order.
  struct InFlight {
    std::string last_key;
    int64_t records = 0;
    bool done = false;    // guarded by Copier::mu_
    absl::Status status;  // guarded by Copier::mu_
  };

  absl::StatusOr<CopyReport> RunSteps() {
    absl::Status s = CheckStores(source_, target_);
    if (!s.ok()) return s;
    if (!options_.restart) {
      absl::StatusOr<std::optional<Progress>> recorded = ReadProgress(target_);
      if (!recorded.ok()) return recorded.status();
      if (recorded->has_value()) {
        progress_ = **recorded;
        if (progress_.source != options_.source_name) {
          return absl::FailedPreconditionError(absl::StrCat(
              "migration: the cluster (this key prefix) holds the progress of a copy from \"",
              progress_.source, "\", not from \"", options_.source_name,
              "\"; use --restart to copy from this source instead (or another key prefix)"));
        }
        report_.total_records = progress_.records;
        if (progress_.done) {
          report_.was_complete = report_.complete = true;
          Log("the copy is complete already (--restart copies everything again)");
          return report_;
        }
        report_.resumed = true;
        Log(absl::StrCat("resuming the copy at table ", progress_.table < storage::kNumTables
                                                            ? TableName(progress_.table)
                                                            : "(none: all copied)"));
      }
    }
    if (!report_.resumed) {
      progress_ = Progress();
      progress_.source = options_.source_name;
      s = WriteProgress(target_, progress_);
      if (!s.ok()) return s;
    }
    last_progress_ = last_log_ = absl::Now();

    for (int t = progress_.table; t < storage::kNumTables; ++t) {
      table_ = static_cast<Table>(t);
      const std::string begin = t == progress_.table && !progress_.last_key.empty()
                                    ? absl::StrCat(progress_.last_key, absl::string_view("\0", 1))
                                    : std::string();
      SegmentVisitor v;
      v.begin = [&](const Partition& p, absl::string_view key) { return Begin(p, key); };
      v.record = [&](absl::string_view key, absl::string_view value) { return Record(key, value); };
      v.end = [&]() { return End(); };
      absl::StatusOr<bool> finished =
          ScanSegments(source_, table_, begin, v, &report_.tables[t].skipped);
      if (!finished.ok()) return finished.status();
      s = Drain();
      if (!s.ok()) return s;
      if (!*finished) return Stop();
      Log(absl::StrCat("table ", storage::TableName(table_), ": ", report_.tables[t].records,
                       " records copied",
                       report_.tables[t].skipped > 0
                           ? absl::StrCat(", ", report_.tables[t].skipped,
                                          " request_id records from before partitions skipped")
                           : ""));
      progress_.table = t + 1;
      progress_.last_key.clear();
      if (LimitReached() && t + 1 < storage::kNumTables) return Stop();
      s = SaveProgress(/*force=*/true);
      if (!s.ok()) return s;
    }
    progress_.done = true;
    s = WriteProgress(target_, progress_);
    if (!s.ok()) return s;
    report_.complete = true;
    report_.total_records = progress_.records;
    return report_;
  }

  static const char* TableName(int t) { return storage::TableName(static_cast<Table>(t)); }

  bool LimitReached() const {
    return options_.max_partitions > 0 && report_.partitions >= options_.max_partitions;
  }

  // Ends a run that reached --max-partitions: records where it stopped.
  absl::StatusOr<CopyReport> Stop() {
    absl::Status s = SaveProgress(/*force=*/true);
    if (!s.ok()) return s;
    Log(absl::StrCat("stopped after ", report_.partitions,
                     " partitions (--max-partitions); run again to continue"));
    report_.total_records = progress_.records;
    return report_;
  }

  void Log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }

  absl::Status Begin(const Partition& partition, absl::string_view first_key) {
    batch_.emplace(partition);
    segment_records_ = 0;
    segment_in_order_ = pool_ == nullptr;
    tally_topk_ = table_ == Table::kTally && ParseTallyBucket(first_key).topk;
    tally_window_ = 0;
    ranking_reset_ = false;
    gm_reset_.clear();
    if (tally_topk_) {
      const TallyBucket b = ParseTallyBucket(first_key);
      absl::StatusOr<int32_t> window = TopKWindow(source_, b.tenant, b.counter);
      if (!window.ok()) return window.status();
      tally_window_ = *window;
    }
    return absl::OkStatus();
  }

  absl::Status Record(absl::string_view key, absl::string_view value) {
    storage::WriteBatch& batch = *batch_;
    batch.Put(table_, key, value);
    ++report_.tables[static_cast<int>(table_)].records;
    ++segment_records_;
    const absl::Time now = clock_->Now();
    if (tally_topk_) {
      // Rebuilt from the buckets: forgotten first, in the first write of the counter's buckets.
      if (!ranking_reset_) {
        batch.ResetRanking(logic::kTallyRanking);
        ranking_reset_ = true;
        ++report_.tally_rankings;
      }
      storage::CounterCell cell;
      if (!storage::DecodeCounterCell(value, &cell)) {
        return Unreadable(table_, "a counter");
      }
      const TallyBucket b = ParseTallyBucket(key);
      if (tally_window_ > 0 && cell.count != 0) {
        logic::AddTallyRanked(&batch, b.countable, b.end, b.expiry, tally_window_,
                              absl::ToUnixSeconds(now), cell.count);
      }
    } else if (table_ == Table::kGmDaily) {
      storage::CounterCell cell;
      if (!storage::DecodeCounterCell(value, &cell)) {
        return Unreadable(table_, "a counter");
      }
      const GmDay d = ParseGmDay(key);
      if (gm_reset_.insert(std::string(d.challenge)).second) {
        batch.ResetRanking(logic::GmWeekRankingName(d.challenge));
        ++report_.gm_week_rankings;
      }
      if (cell.count != 0) {
        logic::AddGmWeekRanked(&batch, d.challenge, d.uid, d.day, cell.count, now);
      }
    }
    last_key_.assign(key.data(), key.size());
    if (batch.ops().size() + batch.ranking_ops().size() < kMigrationBatchOps) {
      return absl::OkStatus();
    }
    if (!segment_in_order_) {
      // More than one write: this partition is written here, in order, after all before it.
      absl::Status s = Drain();
      if (!s.ok()) return s;
      segment_in_order_ = true;
    }
    return Flush();
  }

  // Writes batch_ on this thread.
  absl::Status Flush() {
    if (batch_->empty()) return absl::OkStatus();
    ++report_.writes;
    absl::Status s = WriteOne(*batch_);
    batch_.emplace(batch_->partition());
    return s;
  }

  // Writes one batch and calls the test hook (on any thread).
  absl::Status WriteOne(const storage::WriteBatch& batch) {
    absl::Status s = target_.Write(batch);
    if (!s.ok() || !options_.after_write_for_test) return s;
    absl::MutexLock lock(&hook_mu_);
    if (!options_.after_write_for_test(batch)) {
      return absl::CancelledError("migration: stopped by the test hook");
    }
    return absl::OkStatus();
  }

  // Hands batch_ (the whole partition) to the pool once fewer than parallel_writes are busy.
  absl::Status Dispatch() {
    auto entry = std::make_shared<InFlight>();
    entry->last_key = last_key_;
    entry->records = segment_records_;
    auto batch = std::make_shared<storage::WriteBatch>(*std::move(batch_));
    batch_.reset();
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Copier* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return c->busy_ < c->options_.parallel_writes;
          },
          this));
      ++busy_;
    }
    in_flight_.push_back(entry);
    ++report_.writes;
    const bool scheduled = pool_->Schedule([this, batch, entry] {
      absl::Status s = WriteOne(*batch);
      absl::MutexLock lock(&mu_);
      entry->status = std::move(s);
      entry->done = true;
      --busy_;
    });
    if (!scheduled) {
      absl::MutexLock lock(&mu_);
      entry->status = absl::InternalError("migration: the writer pool refused a write");
      entry->done = true;
      --busy_;
    }
    return Advance();
  }

  // Moves the progress over the partitions written, in dispatch order; the first failed
  // write's error stops it (the progress never passes a partition that was not written).
  absl::Status Advance() {
    absl::MutexLock lock(&mu_);
    while (!in_flight_.empty() && in_flight_.front()->done) {
      const std::shared_ptr<InFlight> e = in_flight_.front();
      if (!e->status.ok()) return e->status;
      in_flight_.pop_front();
      progress_.last_key = e->last_key;
      progress_.records[static_cast<int>(table_)] += e->records;
    }
    return absl::OkStatus();
  }

  // Waits for every write handed to the pool, then advances the progress over them.
  absl::Status Drain() {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Copier* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) { return c->busy_ == 0; }, this));
    }
    return Advance();
  }

  absl::StatusOr<bool> End() {
    absl::Status s;
    if (segment_in_order_) {
      s = Flush();
      if (s.ok()) {
        progress_.last_key = last_key_;
        progress_.records[static_cast<int>(table_)] += segment_records_;
      }
    } else {
      s = Dispatch();
    }
    if (!s.ok()) return s;
    ++report_.partitions;
    const bool stop = LimitReached();
    if (!stop) {
      s = SaveProgress(/*force=*/false);
      if (!s.ok()) return s;
    }
    const absl::Time now = absl::Now();
    if (now - last_log_ >= kLogEvery) {
      last_log_ = now;
      Log(absl::StrCat("table ", storage::TableName(table_), ": ",
                       report_.tables[static_cast<int>(table_)].records, " records copied so far"));
    }
    return !stop;
  }

  // Records progress_ in the target when forced or after kProgressEvery.
  absl::Status SaveProgress(bool force) {
    const absl::Time now = absl::Now();
    if (!force && now - last_progress_ < kProgressEvery) return absl::OkStatus();
    last_progress_ = now;
    return WriteProgress(target_, progress_);
  }

  Store& source_;
  Store& target_;
  const MigrationOptions& options_;
  const storage::Clock* clock_;
  CopyReport report_;
  Progress progress_;
  absl::Time last_progress_;
  absl::Time last_log_;

  // Writers of whole partitions (nullptr: every write on the scanning thread).
  std::unique_ptr<Executor> pool_;
  absl::Mutex mu_;
  int busy_ ABSL_GUARDED_BY(mu_) = 0;  // partitions handed to the pool and not yet written
  // Partitions handed to the pool whose progress is not recorded yet, in dispatch order (only
  // the scanning thread adds and removes; writers set done and status under mu_).
  std::deque<std::shared_ptr<InFlight>> in_flight_;
  absl::Mutex hook_mu_;  // one after_write_for_test call at a time

  // The segment being copied.
  Table table_ = Table::kMeta;
  std::optional<storage::WriteBatch> batch_;
  int64_t segment_records_ = 0;
  bool segment_in_order_ = false;  // written on the scanning thread (see the class comment)
  std::string last_key_;
  bool tally_topk_ = false;
  int32_t tally_window_ = 0;
  bool ranking_reset_ = false;
  absl::flat_hash_set<std::string> gm_reset_;
};

// --- Verification ---

class Verifier {
 public:
  Verifier(Store& source, Store& target, const MigrationOptions& options)
      : source_(source),
        target_(target),
        options_(options),
        clock_(options.clock != nullptr ? options.clock : storage::RealClock()) {}

  absl::StatusOr<VerifyReport> Run() {
    absl::Status s = CheckStores(source_, target_);
    if (!s.ok()) return s;
    absl::StatusOr<std::optional<Progress>> progress = ReadProgress(target_);
    if (!progress.ok()) return progress.status();
    report_.copy_complete = progress->has_value() && (*progress)->done;
    last_log_ = absl::Now();
    for (int t = 0; t < storage::kNumTables; ++t) {
      table_ = static_cast<Table>(t);
      SegmentVisitor v;
      v.begin = [&](const Partition& p, absl::string_view key) { return Begin(p, key); };
      v.record = [&](absl::string_view key, absl::string_view value) { return Record(key, value); };
      v.end = [&]() { return End(); };
      absl::StatusOr<bool> finished =
          ScanSegments(source_, table_, "", v, &report_.tables[t].skipped);
      if (!finished.ok()) return finished.status();
      const MigrationTableCounts& c = report_.tables[t];
      Log(absl::StrCat("table ", storage::TableName(table_), ": ", c.records, " records checked, ",
                       c.mismatches, " differ"));
    }
    return report_;
  }

 private:
  void Log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }

  void Differ(const Partition& partition, std::string what) {
    ++report_.mismatches;
    if (report_.first_mismatches.size() < kMaxReportedMismatches) {
      report_.first_mismatches.push_back({table_, PartitionHash(partition), std::move(what)});
    }
  }

  absl::Status Begin(const Partition& partition, absl::string_view first_key) {
    partition_.emplace(partition);
    keys_.clear();
    values_.clear();
    challenges_.clear();
    tally_topk_ = table_ == Table::kTally && ParseTallyBucket(first_key).topk;
    if (tally_topk_) {
      const TallyBucket b = ParseTallyBucket(first_key);
      tenant_.assign(b.tenant.data(), b.tenant.size());
      counter_.assign(b.counter.data(), b.counter.size());
    } else if (table_ == Table::kGmDaily) {
      const GmDay d = ParseGmDay(first_key);
      tenant_.assign(d.tenant.data(), d.tenant.size());
    }
    return absl::OkStatus();
  }

  absl::Status Record(absl::string_view key, absl::string_view value) {
    keys_.emplace_back(key);
    values_.emplace_back(value);
    if (table_ == Table::kGmDaily) {
      const GmDay d = ParseGmDay(key);
      if (challenges_.empty() || challenges_.back() != d.challenge) {
        challenges_.emplace_back(d.challenge);  // keys are grouped by challenge
      }
    }
    if (keys_.size() >= kMigrationBatchOps) return Check();
    return absl::OkStatus();
  }

  // Compares the records gathered so far with the target's.
  absl::Status Check() {
    if (keys_.empty()) return absl::OkStatus();
    MigrationTableCounts& counts = report_.tables[static_cast<int>(table_)];
    std::vector<absl::StatusOr<std::string>> got = target_.MultiGet(*partition_, table_, keys_);
    for (size_t i = 0; i < keys_.size(); ++i) {
      ++counts.records;
      const int64_t before = report_.mismatches;
      if (absl::IsNotFound(got[i].status())) {
        Differ(*partition_, "missing in the cluster");
      } else if (!got[i].ok()) {
        return got[i].status();
      } else if (IsCounterTable(table_)) {
        storage::CounterCell want, have;
        if (!storage::DecodeCounterCell(values_[i], &want)) return Unreadable(table_, "a counter");
        if (!storage::DecodeCounterCell(*got[i], &have)) {
          Differ(*partition_, "not a counter in the cluster");
        } else if (!(want == have)) {
          Differ(*partition_, "the counter differs");
        }
      } else if (*got[i] != values_[i]) {
        Differ(*partition_, "the value differs");
      }
      if (report_.mismatches != before) ++counts.mismatches;
    }
    keys_.clear();
    values_.clear();
    return absl::OkStatus();
  }

  absl::StatusOr<bool> End() {
    absl::Status s = Check();
    if (!s.ok()) return s;
    if (tally_topk_) {
      s = CompareTallyTop();
      if (!s.ok()) return s;
    }
    for (const std::string& challenge : challenges_) {
      s = CompareGmTop(challenge);
      if (!s.ok()) return s;
    }
    const absl::Time now = absl::Now();
    if (now - last_log_ >= kLogEvery) {
      last_log_ = now;
      Log(absl::StrCat("table ", storage::TableName(table_), ": ",
                       report_.tables[static_cast<int>(table_)].records,
                       " records checked so far"));
    }
    return true;
  }

  void CompareRanking(std::vector<std::pair<std::string, int64_t>> want,
                      std::vector<std::pair<std::string, int64_t>> have, absl::string_view what) {
    ++report_.rankings;
    if (want == have) return;
    ++report_.ranking_mismatches;
    size_t same = 0;
    while (same < want.size() && same < have.size() && want[same] == have[same]) ++same;
    Differ(*partition_, absl::StrCat(what, " differs from entry ", same + 1, " on (", want.size(),
                                     " entries in the source, ", have.size(), " in the cluster)"));
  }

  // The top-K of the Tally counter of this segment as countd answers it on each store.
  absl::Status CompareTallyTop() {
    FixedClock at(clock_->Now());
    std::vector<std::pair<std::string, int64_t>> sides[2];
    absl::StatusCode codes[2];
    Store* stores[2] = {&source_, &target_};
    for (int i = 0; i < 2; ++i) {
      logic::Tally tally(stores[i], &at, logic::TallyOptions());
      absl::StatusOr<std::vector<logic::TallyItem>> top =
          tally.GetTopK(tenant_, counter_, static_cast<int32_t>(kMigrationRankingTop), false);
      codes[i] = top.status().code();
      if (!top.ok() && !absl::IsNotFound(top.status())) return top.status();
      if (top.ok()) {
        for (logic::TallyItem& item : *top)
          sides[i].emplace_back(std::move(item.countable), item.count);
      }
    }
    if (codes[0] != codes[1]) {
      ++report_.rankings;
      ++report_.ranking_mismatches;
      Differ(*partition_, "the Tally top-K is found on one side only");
      return absl::OkStatus();
    }
    CompareRanking(std::move(sides[0]), std::move(sides[1]), "the Tally top-K");
    return absl::OkStatus();
  }

  // The 7-day leaderboard of `challenge` as countd answers it on each store.
  absl::Status CompareGmTop(const std::string& challenge) {
    FixedClock at(clock_->Now());
    std::vector<std::pair<std::string, int64_t>> sides[2];
    Store* stores[2] = {&source_, &target_};
    for (int i = 0; i < 2; ++i) {
      logic::GmWeekRankings week(stores[i], &at, logic::GmWeekRankingsOptions());
      absl::StatusOr<logic::GmWeekRankings::Board> board =
          week.Top(tenant_, challenge, kMigrationRankingTop, "");
      if (!board.ok()) return board.status();
      for (logic::WindowRanking::Entry& e : board->top)
        sides[i].emplace_back(std::move(e.item), e.total);
    }
    CompareRanking(std::move(sides[0]), std::move(sides[1]), "a GameMechanics 7-day leaderboard");
    return absl::OkStatus();
  }

  Store& source_;
  Store& target_;
  const MigrationOptions& options_;
  const storage::Clock* clock_;
  VerifyReport report_;
  absl::Time last_log_;

  // The segment being checked.
  Table table_ = Table::kMeta;
  std::optional<Partition> partition_;
  std::vector<std::string> keys_;
  std::vector<std::string> values_;
  bool tally_topk_ = false;
  std::string tenant_;
  std::string counter_;
  std::vector<std::string> challenges_;
};

std::string FormatTables(const std::array<MigrationTableCounts, storage::kNumTables>& tables,
                         const std::array<int64_t, storage::kNumTables>* totals, bool verify) {
  std::string out = absl::StrFormat(
      "%-12s %12s %12s%s\n", "table", verify ? "checked" : "copied", "skipped",
      verify ? absl::StrFormat(" %12s", "differ") : absl::StrFormat(" %12s", "all runs"));
  for (int t = 0; t < storage::kNumTables; ++t) {
    const MigrationTableCounts& c = tables[t];
    absl::StrAppendFormat(&out, "%-12s %12d %12d %12d\n", storage::TableName(static_cast<Table>(t)),
                          c.records, c.skipped,
                          verify ? c.mismatches : (totals != nullptr ? (*totals)[t] : 0));
  }
  return out;
}

}  // namespace

absl::StatusOr<CopyReport> CopyToCluster(Store& source, Store& target,
                                         const MigrationOptions& options) {
  return Copier(source, target, options).Run();
}

absl::StatusOr<VerifyReport> VerifyCopy(Store& source, Store& target,
                                        const MigrationOptions& options) {
  return Verifier(source, target, options).Run();
}

std::string FormatCopyReport(const CopyReport& r) {
  if (r.was_complete) {
    return "copy: complete already (an earlier run finished it; --restart copies again)\n";
  }
  std::string out = FormatTables(r.tables, &r.total_records, /*verify=*/false);
  absl::StrAppend(&out, "copy: ", r.complete ? "complete" : "stopped before the end",
                  r.resumed ? " (resumed an earlier run)" : "", "; ", r.partitions,
                  " partitions in ", r.writes, " writes; rankings rebuilt: ", r.tally_rankings,
                  " Tally top-K counters, ", r.gm_week_rankings,
                  " GameMechanics 7-day leaderboards\n");
  return out;
}

std::string FormatVerifyReport(const VerifyReport& r) {
  std::string out = FormatTables(r.tables, nullptr, /*verify=*/true);
  absl::StrAppend(&out, "rankings: ", r.rankings, " checked (top ", kMigrationRankingTop,
                  " of each Tally top-K counter and GameMechanics 7-day leaderboard), ",
                  r.ranking_mismatches, " differ\n");
  for (const Mismatch& m : r.first_mismatches) {
    absl::StrAppend(&out, "mismatch: table ", storage::TableName(m.table), ", partition ",
                    m.partition_hash, ": ", m.what, "\n");
  }
  if (r.mismatches > static_cast<int64_t>(r.first_mismatches.size())) {
    absl::StrAppend(&out, "... and ",
                    r.mismatches - static_cast<int64_t>(r.first_mismatches.size()), " more\n");
  }
  absl::StrAppend(&out,
                  "verify: ", r.ok() ? "OK" : absl::StrCat("FAILED, ", r.mismatches, " mismatches"),
                  r.copy_complete ? "" : " (the cluster's progress says no copy finished)", "\n");
  return out;
}

}  // namespace countd
