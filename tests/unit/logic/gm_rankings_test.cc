// Tests of the GameMechanics 7-day leaderboards (server/logic/gm_rankings.h) over a real RocksDB
// store with a fake clock: the build from kGmDaily, the writer protocol and the memory bounds.
#include "server/logic/gm_rankings.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace countd::logic {
namespace {

using storage::Table;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
namespace keys = storage::keys;

class GmWeekRankingsTest : public ::testing::Test {
 protected:
  GmWeekRankingsTest()
      : clock_(absl::FromCivil(absl::CivilSecond(2024, 6, 15, 12, 0, 0), absl::UTCTimeZone())) {}

  void SetUp() override {
    storage::StoreOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenRocksDbStore(dir_.Sub("db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    Open(GmWeekRankingsOptions{});
  }

  void Open(GmWeekRankingsOptions options) {
    rankings_ = std::make_unique<GmWeekRankings>(store_.get(), &clock_, options);
  }

  int32_t Today() { return keys::DayIndex(clock_.Now()); }

  // Stores a grant the way GameMechanics does, announced to the rankings.
  void Grant(const std::string& challenge, const std::string& uid, int64_t points,
             int32_t days_ago = 0) {
    GmWeekRankings::Writer writer = rankings_->BeginWrite("site", {challenge});
    int32_t day = Today() - days_ago;
    storage::WriteBatch batch(keys::TenantPartition("site"));
    storage::CounterCell cell;
    cell.count = points;
    batch.AddCounter(Table::kGmDaily, keys::GmDailyKey("site", challenge, uid, day), cell);
    ASSERT_TRUE(store_->Write(batch).ok());
    writer.Commit(uid, {{challenge, day, points}}, clock_.Now());
  }

  std::vector<std::pair<std::string, int64_t>> Top(const std::string& challenge, size_t k = 10) {
    absl::StatusOr<GmWeekRankings::Board> board = rankings_->Top("site", challenge, k, "");
    EXPECT_TRUE(board.ok()) << board.status();
    std::vector<std::pair<std::string, int64_t>> out;
    if (!board.ok()) return out;
    for (const WindowRanking::Entry& e : board->top) out.emplace_back(e.item, e.total);
    return out;
  }

  std::pair<size_t, int64_t> Self(const std::string& challenge, const std::string& uid) {
    absl::StatusOr<GmWeekRankings::Board> board = rankings_->Top("site", challenge, 1, uid);
    EXPECT_TRUE(board.ok()) << board.status();
    return board.ok() ? std::make_pair(board->self_rank, board->self_total)
                      : std::make_pair(size_t{999}, int64_t{-1});
  }

  test::ScopedTempDir dir_;
  test::FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<GmWeekRankings> rankings_;
};

TEST_F(GmWeekRankingsTest, FirstReadBuildsFromTheLastSevenDays) {
  Grant("c", "a", 5, 6);
  Grant("c", "a", 1, 7);  // outside the window
  Grant("c", "b", 3);
  Grant("c", "b", 3, 1);
  Grant("other", "z", 100);
  Open(GmWeekRankingsOptions{});  // cold: nothing in memory
  EXPECT_THAT(Top("c"), ElementsAre(Pair("b", 6), Pair("a", 5)));
  EXPECT_EQ(rankings_->HeldUsersForTest(), 2u);
  EXPECT_EQ(Self("c", "a"), std::make_pair(size_t{2}, int64_t{5}));
  EXPECT_EQ(Self("c", "nobody"), std::make_pair(size_t{0}, int64_t{0}));
}

TEST_F(GmWeekRankingsTest, CommittedWritesUpdateAWarmRankingOnce) {
  Grant("c", "a", 2);
  EXPECT_THAT(Top("c"), ElementsAre(Pair("a", 2)));
  Grant("c", "b", 3);
  Grant("c", "a", -1);
  EXPECT_THAT(Top("c"), ElementsAre(Pair("b", 3), Pair("a", 1)));
  // A rebuild from disk agrees with the updated ranking.
  Open(GmWeekRankingsOptions{});
  EXPECT_THAT(Top("c"), ElementsAre(Pair("b", 3), Pair("a", 1)));
}

TEST_F(GmWeekRankingsTest, UncommittedWriteIsNotCounted) {
  EXPECT_THAT(Top("c"), IsEmpty());
  { GmWeekRankings::Writer writer = rankings_->BeginWrite("site", {"c"}); }  // write failed
  EXPECT_THAT(Top("c"), IsEmpty());
}

TEST_F(GmWeekRankingsTest, BuildWaitsForWritesInFlightAndCountsThemOnce) {
  // A write is stored but not yet committed to the (absent) ranking when a read starts a build.
  std::optional<GmWeekRankings::Writer> writer(rankings_->BeginWrite("site", {"c"}));
  storage::WriteBatch batch(keys::TenantPartition("site"));
  storage::CounterCell cell;
  cell.count = 1;
  batch.AddCounter(Table::kGmDaily, keys::GmDailyKey("site", "c", "a", Today()), cell);
  ASSERT_TRUE(store_->Write(batch).ok());

  std::atomic<bool> done{false};
  std::vector<std::pair<std::string, int64_t>> seen;
  std::thread reader([&] {
    seen = Top("c");
    done = true;
  });
  // The build cannot finish before the write ends; it reports that it waits.
  while (rankings_->BuildsWaitingForTest() == 0 && !done.load()) std::this_thread::yield();
  EXPECT_FALSE(done.load());
  writer->Commit("a", {{"c", Today(), 1}}, clock_.Now());
  writer.reset();
  reader.join();
  EXPECT_THAT(seen, ElementsAre(Pair("a", 1)));
  EXPECT_THAT(Top("c"), ElementsAre(Pair("a", 1)));
}

TEST_F(GmWeekRankingsTest, DaysLeaveTheWindowAsTheClockMoves) {
  Grant("c", "a", 4);
  clock_.Advance(absl::Hours(24));
  Grant("c", "b", 1);
  EXPECT_THAT(Top("c"), ElementsAre(Pair("a", 4), Pair("b", 1)));
  clock_.Advance(absl::Hours(24 * 6));  // a's day is 7 days back now
  EXPECT_THAT(Top("c"), ElementsAre(Pair("b", 1)));
  EXPECT_EQ(rankings_->HeldUsersForTest(), 1u);
  clock_.Advance(absl::Hours(24));
  EXPECT_THAT(Top("c"), IsEmpty());
  EXPECT_EQ(rankings_->HeldUsersForTest(), 0u);
}

TEST_F(GmWeekRankingsTest, HeldUsersStayWithinTheBudget) {
  GmWeekRankingsOptions options;
  options.max_users = 3;
  Open(options);
  Grant("x", "a", 1);
  Grant("x", "b", 2);
  Grant("y", "c", 3);
  Grant("y", "d", 4);
  EXPECT_THAT(Top("x"), ElementsAre(Pair("b", 2), Pair("a", 1)));
  EXPECT_EQ(rankings_->HeldUsersForTest(), 2u);
  EXPECT_THAT(Top("y"), ElementsAre(Pair("d", 4), Pair("c", 3)));  // x is dropped for y
  EXPECT_EQ(rankings_->HeldUsersForTest(), 2u);
  Grant("x", "a", 5);  // x is cold: only on disk
  EXPECT_THAT(Top("x"), ElementsAre(Pair("a", 6), Pair("b", 2)));
  EXPECT_LE(rankings_->HeldUsersForTest(), 3u);
}

TEST_F(GmWeekRankingsTest, ChallengeLargerThanTheBudgetIsRankedFromDisk) {
  GmWeekRankingsOptions options;
  options.max_users = 2;
  Open(options);
  Grant("c", "a", 1);
  Grant("c", "b", 3);
  Grant("c", "c", 3);
  Grant("c", "d", 2, 7);  // outside the window
  EXPECT_THAT(Top("c"), ElementsAre(Pair("b", 3), Pair("c", 3), Pair("a", 1)));
  EXPECT_THAT(Top("c", 2), ElementsAre(Pair("b", 3), Pair("c", 3)));
  EXPECT_EQ(Self("c", "a"), std::make_pair(size_t{3}, int64_t{1}));
  EXPECT_EQ(Self("c", "d"), std::make_pair(size_t{0}, int64_t{0}));
  EXPECT_EQ(rankings_->HeldUsersForTest(), 0u);
  Grant("c", "a", 10);
  EXPECT_THAT(Top("c", 1), ElementsAre(Pair("a", 11)));
}

TEST_F(GmWeekRankingsTest, TrackedEntriesStayWithinTheLimit) {
  GmWeekRankingsOptions options;
  options.max_rankings = 4;
  Open(options);
  for (int i = 0; i < 20; ++i) {
    std::string challenge = absl::StrCat("c", i);
    Grant(challenge, "u", i + 1);
    EXPECT_THAT(Top(challenge), ElementsAre(Pair("u", i + 1)));
    EXPECT_LE(rankings_->EntriesForTest(), 4u);
  }
  // Forgotten challenges come back from disk.
  EXPECT_THAT(Top("c0"), ElementsAre(Pair("u", 1)));
  EXPECT_LE(rankings_->HeldUsersForTest(), 4u);
}

}  // namespace
}  // namespace countd::logic
