// Tests of logic::Admin (online backups) on a real RocksDB store in a temporary directory.
#include "server/logic/admin.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace countd::logic {
namespace {

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StoreOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenRocksDbStore(dir_.Sub("db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    storage::WriteBatch batch(storage::Partition("p"));
    batch.Put(storage::Table::kMeta, "k", "v");
    ASSERT_TRUE(store_->Write(batch).ok());
    admin_ = std::make_unique<Admin>(store_.get());
  }

  // Expects INVALID_ARGUMENT naming "dir" and nothing created at `dir`.
  void ExpectBadDir(const std::string& dir, const std::string& message_part) {
    absl::StatusOr<BackupResult> r = admin_->Backup(dir);
    ASSERT_FALSE(r.ok()) << dir;
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
    EXPECT_EQ(FieldOf(r.status()), "dir") << r.status();
    EXPECT_NE(r.status().message().find(message_part), absl::string_view::npos) << r.status();
  }

  test::FakeClock clock_{absl::FromUnixSeconds(1718452800)};
  test::ScopedTempDir dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Admin> admin_;
};

TEST_F(AdminTest, BackupWritesAnOpenableDataDirectoryInNormalForm) {
  std::string requested = dir_.path() + "/./backups/../b1/";
  absl::StatusOr<BackupResult> r = admin_->Backup(requested);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dir, dir_.path() + "/b1");
  EXPECT_GT(r->size_bytes, 0);
  EXPECT_GE(r->elapsed, absl::ZeroDuration());
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/b1.tmp"));

  storage::StoreOptions options;
  options.clock = &clock_;
  absl::StatusOr<std::unique_ptr<storage::Store>> copy = storage::OpenRocksDbStore(r->dir, options);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ((*copy)->Get(storage::Partition("p"), storage::Table::kMeta, "k").value_or("missing"), "v");
}

TEST_F(AdminTest, BadDirectoriesAreRefusedNamingDir) {
  absl::StatusOr<BackupResult> missing = admin_->Backup("");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(FieldOf(missing.status()), "dir");
  EXPECT_EQ(ReasonOf(missing.status()), "missing");

  ExpectBadDir("relative/backup", "not an absolute path");
  ExpectBadDir(std::string("/tmp/with\0nul", 13), "NUL");
  ExpectBadDir(dir_.path(), "already exists");  // the temp dir itself exists
  ExpectBadDir(dir_.path() + "/no/such/parent/b", "does not exist");

  // A regular file where the parent should be.
  std::string file = dir_.path() + "/plain-file";
  std::ofstream(file) << "x";
  ExpectBadDir(file + "/b", "does not exist");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/no"));
}

TEST_F(AdminTest, SecondBackupToTheSameDirectoryIsRefused) {
  std::string target = dir_.path() + "/b2";
  ASSERT_TRUE(admin_->Backup(target).ok());
  ExpectBadDir(target, "already exists");
}

}  // namespace
}  // namespace countd::logic
