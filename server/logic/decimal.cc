#include "server/logic/decimal.h"

#include <cmath>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/logic/status_util.h"

namespace countd::logic {

absl::StatusOr<absl::int128> ToMicros(absl::string_view field, double value) {
  if (!std::isfinite(value)) {
    return BadValue(field, absl::StrCat(value, " is not a finite number"));  // "nan", "inf"
  }
  if (std::fabs(value) > kMaxAbsValue) {
    // All 17 significant digits: 1000000000000000.2 must not read as the limit itself.
    return BadValue(
        field, absl::StrCat(absl::StrFormat("%.17g", value), " exceeds the magnitude limit 1e15"));
  }
  return absl::int128(std::round(value * 1e6));
}

std::string FormatMicros(absl::int128 micros) {
  bool negative = micros < 0;
  absl::uint128 magnitude = negative ? absl::uint128(0) - static_cast<absl::uint128>(micros)
                                     : static_cast<absl::uint128>(micros);
  absl::uint128 whole = magnitude / 1000000;
  uint64_t frac = static_cast<uint64_t>(magnitude % 1000000);
  std::string out = negative ? "-" : "";
  if (absl::Uint128High64(whole) == 0) {
    absl::StrAppend(&out, absl::Uint128Low64(whole));  // every value a counter reaches in practice
  } else {
    // absl::uint128 streams in decimal; the whole part of a value <= 2^127 / 1e6 fits.
    std::ostringstream os;
    os << whole;
    out += os.str();
  }
  if (frac != 0) {
    std::string digits = absl::StrCat(frac + 1000000).substr(1);  // 6 digits, leading zeros
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    out += ".";
    out += digits;
  }
  return out;
}

double MicrosToDouble(absl::int128 micros) {
  absl::int128 whole = micros / 1000000;
  absl::int128 frac = micros % 1000000;
  return static_cast<double>(whole) + static_cast<double>(frac) / 1e6;
}

}  // namespace countd::logic
