// End-to-end corpus of malformed and hostile requests against the real countd binary over real
// HTTP (hand-made requests on raw sockets, so that invalid UTF-8, NUL bytes, CRLF, bad framing
// and absurd lengths reach the server exactly as written). Each route family has a table: every
// row is one request and the answer it must get, in that family's form. Valid requests are
// interleaved; at the end each test reads the database back through the API and asserts that it
// holds exactly what the valid requests wrote. Every row must be answered promptly (regex bombs
// within 2 s: RE2 matches in linear time), and the server must stay healthy.
#include <algorithm>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/shim_e2e_util.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::string_literals;  // "...\0..."s keeps a NUL inside a literal

constexpr absl::Duration kRowLimit = absl::Seconds(5);    // any row: no hang
constexpr absl::Duration kRegexLimit = absl::Seconds(2);  // a regex bomb row
constexpr absl::Duration kTestLimit = absl::Seconds(60);  // a whole table

// --- request building ------------------------------------------------------------------------

// A complete HTTP/1.1 request. A body (even empty) gets a Content-Length for POST/PUT.
std::string Http(absl::string_view method, absl::string_view target,
                 const std::vector<std::string>& headers = {}, absl::string_view body = "") {
  std::string out = absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: countd\r\n");
  for (const std::string& h : headers) absl::StrAppend(&out, h, "\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    absl::StrAppend(&out, "Content-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&out, "Connection: close\r\n\r\n", body);
  return out;
}

const std::string kFormType = "Content-Type: application/x-www-form-urlencoded";
const std::string kJsonType = "Content-Type: application/json";

// A JSON string literal for `s` (for building JSON bodies by hand; bytes are copied as is).
std::string J(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// --- expectations --------------------------------------------------------------------------------

struct Expect {
  enum class Kind { kGigya, kJsonp, kStash, kTally, kCanonical, kPlain };
  Kind kind;
  long http = 200;
  int code = 0;      // Gigya errorCode | Stash body status | canonical code
  std::string text;  // errorDetails part | JSONP callback | Tally body | canonical message part |
                     // plain body part
};

Expect GOk() { return {Expect::Kind::kGigya, 200, 0, ""}; }
// A Gigya refusal whose errorDetails contain `detail` (the parameter's name as the caller wrote
// it).
Expect GErr(int code, std::string detail, long http = 200) {
  return {Expect::Kind::kGigya, http, code, std::move(detail)};
}
Expect Jsonp(std::string callback, int code) {
  return {Expect::Kind::kJsonp, 200, code, std::move(callback)};
}
Expect SOk() { return {Expect::Kind::kStash, 200, 200, ""}; }
Expect SErr(int status) { return {Expect::Kind::kStash, 200, status, ""}; }
Expect TBody(std::string body) { return {Expect::Kind::kTally, 200, 0, std::move(body)}; }
Expect TSaved() { return TBody(R"({"status":"saved"})"); }
Expect TNotSaved() { return TBody(R"({"error":"not saved"})"); }
Expect TStatus(int status) { return TBody(absl::StrCat(R"({"status":)", status, "}")); }
Expect COk() { return {Expect::Kind::kCanonical, 200, 0, ""}; }
Expect CErr(long http, int code, std::string message_part) {
  return {Expect::Kind::kCanonical, http, code, std::move(message_part)};
}
Expect Plain(long http, std::string body_part) {
  return {Expect::Kind::kPlain, http, 0, std::move(body_part)};
}

struct Row {
  Row(std::string n, std::string r, Expect e)
      : name(std::move(n)), request(std::move(r)), expect(std::move(e)) {}
  std::string name;
  std::string request;  // raw bytes on the wire
  Expect expect;
  bool regex = false;        // a regex bomb: answered within kRegexLimit
  std::string never_echoed;  // text that must not appear in the answer
};

bool StrictJson(absl::string_view text, rapidjson::Document* doc) {
  if (text.find('\0') != absl::string_view::npos) return false;
  doc->Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  return !doc->HasParseError();
}

std::string Printable(absl::string_view s, size_t max = 400) {
  return absl::CHexEscape(s.substr(0, max)) + (s.size() > max ? "..." : "");
}

// Checks one answer against its row; failures name the row.
void CheckAnswer(const Row& row, const HttpResult& r) {
  SCOPED_TRACE(absl::StrCat("row \"", row.name, "\": ", Printable(row.request), "\nanswer: HTTP ",
                            r.status, " ", Printable(r.body, 800)));
  const Expect& e = row.expect;
  EXPECT_EQ(r.status, e.http);
  EXPECT_LT(r.status, 500) << "a server fault";
  // No header of the answer was injected by the request (CRLF in echoed parameters).
  for (const auto& [name, value] : r.headers) {
    EXPECT_NE(name, "set-cookie");
    EXPECT_NE(name, "x-injected");
  }
  if (!row.never_echoed.empty()) {
    EXPECT_THAT(r.body, Not(HasSubstr(row.never_echoed)));
  }
  if (e.kind == Expect::Kind::kPlain) {
    EXPECT_THAT(r.body, HasSubstr(e.text));
    return;
  }
  absl::string_view json = r.body;
  if (e.kind == Expect::Kind::kJsonp) {
    EXPECT_EQ(r.HeaderOr("content-type"), "text/javascript");
    ASSERT_TRUE(absl::StartsWith(json, e.text + "(") && absl::EndsWith(json, ");"));
    json = json.substr(e.text.size() + 1, json.size() - e.text.size() - 3);
    EXPECT_EQ(json.find("\xE2\x80\xA8"), absl::string_view::npos) << "raw U+2028 in JSONP";
    EXPECT_EQ(json.find("\xE2\x80\xA9"), absl::string_view::npos) << "raw U+2029 in JSONP";
  } else {
    EXPECT_EQ(r.HeaderOr("content-type"), "application/json");
  }
  rapidjson::Document doc;
  ASSERT_TRUE(StrictJson(json, &doc)) << "the answer is not valid JSON (UTF-8 checked)";
  ASSERT_TRUE(doc.IsObject());
  switch (e.kind) {
    case Expect::Kind::kGigya:
    case Expect::Kind::kJsonp: {
      ASSERT_TRUE(doc.HasMember("errorCode") && doc["errorCode"].IsInt());
      EXPECT_EQ(doc["errorCode"].GetInt(), e.code);
      ASSERT_TRUE(doc.HasMember("statusCode") && doc["statusCode"].IsInt());
      EXPECT_EQ(doc["statusCode"].GetInt(), e.code == 0 ? 200 : e.code / 1000);
      EXPECT_TRUE(doc.HasMember("callId") && doc["callId"].IsString() &&
                  doc["callId"].GetStringLength() == 32);
      if (e.code != 0) {
        ASSERT_TRUE(doc.HasMember("errorDetails") && doc["errorDetails"].IsString());
        EXPECT_THAT(std::string(doc["errorDetails"].GetString()),
                    HasSubstr(e.kind == Expect::Kind::kGigya ? e.text : ""));
      }
      EXPECT_EQ(r.HeaderOr("access-control-allow-origin"), "*");
      break;
    }
    case Expect::Kind::kStash:
      ASSERT_TRUE(doc.HasMember("status") && doc["status"].IsInt());
      EXPECT_EQ(doc["status"].GetInt(), e.code);
      if (e.code == 200) {
        EXPECT_TRUE(doc.HasMember("data"));
      } else {
        EXPECT_EQ(doc.MemberCount(), 1u);
      }
      EXPECT_EQ(r.HeaderOr("access-control-allow-origin"), "*");
      break;
    case Expect::Kind::kTally:
      EXPECT_THAT(r.body, JsonEq(e.text));
      EXPECT_EQ(r.HeaderOr("access-control-allow-origin"), "*");
      break;
    case Expect::Kind::kCanonical:
      if (e.http == 200) break;
      ASSERT_TRUE(doc.HasMember("code") && doc["code"].IsInt());
      EXPECT_EQ(doc["code"].GetInt(), e.code);
      ASSERT_TRUE(doc.HasMember("message") && doc["message"].IsString());
      EXPECT_THAT(std::string(doc["message"].GetString()), HasSubstr(e.text));
      EXPECT_TRUE(doc.HasMember("details") && doc["details"].IsArray());
      break;
    case Expect::Kind::kPlain: break;
  }
}

class HttpHostileE2eTest : public ShimE2eTest {
 protected:
  // Sends one raw request on a new connection and reads the answer.
  HttpResult Send(const std::string& request) {
    HttpResult out;
    absl::StatusOr<RawConnection> c = RawConnection::Connect(address());
    if (!c.ok()) {
      out.error = c.status().ToString();
      return out;
    }
    if (absl::Status s = c->Send(request); !s.ok()) {
      // The server may refuse before reading everything (e.g. 413): still read its answer.
      out.error = s.ToString();
    }
    absl::StatusOr<HttpResult> r = c->ReadResponse(kRowLimit);
    if (!r.ok()) {
      out.error = absl::StrCat(out.error, " ", r.status().ToString());
      return out;
    }
    return *std::move(r);
  }

  // Runs the table: each row answered as expected and in time; then the server is still healthy.
  void RunRows(const std::vector<Row>& rows) {
    const absl::Time start = absl::Now();
    for (const Row& row : rows) {
      const absl::Time t0 = absl::Now();
      HttpResult r = Send(row.request);
      const absl::Duration took = absl::Now() - t0;
      ASSERT_TRUE(r.error.empty() || r.status != 0)
          << "row \"" << row.name << "\" got no answer: " << r.error;
      CheckAnswer(row, r);
      EXPECT_LT(took, row.regex ? kRegexLimit : kRowLimit) << "row \"" << row.name << "\"";
    }
    EXPECT_LT(absl::Now() - start, kTestLimit);
    EXPECT_EQ(http_->Get("/healthz").status, 200);
    EXPECT_EQ(http_->Get("/readyz").status, 200);
    ASSERT_FALSE(server_->WaitForExit(absl::ZeroDuration()).has_value()) << "countd died";
    std::cerr << "[hostile] " << ::testing::UnitTest::GetInstance()->current_test_info()->name()
              << ": " << rows.size() << " rows\n";
  }

  // Gigya-style requests.
  static Row G(std::string name, const std::string& method, const Params& params, Expect e) {
    return {std::move(name), Http("GET", absl::StrCat("/", method, "?", FormEncode(params))), e};
  }
  static Row GQuery(std::string name, const std::string& method, const std::string& raw_query,
                    Expect e) {
    return {std::move(name), Http("GET", absl::StrCat("/", method, "?", raw_query)), e};
  }
  static Row GForm(std::string name, const std::string& method, const std::string& body, Expect e) {
    return {std::move(name), Http("POST", absl::StrCat("/", method), {kFormType}, body), e};
  }
  static Row GJson(std::string name, const std::string& method, const std::string& body, Expect e) {
    return {std::move(name), Http("POST", absl::StrCat("/", method), {kJsonType}, body), e};
  }

  // A Gigya read, parsed; fails the test unless errorCode is 0.
  rapidjson::Document GigyaRead(const std::string& method, const Params& params) {
    HttpResult r = http_->Get(absl::StrCat("/", method, "?", FormEncode(params)));
    rapidjson::Document doc = ParseJson(r.body);
    EXPECT_TRUE(doc.IsObject() && doc.HasMember("errorCode") && doc["errorCode"].GetInt() == 0)
        << method << ": " << r;
    return doc;
  }
};

// --- Gigya accounts.*
// -------------------------------------------------------------------------------

TEST_F(HttpHostileE2eTest, GigyaAccountsRoutes) {
  const std::string t = "hostile-accounts";
  const std::string reg = R"([{"class":"_buy","path":"/"},{"class":"_buy","path":"/shoes"}])";
  auto inc = [&t](const std::string& counters, const std::string& uid = "u1") {
    return Params{{"apiKey", t}, {"UID", uid}, {"counters", counters}};
  };
  const std::string one = R"([{"class":"_buy","path":"/"}])";
  std::vector<Row> rows = {
      G("valid: register", "accounts.registerCounters", {{"apiKey", t}, {"counters", reg}}, GOk()),
      G("valid: increment count 2 value 1.5", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":2,"value":1.5}])"), GOk()),
      G("valid: register a long class (the subject of the regex bombs)",
        "accounts.registerCounters",
        {{"apiKey", t},
         {"counters", absl::StrCat(R"([{"class":")", std::string(250, 'a'), R"(!","path":"/"}])")}},
        GOk()),
      G("valid: increment the long class", "accounts.incrementCounters",
        inc(absl::StrCat(R"([{"class":")", std::string(250, 'a'), R"(!","path":"/","count":3}])")),
        GOk()),
      G("valid: dots are path characters, so /../x is an opaque registered path",
        "accounts.registerCounters",
        {{"apiKey", t}, {"counters", R"([{"class":"_odd","path":"/../x"}])"}}, GOk()),
  };
  // Every hostile value of an identifier parameter, on a read and on a write.
  struct Bad {
    std::string what, value;
    int code;
  };
  const std::vector<Bad> bad_ids = {
      {"empty", "", 400002},
      {"257 bytes", std::string(257, 'a'), 400004},
      {"invalid UTF-8 0xFF", "a\xff", 400004},
      {"overlong UTF-8 for '/'", "a\xc0\xaf", 400004},
      {"UTF-8 surrogate", "\xed\xa0\x80", 400004},
      {"valid UTF-8 but not ASCII", "caf\xc3\xa9", 400004},
      {"CRLF", "a\r\nX-Injected: 1", 400004},
      {"DEL", "a\x7f", 400004},
  };
  for (const char* param : {"apiKey", "UID"}) {
    for (const Bad& b : bad_ids) {
      Params read = {{"apiKey", t}, {"UID", "u1"}};
      Params write = inc(one);
      for (Params* p : {&read, &write}) {
        for (auto& [name, value] : *p) {
          if (name == param) value = b.value;
        }
      }
      rows.push_back(G(absl::StrCat(param, " ", b.what, " (read)"), "accounts.getCounters", read,
                       GErr(b.code, param)));
      rows.push_back(G(absl::StrCat(param, " ", b.what, " (write)"), "accounts.incrementCounters",
                       write, GErr(b.code, param)));
    }
  }
  const std::string bomb = Nested(100'000);
  std::vector<Row> more = {
      G("regToken 257 bytes", "accounts.incrementCounters",
        {{"apiKey", t}, {"regToken", std::string(257, 'r')}, {"counters", one}},
        GErr(400004, "regToken")),
      // NUL bytes in every kind of field.
      GQuery("%00 in the query", "accounts.getCounters", absl::StrCat("apiKey=", t, "&UID=u%001"),
             GErr(400001, "query")),
      GForm("%00 in a form body", "accounts.incrementCounters",
            absl::StrCat(FormEncode(inc(one)), "&requestID=r%00"), GErr(400001, "form")),
      GForm("raw NUL in a form body", "accounts.incrementCounters",
            absl::StrCat(FormEncode(inc(one)), std::string("&requestID=r\0", 13)),
            GErr(400001, "form")),
      GJson("raw NUL in a JSON body", "accounts.incrementCounters",
            absl::StrCat(R"({"apiKey":")", t, R"(","UID":"u1","counters":)", J(one), "}",
                         std::string("\0", 1)),
            GErr(400001, "body")),
      GJson("escaped NUL in a JSON body value", "accounts.incrementCounters",
            absl::StrCat(R"({"apiKey":")", t, R"(","UID":"u\u00001","counters":)", J(one), "}"),
            GErr(400004, "UID")),
      {"raw NUL in the request target",
       Http("GET", absl::StrCat("/accounts.getCounters?apiKey=", t, std::string("&UID=u\0", 7))),
       Plain(400, "bad_request")},  // the target never parsed, so no route family is known
      G("NUL in a counter class", "accounts.incrementCounters",
        inc(R"([{"class":"_b\u0000uy","path":"/"}])"), GErr(400004, "counters[0].class")),
      // The counters JSON string.
      G("class 257 bytes", "accounts.incrementCounters",
        inc(absl::StrCat(R"([{"class":")", std::string(257, 'c'), R"(","path":"/"}])")),
        GErr(400004, "counters[0].class")),
      G("class not ASCII", "accounts.incrementCounters", inc(R"([{"class":"\u00e9","path":"/"}])"),
        GErr(400004, "counters[0].class")),
      G("invalid UTF-8 inside the counters JSON", "accounts.incrementCounters",
        inc("[{\"class\":\"\xff\",\"path\":\"/\"}]"), GErr(400004, "counters")),
      G("overlong UTF-8 inside the counters JSON", "accounts.incrementCounters",
        inc("[{\"class\":\"\xc0\xaf\",\"path\":\"/\"}]"), GErr(400004, "counters")),
      G("path traversal without a leading slash", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"../etc"}])"), GErr(400004, "counters[0].path")),
      G("encoded slash in a path segment", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/a%2Fb"}])"), GErr(400004, "counters[0].path")),
      G("unregistered path", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/nope"}])"), GErr(400006, "counters[0].path")),
      G("count beyond int64", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":9223372036854775808}])"),
        GErr(400004, "counters[0].count")),
      G("count below int64", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":-9223372036854775809}])"),
        GErr(400004, "counters[0].count")),
      G("count with a huge exponent", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":1e400}])"), GErr(400004, "counters")),
      G("valid: a count with an exponent is that whole number", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":1e2}])"), GOk()),
      G("count with an exponent past 2^53", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":1e16}])"), GErr(400004, "counters[0].count")),
      G("count NaN", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":NaN}])"), GErr(400004, "counters")),
      G("count Infinity", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":Infinity}])"), GErr(400004, "counters")),
      G("count -Infinity", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":-Infinity}])"), GErr(400004, "counters")),
      G("count hex", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":0x10}])"), GErr(400004, "counters")),
      G("count fractional", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":1.5}])"), GErr(400004, "counters[0].count")),
      G("valid: a count as a string is that number", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":"1"}])"), GOk()),
      G("count as a string beyond int64", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":"9223372036854775808"}])"),
        GErr(400004, "counters[0].count")),
      G("count as an empty string", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":""}])"), GErr(400004, "counters[0].count")),
      G("count as a hex string", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":"0x10"}])"), GErr(400004, "counters[0].count")),
      G("count as a string with blanks", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":" 1"}])"), GErr(400004, "counters[0].count")),
      G("value as the string inf", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","value":"inf"}])"), GErr(400004, "counters[0].value")),
      G("count true", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":true}])"), GErr(400004, "counters[0].count")),
      G("negative count", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":-1}])"), GErr(400006, "counters[0].count")),
      G("valid: negative zero count is zero", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","count":-0,"value":-0.0}])"), GOk()),
      G("value beyond the magnitude limit", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","value":1e16}])"), GErr(400006, "counters[0].value")),
      G("value 1e308", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","value":1e308}])"), GErr(400006, "counters[0].value")),
      G("value overflowing double", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","value":-1e400}])"), GErr(400004, "counters")),
      G("value NaN as a string", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","value":"NaN"}])"), GErr(400004, "counters[0].value")),
      G("101 counters in one call", "accounts.incrementCounters",
        inc(absl::StrCat(
            "[", absl::StrJoin(std::vector<std::string>(101, one.substr(1, one.size() - 2)), ","),
            "]")),
        GErr(400006, "counters")),
      G("counters an object", "accounts.incrementCounters", inc(R"({"class":"_buy","path":"/"})"),
        GErr(400004, "counters")),
      G("counters element a number", "accounts.incrementCounters", inc("[1]"),
        GErr(400004, "counters[0]")),
      G("counters element an array", "accounts.incrementCounters", inc("[[]]"),
        GErr(400004, "counters[0]")),
      G("counters null", "accounts.incrementCounters", inc("null"), GErr(400004, "counters")),
      G("counters empty", "accounts.incrementCounters", inc(""), GErr(400002, "counters")),
      G("duplicate key in a counter", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","class":"_x","path":"/"}])"), GErr(400004, "counters[0].class")),
      G("unknown counter member", "accounts.incrementCounters",
        inc(R"([{"class":"_buy","path":"/","period":"total"}])"),
        GErr(400006, "counters[0].period")),
      GForm("counters nested 10^5 deep (form)", "accounts.incrementCounters",
            absl::StrCat("apiKey=", t, "&UID=u1&counters=", bomb), GErr(400004, "counters")),
      GJson("counters nested 10^5 deep (JSON body)", "accounts.incrementCounters",
            absl::StrCat(R"({"apiKey":")", t, R"(","UID":"u1","counters":)", bomb, "}"),
            GErr(400001, "body")),
      GJson("a JSON body nested 5*10^5 deep", "accounts.getRegisteredCounters", Nested(500'000),
            GErr(400001, "body")),
      GJson("objects nested 10^5 deep in context", "accounts.getRegisteredCounters",
            absl::StrCat(R"({"apiKey":")", t, R"(","context":)",
                         [] {
                           std::string s;
                           for (int i = 0; i < 100'000; ++i) s += R"({"a":)";
                           return s + "1" + std::string(100'000, '}');
                         }(),
                         "}"),
            GErr(400001, "body")),
      // Parameter structure.
      GQuery("apiKey twice", "accounts.getRegisteredCounters",
             absl::StrCat("apiKey=", t, "&apiKey=", t), GErr(400001, "apiKey")),
      {"UID in the query and the form",
       Http("POST", absl::StrCat("/accounts.getCounters?apiKey=", t, "&UID=u1"), {kFormType},
            "UID=u2"),
       GErr(400001, "UID")},
      GJson("duplicate key in a JSON body", "accounts.getRegisteredCounters",
            absl::StrCat(R"({"apiKey":")", t, R"(","apiKey":"other"})"), GErr(400001, "apiKey")),
      GJson("JSON body an array", "accounts.getRegisteredCounters", "[]", GErr(400001, "body")),
      GJson("JSON body truncated", "accounts.getRegisteredCounters",
            "{\"apiKey\":", GErr(400001, "body")),
      GJson("JSON body with invalid UTF-8", "accounts.getRegisteredCounters",
            "{\"apiKey\":\"\xff\"}", GErr(400001, "body")),
      {"text/plain body",
       Http("POST", "/accounts.getRegisteredCounters", {"Content-Type: text/plain"},
            absl::StrCat("apiKey=", t)),
       GErr(400001, "content-type")},
      {"form body without a content type",
       Http("POST", "/accounts.getRegisteredCounters", {}, absl::StrCat("apiKey=", t)),
       GErr(400001, "content-type")},
      // Parameters a method does not take are ignored (as Gigya did), never echoed, and never
      // make a refused request pass.
      G("valid: unknown parameters are ignored", "accounts.getRegisteredCounters",
        {{"apiKey", t}, {"evil", "1"}, {"sdk", "python_3.6.0"}, {"_", "1700000000000"}}, GOk()),
      G("an ignored parameter does not rescue a malformed counters", "accounts.incrementCounters",
        {{"apiKey", t}, {"UID", "u2"}, {"counters", "[{"}, {"sdk", "js_latest"}, {"cid", "x"}},
        GErr(400004, "counters")),
      G("uid is not UID: the write names no user", "accounts.incrementCounters",
        {{"apiKey", t}, {"uid", "u2"}, {"counters", one}}, GErr(400002, "UID")),
      G("Counters is not counters: nothing to increment", "accounts.incrementCounters",
        {{"apiKey", t}, {"UID", "u2"}, {"Counters", one}}, GErr(400002, "counters")),
      GQuery("a known parameter twice among repeated ignored ones", "accounts.incrementCounters",
             absl::StrCat("apiKey=", t, "&_=1&_=2&UID=u2&UID=u3&counters=", UrlEncode(one)),
             GErr(400001, "UID")),
      GQuery("valid: an ignored parameter may repeat", "accounts.getRegisteredCounters",
             absl::StrCat("apiKey=", t, "&tags%5B%5D=a&tags%5B%5D=b&_=1&_=2"), GOk()),
      GQuery("httpStatusCodes twice", "accounts.getRegisteredCounters",
             absl::StrCat("apiKey=", t, "&httpStatusCodes=true&httpStatusCodes=false"),
             GErr(400001, "httpStatusCodes")),
      G("dontHandleScreenSet not a boolean", "accounts.getRegisteredCounters",
        {{"apiKey", t}, {"dontHandleScreenSet", "maybe"}}, GErr(400006, "dontHandleScreenSet")),
      G("httpStatusCodes=TRUE is a boolean like true", "accounts.getCounters",
        {{"apiKey", t}, {"httpStatusCodes", "TRUE"}}, GErr(400002, "UID", 400)),
      G("UID and regToken", "accounts.incrementCounters",
        {{"apiKey", t}, {"UID", "u1"}, {"regToken", "r"}, {"counters", one}}, GErr(400006, "UID")),
      G("httpStatusCodes not a boolean", "accounts.getRegisteredCounters",
        {{"apiKey", t}, {"httpStatusCodes", "maybe"}}, GErr(400006, "httpStatusCodes")),
      G("httpStatusCodes=true makes the HTTP status the statusCode", "accounts.getCounters",
        {{"apiKey", t}, {"UID", std::string(300, 'u')}, {"httpStatusCodes", "true"}},
        GErr(400004, "UID", 400)),
      G("format xml", "accounts.getRegisteredCounters", {{"apiKey", t}, {"format", "xml"}},
        GErr(400006, "format")),
      G("jsonp without a callback", "accounts.getRegisteredCounters",
        {{"apiKey", t}, {"format", "jsonp"}}, GErr(400002, "callback")),
      // HTTP method oddities: only GET and POST call a method.
      {"PUT does not write",
       Http("PUT", absl::StrCat("/accounts.incrementCounters?", FormEncode(inc(one)))),
       GErr(400001, "method")},
      {"DELETE does not write",
       Http("DELETE", absl::StrCat("/accounts.registerCounters?apiKey=", t,
                                   "&counters=", UrlEncode(R"([{"class":"_del","path":"/"}])"))),
       GErr(400001, "method")},
      {"lower-case get is another method",
       Http("get", absl::StrCat("/accounts.incrementCounters?", FormEncode(inc(one)))),
       GErr(400001, "method")},
      {"OPTIONS is the CORS preflight",
       Http("OPTIONS", absl::StrCat("/accounts.incrementCounters?", FormEncode(inc(one)))),
       Plain(204, "")},
      G("unknown method: HTTP 200, the error in the envelope", "accounts.dropEverything",
        {{"apiKey", t}}, GErr(404000, "accounts.dropEverything")),
      G("unknown method with httpStatusCodes=1", "accounts.dropEverything",
        {{"apiKey", t}, {"httpStatusCodes", "1"}}, GErr(404000, "accounts.dropEverything", 404)),
      {"a second path segment is no Gigya route",
       Http("GET", absl::StrCat("/accounts.getCounters/../accounts.incrementCounters?",
                                FormEncode(inc(one)))),
       Plain(404, "no route")},
      G("valid: increment by regToken", "accounts.incrementCounters",
        {{"apiKey", t}, {"regToken", "tok"}, {"counters", R"([{"class":"_buy","path":"/shoes"}])"}},
        GOk()),
  };
  for (Row& r : more) rows.push_back(std::move(r));
  // Regex bombs in getCounters filters (class, path, period): RE2, linear time.
  const std::vector<std::string> bombs = {"(a+)+$",
                                          "(a|aa)+$",
                                          "(a*)*b",
                                          "(.*a){25}",
                                          "^(a|a?)+$",
                                          "(\\w+\\s?)+$",
                                          "((a+)+)+c",
                                          "(a|a)*(a|a)*(a|a)*!!",
                                          "^(([a-z])+.)+[A-Z]([a-z])+$",
                                          "(x+x+)+y"};
  for (size_t i = 0; i < bombs.size(); ++i) {
    for (const char* member : {"class", "path", "period"}) {
      Row r = G(
          absl::StrCat("regex bomb ", i, " in ", member), "accounts.getCounters",
          {{"apiKey", t},
           {"UID", "u1"},
           {"counters",
            absl::StrCat("[{\"", member, "\":", J(absl::StrCat("regex('", bombs[i], "')")), "}]")}},
          GOk());
      r.regex = true;
      rows.push_back(std::move(r));
    }
  }
  auto regex_row = [&](std::string name, const std::string& pattern) {
    return G(std::move(name), "accounts.getCounters",
             {{"apiKey", t},
              {"UID", "u1"},
              {"counters", absl::StrCat(R"([{"class":)", J(pattern), "}]")}},
             GErr(400004, "counters[0].class"));
  };
  rows.push_back(regex_row("a regex that does not compile", "regex('(')"));
  rows.push_back(regex_row("a repetition beyond RE2's limit", "regex('a{1000}{1000}')"));
  rows.push_back(
      regex_row("a nested repetition too big to compile", "regex('((a{100}){100}){100}')"));
  rows.push_back(regex_row("a backreference", "regex('(a)\\1')"));
  rows.push_back(regex_row("a lookahead", "regex('(?=a)a')"));
  rows.push_back(regex_row("a pattern over 1024 bytes",
                           absl::StrCat("regex('", std::string(1100, 'a'), "')")));
  rows.push_back(regex_row("an empty pattern", "regex('')"));
  rows.push_back(regex_row("an unterminated regex(", "regex('a"));
  // JSONP and echoed text.
  std::vector<Row> jsonp = {
      G("callback injection alert(1)//", "accounts.getRegisteredCounters",
        {{"apiKey", t}, {"format", "jsonp"}, {"callback", "alert(1)//"}}, GErr(400006, "callback")),
      G("callback closing a script tag", "accounts.getRegisteredCounters",
        {{"apiKey", t}, {"format", "jsonp"}, {"callback", "</script><script>alert(1)</script>"}},
        GErr(400006, "callback")),
      G("callback with U+2028", "accounts.getRegisteredCounters",
        {{"apiKey", t},
         {"format", "jsonp"},
         {"callback",
          "a\xe2\x80\xa8"
          "b"}},
        GErr(400006, "callback")),
      G("callback with CRLF", "accounts.getRegisteredCounters",
        {{"apiKey", t}, {"format", "jsonp"}, {"callback", "a\r\nX-Injected: 1"}},
        GErr(400006, "callback")),
      G("callback empty", "accounts.getRegisteredCounters",
        {{"apiKey", t}, {"format", "jsonp"}, {"callback", ""}}, GErr(400002, "callback")),
      G("callback 129 bytes", "accounts.getRegisteredCounters",
        {{"apiKey", t}, {"format", "jsonp"}, {"callback", std::string(129, 'c')}},
        GErr(400006, "callback")),
      G("valid: JSONP escapes U+2028/U+2029 in the echoed context",
        "accounts.getRegisteredCounters",
        {{"apiKey", t},
         {"format", "jsonp"},
         {"callback", "jQuery_1.cb$"},
         {"context",
          "a\xe2\x80\xa8"
          "b\xe2\x80\xa9</script><script>alert(1)</script>"}},
        Jsonp("jQuery_1.cb$", 0)),
      G("valid: context that is not UTF-8 is echoed as valid JSON",
        "accounts.getRegisteredCounters", {{"apiKey", t}, {"context", "ctx\xff\xc0\xaf"}}, GOk()),
      G("valid: CRLF in context stays in the body", "accounts.getRegisteredCounters",
        {{"apiKey", t}, {"context", "x\r\nSet-Cookie: a=1\r\nX-Injected: 1"}}, GOk()),
      {"valid: a JSON context in JSONP escapes U+2028/U+2029",
       Http("POST", "/accounts.getRegisteredCounters", {kJsonType},
            absl::StrCat(R"({"apiKey":")", t, R"(","format":"jsonp","callback":"cb",)",
                         R"("context":{"a":["x)", "\xe2\x80\xa8", "y", "\xe2\x80\xa9", R"("]}})")),
       Jsonp("cb", 0)},
      G("an ignored parameter's name is never echoed", "accounts.getCounters",
        {{"apiKey", t}, {"<script>alert(1)</script>", "1"}, {"x\r\nX-Injected: 1", "2"}},
        GErr(400002, "UID")),
  };
  jsonp.back().never_echoed = "alert(";
  jsonp[0].never_echoed = "alert(";
  jsonp[1].never_echoed = "<script>";
  for (Row& r : jsonp) rows.push_back(std::move(r));
  RunRows(rows);

  // The database holds exactly what the valid rows wrote.
  rapidjson::Document registered = GigyaRead("accounts.getRegisteredCounters", {{"apiKey", t}});
  EXPECT_EQ(ToJson(registered["counters"]),
            absl::StrCat(R"([{"class":"_buy","path":"/"},{"class":"_buy","path":"/shoes"},)",
                         R"({"class":"_odd","path":"/../x"},{"class":")", std::string(250, 'a'),
                         R"(!","path":"/"}])"));
  rapidjson::Document u1 = GigyaRead("accounts.getCounters", {{"apiKey", t}, {"UID", "u1"}});
  ASSERT_TRUE(u1["counters"].IsArray());
  ASSERT_EQ(u1["counters"].Size(), 2u) << ToJson(u1);
  EXPECT_EQ(u1["counters"][1]["class"].GetString(), std::string(250, 'a') + "!");
  EXPECT_EQ(u1["counters"][1]["count"].GetInt64(), 3);
  EXPECT_EQ(u1["counters"][0]["path"].GetString(), std::string("/"));
  // 2, then 1e2 and "1" (whole numbers as clients may write them).
  EXPECT_EQ(u1["counters"][0]["count"].GetInt64(), 2 + 100 + 1);
  EXPECT_EQ(u1["counters"][0]["value"].GetDouble(), 1.5);
  rapidjson::Document tok = GigyaRead("accounts.getCounters", {{"apiKey", t}, {"regToken", "tok"}});
  ASSERT_EQ(tok["counters"].Size(), 1u) << ToJson(tok);
  EXPECT_EQ(tok["counters"][0]["path"].GetString(), std::string("/shoes"));
  EXPECT_EQ(tok["counters"][0]["count"].GetInt64(), 1);
  // Users named only by refused rows have nothing.
  rapidjson::Document other = GigyaRead("accounts.getCounters", {{"apiKey", t}, {"UID", "u2"}});
  EXPECT_EQ(ToJson(other["counters"]), "[]");
  EXPECT_EQ(ToJson(GigyaRead("accounts.getRegisteredCounters", {{"apiKey", "other"}})["counters"]),
            "[]");
}

// --- Gigya gm.* ---------------------------------------------------------------------------------

TEST_F(HttpHostileE2eTest, GigyaGameMechanicsRoutes) {
  const std::string t = "hostile-gm";
  const std::string long_id = std::string(250, 'a') + "!";  // the subject of the regex bombs
  auto p = [&t](Params params) {
    params.insert(params.begin(), {"apiKey", t});
    return params;
  };
  std::vector<Row> rows = {
      G("valid: challenge ch1", "gm.setChallengeConfig",
        p({{"challengeID", "ch1"},
           {"title", "One"},
           {"levels",
            R"([{"level":1,"title":"L1","pointsRequired":10},{"level":2,"title":"L2","pointsRequired":100}])"}}),
        GOk()),
      G("valid: challenge ch2", "gm.setChallengeConfig", p({{"challengeID", "ch2"}}), GOk()),
      G("valid: challenge with a long id", "gm.setChallengeConfig", p({{"challengeID", long_id}}),
        GOk()),
      G("valid: action a1", "gm.setActionConfig",
        p({{"actionID", "a1"}, {"points", "10"}, {"challenges", "ch1"}}), GOk()),
      G("valid: action worth INT64_MAX", "gm.setActionConfig",
        p({{"actionID", "big"}, {"points", "9223372036854775807"}, {"challenges", "ch2"}}), GOk()),
      G("valid: action id ../a is an opaque name", "gm.setActionConfig",
        p({{"actionID", "../a"}, {"points", "1"}, {"challenges", "ch2"}}), GOk()),
      G("valid: action with a long id", "gm.setActionConfig",
        p({{"actionID", long_id}, {"points", "0"}, {"challenges", "ch2"}}), GOk()),
      G("valid: notify u1 a1", "gm.notifyAction", p({{"UID", "u1"}, {"action", "a1"}}), GOk()),
      G("valid: notify u1 a1 again", "gm.notifyAction", p({{"UID", "u1"}, {"action", "a1"}}),
        GOk()),
      G("valid: redeem 5", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", "5"}}), GOk()),
      G("valid: notify u2 big", "gm.notifyAction", p({{"UID", "u2"}, {"action", "big"}}), GOk()),
      G("valid: notify u2 big again (saturates)", "gm.notifyAction",
        p({{"UID", "u2"}, {"action", "big"}}), GOk()),
  };
  // include/exclude of the gm.* methods are comma lists of ids, matched exactly (no regex engine
  // is involved): pattern-looking text, even a catastrophic one, is a literal id that selects
  // nothing, answered at once.
  const std::vector<std::string> bombs = {"regex('(a+)+$')", "(a|aa)+$", "regex('(')",
                                          "regex('(a)\\1')", "*,(a*)*b"};
  for (size_t i = 0; i < bombs.size(); ++i) {
    Row a = G(absl::StrCat("pattern-looking include ", i, " is a literal id"),
              "gm.getChallengeStatus", p({{"UID", "u1"}, {"includeChallenges", bombs[i]}}), GOk());
    Row b = G(absl::StrCat("pattern-looking exclude ", i, " is a literal id"), "gm.getActionConfig",
              p({{"excludeActions", bombs[i]}}), GOk());
    a.regex = b.regex = true;
    rows.push_back(std::move(a));
    rows.push_back(std::move(b));
  }
  std::vector<Row> more = {
      G("an include item of 1100 bytes", "gm.getActionConfig",
        p({{"includeActions", std::string(1100, 'a')}}), GErr(400004, "includeActions")),
      G("an empty include item", "gm.getChallengeConfig", p({{"includeChallenges", "a,,b"}}),
        GErr(400004, "includeChallenges")),
      G("an include item not UTF-8", "gm.getChallengeStatus",
        p({{"UID", "u1"}, {"includeChallenges", "ch1,\xff"}}), GErr(400004, "includeChallenges")),
      // Numbers.
      G("points beyond int64", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", "99999999999999999999"}}),
        GErr(400004, "points")),
      G("points with an exponent", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", "1e3"}}), GErr(400004, "points")),
      G("points hex", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", "0x10"}}), GErr(400004, "points")),
      G("points with a plus sign", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", "+5"}}), GErr(400004, "points")),
      G("points with a space", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", " 5"}}), GErr(400004, "points")),
      G("points fractional", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", "5.0"}}), GErr(400004, "points")),
      G("points NaN", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", "NaN"}}), GErr(400004, "points")),
      G("points Infinity", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", "Infinity"}}), GErr(400004, "points")),
      G("negative points", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", "-1"}}), GErr(400006, "points")),
      G("negative zero points", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", "-0"}}), GErr(400006, "points")),
      G("points above the balance", "gm.redeemPoints",
        p({{"UID", "u1"}, {"challenge", "ch1"}, {"points", "9223372036854775807"}}),
        GErr(400006, "points")),
      G("points missing", "gm.redeemPoints", p({{"UID", "u1"}, {"challenge", "ch1"}}),
        GErr(400002, "points")),
      G("action points beyond int64", "gm.setActionConfig",
        p({{"actionID", "a1"}, {"points", "9223372036854775808"}}), GErr(400004, "points")),
      G("action points below int64", "gm.setActionConfig",
        p({{"actionID", "a1"}, {"points", "-9223372036854775809"}}), GErr(400004, "points")),
      G("startTime beyond int64", "gm.getActionsLog",
        p({{"UID", "u1"}, {"startTime", "99999999999999999999"}}), GErr(400004, "startTime")),
      G("endTime with an exponent", "gm.getActionsLog", p({{"UID", "u1"}, {"endTime", "1e9"}}),
        GErr(400004, "endTime")),
      G("negative startTime", "gm.getActionsLog", p({{"UID", "u1"}, {"startTime", "-1"}}),
        GErr(400006, "startTime")),
      G("pageSize negative", "gm.getActionsLog", p({{"UID", "u1"}, {"pageSize", "-5"}}),
        GErr(400006, "pageSize")),
      G("pageSize 0 (paging asks for at least one action)", "gm.getActionsLog",
        p({{"UID", "u1"}, {"pageSize", "0"}}), GErr(400006, "pageSize")),
      G("pageSize 1001", "gm.getActionsLog", p({{"UID", "u1"}, {"pageSize", "1001"}}),
        GErr(400006, "pageSize")),
      G("pageToken not from a previous page", "gm.getActionsLog",
        p({{"UID", "u1"}, {"pageToken", "../../etc"}}), GErr(400004, "pageToken")),
      G("enabled yes", "gm.setChallengeConfig", p({{"challengeID", "c-yes"}, {"enabled", "yes"}}),
        GErr(400006, "enabled")),
      G("totalCount with an exponent", "gm.getTopUsers", p({{"totalCount", "1e3"}}),
        GErr(400004, "totalCount")),
      G("totalCount beyond int64", "gm.getTopUsers", p({{"totalCount", "99999999999999999999"}}),
        GErr(400004, "totalCount")),
      G("totalCount 101", "gm.getTopUsers", p({{"totalCount", "101"}}), GErr(400006, "totalCount")),
      G("period month", "gm.getTopUsers", p({{"period", "month"}}), GErr(400006, "period")),
      G("includeSelf maybe", "gm.getTopUsers", p({{"includeSelf", "maybe"}}),
        GErr(400006, "includeSelf")),
      // levels: a JSON string.
      GForm("levels nested 10^5 deep", "gm.setChallengeConfig",
            absl::StrCat("apiKey=", t, "&challengeID=ch1&levels=", Nested(100'000)),
            GErr(400004, "levels")),
      G("levels with a duplicate key", "gm.setChallengeConfig",
        p({{"challengeID", "ch1"}, {"levels", R"([{"level":1,"level":2,"pointsRequired":1}])"}}),
        GErr(400004, "levels[0].level")),
      // A numeric string ("1") is a whole number, as in counters; a word or a fraction is not.
      G("level as a word", "gm.setChallengeConfig",
        p({{"challengeID", "ch1"}, {"levels", R"([{"level":"one"}])"}}),
        GErr(400004, "levels[0].level")),
      G("level as a fraction in a string", "gm.setChallengeConfig",
        p({{"challengeID", "ch1"}, {"levels", R"([{"level":"1.5"}])"}}),
        GErr(400004, "levels[0].level")),
      G("level beyond int32", "gm.setChallengeConfig",
        p({{"challengeID", "ch1"}, {"levels", R"([{"level":10000000000}])"}}),
        GErr(400006, "levels[0].level")),
      G("pointsRequired beyond int64", "gm.setChallengeConfig",
        p({{"challengeID", "ch1"},
           {"levels", R"([{"level":1,"pointsRequired":9223372036854775808}])"}}),
        GErr(400004, "levels[0].pointsRequired")),
      G("pointsRequired NaN", "gm.setChallengeConfig",
        p({{"challengeID", "ch1"}, {"levels", R"([{"level":1,"pointsRequired":NaN}])"}}),
        GErr(400004, "levels")),
      G("levels an object", "gm.setChallengeConfig",
        p({{"challengeID", "ch1"}, {"levels", R"({"level":1})"}}), GErr(400004, "levels")),
      G("unknown level member", "gm.setChallengeConfig",
        p({{"challengeID", "ch1"}, {"levels", R"([{"level":1,"evil":1}])"}}),
        GErr(400006, "levels[0].evil")),
      // Text and identifiers.
      G("title not UTF-8", "gm.setActionConfig", p({{"actionID", "a1"}, {"title", "T\xff"}}),
        GErr(400004, "title")),
      G("description with an overlong slash", "gm.setChallengeConfig",
        p({{"challengeID", "ch1"}, {"description", "\xc0\xaf"}}), GErr(400004, "description")),
      G("level title not UTF-8 (JSON escape of a lone surrogate)", "gm.setChallengeConfig",
        p({{"challengeID", "ch1"}, {"levels", R"([{"level":1,"title":"\udc00"}])"}}),
        GErr(400004, "levels[0].title")),
      G("title over 4096 bytes", "gm.setActionConfig",
        p({{"actionID", "a1"}, {"title", std::string(4097, 't')}}), GErr(400006, "title")),
      GQuery("description with %00", "gm.setActionConfig",
             absl::StrCat("apiKey=", t, "&actionID=a1&description=x%00y"), GErr(400001, "query")),
      G("a challenge id of 257 bytes in challenges", "gm.setActionConfig",
        p({{"actionID", "a1"}, {"challenges", std::string(257, 'c')}}),
        GErr(400004, "challenges[0]")),
      G("unknown action", "gm.notifyAction", p({{"UID", "u1"}, {"action", "nope"}}),
        GErr(400006, "action")),
      G("ip with CRLF", "gm.notifyAction",
        p({{"UID", "u1"}, {"action", "a1"}, {"ip", "1.2.3.4\r\nX-Injected: 1"}}),
        GErr(400004, "ip")),
      G("ip 257 bytes", "gm.notifyAction",
        p({{"UID", "u1"}, {"action", "a1"}, {"ip", std::string(257, '1')}}), GErr(400004, "ip")),
      G("requestID 257 bytes", "gm.notifyAction",
        p({{"UID", "u1"}, {"action", "a1"}, {"requestID", std::string(257, 'r')}}),
        GErr(400004, "requestID")),
      G("UID not UTF-8", "gm.notifyAction", p({{"UID", "u\xff"}, {"action", "a1"}}),
        GErr(400004, "UID")),
      G("UID 257 bytes", "gm.redeemPoints",
        p({{"UID", std::string(257, 'u')}, {"challenge", "ch1"}, {"points", "1"}}),
        GErr(400004, "UID")),
      G("deleting _default", "gm.deleteChallenge", p({{"challengeID", "_default"}}),
        GErr(400006, "challengeID")),
      G("disabling _default", "gm.setChallengeConfig",
        p({{"challengeID", "_default"}, {"enabled", "false"}}), GErr(400006, "enabled")),
      {"PUT does not notify",
       Http("PUT",
            absl::StrCat("/gm.notifyAction?", FormEncode(p({{"UID", "u1"}, {"action", "a1"}})))),
       GErr(400001, "method")},
  };
  for (Row& r : more) rows.push_back(std::move(r));
  RunRows(rows);

  // Balances: u1 earned 10 + 10 in ch1 and redeemed 5; u2's two INT64_MAX grants saturate.
  rapidjson::Document u1 = GigyaRead("gm.getChallengeStatus",
                                     {{"apiKey", t}, {"UID", "u1"}, {"includeChallenges", "ch1"}});
  ASSERT_EQ(u1["achievements"].Size(), 1u) << ToJson(u1);
  EXPECT_EQ(u1["achievements"][0]["pointsTotal"].GetInt64(), 15);
  EXPECT_EQ(u1["achievements"][0]["level"].GetInt(), 1);
  rapidjson::Document u2 = GigyaRead("gm.getChallengeStatus",
                                     {{"apiKey", t}, {"UID", "u2"}, {"includeChallenges", "ch2"}});
  ASSERT_EQ(u2["achievements"].Size(), 1u) << ToJson(u2);
  EXPECT_EQ(u2["achievements"][0]["pointsTotal"].GetInt64(), INT64_MAX);
  // The log: each grant once in ch1 and in _default, the redeem once; nothing from refused rows.
  rapidjson::Document log = GigyaRead("gm.getActionsLog", {{"apiKey", t}, {"UID", "u1"}});
  std::vector<std::string> entries;
  for (const auto& e : log["actions"].GetArray()) {
    entries.push_back(absl::StrCat(e["challengeID"].GetString(), " ", e["actionID"].GetString(),
                                   " ", e["points"].GetInt64(), " ", e["operation"].GetString()));
  }
  std::sort(entries.begin(), entries.end());
  EXPECT_THAT(entries, ::testing::ElementsAre("_default a1 10 grant", "_default a1 10 grant",
                                              "ch1 _redeem -5 redeem", "ch1 a1 10 grant",
                                              "ch1 a1 10 grant"));
  // The configuration: the valid actions exactly, a1 unchanged by the refused updates.
  rapidjson::Document actions = GigyaRead("gm.getActionConfig", {{"apiKey", t}});
  std::vector<std::string> ids;
  for (const auto& a : actions["actions"].GetArray()) {
    ids.push_back(absl::StrCat(a["actionID"].GetString(), "=", a["points"].GetInt64(), "/",
                               a["title"].GetString()));
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_THAT(ids, ::testing::ElementsAre("../a=1/", "a1=10/", absl::StrCat(long_id, "=0/"),
                                          "big=9223372036854775807/"));
  rapidjson::Document challenges =
      GigyaRead("gm.getChallengeConfig", {{"apiKey", t}, {"includeChallenges", "ch1"}});
  ASSERT_EQ(challenges["challenges"].Size(), 1u);
  EXPECT_EQ(ToJson(challenges["challenges"][0]["levels"]),
            R"([{"level":1,"title":"L1","pointsRequired":10},)"
            R"({"level":2,"title":"L2","pointsRequired":100}])");
  EXPECT_EQ(std::string(challenges["challenges"][0]["title"].GetString()), "One");
}

// --- Stash
// ------------------------------------------------------------------------------------------

TEST_F(HttpHostileE2eTest, StashRoutes) {
  const std::string t = "hostile-stash";
  const std::string base = absl::StrCat("/stash/v1.1/count/");
  auto incr = [&](const std::string& key) {
    return absl::StrCat(base, "incr/", t, "/public/", key);
  };
  auto get = [&](const std::string& key) { return absl::StrCat(base, "get/", t, "/public/", key); };
  const std::string batch = absl::StrCat(base, "getbatch/", t, "/public");
  const std::string today = TodayIso();
  auto S = [](std::string name, std::string request, Expect e) {
    return Row{std::move(name), std::move(request), std::move(e)};
  };
  std::vector<Row> rows = {
      S("valid: incr v1:c1", Http("POST", incr("v1:c1"), {kJsonType}, R"({"dimension":"date"})"),
        SOk()),
      S("valid: incr v1:c1 without a body", Http("POST", incr("v1:c1")), SOk()),
      S("valid: decr v1:c1", Http("POST", absl::StrCat(base, "decr/", t, "/public/v1:c1")), SOk()),
      S("valid: a visitor named .. is an opaque name", Http("POST", incr("..:c2")), SOk()),
      S("valid: every URL-safe character", Http("POST", incr("A-z_0.9~:c.~-_")), SOk()),
  };
  struct Bad {
    std::string what, key;
  };
  const std::vector<Bad> bad_keys = {
      {"no colon", "v1"},
      {"three parts on incr", "v1:c1:x"},
      {"empty visitor", ":c1"},
      {"empty counter", "v1:"},
      {"encoded slash in the visitor", "v1%2Fx:c1"},
      {"encoded slash, lower case", "v1%2fx:c1"},
      {"encoded traversal ..%2F..%2F", "..%2F..%2Fetc:c1"},
      {"double-encoded traversal", "%252e%252e%252f:c1"},
      {"encoded dots and slash", "%2e%2e%2f:c1"},
      {"backslash", "v%5C1:c1"},
      {"%00", "v%00:c1"},
      {"invalid UTF-8", "v%FF:c1"},
      {"overlong UTF-8", "v%C0%AF:c1"},
      {"space", "v%20:c1"},
      {"CRLF", "v%0D%0AX-Injected:%201:c1"},
      {"visitor 257 bytes", std::string(257, 'v') + ":c1"},
      {"counter 257 bytes", "v1:" + std::string(257, 'c')},
      {"malformed escape", "v%zz:c1"},
      {"truncated escape", "v1:c%"},
      {"colon in the counter", "v1:c:d"},
  };
  for (const Bad& b : bad_keys) {
    rows.push_back(S(absl::StrCat("incr key ", b.what), Http("POST", incr(b.key)), SErr(400)));
  }
  // A POST to v9:c9, which no valid row writes.
  auto to_v9 = [&](const std::vector<std::string>& headers, const std::string& body) {
    return Http("POST", incr("v9:c9"), headers, body);
  };
  std::vector<Row> more = {
      S("tracking_id with an encoded slash",
        Http("POST", absl::StrCat(base, "incr/t%2F..%2Fx/public/v:c")), SErr(400)),
      S("tracking_id 257 bytes",
        Http("POST", absl::StrCat(base, "incr/", std::string(257, 't'), "/public/v:c")), SErr(400)),
      S("tracking_id not UTF-8", Http("POST", absl::StrCat(base, "incr/t%FF/public/v:c")),
        SErr(400)),
      S("incr by GET", Http("GET", incr("v1:c1")), SErr(400)),
      S("incr by PUT", Http("PUT", incr("v1:c1")), SErr(400)),
      S("incr by DELETE", Http("DELETE", incr("v1:c1")), SErr(400)),
      S("incr by lower-case post", Http("post", incr("v1:c1")), SErr(400)),
      S("get by POST", Http("POST", get(absl::StrCat("v1:c1:", today))), SErr(400)),
      S("body dimension week", Http("POST", incr("v1:c1"), {kJsonType}, R"({"dimension":"week"})"),
        SErr(400)),
      S("body with an extra member",
        Http("POST", incr("v1:c1"), {kJsonType}, R"({"dimension":"date","x":1})"), SErr(400)),
      S("body with a duplicate key",
        Http("POST", incr("v1:c1"), {kJsonType}, R"({"dimension":"date","dimension":"date"})"),
        SErr(400)),
      S("body an array", Http("POST", incr("v1:c1"), {kJsonType}, "[]"), SErr(400)),
      S("body null", Http("POST", incr("v1:c1"), {kJsonType}, "null"), SErr(400)),
      S("body nested 10^5 deep", Http("POST", incr("v1:c1"), {kJsonType}, Nested(100'000)),
        SErr(400)),
      S("body nested 5*10^5 deep", Http("POST", incr("v1:c1"), {kJsonType}, Nested(500'000)),
        SErr(400)),
      S("body with a NUL after it",
        Http("POST", incr("v1:c1"), {kJsonType},
             std::string("{\"dimension\":\"date\"}\0garbage", 28)),
        SErr(400)),
      S("body not UTF-8", Http("POST", incr("v1:c1"), {kJsonType}, "{\"dimension\":\"\xff\"}"),
        SErr(400)),
      S("get an impossible date", Http("GET", get("v1:c1:2024-02-30")), SErr(400)),
      S("get a date with a huge year", Http("GET", get("v1:c1:99999999-01-01")), SErr(400)),
      S("get without a date", Http("GET", get("v1:c1:")), SErr(400)),
      S("get with four parts", Http("GET", get(absl::StrCat("v1:c1:", today, ":x"))), SErr(400)),
      S("get a key never written", Http("GET", get(absl::StrCat("v1:never:", today))), SErr(404)),
      S("getbatch of 11 keys",
        Http("POST", batch, {kJsonType},
             absl::StrCat(
                 R"({"keys":[)",
                 absl::StrJoin(std::vector<std::string>(11, absl::StrCat("\"v1:c1:", today, "\"")),
                               ","),
                 "]}")),
        SErr(400)),
      S("getbatch of no keys", Http("POST", batch, {kJsonType}, R"({"keys":[]})"), SErr(400)),
      S("getbatch keys not an array", Http("POST", batch, {kJsonType}, R"({"keys":"v1:c1"})"),
        SErr(400)),
      S("getbatch key a number", Http("POST", batch, {kJsonType}, R"({"keys":[1]})"), SErr(400)),
      S("getbatch with an extra member",
        Http("POST", batch, {kJsonType}, R"({"keys":["v1:c1:2024-01-01"],"x":1})"), SErr(400)),
      S("getbatch duplicate keys member",
        Http("POST", batch, {kJsonType}, R"({"keys":[],"keys":["v1:c1:2024-01-01"]})"), SErr(400)),
      S("getbatch nested 10^5 deep", Http("POST", batch, {kJsonType}, Nested(100'000)), SErr(400)),
      S("getbatch by GET", Http("GET", batch), SErr(400)),
      S("getbatch key with a bad date",
        Http("POST", batch, {kJsonType}, R"({"keys":["v1:c1:2024-13-01"]})"), SErr(400)),
      S("unknown operation", Http("POST", absl::StrCat(base, "incrr/", t, "/public/v:c")),
        SErr(404)),
      S("no public segment", Http("POST", absl::StrCat(base, "incr/", t, "/private/v:c")),
        SErr(404)),
      S("an extra segment", Http("POST", absl::StrCat(incr("v1:c1"), "/x")), SErr(404)),
      S("traversal segment in the route",
        Http("POST", absl::StrCat(base, "incr/", t, "/public/../v:c")), SErr(404)),
      S("OPTIONS preflight", Http("OPTIONS", incr("v1:c1")), Plain(204, "")),
      // Framing: answered in the Stash form, nothing written.
      S("Content-Length and Transfer-Encoding (smuggling)",
        absl::StrCat("POST ", incr("v9:c9"),
                     " HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        SErr(400)),
      S("two Content-Lengths",
        absl::StrCat("POST ", incr("v9:c9"),
                     " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                     "Content-Length: 2\r\n\r\n{}"),
        SErr(400)),
      S("an absurd Content-Length",
        absl::StrCat("POST ", incr("v9:c9"),
                     " HTTP/1.1\r\nHost: x\r\nContent-Length: "
                     "99999999999999999999\r\n\r\n"),
        SErr(400)),
      S("a Content-Length beyond the body cap",
        absl::StrCat("POST ", incr("v9:c9"),
                     " HTTP/1.1\r\nHost: x\r\nContent-Length: "
                     "5000000000\r\n\r\n{}"),
        SErr(400)),
      S("a negative Content-Length",
        absl::StrCat("POST ", incr("v9:c9"), " HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
        SErr(400)),
      S("a bad chunk size",
        absl::StrCat("POST ", incr("v9:c9"),
                     " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     "\r\nzz\r\n{}\r\n0\r\n\r\n"),
        SErr(400)),
      S("a chunk size overflowing 64 bits",
        absl::StrCat("POST ", incr("v9:c9"),
                     " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     "\r\nfffffffffffffffffff\r\n{}\r\n0\r\n\r\n"),
        SErr(400)),
      S("Transfer-Encoding gzip",
        absl::StrCat("POST ", incr("v9:c9"),
                     " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
        SErr(400)),
      S("a header beyond the cap",
        absl::StrCat("POST ", incr("v9:c9"), " HTTP/1.1\r\nHost: x\r\nX-Pad: ",
                     std::string(17 * 1024, 'p'), "\r\nContent-Length: 0\r\n\r\n"),
        SErr(400)),
      S("a body beyond the cap",
        Http("POST", incr("v9:c9"), {kJsonType}, std::string((1 << 20) + 1, ' ')), SErr(400)),
      S("valid: incr v1:c1 once more", Http("POST", incr("v1:c1")), SOk()),
      // Bodies as forms and in the documents' JavaScript-literal style.
      S("valid: incr form", Http("POST", incr("v2:c3"), {kFormType}, "dimension=date"), SOk()),
      S("valid: incr JS literal, no Content-Type",
        Http("POST", incr("v2:c3"), {}, "{ dimension: 'date' }"), SOk()),
      S("form: dimension twice", to_v9({kFormType}, "dimension=date&dimension=date"), SErr(400)),
      S("form: dimension week", to_v9({kFormType}, "dimension=week"), SErr(400)),
      S("form: an unknown field", to_v9({kFormType}, "dimension=date&evil=1"), SErr(400)),
      S("form: dimension[]", to_v9({kFormType}, "dimension%5B%5D=date"), SErr(400)),
      S("form: a name without =", to_v9({kFormType}, "dimension"), SErr(400)),
      S("form: an empty name", to_v9({kFormType}, "=date"), SErr(400)),
      S("form: %00", to_v9({kFormType}, "dimension=date%00"), SErr(400)),
      S("form: a raw NUL", to_v9({kFormType}, std::string("dimension=date\0", 15)), SErr(400)),
      S("form: not UTF-8", to_v9({kFormType}, "dimension=%FF"), SErr(400)),
      S("form: a malformed escape", to_v9({kFormType}, "dimension=%d"), SErr(400)),
      S("form labelled JSON", to_v9({kJsonType}, "dimension=week"), SErr(400)),
      S("JS literal: a bare word", to_v9({}, "{ dimension: date }"), SErr(400)),
      S("JS literal: undefined", to_v9({}, "{ dimension: undefined }"), SErr(400)),
      S("JS literal: an expression", to_v9({}, "{ dimension: 'da' + 'te' }"), SErr(400)),
      S("JS literal: a comment", to_v9({}, "{ dimension: 'date' /* c */ }"), SErr(400)),
      S("JS literal: a \\x escape", to_v9({}, "{ dimension: '\\x64ate' }"), SErr(400)),
      S("JS literal: unterminated", to_v9({}, "{ dimension: 'date }"), SErr(400)),
      S("JS literal: a name twice", to_v9({}, "{ dimension: 'date', 'dimension': 'date' }"),
        SErr(400)),
      S("JS literal: two commas", to_v9({}, "{ dimension: 'date',, }"), SErr(400)),
      S("JS literal: only a comma", to_v9({}, "{,}"), SErr(400)),
      S("JS literal: not UTF-8", to_v9({}, "{ dimension: '\xff' }"), SErr(400)),
      S("JS literal: a NUL", to_v9({}, std::string("{ dimension: '\0' }", 18)), SErr(400)),
      S("JS literal: nested 10^5 deep",
        to_v9({}, absl::StrCat(absl::StrJoin(std::vector<std::string>(100'000, "{a:"), ""), "1")),
        SErr(400)),
      S("JS literal: then a form", to_v9({}, "{ dimension: 'date' }&x=1"), SErr(400)),
      S("form: 10^5 distinct fields",
        to_v9({kFormType},
              [] {
                std::string body = "dimension=date";
                for (int i = 0; i < 100'000; ++i) absl::StrAppend(&body, "&f", i, "=");
                return body;
              }()),
        SErr(400)),
      S("getbatch form: 10^5 keys",
        Http("POST", batch, {kFormType},
             [] {
               std::string body = "keys=a";
               for (int i = 0; i < 100'000; ++i) body += "&keys=a";
               return body;
             }()),
        SErr(400)),
      S("getbatch form: both spellings of keys",
        Http("POST", batch, {kFormType},
             absl::StrCat("keys=v1:c1:", today, "&keys%5B%5D=v1:c1:", today)),
        SErr(400)),
      S("getbatch form: 11 keys",
        Http("POST", batch, {kFormType},
             absl::StrJoin(std::vector<std::string>(11, absl::StrCat("keys%5B%5D=v1:c1:", today)),
                           "&")),
        SErr(400)),
      S("getbatch form: an unknown field",
        Http("POST", batch, {kFormType}, absl::StrCat("keys=v1:c1:", today, "&x=1")), SErr(400)),
      S("getbatch JS literal: keys a string",
        Http("POST", batch, {}, "{ keys: 'v1:c1:2024-01-01' }"), SErr(400)),
      S("getbatch: no key exists", Http("POST", batch, {kFormType}, "keys=v1:never:2024-01-01"),
        SErr(404)),
      S("getbatch form: found",
        Http("POST", batch, {kFormType}, absl::StrCat("keys%5B%5D=v1:c1:", today)), SOk()),
  };
  for (Row& r : more) rows.push_back(std::move(r));
  RunRows(rows);

  // Exactly the valid rows' counts; nothing under the keys of refused rows.
  EXPECT_THAT(http_->Get(get(absl::StrCat("v1:c1:", today))).body,
              JsonEq(R"({"status":200,"data":"2"})"));
  EXPECT_THAT(http_->Get(get(absl::StrCat("..:c2:", today))).body,
              JsonEq(R"({"status":200,"data":"1"})"));
  EXPECT_THAT(http_->Get(get(absl::StrCat("A-z_0.9~:c.~-_:", today))).body,
              JsonEq(R"({"status":200,"data":"1"})"));
  EXPECT_THAT(http_->Get(get(absl::StrCat("v2:c3:", today))).body,
              JsonEq(R"({"status":200,"data":"2"})"));
  for (const std::string& key :
       {std::string("v9:c9"), std::string("v1:c"), std::string("v1x:c1")}) {
    EXPECT_THAT(http_->Get(get(absl::StrCat(key, ":", today))).body, JsonEq(R"({"status":404})"))
        << key;
  }
  HttpResult all =
      http_->PostJson(batch, absl::StrCat(R"({"keys":["v1:c1:)", today, R"(","..:c2:)", today,
                                          R"(","v9:c9:)", today, R"(","v1:x:)", today, R"("]})"));
  EXPECT_THAT(all.body, JsonEq(absl::StrCat(R"({"status":200,"data":{"v1:c1:)", today,
                                            R"(":"2","..:c2:)", today, R"(":"1"}})")));
}

// --- Tally
// ------------------------------------------------------------------------------------------

TEST_F(HttpHostileE2eTest, TallyRoutes) {
  const std::string t = "hostile-tally";
  const std::string base = absl::StrCat("/tally/", t, "/");
  auto S = [](std::string name, std::string request, Expect e) {
    return Row{std::move(name), std::move(request), std::move(e)};
  };
  auto post = [&](const std::string& rest, const std::string& body = "") {
    return body.empty() ? Http("POST", base + rest) : Http("POST", base + rest, {kJsonType}, body);
  };
  std::string wide;
  for (int i = 0; i < 16384; ++i) wide += "\xc3\xa9";  // 16384 characters, 32768 bytes
  std::vector<Row> rows = {
      S("valid: ecount c1/a", post("ecount/c1/a/60"), TSaved()),
      S("valid: topk c2/x with metadata", post("topk/c2/x/60", R"({"metadata":"m1"})"), TSaved()),
      S("valid: topk c2/y", post("topk/c2/y/60"), TSaved()),
      S("valid: topk c2/y again", post("topk/c2/y/60"), TSaved()),
      S("valid: a countable named .. is an opaque name", post("topk/c2/../60"), TSaved()),
      S("valid: 16384 characters of metadata",
        post("topk/c2/w/60", absl::StrCat(R"({"metadata":")", wide, R"("})")), TSaved()),
  };
  for (const char* window : {"0", "43201", "-1", "1e3", "0x10", "60.0", "%2060", "99999999999",
                             "18446744073709551677", "NaN", ""}) {
    rows.push_back(S(absl::StrCat("window \"", window, "\""),
                     post(absl::StrCat("ecount/c1/bad/", window)), TNotSaved()));
  }
  struct Bad {
    std::string what, segment;
  };
  for (const Bad& b : std::vector<Bad>{{"encoded slash", "a%2Fb"},
                                       {"encoded traversal", "..%2F..%2Fx"},
                                       {"backslash", "a%5Cb"},
                                       {"%00", "a%00b"},
                                       {"invalid UTF-8", "a%FFb"},
                                       {"overlong UTF-8", "a%C0%AFb"},
                                       {"CRLF", "a%0D%0Ab"},
                                       {"257 bytes", std::string(257, 'n')},
                                       {"empty", ""}}) {
    rows.push_back(S(absl::StrCat("countable ", b.what),
                     post(absl::StrCat("ecount/c1/", b.segment, "/60")), TNotSaved()));
    rows.push_back(S(absl::StrCat("counter ", b.what),
                     post(absl::StrCat("topk/", b.segment, "/x/60")), TNotSaved()));
  }
  auto form = [&](const std::string& rest, const std::string& body) {
    return Http("POST", base + rest, {kFormType}, body);
  };
  auto literal = [&](const std::string& rest, const std::string& body) {
    return Http("POST", base + rest, {}, body);
  };
  std::vector<Row> more = {
      // Bodies as forms and in the documents' JavaScript-literal style.
      S("valid: form metadata", form("topk/c3/f/60", "metadata=%7B%22a%22%3A1%7D+x"), TSaved()),
      S("valid: JS literal metadata", literal("topk/c3/j/60", R"({ metadata: '{\'id\':1}', })"),
        TSaved()),
      S("form: metadata twice", form("topk/c4/x/60", "metadata=a&metadata=b"), TNotSaved()),
      S("form: an unknown field", form("topk/c4/x/60", "metadata=a&evil=1"), TNotSaved()),
      S("form: metadata[]", form("topk/c4/x/60", "metadata%5B%5D=a"), TNotSaved()),
      S("form: a name without =", form("topk/c4/x/60", "metadata"), TNotSaved()),
      S("form: metadata not UTF-8", form("topk/c4/x/60", "metadata=%C0%AF"), TNotSaved()),
      S("form: %00", form("topk/c4/x/60", "metadata=a%00"), TNotSaved()),
      S("form: metadata one character too long",
        form("topk/c4/x/60", absl::StrCat("metadata=", std::string(16385, 'm'))), TNotSaved()),
      S("JS literal: metadata a bare word", literal("topk/c4/x/60", "{ metadata: m }"),
        TNotSaved()),
      S("JS literal: a comment", literal("topk/c4/x/60", "{ metadata: 'm' } // c"), TNotSaved()),
      S("JS literal: a template string", literal("topk/c4/x/60", "{ metadata: `m` }"), TNotSaved()),
      S("JS literal: a function call", literal("topk/c4/x/60", "{ metadata: f() }"), TNotSaved()),
      S("JS literal: metadata twice",
        literal("topk/c4/x/60", "{ metadata: 'a', \"metadata\": 'b' }"), TNotSaved()),
      S("JS literal: a lone surrogate escape", literal("topk/c4/x/60", R"({ metadata: '\udc00' })"),
        TNotSaved()),
      S("JS literal: nested 10^5 deep",
        literal("topk/c4/x/60", absl::StrJoin(std::vector<std::string>(100'000, "{a:["), "")),
        TNotSaved()),
      S("topk k in the path", Http("GET", base + "topk/c2/1"),
        TBody(absl::StrCat(R"({"data":[[")", t, R"(::c2::topk::y","2.0"]]})"))),
      S("topk k 0 in the path", Http("GET", base + "topk/c2/0"), TStatus(400)),
      S("topk k 1001 in the path", Http("GET", base + "topk/c2/1001"), TStatus(400)),
      S("topk k not a number in the path", Http("GET", base + "topk/c2/ten"), TStatus(400)),
      S("topk k beyond int64 in the path", Http("GET", base + "topk/c2/99999999999999999999"),
        TStatus(400)),
      S("topk path k and query k disagree", Http("GET", base + "topk/c2/1?k=2"), TStatus(400)),
      S("topk of a counter with nothing counted", Http("GET", base + "topk/never"),
        TBody(R"({"data":[]})")),
      S("ecount with the window segment", Http("GET", base + "ecount/c1/a/60"),
        TBody(R"({"data":"1"})")),
      S("ecount with a window 0", Http("GET", base + "ecount/c1/a/0"), TStatus(400)),
      S("ecount with a window 43201", Http("GET", base + "ecount/c1/a/43201"), TStatus(400)),
      S("ecount with a window not a number", Http("GET", base + "ecount/c1/a/1e3"), TStatus(400)),
      S("tracking_id with a backslash", Http("POST", "/tally/t%5Cx/ecount/c1/a/60"), TNotSaved()),
      S("tracking_id with an encoded slash", Http("POST", "/tally/t%2Fx/ecount/c1/a/60"),
        TNotSaved()),
      S("metadata one character too long",
        post("topk/c2/x/60", absl::StrCat(R"({"metadata":")", std::string(16385, 'm'), R"("})")),
        TNotSaved()),
      S("metadata not UTF-8", post("topk/c2/x/60", "{\"metadata\":\"\xff\"}"), TNotSaved()),
      S("metadata a lone surrogate escape", post("topk/c2/x/60", R"({"metadata":"\udc00"})"),
        TNotSaved()),
      S("metadata a number", post("topk/c2/x/60", R"({"metadata":1})"), TNotSaved()),
      S("metadata twice", post("topk/c2/x/60", R"({"metadata":"a","metadata":"b"})"), TNotSaved()),
      S("an unknown body member", post("topk/c2/x/60", R"({"metadata":"a","evil":1})"),
        TNotSaved()),
      S("body nested 10^5 deep", post("topk/c2/x/60", Nested(100'000)), TNotSaved()),
      S("body with a NUL after it",
        post("topk/c2/x/60", std::string("{\"metadata\":\"z\"}\0x", 18)), TNotSaved()),
      S("unknown operation (write)", post("count/c1/a/60"), TNotSaved()),
      S("too few segments (write)", post("ecount/c1/60"), TNotSaved()),
      S("k zero", Http("GET", base + "topk/c2?k=0"), TStatus(400)),
      S("k 1001", Http("GET", base + "topk/c2?k=1001"), TStatus(400)),
      S("k negative", Http("GET", base + "topk/c2?k=-1"), TStatus(400)),
      S("k with an exponent", Http("GET", base + "topk/c2?k=1e2"), TStatus(400)),
      S("k beyond int64", Http("GET", base + "topk/c2?k=99999999999999999999"), TStatus(400)),
      S("k twice", Http("GET", base + "topk/c2?k=1&k=1000"), TStatus(400)),
      S("metadata=maybe", Http("GET", base + "topk/c2?metadata=maybe"), TStatus(400)),
      S("an unknown query parameter", Http("GET", base + "topk/c2?evil=1"), TStatus(400)),
      S("a malformed query", Http("GET", base + "topk/c2?k=%zz"), TStatus(400)),
      S("ecount with a query", Http("GET", base + "ecount/c1/a?x=1"), TStatus(400)),
      S("ecount of a countable never seen", Http("GET", base + "ecount/c1/never"), TStatus(404)),
      S("ecount with an encoded slash", Http("GET", base + "ecount/c1/a%2Fb"), TStatus(400)),
      S("PUT", Http("PUT", base + "ecount/c1/a/60"), TStatus(400)),
      S("DELETE", Http("DELETE", base + "ecount/c1/a"), TStatus(400)),
      S("unknown operation (read)", Http("GET", base + "count/c1/a"), TStatus(404)),
      S("OPTIONS preflight", Http("OPTIONS", base + "ecount/c1/a/60"), Plain(204, "")),
      S("a Content-Length beyond the body cap",
        absl::StrCat("POST ", base,
                     "ecount/c1/big/60 HTTP/1.1\r\nHost: x\r\nContent-Length: "
                     "99999999999\r\n\r\n"),
        TNotSaved()),
      S("a bad chunk",
        absl::StrCat("POST ", base,
                     "ecount/c1/big/60 HTTP/1.1\r\nHost: x\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n5\r\n{}\r\n0\r\n\r\n"),
        TNotSaved()),
  };
  for (Row& r : more) rows.push_back(std::move(r));
  RunRows(rows);

  EXPECT_THAT(http_->Get(base + "ecount/c1/a").body, JsonEq(R"({"data":"1"})"));
  EXPECT_THAT(http_->Get(base + "ecount/c1/bad").body, JsonEq(R"({"status":404})"));
  EXPECT_THAT(http_->Get(base + "ecount/c1/big").body, JsonEq(R"({"status":404})"));
  const std::string key = absl::StrCat(t, "::c2::topk::");
  EXPECT_THAT(http_->Get(base + "topk/c2?metadata=true").body,
              JsonEq(absl::StrCat(R"({"data":[[")", key, R"(y","2.0",null],[")", key,
                                  R"(..","1.0",null],[")", key, R"(w","1.0",")", wide, R"("],[")",
                                  key, R"(x","1.0","m1"]]})")));
  EXPECT_THAT(http_->Get(base + "topk/c3?metadata=true").body,
              JsonEq(absl::StrCat(R"({"data":[[")", t, R"(::c3::topk::f","1.0","{\"a\":1} x"],[")",
                                  t, R"(::c3::topk::j","1.0","{'id':1}"]]})")));
  // Counters named only in refused rows have nothing counted.
  EXPECT_THAT(http_->Get(base + "topk/x").body, JsonEq(R"({"data":[]})"));
  EXPECT_THAT(http_->Get(base + "topk/c4").body, JsonEq(R"({"data":[]})"));
  EXPECT_THAT(http_->Get(base + "topk/" + std::string(256, 'n')).body, JsonEq(R"({"data":[]})"));
}

// --- canonical /v1 ------------------------------------------------------------------------------

TEST_F(HttpHostileE2eTest, CanonicalRoutes) {
  const std::string t = "hostile-canonical";
  auto C = [](std::string name, const std::string& route, const std::string& body, Expect e) {
    return Row{std::move(name), Http("POST", "/v1/" + route, {kJsonType}, body), std::move(e)};
  };
  auto incr = [&t](const std::string& extra) {
    return absl::StrCat(R"({"tenant":")", t, R"(","visitorId":"v","counterName":"c")", extra, "}");
  };
  std::vector<Row> rows = {
      C("valid: Incr", "Counters/Incr", incr(""), COk()),
      C("valid: Incr by 2", "Counters/Incr", incr(R"(,"delta":"2")"), COk()),
      C("valid: Tally increment", "Tally/Increment",
        absl::StrCat(
            R"({"tenant":")", t,
            R"(","op":"OP_TOPK","counter":"c","countable":"x","windowMinutes":60,"metadata":"m"})"),
        COk()),
      C("an array nested 10^5 deep", "Counters/Incr", Nested(100'000), CErr(400, 3, "body")),
      C("a member nested 10^5 deep", "Counters/Incr",
        absl::StrCat(R"({"tenant":)", Nested(100'000), "}"), CErr(400, 3, "body")),
      C("a duplicate field", "Counters/Incr",
        absl::StrCat(R"({"tenant":")", t,
                     R"(","tenant":"other","visitorId":"v","counterName":"c"})"),
        CErr(400, 3, "body")),
      C("tenant a number", "Counters/Incr", R"({"tenant":1,"visitorId":"v","counterName":"c"})",
        CErr(400, 3, "body")),
      C("delta not a number", "Counters/Incr", incr(R"(,"delta":"abc")"), CErr(400, 3, "body")),
      C("delta fractional", "Counters/Incr", incr(R"(,"delta":1.5)"), CErr(400, 3, "body")),
      C("delta beyond int64", "Counters/Incr", incr(R"(,"delta":"9223372036854775808")"),
        CErr(400, 3, "body")),
      C("delta with a huge exponent", "Counters/Incr", incr(R"(,"delta":1e400)"),
        CErr(400, 3, "body")),
      C("delta NaN", "Counters/Incr", incr(R"(,"delta":"NaN")"), CErr(400, 3, "body")),
      C("delta hex", "Counters/Incr", incr(R"(,"delta":0x10)"), CErr(400, 3, "body")),
      C("delta negative", "Counters/Decr", incr(R"(,"delta":"-5")"), CErr(400, 3, "delta")),
      C("delta zero", "Counters/Incr", incr(R"(,"delta":0)"), CErr(400, 3, "delta")),
      C("windowMinutes Infinity", "Tally/Increment",
        absl::StrCat(
            R"({"tenant":")", t,
            R"(","op":"OP_ECOUNT","counter":"c","countable":"x","windowMinutes":"Infinity"})"),
        CErr(400, 3, "body")),
      C("value NaN (a double in proto3 JSON)", "Counters/IncrementCounters",
        absl::StrCat(R"({"tenant":")", t,
                     R"(","uid":"u","counters":[{"class":"c","path":"/","value":"NaN"}]})"),
        CErr(400, 3, "value")),
      C("value 1e308", "Counters/IncrementCounters",
        absl::StrCat(R"({"tenant":")", t,
                     R"(","uid":"u","counters":[{"class":"c","path":"/","value":1e308}]})"),
        CErr(400, 3, "value")),
      C("negative count", "Counters/IncrementCounters",
        absl::StrCat(R"({"tenant":")", t,
                     R"(","uid":"u","counters":[{"class":"c","path":"/","count":"-1"}]})"),
        CErr(400, 3, "count")),
      C("tenant not UTF-8", "Counters/Incr",
        "{\"tenant\":\"\xff\",\"visitorId\":\"v\",\"counterName\":\"c\"}", CErr(400, 3, "")),
      C("tenant with an escaped NUL", "Counters/Incr",
        R"({"tenant":"a\u0000b","visitorId":"v","counterName":"c"})", CErr(400, 3, "tenant")),
      C("tenant 257 bytes", "Counters/Incr",
        absl::StrCat(R"({"tenant":")", std::string(257, 't'),
                     R"(","visitorId":"v","counterName":"c"})"),
        CErr(400, 3, "tenant")),
      C("visitorId with a slash", "Counters/Incr",
        absl::StrCat(R"({"tenant":")", t, R"(","visitorId":"../v","counterName":"c"})"),
        CErr(400, 3, "visitor_id")),
      C("metadata a lone surrogate", "Tally/Increment",
        absl::StrCat(
            R"({"tenant":")", t,
            R"(","op":"OP_TOPK","counter":"c","countable":"y","windowMinutes":60,"metadata":"\udc00"})"),
        CErr(400, 3, "")),
      C("an unknown field", "Counters/Incr", incr(R"(,"evil":1)"), CErr(400, 3, "body")),
      C("11 keys in GetBatch", "Counters/GetBatch",
        absl::StrCat(R"({"tenant":")", t, R"(","keys":[)",
                     absl::StrJoin(std::vector<std::string>(11, "\"v:c:2024-01-01\""), ","), "]}"),
        CErr(400, 3, "keys")),
      C("event time far in the future", "Counters/Incr",
        incr(R"(,"eventTimeMs":"9223372036854775807")"), CErr(400, 3, "event_time")),
      C("event time far in the past", "Counters/Incr",
        incr(R"(,"eventTimeMs":"-9223372036854775808")"), CErr(400, 3, "event_time")),
      C("an unknown method", "Counters/DropEverything", "{}", CErr(404, 5, "DropEverything")),
      C("the Admin service is not mapped", "Admin/Backup", R"({"dir":"/tmp/x"})",
        CErr(404, 5, "Admin")),
      C("traversal in the route", "Counters/../Counters/Incr", incr(""), CErr(404, 5, "")),
      {"GET", Http("GET", "/v1/Counters/Incr"), CErr(400, 3, "POST")},
      {"PUT with a valid body", Http("PUT", "/v1/Counters/Incr", {kJsonType}, incr("")),
       CErr(400, 3, "POST")},
      {"text/plain", Http("POST", "/v1/Counters/Incr", {"Content-Type: text/plain"}, incr("")),
       CErr(400, 3, "content-type")},
      {"a body beyond the cap",
       Http("POST", "/v1/Counters/Incr", {kJsonType}, incr("") + std::string(1 << 20, ' ')),
       CErr(413, 3, "body_too_large")},
      {"a header beyond the cap",
       Http("POST", "/v1/Counters/Incr", {kJsonType, "X-Pad: " + std::string(17 * 1024, 'p')},
            incr("")),
       CErr(431, 3, "header_too_large")},
      {"two Content-Lengths",
       absl::StrCat("POST /v1/Counters/Incr HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                    "Content-Length: 2\r\n\r\n{}"),
       CErr(400, 3, "bad_request")},
  };
  RunRows(rows);

  EXPECT_THAT(http_
                  ->PostJson("/v1/Counters/Get",
                             absl::StrCat(R"({"tenant":")", t,
                                          R"(","visitorId":"v","counterName":"c","date":")",
                                          TodayIso(), R"("})"))
                  .body,
              JsonEq(R"({"count":"3"})"));
  EXPECT_THAT(
      http_
          ->PostJson("/v1/Tally/GetTopK",
                     absl::StrCat(R"({"tenant":")", t, R"(","counter":"c","withMetadata":true})"))
          .body,
      JsonEq(R"({"items":[{"countable":"x","count":"1","metadata":"m"}]})"));
  EXPECT_THAT(http_
                  ->PostJson("/v1/Counters/GetCounters",
                             absl::StrCat(R"({"tenant":")", t, R"(","uid":"u"})"))
                  .body,
              JsonEq(R"({"counters":[]})"));
}

// --- the transport itself
// ---------------------------------------------------------------------------

TEST_F(HttpHostileE2eTest, TransportOddities) {
  auto R = [](std::string name, std::string request, Expect e) {
    return Row{std::move(name), std::move(request), std::move(e)};
  };
  std::string many_headers = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&many_headers, "X-H", i, ": v\r\n");
  many_headers += "\r\n";
  std::vector<Row> rows = {
      R("garbage", "GARBAGE\r\n\r\n", Plain(400, "bad_request")),
      R("HTTP/0.9 request line", "GET /healthz\r\n\r\n", Plain(400, "bad_request")),
      R("HTTP/2.0 in the request line", "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n",
        Plain(400, "bad_request")),
      R("two spaces in the request line", "GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Plain(400, "bad_request")),
      R("NUL in the target", "GET /hea\0lthz HTTP/1.1\r\nHost: x\r\n\r\n"s,
        Plain(400, "bad_request")),
      R("NUL in a header value", "GET /healthz HTTP/1.1\r\nHost: x\0y\r\n\r\n"s,
        Plain(400, "bad_request")),
      R("a header without a colon", "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
        Plain(400, "bad_request")),
      // RFC 9112 5.2 lets a server replace obs-fold with spaces; Beast does.
      R("obsolete line folding is unfolded",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", Plain(200, "ok")),
      R("bare LF line endings", "GET /healthz HTTP/1.1\nHost: x\n\n", Plain(400, "bad_request")),
      R("a header beyond the cap",
        absl::StrCat("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ", std::string(17 * 1024, 'p'),
                     "\r\n\r\n"),
        Plain(431, "header_too_large")),
      R("2000 small headers", many_headers, Plain(431, "header_too_large")),
      // Longer than --http-max-url-bytes (and the whole header cap): refused as a long URL.
      R("a target beyond the header cap",
        absl::StrCat("GET /healthz?", std::string(17 * 1024, 'q'), " HTTP/1.1\r\nHost: x\r\n\r\n"),
        Plain(414, "uri_too_long")),
      R("headers beyond the header cap",
        absl::StrCat("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ", std::string(17 * 1024, 'p'),
                     "\r\n\r\n"),
        Plain(431, "header_too_large")),
      R("Content-Length and Transfer-Encoding",
        "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
        "\r\n0\r\n\r\n",
        Plain(400, "bad_request")),
      R("Transfer-Encoding chunked twice",
        "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        Plain(400, "bad_request")),
      R("a Content-Length with a sign",
        "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}",
        Plain(400, "bad_request")),
      R("a body beyond the cap",
        absl::StrCat("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: ", (1 << 20) + 1,
                     "\r\n\r\n"),
        Plain(413, "body_too_large")),
      R("absolute-form target", "GET http://countd/healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Plain(404, "no route")),
      R("a path traversal outside the routes", "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        Plain(404, "no route")),
      R("an unknown method on /healthz", "BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Plain(200, "ok")),
      R("a request without Host", "GET /healthz HTTP/1.1\r\n\r\n", Plain(200, "ok")),
      R("a target that is not UTF-8", "GET /nope\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        Plain(404, "no route")),
  };
  RunRows(rows);
  // The refused rows above echo into "no route" answers as valid JSON.
  rapidjson::Document doc;
  HttpResult r = Send("GET /nope\xff\xc0\xaf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(StrictJson(r.body, &doc)) << Printable(r.body);
}

}  // namespace
}  // namespace countd::e2e
