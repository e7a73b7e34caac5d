// Tests of the Tally logic (server/logic/tally.h) over a real RocksDB store with a fake clock.
#include "server/logic/tally.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace countd::logic {
namespace {

// 2024-06-15 12:00:00 UTC: a multiple of every sub-bucket width used below.
constexpr int64_t kStart = 1718452800;

class TallyTest : public ::testing::Test {
 protected:
  TallyTest() : clock_(absl::FromUnixSeconds(kStart)) {}

  void SetUp() override { Open(TallyOptions{}); }

  void Open(TallyOptions options) {
    tally_.reset();
    store_.reset();
    storage::StoreOptions store_options;
    store_options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenRocksDbStore(dir_.Sub("db"), store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    tally_ = std::make_unique<Tally>(store_.get(), &clock_, options);
  }

  absl::Status Incr(const std::string& counter, const std::string& countable, int window,
                    TallyOp op = TallyOp::kTopK, int64_t delta = 1,
                    absl::optional<std::string> metadata = absl::nullopt) {
    TallyIncrementArgs args;
    args.tenant = "site";
    args.op = op;
    args.counter = counter;
    args.countable = countable;
    args.window_minutes = window;
    args.delta = delta;
    args.metadata = std::move(metadata);
    return tally_->Increment(args);
  }

  // Count in the TOPK counter (the op Incr writes by default) unless `op` says otherwise.
  int64_t Count(const std::string& counter, const std::string& countable,
                TallyOp op = TallyOp::kTopK) {
    absl::StatusOr<int64_t> c = tally_->GetCount("site", op, counter, countable);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : -1;
  }

  std::vector<std::pair<std::string, int64_t>> Top(const std::string& counter, int k = 25) {
    absl::StatusOr<std::vector<TallyItem>> items = tally_->GetTopK("site", counter, k, false);
    EXPECT_TRUE(items.ok()) << items.status();
    std::vector<std::pair<std::string, int64_t>> out;
    if (items.ok()) {
      for (const TallyItem& i : *items) out.emplace_back(i.countable, i.count);
    }
    return out;
  }

  void Advance(int64_t seconds) { clock_.Advance(absl::Seconds(seconds)); }

  test::ScopedTempDir dir_;
  test::FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Tally> tally_;
};

using ::testing::ElementsAre;
using ::testing::Pair;

TEST_F(TallyTest, CountIsVisibleAtOnceAndLeavesWithTheWindow) {
  ASSERT_TRUE(Incr("views", "a", 1).ok());  // 1-minute window, 1-second sub-buckets
  EXPECT_EQ(Count("views", "a"), 1);
  Advance(60);  // the bucket [kStart, kStart+1) still overlaps (now-60s, now]
  EXPECT_EQ(Count("views", "a"), 1);
  Advance(1);
  EXPECT_EQ(Count("views", "a"), 0);
  Advance(120);  // two windows after the bucket's end: dropped from storage too
  EXPECT_TRUE(absl::IsNotFound(tally_->GetCount("site", TallyOp::kTopK, "views", "a").status()));
}

TEST_F(TallyTest, IncrementAtSubBucketBoundaryStartsTheNewBucket) {
  // 60-minute window: 60-second sub-buckets. kStart is a bucket boundary.
  Advance(-1);
  ASSERT_TRUE(Incr("c", "x", 60).ok());  // bucket ending at kStart
  Advance(1);
  ASSERT_TRUE(Incr("c", "x", 60).ok());  // bucket [kStart, kStart+60)
  EXPECT_EQ(Count("c", "x"), 2);
  Advance(3600);  // now = kStart+3600: the bucket ending at kStart is out, the next is in
  EXPECT_EQ(Count("c", "x"), 1);
  Advance(60);
  EXPECT_EQ(Count("c", "x"), 0);
}

TEST_F(TallyTest, ThirtyDayWindowUsesTwelveHourBuckets) {
  ASSERT_TRUE(Incr("c", "x", kMaxWindowMinutes).ok());
  Advance(30 * 86400);  // bucket [kStart, kStart+12h) still overlaps the window
  EXPECT_EQ(Count("c", "x"), 1);
  EXPECT_THAT(Top("c"), ElementsAre(Pair("x", 1)));
  Advance(12 * 3600);
  EXPECT_EQ(Count("c", "x"), 0);
  EXPECT_THAT(Top("c"), ElementsAre());
}

TEST_F(TallyTest, WindowChangeKeepsStoredCountsAndFollowsTheLatestIncrement) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Incr("c", "x", 60).ok());
  EXPECT_THAT(Top("c"), ElementsAre(Pair("x", 3)));
  // Shrink to 1 minute: the old 60-second bucket overlaps the new window and counts whole.
  ASSERT_TRUE(Incr("c", "x", 1).ok());
  EXPECT_EQ(Count("c", "x"), 4);
  EXPECT_THAT(Top("c"), ElementsAre(Pair("x", 4)));
  Advance(61);  // the old bucket [kStart, kStart+60) still overlaps the 1-minute window
  EXPECT_EQ(Count("c", "x"), 3);
  Advance(60);
  EXPECT_EQ(Count("c", "x"), 0);
  EXPECT_THAT(Top("c"), ElementsAre());
  // Widen again: the 60-minute buckets are still stored (two windows) and count again; the
  // 1-second bucket is gone (stored for two 1-minute windows only).
  ASSERT_TRUE(Incr("c", "y", 60).ok());
  EXPECT_EQ(Count("c", "x"), 3);
  EXPECT_THAT(Top("c"), ElementsAre(Pair("x", 3), Pair("y", 1)));
}

TEST_F(TallyTest, TopKOrdersByCountThenCountable) {
  for (const auto& [item, n] :
       std::vector<std::pair<std::string, int>>{{"b", 3}, {"a", 3}, {"c", 5}, {"d", 1}}) {
    ASSERT_TRUE(Incr("c", item, 10, TallyOp::kTopK, n).ok());
  }
  EXPECT_THAT(Top("c"), ElementsAre(Pair("c", 5), Pair("a", 3), Pair("b", 3), Pair("d", 1)));
  EXPECT_THAT(Top("c", 2), ElementsAre(Pair("c", 5), Pair("a", 3)));
}

TEST_F(TallyTest, ItemsWhoseWindowCountIsZeroVanish) {
  ASSERT_TRUE(Incr("c", "old", 1, TallyOp::kTopK, 5).ok());
  Advance(30);
  ASSERT_TRUE(Incr("c", "new", 1).ok());
  EXPECT_THAT(Top("c"), ElementsAre(Pair("old", 5), Pair("new", 1)));
  Advance(31);
  EXPECT_THAT(Top("c"), ElementsAre(Pair("new", 1)));
}

TEST_F(TallyTest, ECountAndTopKOfOneNameAreSeparateCounters) {
  // A site counts views per product with ecount over an hour, and ranks the day's views with
  // topk under the same counter name.
  ASSERT_TRUE(Incr("views", "p1", 60, TallyOp::kECount, 2, std::string("ecount-md")).ok());
  ASSERT_TRUE(Incr("views", "p2", 60, TallyOp::kECount, 1).ok());
  ASSERT_TRUE(Incr("views", "p1", 1440, TallyOp::kTopK, 5, std::string("topk-md")).ok());
  ASSERT_TRUE(Incr("views", "p3", 1440, TallyOp::kTopK, 1).ok());
  EXPECT_EQ(tally_->RankedItemsForTest(), 2u);  // only the TOPK counter is ranked

  EXPECT_EQ(Count("views", "p1", TallyOp::kECount), 2);
  EXPECT_EQ(Count("views", "p1", TallyOp::kUnspecified), 2);  // the default reads ECOUNT
  EXPECT_EQ(Count("views", "p1", TallyOp::kTopK), 5);
  EXPECT_TRUE(absl::IsNotFound(tally_->GetCount("site", TallyOp::kECount, "views", "p3").status()));
  EXPECT_TRUE(absl::IsNotFound(tally_->GetCount("site", TallyOp::kTopK, "views", "p2").status()));
  EXPECT_THAT(Top("views"), ElementsAre(Pair("p1", 5), Pair("p3", 1)));
  absl::StatusOr<std::vector<TallyItem>> items = tally_->GetTopK("site", "views", 1, true);
  ASSERT_TRUE(items.ok()) << items.status();
  EXPECT_EQ((*items)[0].metadata, absl::optional<std::string>("topk-md"));

  // Each keeps its own window: 61 minutes on, the hour-long ECOUNT window has emptied while the
  // day-long TOPK window still holds everything.
  Advance(61 * 60);
  EXPECT_EQ(Count("views", "p1", TallyOp::kECount), 0);
  EXPECT_EQ(Count("views", "p1", TallyOp::kTopK), 5);
  EXPECT_THAT(Top("views"), ElementsAre(Pair("p1", 5), Pair("p3", 1)));

  // The same after a restart (windows reread from disk, ranking rebuilt).
  Open(TallyOptions{});
  EXPECT_EQ(Count("views", "p1", TallyOp::kECount), 0);
  EXPECT_EQ(Count("views", "p1", TallyOp::kTopK), 5);
  EXPECT_THAT(Top("views"), ElementsAre(Pair("p1", 5), Pair("p3", 1)));
}

TEST_F(TallyTest, ECountCounterAloneHasNoTopK) {
  ASSERT_TRUE(Incr("c", "a", 5, TallyOp::kECount, 2).ok());
  EXPECT_EQ(tally_->RankedItemsForTest(), 0u);
  EXPECT_TRUE(absl::IsNotFound(tally_->GetTopK("site", "c", 5, false).status()));
}

TEST_F(TallyTest, LegacySharedCountersAreSplitIntoBothOps) {
  // Records as a countd before the split wrote them: tags "b", "md" and "cfg" without an op.
  namespace keys = storage::keys;
  storage::WriteBatch legacy(keys::TallyPartition("site", "views"));
  storage::CounterCell cell;
  cell.count = 4;
  cell.updated_ms = kStart * 1000;
  const int64_t end = kStart + 60;
  for (const char* item : {"p1", "p2"}) {
    legacy.AddCounter(
        storage::Table::kTally,
        keys::TallyBucketKey(keys::Join({"b", "site", "views", item}), end, end + 2 * 3600), cell);
  }
  legacy.Put(storage::Table::kTallyMeta, keys::Join({"md", "site", "views", "p1"}), "old-md");
  legacy.Put(storage::Table::kTallyMeta, keys::Join({"cfg", "site", "views"}), "60");
  ASSERT_TRUE(store_->Write(legacy).ok());

  absl::StatusOr<int64_t> moved = tally_->SplitLegacyCounters();
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, 4);
  // Both ops read what the shared counter read, with its window and metadata.
  Open(TallyOptions{});
  EXPECT_EQ(Count("views", "p1", TallyOp::kECount), 4);
  EXPECT_EQ(Count("views", "p1", TallyOp::kTopK), 4);
  absl::StatusOr<std::vector<TallyItem>> items = tally_->GetTopK("site", "views", 5, true);
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[0].metadata, absl::optional<std::string>("old-md"));
  Advance(61 * 60);  // the stored 60-minute window came along
  EXPECT_EQ(Count("views", "p1", TallyOp::kECount), 0);
  // Nothing is left under the legacy tags, so a second run moves nothing.
  moved = tally_->SplitLegacyCounters();
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 0);
  // From now on the ops diverge.
  ASSERT_TRUE(Incr("views", "p1", 60, TallyOp::kECount, 1).ok());
  EXPECT_EQ(Count("views", "p1", TallyOp::kECount), 1);
  EXPECT_EQ(Count("views", "p1", TallyOp::kTopK), 0);
}

TEST_F(TallyTest, LegacySplitMovesLargeCountersInSeveralWrites) {
  namespace keys = storage::keys;
  storage::WriteBatch legacy(keys::TallyPartition("site", "big"));
  storage::CounterCell cell;
  cell.count = 1;
  const int64_t end = kStart + 60;
  for (int i = 0; i < 2500; ++i) {
    legacy.AddCounter(
        storage::Table::kTally,
        keys::TallyBucketKey(keys::Join({"b", "site", "big", absl::StrCat("i", 10000 + i)}), end,
                             end + 2 * 3600),
        cell);
  }
  legacy.Put(storage::Table::kTallyMeta, keys::Join({"cfg", "site", "big"}), "60");
  ASSERT_TRUE(store_->Write(legacy).ok());
  absl::StatusOr<int64_t> moved = tally_->SplitLegacyCounters();
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, 2501);
  Open(TallyOptions{});
  EXPECT_EQ(Top("big", 1000).size(), 1000u);
  EXPECT_EQ(Count("big", "i12499", TallyOp::kECount), 1);
}

TEST_F(TallyTest, MetadataIsReplacedByWritesThatCarryItAndKeptByOthers) {
  ASSERT_TRUE(Incr("c", "a", 5, TallyOp::kTopK, 1, std::string("v1")).ok());
  ASSERT_TRUE(Incr("c", "a", 5).ok());
  ASSERT_TRUE(Incr("c", "b", 5).ok());
  absl::StatusOr<std::vector<TallyItem>> items = tally_->GetTopK("site", "c", 10, true);
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[0].metadata, absl::optional<std::string>("v1"));
  EXPECT_EQ((*items)[1].metadata, absl::nullopt);
  ASSERT_TRUE(Incr("c", "a", 5, TallyOp::kTopK, 1, std::string("v2")).ok());
  items = tally_->GetTopK("site", "c", 10, true);
  ASSERT_TRUE(items.ok());
  EXPECT_EQ((*items)[0].metadata, absl::optional<std::string>("v2"));
  items = tally_->GetTopK("site", "c", 10, false);
  ASSERT_TRUE(items.ok());
  EXPECT_EQ((*items)[0].metadata, absl::nullopt);
}

TEST_F(TallyTest, MetadataLimitCountsCharactersNotBytes) {
  std::string max(kMaxMetadataChars, 'm');
  EXPECT_TRUE(Incr("c", "a", 5, TallyOp::kTopK, 1, max).ok());
  std::string wide;
  for (size_t i = 0; i < kMaxMetadataChars; ++i) wide += "\xc3\xa9";  // U+00E9, 2 bytes
  EXPECT_TRUE(Incr("c", "b", 5, TallyOp::kTopK, 1, wide).ok());
  absl::Status s = Incr("c", "x", 5, TallyOp::kTopK, 1, max + "m");
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(FieldOf(s), "metadata");
  EXPECT_TRUE(absl::IsNotFound(tally_->GetCount("site", TallyOp::kTopK, "c", "x").status()));
}

// Found by the fuzzers: metadata is answered in countd.v1 strings, which must be UTF-8.
TEST_F(TallyTest, MetadataThatIsNotUtf8IsRefusedAndWritesNothing) {
  for (const std::string& bad : {std::string("\xff"), std::string("ok\xc3"),
                                 std::string("\xed\xa0\x80"), std::string("\xc0\xaf")}) {
    absl::Status s = Incr("c", "x", 5, TallyOp::kTopK, 1, bad);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_EQ(FieldOf(s), "metadata");
  }
  EXPECT_TRUE(absl::IsNotFound(tally_->GetCount("site", TallyOp::kTopK, "c", "x").status()));
  EXPECT_TRUE(Incr("c", "x", 5, TallyOp::kTopK, 1, "caf\xc3\xa9 \xf0\x9f\x98\x80").ok());
}

TEST_F(TallyTest, BadInputNamesTheFieldAndWritesNothing) {
  struct Case {
    std::string field;
    TallyIncrementArgs args;
  };
  auto base = [] {
    TallyIncrementArgs a;
    a.tenant = "site";
    a.op = TallyOp::kTopK;
    a.counter = "c";
    a.countable = "x";
    a.window_minutes = 5;
    return a;
  };
  std::vector<Case> cases;
  cases.push_back({"window_minutes", base()});
  cases.back().args.window_minutes = 0;
  cases.push_back({"window_minutes", base()});
  cases.back().args.window_minutes = 43201;
  cases.push_back({"counter", base()});
  cases.back().args.counter = "a/b";
  cases.push_back({"countable", base()});
  cases.back().args.countable = "a\\b";
  cases.push_back({"tenant", base()});
  cases.back().args.tenant = "t/1";
  cases.push_back({"op", base()});
  cases.back().args.op = TallyOp::kUnspecified;
  cases.push_back({"delta", base()});
  cases.back().args.delta = 0;
  cases.push_back({"countable", base()});
  cases.back().args.countable = "";
  for (const Case& c : cases) {
    absl::Status s = tally_->Increment(c.args);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << c.field << ": " << s;
    EXPECT_EQ(FieldOf(s), c.field) << s;
  }
  EXPECT_TRUE(absl::IsNotFound(tally_->GetTopK("site", "c", 5, false).status()));
  EXPECT_TRUE(absl::IsNotFound(tally_->GetCount("site", TallyOp::kTopK, "c", "x").status()));
}

TEST_F(TallyTest, KOutOfRangeIsInvalidArgument) {
  ASSERT_TRUE(Incr("c", "a", 5).ok());
  for (int k : {0, -1, 1001}) {
    absl::Status s = tally_->GetTopK("site", "c", k, false).status();
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << k;
    EXPECT_EQ(FieldOf(s), "k");
  }
  EXPECT_TRUE(tally_->GetTopK("site", "c", 1000, false).ok());
}

TEST_F(TallyTest, UnknownCounterOrCountableIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(tally_->GetTopK("site", "nope", absl::nullopt, false).status()));
  EXPECT_TRUE(absl::IsNotFound(tally_->GetCount("site", TallyOp::kTopK, "nope", "x").status()));
  ASSERT_TRUE(Incr("c", "a", 5).ok());
  EXPECT_TRUE(absl::IsNotFound(tally_->GetCount("site", TallyOp::kTopK, "c", "b").status()));
  EXPECT_TRUE(absl::IsNotFound(tally_->GetCount("other-site", TallyOp::kTopK, "c", "a").status()));
}

TEST_F(TallyTest, CountsAndRankingSurviveARestart) {
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(Incr("c", absl::StrCat("item", i % 7), 60, TallyOp::kTopK, 1 + i % 3).ok());
    Advance(17);
  }
  auto before = Top("c", 10);
  int64_t count_before = Count("c", "item3");
  Open(TallyOptions{});
  EXPECT_EQ(Top("c", 10), before);
  EXPECT_EQ(Count("c", "item3"), count_before);
}

TEST_F(TallyTest, MemoryBudgetEvictsRankingsAndAnswersStayExact) {
  TallyOptions options;
  options.max_ranked_items = 1000;
  Open(options);
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(Incr("one", absl::StrCat("i", i), 5, TallyOp::kTopK, 1 + i % 5).ok());
    ASSERT_TRUE(Incr("two", absl::StrCat("j", i), 5, TallyOp::kTopK, 1 + i % 4).ok());
  }
  EXPECT_LE(tally_->RankedItemsForTest(), 1000u);
  auto one = Top("one", 3);
  EXPECT_THAT(one, ElementsAre(Pair("i104", 5), Pair("i109", 5), Pair("i114", 5)));
  auto two = Top("two", 2);
  EXPECT_THAT(two, ElementsAre(Pair("j103", 4), Pair("j107", 4)));
  // A single counter larger than the whole budget is ranked from disk, still exactly.
  for (int i = 0; i < 1200; ++i) {
    ASSERT_TRUE(Incr("big", absl::StrCat("k", 10000 + i), 5, TallyOp::kTopK, 1 + (i == 777)).ok());
  }
  EXPECT_THAT(Top("big", 2), ElementsAre(Pair("k10777", 2), Pair("k10000", 1)));
  EXPECT_LE(tally_->RankedItemsForTest(), 1000u);
}

TEST_F(TallyTest, ConcurrentIncrementsAndReadsLoseNothing) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_TRUE(Incr("hot", absl::StrCat("x", i % 10), 60).ok());
        if (i % 50 == t) {
          EXPECT_TRUE(tally_->GetTopK("site", "hot", 5, false).ok());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  int64_t total = 0;
  for (const auto& [item, n] : Top("hot", 100)) total += n;
  EXPECT_EQ(total, kThreads * kPerThread);
  EXPECT_EQ(Count("hot", "x3"), kThreads * kPerThread / 10);
}

}  // namespace
}  // namespace countd::logic
