// server/shim/internal/gigya/params.h — Gigya-style REST calls: parameters from the query string, a
// form body or a JSON body; the response envelope (callId, errorCode, statusCode, time, ...);
// JSONP.
#ifndef COUNTD_SERVER_SHIM_INTERNAL_GIGYA_PARAMS_H_
#define COUNTD_SERVER_SHIM_INTERNAL_GIGYA_PARAMS_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "rapidjson/document.h"
#include "server/http/http_server.h"

namespace countd::shim {

// The parameters of one call. Thread-compatible (immutable once made).
//
// Legacy clients add parameters of their own (the SDKs' `sdk`, `targetEnv`, jQuery's `_`, ...):
// the envelope layer ignores every name the method does not know (Unknown), and a name sent more
// than once is refused only when the method or the envelope reads it (Repeated).
class GigyaParams {
 public:
  // Collects the query string and, for POST, a form or JSON object body (JSON members that are
  // objects, arrays, numbers, booleans or null become their JSON text, as Gigya SDKs send them;
  // IsJson tells them apart from strings). Find returns the first value of a repeated name.
  // Errors: INVALID_ARGUMENT (400001 "unparseable") for an HTTP method other than GET or POST,
  // an unparseable body or query, a common parameter (format, callback, context,
  // httpStatusCodes, dontHandleScreenSet and the credentials) given more than once, or a body of
  // another content type; 400006 naming apiKey when both apiKey and APIKey are given.
  static absl::StatusOr<GigyaParams> FromRequest(const http::HttpRequest& request);
  // The query string's parameters alone, whatever the HTTP method and body; for answering a
  // request FromRequest refused in the form its caller asked for (status codes, JSONP).
  // Errors: INVALID_ARGUMENT when the query string does not parse.
  static absl::StatusOr<GigyaParams> FromQuery(const http::HttpRequest& request);

  // The value, or nullptr when absent. "apiKey" also finds a parameter sent as "APIKey" (the
  // spelling of some Gigya clients; FromRequest refuses both at once).
  const std::string* Find(absl::string_view name) const;
  // `name` as the caller spelled it: "APIKey" for "apiKey" when that is what was sent.
  absl::string_view Spelled(absl::string_view name) const;
  // The value; INVALID_ARGUMENT "missing" (400002) naming `name` when absent or empty.
  absl::StatusOr<std::string> Required(absl::string_view name) const;
  // A Gigya boolean: nullopt when absent or empty, else ParseGigyaBool of the value.
  absl::StatusOr<absl::optional<bool>> OptionalBool(absl::string_view name) const;
  // True when `name` came in a JSON body as a JSON value other than a string (its value is then
  // that value's JSON text).
  bool IsJson(absl::string_view name) const;
  // Every name that is neither in `allowed` nor a common parameter, sorted.
  std::vector<std::string> Unknown(const absl::flat_hash_set<std::string>& allowed) const;
  // Every name in `allowed` that was given more than once, sorted.
  std::vector<std::string> Repeated(const absl::flat_hash_set<std::string>& allowed) const;
  // Every parameter as sent (names unchanged, repeats included), in no particular order: what a
  // request signature covers.
  std::vector<std::pair<std::string, std::string>> All() const;

 private:
  // FromRequest without the apiKey/APIKey and repeated-common-parameter rules.
  static absl::StatusOr<GigyaParams> Collect(const http::HttpRequest& request);
  // Adds the pairs of a query string or form body; false when it does not parse.
  bool AddForm(absl::string_view text);
  void Add(std::string name, std::string value);

  absl::flat_hash_map<std::string, std::string> values_;  // the first value of each name
  absl::flat_hash_set<std::string> repeated_;             // names sent more than once
  absl::flat_hash_set<std::string> json_;                 // names whose value is JSON text
  std::vector<std::pair<std::string, std::string>> all_;  // every pair, as sent
};

// A Gigya boolean, the same for every parameter of every method: "true" or "false" in any
// case, or "1" or "0". Errors: INVALID_ARGUMENT (400006) naming `name`, quoting the value.
absl::StatusOr<bool> ParseGigyaBool(absl::string_view name, absl::string_view text);

// A number member of a JSON array parameter (`counters`, `levels`): a JSON number, or a string
// holding one in JSON's decimal notation ("200", "-0.5", "1e2"; no blanks, hex, "inf" or
// "nan"), as clients that build the array from form fields or by hand send it. Errors:
// INVALID_ARGUMENT (400004) naming `at`.
absl::StatusOr<double> NumberMember(const rapidjson::Value& v, const std::string& at);
// A whole-number member: a JSON integer, a number with no fraction (2.0, as Python's json.dumps
// writes a float; exact up to 2^53), or a string holding either ("2"). Errors: as NumberMember,
// and 400004 "must be a whole number".
absl::StatusOr<int64_t> WholeMember(const rapidjson::Value& v, const std::string& at);

// A method: the names it accepts beyond the common ones, how the service's field names read in
// the error details of its `call` step (prefix renames applied before the generic snake_case ->
// camelCase; a key ending in '.' strips that prefix when mapped to ""), and its two steps.
// `parse` translates the parameters into the service request and is pure (no service call, no
// state), so it can be tested and fuzzed alone; its errors name parameters as the caller spelled
// them and are echoed unchanged. `call` sends a request that `parse` returned to the service and
// returns the method's own response members as JSON object members ("counters":[...]), or ""
// when it has none.
struct GigyaMethod {
  using Request = std::unique_ptr<google::protobuf::Message>;
  absl::flat_hash_set<std::string> params;
  absl::flat_hash_map<std::string, std::string> field_names;  // e.g. "uid" -> "UID"
  std::function<absl::StatusOr<Request>(const GigyaParams&, const http::HttpRequest&)> parse;
  std::function<absl::StatusOr<std::string>(const google::protobuf::Message&)> call;
  // The gRPC method the call maps to ("Counters", "IncrementCounters"): the access a
  // credential needs for it is logic::AccessOf(service, rpc). MakeGigyaMethod finds it from the
  // request type; empty when no RPC takes that type (AccessOf then fails closed: kWrite).
  std::string service;
  std::string rpc;
};

class ShimAuth;

// A GigyaMethod from typed steps: `parse` makes a `Req`, `call` takes it.
template <typename Req>
GigyaMethod MakeGigyaMethod(
    absl::flat_hash_set<std::string> params,
    absl::flat_hash_map<std::string, std::string> field_names,
    std::function<absl::StatusOr<Req>(const GigyaParams&, const http::HttpRequest&)> parse,
    std::function<absl::StatusOr<std::string>(const Req&)> call) {
  GigyaMethod m;
  m.params = std::move(params);
  m.field_names = std::move(field_names);
  const google::protobuf::Descriptor* type = Req::descriptor();
  for (int i = 0; i < type->file()->service_count(); ++i) {
    const google::protobuf::ServiceDescriptor* service = type->file()->service(i);
    for (int j = 0; j < service->method_count(); ++j) {
      if (service->method(j)->input_type() != type) continue;
      m.service = service->name();
      m.rpc = service->method(j)->name();
    }
  }
  m.parse = [parse = std::move(parse)](
                const GigyaParams& p,
                const http::HttpRequest& r) -> absl::StatusOr<GigyaMethod::Request> {
    absl::StatusOr<Req> req = parse(p, r);
    if (!req.ok()) return req.status();
    return std::make_unique<Req>(*std::move(req));
  };
  m.call = [call = std::move(call)](
               const google::protobuf::Message& req) -> absl::StatusOr<std::string> {
    const Req* typed = google::protobuf::DynamicCastToGenerated<Req>(&req);
    if (typed == nullptr) {
      return absl::InternalError(absl::StrCat("gigya: a ", req.GetTypeName(), " is not a ",
                                              Req::descriptor()->full_name()));
    }
    return call(*typed);
  };
  return m;
}

// Answers a Gigya call of `method` (nullptr = no such method) with the full envelope. With
// `auth` (nullptr = authentication off) the call's credentials are checked before it runs.
// Parameters the method does not take are ignored (debug-logged by name, never echoed); one it
// takes given twice is 400001. Every error, an unknown method (404000) included, is answered
// with HTTP 200 unless httpStatusCodes is true (then the HTTP status is the statusCode).
// `context` is echoed as sent: a string as a string, a JSON body's other JSON value as that
// value. errorDetails names parameters as the caller spelled them.
http::HttpResponse AnswerGigya(const GigyaMethod* method, absl::string_view method_name,
                               const http::HttpRequest& request, ShimAuth* auth);

// The envelope of a call refused before its parameters could be read (e.g. body too large).
http::HttpResponse GigyaRefused(const absl::Status& status);

// True when `name` may be echoed as a JSONP callback: [A-Za-z_$][A-Za-z0-9_$.]*, 1-128 bytes.
bool IsValidJsonpCallback(absl::string_view name);

// 32 lowercase hex characters, random.
std::string NewCallId();

}  // namespace countd::shim

#endif  // COUNTD_SERVER_SHIM_INTERNAL_GIGYA_PARAMS_H_
