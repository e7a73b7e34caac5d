// server/shim/internal/routes.h — the route families of the JSON shim (internal to server/shim).
#ifndef COUNTD_SERVER_SHIM_INTERNAL_ROUTES_H_
#define COUNTD_SERVER_SHIM_INTERNAL_ROUTES_H_

#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "countd/v1/counters.pb.h"
#include "countd/v1/tally.pb.h"
#include "google/protobuf/message.h"
#include "server/api/counters_api.h"
#include "server/api/tally_api.h"
#include "server/http/http_server.h"
#include "server/shim/internal/json.h"  // JsonQuote, for every route family

namespace countd::shim {

// A JSON response with status 200 and browser-friendly CORS headers.
http::HttpResponse CorsJson(std::string body);
// One trailing slash after a route's last segment names the same route (a client joining its
// base URL with '/'): drops an empty last segment of `segments` (a path's, from
// http::PathSegments) when there are more than `shortest`, so that it never turns an empty
// last field into a missing one.
void DropTrailingSlash(std::vector<std::string>* segments, size_t shortest);
// The answer to a CORS preflight (OPTIONS) for the legacy browser routes: GET, POST and OPTIONS,
// with the request headers the preflight asks for (Access-Control-Request-Headers, e.g. a page's
// X-Requested-With) when they are a plain list of header names, else Content-Type.
http::HttpResponse CorsPreflight(const http::HttpRequest& request);

// --- Stash: /stash/v1.1/count/{incr,decr,get,getbatch}/<tracking_id>/public[/<key>] -----------

// One Stash call: the Counters request its route, method and body ask for.
using StashRequest =
    std::variant<v1::IncrRequest, v1::DecrRequest, v1::GetRequest, v1::GetBatchRequest>;

// Translates a Stash request into its Counters request. Pure and thread-safe; checks the form of
// the request only (the service checks the values). Bodies are read by ReadQubitBody
// (qubit_body.h). Errors: NOT_FOUND when the path names no Stash route; INVALID_ARGUMENT for a
// malformed path segment, the wrong HTTP method, a bad body or a key without the right number of
// ':'-separated parts.
absl::StatusOr<StashRequest> ParseStashRequest(const http::HttpRequest& request);

// Answers a Stash request (its path starts with "/stash/"): {"status":N[,"data":...]}, HTTP 200
// always.
http::HttpResponse HandleStash(api::CountersApi* api, const http::HttpRequest& request);
// {"status":N} for a Stash request that failed before reaching the service.
http::HttpResponse StashStatus(int status);

// --- Tally: /tally/<tracking_id>/<ecount|topk>/<counter>/... -----------------------------------

// One Tally call: the Tally request its route, method, query and body ask for.
using TallyRequest =
    std::variant<v1::TallyIncrementRequest, v1::GetCountRequest, v1::GetTopKRequest>;

// Translates a Tally request into its Tally request. Pure and thread-safe. Errors: NOT_FOUND when
// the path names no Tally route; INVALID_ARGUMENT for a malformed path segment, window, k (in the
// path or the query, or the two disagreeing), query or body, or an HTTP method the route does not
// take.
absl::StatusOr<TallyRequest> ParseTallyRequest(const http::HttpRequest& request);

// Answers a Tally request (its path starts with "/tally/"). HTTP 200 always.
http::HttpResponse HandleTally(api::TallyApi* api, const http::HttpRequest& request);
// The Tally failure body for a request refused before reaching the service: a write (POST)
// answers {"error":"not saved"}, a read {"status":N}.
http::HttpResponse TallyFailure(absl::string_view method, int status);

// --- Canonical: POST /v1/<Service>/<Method> ----------------------------------------------------

// Reads a canonical request into `message` (the method's request type): the HTTP method must be
// POST, the content type (when sent) JSON, and the body the message in proto3 JSON (blank = the
// default message; unknown fields are refused). Pure and thread-safe. Errors: INVALID_ARGUMENT
// saying which of these failed.
absl::Status ParseCanonicalRequest(const http::HttpRequest& request,
                                   google::protobuf::Message* message);

}  // namespace countd::shim

#endif  // COUNTD_SERVER_SHIM_INTERNAL_ROUTES_H_
