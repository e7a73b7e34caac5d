// End-to-end tests of the countd-bench load generator against a countd that runs as deployed:
// --auth=required and TLS. The bench sends the tenant's credential on every call, dials TLS with
// the --tls-* flags it shares with countctl (client/connection.h), and its counts must match what
// the server stored.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
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

}  // namespace
}  // namespace countd::e2e
