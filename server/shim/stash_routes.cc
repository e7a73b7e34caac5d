// Stash routes: /stash/v1.1/count/{incr,decr,get,getbatch}/<tracking_id>/public[/<key>].
// ParseStashRequest turns the request into its Counters request (pure); HandleStash sends it to
// the service and writes the Stash answer.
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "rapidjson/document.h"
#include "server/errors.h"
#include "server/http/url.h"
#include "server/logic/status_util.h"
#include "server/shim/internal/qubit_body.h"
#include "server/shim/internal/routes.h"

namespace countd::shim {
namespace {

absl::Status NoRoute() { return logic::NotFound("path", "no Stash route"); }

absl::Status WrongMethod(const http::HttpRequest& request, absl::string_view want) {
  return logic::BadValue("method", absl::StrCat(logic::Quote(request.method), ": send ", want));
}

// The body of incr/decr (any shape ReadQubitBody reads): empty, or an object whose only member is
// dimension "date".
bool ValidIncrBody(const std::string& body) {
  rapidjson::Document doc;
  if (!ReadQubitBody(body, {}, &doc).ok()) return false;
  for (const auto& member : doc.GetObject()) {
    absl::string_view name(member.name.GetString(), member.name.GetStringLength());
    if (name != "dimension" || !member.value.IsString() ||
        absl::string_view(member.value.GetString(), member.value.GetStringLength()) != "date") {
      return false;
    }
  }
  return true;
}

// incr / decr: the key is "<visitor_id>:<counter_name>".
template <typename Req>
absl::StatusOr<StashRequest> ParseIncrOrDecr(const http::HttpRequest& request,
                                             const std::string& tenant, const std::string& key) {
  if (request.method != "POST") return WrongMethod(request, "POST");
  if (!ValidIncrBody(request.body)) {
    return logic::BadFormat("body", "must be empty or {\"dimension\":\"date\"}");
  }
  std::vector<std::string> parts = absl::StrSplit(key, ':');
  if (parts.size() != 2) {
    return logic::BadFormat("key", "must be <visitor_id>:<counter_name>");
  }
  Req req;
  req.set_tenant(tenant);
  req.set_visitor_id(parts[0]);
  req.set_counter_name(parts[1]);
  return StashRequest(std::move(req));
}

// get: the key is "<visitor_id>:<counter_name>:<YYYY-MM-DD>".
absl::StatusOr<StashRequest> ParseGet(const http::HttpRequest& request, const std::string& tenant,
                                      const std::string& key) {
  if (request.method != "GET" && request.method != "HEAD") return WrongMethod(request, "GET");
  std::vector<std::string> parts = absl::StrSplit(key, ':');
  if (parts.size() != 3) {
    return logic::BadFormat("key", "must be <visitor_id>:<counter_name>:<YYYY-MM-DD>");
  }
  v1::GetRequest req;
  req.set_tenant(tenant);
  req.set_visitor_id(parts[0]);
  req.set_counter_name(parts[1]);
  req.set_date(parts[2]);
  return StashRequest(std::move(req));
}

// getbatch: the body is {"keys":[...]} with string keys (any shape ReadQubitBody reads; in a form
// keys=a&keys=b or keys[]=a&keys[]=b).
absl::StatusOr<StashRequest> ParseGetBatch(const http::HttpRequest& request,
                                           const std::string& tenant) {
  if (request.method != "POST") return WrongMethod(request, "POST");
  rapidjson::Document doc;
  if (!ReadQubitBody(request.body, {"keys"}, &doc).ok() || doc.MemberCount() != 1 ||
      !doc.HasMember("keys") || !doc["keys"].IsArray()) {
    return logic::BadFormat("body", "must be {\"keys\":[...]}");
  }
  v1::GetBatchRequest req;
  req.set_tenant(tenant);
  rapidjson::SizeType i = 0;
  for (const auto& key : doc["keys"].GetArray()) {
    if (!key.IsString()) return logic::BadFormat(absl::StrCat("keys[", i, "]"), "must be a string");
    req.add_keys(std::string(key.GetString(), key.GetStringLength()));
    ++i;
  }
  return StashRequest(std::move(req));
}

http::HttpResponse Fail(const absl::Status& s) { return StashStatus(Classify(s).qubit); }

http::HttpResponse KeyAnswer(const std::string& key) {
  return CorsJson(absl::StrCat("{\"status\":200,\"data\":", JsonQuote(key), "}"));
}

// The service call for each kind of request, and its answer.
struct Call {
  api::CountersApi* api;

  http::HttpResponse operator()(const v1::IncrRequest& req) const {
    v1::IncrResponse resp;
    absl::Status s = api->Incr(req, &resp);
    return s.ok() ? KeyAnswer(resp.key()) : Fail(s);
  }

  http::HttpResponse operator()(const v1::DecrRequest& req) const {
    v1::DecrResponse resp;
    absl::Status s = api->Decr(req, &resp);
    return s.ok() ? KeyAnswer(resp.key()) : Fail(s);
  }

  http::HttpResponse operator()(const v1::GetRequest& req) const {
    v1::GetResponse resp;
    absl::Status s = api->Get(req, &resp);
    if (!s.ok()) return Fail(s);
    return CorsJson(absl::StrCat("{\"status\":200,\"data\":\"", resp.count(), "\"}"));
  }

  http::HttpResponse operator()(const v1::GetBatchRequest& req) const {
    v1::GetBatchResponse resp;
    absl::Status s = api->GetBatch(req, &resp);
    if (!s.ok()) return Fail(s);
    // Answer in request order (the map has none), each key once.
    std::string body = "{\"status\":200,\"data\":{";
    bool first = true;
    absl::flat_hash_set<std::string> written;
    for (const std::string& key : req.keys()) {
      auto it = resp.counts().find(key);
      if (it == resp.counts().end() || !written.insert(key).second) continue;
      absl::StrAppend(&body, first ? "" : ",", JsonQuote(key), ":\"", it->second, "\"");
      first = false;
    }
    // The documents: 404 "when the requested key or keys are not found".
    if (first) return Fail(logic::NotFound("keys", "none of the keys exists"));
    body += "}}";
    return CorsJson(std::move(body));
  }
};

}  // namespace

absl::StatusOr<StashRequest> ParseStashRequest(const http::HttpRequest& request) {
  absl::optional<std::vector<std::string>> decoded = http::PathSegments(request.path);
  if (!decoded.has_value()) {
    return logic::BadFormat("path", "has a malformed percent-escape, %00 or an encoded '/'");
  }
  // stash v1.1 count <op> <tracking_id> public [<key>]
  std::vector<std::string> seg = *std::move(decoded);
  if (seg.size() < 6 || seg[0] != "stash" || seg[1] != "v1.1" || seg[2] != "count" ||
      seg[5] != "public") {
    return NoRoute();
  }
  // getbatch/<id>/public/ is getbatch/<id>/public, get/<id>/public/<key>/ is
  // get/<id>/public/<key>.
  const std::string op = seg[3];
  DropTrailingSlash(&seg, op == "getbatch" ? 6 : 7);
  const std::string& tenant = seg[4];
  if (op == "getbatch" && seg.size() == 6) return ParseGetBatch(request, tenant);
  if (seg.size() != 7) return NoRoute();
  if (op == "incr") return ParseIncrOrDecr<v1::IncrRequest>(request, tenant, seg[6]);
  if (op == "decr") return ParseIncrOrDecr<v1::DecrRequest>(request, tenant, seg[6]);
  if (op == "get") return ParseGet(request, tenant, seg[6]);
  return NoRoute();
}

http::HttpResponse StashStatus(int status) {
  return CorsJson(absl::StrCat("{\"status\":", status, "}"));
}

http::HttpResponse HandleStash(api::CountersApi* api, const http::HttpRequest& request) {
  absl::StatusOr<StashRequest> req = ParseStashRequest(request);
  if (!req.ok()) return Fail(req.status());
  return std::visit(Call{api}, *req);
}

}  // namespace countd::shim
