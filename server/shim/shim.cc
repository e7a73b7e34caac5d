#include "server/shim/shim.h"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "server/errors.h"
#include "server/http/url.h"
#include "server/logic/status_util.h"
#include "server/shim/internal/gigya/methods.h"
#include "server/shim/internal/gigya/params.h"
#include "server/shim/internal/routes.h"
#include "server/shim/internal/shim_auth.h"

namespace countd::shim {
namespace {

http::HttpResponse PlainJson(int status, std::string body) {
  http::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// {"code","message","details"} with grpc-gateway's HTTP status for the code.
http::HttpResponse CanonicalError(const absl::Status& s) {
  ErrorClass c = Classify(s);
  return PlainJson(c.http, absl::StrCat("{\"code\":", static_cast<int>(c.grpc), ",\"message\":",
                                        JsonQuote(s.message()), ",\"details\":[]}"));
}

// A canonical error; a 401 also says how to authenticate.
http::HttpResponse CanonicalAuthError(const absl::Status& s) {
  http::HttpResponse r = CanonicalError(s);
  if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"countd\"");
  return r;
}

// Sets Access-Control-Allow-Origin to `allow` ("" = none) and says the answer depends on the
// request's Origin.
http::HttpResponse WithAllowOrigin(http::HttpResponse r, const std::string& allow) {
  auto& h = r.headers;
  h.erase(std::remove_if(h.begin(), h.end(),
                         [](const auto& kv) { return kv.first == "Access-Control-Allow-Origin"; }),
          h.end());
  if (!allow.empty()) h.emplace_back("Access-Control-Allow-Origin", allow);
  h.emplace_back("Vary", "Origin");
  return r;
}

// The answer to a Stash / Tally request refused before it reached the service (Qubit `status`
// of `s`); a Tally write also says "not saved".
http::HttpResponse BrowserRefused(bool stash, absl::string_view method, const absl::Status& s) {
  int status = Classify(s).qubit;
  if (stash) return StashStatus(status);
  if (method == "POST") {
    return CorsJson(absl::StrCat("{\"error\":\"not saved\",\"status\":", status, "}"));
  }
  return TallyFailure(method, status);
}

// The route family a raw target belongs to.
enum class Family { kStash, kTally, kCanonical, kGigya, kOther };

// "/accounts.getCounters" -> "accounts.getCounters": one segment holding a dot, also with one
// trailing slash (a base URL joined with "/" by a client), which names the same method. Empty
// for every other path.
absl::string_view GigyaMethodOf(absl::string_view path) {
  if (path.size() < 2 || path[0] != '/') return {};
  absl::string_view name = path.substr(1);
  if (absl::EndsWith(name, "/")) name.remove_suffix(1);
  if (name.empty() || name.find('/') != absl::string_view::npos ||
      name.find('.') == absl::string_view::npos) {
    return {};
  }
  return name;
}

bool IsGigyaPath(absl::string_view path) { return !GigyaMethodOf(path).empty(); }

Family FamilyOf(absl::string_view path) {
  if (IsGigyaPath(path)) return Family::kGigya;
  if (absl::StartsWith(path, "/stash/")) return Family::kStash;
  if (absl::StartsWith(path, "/tally/")) return Family::kTally;
  if (absl::StartsWith(path, "/v1/")) return Family::kCanonical;
  return Family::kOther;
}

}  // namespace

http::HttpResponse CorsJson(std::string body) {
  http::HttpResponse r = PlainJson(200, std::move(body));
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  return r;
}

void DropTrailingSlash(std::vector<std::string>* segments, size_t shortest) {
  if (segments->size() > shortest && segments->back().empty()) segments->pop_back();
}

http::HttpResponse CorsPreflight(const http::HttpRequest& request) {
  // Header names are RFC 9110 tokens; a list of them, with blanks after the commas, is echoed
  // as sent (bounded), anything else is not.
  constexpr size_t kMaxRequestHeaders = 1024;
  std::string allow_headers = "Content-Type";
  const std::string* asked = request.Header("access-control-request-headers");
  if (asked != nullptr && !asked->empty() && asked->size() <= kMaxRequestHeaders &&
      std::all_of(asked->begin(), asked->end(),
                  [](char c) { return c == ',' || c == ' ' || http::IsTokenChar(c); })) {
    allow_headers = *asked;
  }
  http::HttpResponse r;
  r.status = 204;
  r.content_type = "";
  r.headers = {{"Access-Control-Allow-Origin", "*"},
               {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
               {"Access-Control-Allow-Headers", std::move(allow_headers)},
               {"Access-Control-Max-Age", "86400"},
               {"Vary", "Access-Control-Request-Headers"}};
  return r;
}

absl::Status ParseCanonicalRequest(const http::HttpRequest& request,
                                   google::protobuf::Message* message) {
  if (request.method != "POST") {
    return absl::InvalidArgumentError(
        absl::StrCat("method ", request.method, ": /v1/ routes take POST"));
  }
  const std::string* type = request.Header("content-type");
  if (type != nullptr && !absl::StartsWithIgnoreCase(*type, "application/json")) {
    return absl::InvalidArgumentError(
        absl::StrCat("content-type \"", *type, "\": send application/json"));
  }
  const std::string& body = request.body;
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return absl::OkStatus();
  // protobuf's parser keeps the last of repeated members and takes text that is not UTF-8 into
  // string fields; refuse both (and depth bombs) with the legacy routes' bounded parser first.
  rapidjson::Document doc;
  if (absl::Status s = ParseJson(body, &doc); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("body: ", s.message()));
  }
  if (absl::optional<std::string> twice = RepeatedMemberAnywhere(doc)) {
    return absl::InvalidArgumentError(
        absl::StrCat("body: member \"", *twice, "\" given more than once"));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), message, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("body: not a valid ", message->GetDescriptor()->full_name(),
                     " in proto3 JSON: ", std::string(parsed.message())));
  }
  return absl::OkStatus();
}

// POST /v1/<Service>/<Method>: the request message in proto3 JSON, answered in proto3 JSON.
class JsonShim::Canonical {
 public:
  // Called with the parsed request's tenant before the service runs; an error stops the call.
  using Admit = std::function<absl::Status(absl::string_view tenant)>;
  using Call = std::function<absl::Status(const http::HttpRequest& request, const Admit& admit,
                                          std::string* json)>;

  // `auth` nullptr = no credentials needed.
  Canonical(const ShimServices& s, ShimAuth* auth) : auth_(auth) {
    AddTable(api::kCountersMethods, s.counters);
    AddTable(api::kTallyMethods, s.tally);
    AddTable(api::kGmMethods, s.gm);
  }

  bool Has(absl::string_view route) const { return calls_.contains(route); }

  http::HttpResponse Handle(const http::HttpRequest& request, absl::string_view route) {
    auto it = calls_.find(route);
    if (it == calls_.end()) {
      return CanonicalError(absl::NotFoundError(absl::StrCat("no method /v1/", route)));
    }
    // Who calls, before anything about the request is looked at.
    absl::optional<logic::Principal> principal;
    if (auth_ != nullptr) {
      absl::StatusOr<logic::Principal> p = auth_->AuthenticateHeaders(request);
      if (!p.ok()) return CanonicalAuthError(p.status());
      principal = *std::move(p);
    }
    // The request names its tenant: the credential must be allowed to call this method on it.
    size_t slash = route.find('/');
    absl::string_view service = route.substr(0, slash);
    absl::string_view rpc = route.substr(slash + 1);
    Admit admit = [this, &principal, service, rpc](absl::string_view tenant) -> absl::Status {
      if (!principal.has_value()) return absl::OkStatus();
      if (tenant.empty()) return logic::MissingField("tenant");
      return auth_->Authorize(*principal, tenant, service, rpc);
    };
    std::string json;
    absl::Status s = it->second(request, admit, &json);
    if (!s.ok()) return CanonicalAuthError(s);
    return PlainJson(200, std::move(json));
  }

 private:
  // One route "<Service>/<Method>" per row of `table`, served by `api`.
  template <typename Table, typename Api>
  void AddTable(const Table& table, Api* api) {
    table.ForEach([&](const auto& row) {
      using Row = std::decay_t<decltype(row)>;
      Add<Row>(absl::StrCat(table.service, "/", row.name), api);
    });
  }

  template <typename Row>
  void Add(std::string route, typename Row::ApiType* api) {
    using Req = typename Row::Request;
    using Resp = typename Row::Response;
    calls_.emplace(std::move(route), [api](const http::HttpRequest& request, const Admit& admit,
                                           std::string* json) {
      Req req;
      absl::Status s = ParseCanonicalRequest(request, &req);
      if (!s.ok()) return s;
      s = admit(req.tenant());
      if (!s.ok()) return s;
      Resp resp;
      s = Row::Call(api, req, &resp);
      if (!s.ok()) return s;
      google::protobuf::util::JsonPrintOptions options;
      options.always_print_primitive_fields = true;
      auto printed = google::protobuf::util::MessageToJsonString(resp, json, options);
      if (!printed.ok()) return absl::InternalError("response does not print as JSON");
      return absl::OkStatus();
    });
  }

  ShimAuth* const auth_;
  absl::flat_hash_map<std::string, Call> calls_;
};

namespace {

std::unique_ptr<ShimAuth> NewAuth(const ShimServices& s) {
  if (s.tenants == nullptr) return nullptr;
  ShimAuthOptions options;
  options.tenants = s.tenants;
  options.clock = s.clock != nullptr ? s.clock : storage::RealClock();
  options.allow_insecure_secret = s.allow_insecure_secret;
  options.signature_window = s.signature_window;
  return std::make_unique<ShimAuth>(options);
}

}  // namespace

JsonShim::JsonShim(ShimServices services)
    : services_(std::move(services)),
      auth_(NewAuth(services_)),
      canonical_(std::make_unique<Canonical>(services_, auth_.get())),
      gigya_(std::make_unique<GigyaMethodTable>()) {
  AddAccountsMethods(services_.counters, gigya_.get());
  AddGmMethods(services_.gm, gigya_.get());
}

JsonShim::~JsonShim() = default;

http::HttpResponse JsonShim::Handle(const http::HttpRequest& request) {
  http::HttpResponse answer = Route(request);
  if (services_.before_reply) {
    absl::Status durable = services_.before_reply();
    if (!durable.ok()) return NotDurable(request.path, durable);
  }
  return answer;
}

http::HttpResponse JsonShim::NotDurable(const std::string& path, const absl::Status& status) {
  switch (FamilyOf(path)) {
    case Family::kStash: return StashStatus(Classify(status).qubit);
    case Family::kTally: return CorsJson("{\"error\":\"not saved\"}");
    case Family::kGigya: return GigyaRefused(status);
    case Family::kCanonical: return CanonicalError(status);
    case Family::kOther: break;
  }
  return PlainJson(Classify(status).http,
                   absl::StrCat("{\"error\":", JsonQuote(status.message()), "}"));
}

http::HttpResponse JsonShim::Route(const http::HttpRequest& request) {
  const std::string& path = request.path;
  if (path == "/healthz") return PlainJson(200, "{\"status\":\"ok\"}");
  if (path == "/readyz") {
    absl::Status s = services_.ready ? services_.ready() : absl::UnavailableError("no check");
    if (!s.ok()) {
      return PlainJson(
          503,
          absl::StrCat("{\"status\":\"unavailable\",\"reason\":", JsonQuote(s.message()), "}"));
    }
    return PlainJson(200, "{\"status\":\"ready\"}");
  }
  if (path == "/metrics" && services_.metrics) {
    if (request.method != "GET" && request.method != "HEAD") {
      http::HttpResponse r = PlainJson(405, "{\"error\":\"method not allowed\"}");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return r;
    }
    http::HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = services_.metrics();
    return r;
  }
  Family family = FamilyOf(path);
  if (family == Family::kCanonical) {
    return canonical_->Handle(request, absl::string_view(path).substr(4));
  }
  if (family == Family::kGigya) {
    if (request.method == "OPTIONS") return CorsPreflight(request);
    std::string name(GigyaMethodOf(path));
    auto it = gigya_->find(name);
    return AnswerGigya(it == gigya_->end() ? nullptr : &it->second, name, request, auth_.get());
  }
  if (family == Family::kStash || family == Family::kTally) {
    const bool stash = family == Family::kStash;
    if (auth_ != nullptr) {
      // The tracking id decides the origin and rate rules: read it before the route runs.
      absl::optional<std::vector<std::string>> segments = http::PathSegments(path);
      if (!segments.has_value()) {
        if (request.method == "OPTIONS") return CorsPreflight(request);
        return stash ? StashStatus(400) : TallyFailure(request.method, 400);
      }
      return HandleBrowser(request, stash, *segments);
    }
    if (request.method == "OPTIONS") return CorsPreflight(request);
    if (stash) return HandleStash(services_.counters, request);
    return HandleTally(services_.tally, request);
  }
  return PlainJson(404, absl::StrCat("{\"error\":\"no route\",\"path\":", JsonQuote(path), "}"));
}

http::HttpResponse JsonShim::HandleBrowser(const http::HttpRequest& request, bool stash,
                                           const std::vector<std::string>& segments) {
  // The tracking id: /stash/v1.1/count/<op>/<tracking_id>/... or /tally/<tracking_id>/...
  const size_t at = stash ? 4 : 1;
  if (segments.size() <= at) {
    // No tenant named: the route answers 404 without touching any data.
    if (request.method == "OPTIONS") return CorsPreflight(request);
    return stash ? HandleStash(services_.counters, request) : HandleTally(services_.tally, request);
  }
  const bool preflight = request.method == "OPTIONS";
  absl::StatusOr<std::string> allow = auth_->CheckBrowser(segments[at], request, !preflight);
  if (preflight) {
    // A refused origin gets no Access-Control-Allow-* headers: the browser does not send the
    // request.
    if (!allow.ok()) {
      http::HttpResponse r;
      r.status = 204;
      r.content_type = "";
      r.headers.emplace_back("Vary", "Origin");
      return r;
    }
    return WithAllowOrigin(CorsPreflight(request), *allow);
  }
  if (!allow.ok()) {
    return WithAllowOrigin(BrowserRefused(stash, request.method, allow.status()), "*");
  }
  http::HttpResponse r =
      stash ? HandleStash(services_.counters, request) : HandleTally(services_.tally, request);
  return WithAllowOrigin(std::move(r), *allow);
}

std::string JsonShim::RouteLabel(absl::string_view method, absl::string_view path) const {
  if (path == "/healthz") return "healthz";
  if (path == "/readyz") return "readyz";
  if (path == "/metrics" && services_.metrics) return "metrics";
  // Only names from fixed tables reach the label, so its values stay few.
  switch (FamilyOf(path)) {
    case Family::kGigya: {
      std::string name(path.substr(1));
      if (gigya_->contains(name)) return absl::StrCat("gigya.", name);
      break;
    }
    case Family::kCanonical: {
      absl::string_view route = path.substr(4);
      if (canonical_->Has(route)) {
        std::string label = absl::StrCat("canonical.", route);
        std::replace(label.begin(), label.end(), '/', '.');
        return label;
      }
      break;
    }
    case Family::kStash: {
      // /stash/v1.1/count/<op>/...
      std::vector<absl::string_view> seg = absl::StrSplit(path.substr(1), '/');
      if (seg.size() >= 4) {
        for (const char* op : {"incr", "decr", "get", "getbatch"}) {
          if (seg[3] == op) return absl::StrCat("stash.", op);
        }
      }
      break;
    }
    case Family::kTally: {
      // /tally/<tracking_id>/<ecount|topk>/...; POST is an increment.
      std::vector<absl::string_view> seg = absl::StrSplit(path.substr(1), '/');
      if (seg.size() >= 3 && (seg[2] == "ecount" || seg[2] == "topk")) {
        return method == "POST" ? "tally.increment" : absl::StrCat("tally.", seg[2]);
      }
      break;
    }
    case Family::kOther: break;
  }
  return "unknown";
}

http::HttpResponse JsonShim::Reject(const std::string& target, absl::string_view kind) {
  absl::string_view path = absl::string_view(target).substr(0, target.find('?'));
  int status = kind == http::kRejectBodyTooLarge     ? 413
               : kind == http::kRejectHeaderTooLarge ? 431
               : kind == http::kRejectUriTooLong     ? 414
                                                     : 400;
  http::HttpResponse r;
  switch (FamilyOf(path)) {
    case Family::kStash: r = StashStatus(400); break;
    case Family::kTally:
      // The method is unknown here; a refused request saved nothing either way.
      r = CorsJson("{\"error\":\"not saved\"}");
      break;
    case Family::kGigya:
      r = GigyaRefused(logic::Unparseable(absl::StrCat("request refused: ", kind)));
      break;
    case Family::kCanonical:
      r = CanonicalError(absl::InvalidArgumentError(absl::StrCat("request refused: ", kind)));
      r.status = status;
      break;
    case Family::kOther:
      r = PlainJson(status, absl::StrCat("{\"error\":", JsonQuote(kind), "}"));
      break;
  }
  return r;
}

}  // namespace countd::shim
