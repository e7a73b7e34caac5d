#include "tests/fuzz/invariants.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "rapidjson/error/en.h"
#include "server/logic/gm_config.h"
#include "server/logic/tally.h"
#include "server/logic/validate.h"
#include "server/shim/internal/gigya/params.h"
#include "tests/fuzz/fuzz_input.h"

namespace countd::fuzz {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsPrintableAscii(absl::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool IsDecimal(absl::string_view s) {
  int64_t unused = 0;
  return !s.empty() && absl::SimpleAtoi(s, &unused) && absl::StrCat(unused) == s;
}

size_t Utf8Chars(absl::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Field names that are identifiers wherever they occur.
const absl::flat_hash_set<std::string>& IdentifierFields() {
  static const auto* names = new absl::flat_hash_set<std::string>{
      "tenant",     "uid",          "reg_token", "action_id", "challenge_id",
      "visitor_id", "counter_name", "counter",   "countable", "request_id",
      "ip"};
  return *names;
}

void CheckString(const Descriptor* msg, const FieldDescriptor* f, const std::string& v,
                 absl::string_view context) {
  const std::string where = absl::StrCat(msg->full_name(), ".", f->name(), " = \"",
                                         absl::CHexEscape(v.substr(0, 300)), "\"");
  const std::string& name = f->name();
  const std::string& type = msg->name();
  bool identifier = IdentifierFields().contains(name);
  // class and path of a counter are identifiers; in a CounterQuery they may be regex('...').
  if ((name == "class" || name == "path") &&
      (type == "CounterPath" || type == "CounterIncrement")) {
    identifier = true;
  }
  if (name == "challenges" && type == "Action") identifier = true;
  if (identifier) {
    if (name == "tenant") Check(!v.empty(), "an accepted request has no tenant", context);
    if (v.empty()) return;
    Check(v.size() <= 256, absl::StrCat("accepted identifier longer than 256 bytes: ", where),
          context);
    Check(IsPrintableAscii(v), absl::StrCat("accepted identifier not printable ASCII: ", where),
          context);
    if (name == "visitor_id" || name == "counter_name") {
      for (char c : v) {
        Check(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                  c == '~' || c == '-',
              absl::StrCat("accepted Stash name not URL-safe: ", where), context);
      }
    }
    if (absl::StartsWith(type, "Tally") || type == "GetCountRequest" || type == "GetTopKRequest") {
      Check(v.find_first_of("/\\") == std::string::npos,
            absl::StrCat("accepted Tally name holds a slash: ", where), context);
    }
    return;
  }
  if (name == "title" || name == "description" || name == "badge_url") {
    Check(logic::IsValidUtf8(v), absl::StrCat("accepted text not UTF-8: ", where), context);
    Check(v.size() <= logic::kMaxGmTextBytes, absl::StrCat("accepted text too long: ", where),
          context);
  }
  if (name == "metadata") {
    Check(logic::IsValidUtf8(v), absl::StrCat("accepted metadata not UTF-8: ", where), context);
    Check(Utf8Chars(v) <= logic::kMaxMetadataChars,
          absl::StrCat("accepted metadata too long: ", where), context);
  }
}

void CheckNumbers(const Message& m, absl::string_view context) {
  const Descriptor* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  auto field = [d](const char* name) { return d->FindFieldByName(name); };
  const std::string& type = d->name();
  if (type == "TallyIncrementRequest") {
    int32_t w = r->GetInt32(m, field("window_minutes"));
    Check(w >= 1 && w <= logic::kMaxWindowMinutes,
          absl::StrCat("accepted window_minutes ", w, " outside 1..43200"), context);
  }
  if (type == "GetTopKRequest" && r->HasField(m, field("k"))) {
    int32_t k = r->GetInt32(m, field("k"));
    Check(k >= 1 && k <= logic::kMaxTopK, absl::StrCat("accepted k ", k, " outside 1..1000"),
          context);
  }
  if (type == "CounterIncrement" && r->HasField(m, field("count"))) {
    Check(r->GetInt64(m, field("count")) >= 0, "accepted a negative count", context);
  }
  if (type == "IncrementCountersRequest") {
    Check(r->FieldSize(m, field("counters")) <= 100, "accepted more than 100 counters", context);
  }
  if (type == "GetBatchRequest") {
    int n = r->FieldSize(m, field("keys"));
    Check(n >= 1 && n <= 10, absl::StrCat("accepted a batch of ", n, " keys"), context);
  }
  if (type == "RedeemPointsRequest") {
    Check(r->GetInt64(m, field("points")) > 0, "accepted redeeming points <= 0", context);
  }
}

void CheckMessage(const Message& m, absl::string_view context) {
  CheckNumbers(m, context);
  const Descriptor* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int j = 0; j < r->FieldSize(m, f); ++j) {
          CheckMessage(r->GetRepeatedMessage(m, f, j), context);
        }
      } else if (r->HasField(m, f)) {
        CheckMessage(r->GetMessage(m, f), context);
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (f->is_repeated()) {
        for (int j = 0; j < r->FieldSize(m, f); ++j) {
          CheckString(d, f, r->GetRepeatedString(m, f, j), context);
        }
      } else {
        CheckString(d, f, r->GetString(m, f), context);
      }
    }
  }
}

// No answer may be a server fault, and no header may split the response.
void CheckCommon(const http::HttpResponse& response, absl::string_view context) {
  Check(response.status >= 200 && response.status < 500,
        absl::StrCat("server-fault or invalid HTTP status ", response.status), context);
  for (const auto& [name, value] : response.headers) {
    Check(name.find_first_of("\r\n:") == std::string::npos &&
              absl::string_view(value).find_first_of(absl::string_view("\r\n\0", 3)) ==
                  absl::string_view::npos,
          "a response header holds CR, LF or NUL", context);
  }
}

bool HasCors(const http::HttpResponse& response) {
  for (const auto& [name, value] : response.headers) {
    if (absl::EqualsIgnoreCase(name, "Access-Control-Allow-Origin") && value == "*") return true;
  }
  return false;
}

bool IsCorsPreflight(const http::HttpRequest& request, const http::HttpResponse& response,
                     absl::string_view context) {
  if (request.method != "OPTIONS") return false;
  Check(response.status == 204 && response.body.empty() && HasCors(response),
        "OPTIONS on a legacy route is not the CORS preflight", context);
  return true;
}

// The members of a body that must be one JSON object.
const rapidjson::Value& ObjectBody(const std::string& body, rapidjson::Document* doc,
                                   absl::string_view context) {
  Check(ParseStrictJson(body, doc), "the body is not valid JSON", context);
  Check(doc->IsObject(), "the body is not a JSON object", context);
  return *doc;
}

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// grpc-gateway's HTTP status for each gRPC code (runtime/errors.go, HTTPStatusFromCode).
int GatewayHttpStatus(int code) {
  switch (code) {
    case 0: return 200;
    case 1: return 499;   // CANCELLED
    case 2: return 500;   // UNKNOWN
    case 3: return 400;   // INVALID_ARGUMENT
    case 4: return 504;   // DEADLINE_EXCEEDED
    case 5: return 404;   // NOT_FOUND
    case 6: return 409;   // ALREADY_EXISTS
    case 7: return 403;   // PERMISSION_DENIED
    case 8: return 429;   // RESOURCE_EXHAUSTED
    case 9: return 400;   // FAILED_PRECONDITION
    case 10: return 409;  // ABORTED
    case 11: return 400;  // OUT_OF_RANGE
    case 12: return 501;  // UNIMPLEMENTED
    case 13: return 500;  // INTERNAL
    case 14: return 503;  // UNAVAILABLE
    case 15: return 500;  // DATA_LOSS
    case 16: return 401;  // UNAUTHENTICATED
    default: return -1;
  }
}

}  // namespace

void Fail(absl::string_view what, absl::string_view context) {
  std::fprintf(stderr, "\n=== countd fuzz invariant violated: %.*s\n%.*s\n===\n",
               static_cast<int>(what.size()), what.data(), static_cast<int>(context.size()),
               context.data());
  std::fflush(stderr);
  std::abort();
}

std::string Exchange(const http::HttpRequest& request, const http::HttpResponse& response) {
  return absl::StrCat("request: ", Describe(request), "\nanswer: HTTP ", response.status, " ",
                      absl::CHexEscape(response.content_type), "\n  ",
                      absl::CHexEscape(absl::string_view(response.body).substr(0, 1500)));
}

bool ParseStrictJson(absl::string_view text, rapidjson::Document* doc) {
  // Bounded by what the shim writes (never deeper than a few levels); RapidJSON stops at a NUL.
  if (text.find('\0') != absl::string_view::npos) return false;
  doc->Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  return !doc->HasParseError();
}

void CheckAcceptedRequest(const Message& request, absl::string_view context) {
  CheckMessage(request, context);
}

int CheckGigyaAnswer(const http::HttpRequest& request, const http::HttpResponse& response,
                     bool from_shim) {
  const std::string context = Exchange(request, response);
  CheckCommon(response, context);
  if (from_shim && IsCorsPreflight(request, response, context)) return -1;
  Check(HasCors(response), "a Gigya answer without Access-Control-Allow-Origin", context);
  absl::string_view json = response.body;
  if (response.content_type == "text/javascript") {
    size_t open = json.find('(');
    Check(open != absl::string_view::npos && absl::EndsWith(json, ");"),
          "a JSONP answer is not callback({...});", context);
    Check(shim::IsValidJsonpCallback(json.substr(0, open)),
          "a JSONP answer echoes an unsafe callback name", context);
    json = json.substr(open + 1, json.size() - open - 3);
    Check(json.find("\xE2\x80\xA8") == absl::string_view::npos &&
              json.find("\xE2\x80\xA9") == absl::string_view::npos,
          "a JSONP answer holds a raw U+2028/U+2029 (ends a JavaScript string literal)", context);
  } else {
    Check(response.content_type == "application/json", "unexpected Gigya content type", context);
  }
  rapidjson::Document doc;
  const rapidjson::Value& e = ObjectBody(std::string(json), &doc, context);
  auto has = [&e](const char* name) { return e.HasMember(name); };
  Check(has("callId") && e["callId"].IsString() && e["callId"].GetStringLength() == 32 &&
            IsLowerHex(e["callId"].GetString()),
        "callId is not 32 lowercase hex digits", context);
  Check(has("errorCode") && e["errorCode"].IsInt(), "errorCode missing", context);
  Check(has("apiVersion") && e["apiVersion"].IsInt() && e["apiVersion"].GetInt() == 2,
        "apiVersion is not 2", context);
  Check(has("statusCode") && e["statusCode"].IsInt(), "statusCode missing", context);
  Check(has("statusReason") && e["statusReason"].IsString(), "statusReason missing", context);
  Check(has("time") && e["time"].IsString() && e["time"].GetStringLength() == 24,
        "time is not yyyy-mm-ddThh:mm:ss.mmmZ", context);
  const int code = e["errorCode"].GetInt();
  const int status = e["statusCode"].GetInt();
  if (code == 0) {
    Check(status == 200 && !has("errorMessage") && !has("errorDetails"),
          "a successful envelope with an error status or message", context);
    Check(response.status == 200, "a successful Gigya call not answered HTTP 200", context);
  } else {
    Check(code >= 400000 && code < 500000,
          absl::StrCat("errorCode ", code, " is not a client error"), context);
    Check(status == code / 1000, "statusCode is not the first three digits of errorCode", context);
    Check(has("errorMessage") && e["errorMessage"].IsString() &&
              std::string(e["errorMessage"].GetString()) != "General Server error",
          "errorMessage missing or generic", context);
    Check(has("errorDetails") && e["errorDetails"].IsString() &&
              e["errorDetails"].GetStringLength() > 0,
          "errorDetails missing or empty", context);
    Check(response.status == 200 || response.status == status,
          "a Gigya refusal answered with an HTTP status other than 200 or its statusCode", context);
  }
  return code;
}

int CheckStashAnswer(const http::HttpRequest& request, const http::HttpResponse& response) {
  const std::string context = Exchange(request, response);
  CheckCommon(response, context);
  if (IsCorsPreflight(request, response, context)) return -1;
  Check(response.status == 200, "a Stash answer is not HTTP 200", context);
  Check(HasCors(response), "a Stash answer without Access-Control-Allow-Origin", context);
  rapidjson::Document doc;
  const rapidjson::Value& b = ObjectBody(response.body, &doc, context);
  Check(b.HasMember("status") && b["status"].IsInt(), "a Stash body without status", context);
  const int status = b["status"].GetInt();
  if (status != 200) {
    Check(status == 400 || status == 404, absl::StrCat("Stash status ", status), context);
    Check(b.MemberCount() == 1, "a Stash refusal with more than its status", context);
    return status;
  }
  Check(b.MemberCount() == 2 && b.HasMember("data"), "a Stash success without data", context);
  const rapidjson::Value& data = b["data"];
  if (data.IsString()) {
    absl::string_view d(data.GetString(), data.GetStringLength());
    // incr/decr: "<tracking_id>:<counter_name>:2024-03-01" (a tracking_id may hold ':'; the
    // counter name may not); get: a count.
    std::vector<absl::string_view> parts = absl::StrSplit(d, ':');
    Check(IsDecimal(d) || (parts.size() >= 3 && parts.back() == "2024-03-01"),
          "Stash data is neither a count nor a key of today", context);
  } else {
    Check(data.IsObject(), "Stash data is neither a string nor an object", context);
    for (const auto& m : data.GetObject()) {
      Check(m.value.IsString() && IsDecimal(m.value.GetString()),
            "a getbatch value is not a count string", context);
    }
  }
  return status;
}

bool CheckTallyAnswer(const http::HttpRequest& request, const http::HttpResponse& response) {
  const std::string context = Exchange(request, response);
  CheckCommon(response, context);
  if (IsCorsPreflight(request, response, context)) return false;
  Check(response.status == 200, "a Tally answer is not HTTP 200", context);
  Check(HasCors(response), "a Tally answer without Access-Control-Allow-Origin", context);
  rapidjson::Document doc;
  const rapidjson::Value& b = ObjectBody(response.body, &doc, context);
  Check(b.MemberCount() == 1, "a Tally body with more than one member", context);
  if (request.method == "POST") {
    bool saved = b.HasMember("status") && b["status"].IsString() &&
                 std::string(b["status"].GetString()) == "saved";
    bool not_saved = b.HasMember("error") && b["error"].IsString() &&
                     std::string(b["error"].GetString()) == "not saved";
    Check(saved || not_saved, "a Tally write answered neither saved nor not saved", context);
    return saved;
  }
  if (b.HasMember("status")) {
    Check(b["status"].IsInt() && (b["status"].GetInt() == 400 || b["status"].GetInt() == 404),
          "a Tally read failed with a status other than 400/404", context);
    return false;
  }
  Check(b.HasMember("data"), "a Tally read without data", context);
  const rapidjson::Value& data = b["data"];
  if (data.IsString()) {
    Check(IsDecimal(data.GetString()), "an ecount is not a count string", context);
    return true;
  }
  Check(data.IsArray(), "topk data is not an array", context);
  int64_t previous = INT64_MAX;
  for (const rapidjson::Value& item : data.GetArray()) {
    Check(item.IsArray() && (item.Size() == 2 || item.Size() == 3) && item[0].IsString() &&
              item[1].IsString(),
          "a topk item is not [key, count(, metadata)]", context);
    Check(absl::StrContains(item[0].GetString(), "::topk::"),
          "a topk key without ::topk::", context);
    absl::string_view count(item[1].GetString(), item[1].GetStringLength());
    Check(absl::ConsumeSuffix(&count, ".0") && IsDecimal(count), "a topk count is not N.0",
          context);
    int64_t n = 0;
    Check(absl::SimpleAtoi(count, &n) && n > 0 && n <= previous,
          "topk counts are not positive and descending", context);
    previous = n;
    if (item.Size() == 3) {
      Check(item[2].IsString() || item[2].IsNull(), "topk metadata is not a string or null",
            context);
    }
  }
  return true;
}

bool CheckCanonicalAnswer(const http::HttpRequest& request, const http::HttpResponse& response,
                          const google::protobuf::Descriptor* response_type) {
  const std::string context = Exchange(request, response);
  CheckCommon(response, context);
  Check(response.content_type == "application/json", "a canonical answer is not JSON", context);
  rapidjson::Document doc;
  const rapidjson::Value& b = ObjectBody(response.body, &doc, context);
  if (response.status == 200) {
    Check(response_type != nullptr, "HTTP 200 for a route that names no method", context);
    std::unique_ptr<Message> msg(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(response_type)->New());
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto parsed = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(response.body.data(), response.body.size()), msg.get(),
        options);
    Check(parsed.ok(),
          absl::StrCat("the 200 body is not a ", response_type->full_name(), ": ",
                       std::string(parsed.message())),
          context);
    return true;
  }
  Check(b.MemberCount() == 3 && b.HasMember("code") && b["code"].IsInt() &&
            b.HasMember("message") && b["message"].IsString() && b.HasMember("details") &&
            b["details"].IsArray(),
        "a canonical error is not {code, message, details}", context);
  const int code = b["code"].GetInt();
  Check(code != 0 && GatewayHttpStatus(code) == response.status,
        absl::StrCat("code ", code, " answered with HTTP ", response.status), context);
  if (response_type == nullptr) Check(code == 5, "an unknown /v1 route is not NOT_FOUND", context);
  return false;
}

void CheckNoRoute(const http::HttpRequest& request, const http::HttpResponse& response) {
  const std::string context = Exchange(request, response);
  Check(response.status == 404, "an unrouted path is not HTTP 404", context);
  rapidjson::Document doc;
  const rapidjson::Value& b = ObjectBody(response.body, &doc, context);
  Check(
      b.HasMember("error") && b["error"].IsString() && b.HasMember("path") && b["path"].IsString(),
      "an unrouted path is not {\"error\":\"no route\",\"path\":...}", context);
}

const google::protobuf::MethodDescriptor* CanonicalMethod(absl::string_view path) {
  if (!absl::ConsumePrefix(&path, "/v1/")) return nullptr;
  std::vector<std::string> parts = absl::StrSplit(path, '/');
  if (parts.size() != 2) return nullptr;
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          absl::StrCat("countd.v1.", parts[0]));
  if (service == nullptr || parts[0] == "Admin") return nullptr;  // Admin is gRPC only
  return service->FindMethodByName(parts[1]);
}

}  // namespace countd::fuzz
