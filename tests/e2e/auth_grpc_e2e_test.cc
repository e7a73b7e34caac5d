// End-to-end tests of authentication on the gRPC port: the countd binary runs with
// --auth=required and an operator token and secrets key generated at run time (temporary files);
// the operator manages tenants through countd.v1.Admin (and countctl), tenants call with their
// secrets. Every test also checks, when the server stops, that none of the credentials it saw
// (secrets, the token, the key) appears in the server's stdout or stderr, with --log-level=debug.

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "countd/v1/admin.grpc.pb.h"
#include "countd/v1/counters.grpc.pb.h"
#include "countd/v1/gm.grpc.pb.h"
#include "countd/v1/tally.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/countctl_runner.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using test::ExitStatus;
using test::ServerProcess;
using test::ServerProcessOptions;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kExitTimeout = absl::Seconds(30);

// `n` bytes from /dev/urandom: keys and tokens are made at run time, never stored in the repo.
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

// The credential metadata of one call.
struct Credential {
  std::vector<std::pair<std::string, std::string>> metadata;

  static Credential None() { return {}; }
  static Credential Bearer(const std::string& value) {
    return {{{"authorization", absl::StrCat("Bearer ", value)}}};
  }
  static Credential Tenant(const std::string& tenant, const std::string& secret) {
    return Bearer(absl::StrCat(tenant, ":", secret));
  }
  static Credential Headers(const std::string& tenant, const std::string& secret,
                            const std::string& secret_id = "") {
    Credential c{{{"x-countd-tenant", tenant}, {"x-countd-secret", secret}}};
    if (!secret_id.empty()) c.metadata.emplace_back("x-countd-secret-id", secret_id);
    return c;
  }
  void Apply(grpc::ClientContext* ctx) const {
    for (const auto& [key, value] : metadata) ctx->AddMetadata(key, value);
  }
};

// Calls a unary method of a generated stub with `cred` and the standard deadline.
template <typename Stub, typename Req, typename Resp>
grpc::Status Call(Stub* stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                  const Credential& cred, const Req& req, Resp* resp) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  cred.Apply(&ctx);
  return (stub->*method)(&ctx, req, resp);
}

// Calls `method` with a serialized request through the generic stub, with `cred`.
grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel,
                     const google::protobuf::MethodDescriptor* method,
                     const google::protobuf::Message& request, const Credential& cred) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  cred.Apply(&ctx);
  std::string bytes = request.SerializeAsString();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer req(&slice, 1);
  grpc::ByteBuffer resp;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&ctx, absl::StrCat("/", method->service()->full_name(), "/", method->name()),
                 grpc::StubOptions(), &req, &resp, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();  // the deadline ends the call
  return status;
}

// Every RPC of the tenant services, with a request naming `tenant` and nothing else.
struct TenantRpc {
  const google::protobuf::MethodDescriptor* method;
  std::unique_ptr<google::protobuf::Message> request;
  bool reads;
};

std::vector<TenantRpc> EveryTenantRpc(const std::string& tenant) {
  std::vector<TenantRpc> out;
  const std::pair<const google::protobuf::FileDescriptor*, const char*> services[] = {
      {v1::IncrRequest::descriptor()->file(), "Counters"},
      {v1::TallyIncrementRequest::descriptor()->file(), "Tally"},
      {v1::NotifyActionRequest::descriptor()->file(), "GameMechanics"},
  };
  for (const auto& [file, name] : services) {
    const google::protobuf::ServiceDescriptor* service = file->FindServiceByName(name);
    EXPECT_NE(service, nullptr) << name;
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      std::unique_ptr<google::protobuf::Message> request(
          google::protobuf::MessageFactory::generated_factory()
              ->GetPrototype(method->input_type())
              ->New());
      const google::protobuf::FieldDescriptor* field =
          method->input_type()->FindFieldByName("tenant");
      EXPECT_NE(field, nullptr) << method->full_name();
      if (field != nullptr) request->GetReflection()->SetString(request.get(), field, tenant);
      const bool reads =
          absl::StartsWith(method->name(), "Get") || absl::StartsWith(method->name(), "List");
      out.push_back({method, std::move(request), reads});
    }
  }
  return out;
}

class AuthGrpcE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_ = absl::Base64Escape(Urandom(36));  // 48 characters
    key_raw_ = Urandom(32);
    token_file_ = dir_.Sub("operator-token");
    key_file_ = dir_.Sub("secrets-key");
    WriteFile(token_file_, token_ + "\n");
    WriteFile(key_file_, absl::Base64Escape(key_raw_) + "\n");
    Remember(token_);
    Remember(absl::Base64Escape(key_raw_));
    Remember(absl::BytesToHexString(key_raw_));
    StartServer();
  }

  void TearDown() override { StopAndCheckOutput(); }

  std::vector<std::string> AuthArgs() const {
    return {"--auth=required", "--operator-token-file=" + token_file_,
            "--secrets-key-file=" + key_file_, "--log-level=debug"};
  }

  // Launches countd on the suite's data directory with exactly `args` and expects it to refuse
  // to start: it exits non-zero without listening. Returns its stderr, after checking that it
  // holds no credential of this test.
  std::string RefusedStart(const std::vector<std::string>& args) {
    ServerProcessOptions options;
    options.data_dir = dir_.Sub("data");
    options.extra_args = args;
    const std::string err = ExpectRefusedStart(options);
    for (const std::string& secret : remembered_) EXPECT_THAT(err, Not(HasSubstr(secret)));
    return err;
  }

  void StartServer(const std::vector<std::string>& extra = {}) {
    ServerProcessOptions options;
    options.data_dir = dir_.Sub("data");
    options.extra_args = AuthArgs();
    options.extra_args.insert(options.extra_args.end(), extra.begin(), extra.end());
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = NewChannel(server_->grpc_address());
    admin_ = v1::Admin::NewStub(channel_);
    counters_ = v1::Counters::NewStub(channel_);
    tally_ = v1::Tally::NewStub(channel_);
    gm_ = v1::GameMechanics::NewStub(channel_);
  }

  // Stops the server (SIGTERM, clean exit) and checks its output holds no credential.
  void StopAndCheckOutput() {
    if (server_ == nullptr) return;
    ASSERT_TRUE(server_->Signal(SIGTERM).ok());
    std::optional<ExitStatus> exit = server_->WaitForExit(kExitTimeout);
    ASSERT_TRUE(exit.has_value());
    EXPECT_TRUE(exit->Success()) << exit->ToString() << "\n" << server_->stderr_text();
    const std::string output = server_->stdout_text() + server_->stderr_text();
    EXPECT_THAT(output, HasSubstr("grpc listening on"));  // the capture works
    for (const std::string& secret : remembered_) {
      EXPECT_THAT(output, Not(HasSubstr(secret))) << "a credential appears in the server output";
    }
    server_.reset();
  }

  // A credential that must never show in the server's output.
  void Remember(const std::string& secret) { remembered_.push_back(secret); }

  Credential Operator() const { return Credential::Bearer(token_); }

  // Creates `tenant` as the operator; returns its first secret.
  std::string CreateTenant(const std::string& tenant,
                           v1::SecretRole role = v1::SECRET_ROLE_UNSPECIFIED,
                           const v1::TenantSettings& settings = {}) {
    v1::CreateTenantRequest req;
    req.set_tenant(tenant);
    req.set_role(role);
    *req.mutable_settings() = settings;
    v1::CreateTenantResponse resp;
    grpc::Status s = Call(admin_.get(), &v1::Admin::Stub::CreateTenant, Operator(), req, &resp);
    EXPECT_THAT(s, IsOk());
    EXPECT_EQ(resp.tenant().tenant(), tenant);
    EXPECT_EQ(resp.secret().info().id(), "s1");
    EXPECT_EQ(resp.secret().secret().size(), 44u);
    Remember(resp.secret().secret());
    return resp.secret().secret();
  }

  absl::StatusOr<v1::NewSecret> AddSecret(const std::string& tenant, v1::SecretRole role) {
    v1::AddSecretRequest req;
    req.set_tenant(tenant);
    req.set_role(role);
    v1::AddSecretResponse resp;
    grpc::Status s = Call(admin_.get(), &v1::Admin::Stub::AddSecret, Operator(), req, &resp);
    if (!s.ok())
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    Remember(resp.secret().secret());
    return resp.secret();
  }

  grpc::Status Revoke(const std::string& tenant, const std::string& id) {
    v1::RevokeSecretRequest req;
    req.set_tenant(tenant);
    req.set_secret_id(id);
    v1::RevokeSecretResponse resp;
    return Call(admin_.get(), &v1::Admin::Stub::RevokeSecret, Operator(), req, &resp);
  }

  grpc::Status Incr(const Credential& cred, const std::string& tenant,
                    const std::string& visitor = "v1") {
    v1::IncrRequest req;
    req.set_tenant(tenant);
    req.set_visitor_id(visitor);
    req.set_counter_name("views");
    v1::IncrResponse resp;
    return Call(counters_.get(), &v1::Counters::Stub::Incr, cred, req, &resp);
  }

  // Today's count of (visitor, "views") of `tenant`, read with `cred`.
  grpc::Status Get(const Credential& cred, const std::string& tenant, int64_t* count,
                   const std::string& visitor = "v1") {
    v1::GetRequest req;
    req.set_tenant(tenant);
    req.set_visitor_id(visitor);
    req.set_counter_name("views");
    req.set_date(NamesOf(TodayUtc()).iso);
    v1::GetResponse resp;
    grpc::Status s = Call(counters_.get(), &v1::Counters::Stub::Get, cred, req, &resp);
    *count = resp.count();
    return s;
  }

  test::ScopedTempDir dir_;
  std::string token_;
  std::string key_raw_;
  std::string token_file_;
  std::string key_file_;
  std::vector<std::string> remembered_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  std::unique_ptr<v1::Counters::Stub> counters_;
  std::unique_ptr<v1::Tally::Stub> tally_;
  std::unique_ptr<v1::GameMechanics::Stub> gm_;
};

TEST_F(AuthGrpcE2eTest, TenantsCallWithTheirOwnSecrets) {
  const std::string a = CreateTenant("site-a");
  const std::string b = CreateTenant("site-b");
  EXPECT_NE(a, b);
  EXPECT_THAT(Incr(Credential::Tenant("site-a", a), "site-a"), IsOk());
  EXPECT_THAT(Incr(Credential::Headers("site-a", a), "site-a"), IsOk());
  EXPECT_THAT(Incr(Credential::Headers("site-a", a, "s1"), "site-a"), IsOk());
  EXPECT_THAT(Incr(Credential::Bearer("site-b:" + b), "site-b"), IsOk());
  int64_t count = 0;
  EXPECT_THAT(Get(Credential::Tenant("site-a", a), "site-a", &count), IsOk());
  EXPECT_EQ(count, 3);
  EXPECT_THAT(Get(Credential::Headers("site-b", b), "site-b", &count), IsOk());
  EXPECT_EQ(count, 1);

  // The other services too.
  v1::TallyIncrementRequest tally;
  tally.set_tenant("site-a");
  tally.set_op(v1::OP_ECOUNT);
  tally.set_counter("c");
  tally.set_countable("x");
  tally.set_window_minutes(60);
  v1::TallyIncrementResponse tally_resp;
  EXPECT_THAT(Call(tally_.get(), &v1::Tally::Stub::Increment, Credential::Tenant("site-a", a),
                   tally, &tally_resp),
              IsOk());
  v1::GetTopUsersRequest top;
  top.set_tenant("site-a");
  top.set_challenge_id("nothing-yet");
  v1::GetTopUsersResponse top_resp;
  grpc::Status gm = Call(gm_.get(), &v1::GameMechanics::Stub::GetTopUsers,
                         Credential::Tenant("site-a", a), top, &top_resp);
  EXPECT_NE(gm.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(gm);
  EXPECT_NE(gm.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(gm);
}

TEST_F(AuthGrpcE2eTest, BadOrMissingCredentialsAreUnauthenticated) {
  const std::string a = CreateTenant("site-a");
  std::string wrong = a;
  wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
  const std::vector<std::pair<std::string, Credential>> cases = {
      {"none", Credential::None()},
      {"wrong secret", Credential::Tenant("site-a", wrong)},
      {"wrong secret in headers", Credential::Headers("site-a", wrong)},
      {"unknown tenant", Credential::Tenant("nobody", a)},
      {"secret id of no secret", Credential::Headers("site-a", a, "s2")},
      {"not Bearer", {{{"authorization", "Basic " + absl::Base64Escape("site-a:" + a)}}}},
      {"no colon", Credential::Bearer(a)},
      {"tenant without secret", {{{"x-countd-tenant", "site-a"}}}},
      {"the operator token", Credential::Bearer(token_)},
      {"both forms",
       {{{"authorization", "Bearer site-a:" + a},
         {"x-countd-tenant", "site-a"},
         {"x-countd-secret", a}}}},
      {"header twice",
       {{{"x-countd-tenant", "site-a"}, {"x-countd-tenant", "site-a"}, {"x-countd-secret", a}}}},
  };
  for (const auto& [name, cred] : cases) {
    grpc::Status s = Incr(cred, "site-a");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << name << ": " << Describe(s);
    EXPECT_THAT(s.error_message(), Not(HasSubstr(a))) << name;
    EXPECT_THAT(s.error_message(), Not(HasSubstr(wrong))) << name;
    EXPECT_THAT(s.error_message(), Not(HasSubstr(token_))) << name;
  }
  // None of them wrote anything.
  int64_t count = 0;
  grpc::Status read = Get(Credential::Tenant("site-a", a), "site-a", &count);
  EXPECT_EQ(read.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(read);
}

TEST_F(AuthGrpcE2eTest, AnotherTenantsCredentialsArePermissionDeniedAndWriteNothing) {
  const std::string a = CreateTenant("site-a");
  const std::string b = CreateTenant("site-b");
  grpc::Status s = Incr(Credential::Tenant("site-a", a), "site-b");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_THAT(s.error_message(), HasSubstr("tenant"));
  // Every RPC of every tenant service, reads included.
  for (const TenantRpc& rpc : EveryTenantRpc("site-b")) {
    grpc::Status r = CallRaw(channel_, rpc.method, *rpc.request, Credential::Tenant("site-a", a));
    EXPECT_EQ(r.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << rpc.method->full_name() << ": " << Describe(r);
  }
  int64_t count = 0;
  grpc::Status read = Get(Credential::Tenant("site-b", b), "site-b", &count);
  EXPECT_EQ(read.error_code(), grpc::StatusCode::NOT_FOUND)
      << "site-a wrote into site-b: " << Describe(read);
}

TEST_F(AuthGrpcE2eTest, ReadOnlySecretReadsButCannotWrite) {
  const std::string rw = CreateTenant("site-a");
  absl::StatusOr<v1::NewSecret> ro = AddSecret("site-a", v1::SECRET_ROLE_READ_ONLY);
  ASSERT_TRUE(ro.ok()) << ro.status();
  EXPECT_EQ(ro->info().id(), "s2");
  EXPECT_EQ(ro->info().role(), v1::SECRET_ROLE_READ_ONLY);
  ASSERT_THAT(Incr(Credential::Tenant("site-a", rw), "site-a"), IsOk());

  int writes = 0;
  for (const TenantRpc& rpc : EveryTenantRpc("site-a")) {
    grpc::Status r =
        CallRaw(channel_, rpc.method, *rpc.request, Credential::Tenant("site-a", ro->secret()));
    if (rpc.reads) {
      EXPECT_NE(r.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << rpc.method->full_name() << ": " << Describe(r);
      EXPECT_NE(r.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << rpc.method->full_name() << ": " << Describe(r);
    } else {
      ++writes;
      EXPECT_EQ(r.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << rpc.method->full_name() << ": " << Describe(r);
    }
  }
  EXPECT_EQ(writes, 14);
  int64_t count = 0;
  EXPECT_THAT(Get(Credential::Tenant("site-a", ro->secret()), "site-a", &count), IsOk());
  EXPECT_EQ(count, 1) << "a refused write changed the counter";
}

TEST_F(AuthGrpcE2eTest, RotationRevocationAndTheTwoSecretLimit) {
  const std::string s1 = CreateTenant("site-a");
  absl::StatusOr<v1::NewSecret> s2 = AddSecret("site-a", v1::SECRET_ROLE_READ_WRITE);
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->info().id(), "s2");
  EXPECT_THAT(Incr(Credential::Tenant("site-a", s1), "site-a"), IsOk());
  EXPECT_THAT(Incr(Credential::Tenant("site-a", s2->secret()), "site-a"), IsOk());

  absl::StatusOr<v1::NewSecret> third = AddSecret("site-a", v1::SECRET_ROLE_READ_WRITE);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kFailedPrecondition) << third.status();

  ASSERT_THAT(Revoke("site-a", "s1"), IsOk());
  grpc::Status revoked = Incr(Credential::Tenant("site-a", s1), "site-a");
  EXPECT_EQ(revoked.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(revoked);
  EXPECT_THAT(Incr(Credential::Tenant("site-a", s2->secret()), "site-a"), IsOk());
  EXPECT_THAT(Revoke("site-a", "s1"), IsOk());  // idempotent
  EXPECT_EQ(Revoke("site-a", "s9").error_code(), grpc::StatusCode::NOT_FOUND);

  absl::StatusOr<v1::NewSecret> s3 = AddSecret("site-a", v1::SECRET_ROLE_READ_WRITE);
  ASSERT_TRUE(s3.ok()) << s3.status();
  EXPECT_EQ(s3->info().id(), "s3");

  v1::GetTenantRequest get;
  get.set_tenant("site-a");
  v1::GetTenantResponse info;
  ASSERT_THAT(Call(admin_.get(), &v1::Admin::Stub::GetTenant, Operator(), get, &info), IsOk());
  ASSERT_EQ(info.tenant().secrets_size(), 3);
  EXPECT_TRUE(info.tenant().secrets(0).revoked());
  EXPECT_FALSE(info.tenant().secrets(1).revoked());
  EXPECT_GT(info.tenant().secrets(0).created().seconds(), 1'600'000'000);
  // Metadata only: no secret in the record.
  const std::string record = info.SerializeAsString();
  EXPECT_THAT(record, Not(HasSubstr(s1)));
  EXPECT_THAT(record, Not(HasSubstr(s2->secret())));
}

TEST_F(AuthGrpcE2eTest, AdminNeedsTheOperatorToken) {
  const std::string a = CreateTenant("site-a");
  v1::ListTenantsRequest req;
  v1::ListTenantsResponse resp;
  grpc::Status none =
      Call(admin_.get(), &v1::Admin::Stub::ListTenants, Credential::None(), req, &resp);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(none);
  grpc::Status wrong = Call(admin_.get(), &v1::Admin::Stub::ListTenants,
                            Credential::Bearer(token_ + "x"), req, &resp);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(wrong);
  EXPECT_THAT(wrong.error_message(), Not(HasSubstr(token_)));
  for (const Credential& tenant :
       {Credential::Tenant("site-a", a), Credential::Headers("site-a", a)}) {
    grpc::Status denied = Call(admin_.get(), &v1::Admin::Stub::ListTenants, tenant, req, &resp);
    EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(denied);
    EXPECT_THAT(denied.error_message(), Not(HasSubstr(a)));
  }
  // Every Admin method is guarded, Backup included.
  v1::BackupRequest backup;
  backup.set_dir(dir_.Sub("backup"));
  v1::BackupResponse backup_resp;
  EXPECT_EQ(Call(admin_.get(), &v1::Admin::Stub::Backup, Credential::Tenant("site-a", a), backup,
                 &backup_resp)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::CreateTenantRequest create;
  create.set_tenant("site-z");
  v1::CreateTenantResponse create_resp;
  EXPECT_EQ(
      Call(admin_.get(), &v1::Admin::Stub::CreateTenant, Credential::None(), create, &create_resp)
          .error_code(),
      grpc::StatusCode::UNAUTHENTICATED);

  ASSERT_THAT(Call(admin_.get(), &v1::Admin::Stub::ListTenants, Operator(), req, &resp), IsOk());
  ASSERT_EQ(resp.tenants_size(), 1);
  EXPECT_EQ(resp.tenants(0).tenant(), "site-a");
}

TEST_F(AuthGrpcE2eTest, AdminTenantErrorsNameTheField) {
  CreateTenant("site-a");
  v1::CreateTenantRequest dup;
  dup.set_tenant("site-a");
  v1::CreateTenantResponse resp;
  EXPECT_EQ(Call(admin_.get(), &v1::Admin::Stub::CreateTenant, Operator(), dup, &resp).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  v1::CreateTenantRequest bad;
  bad.set_tenant("site-b");
  bad.mutable_settings()->add_allowed_origins("https://ok.example");
  bad.mutable_settings()->add_allowed_origins("https://bad.example/path");
  EXPECT_THAT(Call(admin_.get(), &v1::Admin::Stub::CreateTenant, Operator(), bad, &resp),
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "settings.allowed_origins[1]"));
  bad.clear_settings();
  bad.set_role(static_cast<v1::SecretRole>(7));
  EXPECT_THAT(Call(admin_.get(), &v1::Admin::Stub::CreateTenant, Operator(), bad, &resp),
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "role"));
  v1::UpdateTenantRequest update;
  update.set_tenant("site-a");
  update.mutable_settings()->set_rate_limit_per_second(-1);
  v1::UpdateTenantResponse update_resp;
  EXPECT_THAT(Call(admin_.get(), &v1::Admin::Stub::UpdateTenant, Operator(), update, &update_resp),
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "settings.rate_limit_per_second"));
  v1::DeleteTenantRequest del;
  del.set_tenant("nobody");
  v1::DeleteTenantResponse del_resp;
  EXPECT_THAT(Call(admin_.get(), &v1::Admin::Stub::DeleteTenant, Operator(), del, &del_resp),
              IsError(grpc::StatusCode::NOT_FOUND, "tenant"));
  // Nothing of the refused requests was registered.
  v1::GetTenantRequest get;
  get.set_tenant("site-b");
  v1::GetTenantResponse get_resp;
  EXPECT_EQ(
      Call(admin_.get(), &v1::Admin::Stub::GetTenant, Operator(), get, &get_resp).error_code(),
      grpc::StatusCode::NOT_FOUND);
}

TEST_F(AuthGrpcE2eTest, DeletedTenantsCredentialsStopWorking) {
  const std::string a = CreateTenant("site-a");
  ASSERT_THAT(Incr(Credential::Tenant("site-a", a), "site-a"), IsOk());
  v1::DeleteTenantRequest del;
  del.set_tenant("site-a");
  v1::DeleteTenantResponse del_resp;
  ASSERT_THAT(Call(admin_.get(), &v1::Admin::Stub::DeleteTenant, Operator(), del, &del_resp),
              IsOk());
  EXPECT_EQ(Incr(Credential::Tenant("site-a", a), "site-a").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // Registered again: the data is still there, reachable with the new secret only.
  const std::string again = CreateTenant("site-a");
  int64_t count = 0;
  EXPECT_THAT(Get(Credential::Tenant("site-a", again), "site-a", &count), IsOk());
  EXPECT_EQ(count, 1);
  EXPECT_EQ(Incr(Credential::Tenant("site-a", a), "site-a").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AuthGrpcE2eTest, OverTheRateIsResourceExhausted) {
  v1::TenantSettings limited;
  limited.set_rate_limit_per_second(0.01);  // one token per 100 s: no refill during the test
  limited.set_rate_limit_burst(2);
  const std::string a = CreateTenant("site-a", v1::SECRET_ROLE_UNSPECIFIED, limited);
  const std::string b = CreateTenant("site-b");
  EXPECT_THAT(Incr(Credential::Tenant("site-a", a), "site-a"), IsOk());
  EXPECT_THAT(Incr(Credential::Tenant("site-a", a), "site-a"), IsOk());
  grpc::Status over = Incr(Credential::Tenant("site-a", a), "site-a");
  EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(over);
  int64_t count = 0;
  grpc::Status read = Get(Credential::Tenant("site-a", a), "site-a", &count);
  EXPECT_EQ(read.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(read);
  // Other tenants are not affected; raising the limit takes effect at once.
  EXPECT_THAT(Incr(Credential::Tenant("site-b", b), "site-b"), IsOk());
  v1::UpdateTenantRequest update;
  update.set_tenant("site-a");
  v1::UpdateTenantResponse update_resp;
  ASSERT_THAT(Call(admin_.get(), &v1::Admin::Stub::UpdateTenant, Operator(), update, &update_resp),
              IsOk());
  EXPECT_THAT(Get(Credential::Tenant("site-a", a), "site-a", &count), IsOk());
  EXPECT_EQ(count, 2);
}

TEST_F(AuthGrpcE2eTest, SecretsSurviveARestart) {
  const std::string a = CreateTenant("site-a");
  ASSERT_THAT(Incr(Credential::Tenant("site-a", a), "site-a"), IsOk());
  StopAndCheckOutput();
  StartServer();
  int64_t count = 0;
  EXPECT_THAT(Get(Credential::Tenant("site-a", a), "site-a", &count), IsOk());
  EXPECT_EQ(count, 1);
  EXPECT_THAT(Incr(Credential::Headers("site-a", a, "s1"), "site-a"), IsOk());
  absl::StatusOr<v1::NewSecret> s2 = AddSecret("site-a", v1::SECRET_ROLE_READ_WRITE);
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->info().id(), "s2");
}

TEST_F(AuthGrpcE2eTest, ARestartWithAnotherKeyRefusesToStart) {
  CreateTenant("site-a");
  StopAndCheckOutput();
  const std::string other = dir_.Sub("other-key");
  const std::string other_key = absl::BytesToHexString(Urandom(32));  // the hex form this time
  Remember(other_key);
  WriteFile(other, other_key);
  const std::string err = RefusedStart(
      {"--auth=required", "--operator-token-file=" + token_file_, "--secrets-key-file=" + other});
  EXPECT_THAT(err, HasSubstr("--secrets-key-file"));
  EXPECT_THAT(err, HasSubstr("does not decrypt"));
  EXPECT_THAT(err, HasSubstr("site-a"));
  // The data is untouched: the right key still opens it.
  StartServer();
}

TEST_F(AuthGrpcE2eTest, KeyRotationReencryptsTheSecretsAtStart) {
  const std::string a = CreateTenant("site-a");
  const std::string b = CreateTenant("site-b");
  absl::StatusOr<v1::NewSecret> b2 = AddSecret("site-b", v1::SECRET_ROLE_READ_ONLY);
  ASSERT_TRUE(b2.ok()) << b2.status();
  Remember(b2->secret());
  ASSERT_THAT(Incr(Credential::Tenant("site-b", b), "site-b"), IsOk());
  StopAndCheckOutput();
  // The operator's rotation: the old key file becomes --previous-secrets-key-file, a new key
  // goes in --secrets-key-file.
  const std::string old_file = key_file_;
  key_file_ = dir_.Sub("new-secrets-key");
  const std::string new_key = absl::Base64Escape(Urandom(32));
  Remember(new_key);
  WriteFile(key_file_, new_key + "\n");
  StartServer({"--previous-secrets-key-file=" + old_file});
  // Logged before the listening lines.
  EXPECT_THAT(server_->stdout_text(), HasSubstr("secrets key rotation: 2 tenant records"));
  EXPECT_THAT(Incr(Credential::Tenant("site-a", a), "site-a"), IsOk());
  int64_t count = 0;
  EXPECT_THAT(Get(Credential::Headers("site-b", b2->secret(), "s2"), "site-b", &count), IsOk());
  EXPECT_EQ(count, 1);
  // From now on the new key alone opens everything, revoked secrets included...
  ASSERT_THAT(Revoke("site-b", "s1"), IsOk());
  StopAndCheckOutput();
  StartServer();
  EXPECT_THAT(Get(Credential::Tenant("site-a", a), "site-a", &count), IsOk());
  EXPECT_EQ(count, 1);
  EXPECT_EQ(Incr(Credential::Tenant("site-b", b), "site-b").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  StopAndCheckOutput();
  // ...and the old key alone no longer does.
  EXPECT_THAT(RefusedStart({"--auth=required", "--operator-token-file=" + token_file_,
                            "--secrets-key-file=" + old_file}),
              HasSubstr("does not decrypt with the secrets key"));
  // Refused rotations: the same key twice, or a previous key without a new one.
  EXPECT_THAT(
      RefusedStart({"--auth=required", "--operator-token-file=" + token_file_,
                    "--secrets-key-file=" + key_file_, "--previous-secrets-key-file=" + key_file_}),
      HasSubstr("--previous-secrets-key-file: holds the same key"));
  EXPECT_THAT(RefusedStart({"--auth=off", "--previous-secrets-key-file=" + old_file}),
              HasSubstr("--previous-secrets-key-file: needs --secrets-key-file"));
  StartServer();  // for TearDown
}

TEST_F(AuthGrpcE2eTest, HealthAndReflectionNeedNoCredentials) {
  absl::StatusOr<std::string> health =
      RawUnaryCall(channel_, "/grpc.health.v1.Health/Check", std::string());
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, std::string("\x08\x01", 2)) << "want SERVING";
  const std::string list_services = std::string("\x3a\x01*", 3);
  absl::StatusOr<std::string> reflection = RawUnaryCall(
      channel_, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", list_services);
  ASSERT_TRUE(reflection.ok()) << reflection.status();
  EXPECT_THAT(*reflection, HasSubstr("countd.v1.Admin"));
  EXPECT_THAT(*reflection, HasSubstr("countd.v1.Counters"));
}

TEST_F(AuthGrpcE2eTest, StartupRefusesMissingOrMalformedCredentialFiles) {
  WriteFile(dir_.Sub("short-token"), "too-short\n");
  WriteFile(dir_.Sub("bad-key"), absl::Base64Escape(Urandom(16)) + "\n");
  WriteFile(dir_.Sub("empty"), "");
  const std::string missing = dir_.Sub("missing");
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {{"--auth=required", "--secrets-key-file=" + key_file_}, "--operator-token-file"},
      {{"--auth=required", "--operator-token-file=" + token_file_}, "--secrets-key-file"},
      {{"--auth=required", "--operator-token-file=" + missing, "--secrets-key-file=" + key_file_},
       "--operator-token-file"},
      {{"--auth=required", "--operator-token-file=" + dir_.Sub("short-token"),
        "--secrets-key-file=" + key_file_},
       "--operator-token-file"},
      {{"--auth=required", "--operator-token-file=" + token_file_, "--secrets-key-file=" + missing},
       "--secrets-key-file"},
      {{"--auth=required", "--operator-token-file=" + token_file_,
        "--secrets-key-file=" + dir_.Sub("bad-key")},
       "--secrets-key-file"},
      {{"--auth=required", "--operator-token-file=" + token_file_,
        "--secrets-key-file=" + dir_.Sub("empty")},
       "--secrets-key-file"},
      {{"--auth=off", "--secrets-key-file=" + dir_.Sub("bad-key")}, "--secrets-key-file"},
      {{"--auth=maybe"}, "--auth"},
  };
  for (const Case& c : cases) {
    ServerProcessOptions options;
    options.data_dir = dir_.Sub("refused");
    options.extra_args = c.args;
    const std::string err = ExpectRefusedStart(options);
    EXPECT_THAT(err, HasSubstr(c.flag)) << absl::StrJoin(c.args, " ");
    EXPECT_THAT(err, Not(HasSubstr(token_)));
  }
  // The defaults are --auth=required: without any credential flag countd does not start.
  ServerProcessOptions defaults;
  defaults.data_dir = dir_.Sub("refused");
  defaults.env = {{"COUNTD_AUTH", "required"}};  // keeps ServerProcess from adding --auth=off
  EXPECT_THAT(ExpectRefusedStart(defaults), HasSubstr("--operator-token-file"));
}

TEST_F(AuthGrpcE2eTest, StartupLogShowsOnlyWhetherCredentialFilesAreSet) {
  const std::string out = server_->stdout_text() + server_->stderr_text();
  EXPECT_THAT(out, HasSubstr("operator_token_file=<set>"));
  EXPECT_THAT(out, HasSubstr("secrets_key_file=<set>"));
  EXPECT_THAT(out, HasSubstr("auth=required"));
  EXPECT_THAT(out, Not(HasSubstr(token_file_)));
  EXPECT_THAT(out, Not(HasSubstr(key_file_)));
}

// --- countctl: the operator's workflow --------------------------------------------------------

TEST_F(AuthGrpcE2eTest, CountctlManagesTenantsWithTheOperatorToken) {
  const std::string addr = "--addr=" + server_->grpc_address();
  const std::string bearer_file = "--bearer-file=" + token_file_;
  CommandResult created =
      Countctl({addr, bearer_file, "create-tenant", "--tenant=site-a",
                "--settings={\"allowedOrigins\":[\"https://www.example.com\"]}"});
  ASSERT_EQ(created.exit_code, 0) << created.out;
  v1::CreateTenantResponse resp;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(created.out, &resp).ok()) << created.out;
  const std::string secret = resp.secret().secret();
  Remember(secret);
  ASSERT_EQ(secret.size(), 44u);
  EXPECT_EQ(resp.tenant().settings().allowed_origins(0), "https://www.example.com");

  // The tenant calls with COUNTD_BEARER=<tenant>:<secret>.
  CommandResult incr =
      Countctl({addr, "incr", "--tenant=site-a", "--visitor-id=v1", "--counter-name=views"},
               "site-a:" + secret);
  EXPECT_EQ(incr.exit_code, 0) << incr.out;

  CommandResult added =
      Countctl({addr, bearer_file, "add-secret", "--tenant=site-a", "--role=read_only"});
  ASSERT_EQ(added.exit_code, 0) << added.out;
  v1::AddSecretResponse add_resp;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(added.out, &add_resp).ok());
  Remember(add_resp.secret().secret());
  EXPECT_EQ(add_resp.secret().info().id(), "s2");
  EXPECT_EQ(add_resp.secret().info().role(), v1::SECRET_ROLE_READ_ONLY);

  CommandResult revoked =
      Countctl({addr, "--bearer=" + token_, "revoke-secret", "--tenant=site-a", "--secret-id=s1"});
  EXPECT_EQ(revoked.exit_code, 0) << revoked.out;
  CommandResult listed = Countctl({addr, bearer_file, "list-tenants"});
  ASSERT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_THAT(listed.out, HasSubstr("\"revoked\":true"));
  EXPECT_THAT(listed.out, Not(HasSubstr(secret)));

  // Refusals: exit 1 with the code; the credential is never echoed.
  CommandResult no_token = Countctl({addr, "list-tenants"});
  EXPECT_EQ(no_token.exit_code, 1) << no_token.out;
  EXPECT_THAT(no_token.out, HasSubstr("UNAUTHENTICATED"));
  CommandResult as_tenant =
      Countctl({addr, "list-tenants"}, "site-a:" + add_resp.secret().secret());
  EXPECT_EQ(as_tenant.exit_code, 1) << as_tenant.out;
  EXPECT_THAT(as_tenant.out, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(as_tenant.out, Not(HasSubstr(add_resp.secret().secret())));
  CommandResult old =
      Countctl({addr, "incr", "--tenant=site-a", "--visitor-id=v1", "--counter-name=views"},
               "site-a:" + secret);
  EXPECT_EQ(old.exit_code, 1) << old.out;
  EXPECT_THAT(old.out, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(old.out, Not(HasSubstr(secret)));
  CommandResult both = Countctl({addr, bearer_file, "--bearer=x", "list-tenants"});
  EXPECT_EQ(both.exit_code, 2) << both.out;
  CommandResult missing_file =
      Countctl({addr, "--bearer-file=" + dir_.Sub("nope"), "list-tenants"});
  EXPECT_EQ(missing_file.exit_code, 2) << missing_file.out;
}

// Without --auth (the test harness adds --auth=off) nothing changes for tenant calls, and Admin
// is open unless an operator token is configured.
TEST(AuthOffE2eTest, NoTenantChecksAndAdminOpenWithoutToken) {
  test::ScopedTempDir dir;
  ServerProcessOptions options;
  options.data_dir = dir.Sub("data");
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  std::shared_ptr<grpc::Channel> channel = NewChannel((*server)->grpc_address());
  auto counters = v1::Counters::NewStub(channel);
  v1::IncrRequest incr;
  incr.set_tenant("anyone");
  incr.set_visitor_id("v1");
  incr.set_counter_name("views");
  v1::IncrResponse incr_resp;
  EXPECT_THAT(Rpc(counters.get(), &v1::Counters::Stub::Incr, incr, &incr_resp), IsOk());
  auto admin = v1::Admin::NewStub(channel);
  v1::ListTenantsRequest list;
  v1::ListTenantsResponse list_resp;
  // Open, but there is no registry without --secrets-key-file.
  EXPECT_THAT(Rpc(admin.get(), &v1::Admin::Stub::ListTenants, list, &list_resp),
              IsError(grpc::StatusCode::FAILED_PRECONDITION, "--secrets-key-file"));
  EXPECT_THAT((*server)->stdout_text() + (*server)->stderr_text(),
              HasSubstr("authentication is OFF"));
}

TEST(AuthOffE2eTest, WithAKeyAndATokenAdminManagesTenantsButCallsStayOpen) {
  test::ScopedTempDir dir;
  const std::string token = absl::Base64Escape(Urandom(36));
  WriteFile(dir.Sub("token"), token);
  WriteFile(dir.Sub("key"), absl::BytesToHexString(Urandom(32)));
  ServerProcessOptions options;
  options.data_dir = dir.Sub("data");
  options.extra_args = {"--auth=off", "--operator-token-file=" + dir.Sub("token"),
                        "--secrets-key-file=" + dir.Sub("key")};
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  std::shared_ptr<grpc::Channel> channel = NewChannel((*server)->grpc_address());
  auto admin = v1::Admin::NewStub(channel);
  v1::CreateTenantRequest create;
  create.set_tenant("site-a");
  v1::CreateTenantResponse create_resp;
  EXPECT_EQ(
      Call(admin.get(), &v1::Admin::Stub::CreateTenant, Credential::None(), create, &create_resp)
          .error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(Call(admin.get(), &v1::Admin::Stub::CreateTenant, Credential::Bearer(token), create,
                   &create_resp),
              IsOk());
  auto counters = v1::Counters::NewStub(channel);
  v1::IncrRequest incr;
  incr.set_tenant("site-b");  // not even registered
  incr.set_visitor_id("v1");
  incr.set_counter_name("views");
  v1::IncrResponse incr_resp;
  EXPECT_THAT(Rpc(counters.get(), &v1::Counters::Stub::Incr, incr, &incr_resp), IsOk());
  const std::string out = (*server)->stdout_text() + (*server)->stderr_text();
  EXPECT_THAT(out, HasSubstr("limited to the operator token"));
  EXPECT_THAT(out, Not(HasSubstr(token)));
  EXPECT_THAT(out, Not(HasSubstr(create_resp.secret().secret())));
}

}  // namespace
}  // namespace countd::e2e
