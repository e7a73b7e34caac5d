// The cases of StoreConformanceTest (store_conformance.h): every Store method, as the RocksDB
// reference behaves, through the Store interface only.
#include "tests/unit/storage/store_conformance.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "storage/counter_cell.h"
#include "storage/keys.h"
#include "tests/testing/counter_cells.h"

namespace countd::storage::conformance {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0, int ss = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

using test::Cell;

// A kRequests record: 8-byte big-endian expiry (unix seconds), then the payload.
std::string RequestRecord(absl::Time expiry, absl::string_view payload) {
  std::string out;
  keys::PutBigEndian64(&out, absl::ToUnixSeconds(expiry));
  out.append(payload.data(), payload.size());
  return out;
}

std::string UniqueName() {
  static std::atomic<int> n{0};
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = absl::StrCat("t", getpid(), "-", absl::ToUnixMicros(absl::Now()), "-", n++,
                                  "-", info != nullptr ? info->name() : "x");
  for (char& c : name) {
    if (c == '{' || c == '}' || c == '/') c = '_';
  }
  return name;
}

}  // namespace

const Partition& PartitionA() {
  static const Partition* const p = new Partition(keys::TenantPartition("t1").id());
  return *p;
}
const Partition& PartitionB() {
  static const Partition* const q = new Partition(keys::TenantPartition("t2").id());
  return *q;
}

namespace {
const Partition& P() { return PartitionA(); }
const Partition& Q() { return PartitionB(); }
}  // namespace

StoreConformanceTest::StoreConformanceTest() : clock_(Utc(2024, 6, 15, 12, 0, 0)) {}
StoreConformanceTest::~StoreConformanceTest() {
  store_.reset();  // before the directory goes
}

void StoreConformanceTest::SetUp() {
  dir_ = std::make_unique<test::ScopedTempDir>();
  ASSERT_FALSE(dir_->path().empty());
  setup_.clock = &clock_;
  setup_.retention.daily_days = 90;
  setup_.retention.monthly_months = 25;
  setup_.retention.stash_days = 30;
  setup_.retention.gm_daily_days = 8;
  setup_.scratch_dir = dir_->Sub("store");
  setup_.unique_name = UniqueName();
  ASSERT_NO_FATAL_FAILURE(Reopen());
}

void StoreConformanceTest::Reopen() {
  store_.reset();
  absl::StatusOr<std::unique_ptr<Store>> opened = GetParam().open(setup_);
  ASSERT_TRUE(opened.ok()) << opened.status();
  store_ = *std::move(opened);
}

absl::Status StoreConformanceTest::Put(Table table, absl::string_view key, absl::string_view value,
                                       const Partition& p) {
  WriteBatch batch(p);
  batch.Put(table, key, value);
  return store_->Write(batch);
}
absl::Status StoreConformanceTest::Add(Table table, absl::string_view key, const CounterCell& delta,
                                       const Partition& p) {
  WriteBatch batch(p);
  batch.AddCounter(table, key, delta);
  return store_->Write(batch);
}
std::vector<std::pair<std::string, std::string>> StoreConformanceTest::ScanAll(
    Table table, const ScanRange& range, const Partition& p) {
  std::vector<std::pair<std::string, std::string>> out;
  absl::Status s = store_->Scan(p, table, range, [&](absl::string_view k, absl::string_view v) {
    out.emplace_back(std::string(k), std::string(v));
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}
std::vector<std::string> StoreConformanceTest::ScanKeys(Table table, const ScanRange& range,
                                                        const Partition& p) {
  std::vector<std::string> out;
  for (auto& kv : ScanAll(table, range, p)) out.push_back(kv.first);
  return out;
}
CounterCell StoreConformanceTest::CellOf(Table table, absl::string_view key) {
  absl::StatusOr<CounterCell> c = store_->GetCounter(P(), table, key);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : Cell(-424242);
}

void StoreConformanceTest::ExpectVisible(Table table, const std::string& key, bool visible,
                                         absl::string_view scan_prefix) {
  SCOPED_TRACE(absl::StrCat(TableName(table), visible ? " visible" : " hidden"));
  absl::StatusOr<std::string> got = store_->Get(P(), table, key);
  EXPECT_EQ(got.ok(), visible) << got.status();
  if (!visible) {
    EXPECT_TRUE(absl::IsNotFound(got.status())) << got.status();
  }
  std::vector<absl::StatusOr<std::string>> multi = store_->MultiGet(P(), table, {key});
  ASSERT_EQ(multi.size(), 1u);
  EXPECT_EQ(multi[0].ok(), visible);
  if (!visible) {
    EXPECT_TRUE(absl::IsNotFound(multi[0].status()));
  }
  if (table != Table::kRequests) {
    absl::StatusOr<CounterCell> cell = store_->GetCounter(P(), table, key);
    EXPECT_EQ(cell.ok(), visible) << cell.status();
    if (!visible) {
      EXPECT_TRUE(absl::IsNotFound(cell.status()));
    }
    std::vector<absl::StatusOr<CounterCell>> cells = store_->MultiGetCounters(P(), table, {key});
    ASSERT_EQ(cells.size(), 1u);
    EXPECT_EQ(cells[0].ok(), visible);
  }
  std::vector<std::string> scanned = ScanKeys(table, PrefixRange(scan_prefix));
  EXPECT_EQ(std::count(scanned.begin(), scanned.end(), key), visible ? 1 : 0);
  ScanRange reverse = PrefixRange(scan_prefix);
  reverse.reverse = true;
  scanned = ScanKeys(table, reverse);
  EXPECT_EQ(std::count(scanned.begin(), scanned.end(), key), visible ? 1 : 0);
}

void StoreConformanceTest::WriteScanFixture() {
  WriteBatch batch(P());
  for (const std::string& k : ScanFixtureKeys()) batch.Put(Table::kMeta, k, "v:" + k);
  ASSERT_TRUE(store_->Write(batch).ok());
}

std::vector<std::string> StoreConformanceTest::ScanFixtureKeys() {
  return {keys::Join({"o"}),      keys::Join({"p", "a"}),  keys::Join({"p", "b"}),
          keys::Join({"p", "c"}), keys::Join({"pp", "x"}), keys::Join({"q"})};
}

namespace {

TEST_P(StoreConformanceTest, ReportsItsKind) { EXPECT_EQ(store_->kind(), GetParam().kind); }

// --- Get / Put / Delete -----------------------------------------------------------------------

TEST_P(StoreConformanceTest, GetMissingKeyIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "nope").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->GetCounter(P(), Table::kTotals, "nope").status()));
  const std::string daily = keys::WithBucket("nope", keys::DayIndex(clock_.Now()));
  EXPECT_TRUE(absl::IsNotFound(store_->GetCounter(P(), Table::kDaily, daily).status()));
}

TEST_P(StoreConformanceTest, PutThenGetReturnsBinaryValueAndOverwrites) {
  const std::string key("k\0with\0nul\xff", 11);
  const std::string value("v\0\xff", 3);
  ASSERT_TRUE(Put(Table::kMeta, key, value).ok());
  EXPECT_EQ(store_->Get(P(), Table::kMeta, key).value_or("?"), value);
  ASSERT_TRUE(Put(Table::kMeta, key, "second").ok());
  EXPECT_EQ(store_->Get(P(), Table::kMeta, key).value_or("?"), "second");
  ASSERT_TRUE(Put(Table::kMeta, "empty", "").ok());
  EXPECT_EQ(store_->Get(P(), Table::kMeta, "empty").value_or("?"), "");
}

TEST_P(StoreConformanceTest, DeleteRemovesKeyAndDeletingAMissingKeyIsOk) {
  ASSERT_TRUE(Put(Table::kMeta, "k", "v").ok());
  WriteBatch batch(P());
  batch.Delete(Table::kMeta, "k");
  batch.Delete(Table::kMeta, "never-written");
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "k").status()));
  EXPECT_TRUE(ScanKeys(Table::kMeta, ScanRange{}).empty());
}

TEST_P(StoreConformanceTest, TablesAreSeparateKeySpaces) {
  ASSERT_TRUE(Put(Table::kMeta, "k", "meta").ok());
  ASSERT_TRUE(Add(Table::kTotals, "k", Cell(1)).ok());
  EXPECT_EQ(store_->Get(P(), Table::kMeta, "k").value_or(""), "meta");
  EXPECT_EQ(CellOf(Table::kTotals, "k").count, 1);
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kTallyMeta, "k").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kGmState, "k").status()));
}

TEST_P(StoreConformanceTest, EmptyBatchIsANoOp) {
  WriteBatch batch(P());
  EXPECT_TRUE(batch.empty());
  EXPECT_TRUE(store_->Write(batch).ok());
  EXPECT_TRUE(ScanKeys(Table::kMeta, ScanRange{}).empty());
}

TEST_P(StoreConformanceTest, BatchAppliesEveryTableAtOnce) {
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
  batch.AddCounter(Table::kGmDaily, keys::WithBucket("g", day), Cell(7));
  batch.Put(Table::kRequests, "r", RequestRecord(clock_.Now() + absl::Hours(1), "answer"));
  batch.Put(Table::kGmLog, "log", "entry");
  ASSERT_TRUE(store_->Write(batch).ok());

  EXPECT_EQ(store_->Get(P(), Table::kMeta, "reg").value_or(""), "1");
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "old").status()));
  EXPECT_EQ(CellOf(Table::kTotals, "c"), Cell(2, 5, 9));
  EXPECT_EQ(CellOf(Table::kMonthly, keys::WithBucket("c", month)).count, 2);
  EXPECT_EQ(CellOf(Table::kDaily, keys::WithBucket("c", day)), Cell(3, 6, 10));
  EXPECT_EQ(CellOf(Table::kStash, keys::WithBucket("s", day)).count, -1);
  EXPECT_EQ(CellOf(Table::kGmDaily, keys::WithBucket("g", day)).count, 7);
  EXPECT_EQ(store_->Get(P(), Table::kRequests, "r").value_or("").substr(8), "answer");
  EXPECT_EQ(store_->Get(P(), Table::kGmLog, "log").value_or(""), "entry");
}

// --- Counters ---------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, AddCounterOnAbsentKeyStartsFromZero) {
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(-3, -1500000, 77)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "c"), Cell(-3, -1500000, 77));
}

TEST_P(StoreConformanceTest, AddCounterSumsManyDeltas) {
  constexpr int kAdds = 200;
  for (int i = 1; i <= kAdds; ++i) {
    ASSERT_TRUE(Add(Table::kTotals, "c", Cell(i, 100000, i % 7 == 0 ? 5000 + i : i)).ok());
  }
  CounterCell c = CellOf(Table::kTotals, "c");
  EXPECT_EQ(c.count, int64_t{kAdds} * (kAdds + 1) / 2);
  EXPECT_EQ(c.value_micros, absl::int128(100000) * kAdds);
  EXPECT_EQ(c.updated_ms, 5000 + 196);  // the largest multiple of 7 up to 200
}

TEST_P(StoreConformanceTest, AddCounterIsExactAboveTwoToThe53) {
  const int64_t big = (int64_t{1} << 53) + 1;
  const absl::int128 huge = absl::MakeInt128(int64_t{1} << 36, 0xffffffffffffffffull);
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(big, huge, big)).ok());
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(1, 1, big + 1)).ok());  // carries into the high word
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(2, 2, 3)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "c"), Cell(big + 3, huge + 3, big + 1));
  // Negative values borrow across every byte.
  ASSERT_TRUE(Add(Table::kTotals, "n", Cell(1, -1, -5)).ok());
  ASSERT_TRUE(Add(Table::kTotals, "n", Cell(-2, absl::int128(-1) << 70, -7)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "n"), Cell(-1, (absl::int128(-1) << 70) - 1, -5));
  ASSERT_TRUE(Add(Table::kTotals, "n", Cell(1, -((absl::int128(-1) << 70) - 1), 0)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "n"), Cell(0, 0, 0));
}

TEST_P(StoreConformanceTest, AddCounterMatchesAddCellsOnEdgeValues) {
  const std::vector<int64_t> counts = {
      0, 1, -1, kMax, kMin, kMax - 1, kMin + 1, 1LL << 53, -(1LL << 53) - 1};
  const std::vector<absl::int128> values = {0,
                                            1,
                                            -1,
                                            absl::MakeInt128(0, ~uint64_t{0}),
                                            absl::MakeInt128(-1, 0),
                                            absl::MakeInt128(int64_t{1} << 40, 7)};
  const std::vector<int64_t> times = {0, -5, 5, kMax, kMin, 1718452800000};
  WriteBatch bases(P());
  std::vector<std::pair<CounterCell, CounterCell>> cases;
  size_t k = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    for (size_t j = 0; j < counts.size(); ++j, ++k) {
      CounterCell a = Cell(counts[i], values[k % values.size()], times[k % times.size()]);
      CounterCell b =
          Cell(counts[j], values[(k / 3) % values.size()], times[(k / 2) % times.size()]);
      cases.emplace_back(a, b);
      bases.Put(Table::kTotals, absl::StrCat("case", k), EncodeCounterCell(a));
    }
  }
  ASSERT_TRUE(store_->Write(bases).ok());
  WriteBatch deltas(P());
  for (size_t i = 0; i < cases.size(); ++i) {
    deltas.AddCounter(Table::kTotals, absl::StrCat("case", i), cases[i].second);
  }
  ASSERT_TRUE(store_->Write(deltas).ok());
  std::vector<std::string> names;
  for (size_t i = 0; i < cases.size(); ++i) names.push_back(absl::StrCat("case", i));
  std::vector<absl::StatusOr<CounterCell>> got =
      store_->MultiGetCounters(P(), Table::kTotals, names);
  ASSERT_EQ(got.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(
        absl::StrCat("case ", i, ": count ", cases[i].first.count, " + ", cases[i].second.count));
    ASSERT_TRUE(got[i].ok()) << got[i].status();
    EXPECT_EQ(*got[i], AddCells(cases[i].first, cases[i].second));
  }
}

TEST_P(StoreConformanceTest, CountSaturatesAtBothLimits) {
  ASSERT_TRUE(Add(Table::kTotals, "up", Cell(kMax - 1)).ok());
  ASSERT_TRUE(Add(Table::kTotals, "up", Cell(5)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "up").count, kMax);
  ASSERT_TRUE(Add(Table::kTotals, "up", Cell(kMax)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "up").count, kMax);
  ASSERT_TRUE(Add(Table::kTotals, "up", Cell(-1)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "up").count, kMax - 1);

  ASSERT_TRUE(Add(Table::kTotals, "down", Cell(kMin + 1)).ok());
  ASSERT_TRUE(Add(Table::kTotals, "down", Cell(-5)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "down").count, kMin);
  ASSERT_TRUE(Add(Table::kTotals, "down", Cell(kMin)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "down").count, kMin);
  ASSERT_TRUE(Add(Table::kTotals, "down", Cell(1)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "down").count, kMin + 1);
}

TEST_P(StoreConformanceTest, UpdatedMsKeepsTheMaximum) {
  ASSERT_TRUE(Add(Table::kTotals, "t", Cell(1, 0, 1000)).ok());
  ASSERT_TRUE(Add(Table::kTotals, "t", Cell(1, 0, 999)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "t").updated_ms, 1000);
  ASSERT_TRUE(Add(Table::kTotals, "t", Cell(1, 0, -1)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "t").updated_ms, 1000);
  ASSERT_TRUE(Add(Table::kTotals, "t", Cell(1, 0, 1001)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "t").updated_ms, 1001);
  ASSERT_TRUE(Add(Table::kTotals, "neg", Cell(1, 0, -10)).ok());
  ASSERT_TRUE(Add(Table::kTotals, "neg", Cell(1, 0, -3)).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "neg").updated_ms, -3);
}

TEST_P(StoreConformanceTest, AddCounterAfterPutOrDeleteInOneBatchSeesThem) {
  ASSERT_TRUE(Add(Table::kTotals, "d", Cell(100)).ok());
  WriteBatch batch(P());
  batch.Put(Table::kTotals, "p", EncodeCounterCell(Cell(10, 5, 1)));
  batch.AddCounter(Table::kTotals, "p", Cell(2, 1, 3));
  batch.Delete(Table::kTotals, "d");
  batch.AddCounter(Table::kTotals, "d", Cell(1));
  batch.AddCounter(Table::kTotals, "p", Cell(1, 1, 2));
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(CellOf(Table::kTotals, "p"), Cell(13, 7, 3));
  EXPECT_EQ(CellOf(Table::kTotals, "d"), Cell(1));
}

TEST_P(StoreConformanceTest, AddCounterOnNonCounterTableFailsAndWritesNothing) {
  for (Table bad : {Table::kMeta, Table::kRequests, Table::kGmState}) {
    SCOPED_TRACE(TableName(bad));
    WriteBatch batch(P());
    batch.Put(Table::kMeta, "before", "x");
    batch.AddCounter(Table::kTotals, "ok", Cell(1));
    batch.AddCounter(bad, "bad", Cell(1));
    batch.Put(Table::kMeta, "after", "y");
    absl::Status s = store_->Write(batch);
    EXPECT_FALSE(s.ok());
    EXPECT_THAT(std::string(s.message()), HasSubstr(TableName(bad)));
  }
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "before").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "after").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->GetCounter(P(), Table::kTotals, "ok").status()));
}

TEST_P(StoreConformanceTest, AddSignalsAddsToTheTotalTheMonthAndTheDay) {
  const std::string c = keys::Join({"t", "uu1", "c", "/"});
  const int32_t day = keys::DayIndex(clock_.Now());
  const int32_t month = keys::MonthIndex(clock_.Now());
  {
    WriteBatch batch(P());
    batch.AddSignals(c, month, day, Cell(2, 5, 9));
    batch.AddCounter(Table::kDaily, keys::WithBucket(c, day), Cell(1, 1, 10));
    batch.AddSignals(c, month, day - 1, Cell(3, 0, 4));
    ASSERT_TRUE(store_->Write(batch).ok());
  }
  EXPECT_EQ(CellOf(Table::kTotals, c), Cell(5, 5, 9));
  EXPECT_EQ(CellOf(Table::kMonthly, keys::WithBucket(c, month)), Cell(5, 5, 9));
  EXPECT_EQ(CellOf(Table::kDaily, keys::WithBucket(c, day)), Cell(3, 6, 10));
  EXPECT_EQ(CellOf(Table::kDaily, keys::WithBucket(c, day - 1)), Cell(3, 0, 4));
  EXPECT_THAT(ScanKeys(Table::kDaily, PrefixRange(c)),
              ElementsAre(keys::WithBucket(c, day - 1), keys::WithBucket(c, day)));
  // After a delete of the day in the same batch, the day is exactly what follows it.
  {
    WriteBatch batch(P());
    batch.Delete(Table::kDaily, keys::WithBucket(c, day));
    batch.AddSignals(c, month, day, Cell(1));
    ASSERT_TRUE(store_->Write(batch).ok());
  }
  EXPECT_EQ(CellOf(Table::kDaily, keys::WithBucket(c, day)), Cell(1));
  EXPECT_EQ(CellOf(Table::kTotals, c).count, 6);
}

TEST_P(StoreConformanceTest, SignalsTablesRefuseNonCellPuts) {
  for (Table table : {Table::kTotals, Table::kMonthly, Table::kDaily}) {
    SCOPED_TRACE(TableName(table));
    WriteBatch batch(P());
    batch.Put(Table::kMeta, "before", "x");
    batch.AddCounter(Table::kTotals, "ok", Cell(1));
    batch.Put(table, "bad", "not a cell");
    absl::Status s = store_->Write(batch);
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(TableName(table)));
  }
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "before").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->GetCounter(P(), Table::kTotals, "ok").status()));
  // A cell is taken.
  const std::string today = keys::WithBucket("c", keys::DayIndex(clock_.Now()));
  ASSERT_TRUE(Put(Table::kDaily, today, EncodeCounterCell(Cell(4))).ok());
  EXPECT_EQ(CellOf(Table::kDaily, today), Cell(4));
}

TEST_P(StoreConformanceTest, GetCounterOfNonCounterBytesIsDataLoss) {
  // Not kTotals, kMonthly or kDaily, which take only cells (SignalsTablesRefuseNonCellPuts).
  const std::string bad = keys::WithBucket("bad", keys::DayIndex(clock_.Now()));
  ASSERT_TRUE(Put(Table::kStash, bad, "not a cell").ok());
  EXPECT_EQ(store_->GetCounter(P(), Table::kStash, bad).status().code(),
            absl::StatusCode::kDataLoss);
}

// --- MultiGet ---------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, MultiGetReturnsValuesInOrderWithMissingEntries) {
  ASSERT_TRUE(Put(Table::kMeta, "a", std::string("1\0", 2)).ok());
  ASSERT_TRUE(Put(Table::kMeta, "c", "3").ok());
  std::vector<absl::StatusOr<std::string>> got =
      store_->MultiGet(P(), Table::kMeta, {"c", "b", "a", "c"});
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].value_or("?"), "3");
  EXPECT_TRUE(absl::IsNotFound(got[1].status()));
  EXPECT_EQ(got[2].value_or("?"), std::string("1\0", 2));
  EXPECT_EQ(got[3].value_or("?"), "3");
  EXPECT_TRUE(store_->MultiGet(P(), Table::kMeta, {}).empty());
}

TEST_P(StoreConformanceTest, MultiGetCountersMixesFoundMissingAndCorrupt) {
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
  EXPECT_EQ(got[0].value_or(Cell(-1)).count, 1);
  EXPECT_TRUE(absl::IsNotFound(got[1].status()));
  EXPECT_EQ(got[2].value_or(Cell(-1)).count, 3);
  EXPECT_EQ(got[3].value_or(Cell(-1)).count, 1);
  EXPECT_EQ(got[4].status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(store_->MultiGetCounters(P(), Table::kStash, {}).empty());
}

// --- Scan -------------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, ScansPrefixForwardAndInReverse) {
  ASSERT_NO_FATAL_FAILURE(WriteScanFixture());
  EXPECT_THAT(ScanKeys(Table::kMeta, PrefixRange(keys::Join({"p"}))),
              ElementsAre(keys::Join({"p", "a"}), keys::Join({"p", "b"}), keys::Join({"p", "c"})));
  ScanRange range = PrefixRange(keys::Join({"p"}));
  range.reverse = true;
  EXPECT_THAT(ScanKeys(Table::kMeta, range),
              ElementsAre(keys::Join({"p", "c"}), keys::Join({"p", "b"}), keys::Join({"p", "a"})));
}

TEST_P(StoreConformanceTest, ScanHandsOverValues) {
  ASSERT_NO_FATAL_FAILURE(WriteScanFixture());
  EXPECT_THAT(ScanAll(Table::kMeta, PrefixRange(keys::Join({"pp"}))),
              ElementsAre(Pair(keys::Join({"pp", "x"}), "v:" + keys::Join({"pp", "x"}))));
}

TEST_P(StoreConformanceTest, BeginIsInclusiveAndEndExclusive) {
  ASSERT_NO_FATAL_FAILURE(WriteScanFixture());
  ScanRange range;
  range.begin = keys::Join({"p", "b"});
  range.end = keys::Join({"q"});
  EXPECT_THAT(ScanKeys(Table::kMeta, range),
              ElementsAre(keys::Join({"p", "b"}), keys::Join({"p", "c"}), keys::Join({"pp", "x"})));
  range.reverse = true;
  EXPECT_THAT(ScanKeys(Table::kMeta, range),
              ElementsAre(keys::Join({"pp", "x"}), keys::Join({"p", "c"}), keys::Join({"p", "b"})));
}

TEST_P(StoreConformanceTest, ScanWithoutBoundsRunsToTheEnds) {
  ASSERT_NO_FATAL_FAILURE(WriteScanFixture());
  ScanRange range;
  range.begin = keys::Join({"pp"});
  EXPECT_THAT(ScanKeys(Table::kMeta, range),
              ElementsAre(keys::Join({"pp", "x"}), keys::Join({"q"})));
  range.reverse = true;
  EXPECT_THAT(ScanKeys(Table::kMeta, range),
              ElementsAre(keys::Join({"q"}), keys::Join({"pp", "x"})));
  EXPECT_EQ(ScanKeys(Table::kMeta, ScanRange{}), ScanFixtureKeys());
  ScanRange all_reverse;
  all_reverse.reverse = true;
  std::vector<std::string> reversed = ScanFixtureKeys();
  std::reverse(reversed.begin(), reversed.end());
  EXPECT_EQ(ScanKeys(Table::kMeta, all_reverse), reversed);
}

TEST_P(StoreConformanceTest, ScanStopsWhenVisitorReturnsFalse) {
  ASSERT_NO_FATAL_FAILURE(WriteScanFixture());
  std::vector<std::string> seen;
  absl::Status s = store_->Scan(P(), Table::kMeta, PrefixRange(keys::Join({"p"})),
                                [&](absl::string_view k, absl::string_view) {
                                  seen.emplace_back(k);
                                  return seen.size() < 2;
                                });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(seen, ElementsAre(keys::Join({"p", "a"}), keys::Join({"p", "b"})));
  ScanRange reverse = PrefixRange(keys::Join({"p"}));
  reverse.reverse = true;
  seen.clear();
  s = store_->Scan(P(), Table::kMeta, reverse, [&](absl::string_view k, absl::string_view) {
    seen.emplace_back(k);
    return false;
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(seen, ElementsAre(keys::Join({"p", "c"})));
}

TEST_P(StoreConformanceTest, EmptyRangeVisitsNothing) {
  ASSERT_NO_FATAL_FAILURE(WriteScanFixture());
  EXPECT_TRUE(ScanKeys(Table::kMeta, PrefixRange("zzz")).empty());
  ScanRange reverse = PrefixRange("zzz");
  reverse.reverse = true;
  EXPECT_TRUE(ScanKeys(Table::kMeta, reverse).empty());
  EXPECT_TRUE(ScanKeys(Table::kTotals, PrefixRange("p")).empty());
}

TEST_P(StoreConformanceTest, ScanOrdersKeysWithZeroAndFfBytesByMemcmp) {
  const std::vector<std::string> sorted = {
      std::string("a", 1),           std::string("a\0", 2),   std::string("a\0\0", 3),
      std::string("a\0\xff", 3),     std::string("a\x01", 2), std::string("a\x7f", 2),
      std::string("a\x80", 2),       std::string("a\xff", 2), std::string("a\xff\0", 3),
      std::string("a\xff\xff", 3),   std::string("b", 1),     std::string("\xff", 1),
      std::string("\xff\xff\xff", 3)};
  WriteBatch batch(P());
  for (size_t i = sorted.size(); i-- > 0;) batch.Put(Table::kMeta, sorted[i], sorted[i]);
  ASSERT_TRUE(store_->Write(batch).ok());
  std::vector<std::pair<std::string, std::string>> all = ScanAll(Table::kMeta, ScanRange{});
  ASSERT_EQ(all.size(), sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    EXPECT_EQ(all[i].first, sorted[i]) << i;
    EXPECT_EQ(all[i].second, sorted[i]) << i;
  }
  EXPECT_THAT(
      ScanKeys(Table::kMeta, PrefixRange(std::string("a\xff", 2))),
      ElementsAre(std::string("a\xff", 2), std::string("a\xff\0", 3), std::string("a\xff\xff", 3)));
  EXPECT_THAT(
      ScanKeys(Table::kMeta, PrefixRange(std::string("a\0", 2))),
      ElementsAre(std::string("a\0", 2), std::string("a\0\0", 3), std::string("a\0\xff", 3)));
  ScanRange top = PrefixRange(std::string("\xff", 1));
  top.reverse = true;
  EXPECT_THAT(ScanKeys(Table::kMeta, top),
              ElementsAre(std::string("\xff\xff\xff", 3), std::string("\xff", 1)));
}

TEST_P(StoreConformanceTest, ScanVisitsManyPagesInOrderAndStopsMidway) {
  constexpr int kKeys = 700;  // several pages of a paging store
  WriteBatch batch(P());
  std::vector<std::string> expected;
  for (int i = 0; i < kKeys; ++i) {
    std::string k = keys::Join({"m", absl::StrCat(10000 + i)});
    batch.Put(Table::kMeta, k, absl::StrCat(i));
    expected.push_back(k);
  }
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(ScanKeys(Table::kMeta, PrefixRange(keys::Join({"m"}))), expected);
  ScanRange reverse = PrefixRange(keys::Join({"m"}));
  reverse.reverse = true;
  std::vector<std::string> backwards(expected.rbegin(), expected.rend());
  EXPECT_EQ(ScanKeys(Table::kMeta, reverse), backwards);
  int visited = 0;
  ASSERT_TRUE(store_
                  ->Scan(P(), Table::kMeta, reverse,
                         [&](absl::string_view k, absl::string_view) {
                           EXPECT_EQ(k, backwards[visited]);
                           return ++visited < 300;
                         })
                  .ok());
  EXPECT_EQ(visited, 300);
}

TEST_P(StoreConformanceTest, ScanNeverVisitsAnotherPartitionsKeys) {
  // Keys built by keys.h embed their tenant, so each partition's prefix range holds only its own
  // keys on every store.
  const std::string mine = keys::GmUserStateKey("t1", "u", "c");
  const std::string theirs = keys::GmUserStateKey("t2", "u", "c");
  ASSERT_TRUE(Put(Table::kGmState, mine, "1", P()).ok());
  ASSERT_TRUE(Put(Table::kGmState, theirs, "2", Q()).ok());
  EXPECT_THAT(ScanKeys(Table::kGmState, PrefixRange(keys::Join({"u", "t1"})), P()),
              ElementsAre(mine));
  EXPECT_THAT(ScanKeys(Table::kGmState, PrefixRange(keys::Join({"u", "t2"})), Q()),
              ElementsAre(theirs));
  if (GetParam().kind == StoreKind::kRedisCluster) {
    // A partitioned store keeps partitions apart even for ranges covering both. (RocksDB has one
    // key space: there Scan is ScanAllPartitions, and keys.h keeps partitions apart.)
    EXPECT_THAT(ScanKeys(Table::kGmState, ScanRange{}, P()), ElementsAre(mine));
    EXPECT_THAT(ScanKeys(Table::kGmState, ScanRange{}, Q()), ElementsAre(theirs));
    EXPECT_TRUE(ScanKeys(Table::kGmState, PrefixRange(keys::Join({"u", "t2"})), P()).empty());
    EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kGmState, theirs).status()));
  }
}

// --- Preconditions and atomicity --------------------------------------------------------------

TEST_P(StoreConformanceTest, MatchingPreconditionsApplyTheBatch) {
  ASSERT_TRUE(Put(Table::kGmState, "bal", "10").ok());
  WriteBatch batch(P());
  batch.Expect(Table::kGmState, "bal", std::string("10"));
  batch.Expect(Table::kGmState, "absent", std::nullopt);
  batch.Put(Table::kGmState, "bal", "11");
  batch.Put(Table::kGmState, "absent", "now here");
  batch.AddCounter(Table::kTotals, "c", Cell(1));
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(store_->Get(P(), Table::kGmState, "bal").value_or(""), "11");
  EXPECT_EQ(store_->Get(P(), Table::kGmState, "absent").value_or(""), "now here");
  EXPECT_EQ(CellOf(Table::kTotals, "c").count, 1);
}

TEST_P(StoreConformanceTest, FailedPreconditionIsAbortedAndAppliesNothing) {
  ASSERT_TRUE(Put(Table::kGmState, "bal", "10").ok());
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(1)).ok());
  const int32_t day = keys::DayIndex(clock_.Now());
  auto build = [&](std::optional<std::string> bal, std::optional<std::string> other) {
    WriteBatch batch(P());
    batch.Expect(Table::kGmState, "bal", std::move(bal));
    batch.Expect(Table::kMeta, "other", std::move(other));
    batch.Put(Table::kGmState, "bal", "changed");
    batch.Delete(Table::kTotals, "c");
    batch.AddCounter(Table::kDaily, keys::WithBucket("c", day), Cell(1));
    batch.Put(Table::kMeta, "new", "x");
    return batch;
  };
  const std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>> failing = {
      {std::string("9"), std::nullopt},           // value mismatch
      {std::nullopt, std::nullopt},               // expected absent, present
      {std::string("10"), std::string("absent")}  // expected present, absent (second of two)
  };
  for (const auto& [bal, other] : failing) {
    absl::Status s = store_->Write(build(bal, other));
    EXPECT_TRUE(absl::IsAborted(s)) << s;
  }
  EXPECT_EQ(store_->Get(P(), Table::kGmState, "bal").value_or(""), "10");
  EXPECT_EQ(CellOf(Table::kTotals, "c").count, 1);
  EXPECT_TRUE(absl::IsNotFound(
      store_->GetCounter(P(), Table::kDaily, keys::WithBucket("c", day)).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "new").status()));
  // And the same batch with true preconditions applies.
  ASSERT_TRUE(store_->Write(build(std::string("10"), std::nullopt)).ok());
  EXPECT_EQ(store_->Get(P(), Table::kGmState, "bal").value_or(""), "changed");
}

TEST_P(StoreConformanceTest, PreconditionsAreCheckedBeforeTheBatchsOwnOps) {
  WriteBatch batch(P());
  batch.Put(Table::kMeta, "k", "v");
  batch.Expect(Table::kMeta, "k", std::string("v"));  // not yet true: the put comes after
  EXPECT_TRUE(absl::IsAborted(store_->Write(batch)));
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "k").status()));
}

TEST_P(StoreConformanceTest, BatchWithOnlyPreconditionsChecksThem) {
  ASSERT_TRUE(Put(Table::kMeta, "k", "v").ok());
  WriteBatch ok(P());
  ok.Expect(Table::kMeta, "k", std::string("v"));
  EXPECT_TRUE(store_->Write(ok).ok());
  WriteBatch bad(P());
  bad.Expect(Table::kMeta, "k", std::nullopt);
  EXPECT_TRUE(absl::IsAborted(store_->Write(bad)));
}

TEST_P(StoreConformanceTest, PreconditionOnAnExpiredRecordSeesItAbsent) {
  const absl::Time deadline = clock_.Now() + absl::Seconds(10);
  const std::string record = RequestRecord(deadline, "first");
  const int32_t today = keys::DayIndex(clock_.Now());
  const std::string bucket = keys::WithBucket("d", today - 89);  // expires tomorrow
  const std::string tally = keys::TallyBucketKey("tc", 1, absl::ToUnixSeconds(deadline));
  WriteBatch setup(P());
  setup.Put(Table::kRequests, "r", record);
  setup.AddCounter(Table::kDaily, bucket, Cell(1));
  setup.AddCounter(Table::kTally, tally, Cell(1));
  ASSERT_TRUE(store_->Write(setup).ok());
  const std::string daily_value = EncodeCounterCell(Cell(1));

  // Live: the value is what a precondition sees.
  WriteBatch absent(P());
  absent.Expect(Table::kRequests, "r", std::nullopt);
  EXPECT_TRUE(absl::IsAborted(store_->Write(absent)));

  clock_.Advance(absl::Hours(24));
  for (auto [table, key, value] : {std::make_tuple(Table::kRequests, std::string("r"), record),
                                   std::make_tuple(Table::kDaily, bucket, daily_value),
                                   std::make_tuple(Table::kTally, tally, daily_value)}) {
    SCOPED_TRACE(TableName(table));
    WriteBatch stale(P());
    stale.Expect(table, key, value);
    stale.Put(Table::kMeta, "stale", "x");
    EXPECT_TRUE(absl::IsAborted(store_->Write(stale)));
    WriteBatch gone(P());
    gone.Expect(table, key, std::nullopt);
    gone.Put(Table::kMeta, absl::StrCat("gone-", TableName(table)), "x");
    EXPECT_TRUE(store_->Write(gone).ok());
  }
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P(), Table::kMeta, "stale").status()));
  // A new request record replaces the expired one and is live again.
  const std::string second = RequestRecord(clock_.Now() + absl::Seconds(10), "second");
  WriteBatch replace(P());
  replace.Expect(Table::kRequests, "r", std::nullopt);
  replace.Put(Table::kRequests, "r", second);
  ASSERT_TRUE(store_->Write(replace).ok());
  EXPECT_EQ(store_->Get(P(), Table::kRequests, "r").value_or(""), second);
}

// --- Expiry -----------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, BucketsExpireAfterTheirRetention) {
  struct Case {
    Table table;
    int32_t edge;  // the oldest live bucket now
    absl::Duration step;
  };
  clock_.Set(Utc(2024, 6, 30, 23, 59, 59));
  const int32_t today = keys::DayIndex(clock_.Now());
  const int32_t month = keys::MonthIndex(clock_.Now());
  for (const Case& c : {Case{Table::kDaily, today - 89, absl::Seconds(1)},
                        Case{Table::kMonthly, month - 24, absl::Seconds(1)},
                        Case{Table::kStash, today - 29, absl::Seconds(1)},
                        Case{Table::kGmDaily, today - 7, absl::Seconds(1)}}) {
    SCOPED_TRACE(TableName(c.table));
    clock_.Set(Utc(2024, 6, 30, 23, 59, 59));
    const std::string base = keys::Join({"t", TableName(c.table)});
    const std::string edge = keys::WithBucket(base, c.edge);
    const std::string beyond = keys::WithBucket(base, c.edge - 1);
    const std::string live = keys::WithBucket(base, c.edge + 1);
    WriteBatch batch(P());
    batch.AddCounter(c.table, edge, Cell(1));
    batch.AddCounter(c.table, beyond, Cell(1));
    batch.AddCounter(c.table, live, Cell(5));
    ASSERT_TRUE(store_->Write(batch).ok());
    ExpectVisible(c.table, edge, true, base);
    ExpectVisible(c.table, beyond, false, base);
    ExpectVisible(c.table, live, true, base);
    clock_.Advance(c.step);  // midnight (UTC): the edge bucket leaves the window
    ExpectVisible(c.table, edge, false, base);
    ExpectVisible(c.table, live, true, base);
    EXPECT_EQ(CellOf(c.table, live).count, 5);
  }
}

TEST_P(StoreConformanceTest, ExpiredBucketsInAScanAreSkipped) {
  const int32_t today = keys::DayIndex(clock_.Now());
  const std::string base = keys::Join({"t", "x"});
  for (int32_t day : {today - 200, today - 89, today - 90, today}) {
    ASSERT_TRUE(Add(Table::kDaily, keys::WithBucket(base, day), Cell(1)).ok());
  }
  EXPECT_THAT(ScanKeys(Table::kDaily, PrefixRange(base)),
              ElementsAre(keys::WithBucket(base, today - 89), keys::WithBucket(base, today)));
  ScanRange reverse = PrefixRange(base);
  reverse.reverse = true;
  EXPECT_THAT(ScanKeys(Table::kDaily, reverse),
              ElementsAre(keys::WithBucket(base, today), keys::WithBucket(base, today - 89)));
}

TEST_P(StoreConformanceTest, RequestRecordExpiresAtItsDeadline) {
  const absl::Time deadline = clock_.Now() + absl::Seconds(10);
  const std::string record = RequestRecord(deadline, std::string("ans\0wer", 7));
  ASSERT_TRUE(Put(Table::kRequests, "short", record).ok());
  ASSERT_TRUE(Put(Table::kRequests, "long", RequestRecord(deadline + absl::Hours(24), "x")).ok());
  ASSERT_TRUE(Put(Table::kRequests, "bad", "1234567").ok());  // too short: always expired
  EXPECT_EQ(store_->Get(P(), Table::kRequests, "short").value_or(""), record);
  EXPECT_THAT(ScanKeys(Table::kRequests, ScanRange{}), ElementsAre("long", "short"));
  ExpectVisible(Table::kRequests, "bad", false, "");
  clock_.Set(deadline - absl::Milliseconds(1));
  ExpectVisible(Table::kRequests, "short", true, "");
  clock_.Set(deadline);
  ExpectVisible(Table::kRequests, "short", false, "");
  ExpectVisible(Table::kRequests, "long", true, "");
}

TEST_P(StoreConformanceTest, TallyBucketExpiresAtTheExpiryInItsKey) {
  const absl::Time expiry = clock_.Now() + absl::Minutes(5);
  const std::string prefix = keys::TallyCountablePrefix(keys::kTallyECount, "t1", "c", "x");
  const std::string soon = keys::TallyBucketKey(prefix, 100, absl::ToUnixSeconds(expiry));
  const std::string later =
      keys::TallyBucketKey(prefix, 200, absl::ToUnixSeconds(expiry + absl::Hours(1)));
  ASSERT_TRUE(Add(Table::kTally, soon, Cell(1)).ok());
  ASSERT_TRUE(Add(Table::kTally, later, Cell(2)).ok());
  ExpectVisible(Table::kTally, soon, true, prefix);
  clock_.Set(expiry - absl::Milliseconds(1));
  ExpectVisible(Table::kTally, soon, true, prefix);
  clock_.Set(expiry);
  ExpectVisible(Table::kTally, soon, false, prefix);
  ExpectVisible(Table::kTally, later, true, prefix);
  // Adding to an expired bucket does not bring it back.
  ASSERT_TRUE(Add(Table::kTally, soon, Cell(1)).ok());
  ExpectVisible(Table::kTally, soon, false, prefix);
}

TEST_P(StoreConformanceTest, TablesWithoutExpiryKeepRecordsForever) {
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(1)).ok());
  ASSERT_TRUE(Put(Table::kMeta, "m", "v").ok());
  ASSERT_TRUE(Put(Table::kTallyMeta, "tm", "v").ok());
  ASSERT_TRUE(Put(Table::kGmLog, "l", "v").ok());
  ASSERT_TRUE(Put(Table::kGmState, "s", "v").ok());
  clock_.Advance(absl::Hours(24 * 365 * 50));
  ASSERT_TRUE(Put(Table::kMeta, "after", "v").ok());  // a write at the new time
  EXPECT_EQ(CellOf(Table::kTotals, "c").count, 1);
  for (Table t : {Table::kMeta, Table::kTallyMeta, Table::kGmLog, Table::kGmState}) {
    EXPECT_EQ(ScanKeys(t, ScanRange{}).size(), t == Table::kMeta ? 2u : 1u) << TableName(t);
  }
}

TEST_P(StoreConformanceTest, ExpiryFollowsTheConfiguredRetention) {
  setup_.retention.daily_days = 2;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  const int32_t today = keys::DayIndex(clock_.Now());
  const std::string yesterday = keys::WithBucket("c", today - 1);
  const std::string two_days_ago = keys::WithBucket("c", today - 2);
  ASSERT_TRUE(Add(Table::kDaily, yesterday, Cell(1)).ok());
  ASSERT_TRUE(Add(Table::kDaily, two_days_ago, Cell(1)).ok());
  ExpectVisible(Table::kDaily, yesterday, true, "c");
  ExpectVisible(Table::kDaily, two_days_ago, false, "c");
}

TEST_P(StoreConformanceTest, ReopeningKeepsData) {
  ASSERT_TRUE(Put(Table::kMeta, "k", "v").ok());
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(4, 40, 400)).ok());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(store_->Get(P(), Table::kMeta, "k").value_or(""), "v");
  EXPECT_EQ(CellOf(Table::kTotals, "c"), Cell(4, 40, 400));
}

// --- Concurrency ------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, ConcurrentAddsAreAllCounted) {
  constexpr int kThreads = 4;
  constexpr int kAddsPerThread = 100;
  const std::string key = keys::WithBucket("v", keys::DayIndex(clock_.Now()));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kAddsPerThread; ++i) {
        if (!Add(Table::kStash, key, Cell(1, (absl::int128(1) << 60) + 1)).ok()) ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  CounterCell c = CellOf(Table::kStash, key);
  EXPECT_EQ(c.count, kThreads * kAddsPerThread);
  EXPECT_EQ(c.value_micros, ((absl::int128(1) << 60) + 1) * (kThreads * kAddsPerThread));
}

TEST_P(StoreConformanceTest, ConcurrentConditionalIncrementsAreExact) {
  constexpr int kThreads = 4;
  constexpr int kIncrementsPerThread = 25;
  constexpr int kMaxAttemptsPerThread = 5000;  // bounds the test even if the store livelocks
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      int done = 0;
      for (int attempt = 0; done < kIncrementsPerThread && attempt < kMaxAttemptsPerThread;
           ++attempt) {
        absl::StatusOr<std::string> cur = store_->Get(P(), Table::kGmState, "n");
        int64_t n = 0;
        if (cur.ok()) {
          if (!absl::SimpleAtoi(*cur, &n)) ++errors;
        } else if (!absl::IsNotFound(cur.status())) {
          ++errors;
          continue;
        }
        WriteBatch batch(P());
        batch.Expect(Table::kGmState, "n",
                     cur.ok() ? std::optional<std::string>(*cur) : std::nullopt);
        batch.Put(Table::kGmState, "n", absl::StrCat(n + 1));
        absl::Status s = store_->Write(batch);
        if (s.ok()) {
          ++done;
        } else if (!absl::IsAborted(s)) {
          ++errors;
        }
      }
      if (done != kIncrementsPerThread) ++errors;
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(store_->Get(P(), Table::kGmState, "n").value_or(""),
            absl::StrCat(kThreads * kIncrementsPerThread));
}

// --- Store-wide methods -----------------------------------------------------------------------

TEST_P(StoreConformanceTest, FlushSucceeds) {
  ASSERT_TRUE(Put(Table::kMeta, "k", "v").ok());
  EXPECT_TRUE(store_->Flush().ok());
  EXPECT_EQ(store_->Get(P(), Table::kMeta, "k").value_or(""), "v");
}

TEST_P(StoreConformanceTest, StatsCountWrites) {
  ASSERT_TRUE(Put(Table::kMeta, "a", "1").ok());
  ASSERT_TRUE(Add(Table::kTotals, "c", Cell(1)).ok());
  absl::StatusOr<StoreStats> stats = store_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->estimated_keys.size(), static_cast<size_t>(kNumTables));
  const DurationHistogram& h = stats->write_duration;
  ASSERT_EQ(h.counts.size(), h.upper_bounds_seconds.size() + 1);
  uint64_t writes = 0;
  for (uint64_t c : h.counts) writes += c;
  EXPECT_GE(writes, 2u);
  EXPECT_GT(h.sum_seconds, 0);
}

TEST_P(StoreConformanceTest, CheckpointPerKind) {
  ASSERT_TRUE(Put(Table::kMeta, "k", "v").ok());
  test::ScopedTempDir backups;
  const std::string target = backups.Sub("copy");
  absl::Status s = store_->Checkpoint(target);
  if (GetParam().kind == StoreKind::kRocksDb) {
    ASSERT_TRUE(s.ok()) << s;
    StoreSetup copy = setup_;
    copy.scratch_dir = target;
    absl::StatusOr<std::unique_ptr<Store>> opened = GetParam().open(copy);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ((*opened)->Get(P(), Table::kMeta, "k").value_or(""), "v");
  } else {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("BGSAVE/AOF on every master"));
  }
}

TEST_P(StoreConformanceTest, ScanAllPartitionsPerKind) {
  ASSERT_TRUE(Put(Table::kGmState, keys::GmUserStateKey("t1", "u", "c"), "1", P()).ok());
  ASSERT_TRUE(Put(Table::kGmState, keys::GmUserStateKey("t2", "u", "c"), "2", Q()).ok());
  std::vector<std::string> seen;
  absl::Status s = store_->ScanAllPartitions(Table::kGmState, ScanRange{},
                                             [&](absl::string_view k, absl::string_view) {
                                               seen.emplace_back(k);
                                               return true;
                                             });
  if (GetParam().kind == StoreKind::kRocksDb) {
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_THAT(seen, ElementsAre(keys::GmUserStateKey("t1", "u", "c"),
                                  keys::GmUserStateKey("t2", "u", "c")));
  } else {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
    EXPECT_TRUE(seen.empty());
  }
}

}  // namespace

}  // namespace countd::storage::conformance
