// tests/e2e/shim_e2e_util.h — shared pieces of the JSON shim e2e tests: a fixture that runs one
// real countd per test binary and hands out HTTP clients, JSON parsing and matching with
// RapidJSON, URL/form encoding, and UTC date helpers.
#ifndef COUNTD_TESTS_E2E_SHIM_E2E_UTIL_H_
#define COUNTD_TESTS_E2E_SHIM_E2E_UTIL_H_

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/e2e/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {

// Parses `text` as one JSON document; on failure the document reports HasParseError().
inline rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  return doc;
}

inline std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// The body (a string) is JSON equal to `expected` (member order ignored, numbers by value).
MATCHER_P(JsonEq, expected, absl::StrCat("is JSON equal to ", expected)) {
  rapidjson::Document got = ParseJson(arg);
  if (got.HasParseError()) {
    *result_listener << "which is not JSON: " << rapidjson::GetParseError_En(got.GetParseError());
    return false;
  }
  rapidjson::Document want = ParseJson(expected);
  if (want.HasParseError()) {
    *result_listener << "(the expected text is not JSON)";
    return false;
  }
  return got == want;
}

using Params = std::vector<std::pair<std::string, std::string>>;

// Percent-encodes everything but RFC 3986 unreserved characters.
inline std::string UrlEncode(absl::string_view in) {
  std::string out;
  for (unsigned char c : in) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// name=value pairs joined by "&", each side percent-encoded (a form body or query string).
inline std::string FormEncode(const Params& params) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : params) {
    parts.push_back(absl::StrCat(UrlEncode(name), "=", UrlEncode(value)));
  }
  return absl::StrJoin(parts, "&");
}

// 32 lowercase hex characters (a Gigya callId).
inline bool IsLowerHex32(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// "YYYY-MM-DD" of now in UTC.
inline std::string TodayIso() {
  return absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone());
}

// Runs one countd (real binary, ports 0) for all tests of a suite; each test gets a client.
// Tests keep apart by tenant: tenant_ is unique per test.
class ShimE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::ScopedTempDir();
    test::ServerProcessOptions options;
    options.data_dir = dir_->Sub("data");
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
        test::ServerProcess::Start(options);
    if (!server.ok()) {
      start_error_ = new std::string(server.status().ToString());
      return;
    }
    server_ = server->release();
    if (server_->http_address().empty()) {
      start_error_ = new std::string("countd printed no \"http listening on\" line");
    }
  }

  static void TearDownTestSuite() {
    delete server_;  // kills and reaps countd
    server_ = nullptr;
    delete dir_;
    dir_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    http_ = std::make_unique<HttpClient>(address());
    tenant_ = absl::StrCat("t-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  // On failure, show what the server said and whether it still runs.
  void TearDown() override {
    if (!HasFailure() || server_ == nullptr) return;
    std::optional<test::ExitStatus> exit = server_->WaitForExit(absl::ZeroDuration());
    ADD_FAILURE() << "countd " << (exit.has_value() ? exit->ToString() : "still runs")
                  << "\nstderr:\n"
                  << server_->stderr_text().substr(0, 4000);
  }

  static std::string address() { return server_->http_address(); }

  // How a Gigya-style call sends its parameters.
  enum class Via { kQuery, kForm, kJson };

  // Sends `params` to /<method>: as the query string of a GET, as a form POST, or (kJson) as a
  // POST of a JSON object of strings.
  HttpResult CallGigya(const std::string& method, const Params& params, Via via) {
    const std::string path = absl::StrCat("/", method);
    switch (via) {
      case Via::kQuery:
        return http_->Get(params.empty() ? path : absl::StrCat(path, "?", FormEncode(params)));
      case Via::kForm:
        return http_->Post(path, FormEncode(params),
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
      case Via::kJson: {
        rapidjson::Document doc(rapidjson::kObjectType);
        for (const auto& [name, value] : params) {
          doc.AddMember(rapidjson::Value(name.c_str(), doc.GetAllocator()),
                        rapidjson::Value(value.c_str(), doc.GetAllocator()), doc.GetAllocator());
        }
        return http_->PostJson(path, ToJson(doc));
      }
    }
    return {};
  }

  static test::ScopedTempDir* dir_;
  static test::ServerProcess* server_;
  static std::string* start_error_;

  std::unique_ptr<HttpClient> http_;
  std::string tenant_;
};

inline test::ScopedTempDir* ShimE2eTest::dir_ = nullptr;
inline test::ServerProcess* ShimE2eTest::server_ = nullptr;
inline std::string* ShimE2eTest::start_error_ = nullptr;

}  // namespace countd::e2e

#endif  // COUNTD_TESTS_E2E_SHIM_E2E_UTIL_H_
