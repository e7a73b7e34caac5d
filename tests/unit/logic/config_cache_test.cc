// Tests of ConfigVersionCache / ConfigCache (server/logic/config_cache.h): several caches over
// one in-memory store that says it is shared (each cache stands for one countd process on a
// Redis Cluster), a fake clock for the staleness bound, and the RocksDB case (one process: never
// re-checked). The cached value is one integer stored under one key.
#include "server/logic/config_cache.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logic/request_log.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/testing/failing_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/in_memory_store.h"

namespace countd::logic {
namespace {

using storage::StoreKind;
using storage::Table;
using Op = test::FailingStore::Op;

constexpr char kValueKey[] = "value";

class Process {
 public:
  Process(storage::Store* store, const storage::Clock* clock, absl::Duration ttl)
      : store_(store),
        cache_(
            store, ConfigCacheOptions{clock, ttl},
            [](const std::string& name) {
              EXPECT_EQ(name, "u");
              return Unit();
            },
            [this](const std::string&, const int64_t*) { return Load(); }) {}

  static ConfigUnit Unit() {
    return ConfigUnit{storage::Partition("p"), "version", "the test configuration"};
  }

  absl::StatusOr<int64_t> Get() {
    absl::StatusOr<std::shared_ptr<const int64_t>> v = cache_.Get("u");
    if (!v.ok()) return v.status();
    return **v;
  }

  // Adds `delta` to the stored value through the cache.
  absl::Status Add(int64_t delta) {
    return cache_.Update(
        "u",
        [&](const int64_t& current,
            storage::WriteBatch* batch) -> absl::StatusOr<std::shared_ptr<const int64_t>> {
          ++changes_run_;
          if (during_change_) during_change_();
          batch->Put(Table::kMeta, kValueKey, absl::StrCat(current + delta));
          return std::make_shared<const int64_t>(current + delta);
        });
  }

  int loads() const { return loads_.load(); }
  int changes_run() const { return changes_run_.load(); }
  void set_during_load(std::function<void()> f) { during_load_ = std::move(f); }
  void set_during_change(std::function<void()> f) { during_change_ = std::move(f); }
  bool revalidates() const { return cache_.revalidates(); }

 private:
  absl::StatusOr<std::shared_ptr<const int64_t>> Load() {
    ++loads_;
    if (during_load_) during_load_();
    absl::StatusOr<std::string> raw = store_->Get(Unit().partition, Table::kMeta, kValueKey);
    int64_t v = 0;
    if (raw.ok()) {
      if (!absl::SimpleAtoi(*raw, &v)) return absl::DataLossError("value");
    } else if (!absl::IsNotFound(raw.status())) {
      return raw.status();
    }
    return std::make_shared<const int64_t>(v);
  }

  storage::Store* store_;
  ConfigCache<int64_t> cache_;
  std::atomic<int> loads_{0};
  std::atomic<int> changes_run_{0};
  std::function<void()> during_load_;
  std::function<void()> during_change_;
};

class ConfigCacheTest : public ::testing::Test {
 protected:
  ConfigCacheTest()
      : clock_(absl::FromUnixSeconds(1'700'000'000)),
        shared_(StoreKind::kRedisCluster),
        failing_(&shared_) {}

  // The version record as stored (0 when absent).
  int64_t StoredVersion(storage::Store* store) {
    absl::StatusOr<std::string> raw =
        store->Get(Process::Unit().partition, Table::kMeta, Process::Unit().version_key);
    if (absl::IsNotFound(raw.status())) return 0;
    EXPECT_TRUE(raw.ok()) << raw.status();
    return raw.ok() ? storage::keys::GetBigEndian64(*raw) : -1;
  }

  test::FakeClock clock_;
  test::InMemoryStore shared_;
  test::FailingStore failing_;
};

TEST_F(ConfigCacheTest, AChangeIsSeenByAnotherProcessWithinTheTtlAndAtOnceByItsAuthor) {
  Process a(&shared_, &clock_, absl::Seconds(1));
  Process b(&shared_, &clock_, absl::Seconds(1));
  ASSERT_TRUE(a.revalidates());
  EXPECT_EQ(b.Get().value_or(-1), 0);
  ASSERT_TRUE(a.Add(5).ok());
  EXPECT_EQ(a.Get().value_or(-1), 5);  // read-your-writes
  EXPECT_EQ(b.Get().value_or(-1), 0);  // validated 0 s ago: served from memory
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_EQ(b.Get().value_or(-1), 0);
  clock_.Advance(absl::Milliseconds(1));  // the bound: checked again, and reloaded
  EXPECT_EQ(b.Get().value_or(-1), 5);
  EXPECT_EQ(StoredVersion(&shared_), 1);
}

TEST_F(ConfigCacheTest, ZeroTtlChecksEveryRead) {
  Process a(&shared_, &clock_, absl::Seconds(1));
  Process b(&shared_, &clock_, absl::ZeroDuration());
  EXPECT_EQ(b.Get().value_or(-1), 0);
  ASSERT_TRUE(a.Add(2).ok());
  EXPECT_EQ(b.Get().value_or(-1), 2);
}

TEST_F(ConfigCacheTest, ACheckIsOnePointReadAndReloadsOnlyWhenTheVersionMoved) {
  Process b(&failing_, &clock_, absl::Seconds(1));
  EXPECT_EQ(b.Get().value_or(-1), 0);
  EXPECT_EQ(b.loads(), 1);
  const int gets = failing_.forwarded(Op::kGet);
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(1));
    EXPECT_EQ(b.Get().value_or(-1), 0);
    EXPECT_EQ(b.Get().value_or(-1), 0);  // just validated: memory only
  }
  EXPECT_EQ(failing_.forwarded(Op::kGet) - gets, 5);
  EXPECT_EQ(b.loads(), 1);
}

TEST_F(ConfigCacheTest, OnAStoreOneProcessOwnsNothingIsCheckedAgainButChangesStillCount) {
  test::InMemoryStore own;  // kRocksDb
  test::FailingStore counted(&own);
  Process a(&counted, &clock_, absl::Seconds(1));
  ASSERT_FALSE(a.revalidates());
  EXPECT_EQ(a.Get().value_or(-1), 0);
  ASSERT_TRUE(a.Add(1).ok());
  const int gets = counted.forwarded(Op::kGet);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(a.Get().value_or(-1), 1);
  ASSERT_TRUE(a.Add(1).ok());  // no read before a change either
  EXPECT_EQ(a.Get().value_or(-1), 2);
  EXPECT_EQ(counted.forwarded(Op::kGet), gets);
  EXPECT_EQ(StoredVersion(&own), 2);
}

TEST_F(ConfigCacheTest, AChangeStartsFromTheStoredValueNotAStaleCopy) {
  Process a(&shared_, &clock_, absl::Hours(1));
  Process b(&shared_, &clock_, absl::Hours(1));
  EXPECT_EQ(a.Get().value_or(-1), 0);
  ASSERT_TRUE(b.Add(3).ok());
  ASSERT_TRUE(a.Add(1).ok());  // a's copy says 0; the change reads the version first
  EXPECT_EQ(a.Get().value_or(-1), 4);
  EXPECT_EQ(a.changes_run(), 1);
}

// Four threads on two processes race to add. A change that loses kMaxWriteAttempts races in a
// row is ABORTED and writes nothing (documented; its caller retries, as a client retries
// ABORTED). How often that happens is up to the scheduler, so the threads retry too. What must
// hold: every add ends OK, each is in the store exactly once, and no aborted attempt left
// anything behind (the total would be over).
TEST_F(ConfigCacheTest, ConcurrentChangesFromTwoProcessesAreAllKept) {
  Process a(&shared_, &clock_, absl::Seconds(1));
  Process b(&shared_, &clock_, absl::Seconds(1));
  constexpr int kThreads = 4;
  constexpr int kAdds = 50;
  std::atomic<int> aborted{0};
  absl::Mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    Process* p = t % 2 == 0 ? &a : &b;
    threads.emplace_back([p, &aborted, &mu, &errors] {
      for (int i = 0; i < kAdds; ++i) {
        absl::Status s = p->Add(1);
        for (int retry = 0; absl::IsAborted(s) && retry < 1000; ++retry) {
          ++aborted;
          s = p->Add(1);
        }
        if (!s.ok()) {
          absl::MutexLock lock(&mu);
          errors.push_back(s.ToString());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  RecordProperty("aborted_attempts", aborted.load());
  Process c(&shared_, &clock_, absl::Seconds(1));
  EXPECT_EQ(c.Get().value_or(-1), kThreads * kAdds);
  EXPECT_EQ(StoredVersion(&shared_), kThreads * kAdds);
  // Some attempts lost the race and ran again: the retries are what kept every add.
  EXPECT_GE(a.changes_run() + b.changes_run(), kThreads * kAdds);
}

TEST_F(ConfigCacheTest, ConflictsPastTheAttemptLimitAreAbortedAndWriteNothing) {
  Process a(&shared_, &clock_, absl::Seconds(1));
  Process b(&shared_, &clock_, absl::Seconds(1));
  // Every attempt of a's change is overtaken by a change of b.
  a.set_during_change([&] { ASSERT_TRUE(b.Add(1).ok()); });
  absl::Status s = a.Add(100);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("the test configuration"));
  EXPECT_EQ(a.changes_run(), kMaxWriteAttempts);
  a.set_during_change(nullptr);
  EXPECT_EQ(a.Get().value_or(-1), kMaxWriteAttempts);
  EXPECT_EQ(StoredVersion(&shared_), kMaxWriteAttempts);
}

TEST_F(ConfigCacheTest, AChangeThatWritesNothingBumpsNothing) {
  ConfigCache<int64_t> cache(
      &shared_, ConfigCacheOptions{&clock_, absl::Seconds(1)},
      [](const std::string&) { return Process::Unit(); },
      [](const std::string&, const int64_t*) {
        return absl::StatusOr<std::shared_ptr<const int64_t>>(std::make_shared<const int64_t>(0));
      });
  absl::Status s = cache.Update("u", [](const int64_t& current, storage::WriteBatch*) {
    return absl::StatusOr<std::shared_ptr<const int64_t>>(
        std::make_shared<const int64_t>(current + 1));
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(StoredVersion(&shared_), 0);
  EXPECT_EQ(shared_.writes(), 0);
}

TEST_F(ConfigCacheTest, AFailedWriteChangesNeitherTheStoreNorTheCache) {
  Process a(&failing_, &clock_, absl::Seconds(1));
  ASSERT_TRUE(a.Add(1).ok());
  failing_.FailNextWrite();
  EXPECT_EQ(a.Add(1).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.Get().value_or(-1), 1);
  EXPECT_EQ(StoredVersion(&shared_), 1);
  ASSERT_TRUE(a.Add(1).ok());
  EXPECT_EQ(a.Get().value_or(-1), 2);
}

TEST_F(ConfigCacheTest, AFailedCheckIsAnErrorAndTheNextCheckRecovers) {
  Process a(&shared_, &clock_, absl::Seconds(1));
  Process b(&failing_, &clock_, absl::Seconds(1));
  EXPECT_EQ(b.Get().value_or(-1), 0);
  ASSERT_TRUE(a.Add(7).ok());
  clock_.Advance(absl::Seconds(1));
  failing_.FailNextGet();
  EXPECT_EQ(b.Get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(b.Get().value_or(-1), 7);
}

TEST_F(ConfigCacheTest, AnUnreadableVersionRecordIsDataLoss) {
  storage::WriteBatch batch(Process::Unit().partition);
  batch.Put(Table::kMeta, Process::Unit().version_key, "short");
  ASSERT_TRUE(shared_.Write(batch).ok());
  Process a(&shared_, &clock_, absl::Seconds(1));
  absl::StatusOr<int64_t> v = a.Get();
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(v.status().message()), ::testing::HasSubstr("the test configuration"));
}

TEST_F(ConfigCacheTest, ALoadThatAChangeOvertookIsReadAgain) {
  Process a(&shared_, &clock_, absl::Hours(1));
  Process b(&shared_, &clock_, absl::Hours(1));
  // The first load is overtaken once: it is read again at once, and the second read is kept.
  int overtake = 1;
  a.set_during_load([&] {
    if (overtake-- > 0) {
      ASSERT_TRUE(b.Add(1).ok());
    }
  });
  EXPECT_EQ(a.Get().value_or(-1), 1);
  EXPECT_EQ(a.loads(), 2);
  EXPECT_EQ(a.Get().value_or(-1), 1);
  EXPECT_EQ(a.loads(), 2);

  // Overtaken on every attempt: the last value read is served once and checked by the next
  // read, even within the ttl.
  Process c(&shared_, &clock_, absl::Hours(1));
  c.set_during_load([&] { ASSERT_TRUE(b.Add(1).ok()); });
  EXPECT_EQ(c.Get().value_or(-1), 4);
  EXPECT_EQ(c.loads(), 3);
  c.set_during_load(nullptr);
  EXPECT_EQ(c.Get().value_or(-1), 4);
  EXPECT_EQ(c.loads(), 4);
  EXPECT_EQ(c.Get().value_or(-1), 4);
  EXPECT_EQ(c.loads(), 4);
}

}  // namespace
}  // namespace countd::logic
