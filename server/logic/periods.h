// server/logic/periods.h — UTC day and month buckets: their names and the event-time rules.
//
// Buckets are numbered as in storage/keys.h: days since 1970-01-01, months since 1970-01.
#ifndef COUNTD_SERVER_LOGIC_PERIODS_H_
#define COUNTD_SERVER_LOGIC_PERIODS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace countd::logic {

// "YYMMDD" of a day bucket (Gigya's day period name), e.g. "240115".
std::string DayPeriodName(int32_t day);
// "YYMM" of a month bucket, e.g. "2401".
std::string MonthPeriodName(int32_t month);
// "YYYY-MM-DD" of a day bucket (Stash keys).
std::string IsoDate(int32_t day);

// Parses a strict "YYYY-MM-DD" naming a real calendar day; nullopt otherwise.
absl::optional<int32_t> ParseIsoDate(absl::string_view text);
// Parses "YYMMDD" (years 2000-2099) naming a real day; nullopt otherwise.
absl::optional<int32_t> ParseDayPeriodName(absl::string_view text);
// Parses "YYMM" (years 2000-2099, month 01-12); nullopt otherwise.
absl::optional<int32_t> ParseMonthPeriodName(absl::string_view text);

// Day bucket of `t` and the month bucket holding day bucket `day`.
int32_t DayOf(absl::Time t);
int32_t MonthOf(absl::Time t);
int32_t MonthOfDay(int32_t day);

// The instant a write applies at: `now` when `event_time_ms` is absent; else that time, which
// must be at most 5 minutes after `now` and inside the newest `retention_days` day buckets.
// Errors: INVALID_ARGUMENT naming `field`.
absl::StatusOr<absl::Time> ResolveEventTime(absl::string_view field,
                                            const absl::optional<int64_t>& event_time_ms,
                                            absl::Time now, int retention_days);

// Gigya's "yyyy-mm-dd hh:mm:ssZ" rendering of a time, e.g. "2013-12-06 14:05:24Z".
std::string LegacyTime(absl::Time t);

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_PERIODS_H_
