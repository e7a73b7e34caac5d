// Gigya accounts.* counter methods over the Counters API.
#include <string>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "server/http/gigya_methods.h"
#include "server/http/routes.h"
#include "server/logic/status_util.h"

namespace countd::http {
namespace {

using grpc_edge::CountersApi;

// The `counters` parameter: a JSON array of objects with only the `allowed` members, each a
// string, or a number for "value"/"count". Calls `fn(index, object)` for each element.
template <typename Fn>
absl::Status EachCounter(absl::string_view text, std::initializer_list<absl::string_view> allowed,
                         Fn fn) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsArray()) {
    return logic::BadFormat("counters", "must be a JSON array of counter objects");
  }
  rapidjson::SizeType i = 0;
  for (const rapidjson::Value& item : doc.GetArray()) {
    std::string at = absl::StrCat("counters[", i, "]");
    if (!item.IsObject()) return logic::BadFormat(at, "must be an object");
    for (const auto& m : item.GetObject()) {
      absl::string_view name(m.name.GetString(), m.name.GetStringLength());
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        return logic::BadValue(absl::StrCat(at, ".", name), "is not a counter member");
      }
      bool numeric = name == "value" || name == "count";
      if (numeric ? !m.value.IsNumber() : !m.value.IsString()) {
        return logic::BadFormat(absl::StrCat(at, ".", name),
                                numeric ? "must be a number" : "must be a string");
      }
    }
    absl::Status s = fn(i++, item);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string Str(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? std::string()
                               : std::string(it->value.GetString(), it->value.GetStringLength());
}

absl::StatusOr<std::string> Tenant(const GigyaParams& p) { return p.Required("apiKey"); }

// Sets the user of a request from UID / regToken. Both at once is refused here: the request's
// oneof would silently keep only the last one set (the logic checks that one is given).
template <typename Req>
absl::Status SetUser(const GigyaParams& p, Req* req) {
  const std::string* uid = p.Find("UID");
  const std::string* token = p.Find("regToken");
  if (uid != nullptr && token != nullptr) {
    return logic::BadValue("uid", "give either UID or regToken, not both");
  }
  if (uid != nullptr) req->set_uid(*uid);
  if (token != nullptr) req->set_reg_token(*token);
  return absl::OkStatus();
}

template <typename Req>
absl::Status PathList(const GigyaParams& p, Req* req) {
  absl::StatusOr<std::string> counters = p.Required("counters");
  if (!counters.ok()) return counters.status();
  return EachCounter(*counters, {"class", "path"},
                     [req](rapidjson::SizeType, const rapidjson::Value& c) {
                       v1::CounterPath* out = req->add_counters();
                       out->set_class_(Str(c, "class"));
                       out->set_path(Str(c, "path"));
                       return absl::OkStatus();
                     });
}

std::string PathsJson(const v1::GetRegisteredCountersResponse& resp) {
  std::string out = "\"counters\":[";
  for (int i = 0; i < resp.counters_size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"class\":", JsonQuote(resp.counters(i).class_()),
                    ",\"path\":", JsonQuote(resp.counters(i).path()), "}");
  }
  return out + "]";
}

absl::StatusOr<std::string> RegisterCounters(CountersApi* api, const GigyaParams& p) {
  v1::RegisterCountersRequest req;
  absl::StatusOr<std::string> tenant = Tenant(p);
  if (!tenant.ok()) return tenant.status();
  req.set_tenant(*tenant);
  absl::Status s = PathList(p, &req);
  if (!s.ok()) return s;
  v1::RegisterCountersResponse resp;
  s = api->RegisterCounters(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

absl::StatusOr<std::string> UnregisterCounters(CountersApi* api, const GigyaParams& p) {
  v1::UnregisterCountersRequest req;
  absl::StatusOr<std::string> tenant = Tenant(p);
  if (!tenant.ok()) return tenant.status();
  req.set_tenant(*tenant);
  absl::Status s = PathList(p, &req);
  if (!s.ok()) return s;
  v1::UnregisterCountersResponse resp;
  s = api->UnregisterCounters(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

absl::StatusOr<std::string> GetRegisteredCounters(CountersApi* api, const GigyaParams& p) {
  v1::GetRegisteredCountersRequest req;
  absl::StatusOr<std::string> tenant = Tenant(p);
  if (!tenant.ok()) return tenant.status();
  req.set_tenant(*tenant);
  v1::GetRegisteredCountersResponse resp;
  absl::Status s = api->GetRegisteredCounters(req, &resp);
  if (!s.ok()) return s;
  return PathsJson(resp);
}

absl::StatusOr<std::string> IncrementCounters(CountersApi* api, const GigyaParams& p) {
  v1::IncrementCountersRequest req;
  absl::StatusOr<std::string> tenant = Tenant(p);
  if (!tenant.ok()) return tenant.status();
  req.set_tenant(*tenant);
  if (absl::Status user = SetUser(p, &req); !user.ok()) return user;
  if (const std::string* id = p.Find("requestID")) req.set_request_id(*id);
  absl::StatusOr<std::string> counters = p.Required("counters");
  if (!counters.ok()) return counters.status();
  absl::Status s = EachCounter(
      *counters, {"class", "path", "value", "count"},
      [&req](rapidjson::SizeType i, const rapidjson::Value& c) -> absl::Status {
        v1::CounterIncrement* out = req.add_counters();
        out->set_class_(Str(c, "class"));
        out->set_path(Str(c, "path"));
        if (c.HasMember("value")) out->set_value(c["value"].GetDouble());
        if (c.HasMember("count")) {
          if (!c["count"].IsInt64()) {
            return logic::BadFormat(absl::StrCat("counters[", i, "].count"),
                                    "must be a whole number");
          }
          out->set_count(c["count"].GetInt64());
        }
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  v1::IncrementCountersResponse resp;
  s = api->IncrementCounters(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

absl::StatusOr<std::string> GetCounters(CountersApi* api, const GigyaParams& p) {
  v1::GetCountersRequest req;
  absl::StatusOr<std::string> tenant = Tenant(p);
  if (!tenant.ok()) return tenant.status();
  req.set_tenant(*tenant);
  if (absl::Status user = SetUser(p, &req); !user.ok()) return user;
  if (const std::string* counters = p.Find("counters"); counters != nullptr && !counters->empty()) {
    absl::Status s = EachCounter(*counters, {"class", "path", "period"},
                                 [&req](rapidjson::SizeType, const rapidjson::Value& c) {
                                   v1::CounterQuery* q = req.add_counters();
                                   q->set_class_(Str(c, "class"));
                                   q->set_path(Str(c, "path"));
                                   q->set_period(Str(c, "period"));
                                   return absl::OkStatus();
                                 });
    if (!s.ok()) return s;
  }
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

}  // namespace

void AddAccountsMethods(CountersApi* api, GigyaMethodTable* table) {
  // Each maps to the Counters RPC of the same name: what a credential must be allowed to do.
  const absl::flat_hash_map<std::string, std::string> names;
  (*table)["accounts.registerCounters"] = GigyaMethod{
      {"counters"}, names,
      [api](const GigyaParams& p, const HttpRequest&) { return RegisterCounters(api, p); },
      "Counters", "RegisterCounters"};
  (*table)["accounts.unregisterCounters"] = GigyaMethod{
      {"counters"}, names,
      [api](const GigyaParams& p, const HttpRequest&) { return UnregisterCounters(api, p); },
      "Counters", "UnregisterCounters"};
  (*table)["accounts.getRegisteredCounters"] = GigyaMethod{
      {}, names,
      [api](const GigyaParams& p, const HttpRequest&) { return GetRegisteredCounters(api, p); },
      "Counters", "GetRegisteredCounters"};
  (*table)["accounts.incrementCounters"] = GigyaMethod{
      {"UID", "regToken", "counters", "requestID"}, names,
      [api](const GigyaParams& p, const HttpRequest&) { return IncrementCounters(api, p); },
      "Counters", "IncrementCounters"};
  (*table)["accounts.getCounters"] = GigyaMethod{
      {"UID", "regToken", "counters"}, names,
      [api](const GigyaParams& p, const HttpRequest&) { return GetCounters(api, p); },
      "Counters", "GetCounters"};
}

}  // namespace countd::http
