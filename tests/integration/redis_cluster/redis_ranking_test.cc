// Rankings kept by the Redis Cluster store (WriteBatch::AddRanked, Store::ReadRanking), against
// the real cluster of the CTest fixture redis_cluster: a randomized run against a plain model,
// ties at the k-th place, sliding horizons, widened windows, expired buckets, the exact range,
// atomicity with the rest of the batch, and the key layout.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "storage/keys.h"
#include "storage/redis_cluster/redis_store.h"
#include "storage/redis_cluster/slots.h"

namespace countd::storage::redis {
namespace {

int BasePort() {
  std::ifstream in(std::string(REDIS_CLUSTER_DIR) + "/baseport");
  int port = 0;
  in >> port;
  return port;
}

// Far enough ahead that no bucket of the randomized runs expires by its keep_until.
const int64_t kFarFuture = absl::ToUnixSeconds(absl::Now()) + 86400;

// What a ranking must answer: totals over buckets ending after the horizon, which moves only
// forward for one window and is taken as given when the window changes.
class Model {
 public:
  void Add(const std::string& item, int64_t end, int64_t horizon, int64_t window, int64_t delta) {
    Advance(horizon, window);
    buckets_[end][item] += delta;
  }

  RankingTop Read(int64_t horizon, int64_t window, size_t k, const std::string& self) {
    RankingTop out;
    if (!started_) return out;
    Advance(horizon, window);
    std::map<std::string, int64_t> totals;
    for (const auto& [end, cells] : buckets_) {
      if (end <= horizon_) continue;
      for (const auto& [item, n] : cells) totals[item] += n;
    }
    std::vector<RankingTop::Entry> all;
    for (const auto& [item, n] : totals) {
      if (n > 0) all.push_back({item, n});
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
      return a.total != b.total ? a.total > b.total : a.item < b.item;
    });
    auto mine = totals.find(self);
    if (mine != totals.end()) out.self_total = mine->second;
    for (size_t i = 0; i < all.size(); ++i) {
      if (all[i].item == self) out.self_rank = i + 1;
    }
    if (all.size() > k) all.resize(k);
    out.top = all;
    return out;
  }

 private:
  void Advance(int64_t horizon, int64_t window) {
    if (!started_ || window != window_) {
      horizon_ = horizon;
      window_ = window;
      started_ = true;
    } else {
      horizon_ = std::max(horizon_, horizon);
    }
  }

  bool started_ = false;
  int64_t horizon_ = 0;
  int64_t window_ = 0;
  std::map<int64_t, std::map<std::string, int64_t>> buckets_;
};

std::string Describe(const RankingTop& r) {
  std::string out;
  for (const auto& e : r.top) absl::StrAppend(&out, e.item, "=", e.total, " ");
  absl::StrAppend(&out, "| self #", r.self_rank, " ", r.self_total);
  return out;
}

void ExpectSame(const RankingTop& want, const RankingTop& got, const std::string& where) {
  EXPECT_EQ(Describe(want), Describe(got)) << where;
}

class RedisRankingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(BasePort(), 0) << "no cluster: run through ctest (fixture redis_cluster)";
    RedisStoreOptions options;
    options.client.seeds = absl::StrCat("127.0.0.1:", BasePort());
    options.client.password = REDIS_CLUSTER_PASSWORD;
    prefix_ = absl::StrCat("rk", getpid(), "-", absl::ToUnixMicros(absl::Now()), "-",
                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    options.key_prefix = prefix_;
    absl::StatusOr<std::unique_ptr<Store>> s = OpenRedisClusterStore(options);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
    absl::StatusOr<std::unique_ptr<ClusterClient>> raw = ClusterClient::Connect(options.client);
    ASSERT_TRUE(raw.ok()) << raw.status();
    raw_ = *std::move(raw);
  }

  absl::Status Add(const std::string& item, int64_t end, int64_t horizon, int64_t window,
                   int64_t delta, int64_t keep = kFarFuture) {
    WriteBatch batch(partition_);
    batch.AddRanked("r", item, end, keep, horizon, window, delta);
    return store_->Write(batch);
  }

  RankingTop Read(int64_t horizon, int64_t window, size_t k, const std::string& self = "") {
    absl::StatusOr<RankingTop> r = store_->ReadRanking(partition_, "r", horizon, window, k, self);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RankingTop{};
  }

  int64_t Ttl(const std::string& key) {
    absl::StatusOr<Reply> r = raw_->Run(Command({"TTL", key}, {1}));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->integer : -3;
  }

  std::string prefix_;
  Partition partition_ = keys::TallyPartition("t1", "c1");
  std::unique_ptr<Store> store_;
  std::unique_ptr<ClusterClient> raw_;
};

TEST_F(RedisRankingTest, KeepsRankings) { EXPECT_TRUE(store_->KeepsRankings()); }

TEST_F(RedisRankingTest, NeverWrittenReadsEmpty) {
  RankingTop r = Read(100, 60, 10, "x");
  EXPECT_TRUE(r.top.empty());
  EXPECT_EQ(r.self_rank, 0u);
}

TEST_F(RedisRankingTest, RandomOperationsMatchAModel) {
  std::mt19937_64 rng(20261205);
  Model model;
  int64_t now = 1'000'000;
  int64_t window = 600;
  int reads = 0;
  for (int step = 0; step < 1500; ++step) {
    now += static_cast<int64_t>(rng() % 25);
    if (rng() % 200 == 0) window = window == 600 ? 1200 : 600;  // widen or narrow
    const int64_t width = window / 60;
    const int64_t horizon = now - window;
    const std::string item = absl::StrCat("i", rng() % 40);
    if (rng() % 4 != 0) {
      // Mostly the current bucket, sometimes a late one (a process with a slow clock).
      int64_t at = rng() % 10 == 0 ? now - static_cast<int64_t>(rng() % (2 * window)) : now;
      int64_t end = (at / width + 1) * width;
      int64_t delta = static_cast<int64_t>(rng() % 13) - 2;
      if (delta == 0) delta = 1;
      ASSERT_TRUE(Add(item, end, horizon, window, delta).ok());
      model.Add(item, end, horizon, window, delta);
    } else {
      size_t k = 1 + rng() % 12;
      ++reads;
      ExpectSame(model.Read(horizon, window, k, item), Read(horizon, window, k, item),
                 absl::StrCat("step ", step, " k ", k, " self ", item));
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(reads, 300);
}

TEST_F(RedisRankingTest, TiesAtTheKthPlaceTakeTheSmallestItems) {
  for (const char* item : {"e", "b", "d", "a", "c", "f"}) ASSERT_TRUE(Add(item, 200, 0, 1, 5).ok());
  ASSERT_TRUE(Add("z", 200, 0, 1, 9).ok());
  RankingTop r = Read(0, 1, 3, "d");
  EXPECT_EQ(Describe(r), "z=9 a=5 b=5 | self #5 5");
  EXPECT_EQ(Describe(Read(0, 1, 1, "z")), "z=9 | self #1 9");
  EXPECT_EQ(Describe(Read(0, 1, 20, "nobody")), "z=9 a=5 b=5 c=5 d=5 e=5 f=5 | self #0 0");
}

TEST_F(RedisRankingTest, NonPositiveTotalsAreLeftOutButKept) {
  ASSERT_TRUE(Add("a", 200, 0, 1, -4).ok());
  ASSERT_TRUE(Add("b", 200, 0, 1, 2).ok());
  EXPECT_EQ(Describe(Read(0, 1, 5, "a")), "b=2 | self #0 -4");
  ASSERT_TRUE(Add("a", 200, 0, 1, 5).ok());  // -4 + 5
  EXPECT_EQ(Describe(Read(0, 1, 5, "a")), "b=2 a=1 | self #2 1");
}

TEST_F(RedisRankingTest, HorizonDropsBucketsAndNeverMovesBack) {
  ASSERT_TRUE(Add("a", 100, 0, 60, 3).ok());
  ASSERT_TRUE(Add("a", 200, 0, 60, 4).ok());
  ASSERT_TRUE(Add("b", 200, 0, 60, 1).ok());
  EXPECT_EQ(Describe(Read(99, 60, 5)), "a=7 b=1 | self #0 0");
  EXPECT_EQ(Describe(Read(100, 60, 5)), "a=4 b=1 | self #0 0");
  // A reader with a slower clock sees the horizon already reached.
  EXPECT_EQ(Describe(Read(50, 60, 5)), "a=4 b=1 | self #0 0");
  // A late write into a bucket already out of the window is kept but not counted.
  ASSERT_TRUE(Add("c", 90, 50, 60, 8).ok());
  EXPECT_EQ(Describe(Read(150, 60, 5)), "a=4 b=1 | self #0 0");
  EXPECT_EQ(Describe(Read(200, 60, 5)), "| self #0 0");
}

TEST_F(RedisRankingTest, AWiderWindowCountsKeptBucketsAgainButNotExpiredOnes) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  ASSERT_TRUE(Add("a", 100, 0, 60, 3).ok());
  ASSERT_TRUE(Add("gone", 150, 0, 60, 50, /*keep=*/now - 10).ok());  // expires at once
  ASSERT_TRUE(Add("a", 200, 0, 60, 4).ok());
  EXPECT_EQ(Describe(Read(100, 60, 5)), "a=4 | self #0 0");
  EXPECT_EQ(Describe(Read(0, 120, 5)), "a=7 | self #0 0");   // widened: bucket 100 again
  EXPECT_EQ(Describe(Read(100, 60, 5)), "a=4 | self #0 0");  // narrowed again
}

TEST_F(RedisRankingTest, CountsPastTheExactRangeAnswerOutOfRange) {
  ASSERT_TRUE(Add("a", 100, 0, 1, int64_t{1} << 52).ok());
  ASSERT_TRUE(Read(0, 1, 5).top.size() == 1);
  ASSERT_TRUE(Add("a", 100, 0, 1, int64_t{1} << 52).ok());
  absl::StatusOr<RankingTop> r = store_->ReadRanking(partition_, "r", 0, 1, 5, "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange) << r.status();
}

TEST_F(RedisRankingTest, AppliesWithTheBatchOrNotAtAll) {
  WriteBatch refused(partition_);
  refused.Expect(Table::kTallyMeta, "k", std::string("v"));  // absent: the batch aborts
  refused.Put(Table::kTallyMeta, "k2", "x");
  refused.AddRanked("r", "a", 100, kFarFuture, 0, 1, 5);
  EXPECT_EQ(store_->Write(refused).code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(Read(0, 1, 5).top.empty());

  WriteBatch both(partition_);
  both.Put(Table::kTallyMeta, "k2", "x");
  both.AddRanked("r", "a", 100, kFarFuture, 0, 1, 5);
  both.AddRanked("other", "b", 100, kFarFuture, 0, 1, 2);
  ASSERT_TRUE(store_->Write(both).ok());
  EXPECT_EQ(Describe(Read(0, 1, 5)), "a=5 | self #0 0");
  absl::StatusOr<RankingTop> other = store_->ReadRanking(partition_, "other", 0, 1, 5, "");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(Describe(*other), "b=2 | self #0 0");
  // Rankings are per partition.
  absl::StatusOr<RankingTop> elsewhere =
      store_->ReadRanking(keys::TallyPartition("t1", "c2"), "r", 0, 1, 5, "");
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_TRUE(elsewhere->top.empty());
}

TEST_F(RedisRankingTest, ResetForgetsEveryBucket) {
  ASSERT_TRUE(Add("a", 100, 0, 1, 5).ok());
  ASSERT_TRUE(Add("b", 200, 0, 1, 5).ok());
  WriteBatch rebuild(partition_);
  rebuild.ResetRanking("r");
  rebuild.AddRanked("r", "c", 200, kFarFuture, 0, 1, 2);
  ASSERT_TRUE(store_->Write(rebuild).ok());
  EXPECT_EQ(Describe(Read(0, 1, 5)), "c=2 | self #0 0");
  // The old bucket at 100 is gone too: a wider window does not find it.
  EXPECT_EQ(Describe(Read(-100, 2, 5)), "c=2 | self #0 0");
}

TEST_F(RedisRankingTest, KeysShareThePartitionSlotAndExpireWithTheLastBucket) {
  const std::string base = RedisRankingKey(prefix_, partition_, "r");
  EXPECT_EQ(KeyHashSlot(base), KeyHashSlot(RedisGroupKey(prefix_, partition_, Table::kTally, 'h')));
  EXPECT_NE(base, RedisRankingKey(prefix_, partition_, "r2"));
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  ASSERT_TRUE(Add("a", 100, 0, 1, 5, /*keep=*/now + 1000).ok());
  for (const char* suffix : {":a", ":i", ":m"}) {
    int64_t ttl = Ttl(base + suffix);
    EXPECT_GT(ttl, 1000) << suffix;  // keep_until plus the slack
    EXPECT_LE(ttl, 1000 + absl::ToInt64Seconds(kRedisExpirySlack)) << suffix;
  }
  int64_t bucket_ttl = Ttl(base + ":b:100");
  EXPECT_GT(bucket_ttl, 990);
  EXPECT_LE(bucket_ttl, 1000);
}

}  // namespace
}  // namespace countd::storage::redis
