// Stash routes: /stash/v1.1/count/{incr,decr,get,getbatch}/<tracking_id>/public[/<key>].
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "rapidjson/document.h"
#include "server/errors.h"
#include "server/http/routes.h"

namespace countd::http {
namespace {

constexpr int kBadRequest = 400;
constexpr int kNotFound = 404;

HttpResponse Fail(const absl::Status& s) { return StashStatus(Classify(s).qubit); }

// The body of incr/decr: empty, or a JSON object whose only known member is "dimension":"date".
bool ValidIncrBody(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return true;
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  for (const auto& member : doc.GetObject()) {
    absl::string_view name(member.name.GetString(), member.name.GetStringLength());
    if (name != "dimension" || !member.value.IsString() ||
        absl::string_view(member.value.GetString()) != "date") {
      return false;
    }
  }
  return true;
}

HttpResponse IncrOrDecr(grpc_edge::CountersApi* api, const HttpRequest& request,
                        const std::string& tenant, const std::string& key, bool decr) {
  if (request.method != "POST") return StashStatus(kBadRequest);
  if (!ValidIncrBody(request.body)) return StashStatus(kBadRequest);
  std::vector<std::string> parts = absl::StrSplit(key, ':');
  if (parts.size() != 2) return StashStatus(kBadRequest);
  std::string answer;
  absl::Status s;
  if (decr) {
    v1::DecrRequest req;
    req.set_tenant(tenant);
    req.set_visitor_id(parts[0]);
    req.set_counter_name(parts[1]);
    v1::DecrResponse resp;
    s = api->Decr(req, &resp);
    answer = resp.key();
  } else {
    v1::IncrRequest req;
    req.set_tenant(tenant);
    req.set_visitor_id(parts[0]);
    req.set_counter_name(parts[1]);
    v1::IncrResponse resp;
    s = api->Incr(req, &resp);
    answer = resp.key();
  }
  if (!s.ok()) return Fail(s);
  return CorsJson(absl::StrCat("{\"status\":200,\"data\":", JsonQuote(answer), "}"));
}

HttpResponse GetOne(grpc_edge::CountersApi* api, const HttpRequest& request,
                    const std::string& tenant, const std::string& key) {
  if (request.method != "GET" && request.method != "HEAD") return StashStatus(kBadRequest);
  std::vector<std::string> parts = absl::StrSplit(key, ':');
  if (parts.size() != 3) return StashStatus(kBadRequest);
  v1::GetRequest req;
  req.set_tenant(tenant);
  req.set_visitor_id(parts[0]);
  req.set_counter_name(parts[1]);
  req.set_date(parts[2]);
  v1::GetResponse resp;
  absl::Status s = api->Get(req, &resp);
  if (!s.ok()) return Fail(s);
  return CorsJson(absl::StrCat("{\"status\":200,\"data\":\"", resp.count(), "\"}"));
}

HttpResponse GetBatch(grpc_edge::CountersApi* api, const HttpRequest& request,
                      const std::string& tenant) {
  if (request.method != "POST") return StashStatus(kBadRequest);
  rapidjson::Document doc;
  doc.Parse(request.body.data(), request.body.size());
  if (doc.HasParseError() || !doc.IsObject() || doc.MemberCount() != 1 ||
      !doc.HasMember("keys") || !doc["keys"].IsArray()) {
    return StashStatus(kBadRequest);
  }
  v1::GetBatchRequest req;
  req.set_tenant(tenant);
  for (const auto& key : doc["keys"].GetArray()) {
    if (!key.IsString()) return StashStatus(kBadRequest);
    req.add_keys(std::string(key.GetString(), key.GetStringLength()));
  }
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
  body += "}}";
  return CorsJson(std::move(body));
}

}  // namespace

HttpResponse StashStatus(int status) {
  return CorsJson(absl::StrCat("{\"status\":", status, "}"));
}

HttpResponse HandleStash(grpc_edge::CountersApi* api, const HttpRequest& request,
                         const std::vector<std::string>& segments) {
  // stash v1.1 count <op> <tracking_id> public [<key>]
  if (segments.size() < 6 || segments[1] != "v1.1" || segments[2] != "count" ||
      segments[5] != "public") {
    return StashStatus(kNotFound);
  }
  const std::string& op = segments[3];
  const std::string& tenant = segments[4];
  if (op == "getbatch" && segments.size() == 6) return GetBatch(api, request, tenant);
  if (segments.size() != 7) return StashStatus(kNotFound);
  if (op == "incr") return IncrOrDecr(api, request, tenant, segments[6], /*decr=*/false);
  if (op == "decr") return IncrOrDecr(api, request, tenant, segments[6], /*decr=*/true);
  if (op == "get") return GetOne(api, request, tenant, segments[6]);
  return StashStatus(kNotFound);
}

}  // namespace countd::http
