// Fuzz target: Tally routes (/tally/<tracking_id>/<ecount|topk>/...) -> Tally requests -> the Tally
// bodies. Input format: tests/fuzz/fuzz_input.h; checks: tests/fuzz/route_fuzz.h.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/route_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  countd::fuzz::FuzzTallyRoutes(data, size);
  return 0;
}
