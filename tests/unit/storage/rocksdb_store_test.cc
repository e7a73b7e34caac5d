// Tests of the RocksDB Store (storage/store.h) on a real database in a fresh temporary directory:
// what is RocksDB's own (raw entries, compaction, checkpoints, sync, the merge operator under
// many writers). What every Store must do is in the conformance suite
// (store_conformance.cc), which runs on RocksDB too. Only the Store interface is used; no
// rocksdb/ header is included here.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/counter_cell.h"
#include "storage/keys.h"
#include "storage/rocksdb_store.h"
#include "storage/signals_cell.h"
#include "storage/store.h"
#include "tests/testing/counter_cells.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace countd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Every test works in one partition (RocksDB ignores it; the conformance suite covers partitions).
const Partition& P() {
  static const Partition* const p = new Partition("p");
  return *p;
}

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0, int ss = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

using test::Cell;

// A kRequests record: 8-byte big-endian expiry (unix seconds), then the payload.
std::string RequestRecord(absl::Time expiry, absl::string_view payload) {
  uint64_t v = static_cast<uint64_t>(absl::ToUnixSeconds(expiry));
  std::string out;
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  out.append(payload.data(), payload.size());
  return out;
}

class RocksDbStoreTest : public ::testing::Test {
 protected:
  RocksDbStoreTest() : clock_(Utc(2024, 6, 15, 12, 0, 0)) {}

  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    options_.clock = &clock_;
    options_.block_cache_bytes = size_t{8} << 20;
    options_.memtable_bytes = size_t{8} << 20;
    Reopen();
  }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<Store>> opened = OpenRocksDbStore(dir_.path(), options_);
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *std::move(opened);
  }

  absl::Status Put(Table table, absl::string_view key, absl::string_view value) {
    WriteBatch batch(P());
    batch.Put(table, key, value);
    return store_->Write(batch);
  }

  absl::Status Add(Table table, absl::string_view key, const CounterCell& delta) {
    WriteBatch batch(P());
    batch.AddCounter(table, key, delta);
    return store_->Write(batch);
  }

  std::vector<std::pair<std::string, std::string>> ScanAll(Table table, const ScanRange& range) {
    std::vector<std::pair<std::string, std::string>> out;
    absl::Status s = store_->Scan(P(), table, range, [&](absl::string_view k, absl::string_view v) {
      out.emplace_back(std::string(k), std::string(v));
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  std::vector<std::string> ScanKeys(Table table, const ScanRange& range) {
    std::vector<std::string> out;
    for (auto& [k, v] : ScanAll(table, range)) out.push_back(k);
    return out;
  }

  int64_t RawEntries(Table table) {
    absl::StatusOr<int64_t> n = CountRawEntriesForTest(*store_, table);
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }

  int64_t CountOf(Table table, absl::string_view key) {
    absl::StatusOr<CounterCell> c = store_->GetCounter(P(), table, key);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->count : -1;
  }

  test::ScopedTempDir dir_;
  test::FakeClock clock_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

TEST_F(RocksDbStoreTest, StatsReportWritesKeysAndMemory) {
  ASSERT_TRUE(Put(Table::kMeta, "a", "1").ok());
  ASSERT_TRUE(Put(Table::kMeta, "b", "2").ok());
  ASSERT_TRUE(Put(Table::kTally, "c", "3").ok());
  absl::StatusOr<StoreStats> stats = store_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_GT(stats->memtable_bytes, 0u);
  EXPECT_EQ(stats->block_cache_capacity_bytes, options_.block_cache_bytes);
  ASSERT_EQ(stats->estimated_keys.size(), static_cast<size_t>(kNumTables));
  EXPECT_EQ(stats->estimated_keys[static_cast<int>(Table::kMeta)], 2u);
  EXPECT_EQ(stats->estimated_keys[static_cast<int>(Table::kTally)], 1u);
  EXPECT_EQ(stats->estimated_keys[static_cast<int>(Table::kDaily)], 0u);
  EXPECT_EQ(stats->sync, SyncMode::kNone);
  const DurationHistogram& h = stats->write_duration;
  ASSERT_EQ(h.counts.size(), h.upper_bounds_seconds.size() + 1);
  EXPECT_TRUE(std::is_sorted(h.upper_bounds_seconds.begin(), h.upper_bounds_seconds.end()));
  uint64_t writes = 0;
  for (uint64_t c : h.counts) writes += c;
  EXPECT_EQ(writes, 3u);
  EXPECT_GT(h.sum_seconds, 0);
}

TEST_F(RocksDbStoreTest, CheckpointIsAnOpenableCopyOfEverythingWrittenBefore) {
  ASSERT_TRUE(Put(Table::kMeta, "flushed", "1").ok());
  ASSERT_TRUE(store_->Flush().ok());  // one key in a table file (hard-linked), ...
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(5)).ok());
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(2)).ok());  // ... the rest only in memtables/WAL
  test::ScopedTempDir backups;
  std::string dir = backups.path() + "/b1";
  ASSERT_TRUE(store_->Checkpoint(dir).ok());
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(100)).ok());  // after: must not be in the copy
  ASSERT_TRUE(Put(Table::kMeta, "later", "x").ok());

  absl::StatusOr<std::unique_ptr<Store>> copy = OpenRocksDbStore(dir, options_);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ((*copy)->Get(P(), Table::kMeta, "flushed").value_or("missing"), "1");
  absl::StatusOr<CounterCell> c = (*copy)->GetCounter(P(), Table::kTotals, "c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->count, 7);
  EXPECT_TRUE(absl::IsNotFound((*copy)->Get(P(), Table::kMeta, "later").status()));
  // The live store is untouched by the copy.
  EXPECT_EQ(store_->GetCounter(P(), Table::kTotals, "c")->count, 107);
}

TEST_F(RocksDbStoreTest, CheckpointRefusesAnExistingOrEmptyTarget) {
  test::ScopedTempDir backups;
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Checkpoint(backups.path())));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Checkpoint("")));
  // A missing parent is a failed copy, not a bad argument, and leaves nothing behind.
  std::string orphan = backups.path() + "/no/such/parent";
  absl::Status s = store_->Checkpoint(orphan);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_FALSE(std::filesystem::exists(orphan));
}

TEST_F(RocksDbStoreTest, PutThenGetReturnsValue) {
  const std::string key("k\0with\0nul", 10);
  const std::string value("v\0\xff", 3);
  ASSERT_TRUE(Put(Table::kMeta, key, value).ok());
  absl::StatusOr<std::string> got = store_->Get(P(), Table::kMeta, key);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, value);
  ASSERT_TRUE(Put(Table::kMeta, key, "second").ok());
  EXPECT_EQ(store_->Get(P(), Table::kMeta, key).value_or(""), "second");
}

TEST_F(RocksDbStoreTest, DeleteRemovesKey) {
  ASSERT_TRUE(Put(Table::kMeta, "k", "v").ok());
  WriteBatch batch(P());
  batch.Delete(Table::kMeta, "k");
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "k").status()));
}

TEST_F(RocksDbStoreTest, TablesAreSeparateKeySpaces) {
  ASSERT_TRUE(Put(Table::kMeta, "k", "meta").ok());
  ASSERT_TRUE(Add(Table::kTotals, "k", Cell(1)).ok());
  EXPECT_EQ(store_->Get(P(), Table::kMeta, "k").value_or(""), "meta");
  EXPECT_EQ(CountOf(Table::kTotals, "k"), 1);
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kRequests, "k").status()));
  EXPECT_EQ(RawEntries(Table::kMonthly), 0);
}

TEST_F(RocksDbStoreTest, TableNamesAreDistinct) {
  std::vector<std::string> names;
  for (int i = 0; i < kNumTables; ++i) names.push_back(TableName(static_cast<Table>(i)));
  ASSERT_GE(names.size(), 6u);
  EXPECT_THAT(std::vector<std::string>(names.begin(), names.begin() + 6),
              ElementsAre("meta", "totals", "monthly", "daily", "stash", "requests"));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_EQ(std::count(names.begin(), names.end(), "unknown"), 0);
}

TEST_F(RocksDbStoreTest, AddCounterMergesManyDeltasIntoTheSum) {
  constexpr int kAdds = 1000;
  for (int i = 1; i <= kAdds; ++i) {
    ASSERT_TRUE(Add(Table::kTotals, "c", Cell(i, 100000, i % 7 == 0 ? 5000 + i : i)).ok());
    if (i == kAdds / 2) {
      ASSERT_TRUE(store_->Flush().ok());  // a flushed base plus operands
    }
  }
  absl::StatusOr<CounterCell> c = store_->GetCounter(P(), Table::kTotals, "c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->count, int64_t{kAdds} * (kAdds + 1) / 2);
  EXPECT_EQ(c->value_micros, absl::int128(100000) * kAdds);
  EXPECT_EQ(c->updated_ms, 5000 + 994);  // the largest multiple of 7 up to 1000
  ASSERT_TRUE(CompactForTest(*store_, Table::kTotals).ok());
  absl::StatusOr<CounterCell> after = store_->GetCounter(P(), Table::kTotals, "c");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, *c);
  EXPECT_EQ(RawEntries(Table::kTotals), 1);
}

TEST_F(RocksDbStoreTest, AddCounterOverPutValueAddsToIt) {
  ASSERT_TRUE(Put(Table::kTotals, "c", EncodeCounterCell(Cell(10, 5, 1))).ok());
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(2, 1, 3)).ok());
  absl::StatusOr<CounterCell> c = store_->GetCounter(P(), Table::kTotals, "c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, Cell(12, 6, 3));
}

TEST_F(RocksDbStoreTest, ConcurrentAddsAreAllCounted) {
  constexpr int kThreads = 4;
  constexpr int kAddsPerThread = 250;
  const std::string key = keys::WithBucket("v", keys::DayIndex(clock_.Now()));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kAddsPerThread; ++i) {
        if (!Add(Table::kStash, key, Cell(1, 2)).ok()) ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  absl::StatusOr<CounterCell> c = store_->GetCounter(P(), Table::kStash, key);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->count, kThreads * kAddsPerThread);
  EXPECT_EQ(c->value_micros, absl::int128(2) * kThreads * kAddsPerThread);
}

TEST_F(RocksDbStoreTest, MultiGetCountersMixesFoundAndMissing) {
  // Stash keys end with their (live) day; kTotals takes only cells
  // (SignalsTablesRefuseNonCellPuts).
  const int32_t day = keys::DayIndex(clock_.Now());
  auto k = [&](const char* name) { return keys::WithBucket(name, day); };
  ASSERT_TRUE(Add(Table::kStash, k("a"), Cell(1)).ok());
  ASSERT_TRUE(Add(Table::kStash, k("c"), Cell(3)).ok());
  ASSERT_TRUE(Put(Table::kStash, k("d"), "garbage").ok());
  std::vector<absl::StatusOr<CounterCell>> got =
      store_->MultiGetCounters(P(), Table::kStash, {k("a"), k("b"), k("c"), k("a"), k("d")});
  ASSERT_EQ(got.size(), 5u);
  ASSERT_TRUE(got[0].ok()) << got[0].status();
  EXPECT_EQ(got[0]->count, 1);
  EXPECT_TRUE(absl::IsNotFound(got[1].status()));
  ASSERT_TRUE(got[2].ok()) << got[2].status();
  EXPECT_EQ(got[2]->count, 3);
  ASSERT_TRUE(got[3].ok()) << got[3].status();
  EXPECT_EQ(got[3]->count, 1);
  EXPECT_EQ(got[4].status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(store_->MultiGetCounters(P(), Table::kStash, {}).empty());
}

TEST_F(RocksDbStoreTest, MultiGetReturnsRawValuesInOrder) {
  ASSERT_TRUE(Put(Table::kMeta, "a", std::string("1\0", 2)).ok());
  ASSERT_TRUE(Put(Table::kMeta, "c", "3").ok());
  std::vector<absl::StatusOr<std::string>> got =
      store_->MultiGet(P(), Table::kMeta, {"c", "b", "a"});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].value_or("?"), "3");
  EXPECT_TRUE(absl::IsNotFound(got[1].status()));
  EXPECT_EQ(got[2].value_or("?"), std::string("1\0", 2));
}

TEST_F(RocksDbStoreTest, PrefixRangeEndsAfterEveryKeyWithThePrefix) {
  ScanRange r = PrefixRange("ab");
  EXPECT_EQ(r.begin, "ab");
  EXPECT_EQ(r.end, "ac");
  EXPECT_FALSE(r.reverse);
  EXPECT_EQ(PrefixRange(std::string("a\xff", 2)).end, "b");
  EXPECT_EQ(PrefixRange(std::string("\xff\xff", 2)).end, "");
  EXPECT_EQ(PrefixRange(std::string("a\0", 2)).end, std::string("a\x01", 2));
  EXPECT_EQ(PrefixRange("").end, "");
}

class RocksDbStoreScanTest : public RocksDbStoreTest {
 protected:
  void SetUp() override {
    RocksDbStoreTest::SetUp();
    for (const std::string& k :
         {keys::Join({"o"}), keys::Join({"p", "a"}), keys::Join({"p", "b"}), keys::Join({"p", "c"}),
          keys::Join({"pp", "x"}), keys::Join({"q"})}) {
      ASSERT_TRUE(Put(Table::kMeta, k, "v:" + k).ok());
    }
  }
};

TEST_F(RocksDbStoreScanTest, ScansPrefixForward) {
  EXPECT_THAT(ScanKeys(Table::kMeta, PrefixRange(keys::Join({"p"}))),
              ElementsAre(keys::Join({"p", "a"}), keys::Join({"p", "b"}), keys::Join({"p", "c"})));
}

TEST_F(RocksDbStoreScanTest, ScansPrefixInReverse) {
  ScanRange range = PrefixRange(keys::Join({"p"}));
  range.reverse = true;
  EXPECT_THAT(ScanKeys(Table::kMeta, range),
              ElementsAre(keys::Join({"p", "c"}), keys::Join({"p", "b"}), keys::Join({"p", "a"})));
}

TEST_F(RocksDbStoreScanTest, ScanWithoutUpperBoundRunsToTheEnd) {
  ScanRange range;
  range.begin = keys::Join({"pp"});
  EXPECT_THAT(ScanKeys(Table::kMeta, range),
              ElementsAre(keys::Join({"pp", "x"}), keys::Join({"q"})));
  range.reverse = true;
  EXPECT_THAT(ScanKeys(Table::kMeta, range),
              ElementsAre(keys::Join({"q"}), keys::Join({"pp", "x"})));
  EXPECT_EQ(ScanKeys(Table::kMeta, ScanRange{}).size(), 6u);
}

TEST_F(RocksDbStoreTest, WriteBatchAppliesAllTablesAtomically) {
  ASSERT_TRUE(Put(Table::kMeta, "old", "x").ok());
  const int32_t day = keys::DayIndex(clock_.Now());
  const int32_t month = keys::MonthIndex(clock_.Now());
  WriteBatch batch(P());
  batch.Put(Table::kMeta, "reg", "1");
  batch.Delete(Table::kMeta, "old");
  batch.AddCounter(Table::kTotals, "c", Cell(2, 5, 9));
  batch.AddCounter(Table::kMonthly, keys::WithBucket("c", month), Cell(2, 5, 9));
  batch.AddCounter(Table::kDaily, keys::WithBucket("c", day), Cell(2, 5, 9));
  batch.AddCounter(Table::kDaily, keys::WithBucket("c", day), Cell(1, 1, 10));
  batch.AddCounter(Table::kStash, keys::WithBucket("s", day), Cell(-1));
  batch.Put(Table::kRequests, "r", RequestRecord(clock_.Now() + absl::Hours(1), "answer"));
  EXPECT_EQ(batch.ops().size(), 8u);
  ASSERT_TRUE(store_->Write(batch).ok());

  EXPECT_EQ(store_->Get(P(), Table::kMeta, "reg").value_or(""), "1");
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "old").status()));
  EXPECT_EQ(CountOf(Table::kTotals, "c"), 2);
  EXPECT_EQ(CountOf(Table::kMonthly, keys::WithBucket("c", month)), 2);
  absl::StatusOr<CounterCell> daily =
      store_->GetCounter(P(), Table::kDaily, keys::WithBucket("c", day));
  ASSERT_TRUE(daily.ok()) << daily.status();
  EXPECT_EQ(*daily, Cell(3, 6, 10));
  EXPECT_EQ(CountOf(Table::kStash, keys::WithBucket("s", day)), -1);
  EXPECT_EQ(store_->Get(P(), Table::kRequests, "r").value_or("").substr(8), "answer");
}

TEST_F(RocksDbStoreTest, EmptyBatchIsANoOp) {
  WriteBatch batch(P());
  EXPECT_TRUE(batch.empty());
  EXPECT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(RawEntries(Table::kMeta), 0);
}

TEST_F(RocksDbStoreTest, AddCounterOnNonCounterTableFailsAndWritesNothing) {
  for (Table bad : {Table::kMeta, Table::kRequests}) {
    SCOPED_TRACE(TableName(bad));
    WriteBatch batch(P());
    batch.Put(Table::kMeta, "before", "x");
    batch.AddCounter(Table::kTotals, "ok", Cell(1));
    batch.AddCounter(bad, "bad", Cell(1));
    batch.Put(Table::kMeta, "after", "y");
    absl::Status s = store_->Write(batch);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(TableName(bad)), absl::string_view::npos) << s;
  }
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "before").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "after").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->GetCounter(P(), Table::kTotals, "ok").status()));
  EXPECT_EQ(RawEntries(Table::kMeta), 0);
  EXPECT_EQ(RawEntries(Table::kTotals), 0);
  EXPECT_EQ(RawEntries(Table::kRequests), 0);
}

TEST_F(RocksDbStoreTest, ReopeningTheDirectoryKeepsData) {
  const int32_t day = keys::DayIndex(clock_.Now());
  ASSERT_TRUE(Put(Table::kMeta, "k", "v").ok());
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(4, 40, 400)).ok());
  ASSERT_TRUE(Add(Table::kDaily, keys::WithBucket("c", day), Cell(1)).ok());
  // No Flush: the write-ahead log alone must bring the data back.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(store_->Get(P(), Table::kMeta, "k").value_or(""), "v");
  absl::StatusOr<CounterCell> c = store_->GetCounter(P(), Table::kTotals, "c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, Cell(4, 40, 400));
  // Adding after the reopen continues from the stored value.
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(1, 1, 1)).ok());
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(CountOf(Table::kTotals, "c"), 5);
  EXPECT_EQ(CountOf(Table::kDaily, keys::WithBucket("c", day)), 1);
}

TEST_F(RocksDbStoreTest, OpeningARegularFileIsUnavailable) {
  const std::string file = dir_.Sub("plain-file");
  { std::ofstream(file) << "not a database"; }
  absl::StatusOr<std::unique_ptr<Store>> opened = OpenRocksDbStore(file, options_);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kUnavailable) << opened.status();
}

TEST_F(RocksDbStoreTest, OpeningALockedDirectoryIsUnavailable) {
  ASSERT_TRUE(Put(Table::kMeta, "k", "v").ok());
  absl::StatusOr<std::unique_ptr<Store>> second = OpenRocksDbStore(dir_.path(), options_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  // The first store still works, and after it closes the directory opens again.
  EXPECT_EQ(store_->Get(P(), Table::kMeta, "k").value_or(""), "v");
  store_.reset();
  absl::StatusOr<std::unique_ptr<Store>> third = OpenRocksDbStore(dir_.path(), options_);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ((*third)->Get(P(), Table::kMeta, "k").value_or(""), "v");
}

// --- Read-only open (reading a stopped node's data dir or a backup without changing it) ----------

// Every file under `dir` (relative name -> contents): what "changes nothing" is checked against.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    files[std::filesystem::relative(entry.path(), dir).string()] = std::move(bytes);
  }
  return files;
}

TEST_F(RocksDbStoreTest, ReadOnlyOpenReadsEverythingAndChangesNothingInTheDirectory) {
  ASSERT_TRUE(Put(Table::kMeta, "flushed", "1").ok());
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(5)).ok());
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(2)).ok());  // only in the WAL when closed
  ASSERT_TRUE(Put(Table::kMeta, "wal-only", "2").ok());
  store_.reset();
  const std::map<std::string, std::string> before = Snapshot(dir_.path());
  ASSERT_FALSE(before.empty());

  StoreOptions read_only = options_;
  read_only.read_only = true;
  {
    absl::StatusOr<std::unique_ptr<Store>> opened = OpenRocksDbStore(dir_.path(), read_only);
    ASSERT_TRUE(opened.ok()) << opened.status();
    Store& ro = **opened;
    EXPECT_EQ(ro.Get(P(), Table::kMeta, "flushed").value_or("missing"), "1");
    EXPECT_EQ(ro.Get(P(), Table::kMeta, "wal-only").value_or("missing"), "2");
    absl::StatusOr<CounterCell> c = ro.GetCounter(P(), Table::kTotals, "c");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->count, 7);
    std::vector<std::string> keys;
    ASSERT_TRUE(ro.ScanAllPartitions(Table::kMeta, ScanRange{},
                                     [&](absl::string_view k, absl::string_view) {
                                       keys.emplace_back(k);
                                       return true;
                                     })
                    .ok());
    EXPECT_THAT(keys, ElementsAre("flushed", "wal-only"));
    // Nothing writes.
    WriteBatch batch(P());
    batch.Put(Table::kMeta, "new", "x");
    EXPECT_EQ(ro.Write(batch).code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(ro.Flush().code(), absl::StatusCode::kFailedPrecondition);
    test::ScopedTempDir backups;
    EXPECT_EQ(ro.Checkpoint(backups.Sub("b")).code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_FALSE(std::filesystem::exists(backups.Sub("b")));
  }
  EXPECT_EQ(Snapshot(dir_.path()), before);
  // And the directory still opens read-write with every write in it.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(CountOf(Table::kTotals, "c"), 7);
}

TEST_F(RocksDbStoreTest, ReadOnlyOpenKeepsWritersOutUntilItCloses) {
  ASSERT_TRUE(Put(Table::kMeta, "k", "v").ok());
  store_.reset();
  StoreOptions read_only = options_;
  read_only.read_only = true;
  absl::StatusOr<std::unique_ptr<Store>> ro = OpenRocksDbStore(dir_.path(), read_only);
  ASSERT_TRUE(ro.ok()) << ro.status();
  absl::StatusOr<std::unique_ptr<Store>> writer = OpenRocksDbStore(dir_.path(), options_);
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kUnavailable) << writer.status();
  // Readers may share it.
  absl::StatusOr<std::unique_ptr<Store>> second = OpenRocksDbStore(dir_.path(), read_only);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->Get(P(), Table::kMeta, "k").value_or(""), "v");
  second->reset();
  ro->reset();
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(store_->Get(P(), Table::kMeta, "k").value_or(""), "v");
}

TEST_F(RocksDbStoreTest, ReadOnlyOpenOfACheckpointChangesNothingInIt) {
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(3)).ok());
  test::ScopedTempDir backups;
  const std::string backup = backups.Sub("b1");
  ASSERT_TRUE(store_->Checkpoint(backup).ok());
  const std::map<std::string, std::string> before = Snapshot(backup);
  StoreOptions read_only = options_;
  read_only.read_only = true;
  {
    absl::StatusOr<std::unique_ptr<Store>> ro = OpenRocksDbStore(backup, read_only);
    ASSERT_TRUE(ro.ok()) << ro.status();
    EXPECT_EQ((*ro)->GetCounter(P(), Table::kTotals, "c")->count, 3);
  }
  EXPECT_EQ(Snapshot(backup), before);
}

TEST_F(RocksDbStoreTest, ReadOnlyOpenOfAMissingDirectoryIsUnavailableAndCreatesNothing) {
  StoreOptions read_only = options_;
  read_only.read_only = true;
  const std::string missing = dir_.Sub("no-such-db");
  absl::StatusOr<std::unique_ptr<Store>> ro = OpenRocksDbStore(missing, read_only);
  EXPECT_EQ(ro.status().code(), absl::StatusCode::kUnavailable) << ro.status();
  EXPECT_FALSE(std::filesystem::exists(missing));
}

// --- Expiry -------------------------------------------------------------------------------------

// --- Signals records (storage/signals_cell.h): kTotals, kMonthly, kDaily ---------------------

// A counter's total, month and day as IncrementCounters writes them.
WriteBatch SignalsIncrement(absl::string_view counter, int32_t month, int32_t day,
                            const CounterCell& delta) {
  WriteBatch batch(P());
  batch.AddCounter(Table::kTotals, counter, delta);
  batch.AddCounter(Table::kMonthly, keys::WithBucket(counter, month), delta);
  batch.AddCounter(Table::kDaily, keys::WithBucket(counter, day), delta);
  return batch;
}

TEST_F(RocksDbStoreTest, SignalsIncrementOfTotalMonthAndDayIsOneOperand) {
  const std::string counter = keys::Join({"t", "uu1", "c", "/"});
  const int32_t day = keys::DayIndex(clock_.Now());
  const int32_t month = keys::MonthIndex(clock_.Now());
  ASSERT_TRUE(store_->Write(SignalsIncrement(counter, month, day, Cell(2, 3, 4))).ok());
  EXPECT_EQ(*MergeOperandsForTest(*store_, Table::kTotals, counter), 1);
  EXPECT_EQ(*MergeOperandsForTest(*store_, Table::kDaily, keys::WithBucket(counter, day)), 1);
  ASSERT_TRUE(store_->Write(SignalsIncrement(counter, month, day - 1, Cell(1, 1, 5))).ok());
  EXPECT_EQ(*MergeOperandsForTest(*store_, Table::kTotals, counter), 2);
  EXPECT_EQ(store_->GetCounter(P(), Table::kTotals, counter).value_or(Cell(-1)), Cell(3, 4, 5));
  EXPECT_EQ(
      store_->GetCounter(P(), Table::kMonthly, keys::WithBucket(counter, month)).value_or(Cell(-1)),
      Cell(3, 4, 5));
  EXPECT_EQ(
      store_->GetCounter(P(), Table::kDaily, keys::WithBucket(counter, day)).value_or(Cell(-1)),
      Cell(2, 3, 4));
  EXPECT_EQ(
      store_->GetCounter(P(), Table::kDaily, keys::WithBucket(counter, day - 1)).value_or(Cell(-1)),
      Cell(1, 1, 5));
  EXPECT_EQ(RawEntries(Table::kTotals), 1);
  EXPECT_EQ(RawEntries(Table::kMonthly), 1);
  EXPECT_EQ(RawEntries(Table::kDaily), 2);
}

TEST_F(RocksDbStoreTest, SignalsPartsArePutAndDeletedOneByOne) {
  const std::string counter = keys::Join({"t", "uu1", "c", "/"});
  const int32_t day = keys::DayIndex(clock_.Now());
  const int32_t month = keys::MonthIndex(clock_.Now());
  const std::string month_key = keys::WithBucket(counter, month);
  const std::string day_key = keys::WithBucket(counter, day);
  ASSERT_TRUE(store_->Write(SignalsIncrement(counter, month, day, Cell(2))).ok());
  ASSERT_TRUE(store_->Flush().ok());  // a base below the edits that follow
  {
    WriteBatch batch(P());
    batch.Delete(Table::kDaily, day_key);
    batch.Put(Table::kMonthly, month_key, EncodeCounterCell(Cell(7)));
    ASSERT_TRUE(store_->Write(batch).ok());
  }
  EXPECT_TRUE(absl::IsNotFound(store_->GetCounter(P(), Table::kDaily, day_key).status()));
  EXPECT_EQ(store_->GetCounter(P(), Table::kMonthly, month_key).value_or(Cell(-1)), Cell(7));
  EXPECT_EQ(store_->GetCounter(P(), Table::kTotals, counter).value_or(Cell(-1)), Cell(2));
  EXPECT_TRUE(ScanKeys(Table::kDaily, PrefixRange(counter)).empty());
  // A delete then an add in one batch: the part is exactly the add.
  {
    WriteBatch batch(P());
    batch.Delete(Table::kTotals, counter);
    batch.AddCounter(Table::kTotals, counter, Cell(1));
    batch.AddCounter(Table::kDaily, day_key, Cell(4));
    ASSERT_TRUE(store_->Write(batch).ok());
  }
  EXPECT_EQ(store_->GetCounter(P(), Table::kTotals, counter).value_or(Cell(-1)), Cell(1));
  EXPECT_EQ(store_->GetCounter(P(), Table::kDaily, day_key).value_or(Cell(-1)), Cell(4));
  // Every part deleted: nothing is left once compacted.
  {
    WriteBatch batch(P());
    batch.Delete(Table::kTotals, counter);
    batch.Delete(Table::kMonthly, month_key);
    batch.Delete(Table::kDaily, day_key);
    ASSERT_TRUE(store_->Write(batch).ok());
  }
  ASSERT_TRUE(CompactForTest(*store_, Table::kTotals).ok());
  EXPECT_EQ(RawEntries(Table::kTotals), 0);
  EXPECT_EQ(RawEntries(Table::kMonthly), 0);
  EXPECT_EQ(RawEntries(Table::kDaily), 0);
  EXPECT_TRUE(absl::IsNotFound(store_->GetCounter(P(), Table::kTotals, counter).status()));
  // The compaction's merge left an empty record (a merge cannot delete); the next one drops it.
  ASSERT_TRUE(CompactForTest(*store_, Table::kTotals).ok());
  EXPECT_EQ(*MergeOperandsForTest(*store_, Table::kTotals, counter), 0);
}

TEST_F(RocksDbStoreTest, SignalsScansWithinOneCountersBucketsForwardAndBack) {
  const std::string a = keys::Join({"t", "uu1", "a", "/"});
  const std::string b = keys::Join({"t", "uu1", "b", "/"});
  const int32_t day = keys::DayIndex(clock_.Now());
  for (int32_t d : {day - 2, day - 1, day}) {
    ASSERT_TRUE(store_->Write(SignalsIncrement(a, 1, d, Cell(1))).ok());
    ASSERT_TRUE(store_->Write(SignalsIncrement(b, 1, d, Cell(1))).ok());
  }
  ScanRange range;
  range.begin = keys::WithBucket(a, day - 1);
  range.end = keys::WithBucket(b, day - 1);  // b's first bucket in, its second out
  EXPECT_THAT(ScanKeys(Table::kDaily, range),
              ElementsAre(keys::WithBucket(a, day - 1), keys::WithBucket(a, day),
                          keys::WithBucket(b, day - 2)));
  range.reverse = true;
  EXPECT_THAT(ScanKeys(Table::kDaily, range),
              ElementsAre(keys::WithBucket(b, day - 2), keys::WithBucket(a, day),
                          keys::WithBucket(a, day - 1)));
  EXPECT_THAT(ScanKeys(Table::kTotals, PrefixRange(keys::Join({"t", "uu1"}))), ElementsAre(a, b));
}

TEST_F(RocksDbStoreTest, LegacyBucketsMoveIntoTheCountersRecordsAtOpen) {
  const std::string counter = keys::Join({"t", "uu1", "c", "/"});
  const int32_t day = keys::DayIndex(clock_.Now());
  const int32_t month = keys::MonthIndex(clock_.Now());
  ASSERT_TRUE(PutLegacyForTest(*store_, Table::kTotals, counter, EncodeCounterCell(Cell(5))).ok());
  ASSERT_TRUE(PutLegacyForTest(*store_, Table::kMonthly, keys::WithBucket(counter, month),
                               EncodeCounterCell(Cell(3)))
                  .ok());
  ASSERT_TRUE(PutLegacyForTest(*store_, Table::kDaily, keys::WithBucket(counter, day),
                               EncodeCounterCell(Cell(2)))
                  .ok());
  ASSERT_TRUE(PutLegacyForTest(*store_, Table::kDaily, keys::WithBucket(counter, day - 200),
                               EncodeCounterCell(Cell(9)))
                  .ok());  // past the retention: dropped
  // Enough buckets of other counters that the move takes several writes.
  for (int i = 0; i < 2500; ++i) {
    ASSERT_TRUE(
        PutLegacyForTest(*store_, Table::kDaily,
                         keys::WithBucket(keys::Join({"t", "uu2", absl::StrCat("k", i), "/"}), day),
                         EncodeCounterCell(Cell(i)))
            .ok());
  }
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(CountOf(Table::kTotals, counter), 5);
  EXPECT_EQ(CountOf(Table::kMonthly, keys::WithBucket(counter, month)), 3);
  EXPECT_EQ(CountOf(Table::kDaily, keys::WithBucket(counter, day)), 2);
  EXPECT_EQ(RawEntries(Table::kDaily), 2501);  // every one in a record, none left on its own
  EXPECT_EQ(CountOf(Table::kDaily, keys::WithBucket(keys::Join({"t", "uu2", "k2499", "/"}), day)),
            2499);
  // Increments add to what was moved.
  ASSERT_TRUE(store_->Write(SignalsIncrement(counter, month, day, Cell(1))).ok());
  EXPECT_EQ(CountOf(Table::kTotals, counter), 6);
  EXPECT_EQ(CountOf(Table::kMonthly, keys::WithBucket(counter, month)), 4);
  EXPECT_EQ(CountOf(Table::kDaily, keys::WithBucket(counter, day)), 3);
  // A second open moves nothing again.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(CountOf(Table::kDaily, keys::WithBucket(counter, day)), 3);
  EXPECT_EQ(RawEntries(Table::kDaily), 2501);
}

TEST_F(RocksDbStoreTest, LegacyTotalsAndTheirUnmergedDeltasAddUp) {
  const std::string counter = keys::Join({"t", "uu1", "c", "/"});
  // An older countd's total: a flushed value and deltas above it, some flushed, some not.
  ASSERT_TRUE(PutLegacyForTest(*store_, Table::kTotals, counter, EncodeCounterCell(Cell(10))).ok());
  ASSERT_TRUE(
      MergeLegacyForTest(*store_, Table::kTotals, counter, EncodeCounterCell(Cell(1, 2, 3))).ok());
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(
      MergeLegacyForTest(*store_, Table::kTotals, counter, EncodeCounterCell(Cell(2, 1, 9))).ok());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(store_->GetCounter(P(), Table::kTotals, counter).value_or(Cell(-1)), Cell(13, 3, 9));
  const int32_t day = keys::DayIndex(clock_.Now());
  ASSERT_TRUE(store_->Write(SignalsIncrement(counter, 1, day, Cell(1))).ok());
  EXPECT_EQ(store_->GetCounter(P(), Table::kTotals, counter).value_or(Cell(-1)), Cell(14, 3, 9));
  ASSERT_TRUE(CompactForTest(*store_, Table::kTotals).ok());
  EXPECT_EQ(store_->GetCounter(P(), Table::kTotals, counter).value_or(Cell(-1)), Cell(14, 3, 9));
  EXPECT_EQ(CountOf(Table::kDaily, keys::WithBucket(counter, day)), 1);
}

TEST_F(RocksDbStoreTest, ReadOnlyOpenRefusesBucketsOfTheOlderLayout) {
  const std::string key = keys::WithBucket(keys::Join({"t", "uu1", "c", "/"}), 20000);
  ASSERT_TRUE(PutLegacyForTest(*store_, Table::kDaily, key, EncodeCounterCell(Cell(1))).ok());
  store_.reset();
  StoreOptions read_only = options_;
  read_only.read_only = true;
  absl::StatusOr<std::unique_ptr<Store>> opened = OpenRocksDbStore(dir_.path(), read_only);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition) << opened.status();
  EXPECT_THAT(std::string(opened.status().message()), HasSubstr("older countd"));
}

TEST_F(RocksDbStoreTest, LegacyBucketThatIsNotACellStopsTheOpen) {
  const std::string key =
      keys::WithBucket(keys::Join({"t", "uu1", "c", "/"}), keys::DayIndex(clock_.Now()));
  ASSERT_TRUE(PutLegacyForTest(*store_, Table::kDaily, key, "garbage").ok());
  store_.reset();
  absl::StatusOr<std::unique_ptr<Store>> opened = OpenRocksDbStore(dir_.path(), options_);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << opened.status();
}

class RocksDbStoreExpiryTest : public RocksDbStoreTest {
 protected:
  RocksDbStoreExpiryTest() {
    options_.retention.daily_days = 90;
    options_.retention.monthly_months = 25;
    options_.retention.stash_days = 30;
  }

  // Checks that `key` of `table` is visible (or not) through every read path.
  void ExpectVisible(Table table, const std::string& key, bool visible) {
    SCOPED_TRACE(absl::StrCat(TableName(table), " bucket ", keys::BucketOf(key),
                              visible ? " visible" : " hidden"));
    absl::StatusOr<CounterCell> cell = store_->GetCounter(P(), table, key);
    EXPECT_EQ(cell.ok(), visible) << cell.status();
    if (!visible) {
      EXPECT_TRUE(absl::IsNotFound(cell.status())) << cell.status();
    }
    EXPECT_EQ(store_->Get(P(), table, key).ok(), visible);
    std::vector<absl::StatusOr<std::string>> raw = store_->MultiGet(P(), table, {key});
    ASSERT_EQ(raw.size(), 1u);
    EXPECT_EQ(raw[0].ok(), visible);
    std::vector<absl::StatusOr<CounterCell>> multi = store_->MultiGetCounters(P(), table, {key});
    ASSERT_EQ(multi.size(), 1u);
    EXPECT_EQ(multi[0].ok(), visible);
    if (!visible) {
      EXPECT_TRUE(absl::IsNotFound(multi[0].status()));
    }
    std::vector<std::string> scanned = ScanKeys(table, PrefixRange(keys::WithoutBucket(key)));
    EXPECT_EQ(std::count(scanned.begin(), scanned.end(), key), visible ? 1 : 0);
  }

  // Writes buckets `old_bucket` and `live_bucket` of one counter, moves the clock by `step`
  // (past the old bucket's retention), and checks hiding and then physical removal.
  void CheckBucketExpiry(Table table, int32_t old_bucket, int32_t live_bucket,
                         absl::Duration step) {
    const std::string old_key = keys::WithBucket(keys::Join({"t", "x"}), old_bucket);
    const std::string live_key = keys::WithBucket(keys::Join({"t", "x"}), live_bucket);
    ASSERT_TRUE(Add(table, old_key, Cell(1)).ok());
    ASSERT_TRUE(store_->Flush().ok());  // a flushed value plus a later operand for the old bucket
    ASSERT_TRUE(Add(table, old_key, Cell(1)).ok());
    ASSERT_TRUE(Add(table, live_key, Cell(5)).ok());
    ExpectVisible(table, old_key, true);
    ExpectVisible(table, live_key, true);
    EXPECT_EQ(CountOf(table, old_key), 2);

    clock_.Advance(step);
    ExpectVisible(table, old_key, false);  // hidden at once, before any compaction
    ExpectVisible(table, live_key, true);
    // A bucket record of its own stays stored until compaction; a bucket in a Signals record
    // (kMonthly, kDaily: signals_cell.h) goes at the record's next full merge, which the
    // count's own read is.
    EXPECT_EQ(RawEntries(table), IsSignalsTable(table) ? 1 : 2);

    ASSERT_TRUE(CompactForTest(*store_, table).ok());
    EXPECT_EQ(RawEntries(table), 1);  // the expired bucket is gone for good
    ExpectVisible(table, live_key, true);
    EXPECT_EQ(CountOf(table, live_key), 5);
  }
};

TEST_F(RocksDbStoreExpiryTest, DailyBucketOfTheRetentionEdgeIsLiveAndOneOlderIsHidden) {
  const int32_t today = keys::DayIndex(clock_.Now());
  const std::string edge = keys::WithBucket("c", today - 89);
  const std::string beyond = keys::WithBucket("c", today - 90);
  ASSERT_TRUE(Add(Table::kDaily, edge, Cell(1)).ok());
  ASSERT_TRUE(Add(Table::kDaily, beyond, Cell(1)).ok());
  ExpectVisible(Table::kDaily, edge, true);
  ExpectVisible(Table::kDaily, beyond, false);
}

TEST_F(RocksDbStoreExpiryTest, DailyBucketExpiresAfterRetention) {
  const int32_t today = keys::DayIndex(clock_.Now());
  // Bucket today-89 is the oldest of the newest 90; one day later it is out.
  CheckBucketExpiry(Table::kDaily, today - 89, today, absl::Hours(24));
}

TEST_F(RocksDbStoreExpiryTest, DailyBucketExpiresExactlyAtUtcMidnight) {
  clock_.Set(Utc(2024, 6, 15, 23, 59, 59) + absl::Milliseconds(999));
  const int32_t today = keys::DayIndex(clock_.Now());
  CheckBucketExpiry(Table::kDaily, today - 89, today, absl::Milliseconds(1));
}

TEST_F(RocksDbStoreExpiryTest, MonthlyBucketExpiresAfterRetention) {
  clock_.Set(Utc(2024, 6, 30, 23, 59, 59));
  const int32_t month = keys::MonthIndex(clock_.Now());
  CheckBucketExpiry(Table::kMonthly, month - 24, month, absl::Seconds(1));
}

TEST_F(RocksDbStoreExpiryTest, StashBucketExpiresAfterRetention) {
  const int32_t today = keys::DayIndex(clock_.Now());
  CheckBucketExpiry(Table::kStash, today - 29, today - 1, absl::Hours(24));
}

TEST_F(RocksDbStoreExpiryTest, RequestRecordExpiresAtItsDeadline) {
  const absl::Time deadline = clock_.Now() + absl::Seconds(10);
  const std::string record = RequestRecord(deadline, std::string("ans\0wer", 7));
  ASSERT_TRUE(Put(Table::kRequests, "short", record).ok());
  ASSERT_TRUE(Put(Table::kRequests, "long", RequestRecord(deadline + absl::Hours(24), "x")).ok());
  EXPECT_EQ(store_->Get(P(), Table::kRequests, "short").value_or(""), record);
  EXPECT_EQ(ScanKeys(Table::kRequests, ScanRange{}).size(), 2u);

  clock_.Set(deadline - absl::Milliseconds(1));
  EXPECT_TRUE(store_->Get(P(), Table::kRequests, "short").ok());

  clock_.Set(deadline);
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kRequests, "short").status()));
  EXPECT_THAT(ScanKeys(Table::kRequests, ScanRange{}), ElementsAre("long"));
  EXPECT_EQ(RawEntries(Table::kRequests), 2);

  ASSERT_TRUE(CompactForTest(*store_, Table::kRequests).ok());
  EXPECT_EQ(RawEntries(Table::kRequests), 1);
  EXPECT_EQ(store_->Get(P(), Table::kRequests, "long").value_or("").substr(8), "x");
}

TEST_F(RocksDbStoreExpiryTest, RequestRecordShorterThanItsExpiryIsTreatedAsExpired) {
  ASSERT_TRUE(Put(Table::kRequests, "r", "1234567").ok());
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kRequests, "r").status()));
}

TEST_F(RocksDbStoreExpiryTest, TotalsAndMetaNeverExpire) {
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(1)).ok());
  ASSERT_TRUE(Put(Table::kMeta, "m", "v").ok());
  clock_.Advance(absl::Hours(24 * 365 * 50));
  ASSERT_TRUE(CompactForTest(*store_, Table::kTotals).ok());
  ASSERT_TRUE(CompactForTest(*store_, Table::kMeta).ok());
  EXPECT_EQ(CountOf(Table::kTotals, "c"), 1);
  EXPECT_EQ(store_->Get(P(), Table::kMeta, "m").value_or(""), "v");
}

}  // namespace
}  // namespace countd::storage
