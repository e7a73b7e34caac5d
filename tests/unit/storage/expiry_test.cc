// Tests of storage/expiry.h: IsExpired (the RocksDB store's rule) and ExpiresAt agree.
#include "storage/expiry.h"

#include <string>

#include "absl/time/civil_time.h"
#include "gtest/gtest.h"
#include "storage/keys.h"

namespace countd::storage {
namespace {

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0, int ss = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

// IsExpired at t == (t >= ExpiresAt) just before, at and after the instant.
void ExpectAgree(Table table, const std::string& key, const std::string& value,
                 const Retention& r) {
  std::optional<absl::Time> at = ExpiresAt(table, key, value, r);
  ASSERT_TRUE(at.has_value()) << TableName(table);
  for (absl::Duration d : {-absl::Hours(24 * 40), -absl::Seconds(1), -absl::Milliseconds(1),
                           absl::ZeroDuration(), absl::Milliseconds(1), absl::Hours(24 * 40)}) {
    EXPECT_EQ(IsExpired(table, key, value, r, *at + d), d >= absl::ZeroDuration())
        << TableName(table) << " " << d;
  }
}

TEST(ExpiryTest, ExpiresAtIsTheFirstExpiredInstantOfEveryExpiringTable) {
  Retention r;
  const int32_t day = keys::DayIndex(Utc(2024, 6, 15));
  const int32_t month = keys::MonthIndex(Utc(2024, 6, 15));
  for (Table t : {Table::kDaily, Table::kStash, Table::kGmDaily}) {
    ExpectAgree(t, keys::WithBucket("k", day), "", r);
  }
  ExpectAgree(Table::kMonthly, keys::WithBucket("k", month), "", r);
  EXPECT_EQ(*ExpiresAt(Table::kMonthly, keys::WithBucket("k", month), "", r), Utc(2026, 7, 1));
  EXPECT_EQ(*ExpiresAt(Table::kDaily, keys::WithBucket("k", day), "", r),
            Utc(2024, 6, 15) + absl::Hours(24 * 90));
  std::string record;
  keys::PutBigEndian64(&record, absl::ToUnixSeconds(Utc(2024, 6, 15, 12)));
  ExpectAgree(Table::kRequests, "k", record + "payload", r);
  ExpectAgree(Table::kTally, keys::TallyBucketKey("p", 1, absl::ToUnixSeconds(Utc(2024, 1, 2))), "",
              r);
}

TEST(ExpiryTest, ShortRecordsAreAlwaysExpiredAndOtherTablesNever) {
  Retention r;
  EXPECT_EQ(ExpiresAt(Table::kRequests, "k", "1234567", r), absl::InfinitePast());
  EXPECT_EQ(ExpiresAt(Table::kTally, "1234567", "", r), absl::InfinitePast());
  EXPECT_TRUE(IsExpired(Table::kRequests, "k", "1234567", r, Utc(1970, 1, 1)));
  for (Table t :
       {Table::kMeta, Table::kTotals, Table::kTallyMeta, Table::kGmLog, Table::kGmState}) {
    EXPECT_FALSE(TableExpires(t));
    EXPECT_FALSE(ExpiresAt(t, "k", "v", r).has_value());
    EXPECT_FALSE(IsExpired(t, "k", "v", r, absl::InfiniteFuture()));
  }
  EXPECT_TRUE(ExpiryDependsOnValue(Table::kRequests));
  EXPECT_FALSE(ExpiryDependsOnValue(Table::kDaily));
}

}  // namespace
}  // namespace countd::storage
