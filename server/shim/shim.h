// server/shim/shim.h — the JSON shim: legacy REST routes (Stash, Tally, Gigya-style), the
// canonical proto3-JSON mapping /v1/<Service>/<Method>, and the health endpoints, all answered
// in-process by the same service layer as gRPC.
#ifndef COUNTD_SERVER_SHIM_SHIM_H_
#define COUNTD_SERVER_SHIM_SHIM_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/api/counters_api.h"
#include "server/api/gm_api.h"
#include "server/api/tally_api.h"
#include "server/http/http_server.h"
#include "server/logic/tenants.h"
#include "storage/clock.h"

namespace countd::shim {

class ShimAuth;

struct ShimServices {
  api::CountersApi* counters = nullptr;
  api::TallyApi* tally = nullptr;
  api::GmApi* gm = nullptr;
  // OK when the database is open and accepts writes (GET /readyz).
  std::function<absl::Status()> ready;
  // The Prometheus text exposition (GET /metrics); empty = no /metrics route.
  std::function<std::string()> metrics;
  // Called after a route did its work and before its answer goes out: makes durable whatever the
  // answer may show (countd: the WAL flush of writes whose callers have not been answered yet,
  // Store::FlushWal). An error replaces the answer with the route family's form of it. Empty =
  // nothing to do.
  std::function<absl::Status()> before_reply;

  // Authentication (README: Gigya request signing). nullptr = --auth=off: every route answers
  // without credentials, as before tenants existed. Must outlive the shim.
  logic::TenantRegistry* tenants = nullptr;
  // Accept the Gigya `secret` parameter over plain HTTP (--allow-insecure-secret).
  bool allow_insecure_secret = false;
  // How far a signed request's timestamp may be from the server's clock (--signature-window);
  // its nonce is remembered that long.
  absl::Duration signature_window = absl::Seconds(120);
  // Time source for signature windows and nonce expiry; nullptr = the real clock.
  const storage::Clock* clock = nullptr;
};

// Routes HTTP requests to the services. Thread-safe; the services must outlive it.
class JsonShim {
 public:
  explicit JsonShim(ShimServices services);
  ~JsonShim();

  // Answers one request in the format of its route family.
  http::HttpResponse Handle(const http::HttpRequest& request);

  // The answer of a request whose work was done but could not be made durable (`status`), in
  // the route family's format.
  http::HttpResponse NotDurable(const std::string& path, const absl::Status& status);

  // Answers a request the HTTP server refused (too large, URL too long, malformed), in the route
  // family's format when the target says which family it was meant for.
  http::HttpResponse Reject(const std::string& target, absl::string_view kind);

  // A bounded label naming the route of `path` (the raw path, before '?') for metrics and logs:
  // "healthz", "readyz", "metrics", "stash.<op>", "tally.<op>", "gigya.<method>",
  // "canonical.<Service>.<Method>" for known routes (with `method` telling a Tally write from a
  // read), "unknown" for anything else. Never holds raw path text.
  std::string RouteLabel(absl::string_view method, absl::string_view path) const;

 private:
  class Canonical;
  http::HttpResponse Route(const http::HttpRequest& request);
  // The Stash / Tally routes with the tenant's origin and rate rules applied (auth on).
  http::HttpResponse HandleBrowser(const http::HttpRequest& request, bool stash,
                                   const std::vector<std::string>& segments);

  ShimServices services_;
  std::unique_ptr<ShimAuth> auth_;  // nullptr = authentication off
  std::unique_ptr<Canonical> canonical_;
  std::unique_ptr<absl::flat_hash_map<std::string, struct GigyaMethod>> gigya_;
};

}  // namespace countd::shim

#endif  // COUNTD_SERVER_SHIM_SHIM_H_
