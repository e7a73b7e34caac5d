// Unit tests of countd::logic::ParseTenantCredentials.
#include "server/logic/tenant_credentials.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"

namespace countd::logic {
namespace {

constexpr absl::optional<absl::string_view> kNone = absl::nullopt;

TEST(TenantCredentialsTest, BearerSplitsAtTheLastColon) {
  absl::StatusOr<TenantCredentials> c =
      ParseTenantCredentials("Bearer acme:c2VjcmV0Cg==", kNone, kNone, kNone);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tenant, "acme");
  EXPECT_EQ(c->secret, "c2VjcmV0Cg==");
  EXPECT_EQ(c->secret_id, "");

  c = ParseTenantCredentials("bearer  a:b:c", kNone, kNone, "s2");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tenant, "a:b");
  EXPECT_EQ(c->secret, "c");
  EXPECT_EQ(c->secret_id, "s2");
}

TEST(TenantCredentialsTest, HeaderPair) {
  absl::StatusOr<TenantCredentials> c = ParseTenantCredentials(kNone, "acme", "sekrit", "s1");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tenant, "acme");
  EXPECT_EQ(c->secret, "sekrit");
  EXPECT_EQ(c->secret_id, "s1");
}

TEST(TenantCredentialsTest, NothingIsNoCredentials) {
  absl::StatusOr<TenantCredentials> c = ParseTenantCredentials(kNone, kNone, kNone, kNone);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ReasonOf(c.status()), auth_reason::kNoCredentials);
  EXPECT_EQ(FieldOf(c.status()), "");
  EXPECT_NE(std::string(c.status().message()).find("Bearer"), std::string::npos);
}

TEST(TenantCredentialsTest, MalformedInputNamesTheHeaderAndNeverEchoesTheSecret) {
  struct Case {
    absl::optional<absl::string_view> authorization, tenant, secret, secret_id;
    const char* field;
  };
  const Case cases[] = {
      {"Basic YTpi", kNone, kNone, kNone, "authorization"},
      {"Bearer", kNone, kNone, kNone, "authorization"},
      {"Bearer sekrit", kNone, kNone, kNone, "authorization"},
      {"Bearer :sekrit", kNone, kNone, kNone, "authorization"},
      {"Bearer acme:", kNone, kNone, kNone, "authorization"},
      {"Bearer acme:sekrit", "acme", kNone, kNone, "authorization"},
      {"Bearer acme:sekrit", kNone, "sekrit", kNone, "authorization"},
      {kNone, "acme", kNone, kNone, "x-countd-secret"},
      {kNone, "acme", "", kNone, "x-countd-secret"},
      {kNone, kNone, "sekrit", kNone, "x-countd-tenant"},
      {kNone, "", "sekrit", kNone, "x-countd-tenant"},
      {kNone, "acme", "sekrit", "", "x-countd-secret-id"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TenantCredentials> got =
        ParseTenantCredentials(c.authorization, c.tenant, c.secret, c.secret_id);
    SCOPED_TRACE(c.field);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(ReasonOf(got.status()), auth_reason::kNoCredentials);
    EXPECT_EQ(FieldOf(got.status()), c.field);
    EXPECT_EQ(std::string(got.status().message()).find("sekrit"), std::string::npos)
        << got.status();
  }
}

}  // namespace
}  // namespace countd::logic
