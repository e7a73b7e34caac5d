// Fuzz target: the Gigya parameter layer (server/shim/internal/gigya/params.h) — merging the query
// string with a form or JSON body (percent-decoding, repeated names), the `counters` JSON string
// parser, the JSONP callback check and the envelope — through AnswerGigya with a method that only
// parses, and GigyaParams / ParseGigyaCounters directly.
// Input format: tests/fuzz/fuzz_input.h (targets get "/" prepended).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "countd/v1/counters.pb.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/errors.h"
#include "server/http/url.h"
#include "server/logic/status_util.h"
#include "server/shim/internal/gigya/methods.h"
#include "server/shim/internal/gigya/params.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/invariants.h"

namespace {

using countd::fuzz::Check;
using countd::http::HttpRequest;
using countd::shim::GigyaCounter;
using countd::shim::GigyaMethod;
using countd::shim::GigyaParams;

// `counters` written back as JSON, to check that parsing it again gives the same list.
std::string CountersJson(const std::vector<GigyaCounter>& list) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartArray();
  for (const GigyaCounter& c : list) {
    w.StartObject();
    w.Key("class");
    w.String(c.class_name.data(), static_cast<rapidjson::SizeType>(c.class_name.size()));
    w.Key("path");
    w.String(c.path.data(), static_cast<rapidjson::SizeType>(c.path.size()));
    w.Key("period");
    w.String(c.period.data(), static_cast<rapidjson::SizeType>(c.period.size()));
    if (c.value.has_value()) {
      w.Key("value");
      w.Double(*c.value);
    }
    if (c.count.has_value()) {
      w.Key("count");
      w.Int64(*c.count);
    }
    w.EndObject();
  }
  w.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

bool SameCounters(const std::vector<GigyaCounter>& a, const std::vector<GigyaCounter>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].class_name != b[i].class_name || a[i].path != b[i].path ||
        a[i].period != b[i].period || a[i].value != b[i].value || a[i].count != b[i].count) {
      return false;
    }
  }
  return true;
}

// The JSONP rule of the contract, written independently: [A-Za-z_$][A-Za-z0-9_$.]*.
bool CallbackModel(absl::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    bool ok = absl::ascii_isalpha(c) || c == '_' || c == '$' ||
              (i > 0 && (absl::ascii_isdigit(c) || c == '.'));
    if (!ok) return false;
  }
  return true;
}

// A method that accepts UID and counters and only parses: its call succeeds with no members.
GigyaMethod ParseOnlyMethod() {
  return countd::shim::MakeGigyaMethod<countd::v1::RegisterCountersRequest>(
      {"UID", "counters"}, {{"uid", "UID"}},
      [](const GigyaParams& p,
         const HttpRequest&) -> absl::StatusOr<countd::v1::RegisterCountersRequest> {
        countd::v1::RegisterCountersRequest req;
        if (const std::string* c = p.Find("counters"); c != nullptr && !c->empty()) {
          auto list = countd::shim::ParseGigyaCounters(*c, {"class", "path"});
          if (!list.ok()) return list.status();
          for (const GigyaCounter& g : *list) req.add_counters()->set_class_(g.class_name);
        }
        return req;
      },
      [](const countd::v1::RegisterCountersRequest&) -> absl::StatusOr<std::string> {
        return std::string();
      });
}

void CheckOne(const HttpRequest& request) {
  static const GigyaMethod* const method = new GigyaMethod(ParseOnlyMethod());
  const std::string context = countd::fuzz::Describe(request);

  absl::StatusOr<GigyaParams> params = GigyaParams::FromRequest(request);
  if (!params.ok()) {
    const int code = countd::Classify(params.status()).gigya;
    Check(code == 400001 || (code == 400006 && countd::logic::FieldOf(params.status()) == "apiKey"),
          "an unreadable request is not 400001 (nor apiKey and APIKey at once 400006)", context);
  } else {
    if (const std::string* cb = params->Find("callback")) {
      Check(countd::shim::IsValidJsonpCallback(*cb) == CallbackModel(*cb),
            "the JSONP callback check disagrees with [A-Za-z_$][A-Za-z0-9_$.]*", context);
    }
    if (const std::string* counters = params->Find("counters")) {
      auto list = countd::shim::ParseGigyaCounters(*counters,
                                                   {"class", "path", "period", "value", "count"});
      if (list.ok()) {
        auto again = countd::shim::ParseGigyaCounters(
            CountersJson(*list), {"class", "path", "period", "value", "count"});
        Check(again.ok() && SameCounters(*list, *again),
              "counters written back as JSON parse differently", context);
      } else {
        int code = countd::Classify(list.status()).gigya;
        Check(code == 400004 || code == 400006, "a bad counters parameter is not 400004/400006",
              context);
        Check(absl::StartsWith(countd::logic::FieldOf(list.status()), "counters"),
              "a counters error does not name counters", context);
      }
    }
    // A GET's parameters are exactly its query string's: each name's first value, and every
    // pair (repeats included) for the signature.
    if (request.method != "POST") {
      auto query = countd::http::ParseForm(request.query);
      Check(query.has_value(), "parameters read from a malformed query string", context);
      absl::flat_hash_set<std::string> seen;
      for (const auto& [name, value] : *query) {
        if (!seen.insert(name).second) continue;
        const std::string* got = params->Find(name);
        Check(got != nullptr && *got == value, "a query parameter was lost or changed", context);
      }
      auto all = params->All();
      std::sort(all.begin(), all.end());
      std::vector<std::pair<std::string, std::string>> sent = *query;
      std::sort(sent.begin(), sent.end());
      Check(all == sent, "the parameters a signature covers are not every pair sent", context);
    }
  }
  // The whole envelope, with the parse-only method and with no method at all.
  countd::fuzz::CheckGigyaAnswer(
      request, countd::shim::AnswerGigya(method, "x.parse", request, /*auth=*/nullptr),
      /*from_shim=*/false);
  countd::fuzz::CheckGigyaAnswer(
      request, countd::shim::AnswerGigya(nullptr, "x.none", request, /*auth=*/nullptr),
      /*from_shim=*/false);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (const HttpRequest& request : countd::fuzz::ReadRequests(
           absl::string_view(reinterpret_cast<const char*>(data), size), "/")) {
    CheckOne(request);
  }
  return 0;
}
