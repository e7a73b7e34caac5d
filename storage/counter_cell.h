// storage/counter_cell.h — the value stored in counter tables and combined by the merge operator.
#ifndef COUNTD_STORAGE_COUNTER_CELL_H_
#define COUNTD_STORAGE_COUNTER_CELL_H_

#include <cstdint>
#include <string>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace countd::storage {

// A counter: an event count, an exact fixed-point value sum (millionths) and the time of the
// latest change. A write adds a CounterCell delta; the store combines deltas with AddCells, so
// increments never read before they write.
struct CounterCell {
  int64_t count = 0;
  absl::int128 value_micros = 0;
  int64_t updated_ms = 0;  // unix milliseconds; combined with max()

  friend bool operator==(const CounterCell& a, const CounterCell& b) {
    return a.count == b.count && a.value_micros == b.value_micros && a.updated_ms == b.updated_ms;
  }
};

// Encoded size of every CounterCell.
inline constexpr size_t kCounterCellSize = 32;

// Fixed 32-byte little-endian encoding.
std::string EncodeCounterCell(const CounterCell& cell);
// Appends EncodeCounterCell(cell) to `out`.
void AppendCounterCell(const CounterCell& cell, std::string* out);
// Returns false when `bytes` is not an encoded CounterCell.
bool DecodeCounterCell(absl::string_view bytes, CounterCell* cell);
// The cell of a stored value, as every Store reads it. Errors: kDataLoss when `bytes` is not an
// encoded CounterCell.
absl::StatusOr<CounterCell> DecodeCounterCellOrDataLoss(absl::string_view bytes);

// a + b: counts add and saturate at the int64 limits, values add, the later update time wins.
CounterCell AddCells(const CounterCell& a, const CounterCell& b);

}  // namespace countd::storage

#endif  // COUNTD_STORAGE_COUNTER_CELL_H_
