// Tests of Store::Submit on RocksDB: counter increments that a replying thread (one inside a
// DeferWalFlush scope) submits with AllowDeferredApply are kept in that thread's memory and
// applied together, as one RocksDB write, at its next FlushWal, read or other write.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "storage/counter_cell.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/testing/counter_cells.h"
#include "tests/testing/temp_dir.h"

namespace countd::storage {
namespace {

using test::Cell;

const Partition& P() {
  static const Partition* const p = new Partition("p");
  return *p;
}

std::unique_ptr<Store> OpenAt(const std::string& dir, SyncMode sync = SyncMode::kNone) {
  StoreOptions options;
  options.sync = sync;
  options.block_cache_bytes = size_t{8} << 20;
  options.memtable_bytes = size_t{8} << 20;
  absl::StatusOr<std::unique_ptr<Store>> opened = OpenRocksDbStore(dir, options);
  EXPECT_TRUE(opened.ok()) << opened.status();
  return opened.ok() ? *std::move(opened) : nullptr;
}

// +n on `key` of kTotals, which the store may keep.
WriteBatch Increment(absl::string_view key, int64_t n = 1) {
  WriteBatch b(P());
  b.AddCounter(Table::kTotals, key, Cell(n));
  b.AllowDeferredApply();
  return b;
}

class RocksDbSubmitTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = OpenAt(dir_.path()); }

  // The count of `key` as another thread reads it; nullopt when absent.
  std::optional<int64_t> CountElsewhere(Store& store, absl::string_view key) {
    std::optional<int64_t> out;
    std::thread reader([&] { out = Count(store, key); });
    reader.join();
    return out;
  }
  std::optional<int64_t> CountElsewhere(absl::string_view key) {
    return CountElsewhere(*store_, key);
  }

  // The count of `key` as this thread reads it; nullopt when absent.
  static std::optional<int64_t> Count(Store& store, absl::string_view key) {
    absl::StatusOr<CounterCell> cell = store.GetCounter(P(), Table::kTotals, key);
    if (absl::IsNotFound(cell.status())) return std::nullopt;
    EXPECT_TRUE(cell.ok()) << cell.status();
    return cell.ok() ? std::optional<int64_t>(cell->count) : std::nullopt;
  }

  bool PendingElsewhere() {
    bool pending = true;
    std::thread other([&] { pending = store_->WalFlushPending(); });
    other.join();
    return pending;
  }

  // Records the number of batches of every RocksDB write; fails them with `fail` (OK: none).
  void RecordWrites(absl::Status fail = absl::OkStatus()) {
    ASSERT_TRUE(SetWriteHookForTest(*store_, [this, fail](size_t batches) {
                  absl::MutexLock lock(&mu_);
                  writes_.push_back(batches);
                  return fail;
                }).ok());
  }
  std::vector<size_t> Writes() {
    absl::MutexLock lock(&mu_);
    return writes_;
  }

  test::ScopedTempDir dir_;
  std::unique_ptr<Store> store_;
  absl::Mutex mu_;
  std::vector<size_t> writes_ ABSL_GUARDED_BY(mu_);
};

TEST_F(RocksDbSubmitTest, KeptIncrementsAreAppliedTogetherAtTheThreadsFlush) {
  RecordWrites();
  {
    DeferWalFlush defer;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->Submit(Increment("hot")).ok());
    ASSERT_TRUE(store_->Submit(Increment("cold", 7)).ok());
    EXPECT_TRUE(store_->WalFlushPending());
    EXPECT_FALSE(PendingElsewhere());                // another thread has nothing to flush for them
    EXPECT_EQ(CountElsewhere("hot"), std::nullopt);  // nor does it see them
    EXPECT_TRUE(Writes().empty());
    ASSERT_TRUE(store_->FlushWal().ok());
    EXPECT_FALSE(store_->WalFlushPending());
  }
  EXPECT_EQ(CountElsewhere("hot"), 5);
  EXPECT_EQ(CountElsewhere("cold"), 7);
  // One RocksDB write carried the six batches, and the five increments of "hot" were summed.
  EXPECT_EQ(Writes(), std::vector<size_t>{6});
  EXPECT_EQ(*MergeOperandsForTest(*store_, Table::kTotals, "hot"), 1);
}

TEST_F(RocksDbSubmitTest, TheSubmittingThreadReadsItsOwnKeptWrites) {
  DeferWalFlush defer;
  ASSERT_TRUE(store_->Submit(Increment("a", 2)).ok());
  EXPECT_EQ(Count(*store_, "a"), 2);  // Get applies them first
  EXPECT_EQ(CountElsewhere("a"), 2);  // applied: visible, though its WAL record is not flushed
  EXPECT_TRUE(store_->WalFlushPending());

  ASSERT_TRUE(store_->Submit(Increment("a", 3)).ok());
  std::vector<absl::StatusOr<CounterCell>> got =
      store_->MultiGetCounters(P(), Table::kTotals, {"a"});
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(got[0].ok()) << got[0].status();
  EXPECT_EQ(got[0]->count, 5);

  ASSERT_TRUE(store_->Submit(Increment("b", 1)).ok());
  std::vector<std::string> scanned;
  ASSERT_TRUE(store_
                  ->Scan(P(), Table::kTotals, ScanRange{},
                         [&](absl::string_view k, absl::string_view) {
                           scanned.emplace_back(k);
                           return true;
                         })
                  .ok());
  EXPECT_EQ(scanned, (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(store_->FlushWal().ok());
}

TEST_F(RocksDbSubmitTest, WritesOfOneThreadApplyInTheOrderItMadeThem) {
  DeferWalFlush defer;
  ASSERT_TRUE(store_->Submit(Increment("k", 3)).ok());
  WriteBatch put(P());  // not kept: applies the kept increment first, then itself
  put.Put(Table::kTotals, "k", EncodeCounterCell(Cell(10)));
  ASSERT_TRUE(store_->Write(put).ok());
  EXPECT_EQ(CountElsewhere("k"), 10);  // 3 then 10, not 10 then 3
  ASSERT_TRUE(store_->Submit(Increment("k", 1)).ok());
  WriteBatch del(P());
  del.Delete(Table::kTotals, "k");
  ASSERT_TRUE(store_->Write(del).ok());
  EXPECT_EQ(CountElsewhere("k"), std::nullopt);
  ASSERT_TRUE(store_->FlushWal().ok());
  EXPECT_EQ(Count(*store_, "k"), std::nullopt);
}

TEST_F(RocksDbSubmitTest, OnlyMarkedPlainIncrementsOnAReplyingThreadAreKept) {
  {
    DeferWalFlush defer;
    WriteBatch unmarked(P());
    unmarked.AddCounter(Table::kTotals, "unmarked", Cell(1));
    ASSERT_TRUE(store_->Submit(std::move(unmarked)).ok());

    WriteBatch conditional = Increment("conditional");
    conditional.Expect(Table::kMeta, "absent", std::nullopt);
    ASSERT_TRUE(store_->Submit(std::move(conditional)).ok());

    WriteBatch with_put = Increment("with_put");
    with_put.Put(Table::kMeta, "m", "v");
    ASSERT_TRUE(store_->Submit(std::move(with_put)).ok());

    EXPECT_EQ(CountElsewhere("unmarked"), 1);
    EXPECT_EQ(CountElsewhere("conditional"), 1);
    EXPECT_EQ(CountElsewhere("with_put"), 1);
    ASSERT_TRUE(store_->FlushWal().ok());
  }
  ASSERT_TRUE(store_->Submit(Increment("outside_the_scope")).ok());
  EXPECT_EQ(CountElsewhere("outside_the_scope"), 1);
  EXPECT_FALSE(store_->WalFlushPending());  // and flushed before it returned

  // --sync=always never keeps: each write is fsynced before it returns.
  test::ScopedTempDir always_dir;
  std::unique_ptr<Store> always = OpenAt(always_dir.path(), SyncMode::kAlways);
  ASSERT_NE(always, nullptr);
  DeferWalFlush defer;
  ASSERT_TRUE(always->Submit(Increment("synced")).ok());
  EXPECT_EQ(CountElsewhere(*always, "synced"), 1);
  EXPECT_FALSE(always->WalFlushPending());
}

TEST_F(RocksDbSubmitTest, InvalidOpsAreRefusedAtOnceAndNothingIsKept) {
  DeferWalFlush defer;
  WriteBatch bad(P());
  bad.AddCounter(Table::kMeta, "not_a_counter_table", Cell(1));
  bad.AllowDeferredApply();
  absl::Status s = store_->Submit(std::move(bad));
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_FALSE(store_->WalFlushPending());
}

TEST_F(RocksDbSubmitTest, AFailedApplyFailsTheCallThatAppliedAndTheNextFlushOnce) {
  RecordWrites(absl::UnavailableError("disk on fire"));
  DeferWalFlush defer;
  ASSERT_TRUE(store_->Submit(Increment("a")).ok());
  // A read applies them: it fails, and so does the thread's next flush (its held replies).
  absl::StatusOr<CounterCell> read = store_->GetCounter(P(), Table::kTotals, "a");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kUnavailable) << read.status();
  EXPECT_TRUE(store_->WalFlushPending());
  EXPECT_EQ(store_->FlushWal().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store_->FlushWal().ok());  // reported once
  EXPECT_FALSE(store_->WalFlushPending());

  // Applied by the flush itself.
  ASSERT_TRUE(store_->Submit(Increment("b")).ok());
  EXPECT_EQ(store_->FlushWal().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store_->FlushWal().ok());

  ASSERT_TRUE(SetWriteHookForTest(*store_, nullptr).ok());
  EXPECT_EQ(CountElsewhere("a"), std::nullopt);  // nothing of the failed batches was applied
  EXPECT_EQ(CountElsewhere("b"), std::nullopt);
}

TEST_F(RocksDbSubmitTest, AThreadKeepsAtMostkMaxKeptBatches) {
  DeferWalFlush defer;
  for (size_t i = 1; i < kMaxKeptBatches; ++i) ASSERT_TRUE(store_->Submit(Increment("k")).ok());
  EXPECT_EQ(CountElsewhere("k"), std::nullopt);
  ASSERT_TRUE(store_->Submit(Increment("k")).ok());  // the last one applies them all
  EXPECT_EQ(CountElsewhere("k"), static_cast<int64_t>(kMaxKeptBatches));
  ASSERT_TRUE(store_->FlushWal().ok());
}

TEST_F(RocksDbSubmitTest, ClosingDropsTheThreadsKeptBatchesWhichNoOtherStoreTakes) {
  {
    DeferWalFlush defer;
    ASSERT_TRUE(store_->Submit(Increment("never_flushed")).ok());
    ASSERT_TRUE(CloseForTest(*store_).ok());
    store_.reset();  // never acknowledged: lost, as in a crash
    store_ = OpenAt(dir_.path());
    ASSERT_NE(store_, nullptr);
    EXPECT_FALSE(store_->WalFlushPending());  // the old store's batches are not this one's
    EXPECT_EQ(Count(*store_, "never_flushed"), std::nullopt);
  }
}

}  // namespace
}  // namespace countd::storage
