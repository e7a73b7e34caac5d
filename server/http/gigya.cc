#include "server/http/gigya.h"

#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/errors.h"
#include "server/http/json.h"
#include "server/http/routes.h"
#include "server/http/shim_auth.h"
#include "server/http/url.h"
#include "server/logic/status_util.h"

namespace countd::http {

namespace {

// Accepted by every method: envelope controls, and the credentials of Gigya's SDKs (checked by
// the authentication layer when configured; never echoed).
const absl::flat_hash_set<std::string>& CommonParams() {
  static const auto* params = new absl::flat_hash_set<std::string>{
      "apiKey", "APIKey", "format", "callback", "context", "httpStatusCodes",
      "dontHandleScreenSet", "secret", "userKey", "timestamp", "nonce", "sig"};
  return *params;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

std::string JsonText(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::Status FormatError(absl::string_view what) { return logic::Unparseable(what); }

struct Envelope {
  int error_code = 0;
  std::string error_details;
  const std::string* context = nullptr;
  std::string fields;  // the method's members, already JSON
};

std::string EnvelopeJson(const Envelope& e) {
  int status = e.error_code == 0 ? 200 : e.error_code / 1000;
  std::string out = absl::StrCat("{\"callId\":\"", NewCallId(), "\"");
  if (e.context != nullptr) absl::StrAppend(&out, ",\"context\":", JsonQuote(*e.context));
  absl::StrAppend(&out, ",\"errorCode\":", e.error_code);
  if (e.error_code != 0) {
    absl::StrAppend(&out, ",\"errorDetails\":", JsonQuote(e.error_details),
                    ",\"errorMessage\":", JsonQuote(GigyaMessage(e.error_code)));
  }
  absl::StrAppend(&out, ",\"apiVersion\":2,\"statusCode\":", status, ",\"statusReason\":\"",
                  ReasonPhrase(status), "\",\"time\":\"",
                  absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                  "\"");
  if (!e.fields.empty()) absl::StrAppend(&out, ",", e.fields);
  out += "}";
  return out;
}

// Gigya's spelling of one snake_case name ("badge_url" -> "badgeURL", "start_time" ->
// "startTime").
std::string GigyaName(absl::string_view snake) {
  static const auto* special = new absl::flat_hash_map<std::string, std::string>{
      {"tenant", "apiKey"},         {"uid", "UID"},
      {"reg_token", "regToken"},    {"request_id", "requestID"},
      {"action_id", "actionID"},    {"challenge_id", "challengeID"},
      {"badge_url", "badgeURL"},    {"points_7days", "points7Days"}};
  auto it = special->find(snake);
  if (it != special->end()) return it->second;
  std::string out;
  bool upper = false;
  for (char c : snake) {
    if (c == '_') {
      upper = true;
    } else {
      out.push_back(upper ? absl::ascii_toupper(static_cast<unsigned char>(c)) : c);
      upper = false;
    }
  }
  return out;
}

// The internal field name (e.g. "challenge.levels[2].points_required") as the method's callers
// name it ("levels[2].pointsRequired"): the method's own renames first (longest matching
// prefix), then Gigya's camelCase for every name.
std::string GigyaField(absl::string_view field, const GigyaMethod* method) {
  std::string rest(field);
  std::string out;
  if (method != nullptr) {
    size_t best = 0;
    const std::string* replacement = nullptr;
    for (const auto& [from, to] : method->field_names) {
      bool boundary = field.size() == from.size() || from.back() == '.' ||
                      (field.size() > from.size() &&
                       (field[from.size()] == '.' || field[from.size()] == '['));
      if (from.size() > best && absl::StartsWith(field, from) && boundary) {
        best = from.size();
        replacement = &to;
      }
    }
    if (replacement != nullptr) {
      out = *replacement;
      rest = std::string(field.substr(best));
    }
  }
  std::string name;
  auto flush = [&] {
    if (!name.empty()) out += GigyaName(name);
    name.clear();
  };
  for (char c : rest) {
    if (c == '.' || c == '[' || c == ']' || absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      if (absl::ascii_isdigit(static_cast<unsigned char>(c)) && !name.empty()) {
        name.push_back(c);  // a digit inside a name ("points_7days")
        continue;
      }
      flush();
      out.push_back(c);
    } else {
      name.push_back(c);
    }
  }
  flush();
  return out;
}

// errorDetails: the internal message with its leading field written the way the method's
// callers name it ("uid: required" -> "UID: required").
std::string Details(const absl::Status& s, const GigyaMethod* method) {
  std::string message(s.message());
  std::string field = logic::FieldOf(s);
  if (field.empty() || !absl::StartsWith(message, field)) return message;
  return absl::StrCat(GigyaField(field, method), message.substr(field.size()));
}

}  // namespace

absl::StatusOr<GigyaParams> GigyaParams::FromRequest(const HttpRequest& request) {
  absl::StatusOr<GigyaParams> p = Collect(request);
  if (p.ok() && p->values_.contains("apiKey") && p->values_.contains("APIKey")) {
    return logic::BadValue("apiKey", "sent as both apiKey and APIKey: send one");
  }
  return p;
}

absl::StatusOr<GigyaParams> GigyaParams::Collect(const HttpRequest& request) {
  // Gigya's REST endpoints take GET and POST. Any other method (PUT, DELETE, a lower-case "get":
  // tokens are case-sensitive) is refused before it can call a method, so it never writes.
  if (request.method != "GET" && request.method != "POST" && request.method != "HEAD") {
    return FormatError(absl::StrCat("method ", logic::Quote(request.method), ": send GET or POST"));
  }
  GigyaParams p;
  auto add = [&p](std::string name, std::string value) -> absl::Status {
    if (!p.values_.emplace(name, std::move(value)).second) {
      return FormatError(absl::StrCat("parameter ", name, " given more than once"));
    }
    return absl::OkStatus();
  };
  absl::optional<std::vector<std::pair<std::string, std::string>>> query = ParseForm(request.query);
  if (!query.has_value()) return FormatError("malformed query string");
  for (auto& [name, value] : *query) {
    absl::Status s = add(std::move(name), std::move(value));
    if (!s.ok()) return s;
  }
  if (request.method != "POST" || request.body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return p;
  }
  const std::string* type = request.Header("content-type");
  absl::string_view content_type = type != nullptr ? absl::string_view(*type) : "";
  if (absl::StartsWithIgnoreCase(content_type, "application/x-www-form-urlencoded")) {
    absl::optional<std::vector<std::pair<std::string, std::string>>> form = ParseForm(request.body);
    if (!form.has_value()) return FormatError("malformed form body");
    for (auto& [name, value] : *form) {
      absl::Status s = add(std::move(name), std::move(value));
      if (!s.ok()) return s;
    }
    return p;
  }
  if (absl::StartsWithIgnoreCase(content_type, "application/json")) {
    rapidjson::Document doc;
    if (!ParseJson(request.body, &doc, JsonTrailing::kIgnored).ok() || !doc.IsObject()) {
      return FormatError("body is not a JSON object");
    }
    for (const auto& m : doc.GetObject()) {
      std::string name(m.name.GetString(), m.name.GetStringLength());
      std::string value = m.value.IsString()
                              ? std::string(m.value.GetString(), m.value.GetStringLength())
                              : JsonText(m.value);
      absl::Status s = add(std::move(name), std::move(value));
      if (!s.ok()) return s;
    }
    return p;
  }
  return FormatError(absl::StrCat("content-type \"", content_type,
                                  "\": send application/x-www-form-urlencoded or JSON"));
}

const std::string* GigyaParams::Find(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() && name == "apiKey") it = values_.find("APIKey");
  return it == values_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, std::string>> GigyaParams::All() const {
  return {values_.begin(), values_.end()};
}

absl::StatusOr<std::string> GigyaParams::Required(absl::string_view name) const {
  const std::string* v = Find(name);
  if (v == nullptr || v->empty()) return logic::MissingField(name);
  return *v;
}

std::vector<std::string> GigyaParams::Unknown(
    const absl::flat_hash_set<std::string>& allowed) const {
  std::vector<std::string> out;
  for (const auto& [name, value] : values_) {
    if (!allowed.contains(name) && !CommonParams().contains(name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool IsValidJsonpCallback(absl::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  auto head = [](char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$'; };
  if (!head(name[0])) return false;
  for (char c : name.substr(1)) {
    if (!head(c) && !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
  }
  return true;
}

std::string NewCallId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrFormat("%016x%016x", rng(), rng());
}

HttpResponse AnswerGigya(const GigyaMethod* method, absl::string_view method_name,
                         const HttpRequest& request, ShimAuth* auth) {
  Envelope e;
  HttpResponse r;
  absl::StatusOr<GigyaParams> params = GigyaParams::FromRequest(request);
  bool http_status_codes = false;
  const std::string* callback = nullptr;
  absl::Status s;
  if (!params.ok()) {
    s = params.status();
  } else {
    e.context = params->Find("context");
    const std::string* codes = params->Find("httpStatusCodes");
    const std::string* format = params->Find("format");
    if (codes != nullptr && *codes != "true" && *codes != "false") {
      s = logic::BadValue("httpStatusCodes", "must be true or false");
    } else {
      http_status_codes = codes != nullptr && *codes == "true";
    }
    if (s.ok() && format != nullptr && *format != "json" && *format != "jsonp") {
      s = logic::BadValue("format", "must be json or jsonp");
    }
    if (s.ok() && format != nullptr && *format == "jsonp") {
      callback = params->Find("callback");
      if (callback == nullptr || callback->empty()) {
        s = logic::MissingField("callback");
        callback = nullptr;  // answer plain JSON: there is no name to call
      } else if (!IsValidJsonpCallback(*callback)) {
        s = logic::BadValue("callback", "must match [A-Za-z_$][A-Za-z0-9_$.]*");
        callback = nullptr;  // never echo an unsafe name into script
      }
    }
    if (s.ok() && method == nullptr) {
      s = absl::NotFoundError(absl::StrCat("no method ", method_name));
    }
    // Credentials before anything about the method's own parameters: an unauthenticated
    // caller learns nothing more than that it must authenticate.
    if (s.ok() && auth != nullptr) {
      s = auth->CheckGigya(*params, request, method->service, method->rpc);
    }
    if (s.ok()) {
      std::vector<std::string> unknown = params->Unknown(method->params);
      if (!unknown.empty()) {
        s = logic::BadValue(unknown[0], "is not a parameter of this method");
      }
    }
    if (s.ok()) {
      absl::StatusOr<GigyaMethod::Request> parsed = method->parse(*params, request);
      absl::StatusOr<std::string> fields =
          parsed.ok() ? method->call(**parsed) : absl::StatusOr<std::string>(parsed.status());
      if (fields.ok()) {
        e.fields = *std::move(fields);
      } else {
        s = fields.status();
      }
    }
  }
  if (!s.ok()) {
    e.error_code = Classify(s).gigya;
    e.error_details = Details(s, method);
  }
  std::string json = EnvelopeJson(e);
  r.status = http_status_codes && e.error_code != 0 ? e.error_code / 1000 : 200;
  if (params.ok() && method == nullptr && s.code() == absl::StatusCode::kNotFound) {
    r.status = 404;  // an unknown route is a 404 whatever httpStatusCodes says
  }
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  if (callback != nullptr) {
    r.content_type = "text/javascript";
    r.body = absl::StrCat(*callback, "(", json, ");");
  } else {
    r.body = std::move(json);
  }
  return r;
}

HttpResponse GigyaRefused(const absl::Status& status) {
  Envelope e;
  e.error_code = Classify(status).gigya;
  e.error_details = std::string(status.message());
  HttpResponse r;
  r.body = EnvelopeJson(e);
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  return r;
}

}  // namespace countd::http
