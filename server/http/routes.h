// server/http/routes.h — the route families of the JSON shim (internal to server/http).
#ifndef COUNTD_SERVER_HTTP_ROUTES_H_
#define COUNTD_SERVER_HTTP_ROUTES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/grpc/counters_api.h"
#include "server/grpc/tally_api.h"
#include "server/http/http_server.h"

namespace countd::http {

// A JSON response with status 200 and browser-friendly CORS headers.
HttpResponse CorsJson(std::string body);
// The answer to a CORS preflight (OPTIONS) for the legacy browser routes.
HttpResponse CorsPreflight();

// Stash routes; `segments` are the decoded path segments ("stash", "v1.1", "count", ...).
// Body form: {"status":N[,"data":...]}, HTTP 200 always.
HttpResponse HandleStash(grpc_edge::CountersApi* api, const HttpRequest& request,
                         const std::vector<std::string>& segments);
// {"status":N} for a Stash request that failed before reaching the service.
HttpResponse StashStatus(int status);

// Tally routes; segments start with "tally". HTTP 200 always.
HttpResponse HandleTally(grpc_edge::TallyApi* api, const HttpRequest& request,
                         const std::vector<std::string>& segments);
// The Tally failure body for a request refused before reaching the service: a write (POST)
// answers {"error":"not saved"}, a read {"status":N}.
HttpResponse TallyFailure(absl::string_view method, int status);

// Serializes a JSON string literal (with quotes), escaping as JSON requires.
std::string JsonQuote(absl::string_view s);

}  // namespace countd::http

#endif  // COUNTD_SERVER_HTTP_ROUTES_H_
