// Gigya accounts.* counter methods over the Counters API: each method parses its parameters into
// a Counters request (pure), then calls the service and writes Gigya's response members.
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "server/logic/status_util.h"
#include "server/shim/internal/gigya/methods.h"
#include "server/shim/internal/json.h"
#include "server/shim/internal/routes.h"

namespace countd::shim {
namespace {

using api::CountersApi;

std::string Str(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? std::string()
                               : std::string(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace

absl::StatusOr<std::vector<GigyaCounter>> ParseGigyaCounters(
    absl::string_view text, std::initializer_list<absl::string_view> allowed) {
  rapidjson::Document doc;
  if (!ParseJson(text, &doc).ok() || !doc.IsArray()) {
    return logic::BadFormat("counters", "must be a JSON array of counter objects");
  }
  std::vector<GigyaCounter> out;
  out.reserve(doc.GetArray().Size());
  rapidjson::SizeType i = 0;
  for (const rapidjson::Value& item : doc.GetArray()) {
    std::string at = absl::StrCat("counters[", i++, "]");
    if (!item.IsObject()) return logic::BadFormat(at, "must be an object");
    if (absl::optional<std::string> twice = RepeatedMember(item)) {
      return logic::BadFormat(absl::StrCat(at, ".", *twice), "given more than once");
    }
    for (const auto& m : item.GetObject()) {
      absl::string_view name(m.name.GetString(), m.name.GetStringLength());
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        return logic::BadValue(absl::StrCat(at, ".", name), "is not a counter member");
      }
      bool numeric = name == "value" || name == "count";
      if (!numeric && !m.value.IsString()) {
        return logic::BadFormat(absl::StrCat(at, ".", name), "must be a string");
      }
    }
    GigyaCounter& c = out.emplace_back();
    c.class_name = Str(item, "class");
    c.path = Str(item, "path");
    c.period = Str(item, "period");
    if (item.HasMember("value")) {
      absl::StatusOr<double> value = NumberMember(item["value"], absl::StrCat(at, ".value"));
      if (!value.ok()) return value.status();
      c.value = *value;
    }
    if (item.HasMember("count")) {
      absl::StatusOr<int64_t> count = WholeMember(item["count"], absl::StrCat(at, ".count"));
      if (!count.ok()) return count.status();
      c.count = *count;
    }
  }
  return out;
}

namespace {

absl::StatusOr<std::string> Tenant(const GigyaParams& p) { return p.Required("apiKey"); }

// Sets the user of a request from UID / regToken. Both at once is refused here: the request's
// oneof would silently keep only the last one set (the logic checks that one is given).
template <typename Req>
absl::Status SetUser(const GigyaParams& p, Req* req) {
  const std::string* uid = p.Find("UID");
  const std::string* token = p.Find("regToken");
  if (uid != nullptr && token != nullptr) {
    return logic::BadValue("UID", "give either UID or regToken, not both");
  }
  if (uid != nullptr) req->set_uid(*uid);
  if (token != nullptr) req->set_reg_token(*token);
  return absl::OkStatus();
}

template <typename Req>
absl::Status PathList(const GigyaParams& p, Req* req) {
  absl::StatusOr<std::string> counters = p.Required("counters");
  if (!counters.ok()) return counters.status();
  absl::StatusOr<std::vector<GigyaCounter>> list = ParseGigyaCounters(*counters, {"class", "path"});
  if (!list.ok()) return list.status();
  for (const GigyaCounter& c : *list) {
    v1::CounterPath* out = req->add_counters();
    out->set_class_(c.class_name);
    out->set_path(c.path);
  }
  return absl::OkStatus();
}

std::string PathsJson(const v1::GetRegisteredCountersResponse& resp) {
  std::string out = "\"counters\":[";
  for (int i = 0; i < resp.counters_size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"class\":", JsonQuote(resp.counters(i).class_()),
                    ",\"path\":", JsonQuote(resp.counters(i).path()), "}");
  }
  return out + "]";
}

// --- parse: parameters -> request (pure) -------------------------------------------------------

absl::StatusOr<v1::RegisterCountersRequest> ParseRegister(const GigyaParams& p,
                                                          const http::HttpRequest&) {
  v1::RegisterCountersRequest req;
  absl::StatusOr<std::string> tenant = Tenant(p);
  if (!tenant.ok()) return tenant.status();
  req.set_tenant(*tenant);
  absl::Status s = PathList(p, &req);
  if (!s.ok()) return s;
  return req;
}

absl::StatusOr<v1::UnregisterCountersRequest> ParseUnregister(const GigyaParams& p,
                                                              const http::HttpRequest&) {
  v1::UnregisterCountersRequest req;
  absl::StatusOr<std::string> tenant = Tenant(p);
  if (!tenant.ok()) return tenant.status();
  req.set_tenant(*tenant);
  absl::Status s = PathList(p, &req);
  if (!s.ok()) return s;
  return req;
}

absl::StatusOr<v1::GetRegisteredCountersRequest> ParseGetRegistered(const GigyaParams& p,
                                                                    const http::HttpRequest&) {
  v1::GetRegisteredCountersRequest req;
  absl::StatusOr<std::string> tenant = Tenant(p);
  if (!tenant.ok()) return tenant.status();
  req.set_tenant(*tenant);
  return req;
}

absl::StatusOr<v1::IncrementCountersRequest> ParseIncrement(const GigyaParams& p,
                                                            const http::HttpRequest&) {
  v1::IncrementCountersRequest req;
  absl::StatusOr<std::string> tenant = Tenant(p);
  if (!tenant.ok()) return tenant.status();
  req.set_tenant(*tenant);
  if (absl::Status user = SetUser(p, &req); !user.ok()) return user;
  if (const std::string* id = p.Find("requestID")) req.set_request_id(*id);
  absl::StatusOr<std::string> counters = p.Required("counters");
  if (!counters.ok()) return counters.status();
  absl::StatusOr<std::vector<GigyaCounter>> list =
      ParseGigyaCounters(*counters, {"class", "path", "value", "count"});
  if (!list.ok()) return list.status();
  for (const GigyaCounter& c : *list) {
    v1::CounterIncrement* out = req.add_counters();
    out->set_class_(c.class_name);
    out->set_path(c.path);
    if (c.value.has_value()) out->set_value(*c.value);
    if (c.count.has_value()) out->set_count(*c.count);
  }
  return req;
}

absl::StatusOr<v1::GetCountersRequest> ParseGet(const GigyaParams& p, const http::HttpRequest&) {
  v1::GetCountersRequest req;
  absl::StatusOr<std::string> tenant = Tenant(p);
  if (!tenant.ok()) return tenant.status();
  req.set_tenant(*tenant);
  if (absl::Status user = SetUser(p, &req); !user.ok()) return user;
  if (const std::string* counters = p.Find("counters"); counters != nullptr && !counters->empty()) {
    absl::StatusOr<std::vector<GigyaCounter>> list =
        ParseGigyaCounters(*counters, {"class", "path", "period"});
    if (!list.ok()) return list.status();
    for (const GigyaCounter& c : *list) {
      v1::CounterQuery* q = req.add_counters();
      q->set_class_(c.class_name);
      q->set_path(c.path);
      q->set_period(c.period);
    }
  }
  return req;
}

// --- call: request -> service -> response members ---------------------------------------------

absl::StatusOr<std::string> RegisterCounters(CountersApi* api,
                                             const v1::RegisterCountersRequest& req) {
  v1::RegisterCountersResponse resp;
  absl::Status s = api->RegisterCounters(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

absl::StatusOr<std::string> UnregisterCounters(CountersApi* api,
                                               const v1::UnregisterCountersRequest& req) {
  v1::UnregisterCountersResponse resp;
  absl::Status s = api->UnregisterCounters(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

absl::StatusOr<std::string> GetRegisteredCounters(CountersApi* api,
                                                  const v1::GetRegisteredCountersRequest& req) {
  v1::GetRegisteredCountersResponse resp;
  absl::Status s = api->GetRegisteredCounters(req, &resp);
  if (!s.ok()) return s;
  return PathsJson(resp);
}

absl::StatusOr<std::string> IncrementCounters(CountersApi* api,
                                              const v1::IncrementCountersRequest& req) {
  v1::IncrementCountersResponse resp;
  absl::Status s = api->IncrementCounters(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

absl::StatusOr<std::string> GetCounters(CountersApi* api, const v1::GetCountersRequest& req) {
  v1::GetCountersResponse resp;
  absl::Status s = api->GetCounters(req, &resp);
  if (!s.ok()) return s;
  std::string out = "\"counters\":[";
  for (int i = 0; i < resp.counters_size(); ++i) {
    const v1::CounterValue& c = resp.counters(i);
    absl::Time updated = absl::FromUnixSeconds(c.last_updated().seconds());
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"class\":", JsonQuote(c.class_()),
                    ",\"path\":", JsonQuote(c.path()), ",\"period\":", JsonQuote(c.period()),
                    ",\"count\":", c.count(), ",\"value\":", c.value_decimal(),
                    ",\"lastUpdated\":\"",
                    absl::FormatTime("%Y-%m-%d %H:%M:%SZ", updated, absl::UTCTimeZone()),
                    "\",\"lastUpdatedTimestamp\":", c.last_updated().seconds(), "}");
  }
  return out + "]";
}

// Binds a typed call to `api`.
template <typename Req>
std::function<absl::StatusOr<std::string>(const Req&)> Bind(
    CountersApi* api, absl::StatusOr<std::string> (*call)(CountersApi*, const Req&)) {
  return [api, call](const Req& req) { return call(api, req); };
}

}  // namespace

void AddAccountsMethods(CountersApi* api, GigyaMethodTable* table) {
  using Names = absl::flat_hash_map<std::string, std::string>;
  (*table)["accounts.registerCounters"] = MakeGigyaMethod<v1::RegisterCountersRequest>(
      {"counters"}, Names(), ParseRegister, Bind(api, RegisterCounters));
  (*table)["accounts.unregisterCounters"] = MakeGigyaMethod<v1::UnregisterCountersRequest>(
      {"counters"}, Names(), ParseUnregister, Bind(api, UnregisterCounters));
  (*table)["accounts.getRegisteredCounters"] = MakeGigyaMethod<v1::GetRegisteredCountersRequest>(
      {}, Names(), ParseGetRegistered, Bind(api, GetRegisteredCounters));
  (*table)["accounts.incrementCounters"] = MakeGigyaMethod<v1::IncrementCountersRequest>(
      {"UID", "regToken", "counters", "requestID"}, Names(), ParseIncrement,
      Bind(api, IncrementCounters));
  (*table)["accounts.getCounters"] = MakeGigyaMethod<v1::GetCountersRequest>(
      {"UID", "regToken", "counters"}, Names(), ParseGet, Bind(api, GetCounters));
}

}  // namespace countd::shim
