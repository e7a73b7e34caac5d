// Fuzz target: the canonical mapping (POST /v1/<Service>/<Method>, proto3 JSON) -> every service.
// Input format: tests/fuzz/fuzz_input.h; checks: tests/fuzz/route_fuzz.h.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/route_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  countd::fuzz::FuzzCanonicalRoutes(data, size);
  return 0;
}
