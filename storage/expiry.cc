// The expiry rule of storage/expiry.h. IsExpired keeps the exact comparisons the RocksDB store
// always made; ExpiresAt is the same rule solved for the time (expiry_test checks they agree at
// every boundary).
#include "storage/expiry.h"

#include <cstdint>

#include "absl/time/civil_time.h"
#include "storage/keys.h"

namespace countd::storage {
namespace {

// Start (UTC) of day `day` and of month `month` since the epoch.
absl::Time DayStart(int64_t day) { return absl::FromUnixSeconds(day * 86400); }

absl::Time MonthStart(int64_t month) {
  absl::CivilMonth m = absl::CivilMonth(1970, 1) + month;
  return absl::FromCivil(m, absl::UTCTimeZone());
}

}  // namespace

bool TableExpires(Table table) {
  return table == Table::kDaily || table == Table::kStash || table == Table::kMonthly ||
         table == Table::kRequests || table == Table::kTally || table == Table::kGmDaily;
}

bool ExpiryDependsOnValue(Table table) { return table == Table::kRequests; }

std::optional<int32_t> LastExpiredBucket(Table table, const Retention& retention, absl::Time now) {
  switch (table) {
    case Table::kDaily: return keys::DayIndex(now) - retention.daily_days;
    case Table::kStash: return keys::DayIndex(now) - retention.stash_days;
    case Table::kMonthly: return keys::MonthIndex(now) - retention.monthly_months;
    case Table::kGmDaily: return keys::DayIndex(now) - retention.gm_daily_days;
    default: return std::nullopt;
  }
}

bool IsExpired(Table table, absl::string_view key, absl::string_view value,
               const Retention& retention, absl::Time now) {
  switch (table) {
    case Table::kDaily:
    case Table::kStash:
    case Table::kMonthly:
    case Table::kGmDaily: return keys::BucketOf(key) <= *LastExpiredBucket(table, retention, now);
    case Table::kRequests:
      return value.size() < 8 || keys::GetBigEndian64(value) <= absl::ToUnixSeconds(now);
    case Table::kTally:
      return key.size() < 8 ||
             keys::GetBigEndian64(key.substr(key.size() - 8)) <= absl::ToUnixSeconds(now);
    default: return false;
  }
}

std::optional<absl::Time> ExpiresAt(Table table, absl::string_view key, absl::string_view value,
                                    const Retention& retention) {
  // A bucket b of a table keeping n buckets is expired once the current bucket index reaches
  // b + n, i.e. from the start of bucket b + n.
  switch (table) {
    case Table::kDaily: return DayStart(int64_t{keys::BucketOf(key)} + retention.daily_days);
    case Table::kStash: return DayStart(int64_t{keys::BucketOf(key)} + retention.stash_days);
    case Table::kMonthly:
      return MonthStart(int64_t{keys::BucketOf(key)} + retention.monthly_months);
    case Table::kGmDaily: return DayStart(int64_t{keys::BucketOf(key)} + retention.gm_daily_days);
    case Table::kRequests:
      if (value.size() < 8) return absl::InfinitePast();
      return absl::FromUnixSeconds(keys::GetBigEndian64(value));
    case Table::kTally:
      if (key.size() < 8) return absl::InfinitePast();
      return absl::FromUnixSeconds(keys::GetBigEndian64(key.substr(key.size() - 8)));
    default: return std::nullopt;
  }
}

}  // namespace countd::storage
