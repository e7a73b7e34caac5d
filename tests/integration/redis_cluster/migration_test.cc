// Tests of moving a RocksDB store into the Redis Cluster store (server/migration.h) on the real
// cluster of the CTest fixture redis_cluster: a RocksDB data dir written with the layouts of
// storage/keys.h (partitions big enough to take several writes), opened read-only and copied
// under a fresh key prefix. The cases the end-to-end test cannot aim at: a copy interrupted in
// the middle of a partition that feeds a ranking, legacy and unknown layouts, expired records.
#include "server/migration.h"

#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logic/gm_rankings.h"
#include "server/logic/tally.h"
#include "storage/counter_cell.h"
#include "storage/keys.h"
#include "storage/redis_cluster/redis_store.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace countd {
namespace {

namespace keys = storage::keys;
using storage::Partition;
using storage::Table;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kTopKItems = 700;  // 1400 ops: three writes
constexpr int kGmUsers = 300;    // x 2 challenges x 3 days, 2 ops each: several writes

int BasePort() {
  std::ifstream in(std::string(REDIS_CLUSTER_DIR) + "/baseport");
  int port = 0;
  in >> port;
  return port;
}

std::string Cell(int64_t count) {
  storage::CounterCell c;
  c.count = count;
  c.value_micros = count * 1000;
  c.updated_ms = 1700000000000 + count;
  return storage::EncodeCounterCell(c);
}

// A kRequests value: 8-byte big-endian expiry, fingerprint, answer.
std::string RequestRecord(absl::Time expiry) {
  std::string out;
  keys::PutBigEndian64(&out, absl::ToUnixSeconds(expiry));
  keys::PutBigEndian64(&out, 42);
  out += "answer";
  return out;
}

class MigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(BasePort(), 0) << "no cluster: run through ctest (fixture redis_cluster)";
    source_dir_ = dir_.Sub("data");
    absl::StatusOr<std::unique_ptr<storage::Store>> rw =
        storage::OpenRocksDbStore(source_dir_, storage::StoreOptions());
    ASSERT_TRUE(rw.ok()) << rw.status();
    writer_ = *std::move(rw);
    options_.source_name = source_dir_;
  }

  void Put(const Partition& p, Table t, const std::string& key, const std::string& value) {
    storage::WriteBatch b(p);
    b.Put(t, key, value);
    ASSERT_TRUE(writer_->Write(b).ok());
  }

  // Every kind of partition, the big ones several writes long.
  void WriteData() {
    const absl::Time now = absl::Now();
    const int64_t now_s = absl::ToUnixSeconds(now);
    // Tenant registry and a tenant's configuration.
    Put(keys::TenantRegistryPartition(), Table::kMeta, keys::TenantRecordKey("t1"), "record");
    Put(keys::TenantPartition("t1"), Table::kMeta, keys::RegistryKey("t1", "c", "/a"), "");
    Put(keys::TenantPartition("t1"), Table::kMeta, keys::GmChallengeKey("t1", "c1"), "cfg");
    // Signals counters of two users, one with a monthly and a daily bucket.
    for (const char* uid : {"alice", "bob"}) {
      const std::string key =
          keys::SignalsCounterKey(keys::SignalsUserPrefix("t1", 'u', uid), "c", "/a");
      const Partition p = keys::SignalsUserPartition("t1", 'u', uid);
      Put(p, Table::kTotals, key, Cell(5));
      Put(p, Table::kMonthly, keys::WithBucket(key, keys::MonthIndex(now)), Cell(5));
      Put(p, Table::kDaily, keys::WithBucket(key, keys::DayIndex(now)), Cell(5));
    }
    Put(keys::StashPartition("t1", "v1"), Table::kStash,
        keys::StashKey("t1", "v1", "views", keys::DayIndex(now)), Cell(3));
    // Request records: live, expired, of the layout before partitions; a nonce.
    const Partition alice = keys::SignalsUserPartition("t1", 'u', "alice");
    Put(alice, Table::kRequests, keys::RequestKey("IncrementCounters", alice, "r1"),
        RequestRecord(now + absl::Hours(1)));
    Put(alice, Table::kRequests, keys::RequestKey("IncrementCounters", alice, "r2"),
        RequestRecord(now - absl::Seconds(10)));
    Put(alice, Table::kRequests, keys::LegacyRequestKey("IncrementCounters", "t1", "r0"),
        RequestRecord(now + absl::Hours(1)));
    Put(keys::TenantPartition("t1"), Table::kRequests, keys::NonceKey("t1", "n1"),
        RequestRecord(now + absl::Minutes(2)));
    // A Tally top-K counter (window 60 minutes) with ties and a bucket behind the window, and
    // the ecount counter of the same name right before it in key order.
    const Partition tally = keys::TallyPartition("t1", "big");
    Put(tally, Table::kTallyMeta, keys::TallySettingsKey(keys::kTallyTopK, "t1", "big"), "60");
    Put(tally, Table::kTallyMeta, keys::TallySettingsKey(keys::kTallyECount, "t1", "big"), "5");
    const int64_t end = (now_s / 60 + 1) * 60;
    {
      storage::WriteBatch b(tally);
      for (int i = 0; i < kTopKItems; ++i) {
        const std::string item = absl::StrCat("item", i);
        b.Put(Table::kTally,
              keys::TallyBucketKey(keys::TallyCountablePrefix(keys::kTallyTopK, "t1", "big", item),
                                   end, end + 7200),
              Cell(i % 13 + 1));
        if (i % 10 == 0) {
          b.Put(
              Table::kTally,
              keys::TallyBucketKey(keys::TallyCountablePrefix(keys::kTallyTopK, "t1", "big", item),
                                   end - 7200, now_s + 600),
              Cell(1000));
        }
        if (i < 20) {
          b.Put(Table::kTally,
                keys::TallyBucketKey(
                    keys::TallyCountablePrefix(keys::kTallyECount, "t1", "big", item), end,
                    end + 600),
                Cell(2));
          b.Put(Table::kTallyMeta, keys::TallyMetadataKey(keys::kTallyTopK, "t1", "big", item),
                absl::StrCat("meta ", i));
        }
      }
      ASSERT_TRUE(writer_->Write(b).ok());
    }
    // GameMechanics of tenant t1: daily points of two challenges over three days of the week,
    // state, leaderboard index and log entries.
    {
      storage::WriteBatch b(keys::TenantPartition("t1"));
      const int32_t today = keys::DayIndex(now);
      for (int i = 0; i < kGmUsers; ++i) {
        const std::string uid = absl::StrCat("g", i);
        for (const char* challenge : {"c1", "c2"}) {
          for (int32_t day : {today - 6, today - 3, today}) {
            b.Put(Table::kGmDaily, keys::GmDailyKey("t1", challenge, uid, day),
                  Cell((i * 7 + day) % 23 + 1));
          }
          b.Put(Table::kGmState, keys::GmUserStateKey("t1", uid, challenge), "state");
          b.Put(Table::kGmState, keys::GmTopKey("t1", challenge, i, uid), "");
        }
        b.Put(Table::kGmLog, keys::GmLogKey(keys::GmLogPrefix("t1", uid), 1700000000000, 0),
              "entry");
      }
      ASSERT_TRUE(writer_->Write(b).ok());
    }
  }

  // Closes the writer and opens the data dir read-only, as countd migrate-to-redis does.
  void OpenSource() {
    writer_.reset();
    storage::StoreOptions read_only;
    read_only.read_only = true;
    absl::StatusOr<std::unique_ptr<storage::Store>> ro =
        storage::OpenRocksDbStore(source_dir_, read_only);
    ASSERT_TRUE(ro.ok()) << ro.status();
    source_ = *std::move(ro);
  }

  // A target under a key prefix of its own.
  std::unique_ptr<storage::Store> Target(const std::string& name) {
    storage::redis::RedisStoreOptions o;
    o.client.seeds = absl::StrCat("127.0.0.1:", BasePort());
    o.client.password = REDIS_CLUSTER_PASSWORD;
    o.key_prefix = absl::StrCat("mt", getpid(), "-", absl::ToUnixMicros(absl::Now()), "-", name);
    absl::StatusOr<std::unique_ptr<storage::Store>> s = storage::redis::OpenRedisClusterStore(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  test::ScopedTempDir dir_;
  std::string source_dir_;
  std::unique_ptr<storage::Store> writer_;
  std::unique_ptr<storage::Store> source_;
  MigrationOptions options_;
};

int64_t Sum(const std::array<MigrationTableCounts, storage::kNumTables>& tables) {
  int64_t n = 0;
  for (const MigrationTableCounts& c : tables) n += c.records;
  return n;
}

TEST_F(MigrationTest, CopiesEveryLiveRecordAndRebuildsEveryRanking) {
  ASSERT_NO_FATAL_FAILURE(WriteData());
  ASSERT_NO_FATAL_FAILURE(OpenSource());
  std::unique_ptr<storage::Store> target = Target("full");
  ASSERT_NE(target, nullptr);

  absl::StatusOr<CopyReport> copied = CopyToCluster(*source_, *target, options_);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_TRUE(copied->complete);
  EXPECT_FALSE(copied->resumed);
  const auto& t = copied->tables;
  EXPECT_EQ(t[static_cast<int>(Table::kTally)].records, kTopKItems + kTopKItems / 10 + 20);
  EXPECT_EQ(t[static_cast<int>(Table::kGmDaily)].records, kGmUsers * 2 * 3);
  // The live request record and the nonce; not the expired one nor the one of no partition.
  EXPECT_EQ(t[static_cast<int>(Table::kRequests)].records, 2);
  EXPECT_EQ(t[static_cast<int>(Table::kRequests)].skipped, 1);
  EXPECT_EQ(copied->tally_rankings, 1);
  EXPECT_EQ(copied->gm_week_rankings, 2);
  // The big partitions took several writes each.
  EXPECT_GT(copied->writes, copied->partitions);
  EXPECT_EQ(copied->total_records, ([&] {
              std::array<int64_t, storage::kNumTables> n{};
              for (int i = 0; i < storage::kNumTables; ++i) n[i] = t[i].records;
              return n;
            })());

  absl::StatusOr<VerifyReport> verified = VerifyCopy(*source_, *target, options_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok()) << FormatVerifyReport(*verified);
  EXPECT_TRUE(verified->copy_complete);
  EXPECT_EQ(verified->rankings, 3);
  EXPECT_EQ(Sum(verified->tables), Sum(copied->tables));

  // The cluster answers the rankings itself: the top-K of the window (the bucket behind it
  // counts nothing), the 7-day leaderboard of each challenge.
  absl::StatusOr<storage::RankingTop> top =
      target->ReadRanking(keys::TallyPartition("t1", "big"), logic::kTallyRanking,
                          absl::ToUnixSeconds(absl::Now()) - 3600, 3600, 3, "item12");
  ASSERT_TRUE(top.ok()) << top.status();
  ASSERT_EQ(top->top.size(), 3u);
  EXPECT_EQ(top->top[0].item, "item103");  // the first of the items with 13
  EXPECT_EQ(top->top[0].total, 13);
  EXPECT_EQ(top->self_total, 13);
  // Nothing of an expired request record reached the cluster.
  const Partition alice = keys::SignalsUserPartition("t1", 'u', "alice");
  EXPECT_TRUE(absl::IsNotFound(
      target->Get(alice, Table::kRequests, keys::RequestKey("IncrementCounters", alice, "r2"))
          .status()));

  // Running again finds the copy complete; a restart copies everything again, to the same data.
  absl::StatusOr<CopyReport> again = CopyToCluster(*source_, *target, options_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->was_complete);
  EXPECT_EQ(Sum(again->tables), 0);
  options_.restart = true;
  absl::StatusOr<CopyReport> restarted = CopyToCluster(*source_, *target, options_);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  EXPECT_EQ(Sum(restarted->tables), Sum(copied->tables));
  verified = VerifyCopy(*source_, *target, options_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok()) << FormatVerifyReport(*verified);
}

// Killed in the middle of a partition whose records feed a ranking: the next run copies that
// partition again from its start, and every grant is ranked exactly once.
TEST_F(MigrationTest, APartitionInterruptedMidwayIsRankedExactlyOnceByTheNextRun) {
  ASSERT_NO_FATAL_FAILURE(WriteData());
  ASSERT_NO_FATAL_FAILURE(OpenSource());
  for (const std::string& ranking : {std::string(logic::kTallyRanking), std::string("week")}) {
    std::unique_ptr<storage::Store> target = Target(ranking);
    ASSERT_NE(target, nullptr);
    // Stop after the second write that adds to such a ranking (the first one reset it).
    int ranked_writes = 0;
    MigrationOptions interrupted = options_;
    interrupted.after_write_for_test = [&](const storage::WriteBatch& batch) {
      for (const storage::WriteBatch::RankingOp& op : batch.ranking_ops()) {
        if (op.type == storage::WriteBatch::RankingOpType::kAdd &&
            absl::StrContains(op.ranking, ranking)) {
          return ++ranked_writes < 2;
        }
      }
      return true;
    };
    absl::StatusOr<CopyReport> stopped = CopyToCluster(*source_, *target, interrupted);
    EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled) << stopped.status();
    ASSERT_EQ(ranked_writes, 2);
    // The ranking holds part of the partition now, and the verification says so.
    absl::StatusOr<VerifyReport> partial = VerifyCopy(*source_, *target, options_);
    ASSERT_TRUE(partial.ok()) << partial.status();
    EXPECT_FALSE(partial->ok());
    EXPECT_FALSE(partial->copy_complete);

    absl::StatusOr<CopyReport> resumed = CopyToCluster(*source_, *target, options_);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    EXPECT_TRUE(resumed->resumed);
    EXPECT_TRUE(resumed->complete);
    absl::StatusOr<VerifyReport> verified = VerifyCopy(*source_, *target, options_);
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_TRUE(verified->ok()) << ranking << "\n" << FormatVerifyReport(*verified);
    EXPECT_EQ(verified->rankings, 3);
  }
}

// Small partitions are written several at once: one failing among them stops the copy, and the
// next run continues from before it (never after a partition that was not written).
TEST_F(MigrationTest, AWriteFailingAmongParallelWritesIsCopiedByTheNextRun) {
  ASSERT_NO_FATAL_FAILURE(WriteData());
  for (int i = 0; i < 200; ++i) {
    const std::string uid = absl::StrCat("user", i);
    Put(keys::SignalsUserPartition("t1", 'u', uid), Table::kTotals,
        keys::SignalsCounterKey(keys::SignalsUserPrefix("t1", 'u', uid), "c", "/a"), Cell(i + 1));
  }
  ASSERT_NO_FATAL_FAILURE(OpenSource());
  std::unique_ptr<storage::Store> target = Target("parallel");
  ASSERT_NE(target, nullptr);
  MigrationOptions failing = options_;
  failing.parallel_writes = 8;
  int writes = 0;
  failing.after_write_for_test = [&](const storage::WriteBatch&) { return ++writes != 60; };
  absl::StatusOr<CopyReport> stopped = CopyToCluster(*source_, *target, failing);
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled) << stopped.status();
  EXPECT_GE(writes, 60);

  absl::StatusOr<CopyReport> resumed = CopyToCluster(*source_, *target, options_);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_TRUE(resumed->resumed);
  EXPECT_TRUE(resumed->complete);
  absl::StatusOr<VerifyReport> verified = VerifyCopy(*source_, *target, options_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok()) << FormatVerifyReport(*verified);
  EXPECT_EQ(verified->tables[static_cast<int>(Table::kTotals)].records, 202);
}

TEST_F(MigrationTest, RunsOfAFewPartitionsEachEndWithEverythingCopiedOnce) {
  ASSERT_NO_FATAL_FAILURE(WriteData());
  ASSERT_NO_FATAL_FAILURE(OpenSource());
  std::unique_ptr<storage::Store> target = Target("steps");
  ASSERT_NE(target, nullptr);
  options_.max_partitions = 2;
  int runs = 0;
  int64_t partitions = 0;
  absl::StatusOr<CopyReport> r;
  do {
    r = CopyToCluster(*source_, *target, options_);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_LE(r->partitions, 2);
    EXPECT_EQ(r->resumed, runs > 0);
    partitions += r->partitions;
    ++runs;
  } while (!r->complete && runs < 50);
  ASSERT_TRUE(r->complete);
  EXPECT_GE(runs, 7);
  // Every partition was copied by exactly one run, and the totals count each record once.
  options_.max_partitions = 0;
  options_.restart = true;
  std::unique_ptr<storage::Store> whole = Target("whole");
  ASSERT_NE(whole, nullptr);
  absl::StatusOr<CopyReport> at_once = CopyToCluster(*source_, *whole, options_);
  ASSERT_TRUE(at_once.ok()) << at_once.status();
  EXPECT_EQ(partitions, at_once->partitions);
  EXPECT_EQ(r->total_records, at_once->total_records);
  absl::StatusOr<VerifyReport> verified = VerifyCopy(*source_, *target, options_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok()) << FormatVerifyReport(*verified);
}

TEST_F(MigrationTest, VerificationOfAnEmptyTargetReportsEveryRecordMissingWithoutKeys) {
  ASSERT_NO_FATAL_FAILURE(WriteData());
  ASSERT_NO_FATAL_FAILURE(OpenSource());
  std::unique_ptr<storage::Store> target = Target("empty");
  ASSERT_NE(target, nullptr);
  absl::StatusOr<VerifyReport> v = VerifyCopy(*source_, *target, options_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->ok());
  EXPECT_FALSE(v->copy_complete);
  // Every record, and every ranking: the Tally top-K is found only in the source (the cluster
  // has no window for it), the 7-day leaderboards are empty in the cluster.
  int64_t records = Sum(v->tables);
  EXPECT_EQ(v->mismatches, records + v->ranking_mismatches);
  EXPECT_EQ(v->ranking_mismatches, 3);
  const std::string text = FormatVerifyReport(*v);
  EXPECT_THAT(text, HasSubstr("missing in the cluster"));
  EXPECT_THAT(text, HasSubstr("... and "));
  for (const char* name : {"alice", "item1", "g1", "t1"}) EXPECT_THAT(text, Not(HasSubstr(name)));
}

TEST_F(MigrationTest, RefusesTallyRecordsOfTheSharedLayoutAndKeysOfNoLayout) {
  Put(keys::TallyPartition("t1", "old"), Table::kTallyMeta, keys::Join({"cfg", "t1", "old"}), "5");
  ASSERT_NO_FATAL_FAILURE(OpenSource());
  std::unique_ptr<storage::Store> target = Target("legacy");
  ASSERT_NE(target, nullptr);
  absl::StatusOr<CopyReport> r = CopyToCluster(*source_, *target, options_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("start this countd on it once"));
  EXPECT_EQ(VerifyCopy(*source_, *target, options_).status().code(),
            absl::StatusCode::kFailedPrecondition);

  test::ScopedTempDir other;
  {
    absl::StatusOr<std::unique_ptr<storage::Store>> rw =
        storage::OpenRocksDbStore(other.path(), storage::StoreOptions());
    ASSERT_TRUE(rw.ok());
    storage::WriteBatch b(keys::TenantPartition("t1"));
    b.Put(Table::kGmState, keys::Join({"zz", "t1", "secret-uid"}), "x");
    ASSERT_TRUE((*rw)->Write(b).ok());
  }
  storage::StoreOptions read_only;
  read_only.read_only = true;
  absl::StatusOr<std::unique_ptr<storage::Store>> odd =
      storage::OpenRocksDbStore(other.path(), read_only);
  ASSERT_TRUE(odd.ok()) << odd.status();
  options_.source_name = other.path();
  r = CopyToCluster(**odd, *target, options_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("table gm_state"));
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("secret-uid")));
}

TEST_F(MigrationTest, RefusesStoresOfTheWrongKind) {
  ASSERT_NO_FATAL_FAILURE(OpenSource());
  std::unique_ptr<storage::Store> target = Target("kinds");
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(CopyToCluster(*target, *target, options_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CopyToCluster(*source_, *source_, options_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace countd
