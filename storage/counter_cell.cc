#include "storage/counter_cell.h"

#include <algorithm>
#include <limits>

#include "absl/status/status.h"

namespace countd::storage {
namespace {

void PutFixed64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(buf, 8);
}

uint64_t GetFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t out;
  if (!__builtin_add_overflow(a, b, &out)) return out;
  return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

}  // namespace

std::string EncodeCounterCell(const CounterCell& cell) {
  std::string out;
  out.reserve(kCounterCellSize);
  AppendCounterCell(cell, &out);
  return out;
}

void AppendCounterCell(const CounterCell& cell, std::string* out) {
  PutFixed64(out, static_cast<uint64_t>(cell.count));
  PutFixed64(out, absl::Uint128Low64(static_cast<absl::uint128>(cell.value_micros)));
  PutFixed64(out, absl::Uint128High64(static_cast<absl::uint128>(cell.value_micros)));
  PutFixed64(out, static_cast<uint64_t>(cell.updated_ms));
}

bool DecodeCounterCell(absl::string_view bytes, CounterCell* cell) {
  if (bytes.size() != kCounterCellSize) return false;
  const char* p = bytes.data();
  cell->count = static_cast<int64_t>(GetFixed64(p));
  uint64_t lo = GetFixed64(p + 8);
  uint64_t hi = GetFixed64(p + 16);
  cell->value_micros = static_cast<absl::int128>(absl::MakeUint128(hi, lo));
  cell->updated_ms = static_cast<int64_t>(GetFixed64(p + 24));
  return true;
}

CounterCell AddCells(const CounterCell& a, const CounterCell& b) {
  CounterCell out;
  out.count = SaturatingAdd(a.count, b.count);
  // Values are bounded per increment (|v| <= 1e21 micros) so 2^127 is out of reach in practice;
  // the sum is taken modulo 2^128 all the same, so that a corrupt stored value cannot make the
  // merge operator overflow a signed integer (undefined behaviour).
  out.value_micros = static_cast<absl::int128>(static_cast<absl::uint128>(a.value_micros) +
                                               static_cast<absl::uint128>(b.value_micros));
  out.updated_ms = std::max(a.updated_ms, b.updated_ms);
  return out;
}

absl::StatusOr<CounterCell> DecodeCounterCellOrDataLoss(absl::string_view bytes) {
  CounterCell cell;
  if (!DecodeCounterCell(bytes, &cell)) {
    return absl::DataLossError("storage: stored value is not a counter cell");
  }
  return cell;
}

}  // namespace countd::storage
