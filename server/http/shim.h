// server/http/shim.h — the JSON shim: legacy REST routes (Stash, Tally, Gigya-style), the
// canonical proto3-JSON mapping /v1/<Service>/<Method>, and the health endpoints, all answered
// in-process by the same service layer as gRPC.
#ifndef COUNTD_SERVER_HTTP_SHIM_H_
#define COUNTD_SERVER_HTTP_SHIM_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "server/grpc/counters_api.h"
#include "server/grpc/gm_api.h"
#include "server/grpc/tally_api.h"
#include "server/http/http_server.h"

namespace countd::http {

struct ShimServices {
  grpc_edge::CountersApi* counters = nullptr;
  grpc_edge::TallyApi* tally = nullptr;
  grpc_edge::GmApi* gm = nullptr;
  // OK when the database is open and accepts writes (GET /readyz).
  std::function<absl::Status()> ready;
  // The Prometheus text exposition (GET /metrics); empty = no /metrics route.
  std::function<std::string()> metrics;
};

// Routes HTTP requests to the services. Thread-safe; the services must outlive it.
class JsonShim {
 public:
  explicit JsonShim(ShimServices services);
  ~JsonShim();

  // Answers one request in the format of its route family.
  HttpResponse Handle(const HttpRequest& request);

  // Answers a request the HTTP server refused (too large, URL too long, malformed), in the route
  // family's format when the target says which family it was meant for.
  HttpResponse Reject(const std::string& target, absl::string_view kind);

  // A bounded label naming the route of `path` (the raw path, before '?') for metrics and logs:
  // "healthz", "readyz", "metrics", "stash.<op>", "tally.<op>", "gigya.<method>",
  // "canonical.<Service>.<Method>" for known routes (with `method` telling a Tally write from a
  // read), "unknown" for anything else. Never holds raw path text.
  std::string RouteLabel(absl::string_view method, absl::string_view path) const;

 private:
  class Canonical;
  ShimServices services_;
  std::unique_ptr<Canonical> canonical_;
  std::unique_ptr<absl::flat_hash_map<std::string, struct GigyaMethod>> gigya_;
};

}  // namespace countd::http

#endif  // COUNTD_SERVER_HTTP_SHIM_H_
