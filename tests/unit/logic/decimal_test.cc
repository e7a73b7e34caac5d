// Tests of server/logic/decimal.h: exact fixed-point values with 6 fractional digits.
#include "server/logic/decimal.h"

#include <limits>
#include <string>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"

namespace countd::logic {
namespace {

absl::int128 Micros(double v) {
  absl::StatusOr<absl::int128> m = ToMicros("value", v);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : absl::int128(-424242);
}

TEST(DecimalTest, ConvertsToMillionths) {
  EXPECT_EQ(Micros(0), 0);
  EXPECT_EQ(Micros(1), 1000000);
  EXPECT_EQ(Micros(0.1), 100000);
  EXPECT_EQ(Micros(0.000001), 1);
  EXPECT_EQ(Micros(123.456789), 123456789);
  EXPECT_EQ(Micros(-2.5), -2500000);
  EXPECT_EQ(Micros(-0.0), 0);
}

TEST(DecimalTest, TenTimesPointOneIsExactlyOne) {
  absl::int128 sum = 0;
  double float_sum = 0;
  for (int i = 0; i < 10; ++i) {
    sum += Micros(0.1);
    float_sum += 0.1;
  }
  ASSERT_NE(float_sum, 1.0);  // the point of fixed point: doubles drift
  EXPECT_EQ(sum, 1000000);
  EXPECT_EQ(FormatMicros(sum), "1");
  EXPECT_EQ(MicrosToDouble(sum), 1.0);
}

TEST(DecimalTest, RoundsToSixFractionalDigits) {
  EXPECT_EQ(Micros(0.1234564), 123456);
  EXPECT_EQ(Micros(0.1234566), 123457);
  EXPECT_EQ(Micros(0.0000004), 0);
  EXPECT_EQ(Micros(0.0000006), 1);
  EXPECT_EQ(Micros(1.9999999), 2000000);
  EXPECT_EQ(Micros(0.3), 300000);  // 0.3 is 0.299999999999999988898 as a double
}

TEST(DecimalTest, RoundsNegativeValuesAwayFromZero) {
  EXPECT_EQ(Micros(-0.1234566), -123457);
  EXPECT_EQ(Micros(-0.1234564), -123456);
  EXPECT_EQ(Micros(-0.0000006), -1);
  EXPECT_EQ(Micros(-0.0000004), 0);
  EXPECT_EQ(Micros(-0.1), -100000);
}

TEST(DecimalTest, AcceptsTheMagnitudeLimit) {
  EXPECT_EQ(Micros(1e15), absl::int128(1000000000000000) * 1000000);
  EXPECT_EQ(Micros(-1e15), -absl::int128(1000000000000000) * 1000000);
  EXPECT_EQ(Micros(123456789.5), absl::int128(123456789500000));
}

TEST(DecimalTest, RejectsNonFiniteAndHugeValuesNamingTheField) {
  for (double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity(), 1e16, -1e16, 1e15 * 1.0000001,
        std::numeric_limits<double>::max()}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<absl::int128> m = ToMicros("counters[4].value", bad);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(FieldOf(m.status()), "counters[4].value");
    EXPECT_NE(m.status().message().find("counters[4].value"), absl::string_view::npos);
  }
}

// The message names the value too, precisely enough to tell it from the limit.
TEST(DecimalTest, RefusalsNameTheValue) {
  auto message = [](double v) { return std::string(ToMicros("v", v).status().message()); };
  EXPECT_EQ(message(std::numeric_limits<double>::quiet_NaN()), "v: nan is not a finite number");
  EXPECT_EQ(message(-std::numeric_limits<double>::infinity()), "v: -inf is not a finite number");
  EXPECT_EQ(message(1000000000000000.2), "v: 1000000000000000.2 exceeds the magnitude limit 1e15");
  EXPECT_EQ(message(-1000000000000001), "v: -1000000000000001 exceeds the magnitude limit 1e15");
}

TEST(DecimalTest, FormatsShortestExactDecimal) {
  EXPECT_EQ(FormatMicros(0), "0");
  EXPECT_EQ(FormatMicros(1000000), "1");
  EXPECT_EQ(FormatMicros(-500000), "-0.5");
  EXPECT_EQ(FormatMicros(1), "0.000001");
  EXPECT_EQ(FormatMicros(-1), "-0.000001");
  EXPECT_EQ(FormatMicros(-12500000), "-12.5");
  EXPECT_EQ(FormatMicros(123456789), "123.456789");
  EXPECT_EQ(FormatMicros(100010), "0.10001");
  EXPECT_EQ(FormatMicros(10000000), "10");
}

TEST(DecimalTest, FormatsHugeValues) {
  EXPECT_EQ(FormatMicros(absl::int128(1000000000000000) * 1000000), "1000000000000000");
  EXPECT_EQ(FormatMicros(absl::Int128Max()), "170141183460469231731687303715884.105727");
  // Whole parts on both sides of 2^64 (formatted by different code).
  const absl::int128 below = static_cast<absl::int128>(absl::MakeUint128(0, ~uint64_t{0}));
  EXPECT_EQ(FormatMicros(below * 1000000 + 1), "18446744073709551615.000001");
  EXPECT_EQ(FormatMicros(-(below + 1) * 1000000), "-18446744073709551616");
  EXPECT_EQ(FormatMicros(absl::Int128Min()), "-170141183460469231731687303715884.105728");
  EXPECT_EQ(FormatMicros(absl::int128(std::numeric_limits<int64_t>::max()) * 10),
            "92233720368547.75807");
}

TEST(DecimalTest, ConvertsMicrosToTheNearestDouble) {
  EXPECT_EQ(MicrosToDouble(0), 0.0);
  EXPECT_EQ(MicrosToDouble(-500000), -0.5);
  EXPECT_DOUBLE_EQ(MicrosToDouble(123456789), 123.456789);
  EXPECT_DOUBLE_EQ(MicrosToDouble(-1), -0.000001);
  EXPECT_DOUBLE_EQ(MicrosToDouble(absl::int128(1000000000000000) * 1000000), 1e15);
}

TEST(DecimalTest, FormatAndToMicrosAgreeOnRoundTrip) {
  for (double v : {0.1, 0.25, -7.125, 99.999999, 1e-6, 5e14 + 0.5}) {
    SCOPED_TRACE(v);
    EXPECT_EQ(Micros(std::stod(FormatMicros(Micros(v)))), Micros(v));
  }
}

}  // namespace
}  // namespace countd::logic
