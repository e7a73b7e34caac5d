// Fuzz target: Stash routes (/stash/v1.1/count/{incr,decr,get,getbatch}/...) -> Counters requests
// -> {"status":N,...}. Input format: tests/fuzz/fuzz_input.h; checks: tests/fuzz/route_fuzz.h.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/route_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  countd::fuzz::FuzzStashRoutes(data, size);
  return 0;
}
