// End-to-end test of online backups: Admin.Backup (and `countctl backup --to DIR`) while
// writers keep the server busy, then the backup restored into a new data directory and served by
// a second countd, whose answers are compared with what the first one acknowledged.

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "countd/v1/admin.grpc.pb.h"
#include "countd/v1/counters.grpc.pb.h"
#include "countd/v1/tally.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/countctl_runner.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;
using CountersStub = v1::Counters::Stub;
using TallyStub = v1::Tally::Stub;
using AdminStub = v1::Admin::Stub;

constexpr char kTenant[] = "backup-site";
constexpr int kStaticVisitors = 40;
constexpr int kLoadThreads = 2;

std::unique_ptr<test::ServerProcess> StartOn(const std::string& data_dir) {
  test::ServerProcessOptions options;
  options.data_dir = data_dir;
  absl::StatusOr<std::unique_ptr<test::ServerProcess>> server = test::ServerProcess::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

grpc::Status StashIncr(CountersStub* stub, const std::string& visitor, int64_t delta) {
  v1::IncrRequest req;
  req.set_tenant(kTenant);
  req.set_visitor_id(visitor);
  req.set_counter_name("visits");
  req.set_delta(delta);
  v1::IncrResponse resp;
  return Rpc(stub, &CountersStub::Incr, req, &resp);
}

// The visitor's count today; -1 when it has no bucket (NOT_FOUND), -2 on any other error.
int64_t StashGet(CountersStub* stub, const std::string& visitor, const std::string& day) {
  v1::GetRequest req;
  req.set_tenant(kTenant);
  req.set_visitor_id(visitor);
  req.set_counter_name("visits");
  req.set_date(day);
  v1::GetResponse resp;
  grpc::Status s = Rpc(stub, &CountersStub::Get, req, &resp);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return -1;
  return s.ok() ? resp.count() : -2;
}

grpc::Status Backup(AdminStub* stub, const std::string& dir, v1::BackupResponse* resp) {
  v1::BackupRequest req;
  req.set_dir(dir);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return stub->Backup(&ctx, req, resp);
}

class BackupE2eTest : public ::testing::Test {
 protected:
  test::ScopedTempDir dir_;
};

TEST_F(BackupE2eTest, BackupUnderLoadRestoresIntoANewDataDir) {
  std::unique_ptr<test::ServerProcess> live = StartOn(dir_.Sub("live"));
  ASSERT_NE(live, nullptr);
  std::shared_ptr<grpc::Channel> channel = NewChannel(live->grpc_address());
  auto counters = v1::Counters::NewStub(channel);
  auto tally = v1::Tally::NewStub(channel);
  auto admin = v1::Admin::NewStub(channel);
  std::string day = NamesOf(TodayUtc()).iso;

  // Data written before the backup: must be in it exactly.
  for (int i = 0; i < kStaticVisitors; ++i) {
    ASSERT_THAT(StashIncr(counters.get(), absl::StrCat("static-", i), i + 1), IsOk());
  }
  for (int i = 0; i < 5; ++i) {
    v1::TallyIncrementRequest req;
    req.set_tenant(kTenant);
    req.set_op(v1::OP_TOPK);
    req.set_counter("pages");
    req.set_countable(absl::StrCat("page-", i));
    req.set_window_minutes(60);
    req.set_delta(10 * (i + 1));
    req.set_metadata(absl::StrCat("title ", i));
    v1::TallyIncrementResponse resp;
    ASSERT_THAT(Rpc(tally.get(), &TallyStub::Increment, req, &resp), IsOk());
  }

  const std::string countctl = COUNTCTL_BINARY;

  // Writers keep going during the backups; each counts the increments acknowledged to it.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> acked[kLoadThreads] = {};
  std::atomic<int64_t> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kLoadThreads; ++t) {
    writers.emplace_back([&, t] {
      auto stub = v1::Counters::NewStub(channel);
      while (!stop.load()) {
        if (StashIncr(stub.get(), absl::StrCat("load-", t), 1).ok()) {
          acked[t].fetch_add(1);
        } else {
          failures.fetch_add(1);
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(300));  // the load is under way

  int64_t before[kLoadThreads];
  for (int t = 0; t < kLoadThreads; ++t) before[t] = acked[t].load();
  std::string backup_dir = dir_.Sub("b1");
  v1::BackupResponse resp;
  grpc::Status backup = Backup(admin.get(), backup_dir, &resp);
  int64_t after[kLoadThreads];
  for (int t = 0; t < kLoadThreads; ++t) after[t] = acked[t].load() + 1;  // + one in flight

  // The command-line path, also under load.
  std::string cli_dir = dir_.Sub("b2");
  CommandResult cli =
      RunClient(countctl, {"--addr=" + live->grpc_address(), "backup", "--to", cli_dir});
  stop.store(true);
  for (std::thread& w : writers) w.join();

  ASSERT_THAT(backup, IsOk());
  EXPECT_EQ(resp.dir(), backup_dir);
  EXPECT_GT(resp.size_bytes(), 0);
  EXPECT_EQ(failures.load(), 0) << "writes failed while the backup ran";
  EXPECT_GT(acked[0].load() + acked[1].load(), 0);
  EXPECT_EQ(cli.exit_code, 0) << cli.out;
  EXPECT_THAT(cli.out, HasSubstr(cli_dir));
  EXPECT_TRUE(std::filesystem::is_directory(cli_dir));

  // The live server still serves the full data.
  for (int t = 0; t < kLoadThreads; ++t) {
    EXPECT_EQ(StashGet(counters.get(), absl::StrCat("load-", t), day), acked[t].load());
  }
  live.reset();

  // Restore: copy the backup to a new data directory (as docs/operations.md says) and serve it.
  std::string restored = dir_.Sub("restored");
  std::filesystem::copy(backup_dir, restored, std::filesystem::copy_options::recursive);
  std::unique_ptr<test::ServerProcess> copy = StartOn(restored);
  ASSERT_NE(copy, nullptr);
  std::shared_ptr<grpc::Channel> copy_channel = NewChannel(copy->grpc_address());
  auto copy_counters = v1::Counters::NewStub(copy_channel);
  auto copy_tally = v1::Tally::NewStub(copy_channel);
  if (NamesOf(TodayUtc()).iso != day) GTEST_SKIP() << "crossed UTC midnight during the test";

  for (int i = 0; i < kStaticVisitors; ++i) {
    EXPECT_EQ(StashGet(copy_counters.get(), absl::StrCat("static-", i), day), i + 1) << i;
  }
  for (int t = 0; t < kLoadThreads; ++t) {
    // Every increment acknowledged before the backup started is in it; none after it ended.
    int64_t got = StashGet(copy_counters.get(), absl::StrCat("load-", t), day);
    EXPECT_GE(got, before[t]) << "writer " << t;
    EXPECT_LE(got, after[t]) << "writer " << t;
  }
  v1::GetTopKRequest topk;
  topk.set_tenant(kTenant);
  topk.set_counter("pages");
  topk.set_k(10);
  topk.set_with_metadata(true);
  v1::GetTopKResponse top;
  ASSERT_THAT(Rpc(copy_tally.get(), &TallyStub::GetTopK, topk, &top), IsOk());
  ASSERT_EQ(top.items_size(), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(top.items(i).countable(), absl::StrCat("page-", 4 - i));
    EXPECT_EQ(top.items(i).count(), 10 * (5 - i));
    EXPECT_EQ(top.items(i).metadata(), absl::StrCat("title ", 4 - i));
  }

  // The backup taken by countctl is a complete data directory too.
  copy.reset();
  std::unique_ptr<test::ServerProcess> cli_copy = StartOn(cli_dir);
  ASSERT_NE(cli_copy, nullptr);
  auto cli_counters = v1::Counters::NewStub(NewChannel(cli_copy->grpc_address()));
  EXPECT_EQ(StashGet(cli_counters.get(), "static-7", day), 8);
}

TEST_F(BackupE2eTest, BadTargetsAreInvalidArgumentNamingDir) {
  std::unique_ptr<test::ServerProcess> live = StartOn(dir_.Sub("live"));
  ASSERT_NE(live, nullptr);
  auto admin = v1::Admin::NewStub(NewChannel(live->grpc_address()));
  v1::BackupResponse resp;
  EXPECT_THAT(Backup(admin.get(), "relative/dir", &resp),
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "dir"));
  EXPECT_THAT(Backup(admin.get(), dir_.path(), &resp),  // exists
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "already exists"));
  EXPECT_THAT(Backup(admin.get(), dir_.Sub("missing/parent/b"), &resp),
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "does not exist"));
  EXPECT_THAT(Backup(admin.get(), "", &resp), IsError(grpc::StatusCode::INVALID_ARGUMENT, "dir"));
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("missing")));

  CommandResult cli =
      RunClient(COUNTCTL_BINARY, {"--addr=" + live->grpc_address(), "backup", "--to", "relative"});
  EXPECT_EQ(cli.exit_code, 1) << cli.out;
  EXPECT_THAT(cli.out, HasSubstr("INVALID_ARGUMENT"));
}

}  // namespace
}  // namespace countd::e2e
