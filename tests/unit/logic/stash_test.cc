// Tests of the Stash daily counters (server/logic/stash.h) over a real RocksDB store in a fresh
// temporary directory, with a fake clock shared by the store's expiry and the logic.
#include "server/logic/stash.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/testing/failing_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace countd::logic {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using Op = test::FailingStore::Op;

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0, int ss = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

void ExpectError(const absl::Status& s, absl::StatusCode code, const std::string& field) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_EQ(FieldOf(s), field) << s;
  EXPECT_NE(s.message().find(field), absl::string_view::npos) << s;
}

class StashTest : public ::testing::Test {
 protected:
  static constexpr int kRetentionDays = 90;

  StashTest() : clock_(Utc(2024, 6, 15, 12, 0, 0)) {}

  void SetUp() override {
    storage::StoreOptions options;
    options.clock = &clock_;
    options.retention.stash_days = kRetentionDays;
    options.block_cache_bytes = size_t{8} << 20;
    options.memtable_bytes = size_t{8} << 20;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenRocksDbStore(dir_.Sub("db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    failing_ = std::make_unique<test::FailingStore>(store_.get());
    stash_ = std::make_unique<Stash>(failing_.get(), &clock_, StashOptions{kRetentionDays});
  }

  absl::StatusOr<std::string> Add(bool negate, const std::string& visitor, const std::string& name,
                                  absl::optional<int64_t> delta = absl::nullopt,
                                  absl::optional<int64_t> event_time_ms = absl::nullopt,
                                  const std::string& tenant = "site") {
    StashAddArgs args;
    args.tenant = tenant;
    args.visitor_id = visitor;
    args.counter_name = name;
    args.delta = delta;
    args.event_time_ms = event_time_ms;
    return stash_->Add(args, negate);
  }

  absl::StatusOr<std::string> Incr(const std::string& visitor, const std::string& name,
                                   absl::optional<int64_t> delta = absl::nullopt) {
    return Add(false, visitor, name, delta);
  }

  absl::StatusOr<std::string> Decr(const std::string& visitor, const std::string& name,
                                   absl::optional<int64_t> delta = absl::nullopt) {
    return Add(true, visitor, name, delta);
  }

  absl::StatusOr<int64_t> Get(const std::string& visitor, const std::string& name,
                              const std::string& date, const std::string& tenant = "site") {
    return stash_->Get(tenant, visitor, name, date);
  }

  // The count, or -999 when absent; fails the test on other errors.
  int64_t CountOf(const std::string& visitor, const std::string& name, const std::string& date) {
    absl::StatusOr<int64_t> c = Get(visitor, name, date);
    if (absl::IsNotFound(c.status())) return -999;
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : -1000;
  }

  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> Batch(
      const std::vector<std::string>& keys, const std::string& tenant = "site") {
    return stash_->GetBatch(tenant, keys);
  }

  test::ScopedTempDir dir_;
  test::FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<test::FailingStore> failing_;
  std::unique_ptr<Stash> stash_;
};

TEST_F(StashTest, IncrReturnsTenantCounterAndDate) {
  absl::StatusOr<std::string> key = Incr("v1", "logins");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "site:logins:2024-06-15");
  EXPECT_EQ(CountOf("v1", "logins", "2024-06-15"), 1);
  ASSERT_TRUE(Incr("v1", "logins", 4).ok());
  EXPECT_EQ(CountOf("v1", "logins", "2024-06-15"), 5);
}

// On a replying thread (DeferWalFlush) the store keeps Incr and Decr until the thread flushes
// (Store::Submit): another thread sees them only after the flush, this thread at once.
TEST_F(StashTest, WritesOnAReplyingThreadAreKeptUntilItsFlush) {
  auto elsewhere = [&] {
    int64_t count = 0;
    std::thread reader([&] { count = CountOf("v1", "logins", "2024-06-15"); });
    reader.join();
    return count;
  };
  storage::DeferWalFlush defer;
  ASSERT_TRUE(Incr("v1", "logins", 5).ok());
  ASSERT_TRUE(Decr("v1", "logins").ok());
  EXPECT_TRUE(store_->WalFlushPending());
  EXPECT_EQ(elsewhere(), -999);  // absent
  ASSERT_TRUE(store_->FlushWal().ok());
  EXPECT_EQ(elsewhere(), 4);
  ASSERT_TRUE(Incr("v1", "logins").ok());
  EXPECT_EQ(CountOf("v1", "logins", "2024-06-15"), 5);  // this thread: at once
  ASSERT_TRUE(store_->FlushWal().ok());
}

TEST_F(StashTest, DecrCreatesTheBucketAtZeroThenSubtracts) {
  absl::StatusOr<std::string> key = Decr("v1", "credits");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "site:credits:2024-06-15");
  EXPECT_EQ(CountOf("v1", "credits", "2024-06-15"), -1);
}

TEST_F(StashTest, CountsCanGoBelowZero) {
  ASSERT_TRUE(Incr("v1", "c", 2).ok());
  ASSERT_TRUE(Decr("v1", "c", 5).ok());
  EXPECT_EQ(CountOf("v1", "c", "2024-06-15"), -3);
  ASSERT_TRUE(Incr("v1", "c", 3).ok());
  EXPECT_EQ(CountOf("v1", "c", "2024-06-15"), 0);  // a bucket at 0 still exists
}

TEST_F(StashTest, CountsSaturateAtInt64Limits) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  ASSERT_TRUE(Incr("v1", "up", kMax).ok());
  ASSERT_TRUE(Incr("v1", "up", kMax).ok());
  EXPECT_EQ(CountOf("v1", "up", "2024-06-15"), kMax);
  ASSERT_TRUE(Decr("v1", "down", kMax).ok());
  ASSERT_TRUE(Decr("v1", "down", kMax).ok());
  EXPECT_EQ(CountOf("v1", "down", "2024-06-15"), std::numeric_limits<int64_t>::min());
}

TEST_F(StashTest, DeltaMustBeAtLeastOne) {
  for (int64_t bad : {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
    SCOPED_TRACE(bad);
    ExpectError(Incr("v1", "c", bad).status(), absl::StatusCode::kInvalidArgument, "delta");
    ExpectError(Decr("v1", "c", bad).status(), absl::StatusCode::kInvalidArgument, "delta");
  }
  EXPECT_EQ(CountOf("v1", "c", "2024-06-15"), -999);
}

TEST_F(StashTest, GetOfAMissingBucketIsNotFound) {
  ASSERT_TRUE(Incr("v1", "c").ok());
  absl::StatusOr<int64_t> c = Get("v1", "c", "2024-06-14");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FieldOf(c.status()), "date");
  EXPECT_TRUE(absl::IsNotFound(Get("v2", "c", "2024-06-15").status()));
  EXPECT_TRUE(absl::IsNotFound(Get("v1", "d", "2024-06-15").status()));
  EXPECT_TRUE(absl::IsNotFound(Get("v1", "c", "2024-06-15", "other").status()));
  EXPECT_TRUE(absl::IsNotFound(Get("v1", "c", "2099-12-31").status()));
}

TEST_F(StashTest, UtcMidnightStartsANewBucket) {
  clock_.Set(Utc(2024, 6, 15, 23, 59, 59) + absl::Milliseconds(999));
  EXPECT_EQ(Incr("v1", "c").value_or(""), "site:c:2024-06-15");
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(Incr("v1", "c", 2).value_or(""), "site:c:2024-06-16");
  EXPECT_EQ(CountOf("v1", "c", "2024-06-15"), 1);
  EXPECT_EQ(CountOf("v1", "c", "2024-06-16"), 2);
}

TEST_F(StashTest, MonthAndYearRolloverUseTheNewDate) {
  clock_.Set(Utc(2024, 12, 31, 23, 59, 59));
  EXPECT_EQ(Incr("v1", "c").value_or(""), "site:c:2024-12-31");
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Incr("v1", "c").value_or(""), "site:c:2025-01-01");
}

TEST_F(StashTest, EventTimeWritesIntoItsDay) {
  absl::StatusOr<std::string> key =
      Add(false, "v1", "c", 2, absl::ToUnixMillis(clock_.Now() - absl::Hours(48)));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "site:c:2024-06-13");
  EXPECT_EQ(CountOf("v1", "c", "2024-06-13"), 2);
  EXPECT_EQ(CountOf("v1", "c", "2024-06-15"), -999);
}

TEST_F(StashTest, EventTimeOutsideTheWindowIsRejected) {
  ExpectError(
      Add(false, "v1", "c", 1, absl::ToUnixMillis(clock_.Now() - absl::Hours(24 * 90))).status(),
      absl::StatusCode::kInvalidArgument, "event_time_ms");
  ExpectError(
      Add(false, "v1", "c", 1, absl::ToUnixMillis(clock_.Now() + absl::Minutes(5)) + 1).status(),
      absl::StatusCode::kInvalidArgument, "event_time_ms");
  EXPECT_EQ(CountOf("v1", "c", "2024-06-15"), -999);
}

TEST_F(StashTest, VisitorAndCounterNamesMustBeUrlSafe) {
  for (const char* bad : {"a:b", "a/b", "a b", "a?b", "caf\xc3\xa9"}) {
    SCOPED_TRACE(bad);
    ExpectError(Incr(bad, "c").status(), absl::StatusCode::kInvalidArgument, "visitor_id");
    ExpectError(Incr("v", bad).status(), absl::StatusCode::kInvalidArgument, "counter_name");
    ExpectError(Get(bad, "c", "2024-06-15").status(), absl::StatusCode::kInvalidArgument,
                "visitor_id");
    ExpectError(Get("v", bad, "2024-06-15").status(), absl::StatusCode::kInvalidArgument,
                "counter_name");
  }
  absl::Status missing = Incr("", "c").status();
  ExpectError(missing, absl::StatusCode::kInvalidArgument, "visitor_id");
  EXPECT_EQ(ReasonOf(missing), "missing");
  ExpectError(Add(false, "v", "c", 1, absl::nullopt, "").status(),
              absl::StatusCode::kInvalidArgument, "tenant");
  EXPECT_TRUE(Incr("Az09_.~-", "Az09_.~-").ok());
}

TEST_F(StashTest, GetRejectsInvalidDates) {
  for (const char* bad : {"2023-02-29", "2024-13-01", "2024-6-15", "20240615", "2024-06-15T00"}) {
    SCOPED_TRACE(bad);
    absl::Status s = Get("v", "c", bad).status();
    ExpectError(s, absl::StatusCode::kInvalidArgument, "date");
    EXPECT_EQ(ReasonOf(s), "format");
  }
  EXPECT_EQ(ReasonOf(Get("v", "c", "").status()), "missing");
  ASSERT_TRUE(Add(false, "v", "c", 1, absl::ToUnixMillis(Utc(2024, 6, 14, 10, 0, 0))).ok());
  EXPECT_EQ(CountOf("v", "c", "2024-06-14"), 1);
  EXPECT_TRUE(absl::IsNotFound(Get("v", "c", "2024-02-29").status()));
}

TEST_F(StashTest, GetBatchReturnsExistingKeysInRequestOrder) {
  ASSERT_TRUE(Incr("v1", "a", 3).ok());
  ASSERT_TRUE(Decr("v2", "b", 2).ok());
  ASSERT_TRUE(Add(false, "v1", "a", 7, absl::ToUnixMillis(clock_.Now() - absl::Hours(24))).ok());
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> got =
      Batch({"v2:b:2024-06-15", "v1:a:2024-06-13", "v1:a:2024-06-15", "v1:a:2024-06-14"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, ElementsAre(Pair("v2:b:2024-06-15", -2), Pair("v1:a:2024-06-15", 3),
                                Pair("v1:a:2024-06-14", 7)));
  got = Batch({"v1:a:2024-06-15"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, ElementsAre(Pair("v1:a:2024-06-15", 3)));
  got = Batch({"nobody:a:2024-06-15"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, IsEmpty());
}

TEST_F(StashTest, GetBatchAnswersARepeatedKeyOnce) {
  ASSERT_TRUE(Incr("v1", "a").ok());
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> got =
      Batch({"v1:a:2024-06-15", "v1:a:2024-06-14", "v1:a:2024-06-15"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, ElementsAre(Pair("v1:a:2024-06-15", 1)));
}

TEST_F(StashTest, GetBatchTakesOneToTenKeys) {
  ASSERT_TRUE(Incr("v", "c").ok());
  std::vector<std::string> ten(10, "v:c:2024-06-15");
  ten[9] = "w:c:2024-06-15";
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> got = Batch(ten);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, ElementsAre(Pair("v:c:2024-06-15", 1)));
  ExpectError(Batch(std::vector<std::string>(11, "v:c:2024-06-15")).status(),
              absl::StatusCode::kInvalidArgument, "keys");
  absl::Status empty = Batch({}).status();
  ExpectError(empty, absl::StatusCode::kInvalidArgument, "keys");
  EXPECT_EQ(ReasonOf(empty), "missing");
  ExpectError(Batch({"v:c:2024-06-15"}, "").status(), absl::StatusCode::kInvalidArgument, "tenant");
}

TEST_F(StashTest, GetBatchRejectsMalformedKeysNamingTheirIndex) {
  for (const char* bad :
       {"v:c", "v:c:2024-06-15:x", "v/x:c:2024-06-15", "v:c/x:2024-06-15", "v:c:2023-02-29",
        "v:c:", ":c:2024-06-15", "v::2024-06-15", "v c:c:2024-06-15", "v:c:2024-06-15 "}) {
    SCOPED_TRACE(bad);
    absl::Status s = Batch({"v:c:2024-06-15", bad}).status();
    ExpectError(s, absl::StatusCode::kInvalidArgument, "keys[1]");
  }
}

TEST_F(StashTest, GetBatchIsPerTenant) {
  ASSERT_TRUE(Incr("v", "c").ok());
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> got =
      Batch({"v:c:2024-06-15"}, "other");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, IsEmpty());
}

TEST_F(StashTest, BucketsOlderThanRetentionAreNotFound) {
  ASSERT_TRUE(Incr("v", "c").ok());
  clock_.Advance(absl::Hours(24 * (kRetentionDays - 1)));  // the oldest kept day
  EXPECT_EQ(CountOf("v", "c", "2024-06-15"), 1);
  clock_.Advance(absl::Hours(24));
  absl::StatusOr<int64_t> gone = Get("v", "c", "2024-06-15");
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> got = Batch({"v:c:2024-06-15"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, IsEmpty());
  ASSERT_TRUE(storage::CompactForTest(*store_, storage::Table::kStash).ok());
  EXPECT_EQ(storage::CountRawEntriesForTest(*store_, storage::Table::kStash).value_or(-1), 0);
}

// --- Storage failures
// -------------------------------------------------------------------------------

TEST_F(StashTest, WriteFailureIsUnavailableAndCountsNothing) {
  failing_->FailNextWrite();
  EXPECT_EQ(Incr("v", "c").status().code(), absl::StatusCode::kUnavailable);
  failing_->FailNextWrite();
  EXPECT_EQ(Decr("v", "c").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failing_->injected(Op::kWrite), 2);
  EXPECT_EQ(CountOf("v", "c", "2024-06-15"), -999);
}

TEST_F(StashTest, ReadFailureIsUnavailableNotNotFound) {
  ASSERT_TRUE(Incr("v", "c").ok());
  failing_->FailNextGet();
  EXPECT_EQ(Get("v", "c", "2024-06-15").status().code(), absl::StatusCode::kUnavailable);
  failing_->FailNextGet();
  EXPECT_EQ(Batch({"v:c:2024-06-15", "v:c:2024-06-14"}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(CountOf("v", "c", "2024-06-15"), 1);
}

TEST_F(StashTest, IncrementsNeverRead) {
  failing_->FailNextGet();
  EXPECT_TRUE(Incr("v", "c").ok());
  EXPECT_TRUE(Decr("v", "c").ok());
  EXPECT_EQ(failing_->pending(Op::kGet), 1);  // no read happened
  EXPECT_EQ(failing_->forwarded(Op::kGet), 0);
}

}  // namespace
}  // namespace countd::logic
