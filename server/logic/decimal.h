// server/logic/decimal.h — exact fixed-point values with 6 fractional digits.
#ifndef COUNTD_SERVER_LOGIC_DECIMAL_H_
#define COUNTD_SERVER_LOGIC_DECIMAL_H_

#include <string>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace countd::logic {

// Largest magnitude accepted for one value.
inline constexpr double kMaxAbsValue = 1e15;

// `value` rounded to 6 fractional digits (half away from zero), in millionths.
// Errors: INVALID_ARGUMENT naming `field` when not finite or |value| > 1e15.
absl::StatusOr<absl::int128> ToMicros(absl::string_view field, double value);

// Shortest exact decimal of `micros` millionths: "0", "1", "-12.5", "0.000001".
std::string FormatMicros(absl::int128 micros);

// Nearest double of `micros` millionths.
double MicrosToDouble(absl::int128 micros);

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_DECIMAL_H_
