// Tally routes:
//   POST /tally/<tracking_id>/<ecount|topk>/<counter>/<countable>/<window_minutes>
//   GET  /tally/<tracking_id>/ecount/<counter>/<countable>
//   GET  /tally/<tracking_id>/topk/<counter>[/]?k=N&metadata=true
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "server/errors.h"
#include "server/http/routes.h"
#include "server/http/url.h"

namespace countd::http {
namespace {

constexpr int kBadRequest = 400;
constexpr int kNotFound = 404;

HttpResponse Saved() { return CorsJson("{\"status\":\"saved\"}"); }

// Strict decimal integer in [lo, hi]: digits only, no sign, no spaces.
bool ParseBounded(absl::string_view text, int64_t lo, int64_t hi, int64_t* out) {
  if (text.empty() || text.size() > 10) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(text, out) && *out >= lo && *out <= hi;
}

HttpResponse Increment(grpc_edge::TallyApi* api, const HttpRequest& request,
                       const std::vector<std::string>& seg) {
  v1::TallyIncrementRequest req;
  req.set_tenant(seg[1]);
  req.set_op(seg[2] == "topk" ? v1::OP_TOPK : v1::OP_ECOUNT);
  req.set_counter(seg[3]);
  req.set_countable(seg[4]);
  int64_t window = 0;
  if (!ParseBounded(seg[5], 1, 43200, &window)) return TallyFailure("POST", kBadRequest);
  req.set_window_minutes(static_cast<int32_t>(window));
  if (request.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    rapidjson::Document doc;
    doc.Parse(request.body.data(), request.body.size());
    if (doc.HasParseError() || !doc.IsObject()) return TallyFailure("POST", kBadRequest);
    for (const auto& member : doc.GetObject()) {
      if (absl::string_view(member.name.GetString()) != "metadata" || !member.value.IsString()) {
        return TallyFailure("POST", kBadRequest);
      }
      req.set_metadata(std::string(member.value.GetString(), member.value.GetStringLength()));
    }
  }
  v1::TallyIncrementResponse resp;
  if (!api->Increment(req, &resp).ok()) return TallyFailure("POST", kBadRequest);
  return Saved();
}

HttpResponse Count(grpc_edge::TallyApi* api, const HttpRequest& request,
                   const std::vector<std::string>& seg) {
  if (!request.query.empty()) return TallyFailure("GET", kBadRequest);
  v1::GetCountRequest req;
  req.set_tenant(seg[1]);
  req.set_counter(seg[3]);
  req.set_countable(seg[4]);
  v1::GetCountResponse resp;
  absl::Status s = api->GetCount(req, &resp);
  if (!s.ok()) return TallyFailure("GET", Classify(s).qubit);
  return CorsJson(absl::StrCat("{\"data\":\"", resp.count(), "\"}"));
}

HttpResponse TopK(grpc_edge::TallyApi* api, const HttpRequest& request,
                  const std::vector<std::string>& seg) {
  v1::GetTopKRequest req;
  req.set_tenant(seg[1]);
  req.set_counter(seg[3]);
  absl::optional<std::vector<std::pair<std::string, std::string>>> params =
      ParseForm(request.query);
  if (!params.has_value()) return TallyFailure("GET", kBadRequest);
  for (const auto& [name, value] : *params) {
    if (name == "k") {
      int64_t k = 0;
      if (!ParseBounded(value, 1, 1000, &k)) return TallyFailure("GET", kBadRequest);
      req.set_k(static_cast<int32_t>(k));
    } else if (name == "metadata" && (value == "true" || value == "false")) {
      req.set_with_metadata(value == "true");
    } else {
      return TallyFailure("GET", kBadRequest);
    }
  }
  v1::GetTopKResponse resp;
  absl::Status s = api->GetTopK(req, &resp);
  if (!s.ok()) return TallyFailure("GET", Classify(s).qubit);
  std::string body = "{\"data\":[";
  for (int i = 0; i < resp.items_size(); ++i) {
    const v1::TopKItem& item = resp.items(i);
    absl::StrAppend(&body, i == 0 ? "[" : ",[",
                    JsonQuote(absl::StrCat(seg[1], "::", seg[3], "::topk::", item.countable())),
                    ",\"", item.count(), ".0\"");
    if (req.with_metadata()) {
      absl::StrAppend(&body, ",", item.has_metadata() ? JsonQuote(item.metadata()) : "null");
    }
    body += "]";
  }
  body += "]}";
  return CorsJson(std::move(body));
}

}  // namespace

HttpResponse TallyFailure(absl::string_view method, int status) {
  if (method == "POST") return CorsJson("{\"error\":\"not saved\"}");
  return CorsJson(absl::StrCat("{\"status\":", status, "}"));
}

HttpResponse HandleTally(grpc_edge::TallyApi* api, const HttpRequest& request,
                         const std::vector<std::string>& seg) {
  // tally <tracking_id> <op> <counter> ...
  if (seg.size() < 4 || (seg[2] != "ecount" && seg[2] != "topk")) {
    return TallyFailure(request.method, kNotFound);
  }
  if (request.method == "POST") {
    if (seg.size() != 6) return TallyFailure("POST", kNotFound);
    return Increment(api, request, seg);
  }
  if (request.method != "GET" && request.method != "HEAD") {
    return TallyFailure(request.method, kBadRequest);
  }
  if (seg[2] == "ecount" && seg.size() == 5) return Count(api, request, seg);
  if (seg[2] == "topk" && (seg.size() == 4 || (seg.size() == 5 && seg[4].empty()))) {
    return TopK(api, request, seg);
  }
  return TallyFailure("GET", kNotFound);
}

}  // namespace countd::http
