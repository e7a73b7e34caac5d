// Tests of the RocksDB store's group writer (RocksDbStore::Write): concurrent writes queue and
// one leader writes each group as one RocksDB batch. The test hook (SetWriteHookForTest) holds
// the first write so that the next ones queue in a known order, then lets them go as one group.
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "storage/counter_cell.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/testing/counter_cells.h"
#include "tests/testing/temp_dir.h"

namespace countd::storage {
namespace {

const Partition& P() {
  static const Partition* const p = new Partition("p");
  return *p;
}

using test::Cell;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

std::unique_ptr<Store> OpenAt(const std::string& dir) {
  StoreOptions options;
  options.block_cache_bytes = size_t{8} << 20;
  options.memtable_bytes = size_t{8} << 20;
  absl::StatusOr<std::unique_ptr<Store>> opened = OpenRocksDbStore(dir, options);
  EXPECT_TRUE(opened.ok()) << opened.status();
  return opened.ok() ? *std::move(opened) : nullptr;
}

// Holds the first RocksDB write in the hook until Release(); records the batch count of every
// write; answers `fail_from_second` for the writes after the first.
class Gate {
 public:
  explicit Gate(Store* store, absl::Status fail_from_second = absl::OkStatus())
      : store_(store), fail_(std::move(fail_from_second)) {
    EXPECT_TRUE(SetWriteHookForTest(*store_, [this](size_t batches) {
                  bool first;
                  {
                    absl::MutexLock lock(&mu_);
                    first = counts_.empty();
                    counts_.push_back(batches);
                  }
                  if (first) {
                    entered_.Notify();
                    release_.WaitForNotification();
                    return absl::OkStatus();
                  }
                  return fail_;
                }).ok());
  }
  ~Gate() {
    if (!release_.HasBeenNotified()) release_.Notify();
    for (std::thread& t : threads_) t.join();
    EXPECT_TRUE(SetWriteHookForTest(*store_, nullptr).ok());
  }

  // Starts a write on its own thread and returns once it waits in the queue (or, for the
  // first, once it holds the writer). `*out` gets its answer.
  void Start(WriteBatch batch, absl::Status* out) {
    const bool first = threads_.empty();
    const size_t queued_before = first ? 0 : Queued();
    threads_.emplace_back([this, b = std::move(batch), out] { *out = store_->Write(b); });
    if (first) {
      entered_.WaitForNotification();
      return;
    }
    while (Queued() != queued_before + 1) absl::SleepFor(absl::Milliseconds(1));
  }

  size_t Queued() {
    absl::StatusOr<size_t> n = QueuedWritesForTest(*store_);
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : 0;
  }

  // Lets every write go and waits for all answers; returns the batch count of each RocksDB
  // write, in order.
  std::vector<size_t> ReleaseAndJoin() {
    release_.Notify();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    absl::MutexLock lock(&mu_);
    return counts_;
  }

 private:
  Store* store_;
  absl::Status fail_;
  absl::Notification entered_;
  absl::Notification release_;
  absl::Mutex mu_;
  std::vector<size_t> counts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

WriteBatch PutBatch(absl::string_view key, absl::string_view value) {
  WriteBatch b(P());
  b.Put(Table::kMeta, key, value);
  return b;
}

WriteBatch AddBatch(absl::string_view key, const CounterCell& delta) {
  WriteBatch b(P());
  b.AddCounter(Table::kTotals, key, delta);
  return b;
}

class RocksDbWriterTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = OpenAt(dir_.path()); }

  std::optional<std::string> Value(absl::string_view key) {
    absl::StatusOr<std::string> v = store_->Get(P(), Table::kMeta, key);
    if (absl::IsNotFound(v.status())) return std::nullopt;
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? std::optional<std::string>(*v) : std::nullopt;
  }

  absl::StatusOr<CounterCell> Counter(Store& store, absl::string_view key) {
    return store.GetCounter(P(), Table::kTotals, key);
  }

  test::ScopedTempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(RocksDbWriterTest, FailedPreconditionLeavesOutOnlyItsBatch) {
  ASSERT_TRUE(store_->Write(PutBatch("k2", "old")).ok());
  absl::Status a, b, c, d, e;
  std::vector<size_t> writes;
  {
    Gate gate(store_.get());
    gate.Start(PutBatch("a", "1"), &a);
    WriteBatch wb(P());  // holds: k1 absent
    wb.Expect(Table::kMeta, "k1", std::nullopt);
    wb.Put(Table::kMeta, "k1", "b");
    gate.Start(std::move(wb), &b);
    WriteBatch wc(P());  // fails: k2 is "old"
    wc.Expect(Table::kMeta, "k2", std::string("x"));
    wc.Put(Table::kMeta, "k3", "c");
    wc.AddCounter(Table::kTotals, "n", Cell(5));
    gate.Start(std::move(wc), &c);
    gate.Start(AddBatch("n", Cell(1)), &d);
    WriteBatch we(P());  // fails: the batch before it in the group wrote k1
    we.Expect(Table::kMeta, "k1", std::nullopt);
    we.Put(Table::kMeta, "k1", "e");
    gate.Start(std::move(we), &e);
    writes = gate.ReleaseAndJoin();
  }
  EXPECT_TRUE(a.ok()) << a;
  EXPECT_TRUE(b.ok()) << b;
  EXPECT_EQ(c.code(), absl::StatusCode::kAborted) << c;
  EXPECT_TRUE(d.ok()) << d;
  EXPECT_EQ(e.code(), absl::StatusCode::kAborted) << e;
  // The held write alone, then B and D together (committed before E's precondition is read).
  EXPECT_EQ(writes, (std::vector<size_t>{1, 2}));
  EXPECT_EQ(Value("a"), "1");
  EXPECT_EQ(Value("k1"), "b");
  EXPECT_EQ(Value("k2"), "old");
  EXPECT_EQ(Value("k3"), std::nullopt);
  absl::StatusOr<CounterCell> n = Counter(*store_, "n");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->count, 1);
}

TEST_F(RocksDbWriterTest, InvalidOpFailsOnlyItsBatch) {
  absl::Status a, bad, good;
  {
    Gate gate(store_.get());
    gate.Start(AddBatch("n", Cell(1)), &a);
    WriteBatch wb(P());
    wb.Put(Table::kMeta, "never", "x");
    wb.AddCounter(Table::kMeta, "m", Cell(1));  // kMeta holds no counters
    gate.Start(std::move(wb), &bad);
    gate.Start(AddBatch("n", Cell(2)), &good);
    EXPECT_EQ(gate.ReleaseAndJoin(), (std::vector<size_t>{1, 1}));
  }
  EXPECT_TRUE(a.ok()) << a;
  EXPECT_EQ(bad.code(), absl::StatusCode::kInternal) << bad;
  EXPECT_TRUE(good.ok()) << good;
  EXPECT_EQ(Value("never"), std::nullopt);
  EXPECT_EQ(Counter(*store_, "n")->count, 3);
}

// Increments of one key in one group are summed into fewer RocksDB operands; the result equals
// the same deltas written one Write at a time, also where counts saturate and across puts and
// deletes of the key.
TEST_F(RocksDbWriterTest, FoldedIncrementsEqualSeparateOnes) {
  test::ScopedTempDir other_dir;
  std::unique_ptr<Store> separate = OpenAt(other_dir.path());
  ASSERT_NE(separate, nullptr);

  // (key, op): op "put"/"del" on kTotals, or a delta.
  struct Step {
    std::string key;
    std::optional<CounterCell> delta;  // nullopt: delete the key
  };
  std::vector<Step> steps = {
      {"x", Cell(kMax - 3, 7, 100)}, {"x", Cell(2, 1, 50)},  {"x", Cell(5, -3, 300)},
      {"x", Cell(-1, 0, 20)},        {"x", Cell(-4, 2, 10)}, {"x", Cell(0, 0, 400)},
      {"y", Cell(kMin + 1, 0, 1)},   {"y", Cell(-5, 0, 2)},  {"y", Cell(kMax, 0, 3)},
      {"z", Cell(3, 1000000, 5)},    {"z", std::nullopt},    {"z", Cell(4, 1, 6)},
      {"z", Cell(6, 2, 7)},          {"w", Cell(1, 0, 1)},   {"w", Cell(kMax, 0, 1)},
      {"w", Cell(1, 0, 1)},
  };
  auto batch_of = [](const Step& s) {
    WriteBatch b(P());
    if (s.delta.has_value()) {
      b.AddCounter(Table::kTotals, s.key, *s.delta);
    } else {
      b.Delete(Table::kTotals, s.key);
    }
    return b;
  };
  for (const Step& s : steps) ASSERT_TRUE(separate->Write(batch_of(s)).ok());

  std::vector<absl::Status> answers(steps.size() + 1);
  std::vector<size_t> writes;
  {
    Gate gate(store_.get());
    gate.Start(PutBatch("hold", "1"), &answers[0]);
    for (size_t i = 0; i < steps.size(); ++i) gate.Start(batch_of(steps[i]), &answers[i + 1]);
    writes = gate.ReleaseAndJoin();
  }
  for (const absl::Status& s : answers) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(writes, (std::vector<size_t>{1, steps.size()}));
  for (const char* key : {"x", "y", "z", "w"}) {
    absl::StatusOr<CounterCell> grouped = Counter(*store_, key);
    absl::StatusOr<CounterCell> one_by_one = Counter(*separate, key);
    ASSERT_TRUE(grouped.ok()) << key << ": " << grouped.status();
    ASSERT_TRUE(one_by_one.ok()) << key << ": " << one_by_one.status();
    EXPECT_EQ(*grouped, *one_by_one)
        << key << ": " << grouped->count << " vs " << one_by_one->count;
  }
  // And both equal the in-order fold of AddCells.
  CounterCell x;
  for (const Step& s : steps) {
    if (s.key == "x") x = AddCells(x, *s.delta);
  }
  EXPECT_EQ(*Counter(*store_, "x"), x);
  EXPECT_EQ(Counter(*store_, "x")->count, kMax - 5);
}

// The writer hands a group to RocksDB in key order per table; the ops of one key must keep their
// order through that. One batch interleaving keys (out of key order) and two tables, with puts,
// deletes and increments of the same keys, ends as the same ops written one by one.
TEST_F(RocksDbWriterTest, KeyOrderKeepsEachKeysOpsInOrder) {
  test::ScopedTempDir other_dir;
  std::unique_ptr<Store> separate = OpenAt(other_dir.path());
  ASSERT_NE(separate, nullptr);
  std::vector<WriteBatch> steps;
  auto step = [&](auto&& fill) {
    steps.emplace_back(P());
    fill(steps.back());
  };
  step([](WriteBatch& b) { b.AddCounter(Table::kTotals, "m", Cell(5)); });
  step([](WriteBatch& b) { b.Put(Table::kMeta, "m", "first"); });
  step([](WriteBatch& b) { b.AddCounter(Table::kTotals, "a", Cell(1)); });
  step([](WriteBatch& b) { b.Delete(Table::kTotals, "m"); });
  step([](WriteBatch& b) { b.Put(Table::kMeta, "b", "one"); });
  step([](WriteBatch& b) { b.AddCounter(Table::kTotals, "m", Cell(7)); });
  step([](WriteBatch& b) { b.Delete(Table::kMeta, "m"); });
  step([](WriteBatch& b) { b.AddCounter(Table::kTotals, "a", Cell(2)); });
  step([](WriteBatch& b) { b.Put(Table::kMeta, "b", "two"); });
  step([](WriteBatch& b) { b.Put(Table::kMeta, "m", "last"); });
  step([](WriteBatch& b) { b.Delete(Table::kTotals, "a"); });
  step([](WriteBatch& b) { b.AddCounter(Table::kTotals, "a", Cell(40)); });
  WriteBatch all(P());
  for (const WriteBatch& b : steps) {
    ASSERT_TRUE(separate->Write(b).ok());
    for (const WriteBatch::Op& op : b.ops()) {
      switch (op.type) {
        case WriteBatch::OpType::kPut: all.Put(op.table, op.key, op.value); break;
        case WriteBatch::OpType::kDelete: all.Delete(op.table, op.key); break;
        case WriteBatch::OpType::kAddCounter: {
          CounterCell c;
          ASSERT_TRUE(DecodeCounterCell(op.value, &c));
          all.AddCounter(op.table, op.key, c);
          break;
        }
        case WriteBatch::OpType::kAddSignals:
          all.AddSignals(op.key, op.month, op.day, op.delta);
          break;
      }
    }
  }
  ASSERT_TRUE(store_->Write(all).ok());
  for (const char* key : {"a", "m"}) {
    EXPECT_EQ(*Counter(*store_, key), *Counter(*separate, key)) << key;
  }
  EXPECT_EQ(Counter(*store_, "a")->count, 40);
  EXPECT_EQ(Counter(*store_, "m")->count, 7);
  EXPECT_EQ(Value("m"), std::optional<std::string>("last"));
  EXPECT_EQ(Value("b"), std::optional<std::string>("two"));
}

TEST_F(RocksDbWriterTest, ManyIncrementsOfOneKeyInOneBatch) {
  WriteBatch b(P());
  CounterCell want;
  for (int i = 0; i < 300; ++i) {
    b.AddCounter(Table::kTotals, "hot", Cell(1, i, i));
    b.AddCounter(Table::kTotals, absl::StrCat("k", i % 7), Cell(2));
    want = AddCells(want, Cell(1, i, i));
  }
  ASSERT_TRUE(store_->Write(b).ok());
  EXPECT_EQ(*Counter(*store_, "hot"), want);
  EXPECT_EQ(Counter(*store_, "k0")->count, 2 * 43);
  EXPECT_EQ(Counter(*store_, "k6")->count, 2 * 42);
}

TEST_F(RocksDbWriterTest, FailedWriteReachesEveryCallerOfItsGroup) {
  absl::Status a, b, c, d;
  {
    Gate gate(store_.get(), absl::UnavailableError("storage: write: injected"));
    gate.Start(AddBatch("n", Cell(1)), &a);
    gate.Start(AddBatch("n", Cell(10)), &b);
    gate.Start(PutBatch("k", "v"), &c);
    WriteBatch wd(P());
    wd.Expect(Table::kMeta, "k", std::nullopt);
    wd.AddCounter(Table::kTotals, "m", Cell(1));
    gate.Start(std::move(wd), &d);
    // D expects the key C puts: B and C are written (and fail) first, then D reads k (still
    // absent), holds, and its own write fails too.
    EXPECT_EQ(gate.ReleaseAndJoin(), (std::vector<size_t>{1, 2, 1}));
  }
  EXPECT_TRUE(a.ok()) << a;
  for (const absl::Status* s : {&b, &c, &d}) {
    EXPECT_EQ(s->code(), absl::StatusCode::kUnavailable) << *s;
    EXPECT_EQ(s->message(), "storage: write: injected");
  }
  EXPECT_EQ(Counter(*store_, "n")->count, 1);
  EXPECT_EQ(Value("k"), std::nullopt);
  EXPECT_TRUE(absl::IsNotFound(Counter(*store_, "m").status()));
  // The store keeps writing afterwards.
  ASSERT_TRUE(store_->Write(AddBatch("n", Cell(2))).ok());
  EXPECT_EQ(Counter(*store_, "n")->count, 3);
}

// Closing (as the destructor does) answers every queued write with its real result, refuses
// writes that come after, and the answered writes are on disk.
TEST_F(RocksDbWriterTest, CloseWhileWritesQueue) {
  absl::Status a, b, c, late;
  std::thread closer;
  {
    Gate gate(store_.get());
    gate.Start(AddBatch("n", Cell(1)), &a);
    gate.Start(AddBatch("n", Cell(2)), &b);
    gate.Start(PutBatch("k", "v"), &c);
    closer = std::thread([this] { EXPECT_TRUE(CloseForTest(*store_).ok()); });
    while (!*ClosingForTest(*store_)) absl::SleepFor(absl::Milliseconds(1));
    late = store_->Write(AddBatch("n", Cell(100)));
    EXPECT_EQ(gate.ReleaseAndJoin(), (std::vector<size_t>{1, 2}));
    closer.join();
  }
  EXPECT_TRUE(a.ok()) << a;
  EXPECT_TRUE(b.ok()) << b;
  EXPECT_TRUE(c.ok()) << c;
  EXPECT_EQ(late.code(), absl::StatusCode::kUnavailable) << late;
  store_.reset();
  store_ = OpenAt(dir_.path());
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Counter(*store_, "n")->count, 3);
  EXPECT_EQ(Value("k"), "v");
}

// A counter incremented one Write at a time keeps few operands for reads to fold: the writer
// settles its value every kMaxSuccessiveMerges operands, and the sum stays exact.
TEST_F(RocksDbWriterTest, HotCounterOperandsStayBounded) {
  CounterCell want;
  for (int i = 0; i < 1000; ++i) {
    const CounterCell delta = Cell(1 + i % 3, i, 1000 - i);
    ASSERT_TRUE(store_->Write(AddBatch("hot", delta)).ok());
    ASSERT_TRUE(store_->Write(AddBatch(absl::StrCat("cold", i), Cell(1))).ok());
    want = AddCells(want, delta);
    absl::StatusOr<int> n = MergeOperandsForTest(*store_, Table::kTotals, "hot");
    ASSERT_TRUE(n.ok()) << n.status();
    // The settled value plus the operands since.
    ASSERT_LE(*n, static_cast<int>(kMaxSuccessiveMerges) + 1) << "after " << i + 1 << " writes";
  }
  EXPECT_EQ(*Counter(*store_, "hot"), want);
  // A cold key is written once: one operand.
  EXPECT_EQ(*MergeOperandsForTest(*store_, Table::kTotals, "cold7"), 1);
  // After a reopen (WAL replayed) the sum is the same.
  store_.reset();
  store_ = OpenAt(dir_.path());
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(*Counter(*store_, "hot"), want);
}

// Many threads at once, conditional and not: every increment counts once, and conditional
// read-modify-write of one key (retried on ABORTED) loses no update.
TEST_F(RocksDbWriterTest, ConcurrentWritersLoseNothing) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteBatch b(P());
        b.AddCounter(Table::kTotals, "all", Cell(1));
        b.AddCounter(Table::kTotals, absl::StrCat("t", t), Cell(1));
        ASSERT_TRUE(store_->Write(b).ok());
        if (i % 10 == 0) {
          for (;;) {  // counter kept as a decimal string under a precondition
            std::optional<std::string> old = Value("cas");
            WriteBatch c(P());
            c.Expect(Table::kMeta, "cas", old);
            c.Put(Table::kMeta, "cas", std::to_string(old ? std::stoi(*old) + 1 : 1));
            absl::Status s = store_->Write(c);
            if (s.ok()) break;
            ASSERT_EQ(s.code(), absl::StatusCode::kAborted) << s;
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(Counter(*store_, "all")->count, kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(Counter(*store_, absl::StrCat("t", t))->count, kPerThread);
  }
  EXPECT_EQ(Value("cas"), std::to_string(kThreads * kPerThread / 10));
}

// --sync=none with deferred WAL flushes: a write on a DeferWalFlush thread leaves its WAL record
// in memory until FlushWal; every other write flushes before it returns.
TEST_F(RocksDbWriterTest, WritesInADeferWalFlushScopeWaitForFlushWal) {
  ASSERT_TRUE(store_->Write(PutBatch("plain", "1")).ok());
  EXPECT_FALSE(store_->WalFlushPending());
  {
    DeferWalFlush defer;
    ASSERT_TRUE(store_->Write(PutBatch("deferred", "1")).ok());
    EXPECT_TRUE(store_->WalFlushPending());
    EXPECT_EQ(Value("deferred"), std::optional<std::string>("1"));  // visible in this process
  }
  ASSERT_TRUE(store_->FlushWal().ok());
  EXPECT_FALSE(store_->WalFlushPending());
  {
    DeferWalFlush defer;
    ASSERT_TRUE(store_->Write(PutBatch("deferred2", "1")).ok());
  }
  ASSERT_TRUE(store_->Write(PutBatch("plain2", "1")).ok());  // another thread's write flushes all
  EXPECT_FALSE(store_->WalFlushPending());
}

// What a process death keeps: the WAL up to the last flush. A child process writes one record
// and flushes, writes another without flushing, and dies without any cleanup.
TEST(RocksDbWalFlushDeathTest, AProcessDeathLosesOnlyWhatWasNotFlushed) {
  // The default "fast" style forks without exec, so the child writes into this test's
  // directory (ctest runs every test in a process of its own: no RocksDB threads exist yet).
  test::ScopedTempDir dir;
  const std::string path = dir.path();
  EXPECT_EXIT(
      {
        std::unique_ptr<Store> store = OpenAt(path);
        DeferWalFlush defer;
        if (store == nullptr || !store->Write(PutBatch("flushed", "1")).ok() ||
            !store->FlushWal().ok() || !store->Write(PutBatch("unflushed", "1")).ok() ||
            !store->WalFlushPending()) {
          _exit(1);
        }
        _exit(0);  // no destructor: the WAL buffer is lost, as with kill -9
      },
      ::testing::ExitedWithCode(0), "");
  std::unique_ptr<Store> reopened = OpenAt(path);
  ASSERT_NE(reopened, nullptr);
  EXPECT_TRUE(reopened->Get(P(), Table::kMeta, "flushed").ok());
  EXPECT_TRUE(absl::IsNotFound(reopened->Get(P(), Table::kMeta, "unflushed").status()));
}

}  // namespace
}  // namespace countd::storage
