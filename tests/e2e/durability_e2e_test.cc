// End-to-end durability test: concurrent clients write to countd, the server is stopped in the
// middle (SIGKILL, or SIGTERM for a graceful stop), and after a restart on the same data dir
// every acknowledged increment is there. Runs with --sync=none (the WAL survives process death)
// and --sync=always.
#include <signal.h>

#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "countd/v1/counters.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using Stub = v1::Counters::Stub;
using test::ServerProcess;
using test::ServerProcessOptions;

constexpr int kThreads = 8;
// The server is stopped once this many increments were acknowledged, all threads together.
constexpr int kStopAfterAcks = 300;
// Bounds of the whole run: per-thread requests and wall time before the kill.
constexpr int kMaxRequestsPerThread = 5000;
constexpr absl::Duration kMaxRunTime = absl::Seconds(60);
constexpr char kTenant[] = "durability";
// The server's default --grace-period.
constexpr absl::Duration kGracePeriod = absl::Seconds(10);

// What one client thread saw. Each thread has at most one call in flight and stops at its first
// failed call, so at most one of its increments may be applied without an acknowledgement.
struct ThreadLog {
  int64_t stash_acked = 0;
  std::set<std::string> stash_keys;  // bucket keys the acknowledged Incr calls returned
  int64_t signals_acked = 0;
  grpc::Status first_error;
  int requests = 0;
};

// (--sync value, signal that stops the server mid-run)
using Param = std::tuple<std::string, int>;

class DurabilityE2eTest : public ::testing::TestWithParam<Param> {
 protected:
  ServerProcessOptions Options() const {
    ServerProcessOptions options;
    options.data_dir = dir_.Sub("data");
    options.extra_args = {absl::StrCat("--sync=", std::get<0>(GetParam()))};
    return options;
  }

  test::ScopedTempDir dir_;
};

// Client loop of thread `t`: alternates a Stash Incr of visitor "v<t>" and an IncrementCounters
// of uid "u<t>" until a call fails, `stop` is set, or the request cap is reached.
void RunClient(int t, Stub* stub, const std::atomic<bool>* stop, absl::Mutex* mu, int* total_acked,
               ThreadLog* log) {
  const std::string visitor = absl::StrCat("v", t);
  const std::string uid = absl::StrCat("u", t);
  while (!stop->load() && log->requests < kMaxRequestsPerThread) {
    const bool stash = log->requests % 2 == 0;
    ++log->requests;
    grpc::Status s;
    if (stash) {
      v1::IncrRequest req;
      req.set_tenant(kTenant);
      req.set_visitor_id(visitor);
      req.set_counter_name("hits");
      v1::IncrResponse resp;
      s = Rpc(stub, &Stub::Incr, req, &resp);
      if (s.ok()) {
        ++log->stash_acked;
        log->stash_keys.insert(resp.key());
      }
    } else {
      v1::IncrementCountersRequest req;
      req.set_tenant(kTenant);
      req.set_uid(uid);
      v1::CounterIncrement* c = req.add_counters();
      c->set_class_("_hits");
      c->set_path("/");
      v1::IncrementCountersResponse resp;
      s = Rpc(stub, &Stub::IncrementCounters, req, &resp);
      if (s.ok()) ++log->signals_acked;
    }
    if (!s.ok()) {
      log->first_error = s;
      return;
    }
    absl::MutexLock lock(mu);
    ++*total_acked;
  }
}

TEST_P(DurabilityE2eTest, EveryAcknowledgedIncrementSurvivesAStopMidRun) {
  const int stop_signal = std::get<1>(GetParam());
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(Options());
  ASSERT_TRUE(server.ok()) << server.status();
  std::shared_ptr<grpc::Channel> channel = NewChannel((*server)->grpc_address());
  std::unique_ptr<Stub> stub = v1::Counters::NewStub(channel);

  std::atomic<bool> stop{false};
  absl::Mutex mu;
  int total_acked = 0;
  std::vector<ThreadLog> logs(kThreads);
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back(RunClient, t, stub.get(), &stop, &mu, &total_acked, &logs[t]);
  }

  // Stop the server while the clients are still writing: they are never stopped first.
  bool reached;
  {
    absl::MutexLock lock(&mu);
    auto enough = [&total_acked]() { return total_acked >= kStopAfterAcks; };
    reached = mu.AwaitWithTimeout(absl::Condition(&enough), kMaxRunTime);
  }
  std::optional<test::ExitStatus> ended;
  if (stop_signal == SIGKILL) {
    ended = (*server)->Kill();
  } else {
    EXPECT_TRUE((*server)->Signal(stop_signal).ok());
    ended = (*server)->WaitForExit(kGracePeriod + absl::Seconds(10));
  }
  stop = true;  // the clients now fail anyway; this only bounds them
  for (std::thread& c : clients) c.join();
  ASSERT_TRUE(reached) << "only " << total_acked << " increments acknowledged in " << kMaxRunTime
                       << "; server stderr:\n"
                       << (*server)->stderr_text();
  ASSERT_TRUE(ended.has_value()) << "no exit after signal " << stop_signal;
  if (stop_signal == SIGKILL) {
    EXPECT_EQ(ended->signal, SIGKILL)
        << "the server ended before the kill: " << ended->ToString() << "\n"
        << (*server)->stderr_text();
  } else {
    EXPECT_TRUE(ended->Success()) << "a graceful stop under load must exit 0: " << ended->ToString()
                                  << "\n"
                                  << (*server)->stderr_text();
  }

  // Restart on the same data dir and read everything back.
  server = ServerProcess::Start(Options());
  ASSERT_TRUE(server.ok()) << server.status();
  stub = v1::Counters::NewStub(NewChannel((*server)->grpc_address()));

  int64_t acked_sum = 0;
  for (int t = 0; t < kThreads; ++t) {
    const ThreadLog& log = logs[t];
    SCOPED_TRACE(absl::StrCat("thread ", t, " (", log.requests, " requests, first error ",
                              Describe(log.first_error), ")"));
    acked_sum += log.stash_acked + log.signals_acked;

    // Stash: sum the visitor's buckets of every day an acknowledged Incr reported (normally
    // one; two if the run crossed UTC midnight).
    int64_t stash_stored = 0;
    for (const std::string& key : log.stash_keys) {
      v1::GetRequest get;
      get.set_tenant(kTenant);
      get.set_visitor_id(absl::StrCat("v", t));
      get.set_counter_name("hits");
      get.set_date(key.substr(key.rfind(':') + 1));
      v1::GetResponse got;
      grpc::Status s = Rpc(stub.get(), &Stub::Get, get, &got);
      ASSERT_THAT(s, IsOk()) << "bucket " << key;
      stash_stored += got.count();
    }
    EXPECT_GE(stash_stored, log.stash_acked) << "acknowledged Stash increments were lost";
    EXPECT_LE(stash_stored, log.stash_acked + 1) << "more Stash increments than were sent";

    v1::GetCountersRequest read;
    read.set_tenant(kTenant);
    read.set_uid(absl::StrCat("u", t));
    v1::GetCountersResponse counters;
    ASSERT_THAT(Rpc(stub.get(), &Stub::GetCounters, read, &counters), IsOk());
    int64_t signals_stored = 0;
    for (const v1::CounterValue& v : counters.counters()) {
      if (v.class_() == "_hits" && v.path() == "/" && v.period() == "total") {
        signals_stored = v.count();
      }
    }
    EXPECT_GE(signals_stored, log.signals_acked) << "acknowledged Signals increments were lost";
    EXPECT_LE(signals_stored, log.signals_acked + 1) << "more Signals increments than were sent";
  }
  EXPECT_GE(acked_sum, kStopAfterAcks);
}

INSTANTIATE_TEST_SUITE_P(SyncAndSignal, DurabilityE2eTest,
                         ::testing::Combine(::testing::Values("none", "always"),
                                            ::testing::Values(SIGKILL, SIGTERM)),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return absl::StrCat(
                               "sync_", std::get<0>(info.param), "_",
                               std::get<1>(info.param) == SIGKILL ? "sigkill" : "sigterm");
                         });

}  // namespace
}  // namespace countd::e2e
