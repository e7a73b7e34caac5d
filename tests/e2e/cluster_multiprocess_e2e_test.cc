// End-to-end tests of three countd processes on one Redis Cluster (issue 12). The processes
// share one key prefix, hence every record; each test starts its own three on the cluster of the
// CTest fixture redis_cluster (label redis) under a prefix of its own. Request ids, ledgers and
// counts must be exact whichever process a call reaches, and rankings read through any process
// must equal those of one countd on RocksDB that applied the same operations (the reference).
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "countd/v1/counters.grpc.pb.h"
#include "countd/v1/gm.grpc.pb.h"
#include "countd/v1/tally.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/cluster_e2e_util.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using ::testing::ElementsAre;
using Code = grpc::StatusCode;

constexpr int kProcesses = 3;
constexpr char kTenant[] = "site";

// The generated stubs of one countd.
struct Stubs {
  std::unique_ptr<v1::Counters::Stub> counters;
  std::unique_ptr<v1::GameMechanics::Stub> gm;
  std::unique_ptr<v1::Tally::Stub> tally;
};

Stubs StubsFor(const std::string& address) {
  std::shared_ptr<grpc::Channel> channel = NewChannel(address);
  return {v1::Counters::NewStub(channel), v1::GameMechanics::NewStub(channel),
          v1::Tally::NewStub(channel)};
}

// --- Counters ---------------------------------------------------------------------------------

v1::IncrementCountersRequest Inc(const std::string& uid, int64_t count, double value,
                                 const std::string& request_id = "") {
  v1::IncrementCountersRequest req;
  req.set_tenant(kTenant);
  req.set_uid(uid);
  v1::CounterIncrement* c = req.add_counters();
  c->set_class_("_c");
  c->set_path("/");
  c->set_count(count);
  c->set_value(value);
  req.set_request_id(request_id);
  return req;
}

grpc::Status Increment(Stubs& s, const v1::IncrementCountersRequest& req) {
  v1::IncrementCountersResponse resp;
  return Rpc(s.counters.get(), &v1::Counters::Stub::IncrementCounters, req, &resp);
}

// Every counter of `uid`, period total, as "class path period count=N value=D"; a failed call
// yields the single entry "RPC failed: <status>".
std::vector<std::string> ReadCounters(Stubs& s, const std::string& uid) {
  v1::GetCountersRequest req;
  req.set_tenant(kTenant);
  req.set_uid(uid);
  v1::GetCountersResponse resp;
  grpc::Status st = Rpc(s.counters.get(), &v1::Counters::Stub::GetCounters, req, &resp);
  if (!st.ok()) return {"RPC failed: " + Describe(st)};
  std::vector<std::string> out;
  for (const v1::CounterValue& v : resp.counters()) {
    out.push_back(absl::StrCat(v.class_(), " ", v.path(), " ", v.period(), " count=", v.count(),
                               " value=", v.value_decimal()));
  }
  return out;
}

// --- GameMechanics ----------------------------------------------------------------------------

grpc::Status SetAction(Stubs& s, const std::string& id, int64_t points,
                       const std::vector<std::string>& challenges = {}) {
  v1::SetActionConfigRequest req;
  req.set_tenant(kTenant);
  v1::Action* a = req.mutable_action();
  a->set_action_id(id);
  a->set_title("Title " + id);
  a->set_points(points);
  for (const std::string& c : challenges) a->add_challenges(c);
  v1::SetActionConfigResponse resp;
  return Rpc(s.gm.get(), &v1::GameMechanics::Stub::SetActionConfig, req, &resp);
}

grpc::Status SetChallenge(Stubs& s, const std::string& id, int32_t level, int64_t required) {
  v1::SetChallengeConfigRequest req;
  req.set_tenant(kTenant);
  v1::Challenge* c = req.mutable_challenge();
  c->set_challenge_id(id);
  c->set_title("Title " + id);
  v1::Level* l = c->add_levels();
  l->set_level(level);
  l->set_points_required(required);
  l->set_title(absl::StrCat("Level ", level));
  v1::SetChallengeConfigResponse resp;
  return Rpc(s.gm.get(), &v1::GameMechanics::Stub::SetChallengeConfig, req, &resp);
}

grpc::Status Notify(Stubs& s, const std::string& uid, const std::string& action,
                    const std::string& request_id, v1::NotifyActionResponse* resp) {
  v1::NotifyActionRequest req;
  req.set_tenant(kTenant);
  req.set_uid(uid);
  req.set_action_id(action);
  req.set_request_id(request_id);
  return Rpc(s.gm.get(), &v1::GameMechanics::Stub::NotifyAction, req, resp);
}

grpc::Status Redeem(Stubs& s, const std::string& uid, int64_t points, const std::string& request_id,
                    v1::RedeemPointsResponse* resp, const std::string& challenge = "") {
  v1::RedeemPointsRequest req;
  req.set_tenant(kTenant);
  req.set_uid(uid);
  req.set_challenge_id(challenge);
  req.set_points(points);
  req.set_request_id(request_id);
  return Rpc(s.gm.get(), &v1::GameMechanics::Stub::RedeemPoints, req, resp);
}

// The user's standing in `challenge`; a failed call records a failure and yields an empty one.
v1::Achievement Standing(Stubs& s, const std::string& uid, const std::string& challenge) {
  v1::GetChallengeStatusRequest req;
  req.set_tenant(kTenant);
  req.set_uid(uid);
  req.set_include(challenge);
  v1::GetChallengeStatusResponse resp;
  grpc::Status st = Rpc(s.gm.get(), &v1::GameMechanics::Stub::GetChallengeStatus, req, &resp);
  EXPECT_THAT(st, IsOk());
  EXPECT_EQ(resp.achievements_size(), 1);
  return resp.achievements_size() == 1 ? resp.achievements(0) : v1::Achievement();
}

struct LogEntry {
  std::string row;  // "challenge action points operation"
  int64_t points = 0;
  bool redeem = false;
};

// Every log entry of `uid`, newest first, through pages of 100.
std::vector<LogEntry> Log(Stubs& s, const std::string& uid) {
  std::vector<LogEntry> out;
  std::string token;
  for (int page = 0; page < 100; ++page) {
    v1::GetActionsLogRequest req;
    req.set_tenant(kTenant);
    req.set_uid(uid);
    req.set_page_size(100);
    req.set_page_token(token);
    v1::GetActionsLogResponse resp;
    grpc::Status st = Rpc(s.gm.get(), &v1::GameMechanics::Stub::GetActionsLog, req, &resp);
    EXPECT_THAT(st, IsOk());
    if (!st.ok()) break;
    for (const v1::ActionLogEntry& e : resp.actions()) {
      out.push_back({absl::StrCat(e.challenge_id(), " ", e.action_id(), " ", e.points(), " ",
                                  v1::Operation_Name(e.operation())),
                     e.points(), e.operation() == v1::OPERATION_REDEEM});
    }
    token = resp.next_page_token();
    if (token.empty()) break;
  }
  return out;
}

std::vector<std::string> Rows(const std::vector<LogEntry>& log) {
  std::vector<std::string> rows;
  for (const LogEntry& e : log) rows.push_back(e.row);
  return rows;
}

// A leaderboard as "uid rank points_total points_7days" rows; a failed call yields the single
// row "RPC failed: <status>".
std::vector<std::string> Top(Stubs& s, v1::Period period, const std::string& challenge,
                             int32_t count, const std::string& uid = "") {
  v1::GetTopUsersRequest req;
  req.set_tenant(kTenant);
  req.set_challenge_id(challenge);
  req.set_total_count(count);
  req.set_period(period);
  req.set_uid(uid);
  v1::GetTopUsersResponse resp;
  grpc::Status st = Rpc(s.gm.get(), &v1::GameMechanics::Stub::GetTopUsers, req, &resp);
  if (!st.ok()) return {"RPC failed: " + Describe(st)};
  std::vector<std::string> out;
  for (const v1::TopUser& u : resp.users()) {
    std::string row = absl::StrCat(u.uid(), " ", u.rank());
    for (const v1::Achievement& a : u.achievements()) {
      absl::StrAppend(&row, " ", a.points_total(), " ", a.points_7days());
    }
    out.push_back(row);
  }
  return out;
}

// --- Tally ------------------------------------------------------------------------------------

constexpr int32_t kWindowMinutes = 60;

grpc::Status TallyIncrement(Stubs& s, v1::TallyOp op, const std::string& counter,
                            const std::string& countable, int64_t delta,
                            const std::string& metadata = "") {
  v1::TallyIncrementRequest req;
  req.set_tenant(kTenant);
  req.set_op(op);
  req.set_counter(counter);
  req.set_countable(countable);
  req.set_window_minutes(kWindowMinutes);
  req.set_delta(delta);
  if (!metadata.empty()) req.set_metadata(metadata);
  v1::TallyIncrementResponse resp;
  return Rpc(s.tally.get(), &v1::Tally::Stub::Increment, req, &resp);
}

// Top-k items as "countable=count[ metadata]"; a failed call yields "RPC failed: <status>".
std::vector<std::string> TopK(Stubs& s, const std::string& counter, int32_t k) {
  v1::GetTopKRequest req;
  req.set_tenant(kTenant);
  req.set_counter(counter);
  req.set_k(k);
  req.set_with_metadata(true);
  v1::GetTopKResponse resp;
  grpc::Status st = Rpc(s.tally.get(), &v1::Tally::Stub::GetTopK, req, &resp);
  if (!st.ok()) return {"RPC failed: " + Describe(st)};
  std::vector<std::string> out;
  for (const v1::TopKItem& item : resp.items()) {
    out.push_back(absl::StrCat(item.countable(), "=", item.count(),
                               item.has_metadata() ? " " + item.metadata() : ""));
  }
  return out;
}

// The count as text, or the status code's name.
std::string Count(Stubs& s, v1::TallyOp op, const std::string& counter,
                  const std::string& countable) {
  v1::GetCountRequest req;
  req.set_tenant(kTenant);
  req.set_op(op);
  req.set_counter(counter);
  req.set_countable(countable);
  v1::GetCountResponse resp;
  grpc::Status st = Rpc(s.tally.get(), &v1::Tally::Stub::GetCount, req, &resp);
  return st.ok() ? absl::StrCat(resp.count()) : CodeName(st.error_code());
}

// Runs fn(t) on `threads` threads at once and joins them.
template <typename Fn>
void RunThreads(int threads, Fn fn) {
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&fn, t] { fn(t); });
  for (std::thread& th : pool) th.join();
}

bool Retryable(const grpc::Status& s) {
  // ABORTED: another process changed what the write read (16 rebuilds were not enough);
  // UNAVAILABLE / DEADLINE_EXCEEDED: storage trouble. None promises the call had no effect
  // except ABORTED, so every retry carries the same request_id.
  return s.error_code() == Code::ABORTED || s.error_code() == Code::UNAVAILABLE ||
         s.error_code() == Code::DEADLINE_EXCEEDED;
}

class ClusterMultiprocessE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(FixtureClusterDir().empty())
        << "needs the Redis Cluster of the CTest fixture redis_cluster: run `ctest -L redis`";
    absl::StatusOr<std::vector<std::unique_ptr<test::ServerProcess>>> group =
        StartCountdGroup(kProcesses, dir_.path(), FixtureClusterDir(), UniqueKeyPrefix());
    ASSERT_TRUE(group.ok()) << group.status();
    servers_ = *std::move(group);
    for (auto& s : servers_) stubs_.push_back(StubsFor(s->grpc_address()));
  }

  // One countd on RocksDB: what a single process answers after the same operations.
  void StartReference() {
    test::ServerProcessOptions options;
    options.data_dir = dir_.Sub("reference");
    options.extra_args = {"--store=rocksdb"};
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
        test::ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    reference_ = *std::move(server);
    ref_ = StubsFor(reference_->grpc_address());
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
  std::vector<std::unique_ptr<test::ServerProcess>> servers_;
  std::vector<Stubs> stubs_;
  std::unique_ptr<test::ServerProcess> reference_;
  Stubs ref_;
};

TEST_F(ClusterMultiprocessE2eTest, CounterRequestIdRetriedOnEveryProcessIsAppliedOnce) {
  const v1::IncrementCountersRequest inc = Inc("u1", 2, 0.5, "req-1");
  for (int p = 0; p < kProcesses; ++p) ASSERT_THAT(Increment(stubs_[p], inc), IsOk()) << "p" << p;
  for (int p = 0; p < kProcesses; ++p) {
    EXPECT_THAT(ReadCounters(stubs_[p], "u1"), ElementsAre("_c / total count=2 value=0.5"))
        << "p" << p;
  }

  // One id sent through the three processes at the same moment: applied once, and every
  // caller gets the answer of success.
  for (int round = 0; round < 5; ++round) {
    const v1::IncrementCountersRequest race = Inc("u1", 1, 0.25, absl::StrCat("race-", round));
    std::vector<grpc::Status> results(kProcesses);
    RunThreads(kProcesses, [&](int p) { results[p] = Increment(stubs_[p], race); });
    for (int p = 0; p < kProcesses; ++p) EXPECT_THAT(results[p], IsOk()) << "p" << p;
  }
  for (int p = 0; p < kProcesses; ++p) {
    EXPECT_THAT(ReadCounters(stubs_[p], "u1"), ElementsAre("_c / total count=7 value=1.75"))
        << "p" << p;
  }

  // The id of another request is refused by every process and changes nothing.
  const v1::IncrementCountersRequest other = Inc("u1", 3, 0.5, "req-1");
  for (int p = 0; p < kProcesses; ++p) {
    EXPECT_THAT(Increment(stubs_[p], other), IsError(Code::FAILED_PRECONDITION, "request_id"))
        << "p" << p;
  }
  for (int p = 0; p < kProcesses; ++p) {
    EXPECT_THAT(ReadCounters(stubs_[p], "u1"), ElementsAre("_c / total count=7 value=1.75"))
        << "p" << p;
  }
}

TEST_F(ClusterMultiprocessE2eTest, GmRequestIdRetriedOnEveryProcessIsAppliedOnce) {
  // Configured before any other process reads the tenant's configuration.
  ASSERT_THAT(SetAction(stubs_[0], "earn", 7), IsOk());
  ASSERT_THAT(SetAction(stubs_[0], "other", 1), IsOk());

  std::string first;
  for (int p = 0; p < kProcesses; ++p) {
    v1::NotifyActionResponse resp;
    ASSERT_THAT(Notify(stubs_[p], "u", "earn", "order-1", &resp), IsOk()) << "p" << p;
    if (p == 0) first = resp.SerializeAsString();
    EXPECT_EQ(resp.SerializeAsString(), first) << "p" << p << " answered otherwise";
  }
  for (int p = 0; p < kProcesses; ++p) {
    EXPECT_EQ(Standing(stubs_[p], "u", "_default").points_total(), 7) << "p" << p;
  }

  for (int round = 0; round < 5; ++round) {
    std::vector<grpc::Status> results(kProcesses);
    std::vector<v1::NotifyActionResponse> answers(kProcesses);
    RunThreads(kProcesses, [&](int p) {
      results[p] = Notify(stubs_[p], "u", "earn", absl::StrCat("race-", round), &answers[p]);
    });
    for (int p = 0; p < kProcesses; ++p) {
      EXPECT_THAT(results[p], IsOk()) << "p" << p;
      EXPECT_EQ(answers[p].SerializeAsString(), answers[0].SerializeAsString()) << "p" << p;
    }
  }

  v1::NotifyActionResponse refused;
  for (int p = 0; p < kProcesses; ++p) {
    EXPECT_THAT(Notify(stubs_[p], "u", "other", "order-1", &refused),
                IsError(Code::FAILED_PRECONDITION, "request_id"))
        << "p" << p;
  }

  std::string first_redeem;
  for (int p : {2, 0, 1}) {
    v1::RedeemPointsResponse resp;
    ASSERT_THAT(Redeem(stubs_[p], "u", 10, "redeem-1", &resp), IsOk()) << "p" << p;
    if (first_redeem.empty()) first_redeem = resp.SerializeAsString();
    EXPECT_EQ(resp.SerializeAsString(), first_redeem) << "p" << p << " answered otherwise";
    EXPECT_EQ(resp.achievement().points_total(), 6 * 7 - 10);
  }
  v1::RedeemPointsResponse refused_redeem;
  for (int p = 0; p < kProcesses; ++p) {
    EXPECT_THAT(Redeem(stubs_[p], "u", 11, "redeem-1", &refused_redeem),
                IsError(Code::FAILED_PRECONDITION, "request_id"))
        << "p" << p;
  }

  const std::vector<std::string> log = Rows(Log(stubs_[0], "u"));
  EXPECT_EQ(log.size(), 7u);  // six grants, one redeem
  EXPECT_EQ(std::count(log.begin(), log.end(), "_default earn 7 OPERATION_GRANT"), 6);
  EXPECT_EQ(std::count(log.begin(), log.end(), "_default _redeem -10 OPERATION_REDEEM"), 1);
  for (int p = 0; p < kProcesses; ++p) {
    EXPECT_EQ(Standing(stubs_[p], "u", "_default").points_total(), 32) << "p" << p;
    EXPECT_EQ(Rows(Log(stubs_[p], "u")), log) << "p" << p;
  }
}

TEST_F(ClusterMultiprocessE2eTest, ConcurrentNotifyAndRedeemAcrossProcessesKeepTheLedgerExact) {
  ASSERT_THAT(SetAction(stubs_[0], "earn3", 3), IsOk());
  ASSERT_THAT(SetAction(stubs_[0], "earn5", 5), IsOk());
  constexpr int kThreads = 6;     // two per process
  constexpr int kOps = 30;        // per thread: earn3, earn5, redeem 9, earn3, ...
  constexpr int64_t kRedeem = 9;  // more than a cycle grants: some redeems must be refused
  constexpr int kMaxAttempts = 50;

  struct Ledger {
    int64_t granted = 0, redeemed = 0;
    int notified = 0, redeems = 0, refused_redeems = 0, retries = 0;
    int64_t lowest_balance = 0;
    std::vector<std::string> unexpected;
  };
  std::vector<Ledger> ledgers(kThreads);
  RunThreads(kThreads, [&](int t) {
    Ledger& mine = ledgers[t];
    for (int k = 0; k < kOps; ++k) {
      const std::string id = absl::StrCat("t", t, "-", k);
      const int kind = k % 3;
      bool resolved = false;
      for (int attempt = 0; attempt < kMaxAttempts && !resolved; ++attempt) {
        Stubs& s = stubs_[(t + attempt) % kProcesses];  // a retry goes to the next process
        grpc::Status st;
        int64_t balance = 0;
        if (kind < 2) {
          v1::NotifyActionResponse resp;
          st = Notify(s, "player", kind == 0 ? "earn3" : "earn5", id, &resp);
          if (st.ok()) {
            mine.granted += kind == 0 ? 3 : 5;
            ++mine.notified;
            balance = resp.achievements_size() == 1 ? resp.achievements(0).points_total() : -1;
          }
        } else {
          v1::RedeemPointsResponse resp;
          st = Redeem(s, "player", kRedeem, id, &resp);
          if (st.ok()) {
            mine.redeemed += kRedeem;
            ++mine.redeems;
            balance = resp.achievement().points_total();
          } else if (st.error_code() == Code::FAILED_PRECONDITION &&
                     st.error_message().find("points") != std::string::npos) {
            ++mine.refused_redeems;  // not enough points at that moment: nothing applied
            resolved = true;
          }
        }
        if (st.ok()) {
          mine.lowest_balance = std::min(mine.lowest_balance, balance);
          resolved = true;
        } else if (!resolved && Retryable(st)) {
          ++mine.retries;
          absl::SleepFor(absl::Milliseconds(5));
        } else if (!resolved) {
          mine.unexpected.push_back(absl::StrCat(id, ": ", Describe(st)));
          resolved = true;
        }
      }
      if (!resolved) mine.unexpected.push_back(absl::StrCat(id, ": unresolved"));
    }
  });

  Ledger all;
  for (const Ledger& t : ledgers) {
    all.granted += t.granted;
    all.redeemed += t.redeemed;
    all.notified += t.notified;
    all.redeems += t.redeems;
    all.refused_redeems += t.refused_redeems;
    all.retries += t.retries;
    all.lowest_balance = std::min(all.lowest_balance, t.lowest_balance);
    all.unexpected.insert(all.unexpected.end(), t.unexpected.begin(), t.unexpected.end());
  }
  EXPECT_THAT(all.unexpected, ::testing::IsEmpty());
  EXPECT_EQ(all.notified, kThreads * (kOps - kOps / 3));
  EXPECT_EQ(all.redeems + all.refused_redeems, kThreads * (kOps / 3));
  EXPECT_GE(all.lowest_balance, 0) << "an acknowledged answer showed a negative balance";
  std::cout << "ledger: " << all.notified << " grants (" << all.granted << " points), "
            << all.redeems << " redeems (" << all.redeemed << " points), " << all.refused_redeems
            << " redeems refused for lack of points, " << all.retries
            << " retries after ABORTED/UNAVAILABLE" << std::endl;

  const std::vector<LogEntry> log = Log(stubs_[0], "player");
  EXPECT_EQ(static_cast<int>(log.size()), all.notified + all.redeems);
  int64_t log_sum = 0;
  int log_redeems = 0;
  for (const LogEntry& e : log) {
    log_sum += e.points;
    log_redeems += e.redeem ? 1 : 0;
  }
  EXPECT_EQ(log_sum, all.granted - all.redeemed);
  EXPECT_EQ(log_redeems, all.redeems);
  for (int p = 0; p < kProcesses; ++p) {
    v1::Achievement a = Standing(stubs_[p], "player", "_default");
    EXPECT_EQ(a.points_total(), all.granted - all.redeemed) << "p" << p;
    EXPECT_EQ(a.points_7days(), all.granted) << "p" << p;
    EXPECT_EQ(Rows(Log(stubs_[p], "player")), Rows(log)) << "p" << p;
  }
}

TEST_F(ClusterMultiprocessE2eTest, ConcurrentIncrementsAcrossProcessesSumExactly) {
  constexpr int kThreads = 6;
  constexpr int kOps = 40;
  std::vector<std::vector<std::string>> errors(kThreads);
  std::vector<std::vector<std::string>> stash_keys(kThreads);
  RunThreads(kThreads, [&](int t) {
    Stubs& s = stubs_[t % kProcesses];
    for (int k = 0; k < kOps; ++k) {
      grpc::Status st = Increment(s, Inc("hot", 1, 0.25));
      if (!st.ok()) errors[t].push_back("IncrementCounters: " + Describe(st));
      v1::IncrRequest incr;
      incr.set_tenant(kTenant);
      incr.set_visitor_id("v");
      incr.set_counter_name("clicks");
      v1::IncrResponse incr_resp;
      st = Rpc(s.counters.get(), &v1::Counters::Stub::Incr, incr, &incr_resp);
      if (st.ok()) {
        stash_keys[t].push_back(incr_resp.key());
      } else {
        errors[t].push_back("Incr: " + Describe(st));
      }
      st = TallyIncrement(s, v1::OP_ECOUNT, "views", "page", 1);
      if (!st.ok()) errors[t].push_back("Tally.Increment: " + Describe(st));
    }
  });
  for (int t = 0; t < kThreads; ++t) EXPECT_THAT(errors[t], ::testing::IsEmpty()) << "thread " << t;

  // Stash buckets are per UTC day: count what each day's bucket got.
  std::map<std::string, int64_t> per_day;
  for (const auto& keys : stash_keys) {
    for (const std::string& key : keys) ++per_day[key.substr(key.rfind(':') + 1)];
  }
  for (int p = 0; p < kProcesses; ++p) {
    EXPECT_THAT(ReadCounters(stubs_[p], "hot"),
                ElementsAre(absl::StrCat("_c / total count=", kThreads * kOps,
                                         " value=", kThreads * kOps / 4)))
        << "p" << p;
    for (const auto& [day, count] : per_day) {
      v1::GetRequest get;
      get.set_tenant(kTenant);
      get.set_visitor_id("v");
      get.set_counter_name("clicks");
      get.set_date(day);
      v1::GetResponse got;
      EXPECT_THAT(Rpc(stubs_[p].counters.get(), &v1::Counters::Stub::Get, get, &got), IsOk());
      EXPECT_EQ(got.count(), count) << "p" << p << " day " << day;
    }
    EXPECT_EQ(Count(stubs_[p], v1::OP_ECOUNT, "views", "page"), absl::StrCat(kThreads * kOps))
        << "p" << p;
  }
}

// Rankings are read through every process after each has built its own (round 1) and after
// writes spread over all three (round 2): each must answer what one process answers.
TEST_F(ClusterMultiprocessE2eTest, TallyTopKThroughEveryProcessEqualsSingleProcessReference) {
  ASSERT_NO_FATAL_FAILURE(StartReference());
  auto countable = [](int i) { return absl::StrFormat("c%02d", i); };
  // Round 1: through process 0 only.
  for (int i = 0; i < 12; ++i) {
    for (Stubs* s : {&stubs_[0], &ref_}) {
      ASSERT_THAT(
          TallyIncrement(*s, v1::OP_TOPK, "hits", countable(i), i % 5 + 1, absl::StrCat("m", i)),
          IsOk());
    }
  }
  auto expect_same = [&](const std::string& when) {
    const std::vector<std::string> top5 = TopK(ref_, "hits", 5);
    const std::vector<std::string> top_all = TopK(ref_, "hits", 100);
    ASSERT_EQ(top_all.size(), 12u) << when;
    for (int p = 0; p < kProcesses; ++p) {
      EXPECT_EQ(TopK(stubs_[p], "hits", 5), top5) << when << ", through p" << p;
      EXPECT_EQ(TopK(stubs_[p], "hits", 100), top_all) << when << ", through p" << p;
      for (int i = 0; i < 12; ++i) {
        EXPECT_EQ(Count(stubs_[p], v1::OP_TOPK, "hits", countable(i)),
                  Count(ref_, v1::OP_TOPK, "hits", countable(i)))
            << when << ", through p" << p << ", " << countable(i);
      }
    }
  };
  expect_same("after round 1");
  // Round 2: spread over the three processes; the order of ranks changes.
  for (int j = 0; j < 24; ++j) {
    const std::string c = countable(j * 7 % 12);
    ASSERT_THAT(TallyIncrement(stubs_[j % kProcesses], v1::OP_TOPK, "hits", c, j % 3 + 1), IsOk());
    ASSERT_THAT(TallyIncrement(ref_, v1::OP_TOPK, "hits", c, j % 3 + 1), IsOk());
  }
  expect_same("after round 2");
}

TEST_F(ClusterMultiprocessE2eTest, GmLeaderboardsThroughEveryProcessEqualSingleProcessReference) {
  ASSERT_NO_FATAL_FAILURE(StartReference());
  for (Stubs* s : {&stubs_[0], &ref_}) {
    ASSERT_THAT(SetChallenge(*s, "quiz", 1, 8), IsOk());
    ASSERT_THAT(SetAction(*s, "one", 1), IsOk());
    ASSERT_THAT(SetAction(*s, "five", 5), IsOk());
    ASSERT_THAT(SetAction(*s, "answer", 4, {"quiz"}), IsOk());
  }
  struct Op {
    std::string uid, action;  // action "" = redeem `points`
    int64_t points = 0;
  };
  auto apply = [&](Stubs& s, const Op& op) {
    if (op.action.empty()) {
      v1::RedeemPointsResponse resp;
      return Redeem(s, op.uid, op.points, "", &resp);
    }
    v1::NotifyActionResponse resp;
    return Notify(s, op.uid, op.action, "", &resp);
  };
  auto expect_same = [&](const std::string& when) {
    struct Board {
      v1::Period period;
      std::string challenge;
      int32_t count;
      std::string uid;
    };
    for (const Board& b : std::vector<Board>{{v1::PERIOD_ALL, "", 10, ""},
                                             {v1::PERIOD_DAYS7, "", 10, ""},
                                             {v1::PERIOD_ALL, "quiz", 10, ""},
                                             {v1::PERIOD_DAYS7, "quiz", 10, ""},
                                             {v1::PERIOD_DAYS7, "", 2, "eve"},
                                             {v1::PERIOD_ALL, "", 2, "dan"}}) {
      const std::vector<std::string> want = Top(ref_, b.period, b.challenge, b.count, b.uid);
      ASSERT_FALSE(want.empty()) << when;
      for (int p = 0; p < kProcesses; ++p) {
        EXPECT_EQ(Top(stubs_[p], b.period, b.challenge, b.count, b.uid), want)
            << when << ", through p" << p << ": " << v1::Period_Name(b.period) << " \""
            << b.challenge << "\" count " << b.count << " uid \"" << b.uid << "\"";
      }
    }
  };
  // Round 1: through process 0 only.
  for (const Op& op : std::vector<Op>{
           {"ann", "five"}, {"ben", "one"}, {"cat", "answer"}, {"dan", "five"}, {"eve", "one"}}) {
    ASSERT_THAT(apply(stubs_[0], op), IsOk());
    ASSERT_THAT(apply(ref_, op), IsOk());
  }
  expect_same("after round 1");
  // Round 2: spread over the three processes; grants, a redeem, new leaders and ties.
  const std::vector<Op> round2 = {{"ben", "five"},   {"eve", "answer"}, {"cat", "five"},
                                  {"ann", "one"},    {"dan", "", 3},    {"eve", "five"},
                                  {"ben", "answer"}, {"cat", "one"},    {"ann", "answer"},
                                  {"dan", "answer"}, {"eve", "", 2},    {"ben", "one"}};
  for (size_t j = 0; j < round2.size(); ++j) {
    ASSERT_THAT(apply(stubs_[j % kProcesses], round2[j]), IsOk()) << j;
    ASSERT_THAT(apply(ref_, round2[j]), IsOk()) << j;
  }
  expect_same("after round 2");
}

}  // namespace
}  // namespace countd::e2e
