// tests/fuzz/invariants.h — properties every answer of the JSON shim must have, for the fuzz
// targets. A violated property prints what broke and aborts, which libFuzzer reports as a crash
// (and saves the input as the reproducer).
//
// The fuzzed services run over an in-memory store that never fails, so any server-fault answer
// (HTTP 5xx, Gigya 500001, Qubit 500, gRPC INTERNAL/UNAVAILABLE/UNKNOWN) is a bug too.
#ifndef COUNTD_TESTS_FUZZ_INVARIANTS_H_
#define COUNTD_TESTS_FUZZ_INVARIANTS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "rapidjson/document.h"
#include "server/http/http_server.h"

namespace countd::fuzz {

// Prints `what` and `context` to stderr and aborts.
[[noreturn]] void Fail(absl::string_view what, absl::string_view context);

// Fail(what, context) unless `ok`.
inline void Check(bool ok, absl::string_view what, absl::string_view context) {
  if (!ok) Fail(what, context);
}

// `request` and `response` for failure messages.
std::string Exchange(const http::HttpRequest& request, const http::HttpResponse& response);

// Parses `text` as RFC 8259 JSON: one value, valid UTF-8, no NaN/Infinity, nothing after it.
bool ParseStrictJson(absl::string_view text, rapidjson::Document* doc);

// For a request message the service accepted: every identifier (tenant, uid, reg_token, class
// and path of a counter, visitor_id, counter_name, counter, countable, action_id, challenge_id,
// challenges, request_id, ip) that is set is 1-256 bytes of printable ASCII, tenant is set,
// Stash names are URL-safe and Tally names hold no '/' or '\'; free text (titles, descriptions,
// badge URLs, metadata) is valid UTF-8 within its size limit; documented numeric bounds hold.
void CheckAcceptedRequest(const google::protobuf::Message& request, absl::string_view context);

// The answer of a Gigya-style route: the envelope (or JSONP around it) with consistent
// callId / errorCode / statusCode / statusReason / errorMessage / errorDetails and HTTP status.
// Returns the errorCode (-1 for a CORS preflight). `from_shim`: the answer came from
// JsonShim::Handle, which answers OPTIONS with the CORS preflight (AnswerGigya alone does not).
int CheckGigyaAnswer(const http::HttpRequest& request, const http::HttpResponse& response,
                     bool from_shim = true);

// A Stash answer: HTTP 200 and {"status":200,"data":...} or {"status":400|404}. Returns the body
// status (-1 for a CORS preflight).
int CheckStashAnswer(const http::HttpRequest& request, const http::HttpResponse& response);

// A Tally answer: HTTP 200 and one of the Tally bodies, matching the HTTP method. Returns true
// when it reports success.
bool CheckTallyAnswer(const http::HttpRequest& request, const http::HttpResponse& response);

// A canonical /v1 answer: HTTP 200 with a `response_type` message in proto3 JSON, or
// {"code","message","details"} with grpc-gateway's HTTP status for the code. `response_type` is
// nullptr when the route names no method. Returns true on HTTP 200.
bool CheckCanonicalAnswer(const http::HttpRequest& request, const http::HttpResponse& response,
                          const google::protobuf::Descriptor* response_type);

// The answer to a path that no route family claims: HTTP 404 {"error":"no route","path":...}.
void CheckNoRoute(const http::HttpRequest& request, const http::HttpResponse& response);

// The countd.v1 method that "/v1/<Service>/<Method>" names, or nullptr.
const google::protobuf::MethodDescriptor* CanonicalMethod(absl::string_view path);

}  // namespace countd::fuzz

#endif  // COUNTD_TESTS_FUZZ_INVARIANTS_H_
