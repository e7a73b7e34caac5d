// End-to-end tests of Tally's two ops over HTTP: an ecount counter and a topk counter of the same
// name are separate counters (counts, windows, metadata), across a restart of the real countd
// binary, and data written before they were separate reaches both at the first start.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/e2e/shim_e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;

constexpr char kSaved[] = R"({"status":"saved"})";
constexpr char kTenant[] = "shop";

// One countd per test on its own data directory, restartable on it.
class HttpTallyOpsE2eTest : public ::testing::Test {
 protected:
  void Start() {
    http_.reset();
    server_.reset();
    test::ServerProcessOptions options;
    options.data_dir = dir_.Sub("data");
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
        test::ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    http_ = std::make_unique<HttpClient>(server_->http_address());
  }

  // SIGKILL: what was acknowledged must be there after the restart all the same.
  void Restart() {
    server_->Kill();
    Start();
  }

  void Post(const std::string& op, const std::string& product, int window,
            const std::string& body = "") {
    HttpResult r = http_->PostJson(
        absl::StrCat("/tally/", kTenant, "/", op, "/views/", product, "/", window), body);
    ASSERT_EQ(r.status, 200) << r;
    ASSERT_THAT(r.body, JsonEq(kSaved)) << op << " " << product;
  }

  std::string Count(const std::string& product) {
    return http_->Get(absl::StrCat("/tally/", kTenant, "/ecount/views/", product)).body;
  }

  std::string Top(const std::string& query = "?k=10") {
    return http_->Get(absl::StrCat("/tally/", kTenant, "/topk/views/", query)).body;
  }

  static std::string Item(const std::string& product, int count) {
    return absl::StrCat(R"([")", kTenant, "::views::topk::", product, R"(",")", count, R"(.0"])");
  }

  test::ScopedTempDir dir_;
  std::unique_ptr<test::ServerProcess> server_;
  std::unique_ptr<HttpClient> http_;
};

// A Qubit site counts product views per product with ecount over a short window, and ranks the
// most viewed products of the day with topk under the same counter name.
TEST_F(HttpTallyOpsE2eTest, EcountAndTopkOfOneNameKeepTheirOwnCountsAndWindows) {
  ASSERT_NO_FATAL_FAILURE(Start());
  // The ecount window is 1 minute (so the test can watch it pass); topk counts over a day.
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(Post("ecount", "p1", 1));
  ASSERT_NO_FATAL_FAILURE(Post("ecount", "p2", 1));
  for (int i = 0; i < 5; ++i) ASSERT_NO_FATAL_FAILURE(Post("topk", "p1", 1440));
  ASSERT_NO_FATAL_FAILURE(Post("topk", "p3", 1440, R"({"metadata":"Product 3"})"));
  ASSERT_NO_FATAL_FAILURE(Post("topk", "p3", 1440));

  // Neither op sees the other's increments.
  EXPECT_THAT(Count("p1"), JsonEq(R"({"data":"3"})"));
  EXPECT_THAT(Count("p2"), JsonEq(R"({"data":"1"})"));
  EXPECT_THAT(Count("p3"), JsonEq(R"({"status":404})"));
  const std::string day_top = absl::StrCat(R"({"data":[)", Item("p1", 5), ",", Item("p3", 2), "]}");
  EXPECT_THAT(Top(), JsonEq(day_top));

  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_THAT(Count("p1"), JsonEq(R"({"data":"3"})"));
  EXPECT_THAT(Top(), JsonEq(day_top));
  EXPECT_THAT(
      Top("?k=1&metadata=true"),
      JsonEq(absl::StrCat(R"({"data":[[")", kTenant, R"(::views::topk::p1","5.0",null]]})")));
  // Writes after the restart add to the right counter each.
  ASSERT_NO_FATAL_FAILURE(Post("ecount", "p1", 1));
  ASSERT_NO_FATAL_FAILURE(Post("topk", "p3", 1440));
  EXPECT_THAT(Count("p1"), JsonEq(R"({"data":"4"})"));
  const std::string later_top =
      absl::StrCat(R"({"data":[)", Item("p1", 5), ",", Item("p3", 3), "]}");
  EXPECT_THAT(Top(), JsonEq(later_top));

  // The last write was a topk one with a day's window; had it set the window of the ecount
  // counter too, p1 would keep its count. Its own 1-minute window lets it fall to 0 (sub-buckets
  // of 1 s: within 62 s of the last ecount write), while the day's ranking stays.
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  std::string count = Count("p1");
  while (count != R"({"data":"0"})" && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(500));
    count = Count("p1");
  }
  EXPECT_EQ(count, R"({"data":"0"})");
  EXPECT_THAT(Top(), JsonEq(later_top));
}

// A data directory written by a countd from before the split: one set of counts per counter
// name, read by both ops. The first start moves it into both, and each reads what it read before.
TEST_F(HttpTallyOpsE2eTest, SharedCountersOfAnOlderCountdReachBothOpsAtStart) {
  {
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenRocksDbStore(dir_.Sub("data"), storage::StoreOptions{});
    ASSERT_TRUE(store.ok()) << store.status();
    namespace keys = storage::keys;
    storage::WriteBatch legacy(keys::TallyPartition(kTenant, "views"));
    storage::CounterCell cell;
    cell.count = 7;
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    const int64_t end = (now / 60 + 1) * 60;  // 60-minute window: 60 s sub-buckets
    legacy.AddCounter(
        storage::Table::kTally,
        keys::TallyBucketKey(keys::Join({"b", kTenant, "views", "p1"}), end, end + 2 * 3600), cell);
    legacy.Put(storage::Table::kTallyMeta, keys::Join({"md", kTenant, "views", "p1"}), "Old");
    legacy.Put(storage::Table::kTallyMeta, keys::Join({"cfg", kTenant, "views"}), "60");
    ASSERT_TRUE((*store)->Write(legacy).ok());
  }
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_THAT(server_->stdout_text() + server_->stderr_text(),
              HasSubstr("tally: 3 records of counters shared by ecount and topk copied"));
  EXPECT_THAT(Count("p1"), JsonEq(R"({"data":"7"})"));
  EXPECT_THAT(Top("?metadata=true"), JsonEq(absl::StrCat(R"({"data":[[")", kTenant,
                                                         R"(::views::topk::p1","7.0","Old"]]})")));
  // From here on they are separate.
  ASSERT_NO_FATAL_FAILURE(Post("ecount", "p1", 60));
  EXPECT_THAT(Count("p1"), JsonEq(R"({"data":"8"})"));
  EXPECT_THAT(Top(), JsonEq(absl::StrCat(R"({"data":[)", Item("p1", 7), "]}")));
  // A second start finds nothing left to move.
  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_THAT(server_->stdout_text() + server_->stderr_text(),
              ::testing::Not(HasSubstr("records of counters shared")));
  EXPECT_THAT(Count("p1"), JsonEq(R"({"data":"8"})"));
}

}  // namespace
}  // namespace countd::e2e
