// Tests of the exact sliding-window ranking shared by Tally and GameMechanics
// (server/logic/window_ranking.h).
#include "server/logic/window_ranking.h"

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace countd::logic {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

std::vector<std::pair<std::string, int64_t>> Rows(const std::vector<WindowRanking::Entry>& top) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const WindowRanking::Entry& e : top) out.emplace_back(e.item, e.total);
  return out;
}

TEST(WindowRankingTest, EmptyRankingHasNothing) {
  WindowRanking r;
  EXPECT_THAT(r.Top(10), IsEmpty());
  EXPECT_EQ(r.Total("a"), 0);
  EXPECT_EQ(r.RankOf("a"), 0u);
  EXPECT_EQ(r.items(), 0u);
  EXPECT_EQ(r.cells(), 0u);
}

TEST(WindowRankingTest, AddSumsAcrossBucketsOfAnItem) {
  WindowRanking r;
  EXPECT_TRUE(r.Add("a", 10, 3));
  EXPECT_TRUE(r.Add("a", 20, 4));
  EXPECT_TRUE(r.Add("a", 10, 1));
  EXPECT_EQ(r.Total("a"), 8);
  EXPECT_EQ(r.items(), 1u);
  EXPECT_EQ(r.cells(), 2u);
}

TEST(WindowRankingTest, TopOrdersByTotalDescendingThenNameAscending) {
  WindowRanking r;
  r.Add("carol", 10, 5);
  r.Add("bob", 10, 7);
  r.Add("alice", 10, 5);
  r.Add("dave", 10, 7);
  r.Add("eve", 10, 1);
  EXPECT_THAT(Rows(r.Top(10)), ElementsAre(Pair("bob", 7), Pair("dave", 7), Pair("alice", 5),
                                           Pair("carol", 5), Pair("eve", 1)));
  EXPECT_THAT(Rows(r.Top(3)), ElementsAre(Pair("bob", 7), Pair("dave", 7), Pair("alice", 5)));
  EXPECT_THAT(r.Top(0), IsEmpty());
}

TEST(WindowRankingTest, RankOfIsOneBasedAndFollowsTies) {
  WindowRanking r;
  r.Add("b", 10, 5);
  r.Add("a", 10, 5);
  r.Add("c", 10, 9);
  EXPECT_EQ(r.RankOf("c"), 1u);
  EXPECT_EQ(r.RankOf("a"), 2u);
  EXPECT_EQ(r.RankOf("b"), 3u);
  EXPECT_EQ(r.RankOf("unknown"), 0u);
}

TEST(WindowRankingTest, ExpireBeforeDropsBucketsAtOrBeforeTheHorizon) {
  WindowRanking r;
  r.Add("a", 10, 1);
  r.Add("a", 20, 2);
  r.Add("b", 20, 5);
  r.Add("a", 30, 4);
  r.ExpireBefore(19);
  EXPECT_EQ(r.Total("a"), 6);
  r.ExpireBefore(20);  // the bucket ending exactly at the horizon goes too
  EXPECT_EQ(r.Total("a"), 4);
  EXPECT_EQ(r.Total("b"), 0);
  EXPECT_THAT(Rows(r.Top(10)), ElementsAre(Pair("a", 4)));
}

TEST(WindowRankingTest, ItemsAreForgottenWhenTheirLastBucketExpires) {
  WindowRanking r;
  r.Add("a", 10, 1);
  r.Add("b", 10, 1);
  r.Add("b", 20, 1);
  EXPECT_EQ(r.items(), 2u);
  EXPECT_EQ(r.cells(), 3u);
  r.ExpireBefore(10);
  EXPECT_EQ(r.items(), 1u);
  EXPECT_EQ(r.cells(), 1u);
  EXPECT_EQ(r.RankOf("a"), 0u);
  r.ExpireBefore(20);
  EXPECT_EQ(r.items(), 0u);
  EXPECT_EQ(r.cells(), 0u);
  // A forgotten item starts again from zero.
  r.Add("a", 30, 2);
  EXPECT_EQ(r.Total("a"), 2);
  EXPECT_EQ(r.RankOf("a"), 1u);
}

TEST(WindowRankingTest, AddAtOrBeforeTheHorizonIsIgnored) {
  WindowRanking r;
  r.ExpireBefore(100);
  EXPECT_FALSE(r.Add("a", 100, 5));
  EXPECT_FALSE(r.Add("a", 50, 5));
  EXPECT_TRUE(r.Add("a", 101, 5));
  EXPECT_EQ(r.Total("a"), 5);
  EXPECT_FALSE(r.Add("a", 200, 0));  // a zero delta changes nothing
  EXPECT_EQ(r.cells(), 1u);
}

TEST(WindowRankingTest, HorizonNeverMovesBack) {
  WindowRanking r;
  r.ExpireBefore(100);
  r.ExpireBefore(50);
  EXPECT_FALSE(r.Add("a", 80, 1));
}

TEST(WindowRankingTest, NegativeDeltasLowerTheTotalAndNonPositiveTotalsAreUnranked) {
  WindowRanking r;
  r.Add("a", 10, 5);
  r.Add("b", 10, 3);
  r.Add("a", 20, -4);  // a: 1
  EXPECT_EQ(r.Total("a"), 1);
  EXPECT_THAT(Rows(r.Top(10)), ElementsAre(Pair("b", 3), Pair("a", 1)));
  r.Add("a", 20, -3);  // a: -2, still tracked but not ranked
  EXPECT_EQ(r.Total("a"), -2);
  EXPECT_EQ(r.RankOf("a"), 0u);
  EXPECT_THAT(Rows(r.Top(10)), ElementsAre(Pair("b", 3)));
  // Expiring the negative bucket brings the positive one back.
  r.ExpireBefore(20);
  EXPECT_EQ(r.Total("a"), 0);
  r.Add("a", 30, 1);
  EXPECT_THAT(Rows(r.Top(10)), ElementsAre(Pair("a", 1)));
}

TEST(WindowRankingTest, CellsThatCancelOutAreRemoved) {
  WindowRanking r;
  r.Add("a", 10, 5);
  r.Add("a", 10, -5);
  EXPECT_EQ(r.cells(), 0u);
  EXPECT_EQ(r.items(), 0u);
  EXPECT_EQ(r.Total("a"), 0);
}

TEST(WindowRankingTest, ExpiryKeepsTheOrderOfTheRemainingItems) {
  WindowRanking r;
  for (int i = 0; i < 100; ++i) {
    std::string item = absl::StrCat("u", i);
    r.Add(item, 10, 1000);     // old bucket: everybody equal
    r.Add(item, 20, 100 - i);  // new bucket: u0 best
  }
  EXPECT_EQ(r.RankOf("u99"), 100u);
  r.ExpireBefore(10);
  std::vector<WindowRanking::Entry> top = r.Top(3);
  EXPECT_THAT(Rows(top), ElementsAre(Pair("u0", 100), Pair("u1", 99), Pair("u2", 98)));
  EXPECT_EQ(r.RankOf("u50"), 51u);
  EXPECT_EQ(r.items(), 100u);
  EXPECT_EQ(r.cells(), 100u);
}

// A model item's total: its buckets' counts summed.
int64_t Sum(const std::map<int64_t, int64_t>& buckets) {
  int64_t total = 0;
  for (const auto& [bucket, count] : buckets) total += count;
  return total;
}

// The ranking's order of a plain model (item -> bucket -> count): (-total, name) of every item
// with a positive total.
std::vector<std::pair<int64_t, std::string>> ModelOrder(
    const std::map<std::string, std::map<int64_t, int64_t>>& model) {
  std::vector<std::pair<int64_t, std::string>> order;
  for (const auto& [name, buckets] : model) {
    const int64_t total = Sum(buckets);
    if (total > 0) order.emplace_back(-total, name);
  }
  std::sort(order.begin(), order.end());
  return order;
}

// Random adds (both signs, several buckets) and expiries against a plain model: the full order,
// every rank and every total stay exact as items move up and down past many others. `name` makes
// the item of each of 300 numbers; `min_ranked` is the ranking's head target (a small one makes
// its floor move up and down all the time). Every 1000 steps the top 3, and at the end every
// rank, are checked before the full Top (which sorts everything from then on).
void ExpectRandomChangesMatchAPlainModel(const std::function<std::string(uint32_t)>& name,
                                         size_t min_ranked = WindowRanking::kDefaultMinRanked) {
  WindowRanking r(min_ranked);
  std::map<std::string, std::map<int64_t, int64_t>> model;  // item -> bucket -> count
  std::mt19937 rng(7);
  int64_t horizon = 0;
  size_t fewest_sorted = 300;
  for (int step = 0; step < 20000; ++step) {
    std::string item = name(rng() % 300);
    int64_t bucket = horizon + 1 + static_cast<int64_t>(rng() % 5);
    int64_t delta = static_cast<int64_t>(rng() % 7) - 2;  // -2..4
    if (r.Add(item, bucket, delta)) model[item][bucket] += delta;
    fewest_sorted = std::min(fewest_sorted, r.sorted_items());
    if (step % 1000 == 999) {
      horizon += 1;
      r.ExpireBefore(horizon);
      for (auto& [name, buckets] : model)
        buckets.erase(buckets.begin(), buckets.upper_bound(horizon));
      std::vector<std::pair<int64_t, std::string>> want = ModelOrder(model);
      std::vector<WindowRanking::Entry> top = r.Top(3);
      ASSERT_EQ(top.size(), std::min<size_t>(3, want.size())) << step;
      for (size_t i = 0; i < top.size(); ++i) {
        EXPECT_EQ(top[i].item, want[i].second) << step << " " << i;
        EXPECT_EQ(top[i].total, -want[i].first) << step << " " << i;
      }
    }
  }
  std::vector<std::pair<int64_t, std::string>> want = ModelOrder(model);
  for (const auto& [name, buckets] : model) {
    const int64_t total = Sum(buckets);
    EXPECT_EQ(r.Total(name), total) << name;
    if (total <= 0) {
      EXPECT_EQ(r.RankOf(name), 0u) << name;
    }
  }
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(r.RankOf(want[i].second), i + 1) << i;
  if (min_ranked < 100) {
    // The floor did its work: most of the time only a part of the items was kept sorted.
    EXPECT_LT(fewest_sorted, 4 * min_ranked + 1);
    EXPECT_LT(r.sorted_items(), want.size());
  }
  std::vector<WindowRanking::Entry> top = r.Top(want.size() + 10);
  ASSERT_EQ(top.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(top[i].item, want[i].second) << i;
    EXPECT_EQ(top[i].total, -want[i].first) << i;
    EXPECT_EQ(r.RankOf(want[i].second), i + 1);
  }
}

TEST(WindowRankingTest, RandomChangesMatchAPlainModel) {
  ExpectRandomChangesMatchAPlainModel([](uint32_t n) { return absl::StrCat("k", n); });
}

// With a head of a few items the floor rises and falls thousands of times: items cross it both
// ways (negative deltas, expiry), ties sit on it, and ranks below it are counted, all exactly.
TEST(WindowRankingTest, RandomChangesMatchAPlainModelWithASmallSortedHead) {
  for (size_t min_ranked : {1, 4, 16}) {
    SCOPED_TRACE(min_ranked);
    ExpectRandomChangesMatchAPlainModel([](uint32_t n) { return absl::StrCat("k", n); },
                                        min_ranked);
  }
}

// Many items, one bucket, +1 at random (P3's shape): the sorted head stays near its target, far
// below the item count, and the top and a rank below the floor match the plain order.
TEST(WindowRankingTest, ManyItemsKeepOnlyTheHeadSorted) {
  WindowRanking r(8);
  std::map<std::string, std::map<int64_t, int64_t>> model;
  std::mt19937 rng(11);
  for (int i = 0; i < 5000; ++i) {
    std::string item = absl::StrCat("i", i);
    r.Add(item, 1, 1);
    model[item][1] += 1;
  }
  for (int step = 0; step < 50000; ++step) {
    std::string item = absl::StrCat("i", rng() % 5000);
    r.Add(item, 1, 1);
    model[item][1] += 1;
  }
  EXPECT_EQ(r.items(), 5000u);
  EXPECT_LE(r.sorted_items(), 4u * 8 + 64);  // ties at the floor may stay a little above 4x
  std::vector<std::pair<int64_t, std::string>> want = ModelOrder(model);
  std::vector<WindowRanking::Entry> top = r.Top(5);
  ASSERT_EQ(top.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(top[i].item, want[i].second) << i;
  const size_t low = want.size() - 1;  // the last item of the order, far below the floor
  EXPECT_EQ(r.RankOf(want[low].second), low + 1);
}

// Asking for more than the head holds lowers the floor at once, and the head then keeps as many.
TEST(WindowRankingTest, TopOfMoreThanTheHeadHoldsIsExactAndKeepsThatMany) {
  WindowRanking r(2);
  for (int i = 0; i < 1000; ++i) r.Add(absl::StrCat("i", i), 1, 1 + i);  // i999 best
  for (int i = 0; i < 1000; ++i) r.Add(absl::StrCat("i", i), 1, 1);  // every total moves once more
  ASSERT_LT(r.sorted_items(), 100u);
  std::vector<WindowRanking::Entry> top = r.Top(100);
  ASSERT_EQ(top.size(), 100u);
  for (size_t i = 0; i < 100; ++i) {
    EXPECT_EQ(top[i].item, absl::StrCat("i", 999 - i)) << i;
    EXPECT_EQ(top[i].total, static_cast<int64_t>(1001 - i)) << i;
  }
  EXPECT_GE(r.sorted_items(), 100u);
  for (int i = 0; i < 1000; ++i) r.Add(absl::StrCat("i", i), 1, 1);
  EXPECT_GE(r.sorted_items(), 100u);
}

// The ranking compares the first 8 bytes of names as numbers before the names themselves: names
// that share those bytes, are shorter than 8 bytes, hold NUL bytes or bytes above 0x7f must still
// sort as std::string does (bytes unsigned).
std::string OddName(uint32_t n) {
  switch (n % 5) {
    case 0: return absl::StrCat("countable/", n);  // shared 8-byte prefix, then digits
    case 1: return absl::StrCat("count", std::string(1, '\0'), n);  // NUL inside the prefix
    case 2: return std::string(n % 9, '\0') + "z";         // all-NUL prefixes of different lengths
    case 3: return absl::StrCat("\xc3\xa9t\xc3\xa9-", n);  // UTF-8: bytes above 0x7f
    default: return absl::StrCat("c", n % 7);  // short, and "countable/..." shares its first byte
  }
}

TEST(WindowRankingTest, NamesSharingTheirFirstEightBytesOrHoldingAnyByteSortAsStrings) {
  // With every item sorted (the default head), and with a head of 4, whose ranks below the floor
  // compare the names outside the B-tree.
  for (size_t min_ranked : {WindowRanking::kDefaultMinRanked, size_t{4}}) {
    SCOPED_TRACE(min_ranked);
    ExpectRandomChangesMatchAPlainModel(OddName, min_ranked);
  }
}

}  // namespace
}  // namespace countd::logic
