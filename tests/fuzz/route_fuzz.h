// tests/fuzz/route_fuzz.h — the body of the route-family fuzz targets: each input is a sequence of
// requests (fuzz_input.h) answered by a fresh FuzzWorld; every answer must have its family's form
// (invariants.h), and every request the service accepted, translated again by the family's pure
// parse step, must hold identifiers within the documented limits.
#ifndef COUNTD_TESTS_FUZZ_ROUTE_FUZZ_H_
#define COUNTD_TESTS_FUZZ_ROUTE_FUZZ_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace countd::fuzz {

// Gigya-style routes; targets get `prefix` prepended ("/accounts." or "/gm.").
void FuzzGigyaRoutes(const uint8_t* data, size_t size, absl::string_view prefix);
// Stash routes; targets get "/stash/v1.1/count/" prepended.
void FuzzStashRoutes(const uint8_t* data, size_t size);
// Tally routes; targets get "/tally/" prepended.
void FuzzTallyRoutes(const uint8_t* data, size_t size);
// The canonical mapping; targets get "/v1/" prepended ("Counters/Incr").
void FuzzCanonicalRoutes(const uint8_t* data, size_t size);

}  // namespace countd::fuzz

#endif  // COUNTD_TESTS_FUZZ_ROUTE_FUZZ_H_
