// Unit tests of countd::logic::NonceCache with a FakeClock.
#include "server/logic/nonce_cache.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"
#include "tests/testing/fake_clock.h"

namespace countd::logic {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);
const absl::Duration kWindow = absl::Seconds(120);

class NonceCacheTest : public ::testing::Test {
 protected:
  test::FakeClock clock_{kStart};
  NonceCache cache_{NonceCache::Options{&clock_, /*max_per_tenant=*/3}};
};

TEST_F(NonceCacheTest, FirstUseIsOkSecondIsReplay) {
  ASSERT_TRUE(cache_.Use("t", "n1", kStart + kWindow).ok());
  absl::Status again = cache_.Use("t", "n1", kStart + kWindow);
  EXPECT_EQ(again.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ReasonOf(again), auth_reason::kReplay);
  EXPECT_EQ(FieldOf(again), "nonce");
  // The message names the rule, never the nonce.
  EXPECT_EQ(std::string(again.message()).find("n1"), std::string::npos) << again;
}

TEST_F(NonceCacheTest, TenantsAreSeparate) {
  ASSERT_TRUE(cache_.Use("a", "n", kStart + kWindow).ok());
  EXPECT_TRUE(cache_.Use("b", "n", kStart + kWindow).ok());
  EXPECT_EQ(ReasonOf(cache_.Use("b", "n", kStart + kWindow)), auth_reason::kReplay);
}

TEST_F(NonceCacheTest, RememberedUntilExpiryInclusive) {
  ASSERT_TRUE(cache_.Use("t", "n", kStart + kWindow).ok());
  clock_.Set(kStart + kWindow);  // a replay at exactly the window's end still passes the clock
  EXPECT_EQ(ReasonOf(cache_.Use("t", "n", kStart + kWindow)), auth_reason::kReplay);
  clock_.Set(kStart + kWindow + absl::Seconds(1));
  EXPECT_TRUE(cache_.Use("t", "n", kStart + 2 * kWindow).ok());
}

TEST_F(NonceCacheTest, ExpiredRecordsAreDropped) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(cache_.Use("t", absl::StrCat("n", i), kStart + absl::Seconds(10 + i)).ok());
  }
  EXPECT_EQ(cache_.SizeForTest(), 3u);
  clock_.Set(kStart + absl::Seconds(11) + absl::Milliseconds(1));  // n0 and n1 expired
  ASSERT_TRUE(cache_.Use("t", "m", kStart + kWindow).ok());
  EXPECT_EQ(cache_.SizeForTest(), 2u);  // n2 and m
}

TEST_F(NonceCacheTest, FullTenantIsRateLimitedWithoutForgetting) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(cache_.Use("t", absl::StrCat("n", i), kStart + kWindow).ok());
  }
  absl::Status full = cache_.Use("t", "n3", kStart + kWindow);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(full), auth_reason::kRateLimited);
  EXPECT_EQ(FieldOf(full), "nonce");
  // Nothing in-window was evicted: every earlier nonce is still a replay, and the refused one
  // was not recorded.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ReasonOf(cache_.Use("t", absl::StrCat("n", i), kStart + kWindow)),
              auth_reason::kReplay);
  }
  EXPECT_EQ(cache_.SizeForTest(), 3u);
  // Another tenant is not affected.
  EXPECT_TRUE(cache_.Use("other", "n3", kStart + kWindow).ok());
  // Once the records expire, the tenant is admitted again.
  clock_.Advance(kWindow + absl::Seconds(1));
  EXPECT_TRUE(cache_.Use("t", "n3", clock_.Now() + kWindow).ok());
}

TEST_F(NonceCacheTest, PastExpiryIsAcceptedAndNotKept) {
  EXPECT_TRUE(cache_.Use("t", "old", kStart - absl::Seconds(1)).ok());
  EXPECT_EQ(cache_.SizeForTest(), 0u);
}

TEST_F(NonceCacheTest, IdleTenantsAreSweptByOthersTraffic) {
  ASSERT_TRUE(cache_.Use("idle", "n", kStart + absl::Seconds(5)).ok());
  clock_.Advance(absl::Seconds(10));
  ASSERT_TRUE(cache_.Use("busy", "n", clock_.Now() + kWindow).ok());
  EXPECT_EQ(cache_.SizeForTest(), 1u);
}

TEST_F(NonceCacheTest, ConcurrentUsesOfOneNonceAdmitExactlyOne) {
  NonceCache cache(NonceCache::Options{&clock_, 100'000});
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    const std::string nonce = absl::StrCat("race", round);
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&] {
        if (cache.Use("t", nonce, kStart + kWindow).ok()) ok.fetch_add(1);
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(ok.load(), 1) << nonce;
  }
}

}  // namespace
}  // namespace countd::logic
