// Tests of server/logic/request_log.h: at-most-once application per request_id, over a real
// RocksDB store and a fake clock.
#include "server/logic/request_log.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/barrier.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"
#include "storage/keys.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/testing/failing_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace countd::logic {
namespace {

using storage::Table;

storage::Partition P(absl::string_view tenant) { return storage::keys::TenantPartition(tenant); }

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0, int ss = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

class RequestLogTest : public ::testing::Test {
 protected:
  // Starts half a second into a second: record expiry must not lose the fraction.
  RequestLogTest() : clock_(Utc(2024, 6, 15, 12, 0, 0) + absl::Milliseconds(500)) {}

  void SetUp() override {
    storage::StoreOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenRocksDbStore(dir_.Sub("db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    failing_ = std::make_unique<test::FailingStore>(store_.get());
    log_ = std::make_unique<RequestLog>(failing_.get(), &clock_);
  }

  // A build step that adds 1 to counter `key` and answers `answer`; counts its runs.
  RequestLog::BuildFn Adds(const std::string& key, const std::string& answer) {
    return [this, key, answer](storage::WriteBatch* batch) -> absl::StatusOr<std::string> {
      ++builds_;
      storage::CounterCell one;
      one.count = 1;
      batch->AddCounter(Table::kTotals, key, one);
      return answer;
    };
  }

  absl::StatusOr<std::string> Apply(absl::string_view request_id, absl::string_view canonical,
                                    const std::string& answer = "answer") {
    return log_->Apply("Scope", P("tenant"), "tenant", request_id, canonical,
                       Adds("applied", answer));
  }

  // How often the "applied" counter was incremented (0 when never).
  int64_t Applied(const std::string& key = "applied") {
    absl::StatusOr<storage::CounterCell> c = store_->GetCounter(P("tenant"), Table::kTotals, key);
    if (absl::IsNotFound(c.status())) return 0;
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->count : -1;
  }

  int64_t Records() {
    absl::StatusOr<int64_t> n = storage::CountRawEntriesForTest(*store_, Table::kRequests);
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }

  test::ScopedTempDir dir_;
  test::FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<test::FailingStore> failing_;
  std::unique_ptr<RequestLog> log_;
  std::atomic<int> builds_{0};
};

TEST_F(RequestLogTest, EmptyRequestIdAppliesEveryTime) {
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::string> a = Apply("", "same");
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(*a, "answer");
  }
  EXPECT_EQ(builds_.load(), 3);
  EXPECT_EQ(Applied(), 3);
  EXPECT_EQ(Records(), 0);
}

TEST_F(RequestLogTest, RepeatedRequestIsAppliedOnceAndAnsweredAsTheFirstTime) {
  absl::StatusOr<std::string> first = Apply("r1", "canonical", std::string("first\0x", 7));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, std::string("first\0x", 7));
  // The retry's build would answer differently; the recorded answer wins.
  absl::StatusOr<std::string> second = Apply("r1", "canonical", "second");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, std::string("first\0x", 7));
  EXPECT_EQ(builds_.load(), 1);
  EXPECT_EQ(Applied(), 1);
  EXPECT_EQ(Records(), 1);
}

TEST_F(RequestLogTest, RepeatIsAnsweredOnlyOnceItsRecordIsWrittenAgain) {
  ASSERT_TRUE(Apply("r1", "canonical").ok());
  const std::string key = storage::keys::RequestKey("Scope", P("tenant"), "r1");
  const std::string record = store_->Get(P("tenant"), Table::kRequests, key).value_or("?");
  const int writes = failing_->forwarded(test::FailingStore::Op::kWrite);
  // The first attempt may have been applied without being acknowledged (on Redis Cluster: not
  // confirmed by a replica); a repeat must not acknowledge it on the strength of a read alone.
  failing_->FailNextWrite();
  absl::StatusOr<std::string> repeat = Apply("r1", "canonical");
  EXPECT_EQ(repeat.status().code(), absl::StatusCode::kUnavailable) << repeat.status();
  repeat = Apply("r1", "canonical");
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_EQ(*repeat, "answer");
  // One rewrite per answered repeat, of the record only and unchanged (its lifetime too).
  EXPECT_EQ(failing_->forwarded(test::FailingStore::Op::kWrite), writes + 1);
  EXPECT_EQ(store_->Get(P("tenant"), Table::kRequests, key).value_or("!"), record);
  EXPECT_EQ(builds_.load(), 1);
  EXPECT_EQ(Applied(), 1);
  EXPECT_EQ(Records(), 1);
}

TEST_F(RequestLogTest, SameIdForADifferentRequestIsRefused) {
  ASSERT_TRUE(Apply("r1", "canonical A").ok());
  absl::StatusOr<std::string> other = Apply("r1", "canonical B");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(FieldOf(other.status()), "request_id");
  EXPECT_NE(other.status().message().find("r1"), absl::string_view::npos) << other.status();
  EXPECT_EQ(builds_.load(), 1);
  EXPECT_EQ(Applied(), 1);
}

TEST_F(RequestLogTest, IdsAreScopedByScopeAndPartition) {
  ASSERT_TRUE(log_->Apply("A", P("t1"), "t1", "r", "c", Adds("applied", "a")).ok());
  ASSERT_TRUE(log_->Apply("B", P("t1"), "t1", "r", "c", Adds("applied", "b")).ok());
  ASSERT_TRUE(log_->Apply("A", P("t2"), "t2", "r", "c", Adds("applied", "c")).ok());
  // Another partition of the same tenant (another user) is another id space.
  const storage::Partition user = storage::keys::SignalsUserPartition("t1", 'u', "alice");
  ASSERT_TRUE(log_->Apply("A", user, "t1", "r", "c", Adds("applied", "e")).ok());
  ASSERT_TRUE(log_->Apply("A", P("t1"), "t1", "r", "c", Adds("applied", "d")).ok());
  EXPECT_EQ(builds_.load(), 4);
  EXPECT_EQ(Applied(), 4);
  EXPECT_EQ(Records(), 4);
}

TEST_F(RequestLogTest, RecordsOfTheLayoutBeforePartitionsAreStillHonoured) {
  // A record as countd wrote it before partitions: key (scope, tenant, request_id).
  RequestLog old(store_.get(), &clock_);
  storage::WriteBatch batch(P("tenant"));
  std::string value;
  storage::keys::PutBigEndian64(&value, absl::ToUnixSeconds(clock_.Now() + absl::Hours(1)));
  storage::keys::PutBigEndian64(&value, static_cast<int64_t>(Fingerprint("c")));
  value += "old answer";
  batch.Put(Table::kRequests, storage::keys::LegacyRequestKey("Scope", "tenant", "r1"), value);
  ASSERT_TRUE(store_->Write(batch).ok());
  absl::StatusOr<std::string> a = Apply("r1", "c");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, "old answer");
  EXPECT_EQ(Applied(), 0);
  EXPECT_EQ(Apply("r1", "other").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(RequestLogTest, TwoLogsOnOneStoreApplyAnIdOnce) {
  // Two processes sharing a store: separate RequestLogs (separate in-process locks). The record's
  // "absent" precondition lets exactly one write win; the other answers from the record.
  constexpr int kThreads = 8;
  RequestLog other(store_.get(), &clock_);
  absl::Barrier* start = new absl::Barrier(kThreads);
  std::vector<absl::StatusOr<std::string>> answers(kThreads, absl::UnknownError("unset"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      RequestLog* log = t % 2 == 0 ? log_.get() : &other;
      if (start->Block()) delete start;
      answers[t] = log->Apply("Scope", P("tenant"), "tenant", "shared", "same",
                              Adds("applied", "answer-" + std::to_string(t)));
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(Applied(), 1);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(answers[t].ok()) << answers[t].status();
    EXPECT_EQ(*answers[t], *answers[0]);
  }
}

TEST_F(RequestLogTest, ABuildWhoseReadChangedMeanwhileRunsAgain) {
  // Optimistic concurrency: the first build expects a value that another writer changes before
  // the write; Apply builds again from a fresh read, and the second write applies.
  int runs = 0;
  RequestLog::BuildFn build = [&](storage::WriteBatch* batch) -> absl::StatusOr<std::string> {
    ++runs;
    absl::StatusOr<std::string> v = store_->Get(P("tenant"), Table::kMeta, "v");
    std::optional<std::string> seen;
    if (v.ok()) seen = *v;
    batch->Expect(Table::kMeta, "v", seen);
    if (runs == 1) {
      storage::WriteBatch sneaky(P("tenant"));
      sneaky.Put(Table::kMeta, "v", "changed");
      EXPECT_TRUE(store_->Write(sneaky).ok());
    }
    batch->Put(Table::kMeta, "v", seen.value_or("") + "+1");
    return std::string("done");
  };
  absl::StatusOr<std::string> a = log_->Apply("Scope", P("tenant"), "tenant", "r", "c", build);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(store_->Get(P("tenant"), Table::kMeta, "v").value_or("?"), "changed+1");
}

TEST_F(RequestLogTest, GivesUpWithAbortedWhenTheDataKeepsChanging) {
  int runs = 0;
  RequestLog::BuildFn build = [&](storage::WriteBatch* batch) -> absl::StatusOr<std::string> {
    ++runs;
    batch->Expect(Table::kMeta, "never", std::string("this value"));
    batch->Put(Table::kMeta, "x", "y");
    return std::string();
  };
  absl::StatusOr<std::string> a = log_->Apply("Scope", P("tenant"), "tenant", "", "c", build);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(runs, kMaxWriteAttempts);
  EXPECT_TRUE(absl::IsNotFound(store_->Get(P("tenant"), Table::kMeta, "x").status()));
}

TEST_F(RequestLogTest, FailingBuildWritesNothingAndDoesNotRecordTheId) {
  RequestLog::BuildFn failing = [this](storage::WriteBatch* batch) -> absl::StatusOr<std::string> {
    ++builds_;
    storage::CounterCell one;
    one.count = 1;
    batch->AddCounter(Table::kTotals, "applied", one);  // added, then abandoned
    return Refused("counters[0].path", "not registered");
  };
  absl::StatusOr<std::string> a = log_->Apply("Scope", P("tenant"), "tenant", "r1", "c", failing);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(FieldOf(a.status()), "counters[0].path");
  EXPECT_EQ(Applied(), 0);
  EXPECT_EQ(Records(), 0);
  // Without a request id the failure writes nothing either.
  a = log_->Apply("Scope", P("tenant"), "tenant", "", "c", failing);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Applied(), 0);
  // The id was not used up: a good request with it applies.
  absl::StatusOr<std::string> good = Apply("r1", "c");
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(Applied(), 1);
}

TEST_F(RequestLogTest, IdIsRememberedForTheWholeLifetime) {
  ASSERT_TRUE(Apply("r1", "c").ok());
  clock_.Advance(kRequestIdLifetime - absl::Milliseconds(1));
  absl::StatusOr<std::string> retry = Apply("r1", "c");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(builds_.load(), 1);
  EXPECT_EQ(Applied(), 1);
  EXPECT_EQ(Apply("r1", "other").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(RequestLogTest, IdStartedOnAWholeSecondLastsExactlyTheLifetime) {
  clock_.Set(Utc(2024, 6, 15, 12, 0, 0));
  ASSERT_TRUE(Apply("r1", "c").ok());
  clock_.Advance(kRequestIdLifetime - absl::Milliseconds(1));
  ASSERT_TRUE(Apply("r1", "c").ok());
  EXPECT_EQ(Applied(), 1);
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(Apply("r1", "c").ok());
  EXPECT_EQ(Applied(), 2);
}

TEST_F(RequestLogTest, IdCanBeReusedAfterItExpires) {
  ASSERT_TRUE(Apply("r1", "c").ok());
  clock_.Advance(kRequestIdLifetime + absl::Seconds(1));
  absl::StatusOr<std::string> again = Apply("r1", "c");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Applied(), 2);
  // Even for another request.
  clock_.Advance(kRequestIdLifetime + absl::Seconds(1));
  ASSERT_TRUE(Apply("r1", "different").ok());
  EXPECT_EQ(Applied(), 3);
  // Expired records are dropped by compaction.
  EXPECT_EQ(Records(), 1);
  clock_.Advance(kRequestIdLifetime + absl::Seconds(1));
  ASSERT_TRUE(storage::CompactForTest(*store_, Table::kRequests).ok());
  EXPECT_EQ(Records(), 0);
}

TEST_F(RequestLogTest, ConcurrentRetriesApplyExactlyOnce) {
  constexpr int kThreads = 8;
  absl::Barrier* start = new absl::Barrier(kThreads);  // deleted by the last thread through it
  std::vector<absl::StatusOr<std::string>> answers(kThreads, absl::UnknownError("unset"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (start->Block()) delete start;
      answers[t] = Apply("shared-id", "same request", "answer-" + std::to_string(t));
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(builds_.load(), 1);
  EXPECT_EQ(Applied(), 1);
  ASSERT_TRUE(answers[0].ok()) << answers[0].status();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(answers[t].ok()) << answers[t].status();
    EXPECT_EQ(*answers[t], *answers[0]);
  }
}

TEST_F(RequestLogTest, InvalidRequestIdIsRejected) {
  absl::StatusOr<std::string> a = Apply(std::string("r\x01", 2), "c");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldOf(a.status()), "request_id");
  a = Apply(std::string(257, 'r'), "c");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(builds_.load(), 0);
  EXPECT_EQ(Applied(), 0);
}

TEST_F(RequestLogTest, WriteFailureIsUnavailableAndDoesNotRecordTheId) {
  failing_->FailNextWrite();
  absl::StatusOr<std::string> a = Apply("r1", "c");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Applied(), 0);
  EXPECT_EQ(Records(), 0);
  absl::StatusOr<std::string> retry = Apply("r1", "c");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(Applied(), 1);
  // Without a request id a failed write is reported too.
  failing_->FailNextWrite();
  EXPECT_EQ(Apply("", "c").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Applied(), 1);
}

TEST_F(RequestLogTest, LookupFailureIsUnavailableAndBuildsNothing) {
  failing_->FailNextGet();
  absl::StatusOr<std::string> a = Apply("r1", "c");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(builds_.load(), 0);
  EXPECT_EQ(Applied(), 0);
  EXPECT_EQ(failing_->injected(test::FailingStore::Op::kGet), 1);
}

TEST(FingerprintTest, IsStableFnv1a) {
  // Published FNV-1a 64-bit test vectors.
  EXPECT_EQ(Fingerprint(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fingerprint("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(Fingerprint("foobar"), 0x85944171f73967e8ull);
  EXPECT_NE(Fingerprint("ab"), Fingerprint("ba"));
}

}  // namespace
}  // namespace countd::logic
