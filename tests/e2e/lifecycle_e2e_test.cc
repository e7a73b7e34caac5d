// End-to-end tests of the countd process lifecycle: graceful shutdown on SIGTERM/SIGINT, data
// kept across a restart, refusal to start on bad flags or environment, and the data dir lock.
#include <signal.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "countd/v1/counters.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using Stub = v1::Counters::Stub;
using test::ExitStatus;
using test::ServerProcess;
using test::ServerProcessOptions;

// The server's --grace-period default; a clean shutdown of an idle server takes far less.
constexpr absl::Duration kGracePeriod = absl::Seconds(10);
// Bound for a process that must exit (a failed start, or a shutdown that is not graceful).
constexpr absl::Duration kExitTimeout = absl::Seconds(30);

class LifecycleE2eTest : public ::testing::Test {
 protected:
  ServerProcessOptions Options(std::vector<std::string> extra_args = {}) const {
    ServerProcessOptions options;
    options.data_dir = dir_.Sub("data");
    options.extra_args = std::move(extra_args);
    return options;
  }

  // Starts a server, failing the test (with the server's output) when it does not come up.
  std::unique_ptr<ServerProcess> StartOrFail(const ServerProcessOptions& options) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  test::ScopedTempDir dir_;
};

grpc::Status StashIncr(Stub* stub, const std::string& tenant, const std::string& visitor,
                       int64_t delta, std::string* key) {
  v1::IncrRequest req;
  req.set_tenant(tenant);
  req.set_visitor_id(visitor);
  req.set_counter_name("visits");
  req.set_delta(delta);
  v1::IncrResponse resp;
  grpc::Status s = Rpc(stub, &Stub::Incr, req, &resp);
  *key = resp.key();
  return s;
}

TEST_F(LifecycleE2eTest, SigtermExitsZeroWithinTheGracePeriod) {
  std::unique_ptr<ServerProcess> server = StartOrFail(Options());
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Stub> stub = v1::Counters::NewStub(NewChannel(server->grpc_address()));
  std::string key;
  ASSERT_THAT(StashIncr(stub.get(), "t", "v1", 1, &key), IsOk());

  const absl::Time start = absl::Now();
  ASSERT_TRUE(server->Signal(SIGTERM).ok());
  std::optional<ExitStatus> exit = server->WaitForExit(kGracePeriod + absl::Seconds(5));
  ASSERT_TRUE(exit.has_value()) << "no exit within the grace period; stderr:\n"
                                << server->stderr_text();
  EXPECT_TRUE(exit->Success()) << exit->ToString() << "\nstderr:\n" << server->stderr_text();
  EXPECT_LT(absl::Now() - start, kGracePeriod) << "an idle server should not need the grace";
}

TEST_F(LifecycleE2eTest, SigintExitsZero) {
  std::unique_ptr<ServerProcess> server = StartOrFail(Options());
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Signal(SIGINT).ok());
  std::optional<ExitStatus> exit = server->WaitForExit(kGracePeriod + absl::Seconds(5));
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->Success()) << exit->ToString() << "\nstderr:\n" << server->stderr_text();
}

TEST_F(LifecycleE2eTest, DataWrittenBeforeSigtermIsThereAfterRestart) {
  const std::string tenant = "site";
  std::string stash_key;
  {
    std::unique_ptr<ServerProcess> server = StartOrFail(Options());
    ASSERT_NE(server, nullptr);
    std::unique_ptr<Stub> stub = v1::Counters::NewStub(NewChannel(server->grpc_address()));

    v1::RegisterCountersRequest reg;
    reg.set_tenant(tenant);
    v1::CounterPath* p = reg.add_counters();
    p->set_class_("_buy");
    p->set_path("/shoes");
    v1::RegisterCountersResponse reg_resp;
    ASSERT_THAT(Rpc(stub.get(), &Stub::RegisterCounters, reg, &reg_resp), IsOk());
    v1::SetCounterSettingsRequest set;
    set.set_tenant(tenant);
    set.mutable_settings()->set_max_path_depth(4);
    v1::SetCounterSettingsResponse set_resp;
    ASSERT_THAT(Rpc(stub.get(), &Stub::SetCounterSettings, set, &set_resp), IsOk());
    for (int i = 0; i < 3; ++i) {
      v1::IncrementCountersRequest inc;
      inc.set_tenant(tenant);
      inc.set_uid("u1");
      v1::CounterIncrement* c = inc.add_counters();
      c->set_class_("_buy");
      c->set_path("/shoes");
      c->set_value(0.1);
      v1::IncrementCountersResponse inc_resp;
      ASSERT_THAT(Rpc(stub.get(), &Stub::IncrementCounters, inc, &inc_resp), IsOk());
    }
    ASSERT_THAT(StashIncr(stub.get(), tenant, "v1", 41, &stash_key), IsOk());
    std::string again;
    ASSERT_THAT(StashIncr(stub.get(), tenant, "v1", 1, &again), IsOk());
    if (again != stash_key) GTEST_SKIP() << "crossed UTC midnight between the two writes";

    ASSERT_TRUE(server->Signal(SIGTERM).ok());
    std::optional<ExitStatus> exit = server->WaitForExit(kGracePeriod + absl::Seconds(5));
    ASSERT_TRUE(exit.has_value());
    ASSERT_TRUE(exit->Success()) << exit->ToString() << "\n" << server->stderr_text();
  }

  std::unique_ptr<ServerProcess> server = StartOrFail(Options());
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Stub> stub = v1::Counters::NewStub(NewChannel(server->grpc_address()));

  v1::GetRegisteredCountersRequest list;
  list.set_tenant(tenant);
  v1::GetRegisteredCountersResponse listed;
  ASSERT_THAT(Rpc(stub.get(), &Stub::GetRegisteredCounters, list, &listed), IsOk());
  ASSERT_EQ(listed.counters_size(), 1);
  EXPECT_EQ(listed.counters(0).class_(), "_buy");
  EXPECT_EQ(listed.counters(0).path(), "/shoes");
  v1::GetCounterSettingsRequest get_settings;
  get_settings.set_tenant(tenant);
  v1::GetCounterSettingsResponse settings;
  ASSERT_THAT(Rpc(stub.get(), &Stub::GetCounterSettings, get_settings, &settings), IsOk());
  EXPECT_EQ(settings.settings().max_path_depth(), 4);

  v1::GetCountersRequest read;
  read.set_tenant(tenant);
  read.set_uid("u1");
  v1::GetCountersResponse counters;
  ASSERT_THAT(Rpc(stub.get(), &Stub::GetCounters, read, &counters), IsOk());
  ASSERT_EQ(counters.counters_size(), 1);
  EXPECT_EQ(counters.counters(0).count(), 3);
  EXPECT_EQ(counters.counters(0).value_decimal(), "0.3");

  // The bucket key is "<tenant>:visits:YYYY-MM-DD"; read that day back.
  const std::string date = stash_key.substr(stash_key.rfind(':') + 1);
  v1::GetRequest get;
  get.set_tenant(tenant);
  get.set_visitor_id("v1");
  get.set_counter_name("visits");
  get.set_date(date);
  v1::GetResponse got;
  ASSERT_THAT(Rpc(stub.get(), &Stub::Get, get, &got), IsOk());
  EXPECT_EQ(got.count(), 42);
}

TEST_F(LifecycleE2eTest, BadSyncFlagIsRefusedNamingTheFlag) {
  std::string err = ExpectRefusedStart(Options({"--sync=bogus"}));
  EXPECT_THAT(err, HasSubstr("--sync"));
  EXPECT_THAT(err, HasSubstr("bogus"));
}

TEST_F(LifecycleE2eTest, BadGrpcAddressIsRefusedNamingTheFlag) {
  std::string err = ExpectRefusedStart(Options({"--grpc-addr=no-port-here"}));
  EXPECT_THAT(err, HasSubstr("--grpc-addr"));
}

TEST_F(LifecycleE2eTest, UnknownFlagIsRefused) {
  std::string err = ExpectRefusedStart(Options({"--no-such-flag=1"}));
  EXPECT_THAT(err, AnyOf(HasSubstr("no-such-flag"), HasSubstr("no_such_flag")));
}

// Abseil's --help lists only the flags of the file holding main() unless told otherwise; countd's
// flags live in server/flags.cc. Every documented flag must show up.
TEST_F(LifecycleE2eTest, HelpListsTheServerFlags) {
  ServerProcessOptions options = Options({"--help"});
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Launch(options);
  ASSERT_TRUE(server.ok()) << server.status();
  std::optional<ExitStatus> exit = (*server)->WaitForExit(kExitTimeout);
  ASSERT_TRUE(exit.has_value());
  std::string help = (*server)->stdout_text() + (*server)->stderr_text();
  for (const char* flag : {"--data_dir", "--grpc_addr", "--http_addr", "--sync", "--grace_period",
                           "--workers", "--log_level", "--block_cache_mb", "--memtable_mb",
                           "--http_max_body_bytes", "--tally_max_ranked_items"}) {
    EXPECT_THAT(help, HasSubstr(flag)) << help;
  }
  EXPECT_THAT(help, HasSubstr("COUNTD_"));  // the environment rule
  EXPECT_THAT(help, Not(HasSubstr("listening on")));
}

TEST_F(LifecycleE2eTest, SyncIsReadFromTheEnvironment) {
  ServerProcessOptions options = Options();
  options.env = {{"COUNTD_SYNC", "bogus"}};
  std::string err = ExpectRefusedStart(options);
  EXPECT_THAT(err, HasSubstr("--sync"));
  EXPECT_THAT(err, HasSubstr("bogus"));
}

TEST_F(LifecycleE2eTest, CommandLineWinsOverTheEnvironment) {
  ServerProcessOptions options = Options({"--sync=always"});
  options.env = {{"COUNTD_SYNC", "bogus"}};
  std::unique_ptr<ServerProcess> server = StartOrFail(options);
  ASSERT_NE(server, nullptr);
  std::unique_ptr<Stub> stub = v1::Counters::NewStub(NewChannel(server->grpc_address()));
  std::string key;
  EXPECT_THAT(StashIncr(stub.get(), "t", "v1", 1, &key), IsOk());
}

TEST_F(LifecycleE2eTest, SecondServerOnTheSameDataDirIsRefused) {
  std::unique_ptr<ServerProcess> first = StartOrFail(Options());
  ASSERT_NE(first, nullptr);

  std::string err = ExpectRefusedStart(Options());
  EXPECT_THAT(err, AnyOf(HasSubstr("lock"), HasSubstr("LOCK")));
  EXPECT_THAT(err, HasSubstr(dir_.Sub("data")));

  // The first server is unharmed and still serves.
  std::unique_ptr<Stub> stub = v1::Counters::NewStub(NewChannel(first->grpc_address()));
  std::string key;
  EXPECT_THAT(StashIncr(stub.get(), "t", "v1", 1, &key), IsOk());
  EXPECT_FALSE(first->WaitForExit(absl::ZeroDuration()).has_value());
}

}  // namespace
}  // namespace countd::e2e
