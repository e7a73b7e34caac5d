// tests/testing/counter_cells.h — a CounterCell from its three fields, for storage tests.
#ifndef COUNTD_TESTS_TESTING_COUNTER_CELLS_H_
#define COUNTD_TESTS_TESTING_COUNTER_CELLS_H_

#include <cstdint>

#include "absl/numeric/int128.h"
#include "storage/counter_cell.h"

namespace countd::test {

inline storage::CounterCell Cell(int64_t count, absl::int128 value_micros = 0,
                                 int64_t updated_ms = 0) {
  storage::CounterCell c;
  c.count = count;
  c.value_micros = value_micros;
  c.updated_ms = updated_ms;
  return c;
}

}  // namespace countd::test

#endif  // COUNTD_TESTS_TESTING_COUNTER_CELLS_H_
