// Tests of the tenant registry (server/logic/tenants.h) over a real RocksDB store in a temporary
// directory, with a fake clock: administration, secrets encrypted at rest and their rotation,
// request checks (secret, signature, origin, rate), Authorize and the access table of every RPC.
// Keys and secrets are generated at run time, except the published-style vector of
// CheckSignature, whose secret bytes are 0..31.
#include "server/logic/tenants.h"

#include <atomic>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logic/secret_box.h"
#include "server/logic/status_util.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/testing/failing_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/in_memory_store.h"
#include "tests/testing/temp_dir.h"

namespace countd::logic {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

namespace reason = auth_reason;

void ExpectAuthFailure(const absl::Status& s, absl::StatusCode code, absl::string_view why,
                       absl::string_view field) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_EQ(ReasonOf(s), why) << s;
  EXPECT_EQ(FieldOf(s), field) << s;
}

void ExpectError(const absl::Status& s, absl::StatusCode code, absl::string_view field) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_EQ(FieldOf(s), field) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(field))) << s;
}

TenantSettings Origins(std::vector<std::string> origins) {
  TenantSettings s;
  s.allowed_origins = std::move(origins);
  return s;
}

TenantSettings Rate(double per_second, int64_t burst) {
  TenantSettings s;
  s.rate_limit_per_second = per_second;
  s.rate_limit_burst = burst;
  return s;
}

class TenantRegistryTest : public ::testing::Test {
 protected:
  TenantRegistryTest() : clock_(absl::FromUnixSeconds(1'700'000'000)) {}

  void SetUp() override {
    storage::StoreOptions options;
    options.clock = &clock_;
    options.block_cache_bytes = size_t{8} << 20;
    options.memtable_bytes = size_t{8} << 20;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenRocksDbStore(dir_.Sub("db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    failing_ = std::make_unique<test::FailingStore>(store_.get());
    absl::StatusOr<std::string> key = RandomBytes(kSecretsKeyBytes);
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = *key;
    absl::StatusOr<std::unique_ptr<TenantRegistry>> registry = Open(key_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
  }

  absl::StatusOr<std::unique_ptr<TenantRegistry>> Open(
      const std::string& key, std::function<std::string(size_t)> secret_bytes = nullptr) {
    TenantRegistry::Options options;
    options.clock = &clock_;
    options.secrets_key = key;
    options.secret_bytes_for_test = std::move(secret_bytes);
    return TenantRegistry::Open(failing_.get(), options);
  }

  // Creates `tenant` and returns its first secret.
  NewSecret Create(const std::string& tenant, const TenantSettings& settings = {},
                   SecretRole role = SecretRole::kReadWrite) {
    absl::StatusOr<std::pair<TenantInfo, NewSecret>> created =
        registry_->CreateTenant(tenant, settings, role);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->second : NewSecret{};
  }

  // Every raw value of table kMeta, concatenated.
  std::string RawMeta() {
    std::string all;
    absl::Status s = store_->ScanAllPartitions(storage::Table::kMeta, storage::ScanRange{},
                                  [&](absl::string_view key, absl::string_view value) {
                                    absl::StrAppend(&all, key, value);
                                    return true;
                                  });
    EXPECT_TRUE(s.ok()) << s;
    return all;
  }

  test::FakeClock clock_;
  test::ScopedTempDir dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<test::FailingStore> failing_;
  std::string key_;
  std::unique_ptr<TenantRegistry> registry_;
};

// --- administration ------------------------------------------------------------------------

TEST_F(TenantRegistryTest, CreateGetListUpdateDelete) {
  TenantSettings settings = Origins({"https://www.example.com"});
  settings.rate_limit_per_second = 50;
  settings.rate_limit_burst = 100;
  absl::StatusOr<std::pair<TenantInfo, NewSecret>> created =
      registry_->CreateTenant("site1", settings, SecretRole::kReadWrite);
  ASSERT_TRUE(created.ok()) << created.status();
  const TenantInfo& info = created->first;
  EXPECT_EQ(info.tenant, "site1");
  EXPECT_EQ(info.created, clock_.Now());
  EXPECT_THAT(info.settings.allowed_origins, ElementsAre("https://www.example.com"));
  EXPECT_EQ(info.settings.rate_limit_per_second, 50);
  EXPECT_EQ(info.settings.rate_limit_burst, 100);
  ASSERT_EQ(info.secrets.size(), 1u);
  EXPECT_EQ(info.secrets[0].id, "s1");
  EXPECT_FALSE(info.secrets[0].revoked);
  EXPECT_EQ(info.secrets[0].role, SecretRole::kReadWrite);
  EXPECT_EQ(created->second.info.id, "s1");

  clock_.Advance(absl::Seconds(5));
  Create("a-site");
  absl::StatusOr<std::vector<TenantInfo>> list = registry_->ListTenants();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].tenant, "a-site");  // tenant order, not creation order
  EXPECT_EQ((*list)[1].tenant, "site1");

  absl::StatusOr<TenantInfo> got = registry_->GetTenant("site1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->created, info.created);
  EXPECT_THAT(got->settings.allowed_origins, ElementsAre("https://www.example.com"));

  absl::StatusOr<TenantInfo> updated = registry_->UpdateTenant("site1", Rate(5, 0));
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_THAT(updated->settings.allowed_origins, IsEmpty());  // replaced as a whole
  EXPECT_EQ(updated->settings.rate_limit_per_second, 5);
  EXPECT_EQ(updated->secrets.size(), 1u);
  absl::StatusOr<TenantSettings> now = registry_->Settings("site1");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->rate_limit_per_second, 5);

  ASSERT_TRUE(registry_->DeleteTenant("site1").ok());
  ExpectError(registry_->GetTenant("site1").status(), absl::StatusCode::kNotFound, "tenant");
  ExpectError(registry_->DeleteTenant("site1"), absl::StatusCode::kNotFound, "tenant");
  ExpectAuthFailure(registry_->CheckSecret("site1", "", created->second.secret).status(),
                    absl::StatusCode::kUnauthenticated, reason::kUnknownTenant, "tenant");
  list = registry_->ListTenants();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);

  // Registering it again gives a new first secret; the old one stays dead.
  NewSecret again = Create("site1");
  EXPECT_EQ(again.info.id, "s1");
  EXPECT_NE(again.secret, created->second.secret);
  EXPECT_FALSE(registry_->CheckSecret("site1", "", created->second.secret).ok());
  EXPECT_TRUE(registry_->CheckSecret("site1", "", again.secret).ok());
}

TEST_F(TenantRegistryTest, CreateTwiceIsAlreadyExists) {
  NewSecret first = Create("site1");
  absl::StatusOr<std::pair<TenantInfo, NewSecret>> again =
      registry_->CreateTenant("site1", {}, SecretRole::kReadWrite);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  EXPECT_TRUE(registry_->CheckSecret("site1", "", first.secret).ok());
}

TEST_F(TenantRegistryTest, BadInputNamesTheFieldAndChangesNothing) {
  ExpectError(registry_->CreateTenant("", {}, SecretRole::kReadWrite).status(),
              absl::StatusCode::kInvalidArgument, "tenant");
  ExpectError(registry_->CreateTenant("a:b", {}, SecretRole::kReadWrite).status(),
              absl::StatusCode::kInvalidArgument, "tenant");
  ExpectError(registry_->CreateTenant(std::string(257, 'a'), {}, SecretRole::kReadWrite).status(),
              absl::StatusCode::kInvalidArgument, "tenant");
  ExpectError(registry_
                  ->CreateTenant("site1", Origins({"https://ok.example", "ftp://x"}),
                                 SecretRole::kReadWrite)
                  .status(),
              absl::StatusCode::kInvalidArgument, "settings.allowed_origins[1]");
  for (double rate : {-1.0, std::nan(""), std::numeric_limits<double>::infinity(), 2e9}) {
    ExpectError(registry_->CreateTenant("site1", Rate(rate, 0), SecretRole::kReadWrite).status(),
                absl::StatusCode::kInvalidArgument, "settings.rate_limit_per_second");
  }
  ExpectError(registry_->CreateTenant("site1", Rate(1, -1), SecretRole::kReadWrite).status(),
              absl::StatusCode::kInvalidArgument, "settings.rate_limit_burst");
  std::vector<std::string> many(101, "https://a.example");
  ExpectError(registry_->CreateTenant("site1", Origins(many), SecretRole::kReadWrite).status(),
              absl::StatusCode::kInvalidArgument, "settings.allowed_origins");
  ExpectError(registry_
                  ->CreateTenant("site1", Origins({"https://a.example", "HTTPS://A.example:443"}),
                                 SecretRole::kReadWrite)
                  .status(),
              absl::StatusCode::kInvalidArgument, "settings.allowed_origins[1]");
  absl::StatusOr<std::vector<TenantInfo>> list = registry_->ListTenants();
  ASSERT_TRUE(list.ok());
  EXPECT_THAT(*list, IsEmpty());
  EXPECT_FALSE(absl::StrContains(RawMeta(), "site1"));

  Create("site1", Rate(3, 0));
  ExpectError(registry_->UpdateTenant("site1", Rate(-3, 0)).status(),
              absl::StatusCode::kInvalidArgument, "settings.rate_limit_per_second");
  ExpectError(registry_->UpdateTenant("site1", Origins({"https://x.example/path"})).status(),
              absl::StatusCode::kInvalidArgument, "settings.allowed_origins[0]");
  ExpectError(registry_->UpdateTenant("nobody", {}).status(), absl::StatusCode::kNotFound,
              "tenant");
  ExpectError(registry_->UpdateTenant("bad name", {}).status(), absl::StatusCode::kInvalidArgument,
              "tenant");
  absl::StatusOr<TenantSettings> settings = registry_->Settings("site1");
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(settings->rate_limit_per_second, 3);

  ExpectError(registry_->AddSecret("nobody", SecretRole::kReadWrite).status(),
              absl::StatusCode::kNotFound, "tenant");
  ExpectError(registry_->RevokeSecret("site1", "s9").status(), absl::StatusCode::kNotFound,
              "secret_id");
  ExpectError(registry_->RevokeSecret("site1", "").status(), absl::StatusCode::kInvalidArgument,
              "secret_id");
  ExpectError(registry_->RevokeSecret("nobody", "s1").status(), absl::StatusCode::kNotFound,
              "tenant");
  ExpectError(registry_->GetTenant("").status(), absl::StatusCode::kInvalidArgument, "tenant");
}

TEST_F(TenantRegistryTest, StorageFailuresChangeNothing) {
  failing_->FailNextWrite();
  EXPECT_EQ(registry_->CreateTenant("site1", {}, SecretRole::kReadWrite).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(registry_->GetTenant("site1").status().code(), absl::StatusCode::kNotFound);

  NewSecret s1 = Create("site1", Rate(10, 0));
  failing_->FailNextWrite();
  EXPECT_EQ(registry_->AddSecret("site1", SecretRole::kReadWrite).status().code(),
            absl::StatusCode::kUnavailable);
  failing_->FailNextWrite();
  EXPECT_EQ(registry_->RevokeSecret("site1", "s1").status().code(), absl::StatusCode::kUnavailable);
  failing_->FailNextWrite();
  EXPECT_EQ(registry_->UpdateTenant("site1", {}).status().code(), absl::StatusCode::kUnavailable);
  failing_->FailNextWrite();
  EXPECT_EQ(registry_->DeleteTenant("site1").code(), absl::StatusCode::kUnavailable);

  absl::StatusOr<TenantInfo> info = registry_->GetTenant("site1");
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ(info->secrets.size(), 1u);
  EXPECT_FALSE(info->secrets[0].revoked);
  EXPECT_EQ(info->settings.rate_limit_per_second, 10);
  EXPECT_TRUE(registry_->CheckSecret("site1", "", s1.secret).ok());
  // The failed AddSecret used no id.
  absl::StatusOr<NewSecret> s2 = registry_->AddSecret("site1", SecretRole::kReadWrite);
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->info.id, "s2");
}

// --- secrets at rest ---------------------------------------------------------------------------

TEST_F(TenantRegistryTest, SecretIsShownOnceAsBase64Of32Bytes) {
  NewSecret a = Create("site1");
  NewSecret b = Create("site2");
  EXPECT_EQ(a.secret.size(), 44u);
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(a.secret, &raw));
  EXPECT_EQ(raw.size(), 32u);
  EXPECT_EQ(absl::Base64Escape(raw), a.secret);  // standard alphabet, padded
  EXPECT_NE(a.secret, b.secret);
  // The only way back to a secret is the NewSecret above: records carry metadata only.
  absl::StatusOr<TenantInfo> info = registry_->GetTenant("site1");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->secrets[0].id, a.info.id);
  EXPECT_EQ(info->secrets[0].created, a.info.created);
}

TEST_F(TenantRegistryTest, SecretsAreEncryptedAtRest) {
  std::vector<NewSecret> secrets = {Create("site1"), Create("site2")};
  absl::StatusOr<NewSecret> more = registry_->AddSecret("site1", SecretRole::kReadOnly);
  ASSERT_TRUE(more.ok()) << more.status();
  secrets.push_back(*more);
  const std::string meta = RawMeta();
  EXPECT_TRUE(absl::StrContains(meta, "site1"));  // the scan did see the records
  for (const NewSecret& s : secrets) {
    std::string raw;
    ASSERT_TRUE(absl::Base64Unescape(s.secret, &raw));
    EXPECT_FALSE(absl::StrContains(meta, raw)) << s.info.id;
    EXPECT_FALSE(absl::StrContains(meta, s.secret)) << s.info.id;
    EXPECT_FALSE(absl::StrContains(meta, absl::BytesToHexString(raw))) << s.info.id;
    EXPECT_FALSE(absl::StrContains(meta, raw.substr(0, 8))) << s.info.id;
  }
  EXPECT_FALSE(absl::StrContains(meta, key_));
}

TEST_F(TenantRegistryTest, ReopenWithTheSameKeyKeepsEverything) {
  NewSecret s1 = Create("site1", Origins({"https://www.example.com"}));
  absl::StatusOr<NewSecret> s2 = registry_->AddSecret("site1", SecretRole::kReadOnly);
  ASSERT_TRUE(s2.ok());
  ASSERT_TRUE(registry_->RevokeSecret("site1", "s1").ok());
  absl::StatusOr<TenantInfo> before = registry_->GetTenant("site1");
  ASSERT_TRUE(before.ok());

  registry_.reset();
  absl::StatusOr<std::unique_ptr<TenantRegistry>> reopened = Open(key_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  registry_ = *std::move(reopened);
  absl::StatusOr<TenantInfo> after = registry_->GetTenant("site1");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->created, before->created);
  EXPECT_EQ(after->settings.allowed_origins, before->settings.allowed_origins);
  ASSERT_EQ(after->secrets.size(), 2u);
  EXPECT_TRUE(after->secrets[0].revoked);
  EXPECT_EQ(after->secrets[1].role, SecretRole::kReadOnly);
  EXPECT_EQ(after->secrets[1].created, before->secrets[1].created);

  EXPECT_FALSE(registry_->CheckSecret("site1", "", s1.secret).ok());
  absl::StatusOr<Principal> p = registry_->CheckSecret("site1", "", s2->secret);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->secret_id, "s2");
  EXPECT_EQ(p->role, SecretRole::kReadOnly);
  // Ids continue after a restart.
  absl::StatusOr<NewSecret> s3 = registry_->AddSecret("site1", SecretRole::kReadWrite);
  ASSERT_TRUE(s3.ok()) << s3.status();
  EXPECT_EQ(s3->info.id, "s3");
}

TEST_F(TenantRegistryTest, ReopenWithAnotherKeyIsDataLoss) {
  NewSecret s1 = Create("site1");
  registry_.reset();
  absl::StatusOr<std::string> other = RandomBytes(kSecretsKeyBytes);
  ASSERT_TRUE(other.ok());
  absl::StatusOr<std::unique_ptr<TenantRegistry>> reopened = Open(*other);
  ASSERT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss) << reopened.status();
  EXPECT_THAT(std::string(reopened.status().message()), HasSubstr("site1"));
  EXPECT_THAT(std::string(reopened.status().message()), HasSubstr("secrets key"));
  EXPECT_THAT(std::string(reopened.status().message()), Not(HasSubstr(s1.secret)));
  // The right key still works: nothing was changed by the failed open.
  EXPECT_TRUE(Open(key_).ok());
}

TEST_F(TenantRegistryTest, ReopenWithARevokedOnlySecretStillChecksTheKey) {
  Create("site1");
  ASSERT_TRUE(registry_->RevokeSecret("site1", "s1").ok());
  registry_.reset();
  absl::StatusOr<std::string> other = RandomBytes(kSecretsKeyBytes);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(Open(*other).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(TenantRegistryTest, ACiphertextMovedToAnotherRecordDoesNotOpen) {
  Create("site1");
  registry_.reset();
  absl::StatusOr<std::string> value =
      store_->Get(storage::keys::TenantRegistryPartition(), storage::Table::kMeta,
                  storage::keys::TenantRecordKey("site1"));
  ASSERT_TRUE(value.ok()) << value.status();
  storage::WriteBatch copy(storage::keys::TenantRegistryPartition());
  copy.Put(storage::Table::kMeta, storage::keys::TenantRecordKey("site2"), *value);
  ASSERT_TRUE(store_->Write(copy).ok());
  absl::StatusOr<std::unique_ptr<TenantRegistry>> reopened = Open(key_);
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss) << reopened.status();
  EXPECT_THAT(std::string(reopened.status().message()), HasSubstr("site2"));
}

TEST_F(TenantRegistryTest, CorruptRecordIsDataLoss) {
  for (const std::string& bytes :
       {std::string(), std::string("\x02", 1), std::string("\x01\x00\x00", 3)}) {
    storage::WriteBatch batch(storage::keys::TenantRegistryPartition());
    batch.Put(storage::Table::kMeta, storage::keys::TenantRecordKey("broken"), bytes);
    ASSERT_TRUE(store_->Write(batch).ok());
    absl::StatusOr<std::unique_ptr<TenantRegistry>> reopened = Open(key_);
    EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss) << reopened.status();
    EXPECT_THAT(std::string(reopened.status().message()), HasSubstr("broken"));
  }
  // A valid record with a byte appended.
  storage::WriteBatch cleanup(storage::keys::TenantRegistryPartition());
  cleanup.Delete(storage::Table::kMeta, storage::keys::TenantRecordKey("broken"));
  ASSERT_TRUE(store_->Write(cleanup).ok());
  Create("site1");
  absl::StatusOr<std::string> value =
      store_->Get(storage::keys::TenantRegistryPartition(), storage::Table::kMeta,
                  storage::keys::TenantRecordKey("site1"));
  ASSERT_TRUE(value.ok());
  storage::WriteBatch longer(storage::keys::TenantRegistryPartition());
  longer.Put(storage::Table::kMeta, storage::keys::TenantRecordKey("site1"), *value + "x");
  ASSERT_TRUE(store_->Write(longer).ok());
  EXPECT_EQ(Open(key_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(TenantRegistryTest, OpenErrors) {
  EXPECT_EQ(Open(std::string(31, 'k')).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Open("").status().code(), absl::StatusCode::kInvalidArgument);
  failing_->FailNextScan();
  EXPECT_EQ(Open(key_).status().code(), absl::StatusCode::kUnavailable);
  TenantRegistry::Options no_clock;
  no_clock.secrets_key = key_;
  EXPECT_EQ(TenantRegistry::Open(store_.get(), no_clock).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- rotation ----------------------------------------------------------------------------------

TEST_F(TenantRegistryTest, RotationKeepsAtMostTwoLiveSecrets) {
  NewSecret s1 = Create("site1");
  absl::StatusOr<NewSecret> s2 = registry_->AddSecret("site1", SecretRole::kReadWrite);
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->info.id, "s2");
  EXPECT_NE(s2->secret, s1.secret);
  // Both work during the rotation.
  absl::StatusOr<Principal> p1 = registry_->CheckSecret("site1", "", s1.secret);
  absl::StatusOr<Principal> p2 = registry_->CheckSecret("site1", "", s2->secret);
  ASSERT_TRUE(p1.ok() && p2.ok());
  EXPECT_EQ(p1->secret_id, "s1");
  EXPECT_EQ(p2->secret_id, "s2");
  EXPECT_EQ(p2->tenant, "site1");

  absl::StatusOr<NewSecret> third = registry_->AddSecret("site1", SecretRole::kReadWrite);
  ExpectError(third.status(), absl::StatusCode::kFailedPrecondition, "tenant");
  EXPECT_THAT(std::string(third.status().message()), HasSubstr("s1, s2"));

  absl::StatusOr<TenantInfo> revoked = registry_->RevokeSecret("site1", "s1");
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_TRUE(revoked->secrets[0].revoked);
  EXPECT_FALSE(revoked->secrets[1].revoked);
  ExpectAuthFailure(registry_->CheckSecret("site1", "", s1.secret).status(),
                    absl::StatusCode::kUnauthenticated, reason::kBadSecret, "secret");
  ExpectAuthFailure(registry_->CheckSecret("site1", "s1", s1.secret).status(),
                    absl::StatusCode::kUnauthenticated, reason::kBadSecret, "secret");
  EXPECT_TRUE(registry_->CheckSecret("site1", "", s2->secret).ok());
  // Idempotent.
  absl::StatusOr<TenantInfo> again = registry_->RevokeSecret("site1", "s1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->secrets[0].revoked);

  absl::StatusOr<NewSecret> s3 = registry_->AddSecret("site1", SecretRole::kReadOnly);
  ASSERT_TRUE(s3.ok()) << s3.status();
  EXPECT_EQ(s3->info.id, "s3");  // s1 is never reused
  EXPECT_EQ(s3->info.role, SecretRole::kReadOnly);
  absl::StatusOr<TenantInfo> info = registry_->GetTenant("site1");
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->secrets.size(), 3u);
  EXPECT_EQ(info->secrets[2].id, "s3");

  // Revoking every secret is allowed; the tenant then has no working credential until AddSecret.
  ASSERT_TRUE(registry_->RevokeSecret("site1", "s2").ok());
  ASSERT_TRUE(registry_->RevokeSecret("site1", "s3").ok());
  EXPECT_FALSE(registry_->CheckSecret("site1", "", s2->secret).ok());
  EXPECT_FALSE(registry_->CheckSecret("site1", "", s3->secret).ok());
  absl::StatusOr<NewSecret> s4 = registry_->AddSecret("site1", SecretRole::kReadWrite);
  ASSERT_TRUE(s4.ok());
  EXPECT_EQ(s4->info.id, "s4");
}

// --- request checks ----------------------------------------------------------------------------

TEST_F(TenantRegistryTest, CheckSecretComparesExactlyAndLeaksNothing) {
  NewSecret s1 = Create("site1");
  NewSecret other = Create("site2");
  absl::StatusOr<Principal> p = registry_->CheckSecret("site1", "", s1.secret);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tenant, "site1");
  EXPECT_EQ(p->role, SecretRole::kReadWrite);

  std::string flipped = s1.secret;
  flipped[0] = flipped[0] == 'A' ? 'B' : 'A';
  for (const std::string& wrong : {flipped, s1.secret.substr(0, 43), s1.secret + "=", other.secret,
                                   std::string(), std::string("x")}) {
    absl::Status s = registry_->CheckSecret("site1", "", wrong).status();
    ExpectAuthFailure(s, absl::StatusCode::kUnauthenticated, reason::kBadSecret, "secret");
    if (wrong.size() > 1) {
      EXPECT_THAT(std::string(s.message()), Not(HasSubstr(wrong)));
    }
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr(s1.secret)));
  }
  ExpectAuthFailure(registry_->CheckSecret("nobody", "", s1.secret).status(),
                    absl::StatusCode::kUnauthenticated, reason::kUnknownTenant, "tenant");
}

TEST_F(TenantRegistryTest, SecretIdSelectsOneSecret) {
  NewSecret s1 = Create("site1");
  absl::StatusOr<NewSecret> s2 = registry_->AddSecret("site1", SecretRole::kReadOnly);
  ASSERT_TRUE(s2.ok());
  absl::StatusOr<Principal> p = registry_->CheckSecret("site1", "s2", s2->secret);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->role, SecretRole::kReadOnly);
  ExpectAuthFailure(registry_->CheckSecret("site1", "s2", s1.secret).status(),
                    absl::StatusCode::kUnauthenticated, reason::kBadSecret, "secret");
  ExpectAuthFailure(registry_->CheckSecret("site1", "s7", s1.secret).status(),
                    absl::StatusCode::kUnauthenticated, reason::kBadSecret, "secret");
  EXPECT_TRUE(registry_->CheckSecret("site1", "s1", s1.secret).ok());
}

TEST_F(TenantRegistryTest, CheckSignatureMatchesAnIndependentlyComputedVector) {
  // Secret bytes 0..31, so the secret is "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".
  // The expected signature was computed with:
  //   python3 -c 'import hmac,hashlib,base64;
  //     secret="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  //     base="POST&https%3A%2F%2Faccounts.example.com%2Faccounts.getCounters&apiKey%3Dsite1%26nonce%3Dn1%26timestamp%3D1700000000";
  //     print(base64.b64encode(hmac.new(base64.b64decode(secret), base.encode(),
  //                                     hashlib.sha1).digest()).decode())'
  //   -> gwJN+l5kIaZvvUaQsbYwxgGPybg=
  registry_.reset();
  absl::StatusOr<std::unique_ptr<TenantRegistry>> registry = Open(key_, [](size_t n) {
    std::string bytes;
    for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<char>(i));
    return bytes;
  });
  ASSERT_TRUE(registry.ok()) << registry.status();
  registry_ = *std::move(registry);
  NewSecret s1 = Create("site1");
  ASSERT_EQ(s1.secret, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  const std::string base =
      "POST&https%3A%2F%2Faccounts.example.com%2Faccounts.getCounters&apiKey%3Dsite1%26nonce%"
      "3Dn1%26timestamp%3D1700000000";
  absl::StatusOr<Principal> p =
      registry_->CheckSignature("site1", "", base, "gwJN+l5kIaZvvUaQsbYwxgGPybg=");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->secret_id, "s1");
  EXPECT_TRUE(registry_->CheckSignature("site1", "s1", base, "gwJN+l5kIaZvvUaQsbYwxgGPybg=").ok());

  // Another base string, a changed signature, a truncated one, the key used as text, bad base64.
  ExpectAuthFailure(
      registry_->CheckSignature("site1", "", base + "x", "gwJN+l5kIaZvvUaQsbYwxgGPybg=").status(),
      absl::StatusCode::kUnauthenticated, reason::kBadSignature, "sig");
  ExpectAuthFailure(
      registry_->CheckSignature("site1", "", base, "hwJN+l5kIaZvvUaQsbYwxgGPybg=").status(),
      absl::StatusCode::kUnauthenticated, reason::kBadSignature, "sig");
  ExpectAuthFailure(registry_->CheckSignature("site1", "", base, "gwJN+l5kIaZvvUaQ").status(),
                    absl::StatusCode::kUnauthenticated, reason::kBadSignature, "sig");
  const std::string as_text = absl::Base64Escape(HmacSha1(s1.secret, base));
  ExpectAuthFailure(registry_->CheckSignature("site1", "", base, as_text).status(),
                    absl::StatusCode::kUnauthenticated, reason::kBadSignature, "sig");
  for (const std::string& malformed :
       {std::string("not base64!"), std::string("%%%%"), std::string()}) {
    ExpectAuthFailure(registry_->CheckSignature("site1", "", base, malformed).status(),
                      absl::StatusCode::kUnauthenticated, reason::kBadSignature, "sig");
  }
  ExpectAuthFailure(
      registry_->CheckSignature("nobody", "", base, "gwJN+l5kIaZvvUaQsbYwxgGPybg=").status(),
      absl::StatusCode::kUnauthenticated, reason::kUnknownTenant, "tenant");
  // A secret id naming another (or no) secret, then the secret revoked.
  ExpectAuthFailure(
      registry_->CheckSignature("site1", "s2", base, "gwJN+l5kIaZvvUaQsbYwxgGPybg=").status(),
      absl::StatusCode::kUnauthenticated, reason::kBadSignature, "sig");
  ASSERT_TRUE(registry_->RevokeSecret("site1", "s1").ok());
  ExpectAuthFailure(
      registry_->CheckSignature("site1", "", base, "gwJN+l5kIaZvvUaQsbYwxgGPybg=").status(),
      absl::StatusCode::kUnauthenticated, reason::kBadSignature, "sig");
}

TEST_F(TenantRegistryTest, CheckSignatureAcceptsEveryLiveSecret) {
  NewSecret s1 = Create("site1");
  absl::StatusOr<NewSecret> s2 = registry_->AddSecret("site1", SecretRole::kReadOnly);
  ASSERT_TRUE(s2.ok());
  auto sign = [](const std::string& secret, const std::string& base) {
    std::string key;
    EXPECT_TRUE(absl::Base64Unescape(secret, &key));
    return absl::Base64Escape(HmacSha1(key, base));
  };
  absl::StatusOr<Principal> p = registry_->CheckSignature("site1", "", "b", sign(s2->secret, "b"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->secret_id, "s2");
  EXPECT_EQ(p->role, SecretRole::kReadOnly);
  p = registry_->CheckSignature("site1", "", "b", sign(s1.secret, "b"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->secret_id, "s1");
  EXPECT_FALSE(registry_->CheckSignature("site1", "s2", "b", sign(s1.secret, "b")).ok());
}

TEST_F(TenantRegistryTest, TokenBucketFollowsTheClock) {
  Create("site1", Rate(2, 3));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(registry_->Admit("site1").ok()) << i;
  absl::Status over = registry_->Admit("site1");
  ExpectAuthFailure(over, absl::StatusCode::kResourceExhausted, reason::kRateLimited, "");
  clock_.Advance(absl::Milliseconds(499));
  EXPECT_FALSE(registry_->Admit("site1").ok());
  clock_.Advance(absl::Milliseconds(1));  // 0.5 s at 2/s: one token
  EXPECT_TRUE(registry_->Admit("site1").ok());
  EXPECT_FALSE(registry_->Admit("site1").ok());
  clock_.Advance(absl::Seconds(60));  // refills up to the burst only
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(registry_->Admit("site1").ok()) << i;
  EXPECT_FALSE(registry_->Admit("site1").ok());
  // A clock stepping back refills nothing.
  clock_.Advance(absl::Seconds(-10));
  EXPECT_FALSE(registry_->Admit("site1").ok());

  // Settings changes apply to the running bucket.
  ASSERT_TRUE(registry_->UpdateTenant("site1", Rate(0, 0)).ok());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(registry_->Admit("site1").ok()) << i;

  ExpectAuthFailure(registry_->Admit("nobody"), absl::StatusCode::kUnauthenticated,
                    reason::kUnknownTenant, "tenant");
}

TEST_F(TenantRegistryTest, BurstDefaultsToTheRateAndAtLeastOne) {
  Create("slow", Rate(0.5, 0));  // burst max(1, 0.5) = 1
  EXPECT_TRUE(registry_->Admit("slow").ok());
  EXPECT_FALSE(registry_->Admit("slow").ok());
  clock_.Advance(absl::Seconds(1));
  EXPECT_FALSE(registry_->Admit("slow").ok());
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(registry_->Admit("slow").ok());

  Create("fast", Rate(10, 0));  // burst 10
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(registry_->Admit("fast").ok()) << i;
  EXPECT_FALSE(registry_->Admit("fast").ok());
  // Buckets are per tenant.
  Create("other", Rate(1, 1));
  EXPECT_TRUE(registry_->Admit("other").ok());
}

TEST_F(TenantRegistryTest, OriginsAreNormalizedAndMatchedExactly) {
  absl::StatusOr<std::pair<TenantInfo, NewSecret>> created =
      registry_->CreateTenant("site1",
                              Origins({"HTTPS://WWW.Example.com:443", "http://localhost:8080",
                                       "http://shop.example:80", "https://[::1]:8443"}),
                              SecretRole::kReadWrite);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(created->first.settings.allowed_origins,
              ElementsAre("https://www.example.com", "http://localhost:8080", "http://shop.example",
                          "https://[::1]:8443"));
  for (const char* ok : {"https://www.example.com", "http://localhost:8080", "http://shop.example",
                         "https://[::1]:8443"}) {
    EXPECT_TRUE(registry_->CheckOrigin("site1", ok).ok()) << ok;
  }
  for (const char* refused :
       {"http://www.example.com", "https://example.com", "https://www.example.com:8443",
        "http://localhost", "https://www.example.com.evil.test", "null",
        "HTTPS://WWW.EXAMPLE.COM"}) {
    ExpectAuthFailure(registry_->CheckOrigin("site1", refused), absl::StatusCode::kPermissionDenied,
                      reason::kOrigin, "Origin");
  }
  ExpectAuthFailure(registry_->CheckOrigin("site1", ""), absl::StatusCode::kPermissionDenied,
                    reason::kOrigin, "Origin");

  Create("open");  // no list: any origin, and requests without one
  EXPECT_TRUE(registry_->CheckOrigin("open", "https://anything.example").ok());
  EXPECT_TRUE(registry_->CheckOrigin("open", "").ok());
  ExpectAuthFailure(registry_->CheckOrigin("nobody", ""), absl::StatusCode::kUnauthenticated,
                    reason::kUnknownTenant, "tenant");
}

TEST_F(TenantRegistryTest, MalformedOriginsAreRefused) {
  for (const char* bad : {"",
                          "www.example.com",
                          "ftp://example.com",
                          "https://",
                          "https://example.com/",
                          "https://example.com/path",
                          "https://example.com?q=1",
                          "https://example.com#f",
                          "https://user@example.com",
                          "https://example.com:0",
                          "https://example.com:65536",
                          "https://example.com:",
                          "https://example.com:8o",
                          "https://exa mple.com",
                          "*",
                          "null",
                          "https://*.example.com",
                          "https://.example.com",
                          "https://a..b",
                          "https://[::1",
                          "https://[zz]",
                          "https://[]"}) {
    absl::Status s =
        registry_->CreateTenant("site1", Origins({bad}), SecretRole::kReadWrite).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "': " << s;
    EXPECT_EQ(FieldOf(s), "settings.allowed_origins[0]") << bad;
  }
}

// --- Authorize and the access table ----------------------------------------------------------

TEST(AuthorizeTest, Matrix) {
  const Principal rw{"site1", "s1", SecretRole::kReadWrite};
  const Principal ro{"site1", "s2", SecretRole::kReadOnly};
  EXPECT_TRUE(Authorize(rw, "site1", Access::kRead).ok());
  EXPECT_TRUE(Authorize(rw, "site1", Access::kWrite).ok());
  EXPECT_TRUE(Authorize(ro, "site1", Access::kRead).ok());
  ExpectAuthFailure(Authorize(ro, "site1", Access::kWrite), absl::StatusCode::kPermissionDenied,
                    reason::kRole, "");
  for (const Principal& p : {rw, ro}) {
    for (Access a : {Access::kRead, Access::kWrite}) {
      ExpectAuthFailure(Authorize(p, "site2", a), absl::StatusCode::kPermissionDenied,
                        reason::kOtherTenant, "tenant");
      ExpectAuthFailure(Authorize(p, "", a), absl::StatusCode::kPermissionDenied,
                        reason::kOtherTenant, "tenant");
      ExpectAuthFailure(Authorize(p, "SITE1", a), absl::StatusCode::kPermissionDenied,
                        reason::kOtherTenant, "tenant");
    }
  }
}

// --- concurrency -------------------------------------------------------------------------------

TEST_F(TenantRegistryTest, RequestChecksRunWhileSecretsRotate) {
  NewSecret s1 = Create("site1", Rate(1e9, 1'000'000'000));
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        // s1 stays live throughout; only s2.. come and go.
        if (!registry_->CheckSecret("site1", "", s1.secret).ok()) ++failures;
        if (!registry_->Admit("site1").ok()) ++failures;
        (void)registry_->ListTenants();
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<NewSecret> s = registry_->AddSecret("site1", SecretRole::kReadWrite);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_TRUE(registry_->CheckSecret("site1", "", s->secret).ok());
    ASSERT_TRUE(registry_->RevokeSecret("site1", s->info.id).ok());
    EXPECT_FALSE(registry_->CheckSecret("site1", "", s->secret).ok());
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// --- nonces of signed requests ----------------------------------------------------------------

TEST_F(TenantRegistryTest, NoncesAreRefusedTwiceEvenAfterARestart) {
  Create("site1");
  const absl::Time expires = clock_.Now() + absl::Seconds(120);
  ASSERT_TRUE(registry_->UseNonce("site1", "n1", expires).ok());
  absl::Status again = registry_->UseNonce("site1", "n1", expires);
  EXPECT_EQ(ReasonOf(again), auth_reason::kReplay) << again;
  EXPECT_TRUE(registry_->UseNonce("site2", "n1", expires).ok()) << "tenants are separate";

  // A restart (a new registry over the same store) still knows them.
  registry_.reset();
  absl::StatusOr<std::unique_ptr<TenantRegistry>> reopened = Open(key_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  registry_ = *std::move(reopened);
  again = registry_->UseNonce("site1", "n1", expires);
  EXPECT_EQ(ReasonOf(again), auth_reason::kReplay) << again;
  EXPECT_EQ(ReasonOf(registry_->UseNonce("site2", "n1", expires)), auth_reason::kReplay);
  EXPECT_TRUE(registry_->UseNonce("site1", "n2", expires).ok());

  // Until the signature's window is over, inclusive; then they are gone, in memory and on disk.
  clock_.Advance(absl::Seconds(120));
  EXPECT_EQ(ReasonOf(registry_->UseNonce("site1", "n1", expires)), auth_reason::kReplay);
  clock_.Advance(absl::Seconds(1));
  registry_.reset();
  reopened = Open(key_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  registry_ = *std::move(reopened);
  EXPECT_TRUE(registry_->UseNonce("site1", "n1", clock_.Now() + absl::Seconds(120)).ok());
}

TEST_F(TenantRegistryTest, ANonceWhoseWriteFailedIsNotUsed) {
  Create("site1");
  const absl::Time expires = clock_.Now() + absl::Seconds(120);
  failing_->FailNextWrite();
  absl::Status failed = registry_->UseNonce("site1", "n1", expires);
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
  // Nothing was recorded: the same nonce goes through once storage works again.
  EXPECT_TRUE(registry_->UseNonce("site1", "n1", expires).ok());
  EXPECT_EQ(ReasonOf(registry_->UseNonce("site1", "n1", expires)), auth_reason::kReplay);
}

TEST_F(TenantRegistryTest, AFailingNonceScanRefusesToOpen) {
  registry_.reset();
  failing_->FailNextScan();
  absl::StatusOr<std::unique_ptr<TenantRegistry>> reopened = Open(key_);
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kUnavailable) << reopened.status();
}

// --- secrets key rotation ---------------------------------------------------------------------

TEST_F(TenantRegistryTest, RotationReSealsEverySecretWithTheNewKey) {
  const NewSecret a = Create("site-a");
  const NewSecret b = Create("site-b");
  absl::StatusOr<NewSecret> b2 = registry_->AddSecret("site-b", SecretRole::kReadOnly);
  ASSERT_TRUE(b2.ok()) << b2.status();
  ASSERT_TRUE(registry_->RevokeSecret("site-b", "s1").ok());
  const std::string before = RawMeta();
  registry_.reset();

  absl::StatusOr<std::string> new_key = RandomBytes(kSecretsKeyBytes);
  ASSERT_TRUE(new_key.ok());
  auto open = [&](const std::string& key, const std::string& previous, int* rekeyed) {
    TenantRegistry::Options options;
    options.clock = &clock_;
    options.secrets_key = key;
    options.previous_secrets_key = previous;
    options.rekeyed = rekeyed;
    return TenantRegistry::Open(failing_.get(), options);
  };
  // A failed write of the re-sealed records changes nothing, and the registry does not open.
  int rekeyed = -1;
  failing_->FailNextWrite();
  absl::StatusOr<std::unique_ptr<TenantRegistry>> r = open(*new_key, key_, &rekeyed);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_EQ(RawMeta(), before);

  r = open(*new_key, key_, &rekeyed);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(rekeyed, 2);
  EXPECT_NE(RawMeta(), before);
  EXPECT_TRUE((*r)->CheckSecret("site-a", "", a.secret).ok());
  EXPECT_TRUE((*r)->CheckSecret("site-b", "s2", b2->secret).ok());
  EXPECT_EQ(ReasonOf((*r)->CheckSecret("site-b", "s1", b.secret).status()), auth_reason::kBadSecret)
      << "revoked stays revoked";
  r->reset();

  // Done: the new key alone opens it (nothing left to re-seal, even with the old key named)...
  r = open(*new_key, "", &rekeyed);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(rekeyed, 0);
  r->reset();
  r = open(*new_key, key_, &rekeyed);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(rekeyed, 0);
  r->reset();
  // ...and the old one alone, or two unrelated keys, do not.
  r = open(key_, "", &rekeyed);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  absl::StatusOr<std::string> other = RandomBytes(kSecretsKeyBytes);
  ASSERT_TRUE(other.ok());
  r = open(*other, key_, &rekeyed);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("nor with the previous one"));
  r = open(*new_key, "short", &rekeyed);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

// --- Several processes on one shared store ---------------------------------------------------

// Registries over one in-memory store that says it is shared: countd processes on one Redis
// Cluster. The store's calls can be counted and failed (FailingStore).
class TenantRegistrySharedStoreTest : public ::testing::Test {
 protected:
  TenantRegistrySharedStoreTest()
      : clock_(absl::FromUnixSeconds(1'700'000'000)),
        store_(storage::StoreKind::kRedisCluster),
        failing_(&store_) {}

  void SetUp() override {
    absl::StatusOr<std::string> key = RandomBytes(kSecretsKeyBytes);
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = *key;
    absl::StatusOr<std::unique_ptr<TenantRegistry>> a = Open(key_);
    ASSERT_TRUE(a.ok()) << a.status();
    a_ = *std::move(a);
    absl::StatusOr<std::unique_ptr<TenantRegistry>> b = Open(key_);
    ASSERT_TRUE(b.ok()) << b.status();
    b_ = *std::move(b);
  }

  absl::StatusOr<std::unique_ptr<TenantRegistry>> Open(const std::string& key,
                                                       const std::string& previous = "") {
    TenantRegistry::Options options;
    options.clock = &clock_;
    options.secrets_key = key;
    options.previous_secrets_key = previous;
    return TenantRegistry::Open(&failing_, options);
  }

  static NewSecret Create(TenantRegistry& r, const std::string& tenant,
                          const TenantSettings& settings = {}) {
    absl::StatusOr<std::pair<TenantInfo, NewSecret>> created =
        r.CreateTenant(tenant, settings, SecretRole::kReadWrite);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->second : NewSecret{};
  }

  // How many of `calls` Admit calls, alternating between the registries, pass.
  int AdmittedAlternating(const std::string& tenant, int calls) {
    int admitted = 0;
    for (int i = 0; i < calls; ++i) {
      absl::Status s = (i % 2 == 0 ? a_ : b_)->Admit(tenant);
      if (s.ok()) {
        ++admitted;
      } else {
        EXPECT_EQ(ReasonOf(s), reason::kRateLimited) << s;
      }
    }
    return admitted;
  }

  test::FakeClock clock_;
  test::InMemoryStore store_;
  test::FailingStore failing_;
  std::string key_;
  std::unique_ptr<TenantRegistry> a_;
  std::unique_ptr<TenantRegistry> b_;
};

TEST_F(TenantRegistrySharedStoreTest,
       ATenantCreatedThroughOneProcessIsKnownToTheOtherWithinTheTtl) {
  const NewSecret s1 = Create(*a_, "site1");
  EXPECT_TRUE(a_->CheckSecret("site1", "", s1.secret).ok());  // read-your-writes
  ExpectAuthFailure(b_->CheckSecret("site1", "", s1.secret).status(),
                    absl::StatusCode::kUnauthenticated, reason::kUnknownTenant, "tenant");
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_FALSE(b_->CheckSecret("site1", "", s1.secret).ok());
  clock_.Advance(absl::Milliseconds(1));
  absl::StatusOr<Principal> p = b_->CheckSecret("site1", "", s1.secret);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->secret_id, "s1");
  EXPECT_EQ(b_->GetTenant("site1").value_or(TenantInfo{}).tenant, "site1");
}

TEST_F(TenantRegistrySharedStoreTest, RevocationsAndSettingsReachTheOtherProcessWithinTheTtl) {
  const NewSecret s1 = Create(*a_, "site1");
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(b_->CheckSecret("site1", "", s1.secret).ok());  // b checked its copy now
  ASSERT_TRUE(a_->RevokeSecret("site1", "s1").ok());
  ASSERT_TRUE(a_->UpdateTenant("site1", Origins({"https://www.example.com"})).ok());
  EXPECT_EQ(ReasonOf(a_->CheckSecret("site1", "", s1.secret).status()), reason::kBadSecret);
  EXPECT_TRUE(b_->CheckSecret("site1", "", s1.secret).ok());  // within the bound
  EXPECT_TRUE(b_->CheckOrigin("site1", "https://other.example").ok());
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(ReasonOf(b_->CheckSecret("site1", "", s1.secret).status()), reason::kBadSecret);
  ExpectAuthFailure(b_->CheckOrigin("site1", "https://other.example"),
                    absl::StatusCode::kPermissionDenied, reason::kOrigin, "Origin");
  // And a deletion.
  ASSERT_TRUE(b_->DeleteTenant("site1").ok());
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(ReasonOf(a_->Settings("site1").status()), reason::kUnknownTenant);
}

TEST_F(TenantRegistrySharedStoreTest, ChangesThroughTwoProcessesNeverLoseOneAnother) {
  Create(*a_, "site1");
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(b_->GetTenant("site1").ok());  // b's copy: no origins, one secret
  ASSERT_TRUE(a_->UpdateTenant("site1", Origins({"https://www.example.com"})).ok());
  // b's change starts from the stored record: a's settings stay.
  absl::StatusOr<NewSecret> s2 = b_->AddSecret("site1", SecretRole::kReadOnly);
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->info.id, "s2");
  absl::StatusOr<TenantInfo> info = b_->GetTenant("site1");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->settings.allowed_origins, ElementsAre("https://www.example.com"));
  EXPECT_EQ(info->secrets.size(), 2u);
  // A name registered through a is refused by b, though b's copy does not have it yet.
  Create(*a_, "site2");
  EXPECT_EQ(b_->CreateTenant("site2", {}, SecretRole::kReadWrite).status().code(),
            absl::StatusCode::kAlreadyExists);

  // Concurrent creations from both processes: all kept.
  constexpr int kPerThread = 15;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    TenantRegistry* r = t % 2 == 0 ? a_.get() : b_.get();
    threads.emplace_back([r, t, &failed] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!r->CreateTenant(absl::StrCat("t", t, "-", i), {}, SecretRole::kReadWrite).ok()) {
          ++failed;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(a_->ListTenants().value_or(std::vector<TenantInfo>{}).size(), 2u + 4 * kPerThread);
  EXPECT_EQ(b_->ListTenants().value_or(std::vector<TenantInfo>{}).size(), 2u + 4 * kPerThread);
}

TEST_F(TenantRegistrySharedStoreTest, TheRateLimitAdmitsExactlyTheBudgetAcrossProcesses) {
  Create(*a_, "site1", Rate(2, 10));
  clock_.Advance(absl::Seconds(1));  // b knows the tenant
  EXPECT_EQ(AdmittedAlternating("site1", 30), 10);
  clock_.Advance(absl::Milliseconds(500));  // 0.5 s at 2/s: one token, for either process
  EXPECT_EQ(AdmittedAlternating("site1", 5), 1);
  clock_.Advance(absl::Seconds(60));  // refills up to the burst only
  EXPECT_EQ(AdmittedAlternating("site1", 30), 10);
  // A clock that steps back refills nothing.
  clock_.Advance(absl::Seconds(-10));
  EXPECT_EQ(AdmittedAlternating("site1", 4), 0);
}

TEST_F(TenantRegistrySharedStoreTest, ConcurrentRequestsOnTwoProcessesTakeExactlyTheBurst) {
  // A rate so low that nothing refills: every admission takes one of the 37 tokens.
  Create(*a_, "site1", Rate(1e-6, 37));
  clock_.Advance(absl::Seconds(1));
  std::atomic<int> admitted{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    TenantRegistry* r = t % 2 == 0 ? a_.get() : b_.get();
    threads.emplace_back([r, &admitted, &other] {
      for (int i = 0; i < 40; ++i) {
        absl::Status s = r->Admit("site1");
        if (s.ok()) {
          ++admitted;
        } else if (ReasonOf(s) != reason::kRateLimited) {
          ++other;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 37);
  EXPECT_EQ(other.load(), 0);
}

TEST_F(TenantRegistrySharedStoreTest, ATenantWithoutALimitCostsNoStorageAccess) {
  Create(*a_, "free");
  ASSERT_TRUE(a_->Admit("free").ok());
  const int gets = failing_.forwarded(test::FailingStore::Op::kGet);
  const int writes = failing_.forwarded(test::FailingStore::Op::kWrite);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(a_->Admit("free").ok()) << i;
  EXPECT_EQ(failing_.forwarded(test::FailingStore::Op::kGet), gets);
  EXPECT_EQ(failing_.forwarded(test::FailingStore::Op::kWrite), writes);
}

TEST_F(TenantRegistrySharedStoreTest, TheSharedBucketRecordExpiresWhenTheBucketIsFullAgain) {
  Create(*a_, "site1", Rate(2, 4));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(a_->Admit("site1").ok()) << i;
  absl::StatusOr<std::string> raw =
      store_.Get(storage::keys::TenantPartition("site1"), storage::Table::kRequests,
                 storage::keys::RateLimitKey("site1"));
  ASSERT_TRUE(raw.ok()) << raw.status();
  // 4 tokens at 2/s are back after 2 s; the record lives to the end of the second after that.
  EXPECT_EQ(storage::keys::GetBigEndian64(*raw), absl::ToUnixSeconds(clock_.Now()) + 3);
  // A storage failure refuses the request with it and takes nothing.
  clock_.Advance(absl::Seconds(1));
  failing_.FailNextWrite();
  EXPECT_EQ(a_->Admit("site1").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(AdmittedAlternating("site1", 4), 2);
}

TEST_F(TenantRegistrySharedStoreTest, ATenantCreatedAgainStartsWithAFullBucket) {
  // Rates so low that nothing refills: only a new bucket can admit again.
  Create(*a_, "site1", Rate(1e-6, 2));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(AdmittedAlternating("site1", 4), 2);
  ASSERT_TRUE(a_->DeleteTenant("site1").ok());
  clock_.Advance(absl::Seconds(1));
  Create(*b_, "site1", Rate(1e-6, 3));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(AdmittedAlternating("site1", 6), 3);
}

TEST_F(TenantRegistrySharedStoreTest, KeyRotationWhileAnOldProcessStillRuns) {
  const NewSecret s1 = Create(*a_, "site1");
  const NewSecret u1 = Create(*a_, "other");
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(b_->CheckSecret("site1", "", s1.secret).ok());  // b knows the secrets
  absl::StatusOr<std::string> new_key = RandomBytes(kSecretsKeyBytes);
  ASSERT_TRUE(new_key.ok());
  // A new process re-seals every record with the new key.
  absl::StatusOr<std::unique_ptr<TenantRegistry>> c = Open(*new_key, key_);
  ASSERT_TRUE(c.ok()) << c.status();
  clock_.Advance(absl::Seconds(1));
  // b (old key only) keeps the secrets it knew: ids never change their bytes.
  EXPECT_TRUE(b_->CheckSecret("site1", "", s1.secret).ok());
  // A secret added by the new process does not open in b: that tenant only fails, loudly.
  absl::StatusOr<NewSecret> s2 = (*c)->AddSecret("site1", SecretRole::kReadWrite);
  ASSERT_TRUE(s2.ok()) << s2.status();
  clock_.Advance(absl::Seconds(1));
  absl::Status broken = b_->CheckSecret("site1", "", s1.secret).status();
  EXPECT_EQ(broken.code(), absl::StatusCode::kDataLoss) << broken;
  EXPECT_THAT(std::string(broken.message()), HasSubstr("does not decrypt"));
  EXPECT_TRUE(b_->CheckSecret("other", "", u1.secret).ok());
  EXPECT_TRUE((*c)->CheckSecret("site1", "s2", s2->secret).ok());
  // A process started with the old key alone refuses to start.
  EXPECT_EQ(Open(key_).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace countd::logic
