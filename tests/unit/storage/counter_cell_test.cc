// Tests of storage/counter_cell.h: the fixed encoding and the merge arithmetic.
#include "storage/counter_cell.h"

#include <cstdint>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace countd::storage {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

CounterCell Cell(int64_t count, absl::int128 value_micros, int64_t updated_ms) {
  CounterCell c;
  c.count = count;
  c.value_micros = value_micros;
  c.updated_ms = updated_ms;
  return c;
}

CounterCell RoundTrip(const CounterCell& in) {
  std::string bytes = EncodeCounterCell(in);
  EXPECT_EQ(bytes.size(), kCounterCellSize);
  CounterCell out = Cell(-7, -7, -7);  // garbage that decoding must overwrite
  EXPECT_TRUE(DecodeCounterCell(bytes, &out));
  return out;
}

TEST(CounterCellTest, DefaultCellIsZero) {
  CounterCell c;
  EXPECT_EQ(c.count, 0);
  EXPECT_EQ(c.value_micros, 0);
  EXPECT_EQ(c.updated_ms, 0);
  EXPECT_EQ(EncodeCounterCell(c), std::string(kCounterCellSize, '\0'));
}

TEST(CounterCellTest, RoundTripsPlainValues) {
  CounterCell in = Cell(42, 1234567, 1700000000123);
  EXPECT_EQ(RoundTrip(in), in);
}

TEST(CounterCellTest, RoundTripsNegativeValues) {
  CounterCell in = Cell(-5, -1000001, -1);
  CounterCell out = RoundTrip(in);
  EXPECT_EQ(out.count, -5);
  EXPECT_EQ(out.value_micros, absl::int128(-1000001));
  EXPECT_EQ(out.updated_ms, -1);
}

TEST(CounterCellTest, RoundTripsExtremeValues) {
  const absl::int128 huge_positive = absl::Int128Max();
  const absl::int128 huge_negative = absl::Int128Min();
  const absl::int128 above_64_bits = absl::MakeInt128(12345, 0xfedcba9876543210ull);
  const absl::int128 below_64_bits = -above_64_bits;
  for (const CounterCell& in :
       {Cell(kMax, huge_positive, kMax), Cell(kMin, huge_negative, kMin), Cell(1, above_64_bits, 2),
        Cell(-1, below_64_bits, 3),
        Cell(0, absl::int128(std::numeric_limits<int64_t>::min()) - 1, 0)}) {
    CounterCell out = RoundTrip(in);
    EXPECT_EQ(out.count, in.count);
    EXPECT_EQ(out.value_micros, in.value_micros);
    EXPECT_EQ(out.updated_ms, in.updated_ms);
  }
}

TEST(CounterCellTest, EncodingIsLittleEndianFixedLayout) {
  std::string bytes = EncodeCounterCell(Cell(0x0102, absl::MakeInt128(0x03, 0x04), 0x05));
  ASSERT_EQ(bytes.size(), 32u);
  EXPECT_EQ(bytes[0], '\x02');
  EXPECT_EQ(bytes[1], '\x01');
  EXPECT_EQ(bytes[8], '\x04');   // low 64 bits of the value
  EXPECT_EQ(bytes[16], '\x03');  // high 64 bits of the value
  EXPECT_EQ(bytes[24], '\x05');
}

TEST(CounterCellTest, DecodeRejectsWrongSize) {
  std::string good = EncodeCounterCell(Cell(1, 2, 3));
  CounterCell out = Cell(9, 9, 9);
  EXPECT_FALSE(DecodeCounterCell("", &out));
  EXPECT_FALSE(DecodeCounterCell(good.substr(0, 31), &out));
  EXPECT_FALSE(DecodeCounterCell(good + "x", &out));
  EXPECT_FALSE(DecodeCounterCell(std::string(64, '\0'), &out));
  EXPECT_EQ(out, Cell(9, 9, 9));  // untouched on failure
}

// Never reached through the API (|v| <= 1e21 micros per increment), but a corrupt stored value
// must not make the merge operator overflow a signed integer: the sum wraps modulo 2^128.
TEST(CounterCellTest, AddCellsWrapsValuesPastTheInt128Range) {
  EXPECT_EQ(AddCells(Cell(0, absl::Int128Max(), 0), Cell(0, 1, 0)).value_micros, absl::Int128Min());
  EXPECT_EQ(AddCells(Cell(0, absl::Int128Min(), 0), Cell(0, -1, 0)).value_micros,
            absl::Int128Max());
}

TEST(CounterCellTest, AddCellsSumsCountsAndValues) {
  CounterCell sum = AddCells(Cell(2, 300000, 10), Cell(3, -100000, 5));
  EXPECT_EQ(sum.count, 5);
  EXPECT_EQ(sum.value_micros, absl::int128(200000));
}

TEST(CounterCellTest, AddCellsKeepsLatestUpdateTime) {
  EXPECT_EQ(AddCells(Cell(1, 0, 10), Cell(1, 0, 5)).updated_ms, 10);
  EXPECT_EQ(AddCells(Cell(1, 0, 5), Cell(1, 0, 10)).updated_ms, 10);
  EXPECT_EQ(AddCells(Cell(1, 0, -5), Cell(1, 0, 0)).updated_ms, 0);
}

TEST(CounterCellTest, AddCellsSaturatesCountAtInt64Max) {
  EXPECT_EQ(AddCells(Cell(kMax, 0, 0), Cell(1, 0, 0)).count, kMax);
  EXPECT_EQ(AddCells(Cell(kMax - 1, 0, 0), Cell(kMax, 0, 0)).count, kMax);
  EXPECT_EQ(AddCells(Cell(kMax - 1, 0, 0), Cell(1, 0, 0)).count, kMax);
  EXPECT_EQ(AddCells(Cell(kMax, 0, 0), Cell(-1, 0, 0)).count, kMax - 1);
}

TEST(CounterCellTest, AddCellsSaturatesCountAtInt64Min) {
  EXPECT_EQ(AddCells(Cell(kMin, 0, 0), Cell(-1, 0, 0)).count, kMin);
  EXPECT_EQ(AddCells(Cell(kMin, 0, 0), Cell(kMin, 0, 0)).count, kMin);
  EXPECT_EQ(AddCells(Cell(kMin + 1, 0, 0), Cell(-1, 0, 0)).count, kMin);
  EXPECT_EQ(AddCells(Cell(kMin, 0, 0), Cell(kMax, 0, 0)).count, -1);
}

TEST(CounterCellTest, AddCellsCarriesValuesBeyond64Bits) {
  const absl::int128 big = absl::int128(std::numeric_limits<int64_t>::max());
  CounterCell sum = AddCells(Cell(0, big, 0), Cell(0, big, 0));
  EXPECT_EQ(sum.value_micros, big * 2);
  EXPECT_EQ(RoundTrip(sum).value_micros, big * 2);
}

}  // namespace
}  // namespace countd::storage
