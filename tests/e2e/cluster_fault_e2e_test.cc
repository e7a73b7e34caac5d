// Fault tests of countd on Redis Cluster (issue 12): kill -9 of a Redis master (its replica takes
// over), of a master together with its replica (both restart from their AOF), and of one of
// three countd processes, each under a write load. Clients record every acknowledged write and
// retry a failed one (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED) with the same request_id, on the
// next countd; afterwards every acknowledged write must be stored exactly once.
//
// Killing nodes would break the other tests' cluster, so the Redis tests start a private cluster
// (tests/testing/redis_cluster_process.h); the countd kill uses the fixture's cluster.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "countd/v1/counters.grpc.pb.h"
#include "countd/v1/gm.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/cluster_e2e_util.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/redis_cluster_process.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Code = grpc::StatusCode;

constexpr char kTenant[] = "site";
constexpr char kClusterPassword[] = "countd-fault-test";
// A write is retried for at most this long; the test fails if one is still unresolved then.
constexpr absl::Duration kWriteGiveUp = absl::Seconds(40);
// Calls of the load carry a shorter deadline than e2e_util's, so a stuck call is retried soon.
constexpr std::chrono::seconds kLoadRpcDeadline(5);

struct Stubs {
  std::unique_ptr<v1::Counters::Stub> counters;
  std::unique_ptr<v1::GameMechanics::Stub> gm;
};

Stubs StubsFor(const std::string& address) {
  std::shared_ptr<grpc::Channel> channel = NewChannel(address);
  return {v1::Counters::NewStub(channel), v1::GameMechanics::NewStub(channel)};
}

bool Retryable(const grpc::Status& s) {
  return s.error_code() == Code::UNAVAILABLE || s.error_code() == Code::DEADLINE_EXCEEDED ||
         s.error_code() == Code::ABORTED;
}

// Writes through a set of countd processes from several threads until stopped. Thread t sends
// attempt a of a write to process (t + a) % n. Most threads increment Signals counters of 32
// users each (count 1, value 1, request_id per write); every fourth thread grants the "earn"
// action (2 points) to a user of its own through NotifyAction with a request_id. A write is
// retried with the same request_id while the answer is retryable, up to kWriteGiveUp.
class WriteLoad {
 public:
  explicit WriteLoad(std::vector<Stubs>* targets, int threads) : targets_(targets) {
    results_.resize(threads);
  }
  ~WriteLoad() { Stop(); }

  void Start() {
    for (size_t t = 0; t < results_.size(); ++t) {
      threads_.emplace_back([this, t] { Run(static_cast<int>(t)); });
    }
  }

  // Asks every thread to stop after its current write (which it finishes, retries included)
  // and joins them.
  void Stop() {
    stop_.store(true);
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  int64_t acked() const { return acked_.load(); }

  // Waits until at least `n` writes were acknowledged. false after `timeout`.
  bool AwaitAcked(int64_t n, absl::Duration timeout) const {
    const absl::Time deadline = absl::Now() + timeout;
    while (acked() < n) {
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return true;
  }

  // After Stop: acknowledged counter increments per uid, and acknowledged grants per GM user.
  std::map<std::string, int64_t> CounterAcks() const {
    std::map<std::string, int64_t> all;
    for (const Result& r : results_) {
      for (const auto& [uid, n] : r.counter_acks) all[uid] += n;
    }
    return all;
  }
  std::map<std::string, int64_t> GrantAcks() const {
    std::map<std::string, int64_t> all;
    for (const Result& r : results_) {
      for (const auto& [uid, n] : r.grant_acks) all[uid] += n;
    }
    return all;
  }
  std::vector<std::string> Unexpected() const {
    std::vector<std::string> all;
    for (const Result& r : results_)
      all.insert(all.end(), r.unexpected.begin(), r.unexpected.end());
    return all;
  }
  std::map<std::string, int64_t> RetriesByCode() const {
    std::map<std::string, int64_t> all;
    for (const Result& r : results_) {
      for (const auto& [code, n] : r.retries) all[code] += n;
    }
    return all;
  }
  absl::Duration LongestGap() const {
    absl::MutexLock lock(&gap_mu_);
    return longest_gap_;
  }
  std::string Summary() const {
    std::string retries;
    for (const auto& [code, n] : RetriesByCode()) absl::StrAppend(&retries, " ", code, "=", n);
    return absl::StrCat(
        acked(), " writes acknowledged; retries:", retries.empty() ? " none" : retries,
        "; longest time without an acknowledgement ", absl::FormatDuration(LongestGap()));
  }

 private:
  struct Result {
    std::map<std::string, int64_t> counter_acks, grant_acks;
    std::map<std::string, int64_t> retries;
    std::vector<std::string> unexpected;
  };

  void Run(int t) {
    Result& mine = results_[t];
    const bool gm = t % 4 == 3;
    for (int64_t n = 0; !stop_.load(); ++n) {
      const std::string id = absl::StrCat("w", t, "-", n);
      const std::string uid = gm ? absl::StrCat("g", t) : absl::StrCat("u", t, "-", n % 32);
      const absl::Time give_up = absl::Now() + kWriteGiveUp;
      for (int attempt = 0;; ++attempt) {
        Stubs& s = (*targets_)[(t + attempt) % targets_->size()];
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + kLoadRpcDeadline);
        grpc::Status st;
        if (gm) {
          v1::NotifyActionRequest req;
          req.set_tenant(kTenant);
          req.set_uid(uid);
          req.set_action_id("earn");
          req.set_request_id(id);
          v1::NotifyActionResponse resp;
          st = s.gm->NotifyAction(&ctx, req, &resp);
        } else {
          v1::IncrementCountersRequest req;
          req.set_tenant(kTenant);
          req.set_uid(uid);
          v1::CounterIncrement* c = req.add_counters();
          c->set_class_("_c");
          c->set_path("/");
          c->set_count(1);
          c->set_value(1);
          req.set_request_id(id);
          v1::IncrementCountersResponse resp;
          st = s.counters->IncrementCounters(&ctx, req, &resp);
        }
        if (st.ok()) {
          ++(gm ? mine.grant_acks : mine.counter_acks)[uid];
          NoteAck();
          break;
        }
        if (!Retryable(st)) {
          mine.unexpected.push_back(absl::StrCat(id, ": ", Describe(st)));
          break;
        }
        ++mine.retries[CodeName(st.error_code())];
        if (absl::Now() >= give_up) {
          mine.unexpected.push_back(absl::StrCat(id, ": still failing after ",
                                                 absl::FormatDuration(kWriteGiveUp), ": ",
                                                 Describe(st)));
          break;
        }
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
  }

  void NoteAck() {
    acked_.fetch_add(1);
    absl::MutexLock lock(&gap_mu_);
    const absl::Time now = absl::Now();
    if (last_ack_ != absl::InfinitePast()) longest_gap_ = std::max(longest_gap_, now - last_ack_);
    last_ack_ = now;
  }

  std::vector<Stubs>* targets_;
  std::vector<Result> results_;  // one per thread, read after Stop
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> acked_{0};
  mutable absl::Mutex gap_mu_;
  absl::Time last_ack_ ABSL_GUARDED_BY(gap_mu_) = absl::InfinitePast();
  absl::Duration longest_gap_ ABSL_GUARDED_BY(gap_mu_) = absl::ZeroDuration();
};

// Count and value of the user's counter "_c /" (total); -1 when it could not be read.
int64_t StoredCount(Stubs& s, const std::string& uid) {
  v1::GetCountersRequest req;
  req.set_tenant(kTenant);
  req.set_uid(uid);
  v1::GetCountersResponse resp;
  grpc::Status st = Rpc(s.counters.get(), &v1::Counters::Stub::GetCounters, req, &resp);
  EXPECT_THAT(st, IsOk()) << uid;
  if (!st.ok()) return -1;
  if (resp.counters_size() == 0) return 0;
  EXPECT_EQ(resp.counters_size(), 1) << uid;
  EXPECT_EQ(resp.counters(0).value_decimal(), absl::StrCat(resp.counters(0).count())) << uid;
  return resp.counters(0).count();
}

int64_t StoredPoints(Stubs& s, const std::string& uid) {
  v1::GetChallengeStatusRequest req;
  req.set_tenant(kTenant);
  req.set_uid(uid);
  req.set_include("_default");
  v1::GetChallengeStatusResponse resp;
  grpc::Status st = Rpc(s.gm.get(), &v1::GameMechanics::Stub::GetChallengeStatus, req, &resp);
  EXPECT_THAT(st, IsOk()) << uid;
  return st.ok() && resp.achievements_size() == 1 ? resp.achievements(0).points_total() : -1;
}

class ClusterFaultE2eTest : public ::testing::Test {
 protected:
  void StartPrivateCluster() {
    absl::StatusOr<std::unique_ptr<test::RedisClusterProcess>> cluster =
        test::RedisClusterProcess::Start(dir_.Sub("cluster"), kClusterPassword, absl::Seconds(5));
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  void StartCountd(int n, const std::string& cluster_dir,
                   const std::vector<std::string>& extra_args = {}) {
    absl::StatusOr<std::vector<std::unique_ptr<test::ServerProcess>>> group =
        StartCountdGroup(n, dir_.path(), cluster_dir, UniqueKeyPrefix(), extra_args);
    ASSERT_TRUE(group.ok()) << group.status();
    servers_ = *std::move(group);
    for (auto& s : servers_) stubs_.push_back(StubsFor(s->grpc_address()));
    v1::SetActionConfigRequest req;
    req.set_tenant(kTenant);
    req.mutable_action()->set_action_id("earn");
    req.mutable_action()->set_points(2);
    v1::SetActionConfigResponse resp;
    ASSERT_THAT(Rpc(stubs_[0].gm.get(), &v1::GameMechanics::Stub::SetActionConfig, req, &resp),
                IsOk());
  }

  // Every acknowledged write is stored exactly once, read through `reader`.
  void ExpectExactlyTheAcknowledgedWrites(const WriteLoad& load, Stubs& reader) {
    int64_t checked = 0;
    for (const auto& [uid, acked] : load.CounterAcks()) {
      EXPECT_EQ(StoredCount(reader, uid), acked) << "counter of " << uid;
      checked += acked;
    }
    for (const auto& [uid, acked] : load.GrantAcks()) {
      EXPECT_EQ(StoredPoints(reader, uid), 2 * acked) << "points of " << uid;
      checked += acked;
    }
    EXPECT_EQ(checked, load.acked());
  }

  // Kills master node `master` under load and waits for its replica to take over; after
  // `stay_down` more, starts it again (it rejoins as a replica). Returns how long the failover
  // took.
  absl::Duration FailOverUnderLoad(WriteLoad& load, int master, absl::Duration stay_down) {
    absl::StatusOr<std::string> role = cluster_->Role(master);
    EXPECT_TRUE(role.ok() && *role == "master") << (role.ok() ? *role : role.status().ToString());
    absl::StatusOr<int> replica = cluster_->ReplicaOf(master);
    EXPECT_TRUE(replica.ok()) << replica.status();
    if (!replica.ok()) return absl::ZeroDuration();
    std::vector<int> others;
    for (int i = 0; i < test::kRedisClusterNodes; ++i) {
      if (i != master) others.push_back(i);
    }
    const int64_t before = load.acked();
    const absl::Time killed = absl::Now();
    EXPECT_TRUE(cluster_->KillNode(master).ok());
    absl::Status s = cluster_->AwaitState(others, 3, absl::Seconds(30));
    const absl::Duration failover = absl::Now() - killed;
    EXPECT_TRUE(s.ok()) << s;
    role = cluster_->Role(*replica);
    EXPECT_TRUE(role.ok() && *role == "master") << "node " << *replica << " did not take over";
    std::cout << "master " << master << " killed after " << before
              << " acknowledged writes; replica " << *replica << " took over after "
              << absl::FormatDuration(failover) << std::endl;
    absl::SleepFor(stay_down);
    EXPECT_TRUE(cluster_->RestartNode(master).ok());
    s = cluster_->AwaitState(AllNodes(), 3, absl::Seconds(30));
    EXPECT_TRUE(s.ok()) << s;
    role = cluster_->Role(master);
    EXPECT_TRUE(role.ok() && *role == "slave") << "node " << master << " did not rejoin as replica";
    return failover;
  }

  static std::vector<int> AllNodes() {
    std::vector<int> all;
    for (int i = 0; i < test::kRedisClusterNodes; ++i) all.push_back(i);
    return all;
  }

  void TearDown() override {
    if (!HasFailure()) return;
    for (size_t i = 0; i < servers_.size(); ++i) {
      std::string out = servers_[i]->stdout_text();
      if (out.size() > 4000) out = "..." + out.substr(out.size() - 4000);
      ADD_FAILURE() << "countd p" << i << " stdout (tail):\n"
                    << out << "\nstderr:\n"
                    << servers_[i]->stderr_text();
    }
  }

  test::ScopedTempDir dir_;
  std::unique_ptr<test::RedisClusterProcess> cluster_;  // destroyed after the servers
  std::vector<std::unique_ptr<test::ServerProcess>> servers_;
  std::vector<Stubs> stubs_;
};

// The default durability (--redis-wait-replicas=1, masters with appendfsync always): a write is
// acknowledged once a replica has it, and failover promotes that replica.
TEST_F(ClusterFaultE2eTest, MasterKilledUnderLoadLosesNoAcknowledgedWrite) {
  ASSERT_NO_FATAL_FAILURE(StartPrivateCluster());
  ASSERT_NO_FATAL_FAILURE(StartCountd(2, cluster_->dir()));
  EXPECT_THAT(servers_[0]->stdout_text(), HasSubstr("WAIT 1 replicas"));  // the default
  WriteLoad load(&stubs_, 4);
  load.Start();
  ASSERT_TRUE(load.AwaitAcked(100, absl::Seconds(20))) << load.Summary();
  // The promoted replica has no replica of its own until the old master is back: for those 2 s
  // its writes are applied but not acknowledged (WAIT answers 0 of 1: DEADLINE_EXCEEDED), and
  // the clients' repeats of them are not acknowledged either, until the old master has rejoined
  // and holds them.
  FailOverUnderLoad(load, 0, absl::Seconds(2));
  // Writes go on, also to the promoted replica's slots.
  ASSERT_TRUE(load.AwaitAcked(load.acked() + 100, absl::Seconds(20))) << load.Summary();
  load.Stop();
  std::cout << "with WAIT 1: " << load.Summary() << std::endl;
  EXPECT_THAT(load.Unexpected(), IsEmpty());
  EXPECT_GT(load.RetriesByCode()["DEADLINE_EXCEEDED"], 0) << "no write waited for a replica";
  for (Stubs& reader : stubs_) ExpectExactlyTheAcknowledgedWrites(load, reader);
}

// A master and its replica killed together: no node holds the slots in memory any more, and
// both start again from their append-only files. Every write was acknowledged after its
// master's AOF fsync (appendfsync always), so every acknowledged write is back.
TEST_F(ClusterFaultE2eTest, MasterAndReplicaKilledTogetherComeBackWithEveryWriteFromTheirAof) {
  ASSERT_NO_FATAL_FAILURE(StartPrivateCluster());
  ASSERT_NO_FATAL_FAILURE(StartCountd(2, cluster_->dir()));
  WriteLoad load(&stubs_, 4);
  load.Start();
  ASSERT_TRUE(load.AwaitAcked(100, absl::Seconds(20))) << load.Summary();
  absl::StatusOr<int> replica = cluster_->ReplicaOf(1);
  ASSERT_TRUE(replica.ok()) << replica.status();
  const int64_t before = load.acked();
  ASSERT_TRUE(cluster_->KillNode(1).ok());
  ASSERT_TRUE(cluster_->KillNode(*replica).ok());
  absl::SleepFor(absl::Seconds(1));  // under load, with a third of the slots gone
  ASSERT_TRUE(cluster_->RestartNode(1).ok());
  ASSERT_TRUE(cluster_->RestartNode(*replica).ok());
  absl::Status s = cluster_->AwaitState(AllNodes(), 3, absl::Seconds(30));
  ASSERT_TRUE(s.ok()) << s;
  std::cout << "master 1 and replica " << *replica << " killed after " << before
            << " acknowledged writes and started again" << std::endl;
  ASSERT_TRUE(load.AwaitAcked(load.acked() + 100, absl::Seconds(20))) << load.Summary();
  load.Stop();
  std::cout << "master and replica restarted: " << load.Summary() << std::endl;
  EXPECT_THAT(load.Unexpected(), IsEmpty());
  for (Stubs& reader : stubs_) ExpectExactlyTheAcknowledgedWrites(load, reader);
}

// --redis-wait-replicas=0: asynchronous replication, so a failover may lose writes the master
// acknowledged but had not sent yet (the test reports how many; whether any is lost depends on
// timing). What must hold anyway: no write is applied twice.
TEST_F(ClusterFaultE2eTest, MasterKilledWithoutWaitNeverAppliesAWriteTwice) {
  ASSERT_NO_FATAL_FAILURE(StartPrivateCluster());
  ASSERT_NO_FATAL_FAILURE(StartCountd(2, cluster_->dir(), {"--redis-wait-replicas=0"}));
  EXPECT_THAT(servers_[0]->stdout_text(), HasSubstr("WAIT 0 replicas"));
  WriteLoad load(&stubs_, 4);
  load.Start();
  ASSERT_TRUE(load.AwaitAcked(100, absl::Seconds(20))) << load.Summary();
  FailOverUnderLoad(load, 2, absl::ZeroDuration());
  ASSERT_TRUE(load.AwaitAcked(load.acked() + 100, absl::Seconds(20))) << load.Summary();
  load.Stop();
  EXPECT_THAT(load.Unexpected(), IsEmpty());
  int64_t lost = 0;
  for (const auto& [uid, acked] : load.CounterAcks()) {
    const int64_t stored = StoredCount(stubs_[0], uid);
    EXPECT_LE(stored, acked) << "counter of " << uid << " applied more often than acknowledged";
    lost += std::max<int64_t>(0, acked - stored);
  }
  for (const auto& [uid, acked] : load.GrantAcks()) {
    const int64_t stored = StoredPoints(stubs_[0], uid) / 2;
    EXPECT_LE(stored, acked) << "grants of " << uid << " applied more often than acknowledged";
    lost += std::max<int64_t>(0, acked - stored);
  }
  std::cout << "with WAIT 0: " << load.Summary() << "; acknowledged writes lost: " << lost
            << std::endl;
  RecordProperty("acknowledged_writes_lost", static_cast<int>(lost));
}

// kill -9 of one of three countd processes: its calls in flight fail, the clients retry them on
// another process with the same request_id, and nothing acknowledged is lost or doubled.
TEST_F(ClusterFaultE2eTest, CountdKilledUnderLoadLosesNoAcknowledgedWrite) {
  ASSERT_FALSE(FixtureClusterDir().empty())
      << "needs the Redis Cluster of the CTest fixture redis_cluster: run `ctest -L redis`";
  ASSERT_NO_FATAL_FAILURE(StartCountd(3, FixtureClusterDir()));
  WriteLoad load(&stubs_, 6);
  load.Start();
  ASSERT_TRUE(load.AwaitAcked(150, absl::Seconds(20))) << load.Summary();
  const test::ExitStatus exit = servers_[1]->Kill();
  EXPECT_EQ(exit.signal, SIGKILL) << exit.ToString();
  const int64_t at_kill = load.acked();
  ASSERT_TRUE(load.AwaitAcked(at_kill + 150, absl::Seconds(20))) << load.Summary();
  load.Stop();
  std::cout << "countd p1 killed after " << at_kill << " acknowledged writes; " << load.Summary()
            << std::endl;
  EXPECT_THAT(load.Unexpected(), IsEmpty());
  EXPECT_GT(load.RetriesByCode()["UNAVAILABLE"], 0) << "no call noticed the dead process";
  ExpectExactlyTheAcknowledgedWrites(load, stubs_[0]);
  ExpectExactlyTheAcknowledgedWrites(load, stubs_[2]);
}

}  // namespace
}  // namespace countd::e2e
