// tests/fuzz/fuzz_input.h — turns a fuzz input into HTTP requests as the HTTP server would hand
// them to the JSON shim. The text format keeps seed files readable:
//
//   POST incr/t1/public/v1:c1            <- "<METHOD> <target>"; the target gets a per-target
//   prefix Content-Type: application/json       <- header lines until an empty line
//
//   {"dimension":"date"}                 <- the body: everything up to the separator
//   @@                                   <- a line "@@" starts the next request
//   GET get/t1/public/v1:c1:2024-03-01
//
// A first line without a space is a GET of that target. Arbitrary bytes are fine anywhere.
#ifndef COUNTD_TESTS_FUZZ_FUZZ_INPUT_H_
#define COUNTD_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/http/http_server.h"

namespace countd::fuzz {

// Requests per input beyond this are ignored (keeps each input fast).
inline constexpr size_t kMaxRequestsPerInput = 8;

// The peer address every fuzzed request comes from.
inline constexpr absl::string_view kFuzzRemoteIp = "203.0.113.7";

// Splits `data` into requests (see above), each target prefixed with `target_prefix` (e.g.
// "/stash/v1.1/count/"). Header names are lower-cased as the server does; `path` and `query`
// are split at the first '?'.
std::vector<http::HttpRequest> ReadRequests(absl::string_view data,
                                            absl::string_view target_prefix);

// A short printable description of `request` for failure messages.
std::string Describe(const http::HttpRequest& request);

}  // namespace countd::fuzz

#endif  // COUNTD_TESTS_FUZZ_FUZZ_INPUT_H_
