// Fuzz target: Gigya accounts.* routes (registerCounters, incrementCounters, getCounters...):
// parameters by query, form or JSON body -> Counters requests -> the envelope. Input format:
// tests/fuzz/fuzz_input.h; checks: tests/fuzz/route_fuzz.h.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/route_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  countd::fuzz::FuzzGigyaRoutes(data, size, "/accounts.");
  return 0;
}
