// What is particular to the Redis Cluster Store (storage/redis_cluster/redis_store.h), against the
// real cluster of the CTest fixture redis_cluster: key layout, group TTLs, pruning of expired
// fields, key prefixes, WAIT, client counters. Its Store behaviour is the conformance suite's.
#include "storage/redis_cluster/redis_store.h"

#include <unistd.h>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/counter_cell.h"
#include "storage/keys.h"
#include "storage/redis_cluster/slots.h"
#include "tests/testing/fake_clock.h"

namespace countd::storage::redis {
namespace {

using ::testing::HasSubstr;

int BasePort() {
  std::ifstream in(std::string(REDIS_CLUSTER_DIR) + "/baseport");
  int port = 0;
  in >> port;
  return port;
}

CounterCell Cell(int64_t count) {
  CounterCell c;
  c.count = count;
  return c;
}

class RedisStoreTest : public ::testing::Test {
 protected:
  RedisStoreTest() : clock_(absl::Now()) {}

  void SetUp() override {
    ASSERT_GT(BasePort(), 0) << "no cluster: run through ctest (fixture redis_cluster)";
    options_.client.seeds = absl::StrCat("127.0.0.1:", BasePort());
    options_.client.password = REDIS_CLUSTER_PASSWORD;
    options_.clock = &clock_;
    options_.key_prefix =
        absl::StrCat("rs", getpid(), "-", absl::ToUnixMicros(absl::Now()), "-",
                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    absl::StatusOr<std::unique_ptr<ClusterClient>> raw = ClusterClient::Connect(options_.client);
    ASSERT_TRUE(raw.ok()) << raw.status();
    raw_ = *std::move(raw);
    ASSERT_NO_FATAL_FAILURE(Open());
  }

  void Open() {
    absl::StatusOr<std::unique_ptr<Store>> s = OpenRedisClusterStore(options_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  // A command on one key, straight to the cluster.
  Reply Raw(std::vector<std::string> args) {
    absl::StatusOr<Reply> r = raw_->Run(Command(std::move(args), {1}));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Reply::Error("transport");
  }
  int64_t Int(std::vector<std::string> args) { return Raw(std::move(args)).integer; }
  std::string GroupKey(Table t, char kind) {
    return RedisGroupKey(options_.key_prefix, partition_, t, kind);
  }

  test::FakeClock clock_;
  RedisStoreOptions options_;
  Partition partition_ = keys::TenantPartition("t1");
  std::unique_ptr<ClusterClient> raw_;
  std::unique_ptr<Store> store_;
};

TEST_F(RedisStoreTest, EveryKeyOfAPartitionSharesOneSlotAndCarriesThePartitionId) {
  std::vector<int> slots;
  for (int t = 0; t < kNumTables; ++t) {
    for (char kind : {'h', 'z', 'e'}) {
      std::string key = RedisGroupKey("countd", partition_, static_cast<Table>(t), kind);
      EXPECT_TRUE(absl::StartsWith(key, "countd{")) << key;
      EXPECT_TRUE(absl::EndsWith(key, partition_.id()));
      EXPECT_EQ(HashTag(key).size(), 16u);
      slots.push_back(KeyHashSlot(key));
    }
  }
  EXPECT_EQ(std::count(slots.begin(), slots.end(), slots[0]), static_cast<long>(slots.size()));
  EXPECT_NE(RedisGroupKey("countd", partition_, Table::kMeta, 'h'),
            RedisGroupKey("countd", keys::TenantPartition("t2"), Table::kMeta, 'h'));
  EXPECT_NE(HashTag(RedisGroupKey("countd", partition_, Table::kMeta, 'h')),
            HashTag(RedisGroupKey("countd", keys::TenantPartition("t2"), Table::kMeta, 'h')));
}

TEST_F(RedisStoreTest, RejectsBadOptions) {
  RedisStoreOptions bad = options_;
  bad.key_prefix = "a{b";
  EXPECT_TRUE(absl::IsInvalidArgument(OpenRedisClusterStore(bad).status()));
  bad = options_;
  bad.wait_replicas = 1;
  bad.wait_timeout = bad.client.command_timeout;
  EXPECT_TRUE(absl::IsInvalidArgument(OpenRedisClusterStore(bad).status()));
  bad.wait_timeout = absl::ZeroDuration();
  EXPECT_TRUE(absl::IsInvalidArgument(OpenRedisClusterStore(bad).status()));
}

TEST_F(RedisStoreTest, ExpiringGroupsGetTheTtlOfTheirLatestRecordAndOthersNone) {
  const int32_t today = keys::DayIndex(clock_.Now());
  WriteBatch batch(partition_);
  batch.AddCounter(Table::kDaily, keys::WithBucket("a", today - 80), Cell(1));
  batch.AddCounter(Table::kDaily, keys::WithBucket("b", today), Cell(1));
  batch.AddCounter(Table::kTotals, "c", Cell(1));
  batch.Put(Table::kMeta, "m", "v");
  ASSERT_TRUE(store_->Write(batch).ok());
  // The latest record (bucket `today`) expires at the start of day today + 90.
  const absl::Time latest = absl::FromUnixSeconds(int64_t{today + 90} * 86400);
  // The store counts in whole milliseconds from its clock's millisecond (ToUnixMillis), as here:
  // a difference of exact times would come out up to 1 ms lower.
  const int64_t want = absl::ToUnixMillis(latest) - absl::ToUnixMillis(clock_.Now()) +
                       absl::ToInt64Milliseconds(kRedisExpirySlack);
  for (char kind : {'h', 'z', 'e'}) {
    int64_t pttl = Int({"PTTL", GroupKey(Table::kDaily, kind)});
    EXPECT_LE(pttl, want) << kind;
    EXPECT_GT(pttl, want - 60000) << kind;  // generous for a slow machine
  }
  EXPECT_EQ(Int({"PTTL", GroupKey(Table::kTotals, 'h')}), -1);
  EXPECT_EQ(Int({"PTTL", GroupKey(Table::kTotals, 'z')}), -1);
  EXPECT_EQ(Int({"EXISTS", GroupKey(Table::kTotals, 'e')}), 0);  // no expiry index
  EXPECT_EQ(Int({"PTTL", GroupKey(Table::kMeta, 'h')}), -1);
}

TEST_F(RedisStoreTest, WritesPruneABoundedNumberOfExpiredFields) {
  const int32_t today = keys::DayIndex(clock_.Now());
  WriteBatch batch(partition_);
  for (int i = 0; i < 20; ++i) {
    batch.AddCounter(Table::kDaily, keys::WithBucket(absl::StrCat("old", i), today - 89), Cell(1));
  }
  batch.AddCounter(Table::kDaily, keys::WithBucket("live", today), Cell(1));
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(Int({"HLEN", GroupKey(Table::kDaily, 'h')}), 21);
  clock_.Advance(absl::Hours(24));  // the 20 "old" buckets expire
  WriteBatch one(partition_);
  one.AddCounter(Table::kDaily, keys::WithBucket("live", today), Cell(1));
  ASSERT_TRUE(store_->Write(one).ok());
  EXPECT_EQ(Int({"HLEN", GroupKey(Table::kDaily, 'h')}), 21 - kRedisPruneLimit);
  EXPECT_EQ(Int({"ZCARD", GroupKey(Table::kDaily, 'z')}), 21 - kRedisPruneLimit);
  EXPECT_EQ(Int({"ZCARD", GroupKey(Table::kDaily, 'e')}), 21 - kRedisPruneLimit);
  ASSERT_TRUE(store_->Write(one).ok());
  ASSERT_TRUE(store_->Write(one).ok());
  EXPECT_EQ(Int({"HLEN", GroupKey(Table::kDaily, 'h')}), 1);  // only the live bucket is left
  EXPECT_EQ(store_->GetCounter(partition_, Table::kDaily, keys::WithBucket("live", today))->count,
            4);
}

TEST_F(RedisStoreTest, AGroupWhoseRecordsAllExpiredIsDeletedWhole) {
  const int32_t today = keys::DayIndex(clock_.Now());
  WriteBatch batch(partition_);
  batch.AddCounter(Table::kDaily, keys::WithBucket("gone", today - 200), Cell(1));
  ASSERT_TRUE(store_->Write(batch).ok());
  for (char kind : {'h', 'z', 'e'}) {
    EXPECT_EQ(Int({"EXISTS", GroupKey(Table::kDaily, kind)}), 0) << kind;
  }
}

TEST_F(RedisStoreTest, KeyPrefixesSeparateDeployments) {
  WriteBatch batch(partition_);
  batch.Put(Table::kMeta, "k", "mine");
  ASSERT_TRUE(store_->Write(batch).ok());
  RedisStoreOptions other = options_;
  other.key_prefix += "-other";
  absl::StatusOr<std::unique_ptr<Store>> s = OpenRedisClusterStore(other);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(absl::IsNotFound((*s)->Get(partition_, Table::kMeta, "k").status()));
  EXPECT_EQ(store_->Get(partition_, Table::kMeta, "k").value_or(""), "mine");
}

TEST_F(RedisStoreTest, WaitForTheReplicaSucceeds) {
  options_.wait_replicas = 1;  // every master of the test cluster has one replica
  options_.wait_timeout = absl::Milliseconds(500);
  ASSERT_NO_FATAL_FAILURE(Open());
  WriteBatch batch(partition_);
  batch.Put(Table::kMeta, "k", "v");
  // Replicas of a just-started cluster are still in their first sync (repl-diskless-sync-delay,
  // 5 s by default) and acknowledge nothing: retry the (idempotent) write until the replica is
  // online, within a bound.
  absl::Status s;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  do {
    s = store_->Write(batch);
    if (s.ok() || !absl::IsDeadlineExceeded(s)) break;
    absl::SleepFor(absl::Milliseconds(100));
  } while (absl::Now() < deadline);
  ASSERT_TRUE(s.ok()) << s;
  WriteBatch conflict(partition_);
  conflict.Expect(Table::kMeta, "k", std::nullopt);
  EXPECT_TRUE(absl::IsAborted(store_->Write(conflict)));
}

TEST_F(RedisStoreTest, WaitForMissingReplicasIsDeadlineExceededAndSaysTheWriteMayExist) {
  options_.wait_replicas = 2;  // more than the cluster has
  options_.wait_timeout = absl::Milliseconds(50);
  ASSERT_NO_FATAL_FAILURE(Open());
  WriteBatch batch(partition_);
  batch.Put(Table::kMeta, "k", "secret-value");
  absl::Status s = store_->Write(batch);
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("master only"));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("secret-value")));
  EXPECT_EQ(store_->Get(partition_, Table::kMeta, "k").value_or(""), "secret-value");
}

TEST_F(RedisStoreTest, ProbeSeesEveryMaster) { EXPECT_TRUE(store_->Probe().ok()); }

TEST_F(RedisStoreTest, ClientStatsCountCalls) {
  ASSERT_TRUE(store_->Get(partition_, Table::kMeta, "x").status().code() ==
              absl::StatusCode::kNotFound);
  absl::StatusOr<ClusterClientStats> stats = RedisClientStats(*store_);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_GE(stats->calls, 1);
}

TEST_F(RedisStoreTest, AWrongTypeKeyIsAnInternalErrorNamingOnlyTheTable) {
  ASSERT_EQ(Raw({"SET", GroupKey(Table::kMeta, 'h'), "not a hash"}).str, "OK");
  absl::Status s = store_->Get(partition_, Table::kMeta, "user-key").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("meta"));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("user-key")));
}

}  // namespace
}  // namespace countd::storage::redis
