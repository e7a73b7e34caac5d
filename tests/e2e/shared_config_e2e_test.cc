// End-to-end tests of two countd processes on one Redis Cluster (run only as redis_e2e.*, on the
// cluster of the redis_cluster fixture): configuration changed through one process reaches the
// other within its --config-cache-ttl and never overwrites a change made through the other, and
// a tenant's rate limit is one bucket for both. Both run with --auth=required and the same
// operator token and secrets key (generated at run time), on one key prefix (the same data
// directory name, tests/testing/server_process.cc).

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "countd/v1/admin.grpc.pb.h"
#include "countd/v1/counters.grpc.pb.h"
#include "countd/v1/gm.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using test::ServerProcess;
using test::ServerProcessOptions;

std::string Urandom(size_t n) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string out(n, '\0');
  in.read(out.data(), static_cast<std::streamsize>(n));
  EXPECT_EQ(static_cast<size_t>(in.gcount()), n);
  return out;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// One countd process and its stubs.
struct Process {
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<v1::Admin::Stub> admin;
  std::unique_ptr<v1::Counters::Stub> counters;
  std::unique_ptr<v1::GameMechanics::Stub> gm;
};

class SharedConfigE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(std::getenv("COUNTD_E2E_REDIS_CLUSTER_DIR"), nullptr)
        << "this suite needs the redis_cluster fixture (ctest -L redis)";
    token_ = absl::Base64Escape(Urandom(36));
    token_file_ = dir_.Sub("operator-token");
    key_file_ = dir_.Sub("secrets-key");
    WriteFile(token_file_, token_ + "\n");
    WriteFile(key_file_, absl::Base64Escape(Urandom(32)) + "\n");
  }

  // Starts a countd on the shared key prefix with --config-cache-ttl=`ttl`.
  Process Start(const std::string& ttl) {
    ServerProcessOptions options;
    options.data_dir = dir_.Sub("data");  // names the key prefix: both processes share it
    options.extra_args = {"--auth=required", "--operator-token-file=" + token_file_,
                          "--secrets-key-file=" + key_file_, "--config-cache-ttl=" + ttl};
    Process p;
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return p;
    p.server = *std::move(server);
    std::shared_ptr<grpc::Channel> channel = NewChannel(p.server->grpc_address());
    p.admin = v1::Admin::NewStub(channel);
    p.counters = v1::Counters::NewStub(channel);
    p.gm = v1::GameMechanics::NewStub(channel);
    return p;
  }

  void Operator(grpc::ClientContext* ctx) const {
    SetDeadline(ctx);
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  }

  static void AsTenant(grpc::ClientContext* ctx, const std::string& tenant,
                       const std::string& secret) {
    SetDeadline(ctx);
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", tenant, ":", secret));
  }

  // Creates `tenant` through `p`; returns its first secret.
  std::string CreateTenant(Process& p, const std::string& tenant, double rate = 0,
                           int64_t burst = 0) {
    grpc::ClientContext ctx;
    Operator(&ctx);
    v1::CreateTenantRequest req;
    req.set_tenant(tenant);
    req.mutable_settings()->set_rate_limit_per_second(rate);
    req.mutable_settings()->set_rate_limit_burst(burst);
    v1::CreateTenantResponse resp;
    EXPECT_THAT(p.admin->CreateTenant(&ctx, req, &resp), IsOk());
    return resp.secret().secret();
  }

  absl::StatusOr<v1::NewSecret> AddSecret(Process& p, const std::string& tenant) {
    grpc::ClientContext ctx;
    Operator(&ctx);
    v1::AddSecretRequest req;
    req.set_tenant(tenant);
    v1::AddSecretResponse resp;
    grpc::Status s = p.admin->AddSecret(&ctx, req, &resp);
    if (!s.ok()) return absl::UnknownError(s.error_message());
    return resp.secret();
  }

  grpc::Status Revoke(Process& p, const std::string& tenant, const std::string& id) {
    grpc::ClientContext ctx;
    Operator(&ctx);
    v1::RevokeSecretRequest req;
    req.set_tenant(tenant);
    req.set_secret_id(id);
    v1::RevokeSecretResponse resp;
    return p.admin->RevokeSecret(&ctx, req, &resp);
  }

  // A Stash increment of `tenant` with `secret` through `p`.
  grpc::Status Incr(Process& p, const std::string& tenant, const std::string& secret) {
    grpc::ClientContext ctx;
    AsTenant(&ctx, tenant, secret);
    v1::IncrRequest req;
    req.set_tenant(tenant);
    req.set_visitor_id("v1");
    req.set_counter_name("views");
    v1::IncrResponse resp;
    return p.counters->Incr(&ctx, req, &resp);
  }

  grpc::Status Register(Process& p, const std::string& tenant, const std::string& secret,
                        const std::string& path) {
    grpc::ClientContext ctx;
    AsTenant(&ctx, tenant, secret);
    v1::RegisterCountersRequest req;
    req.set_tenant(tenant);
    v1::CounterPath* pair = req.add_counters();
    pair->set_class_("c");
    pair->set_path(path);
    v1::RegisterCountersResponse resp;
    return p.counters->RegisterCounters(&ctx, req, &resp);
  }

  grpc::Status Increment(Process& p, const std::string& tenant, const std::string& secret,
                         const std::string& path) {
    grpc::ClientContext ctx;
    AsTenant(&ctx, tenant, secret);
    v1::IncrementCountersRequest req;
    req.set_tenant(tenant);
    req.set_uid("u");
    v1::CounterIncrement* inc = req.add_counters();
    inc->set_class_("c");
    inc->set_path(path);
    v1::IncrementCountersResponse resp;
    return p.counters->IncrementCounters(&ctx, req, &resp);
  }

  grpc::Status SetAction(Process& p, const std::string& tenant, const std::string& secret,
                         const std::string& action) {
    grpc::ClientContext ctx;
    AsTenant(&ctx, tenant, secret);
    v1::SetActionConfigRequest req;
    req.set_tenant(tenant);
    req.mutable_action()->set_action_id(action);
    req.mutable_action()->set_title(action);
    req.mutable_action()->set_points(1);
    v1::SetActionConfigResponse resp;
    return p.gm->SetActionConfig(&ctx, req, &resp);
  }

  grpc::Status Notify(Process& p, const std::string& tenant, const std::string& secret,
                      const std::string& action) {
    grpc::ClientContext ctx;
    AsTenant(&ctx, tenant, secret);
    v1::NotifyActionRequest req;
    req.set_tenant(tenant);
    req.set_uid("u");
    req.set_action_id(action);
    v1::NotifyActionResponse resp;
    return p.gm->NotifyAction(&ctx, req, &resp);
  }

  test::ScopedTempDir dir_;
  std::string token_;
  std::string token_file_;
  std::string key_file_;
};

TEST_F(SharedConfigE2eTest, ChangesReachTheOtherProcessWithinItsTtlAndNeverOverwriteEachOther) {
  // `slow` trusts its copies for an hour; `fresh` checks the version on every read.
  Process slow = Start("1h");
  ASSERT_NE(slow.server, nullptr);
  Process fresh = Start("0s");
  ASSERT_NE(fresh.server, nullptr);

  // Tenants: created through slow, served by fresh at once.
  const std::string s1 = CreateTenant(slow, "site1");
  EXPECT_THAT(Incr(slow, "site1", s1), IsOk());
  EXPECT_THAT(Incr(fresh, "site1", s1), IsOk());
  // A secret added and another revoked through fresh; slow's hour-old copy still has s1.
  absl::StatusOr<v1::NewSecret> s2 = AddSecret(fresh, "site1");
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->info().id(), "s2");
  EXPECT_THAT(Revoke(fresh, "site1", "s1"), IsOk());
  EXPECT_EQ(Incr(fresh, "site1", s1).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(Incr(slow, "site1", s1), IsOk()) << "slow serves its copy within its ttl";
  // A change through slow starts from the stored registry: the next id is s3, not s2 again.
  absl::StatusOr<v1::NewSecret> s3 = AddSecret(slow, "site1");
  ASSERT_TRUE(s3.ok()) << s3.status();
  EXPECT_EQ(s3->info().id(), "s3");
  EXPECT_EQ(Incr(slow, "site1", s1).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(Incr(slow, "site1", s2->secret()), IsOk());
  EXPECT_THAT(Incr(fresh, "site1", s3->secret()), IsOk());
  const std::string secret = s2->secret();

  // Signals registry: registered through slow, counted through fresh at once.
  EXPECT_THAT(Register(slow, "site1", secret, "/a"), IsOk());
  EXPECT_THAT(Increment(fresh, "site1", secret, "/a"), IsOk());
  EXPECT_THAT(Register(fresh, "site1", secret, "/b"), IsOk());
  EXPECT_EQ(Increment(slow, "site1", secret, "/b").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION)
      << "slow serves its copy within its ttl";
  EXPECT_THAT(Register(slow, "site1", secret, "/c"), IsOk());  // reloads: /b is kept
  EXPECT_THAT(Increment(slow, "site1", secret, "/b"), IsOk());
  EXPECT_THAT(Increment(fresh, "site1", secret, "/c"), IsOk());

  // GameMechanics configuration, the same way.
  EXPECT_EQ(Notify(slow, "site1", secret, "one").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // slow caches "no actions"
  EXPECT_THAT(SetAction(fresh, "site1", secret, "one"), IsOk());
  EXPECT_EQ(Notify(slow, "site1", secret, "one").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(SetAction(slow, "site1", secret, "two"), IsOk());
  EXPECT_THAT(Notify(slow, "site1", secret, "one"), IsOk());
  EXPECT_THAT(Notify(fresh, "site1", secret, "two"), IsOk());
}

TEST_F(SharedConfigE2eTest, ATenantsRateLimitIsOneBucketForBothProcesses) {
  Process a = Start("0s");
  ASSERT_NE(a.server, nullptr);
  Process b = Start("0s");
  ASSERT_NE(b.server, nullptr);
  // So low a rate that nothing refills during the test: exactly the burst passes.
  const std::string secret = CreateTenant(a, "limited", 0.001, 10);
  int admitted = 0;
  for (int i = 0; i < 30; ++i) {
    grpc::Status s = Incr(i % 2 == 0 ? a : b, "limited", secret);
    if (s.ok()) {
      ++admitted;
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    }
  }
  EXPECT_EQ(admitted, 10);
  // Another tenant is not limited by it.
  const std::string other = CreateTenant(b, "free");
  for (int i = 0; i < 20; ++i) EXPECT_THAT(Incr(i % 2 == 0 ? a : b, "free", other), IsOk()) << i;
}

}  // namespace
}  // namespace countd::e2e
