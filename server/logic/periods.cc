#include "server/logic/periods.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "server/logic/status_util.h"
#include "storage/keys.h"

namespace countd::logic {
namespace {

constexpr absl::Duration kMaxFutureSkew = absl::Minutes(5);

absl::CivilDay DayFromIndex(int32_t day) { return absl::CivilDay(1970, 1, 1) + day; }

int32_t IndexOfDay(absl::CivilDay d) {
  return static_cast<int32_t>(d - absl::CivilDay(1970, 1, 1));
}

bool AllDigits(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

int Num(absl::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// Builds a civil day and checks it did not normalize (e.g. Feb 30 -> Mar 2).
absl::optional<int32_t> CheckedDay(int y, int m, int d) {
  absl::CivilDay day(y, m, d);
  if (day.year() != y || day.month() != m || day.day() != d) return absl::nullopt;
  return IndexOfDay(day);
}

}  // namespace

std::string DayPeriodName(int32_t day) {
  absl::CivilDay d = DayFromIndex(day);
  return absl::StrFormat("%02d%02d%02d", d.year() % 100, d.month(), d.day());
}

std::string MonthPeriodName(int32_t month) {
  absl::CivilMonth m = absl::CivilMonth(1970, 1) + month;
  return absl::StrFormat("%02d%02d", m.year() % 100, m.month());
}

std::string IsoDate(int32_t day) {
  absl::CivilDay d = DayFromIndex(day);
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

absl::optional<int32_t> ParseIsoDate(absl::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return absl::nullopt;
  absl::string_view y = text.substr(0, 4), m = text.substr(5, 2), d = text.substr(8, 2);
  if (!AllDigits(y) || !AllDigits(m) || !AllDigits(d)) return absl::nullopt;
  return CheckedDay(Num(y), Num(m), Num(d));
}

absl::optional<int32_t> ParseDayPeriodName(absl::string_view text) {
  if (text.size() != 6 || !AllDigits(text)) return absl::nullopt;
  return CheckedDay(2000 + Num(text.substr(0, 2)), Num(text.substr(2, 2)), Num(text.substr(4, 2)));
}

absl::optional<int32_t> ParseMonthPeriodName(absl::string_view text) {
  if (text.size() != 4 || !AllDigits(text)) return absl::nullopt;
  int month = Num(text.substr(2, 2));
  if (month < 1 || month > 12) return absl::nullopt;
  absl::CivilMonth m(2000 + Num(text.substr(0, 2)), month);
  return static_cast<int32_t>(m - absl::CivilMonth(1970, 1));
}

int32_t DayOf(absl::Time t) { return storage::keys::DayIndex(t); }

int32_t MonthOf(absl::Time t) { return storage::keys::MonthIndex(t); }

int32_t MonthOfDay(int32_t day) {
  absl::CivilDay d = DayFromIndex(day);
  return static_cast<int32_t>(absl::CivilMonth(d) - absl::CivilMonth(1970, 1));
}

absl::StatusOr<absl::Time> ResolveEventTime(absl::string_view field,
                                            const absl::optional<int64_t>& event_time_ms,
                                            absl::Time now, int retention_days) {
  if (!event_time_ms.has_value()) return now;
  absl::Time t = absl::FromUnixMillis(*event_time_ms);
  if (t > now + kMaxFutureSkew) {
    return BadValue(field,
                    absl::StrCat(*event_time_ms, " is more than 5 minutes in the future (now ",
                                 absl::ToUnixMillis(now), ")"));
  }
  // Checked on the time first: day indexes are 32-bit, so a time ~2^32 days away would alias a
  // day inside the window.
  if (t < now - absl::Hours(24) * (int64_t{retention_days} + 1) ||
      DayOf(t) <= DayOf(now) - retention_days) {
    return BadValue(field, absl::StrCat(*event_time_ms, " is older than the retention of ",
                                        retention_days, " days"));
  }
  return t;
}

std::string LegacyTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace countd::logic
