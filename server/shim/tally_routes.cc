// Tally routes:
//   POST /tally/<tracking_id>/<ecount|topk>/<counter>/<countable>/<window_minutes>
//   GET  /tally/<tracking_id>/ecount/<counter>/<countable>[/<window_minutes>][/]
//   GET  /tally/<tracking_id>/topk/<counter>[/<k>][/]?k=N&metadata=true
// ParseTallyRequest turns the request into its Tally request (pure); HandleTally sends it to the
// service and writes the Tally answer.
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "server/errors.h"
#include "server/http/url.h"
#include "server/logic/status_util.h"
#include "server/shim/internal/gigya/params.h"
#include "server/shim/internal/qubit_body.h"
#include "server/shim/internal/routes.h"

namespace countd::shim {
namespace {

absl::Status NoRoute() { return logic::NotFound("path", "no Tally route"); }

http::HttpResponse Saved() { return CorsJson("{\"status\":\"saved\"}"); }

// Strict decimal integer in [lo, hi]: digits only, no sign, no spaces.
bool ParseBounded(absl::string_view text, int64_t lo, int64_t hi, int64_t* out) {
  if (text.empty() || text.size() > 10) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(text, out) && *out >= lo && *out <= hi;
}

absl::StatusOr<TallyRequest> ParseIncrement(const http::HttpRequest& request,
                                            const std::vector<std::string>& seg) {
  v1::TallyIncrementRequest req;
  req.set_tenant(seg[1]);
  req.set_op(seg[2] == "topk" ? v1::OP_TOPK : v1::OP_ECOUNT);
  req.set_counter(seg[3]);
  req.set_countable(seg[4]);
  int64_t window = 0;
  if (!ParseBounded(seg[5], 1, 43200, &window)) {
    return logic::BadFormat("window_size", "must be a whole number of minutes in 1..43200");
  }
  req.set_window_minutes(static_cast<int32_t>(window));
  // Empty, or {"metadata":"<string>"} in any shape ReadQubitBody reads (metadata=... as a form).
  rapidjson::Document doc;
  if (!ReadQubitBody(request.body, {}, &doc).ok()) {
    return logic::BadFormat("body", "must be {\"metadata\":\"<string>\"}");
  }
  for (const auto& member : doc.GetObject()) {
    if (absl::string_view(member.name.GetString(), member.name.GetStringLength()) != "metadata" ||
        !member.value.IsString()) {
      return logic::BadFormat("body", "must be {\"metadata\":\"<string>\"}");
    }
    req.set_metadata(std::string(member.value.GetString(), member.value.GetStringLength()));
  }
  return TallyRequest(std::move(req));
}

// The parameter jQuery's `cache: false` adds to every GET ("_=<ms>"); Tally reads ignore it.
constexpr absl::string_view kCacheBuster = "_";

// GET ecount/<counter>/<countable>[/<window_size>]: the window is checked like a write's and then
// not used (the window belongs to the counter: the latest write sets it).
absl::StatusOr<TallyRequest> ParseCount(const http::HttpRequest& request,
                                        const std::vector<std::string>& seg) {
  // jQuery's cache:false adds "_=<ms>" to every GET; it is the only parameter ignored.
  absl::optional<std::vector<std::pair<std::string, std::string>>> params =
      http::ParseForm(request.query);
  if (!params.has_value()) return logic::BadFormat("query", "is malformed");
  for (const auto& [name, value] : *params) {
    if (name != kCacheBuster) return logic::BadValue(name, "ecount takes no parameters");
  }
  int64_t window = 0;
  if (seg.size() == 6 && !ParseBounded(seg[5], 1, 43200, &window)) {
    return logic::BadFormat("window_size", "must be a whole number of minutes in 1..43200");
  }
  v1::GetCountRequest req;
  req.set_tenant(seg[1]);
  req.set_counter(seg[3]);
  req.set_countable(seg[4]);
  return TallyRequest(std::move(req));
}

// GET topk/<counter>[/<k_value>]?k=N&metadata=true|false: k in the path, the query or both (then
// they must agree).
absl::StatusOr<TallyRequest> ParseTopK(const http::HttpRequest& request,
                                       const std::vector<std::string>& seg) {
  v1::GetTopKRequest req;
  req.set_tenant(seg[1]);
  req.set_counter(seg[3]);
  int64_t path_k = 0;
  if (seg.size() == 5) {
    if (!ParseBounded(seg[4], 1, 1000, &path_k)) {
      return logic::BadFormat("k_value", "must be a whole number in 1..1000");
    }
    req.set_k(static_cast<int32_t>(path_k));
  }
  absl::optional<std::vector<std::pair<std::string, std::string>>> params =
      http::ParseForm(request.query);
  if (!params.has_value()) return logic::BadFormat("query", "is malformed");
  absl::flat_hash_set<std::string> seen;
  for (const auto& [name, value] : *params) {
    if (!seen.insert(name).second) return logic::BadFormat(name, "given more than once");
    if (name == "k") {
      int64_t k = 0;
      if (!ParseBounded(value, 1, 1000, &k)) {
        return logic::BadFormat("k", "must be a whole number in 1..1000");
      }
      if (path_k != 0 && k != path_k) {
        return logic::BadValue(
            "k", absl::StrCat(k, " differs from the k_value ", path_k, " in the path"));
      }
      req.set_k(static_cast<int32_t>(k));
    } else if (name == kCacheBuster) {
      continue;  // jQuery's cache:false
    } else if (name == "metadata") {
      // The Gigya routes' boolean: true/false in any case, or 1/0; empty is absent.
      if (value.empty()) continue;
      absl::StatusOr<bool> with_metadata = ParseGigyaBool(name, value);
      if (!with_metadata.ok()) return with_metadata.status();
      req.set_with_metadata(*with_metadata);
    } else {
      return logic::BadValue(name, "is not a parameter of topk (k, metadata=true|false|1|0)");
    }
  }
  return TallyRequest(std::move(req));
}

// The service call for each kind of request, and its answer.
struct Call {
  api::TallyApi* api;

  http::HttpResponse operator()(const v1::TallyIncrementRequest& req) const {
    v1::TallyIncrementResponse resp;
    if (!api->Increment(req, &resp).ok()) return TallyFailure("POST", 400);
    return Saved();
  }

  http::HttpResponse operator()(const v1::GetCountRequest& req) const {
    v1::GetCountResponse resp;
    absl::Status s = api->GetCount(req, &resp);
    if (!s.ok()) return TallyFailure("GET", Classify(s).qubit);
    return CorsJson(absl::StrCat("{\"data\":\"", resp.count(), "\"}"));
  }

  http::HttpResponse operator()(const v1::GetTopKRequest& req) const {
    v1::GetTopKResponse resp;
    absl::Status s = api->GetTopK(req, &resp);
    // A counter with nothing counted has an empty ranking: clients iterate `data`.
    if (!s.ok() && Classify(s).qubit == 404) return CorsJson("{\"data\":[]}");
    if (!s.ok()) return TallyFailure("GET", Classify(s).qubit);
    std::string body = "{\"data\":[";
    for (int i = 0; i < resp.items_size(); ++i) {
      const v1::TopKItem& item = resp.items(i);
      absl::StrAppend(
          &body, i == 0 ? "[" : ",[",
          JsonQuote(absl::StrCat(req.tenant(), "::", req.counter(), "::topk::", item.countable())),
          ",\"", item.count(), ".0\"");
      if (req.with_metadata()) {
        absl::StrAppend(&body, ",", item.has_metadata() ? JsonQuote(item.metadata()) : "null");
      }
      body += "]";
    }
    body += "]}";
    return CorsJson(std::move(body));
  }
};

}  // namespace

absl::StatusOr<TallyRequest> ParseTallyRequest(const http::HttpRequest& request) {
  absl::optional<std::vector<std::string>> decoded = http::PathSegments(request.path);
  if (!decoded.has_value()) {
    return logic::BadFormat("path", "has a malformed percent-escape, %00 or an encoded '/'");
  }
  // tally <tracking_id> <op> <counter> ...
  std::vector<std::string> seg = *std::move(decoded);
  if (seg.size() < 4 || seg[0] != "tally" || (seg[2] != "ecount" && seg[2] != "topk")) {
    return NoRoute();
  }
  if (request.method == "POST") {
    DropTrailingSlash(&seg, 6);  // <op>/<counter>/<countable>/<window>/
    if (seg.size() != 6) return NoRoute();
    return ParseIncrement(request, seg);
  }
  if (request.method != "GET" && request.method != "HEAD") {
    return logic::BadValue(
        "method", absl::StrCat(logic::Quote(request.method), ": send POST to count, GET to read"));
  }
  // topk/<counter>/ is topk/<counter>, ecount/<counter>/<countable>/ is
  // ecount/<counter>/<countable>.
  DropTrailingSlash(&seg, seg[2] == "topk" ? 4 : 5);
  if (seg[2] == "ecount" && (seg.size() == 5 || seg.size() == 6)) return ParseCount(request, seg);
  if (seg[2] == "topk" && (seg.size() == 4 || seg.size() == 5)) return ParseTopK(request, seg);
  return NoRoute();
}

http::HttpResponse TallyFailure(absl::string_view method, int status) {
  if (method == "POST") return CorsJson("{\"error\":\"not saved\"}");
  return CorsJson(absl::StrCat("{\"status\":", status, "}"));
}

http::HttpResponse HandleTally(api::TallyApi* api, const http::HttpRequest& request) {
  absl::StatusOr<TallyRequest> req = ParseTallyRequest(request);
  if (!req.ok()) return TallyFailure(request.method, Classify(req.status()).qubit);
  return std::visit(Call{api}, *req);
}

}  // namespace countd::shim
