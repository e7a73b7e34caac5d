// End-to-end tests of the countd-bench load generator against a countd that runs as deployed:
// --auth=required and TLS. The bench sends the tenant's credential on every call, dials TLS with
// the --tls-* flags it shares with countctl (client/connection.h), and its counts must match what
// the server stored. With --targets it spreads one load over several countd processes, and its
// per-target figures must match what each of them stored.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "countd/v1/admin.grpc.pb.h"
#include "countd/v1/counters.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/e2e/countctl_runner.h"
#include "tests/e2e/tls_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class BenchClientE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<PkiFiles> files = WritePki(dir_);
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = *std::move(files);
    token_ = absl::Base64Escape(std::string(32, 't')) + "operator";
    std::ofstream(dir_.Sub("token")) << token_ << "\n";
    std::ofstream(dir_.Sub("key")) << std::string(64, 'a') << "\n";  // 32 bytes of 0xaa, hex
    test::ServerProcessOptions options;
    options.data_dir = dir_.Sub("data");
    options.extra_args = ServerTlsArgs(files_);
    options.extra_args.push_back("--auth=required");
    options.extra_args.push_back("--operator-token-file=" + dir_.Sub("token"));
    options.extra_args.push_back("--secrets-key-file=" + dir_.Sub("key"));
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
        test::ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = TlsChannel(server_->grpc_address(), files_.pki.ca.cert_pem);
    auto admin = v1::Admin::NewStub(channel_);
    v1::CreateTenantRequest req;
    req.set_tenant("bench");
    v1::CreateTenantResponse resp;
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token_);
    grpc::Status s = admin->CreateTenant(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    secret_ = resp.secret().secret();
  }

  CommandResult Bench(std::vector<std::string> args, const std::string& bearer_env = "") {
    args.insert(args.begin(), "--addr=" + server_->grpc_address());
    return RunClient(COUNTD_BENCH_BINARY, args, bearer_env);
  }

  // visitor v0's count of "c" today, read over TLS with the tenant's secret.
  int64_t Count() {
    auto counters = v1::Counters::NewStub(channel_);
    v1::GetRequest req;
    req.set_tenant("bench");
    req.set_visitor_id("v0");
    req.set_counter_name("c");
    req.set_date(absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone()));
    v1::GetResponse resp;
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer bench:" + secret_);
    grpc::Status s = counters->Get(&ctx, req, &resp);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) return 0;
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.count();
  }

  test::ScopedTempDir dir_;
  PkiFiles files_;
  std::string token_;
  std::string secret_;
  std::unique_ptr<test::ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(BenchClientE2eTest, SendsTheTenantCredentialOverTls) {
  // One key, so every increment lands on v0 and the count says how many the server took.
  const std::vector<std::string> load = {
      "--op=incr",    "--keys=1",    "--requests=40", "--concurrency=4",
      "--channels=2", "--warmup=0s", "--json",        "--tls-ca-file=" + files_.ca};
  CommandResult r = Bench(load, "bench:" + secret_);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  rapidjson::Document doc;
  doc.Parse(r.out.c_str());
  ASSERT_TRUE(doc.IsObject()) << r.out;
  ASSERT_TRUE(doc.HasMember("errors") && doc.HasMember("requests")) << r.out;
  EXPECT_EQ(doc["errors"].GetInt64(), 0) << r.out;
  EXPECT_EQ(doc["requests"].GetInt64(), 40) << r.out;
  EXPECT_EQ(Count(), 40);
  EXPECT_THAT(r.out, Not(HasSubstr(secret_)));

  // The same through --bearer-file.
  std::ofstream(dir_.Sub("bearer")) << "bench:" << secret_ << "\n";
  std::vector<std::string> from_file = load;
  from_file.push_back("--bearer-file=" + dir_.Sub("bearer"));
  r = Bench(from_file);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Count(), 80);
}

TEST_F(BenchClientE2eTest, WithoutCredentialsEveryCallFailsAndNothingIsCounted) {
  CommandResult r = Bench({"--op=incr", "--keys=1", "--requests=10", "--concurrency=2",
                           "--warmup=0s", "--tls-ca-file=" + files_.ca});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("UNAUTHENTICATED"));
  EXPECT_EQ(Count(), 0);
}

// --api=cq (completion queues, the default) and --api=callback send the same calls: each run of
// 60 increments on one key moves the count by exactly 60, with one or several polling threads.
TEST_F(BenchClientE2eTest, BothClientApisSendEveryCallOnce) {
  int64_t want = 0;
  for (const char* api : {"--api=cq", "--api=callback"}) {
    for (const char* threads : {"--cq-threads=1", "--cq-threads=3"}) {
      CommandResult r =
          Bench({"--op=incr", "--keys=1", "--requests=60", "--concurrency=7", "--channels=2",
                 "--warmup=0s", "--json", api, threads, "--tls-ca-file=" + files_.ca},
                "bench:" + secret_);
      ASSERT_EQ(r.exit_code, 0) << api << " " << threads << ": " << r.out;
      rapidjson::Document doc;
      doc.Parse(r.out.c_str());
      ASSERT_TRUE(doc.IsObject() && doc.HasMember("requests") && doc.HasMember("api")) << r.out;
      EXPECT_EQ(doc["requests"].GetInt64(), 60) << r.out;
      EXPECT_EQ(doc["errors"].GetInt64(), 0) << r.out;
      EXPECT_EQ(std::string(doc["api"].GetString()),
                std::string(api) == "--api=callback"
                    ? "callback"
                    : "cq/" + std::string(threads).substr(std::string("--cq-threads=").size()));
      want += 60;
      EXPECT_EQ(Count(), want) << api << " " << threads;
    }
  }
}

// --op=get-counters reads the users --op=increment-counters wrote: three users, five counters
// each, then six reads over the same keys, all answered OK.
TEST_F(BenchClientE2eTest, GetCountersReadsWhatIncrementCountersWrote) {
  CommandResult r =
      Bench({"--op=increment-counters", "--keys=3", "--dist=sequential", "--requests=3",
             "--batch=5", "--classes=5", "--warmup=0s", "--json", "--tls-ca-file=" + files_.ca},
            "bench:" + secret_);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto counters = v1::Counters::NewStub(channel_);
  for (int user = 0; user < 3; ++user) {
    v1::GetCountersRequest req;
    req.set_tenant("bench");
    req.set_uid(absl::StrCat("u", user));
    v1::GetCountersResponse resp;
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer bench:" + secret_);
    grpc::Status s = counters->GetCounters(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(resp.counters_size(), 5) << user;
    for (const v1::CounterValue& v : resp.counters()) EXPECT_EQ(v.count(), 1) << v.class_();
  }

  r = Bench({"--op=get-counters", "--keys=3", "--requests=6", "--concurrency=2", "--warmup=0s",
             "--json", "--tls-ca-file=" + files_.ca},
            "bench:" + secret_);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  rapidjson::Document doc;
  doc.Parse(r.out.c_str());
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("requests")) << r.out;
  EXPECT_EQ(doc["requests"].GetInt64(), 6) << r.out;
  EXPECT_EQ(doc["errors"].GetInt64(), 0) << r.out;
}

TEST_F(BenchClientE2eTest, BadClientApiFlagsAreUsageErrorsAndSendNothing) {
  CommandResult r = Bench({"--op=incr", "--requests=5", "--api=threads"}, "bench:" + secret_);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--api must be cq or callback"));
  for (const char* threads : {"--cq-threads=0", "--cq-threads=65"}) {
    r = Bench({"--op=incr", "--requests=5", threads}, "bench:" + secret_);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_THAT(r.out, HasSubstr("--cq-threads must be 1-64"));
  }
  EXPECT_EQ(Count(), 0);
}

TEST_F(BenchClientE2eTest, ConnectionFlagErrorsAreUsageErrors) {
  // Plaintext against a TLS port does not connect; bad flags are named.
  CommandResult r = Bench({"--op=incr", "--requests=1"}, "bench:" + secret_);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("cannot connect"));
  r = Bench({"--op=incr", "--requests=1", "--tls-cert-file=" + files_.client_cert});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--tls-cert-file needs --tls-key-file"));
  r = Bench({"--op=incr", "--requests=1", "--tls-ca-file=" + files_.server_key});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--tls-ca-file"));
  EXPECT_THAT(r.out, Not(HasSubstr("PRIVATE KEY")));
  r = Bench({"--op=incr", "--requests=1", "--bearer=x", "--bearer-file=" + dir_.Sub("none")});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("not both"));
  EXPECT_EQ(Count(), 0);
}

// Two plain countd processes (--auth=off, no TLS), one load spread over both with --targets.
class BenchClientTargetsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"a", "b"}) {
      test::ServerProcessOptions options;
      options.data_dir = dir_.Sub(name);
      absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
          test::ServerProcess::Start(options);
      ASSERT_TRUE(server.ok()) << server.status();
      servers_.push_back(*std::move(server));
    }
  }

  std::string Targets() const {
    return servers_[0]->grpc_address() + "," + servers_[1]->grpc_address();
  }

  // Visitor v0's count of "c" today on server `i`.
  int64_t Count(int i) {
    auto counters = v1::Counters::NewStub(
        grpc::CreateChannel(servers_[i]->grpc_address(), grpc::InsecureChannelCredentials()));
    v1::GetRequest req;
    req.set_tenant("bench");
    req.set_visitor_id("v0");
    req.set_counter_name("c");
    req.set_date(absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone()));
    v1::GetResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Status s = counters->Get(&ctx, req, &resp);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) return 0;
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.count();
  }

  test::ScopedTempDir dir_;
  std::vector<std::unique_ptr<test::ServerProcess>> servers_;
};

TEST_F(BenchClientTargetsE2eTest, SpreadsCallsOverTargetsAndReportsEach) {
  // One key, so each server's count of v0 says how many calls it took.
  CommandResult r = RunClient(COUNTD_BENCH_BINARY,
                              {"--targets=" + Targets(), "--op=incr", "--keys=1", "--requests=60",
                               "--concurrency=4", "--channels=1", "--warmup=0s", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  rapidjson::Document doc;
  doc.Parse(r.out.c_str());
  ASSERT_TRUE(doc.IsObject()) << r.out;
  EXPECT_EQ(doc["requests"].GetInt64(), 60) << r.out;
  EXPECT_EQ(doc["errors"].GetInt64(), 0) << r.out;
  EXPECT_EQ(std::string(doc["addr"].GetString()), Targets());
  ASSERT_TRUE(doc.HasMember("targets") && doc["targets"].IsObject()) << r.out;
  int64_t sum = 0;
  for (int i = 0; i < 2; ++i) {
    const std::string addr = servers_[i]->grpc_address();
    ASSERT_TRUE(doc["targets"].HasMember(addr.c_str())) << addr << " missing in " << r.out;
    int64_t requests = doc["targets"][addr.c_str()]["requests"].GetInt64();
    // Two of the four slots are bound to each target, so each takes part of the load.
    EXPECT_GT(requests, 0) << r.out;
    EXPECT_EQ(requests, Count(i)) << "server " << addr;
    sum += requests;
  }
  EXPECT_EQ(sum, 60);

  // The text output has a line per target (each starts with the target's address).
  r = RunClient(COUNTD_BENCH_BINARY, {"--targets=" + Targets(), "--op=incr", "--requests=10",
                                      "--concurrency=2", "--warmup=0s"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\n" + servers_[0]->grpc_address() + " "));
  EXPECT_THAT(r.out, HasSubstr("\n" + servers_[1]->grpc_address() + " "));
}

TEST_F(BenchClientTargetsE2eTest, BadTargetsAreUsageErrorsAndSendNothing) {
  const std::string a = servers_[0]->grpc_address();
  const std::string b = servers_[1]->grpc_address();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--addr=" + a, "--targets=" + b}, "give --addr or --targets, not both"},
      {{"--targets=" + a + ",," + b}, "--targets has an empty entry"},
      {{"--targets=" + a + ", " + a}, "--targets lists '" + a + "' twice"},
      {{"--targets=" + a + "," + b, "--concurrency=1"},
       "--concurrency must be >= the number of --targets"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    args.insert(args.end(), {"--op=incr", "--keys=1", "--requests=5", "--warmup=0s"});
    CommandResult r = RunClient(COUNTD_BENCH_BINARY, args);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_THAT(r.out, HasSubstr(c.message));
  }
  EXPECT_EQ(Count(0), 0);
  EXPECT_EQ(Count(1), 0);
}

TEST_F(BenchClientTargetsE2eTest, AnUnreachableTargetIsNamedAndNothingIsSent) {
  // A bound socket that never listens: connections to its port are refused for as long as it is
  // held, and no other process can take the port meanwhile.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string closed = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  CommandResult r = RunClient(COUNTD_BENCH_BINARY,
                              {"--targets=" + Targets() + "," + closed, "--op=incr", "--keys=1",
                               "--requests=5", "--concurrency=3", "--warmup=0s"});
  close(fd);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("cannot connect to " + closed));
  EXPECT_EQ(Count(0), 0);
  EXPECT_EQ(Count(1), 0);
}

}  // namespace
}  // namespace countd::e2e
