// Tests of server/grpc/grpc_auth.h: credentials read from gRPC metadata (both forms, repeated and
// malformed keys), checked against a real tenant registry, and the operator token for Admin.
#include "server/grpc/grpc_auth.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/logic/secret_box.h"
#include "server/logic/status_util.h"
#include "server/logic/tenants.h"
#include "storage/store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace countd::grpc_edge {
namespace {

namespace reason = logic::auth_reason;
using api::Access;

constexpr char kOperatorToken[] = "operator-token-for-tests";

// Metadata as gRPC hands it over: string_refs into `storage`, which must outlive it.
class MetadataBuilder {
 public:
  MetadataBuilder& Add(std::string key, std::string value) {
    storage_.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  GrpcAuth::Metadata Build() const {
    GrpcAuth::Metadata out;
    for (const auto& [k, v] : storage_) {
      out.emplace(grpc::string_ref(k.data(), k.size()), grpc::string_ref(v.data(), v.size()));
    }
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> storage_;
};

class GrpcAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenRocksDbStore(dir_.Sub("db"), storage::StoreOptions{});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    absl::StatusOr<std::string> key = logic::RandomBytes(logic::kSecretsKeyBytes);
    ASSERT_TRUE(key.ok());
    logic::TenantRegistry::Options options;
    options.clock = &clock_;
    options.secrets_key = *key;
    absl::StatusOr<std::unique_ptr<logic::TenantRegistry>> tenants =
        logic::TenantRegistry::Open(store_.get(), options);
    ASSERT_TRUE(tenants.ok()) << tenants.status();
    tenants_ = *std::move(tenants);
    writer_ = Create("site1", logic::SecretRole::kReadWrite);
    absl::StatusOr<logic::NewSecret> reader =
        tenants_->AddSecret("site1", logic::SecretRole::kReadOnly);
    ASSERT_TRUE(reader.ok()) << reader.status();
    reader_ = *reader;
    other_ = Create("site2", logic::SecretRole::kReadWrite);

    GrpcAuthOptions auth;
    auth.tenants = tenants_.get();
    auth.require_tenant_credentials = true;
    auth.operator_token = kOperatorToken;
    auth_ = std::make_unique<GrpcAuth>(std::move(auth));
  }

  logic::NewSecret Create(const std::string& tenant, logic::SecretRole role) {
    auto created = tenants_->CreateTenant(tenant, {}, role);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->second : logic::NewSecret{};
  }

  absl::Status Check(const MetadataBuilder& metadata, Access access,
                     const std::string& tenant = "site1") {
    return auth_->Check(metadata.Build(), access, tenant);
  }

  static void ExpectFailure(const absl::Status& s, absl::StatusCode code, absl::string_view why,
                            absl::string_view field) {
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_EQ(logic::ReasonOf(s), why) << s;
    EXPECT_EQ(logic::FieldOf(s), field) << s;
  }

  test::ScopedTempDir dir_;
  test::FakeClock clock_{absl::FromUnixSeconds(1718452800)};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<logic::TenantRegistry> tenants_;
  std::unique_ptr<GrpcAuth> auth_;
  logic::NewSecret writer_;
  logic::NewSecret reader_;
  logic::NewSecret other_;
};

TEST_F(GrpcAuthTest, BearerAndHeaderFormsBothAuthenticate) {
  EXPECT_TRUE(Check(MetadataBuilder().Add("authorization", "Bearer site1:" + writer_.secret),
                    Access::kWrite)
                  .ok());
  // The scheme is case-insensitive, as HTTP's.
  EXPECT_TRUE(Check(MetadataBuilder().Add("authorization", "bearer site1:" + writer_.secret),
                    Access::kWrite)
                  .ok());
  EXPECT_TRUE(Check(MetadataBuilder()
                        .Add("x-countd-tenant", "site1")
                        .Add("x-countd-secret", writer_.secret)
                        .Add("x-countd-secret-id", writer_.info.id),
                    Access::kWrite)
                  .ok());
}

TEST_F(GrpcAuthTest, MissingRepeatedOrMalformedCredentialsAreUnauthenticated) {
  ExpectFailure(Check(MetadataBuilder(), Access::kRead), absl::StatusCode::kUnauthenticated,
                reason::kNoCredentials, "");
  ExpectFailure(Check(MetadataBuilder()
                          .Add("authorization", "Bearer site1:" + writer_.secret)
                          .Add("authorization", "Bearer site1:" + writer_.secret),
                      Access::kRead),
                absl::StatusCode::kUnauthenticated, reason::kNoCredentials, "authorization");
  ExpectFailure(Check(MetadataBuilder().Add("authorization", "Basic c2l0ZTE6eA=="), Access::kRead),
                absl::StatusCode::kUnauthenticated, reason::kNoCredentials, "authorization");
  ExpectFailure(Check(MetadataBuilder().Add("x-countd-tenant", "site1"), Access::kRead),
                absl::StatusCode::kUnauthenticated, reason::kNoCredentials, "x-countd-secret");
}

TEST_F(GrpcAuthTest, WrongSecretOrUnknownTenantIsUnauthenticated) {
  ExpectFailure(
      Check(MetadataBuilder().Add("authorization", "Bearer site1:" + other_.secret), Access::kRead),
      absl::StatusCode::kUnauthenticated, reason::kBadSecret, "authorization");
  ExpectFailure(Check(MetadataBuilder().Add("authorization", "Bearer nobody:" + writer_.secret),
                      Access::kRead, "nobody"),
                absl::StatusCode::kUnauthenticated, reason::kUnknownTenant, "authorization");
}

TEST_F(GrpcAuthTest, RoleAndTenantOfTheCredentialAreEnforced) {
  MetadataBuilder reader;
  reader.Add("authorization", "Bearer site1:" + reader_.secret);
  EXPECT_TRUE(Check(reader, Access::kRead).ok());
  ExpectFailure(Check(reader, Access::kWrite), absl::StatusCode::kPermissionDenied, reason::kRole,
                "");
  // site2's credential on a site1 request.
  ExpectFailure(Check(MetadataBuilder().Add("authorization", "Bearer site2:" + other_.secret),
                      Access::kRead, "site1"),
                absl::StatusCode::kPermissionDenied, reason::kOtherTenant, "tenant");
}

TEST_F(GrpcAuthTest, OperatorCallsNeedTheOperatorToken) {
  EXPECT_TRUE(Check(MetadataBuilder().Add("authorization", absl::StrCat("Bearer ", kOperatorToken)),
                    Access::kOperator, "")
                  .ok());
  ExpectFailure(Check(MetadataBuilder(), Access::kOperator, ""), absl::StatusCode::kUnauthenticated,
                reason::kNoCredentials, "");
  ExpectFailure(
      Check(MetadataBuilder().Add("authorization", "Bearer not-the-token"), Access::kOperator, ""),
      absl::StatusCode::kUnauthenticated, reason::kBadSecret, "authorization");
  // A tenant that authenticates is known, and refused Admin.
  ExpectFailure(Check(MetadataBuilder().Add("authorization", "Bearer site1:" + writer_.secret),
                      Access::kOperator, ""),
                absl::StatusCode::kPermissionDenied, reason::kRole, "authorization");
}

TEST_F(GrpcAuthTest, TenantChecksOffLetEveryTenantCallThrough) {
  GrpcAuthOptions options;
  options.operator_token = kOperatorToken;
  GrpcAuth open(std::move(options));
  EXPECT_TRUE(open.Check(MetadataBuilder().Build(), Access::kWrite, "anyone").ok());
  // Admin still needs the token when one is set.
  EXPECT_EQ(open.Check(MetadataBuilder().Build(), Access::kOperator, "").code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(GrpcAuthTest, NoMessageHoldsASecretOrTheToken) {
  std::vector<absl::Status> failures = {
      Check(MetadataBuilder().Add("authorization", "Bearer site1:" + other_.secret), Access::kRead),
      Check(MetadataBuilder().Add("authorization", "Bearer site2:" + other_.secret), Access::kRead),
      Check(MetadataBuilder().Add("authorization", "Bearer site1:" + writer_.secret),
            Access::kOperator, ""),
  };
  for (const absl::Status& s : failures) {
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.ToString().find(other_.secret), std::string::npos) << s;
    EXPECT_EQ(s.ToString().find(writer_.secret), std::string::npos) << s;
    EXPECT_EQ(s.ToString().find(kOperatorToken), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace countd::grpc_edge
