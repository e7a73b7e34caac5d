#include "server/shim/internal/gigya/params.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/errors.h"
#include "server/http/url.h"
#include "server/logic/status_util.h"
#include "server/shim/internal/json.h"
#include "server/shim/internal/routes.h"
#include "server/shim/internal/shim_auth.h"
#include "spdlog/spdlog.h"

namespace countd::shim {

namespace {

// Accepted by every method: envelope controls, and the credentials of Gigya's SDKs (checked by
// the authentication layer when configured; never echoed).
const absl::flat_hash_set<std::string>& CommonParams() {
  static const auto* params = new absl::flat_hash_set<std::string>{"apiKey",
                                                                   "APIKey",
                                                                   "format",
                                                                   "callback",
                                                                   "context",
                                                                   "httpStatusCodes",
                                                                   "dontHandleScreenSet",
                                                                   "secret",
                                                                   "userKey",
                                                                   "timestamp",
                                                                   "nonce",
                                                                   "sig"};
  return *params;
}

// The parameters that shape the answer rather than the call (ReadEnvelopeParams).
const absl::flat_hash_set<std::string>& EnvelopeParams() {
  static const auto* params = new absl::flat_hash_set<std::string>{
      "context", "httpStatusCodes", "dontHandleScreenSet", "format", "callback"};
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

// JSON text made by RapidJSON's writer from a validated document, with U+2028 / U+2029 written
// as escapes so that it is also valid JavaScript (JSONP). Both can only occur inside strings.
std::string ScriptSafeJson(absl::string_view json) {
  return absl::StrReplaceAll(json, {{"\xE2\x80\xA8", "\\u2028"}, {"\xE2\x80\xA9", "\\u2029"}});
}

struct Envelope {
  int error_code = 0;
  std::string error_details;
  const std::string* context = nullptr;
  bool context_is_json = false;  // `context` is JSON text (a JSON body's non-string value)
  std::string fields;            // the method's members, already JSON
};

std::string EnvelopeJson(const Envelope& e) {
  int status = e.error_code == 0 ? 200 : e.error_code / 1000;
  std::string out = absl::StrCat("{\"callId\":\"", NewCallId(), "\"");
  if (e.context != nullptr) {
    absl::StrAppend(&out, ",\"context\":",
                    e.context_is_json ? ScriptSafeJson(*e.context) : JsonQuote(*e.context));
  }
  absl::StrAppend(&out, ",\"errorCode\":", e.error_code);
  if (e.error_code != 0) {
    absl::StrAppend(&out, ",\"errorDetails\":", JsonQuote(e.error_details),
                    ",\"errorMessage\":", JsonQuote(GigyaMessage(e.error_code)));
  }
  absl::StrAppend(&out, ",\"apiVersion\":2,\"statusCode\":", status, ",\"statusReason\":\"",
                  ReasonPhrase(status), "\",\"time\":\"",
                  absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), "\"");
  if (!e.fields.empty()) absl::StrAppend(&out, ",", e.fields);
  out += "}";
  return out;
}

// Gigya's spelling of one snake_case name ("badge_url" -> "badgeURL", "start_time" ->
// "startTime").
std::string GigyaName(absl::string_view snake) {
  static const auto* special = new absl::flat_hash_map<std::string, std::string>{
      {"tenant", "apiKey"},      {"uid", "UID"},
      {"reg_token", "regToken"}, {"request_id", "requestID"},
      {"action_id", "actionID"}, {"challenge_id", "challengeID"},
      {"badge_url", "badgeURL"}, {"points_7days", "points7Days"}};
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
      bool boundary =
          field.size() == from.size() || from.back() == '.' ||
          (field.size() > from.size() && (field[from.size()] == '.' || field[from.size()] == '['));
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

// errorDetails: the message with its leading field written the way the method's callers name
// it. Errors of the service (`internal`: the call step) name proto fields ("uid: required" ->
// "UID: required"); every other error (envelope, parameters, credentials, the parse step)
// already names the parameter as the caller spelled it ("counters[0].foo_bar"), which is kept.
std::string Details(const absl::Status& s, const GigyaMethod* method, bool internal) {
  std::string message(s.message());
  if (!internal) return message;
  std::string field = logic::FieldOf(s);
  if (field.empty() || !absl::StartsWith(message, field)) return message;
  return absl::StrCat(GigyaField(field, method), message.substr(field.size()));
}

// `s` with the code INVALID_ARGUMENT (Gigya's 400006), its message and payloads (the field it
// names) kept.
absl::Status AsInvalidValue(const absl::Status& s) {
  absl::Status out(absl::StatusCode::kInvalidArgument, s.message());
  s.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

// At most this many ignored names are logged per call (they are the caller's; never echoed).
constexpr size_t kMaxLoggedIgnoredNames = 16;

// Debug-logs the parameters of a call that its method ignores: names only (a value may be a
// secret), quoted and shortened, a bounded number.
void LogIgnored(absl::string_view method_name, const std::vector<std::string>& names) {
  if (names.empty() || !spdlog::should_log(spdlog::level::debug)) return;
  std::vector<std::string> quoted;
  for (size_t i = 0; i < names.size() && i < kMaxLoggedIgnoredNames; ++i) {
    quoted.push_back(logic::Quote(names[i]));
  }
  spdlog::debug("gigya method={} ignored {} parameter(s) it does not take: {}{}",
                logic::Quote(method_name), names.size(), absl::StrJoin(quoted, ","),
                names.size() > kMaxLoggedIgnoredNames ? ",..." : "");
}

}  // namespace

absl::StatusOr<GigyaParams> GigyaParams::FromRequest(const http::HttpRequest& request) {
  absl::StatusOr<GigyaParams> p = Collect(request);
  if (!p.ok()) return p;
  std::vector<std::string> repeated = p->Repeated(CommonParams());
  if (!repeated.empty()) {
    return FormatError(absl::StrCat("parameter ", repeated[0], " given more than once"));
  }
  if (p->values_.contains("apiKey") && p->values_.contains("APIKey")) {
    return logic::BadValue("apiKey", "sent as both apiKey and APIKey: send one");
  }
  return p;
}

absl::StatusOr<GigyaParams> GigyaParams::Collect(const http::HttpRequest& request) {
  // Gigya's REST endpoints take GET and POST. Any other method (HEAD, PUT, DELETE, a lower-case
  // "get": tokens are case-sensitive) is refused before it can call a method, so it never
  // writes: a HEAD from a link checker or prefetcher must not grant points.
  if (request.method != "GET" && request.method != "POST") {
    return FormatError(absl::StrCat("method ", logic::Quote(request.method), ": send GET or POST"));
  }
  GigyaParams p;
  if (!p.AddForm(request.query)) return FormatError("malformed query string");
  if (request.method != "POST" || request.body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return p;
  }
  const std::string* type = request.Header("content-type");
  absl::string_view content_type = type != nullptr ? absl::string_view(*type) : "";
  if (absl::StartsWithIgnoreCase(content_type, "application/x-www-form-urlencoded")) {
    if (!p.AddForm(request.body)) return FormatError("malformed form body");
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
      if (!m.value.IsString() && !p.values_.contains(name)) p.json_.insert(name);
      p.Add(std::move(name), std::move(value));
    }
    return p;
  }
  return FormatError(absl::StrCat("content-type \"", content_type,
                                  "\": send application/x-www-form-urlencoded or JSON"));
}

absl::StatusOr<GigyaParams> GigyaParams::FromQuery(const http::HttpRequest& request) {
  GigyaParams p;
  if (!p.AddForm(request.query)) return FormatError("malformed query string");
  return p;
}

// A repeated name is remembered, not refused here: it matters only when the method or the
// envelope reads that name (FromRequest, AnswerGigya), and every pair counts in a signature.
void GigyaParams::Add(std::string name, std::string value) {
  all_.emplace_back(name, value);
  if (!values_.emplace(name, std::move(value)).second) repeated_.insert(std::move(name));
}

bool GigyaParams::AddForm(absl::string_view text) {
  absl::optional<std::vector<std::pair<std::string, std::string>>> form = http::ParseForm(text);
  if (!form.has_value()) return false;
  for (auto& [name, value] : *form) Add(std::move(name), std::move(value));
  return true;
}

absl::string_view GigyaParams::Spelled(absl::string_view name) const {
  if (name == "apiKey" && !values_.contains("apiKey") && values_.contains("APIKey")) {
    return "APIKey";
  }
  return name;
}

const std::string* GigyaParams::Find(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() && name == "apiKey") it = values_.find("APIKey");
  return it == values_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, std::string>> GigyaParams::All() const { return all_; }

bool GigyaParams::IsJson(absl::string_view name) const { return json_.contains(name); }

absl::StatusOr<absl::optional<bool>> GigyaParams::OptionalBool(absl::string_view name) const {
  const std::string* v = Find(name);
  if (v == nullptr || v->empty()) return absl::optional<bool>();
  absl::StatusOr<bool> b = ParseGigyaBool(name, *v);
  if (!b.ok()) return b.status();
  return absl::optional<bool>(*b);
}

std::vector<std::string> GigyaParams::Repeated(
    const absl::flat_hash_set<std::string>& allowed) const {
  std::vector<std::string> out;
  for (const std::string& name : repeated_) {
    if (allowed.contains(name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A number member: a JSON number, or a string holding one in JSON's decimal notation ("200",
// "-0.5", "1e2"; no blanks, hex, "inf" or "nan"), as clients that build the array from form
// fields or by hand send it.
absl::StatusOr<double> NumberMember(const rapidjson::Value& v, const std::string& at) {
  double d = 0;
  if (v.IsNumber()) return v.GetDouble();
  const absl::string_view text =
      v.IsString() ? absl::string_view(v.GetString(), v.GetStringLength()) : absl::string_view();
  if (text.empty() || text.find_first_not_of("0123456789+-.eE") != absl::string_view::npos ||
      !absl::SimpleAtod(text, &d) || !std::isfinite(d)) {
    return logic::BadFormat(at, "must be a number");
  }
  return d;
}

// A whole-number member: a JSON integer, a number with no fraction (2.0, as Python's json.dumps
// writes a float), or a string holding either ("2").
absl::StatusOr<int64_t> WholeMember(const rapidjson::Value& v, const std::string& at) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsString()) {
    const absl::string_view text(v.GetString(), v.GetStringLength());
    int64_t n = 0;
    // SimpleAtoi would also take blanks around the digits; NumberMember refuses those.
    if (!text.empty() && text.find_first_not_of("0123456789+-") == absl::string_view::npos &&
        absl::SimpleAtoi(text, &n)) {
      return n;
    }
  }
  absl::StatusOr<double> d = NumberMember(v, at);
  if (!d.ok()) return d.status();
  // Only up to 2^53, where a double still holds every whole number: beyond it the number was
  // rounded on the way in (-9223372036854775809 reads as -2^63), so its value is unknown.
  constexpr double kExact = 9007199254740992.0;  // 2^53
  if (*d != std::trunc(*d) || *d < -kExact || *d > kExact) {
    return logic::BadFormat(at, "must be a whole number");
  }
  return static_cast<int64_t>(*d);
}

absl::StatusOr<bool> ParseGigyaBool(absl::string_view name, absl::string_view text) {
  if (absl::EqualsIgnoreCase(text, "true") || text == "1") return true;
  if (absl::EqualsIgnoreCase(text, "false") || text == "0") return false;
  return logic::BadValue(
      name, absl::StrCat(logic::Quote(text), " is not a boolean: send true or false (or 1 or 0)"));
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
  auto head = [](char c) {
    return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$';
  };
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

namespace {

// Reads the parameters that shape the answer rather than the call: the echoed `context`,
// `httpStatusCodes` and `format=jsonp&callback=`. Each one read is set as it is read (a callback
// only once it is known safe to echo); the first bad one is the error.
absl::Status ReadEnvelopeParams(const GigyaParams& p, Envelope* e, bool* http_status_codes,
                                const std::string** callback) {
  e->context = p.Find("context");
  e->context_is_json = e->context != nullptr && p.IsJson("context");
  absl::StatusOr<absl::optional<bool>> codes = p.OptionalBool("httpStatusCodes");
  if (!codes.ok()) return codes.status();
  *http_status_codes = codes->value_or(false);
  // Accepted and ignored (there are no screen-sets here), but a bad value is refused as in
  // every method.
  absl::Status s = p.OptionalBool("dontHandleScreenSet").status();
  if (!s.ok()) return s;
  // In any case ("JSONP"), as Gigya's booleans are; empty is absent (json), as for every
  // optional parameter.
  const std::string* format = p.Find("format");
  const bool jsonp = format != nullptr && absl::EqualsIgnoreCase(*format, "jsonp");
  if (format != nullptr && !format->empty() && !jsonp && !absl::EqualsIgnoreCase(*format, "json")) {
    return logic::BadValue("format", "must be json or jsonp");
  }
  if (!jsonp) return absl::OkStatus();
  const std::string* name = p.Find("callback");
  // Without a name there is nothing to call, and an unsafe name is never echoed into script:
  // both answer plain JSON.
  if (name == nullptr || name->empty()) return logic::MissingField("callback");
  if (!IsValidJsonpCallback(*name)) {
    return logic::BadValue("callback", "must match [A-Za-z_$][A-Za-z0-9_$.]*");
  }
  *callback = name;
  return absl::OkStatus();
}

}  // namespace

http::HttpResponse AnswerGigya(const GigyaMethod* method, absl::string_view method_name,
                               const http::HttpRequest& request, ShimAuth* auth) {
  Envelope e;
  http::HttpResponse r;
  absl::StatusOr<GigyaParams> params = GigyaParams::FromRequest(request);
  absl::StatusOr<GigyaParams> query;  // when `params` failed: the query string alone
  bool http_status_codes = false;
  bool internal_error = false;  // the error came from the service (names proto fields)
  const std::string* callback = nullptr;
  absl::Status s;
  if (!params.ok()) {
    s = params.status();
    // The request as a whole is refused (its HTTP method, its body, a repeated parameter), but
    // a query string that parses still says how its caller reads answers: a script tag needs
    // its callback, an SDK with httpStatusCodes=true its status. Envelope parameters the query
    // repeats are not guessed at.
    query = GigyaParams::FromQuery(request);
    if (query.ok() && query->Repeated(EnvelopeParams()).empty()) {
      ReadEnvelopeParams(*query, &e, &http_status_codes, &callback).IgnoreError();
    }
  } else {
    s = ReadEnvelopeParams(*params, &e, &http_status_codes, &callback);
    // An unknown method is an error in the envelope like any other (HTTP 200 unless
    // httpStatusCodes=true): a JSONP script tag would drop an HTTP 404 unread.
    if (s.ok() && method == nullptr) {
      s = absl::NotFoundError(absl::StrCat("no method ", method_name));
    }
    // A parameter the method reads may be given once; others may repeat (they are ignored).
    if (s.ok()) {
      std::vector<std::string> repeated = params->Repeated(method->params);
      if (!repeated.empty()) {
        s = FormatError(absl::StrCat("parameter ", repeated[0], " given more than once"));
      }
    }
    // Credentials before anything about the method's own parameters: an unauthenticated
    // caller learns nothing more than that it must authenticate. The signature covers every
    // parameter sent, ignored ones included.
    if (s.ok() && auth != nullptr) {
      s = auth->CheckGigya(*params, request, method->service, method->rpc);
    }
    if (s.ok()) {
      // What the official SDKs, jQuery and the JS SDK add (sdk, targetEnv, _, cid, ...) is
      // ignored, as Gigya did; the names go to the debug log only, never into an answer.
      LogIgnored(method_name, params->Unknown(method->params));
      absl::StatusOr<GigyaMethod::Request> parsed = method->parse(*params, request);
      if (!parsed.ok()) {
        s = parsed.status();
      } else {
        absl::StatusOr<std::string> fields = method->call(**parsed);
        if (fields.ok()) {
          e.fields = *std::move(fields);
        } else {
          s = fields.status();
          internal_error = true;
          // Inside a method, NOT_FOUND is an action, challenge or path the request named that
          // does not exist: Gigya's 400006 (invalid value). 404000 is an unknown method only.
          if (absl::IsNotFound(s)) s = AsInvalidValue(s);
        }
      }
    }
  }
  if (!s.ok()) {
    e.error_code = Classify(s).gigya;
    e.error_details = Details(s, method, internal_error);
    // The tenant is named as the caller spelled it ("APIKey: required"), whichever layer named
    // it (a method's parameters, the authentication, the service's "tenant").
    constexpr absl::string_view kApiKey = "apiKey";
    const GigyaParams* sent = params.ok() ? &*params : query.ok() ? &*query : nullptr;
    absl::string_view spelled = sent != nullptr ? sent->Spelled(kApiKey) : kApiKey;
    if (spelled != kApiKey && absl::StartsWith(e.error_details, kApiKey) &&
        (e.error_details.size() == kApiKey.size() ||
         !absl::ascii_isalnum(static_cast<unsigned char>(e.error_details[kApiKey.size()])))) {
      e.error_details.replace(0, kApiKey.size(), std::string(spelled));
    }
  }
  std::string json = EnvelopeJson(e);
  r.status = http_status_codes && e.error_code != 0 ? e.error_code / 1000 : 200;
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  if (callback != nullptr) {
    r.content_type = "text/javascript";
    r.body = absl::StrCat(*callback, "(", json, ");");
  } else {
    r.body = std::move(json);
  }
  return r;
}

http::HttpResponse GigyaRefused(const absl::Status& status) {
  Envelope e;
  e.error_code = Classify(status).gigya;
  e.error_details = std::string(status.message());
  http::HttpResponse r;
  r.body = EnvelopeJson(e);
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  return r;
}

}  // namespace countd::shim
