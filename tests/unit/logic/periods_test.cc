// Tests of server/logic/periods.h: UTC day/month bucket names, their parsers and event times.
#include "server/logic/periods.h"

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"

namespace countd::logic {
namespace {

int32_t Day(int y, int m, int d) {
  return static_cast<int32_t>(absl::CivilDay(y, m, d) - absl::CivilDay(1970, 1, 1));
}

int32_t Month(int y, int m) {
  return static_cast<int32_t>(absl::CivilMonth(y, m) - absl::CivilMonth(1970, 1));
}

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0, int ss = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

TEST(PeriodsTest, NamesADayBucket) {
  EXPECT_EQ(DayPeriodName(Day(2024, 1, 15)), "240115");
  EXPECT_EQ(DayPeriodName(Day(2000, 1, 1)), "000101");
  EXPECT_EQ(DayPeriodName(Day(2099, 12, 31)), "991231");
  EXPECT_EQ(DayPeriodName(Day(2024, 2, 29)), "240229");
}

TEST(PeriodsTest, NamesAMonthBucket) {
  EXPECT_EQ(MonthPeriodName(Month(2024, 1)), "2401");
  EXPECT_EQ(MonthPeriodName(Month(2023, 12)), "2312");
  EXPECT_EQ(MonthPeriodName(Month(2000, 10)), "0010");
}

TEST(PeriodsTest, FormatsIsoDates) {
  EXPECT_EQ(IsoDate(0), "1970-01-01");
  EXPECT_EQ(IsoDate(19723), "2024-01-01");
  EXPECT_EQ(IsoDate(Day(2024, 2, 29)), "2024-02-29");
  EXPECT_EQ(IsoDate(Day(1999, 12, 31)), "1999-12-31");
}

TEST(PeriodsTest, ParsesIsoDates) {
  EXPECT_EQ(ParseIsoDate("2024-01-01"), absl::optional<int32_t>(19723));
  EXPECT_EQ(ParseIsoDate("1970-01-01"), absl::optional<int32_t>(0));
  EXPECT_EQ(ParseIsoDate("2024-02-29"), absl::optional<int32_t>(Day(2024, 2, 29)));
  EXPECT_EQ(ParseIsoDate("2000-02-29"), absl::optional<int32_t>(Day(2000, 2, 29)));
  EXPECT_EQ(ParseIsoDate("2023-12-31"), absl::optional<int32_t>(Day(2023, 12, 31)));
}

TEST(PeriodsTest, RejectsInvalidIsoDates) {
  for (const char* bad :
       {"2023-02-29", "1900-02-29", "2024-02-30", "2024-04-31",  "2024-13-01",  "2024-00-10",
        "2024-01-00", "2024-01-32", "2024-1-01",  "2024-01-1",   "24-01-01",    "2024-01-011",
        "2024/01/01", "2024-01-0a", "",           " 2024-01-01", "2024-01-01 ", "+024-01-01",
        "2024-0-101", "20240101",   "2024--01-1", "-024-01-01"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ParseIsoDate(bad), absl::nullopt);
  }
}

TEST(PeriodsTest, ParsesDayPeriodNames) {
  EXPECT_EQ(ParseDayPeriodName("240115"), absl::optional<int32_t>(Day(2024, 1, 15)));
  EXPECT_EQ(ParseDayPeriodName("240229"), absl::optional<int32_t>(Day(2024, 2, 29)));
  EXPECT_EQ(ParseDayPeriodName("000101"), absl::optional<int32_t>(Day(2000, 1, 1)));
  EXPECT_EQ(ParseDayPeriodName("991231"), absl::optional<int32_t>(Day(2099, 12, 31)));
}

TEST(PeriodsTest, RejectsInvalidDayPeriodNames) {
  for (const char* bad : {"230229", "241301", "240001", "240100", "240132", "240431", "2401",
                          "24011", "2401151", "24011a", "-40115", " 40115", "", "last7Days"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ParseDayPeriodName(bad), absl::nullopt);
  }
}

TEST(PeriodsTest, ParsesMonthPeriodNames) {
  EXPECT_EQ(ParseMonthPeriodName("2401"), absl::optional<int32_t>(Month(2024, 1)));
  EXPECT_EQ(ParseMonthPeriodName("2412"), absl::optional<int32_t>(Month(2024, 12)));
  EXPECT_EQ(ParseMonthPeriodName("0001"), absl::optional<int32_t>(Month(2000, 1)));
  EXPECT_EQ(ParseMonthPeriodName("9912"), absl::optional<int32_t>(Month(2099, 12)));
}

TEST(PeriodsTest, RejectsInvalidMonthPeriodNames) {
  for (const char* bad : {"2413", "2400", "2499", "240", "24011", "24-1", "2a01", "", "total"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ParseMonthPeriodName(bad), absl::nullopt);
  }
}

TEST(PeriodsTest, DayNamesRoundTripThroughTheCentury) {
  for (int32_t day = Day(2000, 1, 1); day <= Day(2099, 12, 31); ++day) {
    std::string name = DayPeriodName(day);
    ASSERT_EQ(ParseDayPeriodName(name), absl::optional<int32_t>(day)) << name;
    ASSERT_EQ(ParseIsoDate(IsoDate(day)), absl::optional<int32_t>(day)) << IsoDate(day);
  }
  for (int32_t month = Month(2000, 1); month <= Month(2099, 12); ++month) {
    ASSERT_EQ(ParseMonthPeriodName(MonthPeriodName(month)), absl::optional<int32_t>(month));
  }
}

TEST(PeriodsTest, DayOfChangesAtUtcMidnight) {
  absl::Time midnight = Utc(2024, 3, 1);
  EXPECT_EQ(DayOf(midnight - absl::Milliseconds(1)), Day(2024, 2, 29));
  EXPECT_EQ(DayOf(Utc(2024, 2, 29, 23, 59, 59) + absl::Milliseconds(999)), Day(2024, 2, 29));
  EXPECT_EQ(DayOf(midnight), Day(2024, 3, 1));
  EXPECT_EQ(DayOf(absl::UnixEpoch()), 0);
}

TEST(PeriodsTest, MonthOfChangesAtTheFirstOfTheMonth) {
  EXPECT_EQ(MonthOf(Utc(2024, 1, 31, 23, 59, 59)), Month(2024, 1));
  EXPECT_EQ(MonthOf(Utc(2024, 2, 1)), Month(2024, 2));
  EXPECT_EQ(MonthOf(Utc(2023, 12, 31, 23, 59, 59)), Month(2023, 12));
  EXPECT_EQ(MonthOf(Utc(2024, 1, 1)), Month(2024, 1));
}

TEST(PeriodsTest, MonthOfDayMatchesTheCalendar) {
  EXPECT_EQ(MonthOfDay(Day(2024, 1, 31)), Month(2024, 1));
  EXPECT_EQ(MonthOfDay(Day(2024, 2, 1)), Month(2024, 2));
  EXPECT_EQ(MonthOfDay(Day(2024, 2, 29)), Month(2024, 2));
  EXPECT_EQ(MonthOfDay(0), 0);
}

TEST(PeriodsTest, FormatsLegacyTime) {
  EXPECT_EQ(LegacyTime(Utc(2013, 12, 6, 14, 5, 24)), "2013-12-06 14:05:24Z");
  EXPECT_EQ(LegacyTime(Utc(2024, 1, 1) + absl::Milliseconds(999)), "2024-01-01 00:00:00Z");
}

class ResolveEventTimeTest : public ::testing::Test {
 protected:
  static constexpr int kRetentionDays = 90;
  const absl::Time now_ = Utc(2024, 6, 15, 12, 0, 0) + absl::Milliseconds(250);

  absl::StatusOr<absl::Time> Resolve(absl::optional<int64_t> ms) {
    return ResolveEventTime("event_time_ms", ms, now_, kRetentionDays);
  }
  static int64_t Ms(absl::Time t) { return absl::ToUnixMillis(t); }

  void ExpectRejected(int64_t ms) {
    absl::StatusOr<absl::Time> t = Resolve(ms);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << ms;
    EXPECT_EQ(FieldOf(t.status()), "event_time_ms");
    EXPECT_NE(t.status().message().find(std::to_string(ms)), absl::string_view::npos) << t.status();
  }
};

TEST_F(ResolveEventTimeTest, AbsentMeansNow) {
  absl::StatusOr<absl::Time> t = Resolve(absl::nullopt);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, now_);
}

TEST_F(ResolveEventTimeTest, ReturnsTheGivenTime) {
  absl::Time past = now_ - absl::Hours(30) - absl::Milliseconds(7);
  absl::StatusOr<absl::Time> t = Resolve(Ms(past));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, past);
}

TEST_F(ResolveEventTimeTest, AcceptsUpToFiveMinutesInTheFuture) {
  absl::Time edge = now_ + absl::Minutes(5);
  absl::StatusOr<absl::Time> t = Resolve(Ms(edge));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, edge);
  ExpectRejected(Ms(edge) + 1);
  ExpectRejected(Ms(now_ + absl::Hours(24 * 365)));
}

TEST_F(ResolveEventTimeTest, AcceptsTheOldestDayOfRetention) {
  // Day buckets today-89 .. today are the newest 90: the first millisecond of today-89 is in.
  absl::Time oldest_day_start = Utc(2024, 6, 15) - absl::Hours(24 * 89);
  absl::StatusOr<absl::Time> t = Resolve(Ms(oldest_day_start));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, oldest_day_start);
}

TEST_F(ResolveEventTimeTest, RejectsOlderThanRetention) {
  absl::Time oldest_day_start = Utc(2024, 6, 15) - absl::Hours(24 * 89);
  ExpectRejected(Ms(oldest_day_start) - 1);  // last millisecond of day today-90
  ExpectRejected(Ms(now_ - absl::Hours(24 * 90)));
  ExpectRejected(0);
}

TEST_F(ResolveEventTimeTest, RejectsTimesFarOutsideTheCalendar) {
  // A time exactly 2^32 days before now has the same day index modulo 2^32; it must not pass
  // for today.
  const int64_t wrapped = Ms(now_) - (int64_t{1} << 32) * 86400000;
  ExpectRejected(wrapped);
  ExpectRejected(std::numeric_limits<int64_t>::min());
  ExpectRejected(std::numeric_limits<int64_t>::max());
  ExpectRejected(-1);
}

TEST_F(ResolveEventTimeTest, RetentionWindowFollowsTheArgument) {
  absl::Time yesterday = now_ - absl::Hours(24);
  EXPECT_TRUE(ResolveEventTime("f", Ms(yesterday), now_, 2).ok());
  absl::StatusOr<absl::Time> t = ResolveEventTime("f", Ms(yesterday), now_, 1);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldOf(t.status()), "f");
}

}  // namespace
}  // namespace countd::logic
