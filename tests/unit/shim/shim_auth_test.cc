// Unit tests of authentication on the JSON shim (server/shim/internal/shim_auth.h through
// JsonShim::Handle): Gigya secret and signed requests, the Stash/Tally origin and rate rules, and
// the canonical routes' header credentials. In-process over the real service logic and RocksDB,
// with a fake tenant registry (its secrets compared plainly, signatures checked with OpenSSL) and
// a FakeClock for the signature window. A second shim with authentication off, over the same
// store, looks at what was (not) written.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "server/logic/status_util.h"
#include "server/logic/tenants.h"
#include "server/shim/internal/gigya/methods.h"
#include "server/shim/internal/gigya/signature.h"
#include "server/shim/shim.h"
#include "storage/clock.h"
#include "storage/store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/http_request.h"
#include "tests/testing/service_stack.h"
#include "tests/testing/temp_dir.h"

namespace countd::shim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace reason = logic::auth_reason;

// Base64 of 32 fixed bytes each: test-only secrets, not credentials of anything.
constexpr char kSecretRw[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr char kSecretRo[] = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
constexpr char kSecretRevoked[] = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";
constexpr char kHost[] = "countd.test:8080";

std::string HmacSha1B64(const std::string& secret_b64, const std::string& text) {
  std::string key;
  if (!absl::Base64Unescape(secret_b64, &key)) return "";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  return absl::Base64Escape(std::string(reinterpret_cast<char*>(mac), len));
}

// A registry over a fixed table. Its error messages deliberately quote what was presented, so
// the tests can see that the shim never passes them on.
class FakeRegistry : public logic::TenantRegistry {
 public:
  struct Secret {
    std::string id;
    std::string value;
    logic::SecretRole role = logic::SecretRole::kReadWrite;
    bool revoked = false;
  };
  struct Tenant {
    logic::TenantSettings settings;
    std::vector<Secret> secrets;
    int64_t budget = -1;  // requests Admit lets through; -1 = unlimited
  };
  absl::flat_hash_map<std::string, Tenant> tenants;

  absl::StatusOr<std::pair<logic::TenantInfo, logic::NewSecret>> CreateTenant(
      absl::string_view, const logic::TenantSettings&, logic::SecretRole) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<logic::TenantInfo> GetTenant(absl::string_view) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<std::vector<logic::TenantInfo>> ListTenants() override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<logic::TenantInfo> UpdateTenant(absl::string_view,
                                                 const logic::TenantSettings&) override {
    return absl::UnimplementedError("fake");
  }
  absl::Status DeleteTenant(absl::string_view) override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<logic::NewSecret> AddSecret(absl::string_view, logic::SecretRole) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<logic::TenantInfo> RevokeSecret(absl::string_view, absl::string_view) override {
    return absl::UnimplementedError("fake");
  }

  absl::StatusOr<logic::Principal> CheckSecret(absl::string_view tenant,
                                               absl::string_view secret_id,
                                               absl::string_view presented) override {
    return Match(
        tenant, secret_id, [&](const Secret& s) { return s.value == presented; },
        reason::kBadSecret, absl::StrCat("secret ", presented, " is wrong"));
  }
  absl::StatusOr<logic::Principal> CheckSignature(absl::string_view tenant,
                                                  absl::string_view secret_id,
                                                  absl::string_view base_string,
                                                  absl::string_view signature_b64) override {
    last_base_string = std::string(base_string);
    return Match(
        tenant, secret_id,
        [&](const Secret& s) {
          return HmacSha1B64(s.value, std::string(base_string)) == signature_b64;
        },
        reason::kBadSignature, absl::StrCat("sig ", signature_b64, " is wrong"));
  }
  absl::StatusOr<logic::TenantSettings> Settings(absl::string_view tenant) override {
    auto it = tenants.find(tenant);
    if (it == tenants.end()) return Unknown(tenant);
    return it->second.settings;
  }
  absl::Status CheckOrigin(absl::string_view tenant, absl::string_view origin) override {
    auto it = tenants.find(tenant);
    if (it == tenants.end()) return Unknown(tenant);
    const auto& allowed = it->second.settings.allowed_origins;
    if (allowed.empty() || std::find(allowed.begin(), allowed.end(), origin) != allowed.end()) {
      return absl::OkStatus();
    }
    return logic::AuthFailure(reason::kOrigin, "Origin", "not allowed");
  }
  absl::Status Admit(absl::string_view tenant) override {
    auto it = tenants.find(tenant);
    if (it == tenants.end()) return Unknown(tenant);
    ++admitted;
    if (it->second.budget < 0) return absl::OkStatus();
    if (it->second.budget == 0) {
      return logic::AuthFailure(reason::kRateLimited, "", "rate limit exceeded");
    }
    --it->second.budget;
    return absl::OkStatus();
  }

  // Expiry is NonceCache's business (nonce_cache_test); the fake only remembers.
  absl::Status UseNonce(absl::string_view tenant, absl::string_view nonce, absl::Time) override {
    if (!used_nonces.insert(absl::StrCat(tenant, "/", nonce)).second) {
      return logic::AuthFailure(reason::kReplay, "nonce", "already used");
    }
    return absl::OkStatus();
  }

  std::string last_base_string;
  int admitted = 0;
  absl::flat_hash_set<std::string> used_nonces;

 private:
  static absl::Status Unknown(absl::string_view tenant) {
    return logic::AuthFailure(reason::kUnknownTenant, "tenant",
                              absl::StrCat(logic::Quote(tenant), " unknown"));
  }
  template <typename Fn>
  absl::StatusOr<logic::Principal> Match(absl::string_view tenant, absl::string_view secret_id,
                                         Fn matches, absl::string_view why,
                                         const std::string& message) {
    auto it = tenants.find(tenant);
    if (it == tenants.end()) return Unknown(tenant);
    for (const Secret& s : it->second.secrets) {
      if (s.revoked || (!secret_id.empty() && s.id != secret_id)) continue;
      if (matches(s)) return logic::Principal{std::string(tenant), s.id, s.role};
    }
    return logic::AuthFailure(why, why == reason::kBadSecret ? "secret" : "sig", message);
  }
};

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  return doc;
}

std::string Describe(const http::HttpResponse& r) {
  std::string out = absl::StrCat("HTTP ", r.status);
  for (const auto& [n, v] : r.headers) absl::StrAppend(&out, "\n  ", n, ": ", v);
  return absl::StrCat(out, "\n  ", r.body);
}

const std::string* FindHeader(const http::HttpResponse& r, absl::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (absl::EqualsIgnoreCase(n, name)) return &v;
  }
  return nullptr;
}

int ErrorCode(const http::HttpResponse& r) {
  rapidjson::Document doc = Parse(r.body);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("errorCode")) return -1;
  return doc["errorCode"].GetInt();
}

std::string ErrorDetails(const http::HttpResponse& r) {
  rapidjson::Document doc = Parse(r.body);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("errorDetails")) return "";
  return doc["errorDetails"].GetString();
}

using Params = std::vector<std::pair<std::string, std::string>>;

std::string Encode(const Params& params) {
  std::string out;
  for (const auto& [n, v] : params) {
    absl::StrAppend(&out, out.empty() ? "" : "&", SignatureUrlEncode(n), "=",
                    SignatureUrlEncode(v));
  }
  return out;
}

class ShimAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StoreOptions options;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenRocksDbStore(dir_.Sub("db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    stack_ = std::make_unique<test::ServiceStack>(store_.get());

    FakeRegistry::Tenant acme;
    acme.secrets = {{"s1", kSecretRw, logic::SecretRole::kReadWrite, false},
                    {"s2", kSecretRo, logic::SecretRole::kReadOnly, false},
                    {"s3", kSecretRevoked, logic::SecretRole::kReadWrite, true}};
    registry_.tenants["acme"] = acme;
    FakeRegistry::Tenant other;
    other.secrets = {{"s1", kSecretRo, logic::SecretRole::kReadWrite, false}};
    registry_.tenants["other"] = other;
    FakeRegistry::Tenant web;
    web.settings.allowed_origins = {"https://shop.example"};
    registry_.tenants["web"] = web;
    Rebuild(/*allow_insecure_secret=*/false);
  }

  void Rebuild(bool allow_insecure_secret) {
    open_ = std::make_unique<JsonShim>(Services());
    ShimServices authed = Services();
    authed.tenants = &registry_;
    authed.clock = &clock_;
    authed.allow_insecure_secret = allow_insecure_secret;
    authed.signature_window = absl::Seconds(120);
    shim_ = std::make_unique<JsonShim>(std::move(authed));
  }

  ShimServices Services() {
    ShimServices s;
    s.counters = &stack_->counters_api;
    s.tally = &stack_->tally_api;
    s.gm = &stack_->gm_api;
    return s;
  }

  static http::HttpRequest Request(std::string method, std::string path, std::string query,
                                   std::string body = "", std::string content_type = "") {
    http::HttpRequest r = test::MakeHttpRequest(
        std::move(method), query.empty() ? path : absl::StrCat(path, "?", query), std::move(body),
        std::move(content_type));
    r.headers.emplace(r.headers.begin(), "host", kHost);
    return r;
  }

  // `params` plus apiKey (unless given), timestamp, nonce and sig computed over the base string.
  Params Signed(Params params, const std::string& secret, const std::string& method,
                const std::string& path, bool secure = false) {
    bool has_key = false;
    for (const auto& p : params) has_key |= p.first == "apiKey" || p.first == "APIKey";
    if (!has_key) params.emplace_back("apiKey", "acme");
    params.emplace_back("timestamp", absl::StrCat(absl::ToUnixSeconds(clock_.Now())));
    params.emplace_back("nonce", absl::StrCat("n", ++nonce_));
    absl::StatusOr<std::string> url = SignatureNormalizedUrl(secure, kHost, path);
    EXPECT_TRUE(url.ok());
    params.emplace_back("sig", HmacSha1B64(secret, SignatureBaseString(method, *url, params)));
    return params;
  }

  http::HttpResponse Get(const std::string& path, const Params& params) {
    return shim_->Handle(Request("GET", path, Encode(params)));
  }
  http::HttpResponse PostForm(const std::string& path, const Params& params) {
    return shim_->Handle(
        Request("POST", path, "", Encode(params), "application/x-www-form-urlencoded"));
  }
  http::HttpResponse SignedGet(const std::string& path, Params params,
                               const std::string& secret = kSecretRw) {
    return Get(path, Signed(std::move(params), secret, "GET", path));
  }

  // The acme counters of uid u as JSON, read through the open shim ("" when there are none).
  std::string AcmeCounters() {
    http::HttpResponse r =
        open_->Handle(Request("GET", "/accounts.getCounters", "apiKey=acme&UID=u"));
    EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
    size_t at = r.body.find("\"counters\":[");
    if (at == std::string::npos || r.body.compare(at, 13, "\"counters\":[]") == 0) return "";
    return r.body.substr(at);
  }

  void RegisterAcmeCounter() {
    http::HttpResponse r = open_->Handle(
        Request("POST", "/accounts.registerCounters", "",
                Encode({{"apiKey", "acme"}, {"counters", R"([{"class":"_buy","path":"/"}])"}}),
                "application/x-www-form-urlencoded"));
    ASSERT_EQ(ErrorCode(r), 0) << Describe(r);
  }

  static Params Increment() {
    return {{"UID", "u"}, {"counters", R"([{"class":"_buy","path":"/"}])"}};
  }

  // The envelope must not quote any credential value of the request.
  static void ExpectNoCredentialEcho(const http::HttpResponse& r, const Params& sent) {
    for (const auto& [name, value] : sent) {
      if (name == "secret" || name == "sig" || name == "nonce" || name == "timestamp") {
        if (value.size() >= 2) {
          EXPECT_THAT(r.body, Not(HasSubstr(value))) << name;
        }
      }
    }
  }

  test::ScopedTempDir dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<test::ServiceStack> stack_;
  FakeRegistry registry_;
  test::FakeClock clock_{absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))};
  std::unique_ptr<JsonShim> open_;  // authentication off
  std::unique_ptr<JsonShim> shim_;  // authentication on
  int nonce_ = 0;
};

// --- Gigya: which credential, in which order ----------------------------------------------------

TEST_F(ShimAuthTest, EveryGigyaMethodMapsToARealRpc) {
  GigyaMethodTable table;
  AddAccountsMethods(nullptr, &table);
  AddGmMethods(nullptr, &table);
  ASSERT_EQ(table.size(), 17u);
  for (const auto& [name, method] : table) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            absl::StrCat("countd.v1.", method.service));
    ASSERT_NE(service, nullptr) << name;
    EXPECT_NE(service->FindMethodByName(method.rpc), nullptr) << name << " -> " << method.rpc;
  }
}

TEST_F(ShimAuthTest, SignedGetAndPostSucceed) {
  RegisterAcmeCounter();
  http::HttpResponse r =
      PostForm("/accounts.incrementCounters",
               Signed(Increment(), kSecretRw, "POST", "/accounts.incrementCounters"));
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
  r = SignedGet("/accounts.getCounters", {{"UID", "u"}});
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
  EXPECT_THAT(r.body, HasSubstr("\"_buy\""));
  r = SignedGet("/gm.getChallengeConfig", {});
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
  // A JSON body is signed with its members as parameters (objects as their JSON text).
  Params json_params = Signed({{"UID", "u"}}, kSecretRw, "POST", "/accounts.getCounters");
  std::string body = "{";
  for (const auto& [n, v] : json_params) {
    absl::StrAppend(&body, body.size() > 1 ? "," : "", "\"", n, "\":\"", v, "\"");
  }
  body += "}";
  r = shim_->Handle(Request("POST", "/accounts.getCounters", "", body, "application/json"));
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
}

TEST_F(ShimAuthTest, SignatureCoversQueryAndBodyTogether) {
  RegisterAcmeCounter();
  Params p = Signed(Increment(), kSecretRw, "POST", "/accounts.incrementCounters");
  // apiKey, UID in the query; the rest in the body.
  Params query(p.begin(), p.begin() + 1);
  Params body(p.begin() + 1, p.end());
  http::HttpResponse r = shim_->Handle(Request("POST", "/accounts.incrementCounters", Encode(query),
                                               Encode(body), "application/x-www-form-urlencoded"));
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
}

TEST_F(ShimAuthTest, MissingApiKeyIs400002) {
  http::HttpResponse r = Get("/accounts.getCounters", {{"UID", "u"}, {"secret", kSecretRw}});
  EXPECT_EQ(ErrorCode(r), 400002) << Describe(r);
  EXPECT_THAT(ErrorDetails(r), HasSubstr("apiKey"));
}

TEST_F(ShimAuthTest, UnknownApiKeyIs400093) {
  http::HttpResponse r = SignedGet("/accounts.getCounters", {{"apiKey", "nobody"}, {"UID", "u"}});
  EXPECT_EQ(ErrorCode(r), 400093) << Describe(r);
  EXPECT_THAT(ErrorDetails(r), HasSubstr("apiKey"));
}

TEST_F(ShimAuthTest, ApiKeySpelledAPIKeyWorksAndBothIsRefused) {
  http::HttpResponse r = SignedGet("/accounts.getCounters", {{"APIKey", "acme"}, {"UID", "u"}});
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
  r = SignedGet("/accounts.getCounters", {{"APIKey", "acme"}, {"apiKey", "acme"}, {"UID", "u"}});
  EXPECT_EQ(ErrorCode(r), 400006) << Describe(r);
}

TEST_F(ShimAuthTest, NoCredentialsIs403007AndSaysHow) {
  http::HttpResponse r = Get("/accounts.getCounters", {{"apiKey", "acme"}, {"UID", "u"}});
  EXPECT_EQ(ErrorCode(r), 403007) << Describe(r);
  EXPECT_THAT(ErrorDetails(r), HasSubstr("sig"));
  EXPECT_THAT(ErrorDetails(r), HasSubstr("secret"));
  EXPECT_EQ(r.status, 200);
}

TEST_F(ShimAuthTest, SecretOverPlainHttpIs400001UnlessAllowed) {
  Params p = {{"apiKey", "acme"}, {"UID", "u"}, {"secret", kSecretRw}};
  http::HttpResponse r = Get("/accounts.getCounters", p);
  EXPECT_EQ(ErrorCode(r), 400001) << Describe(r);
  EXPECT_THAT(ErrorDetails(r), HasSubstr("HTTPS"));
  ExpectNoCredentialEcho(r, p);

  http::HttpRequest tls = Request("GET", "/accounts.getCounters", Encode(p));
  tls.secure = true;
  r = shim_->Handle(tls);
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);

  Rebuild(/*allow_insecure_secret=*/true);
  r = Get("/accounts.getCounters", p);
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
}

TEST_F(ShimAuthTest, WrongSecretIs403007WithoutEcho) {
  Rebuild(/*allow_insecure_secret=*/true);
  Params p = {{"apiKey", "acme"}, {"UID", "u"}, {"secret", "d3Jvbmctc2VjcmV0LXZhbHVl"}};
  http::HttpResponse r = Get("/accounts.getCounters", p);
  EXPECT_EQ(ErrorCode(r), 403007) << Describe(r);
  ExpectNoCredentialEcho(r, p);
  // Another tenant's secret is wrong for this one.
  r = Get("/accounts.getCounters", {{"apiKey", "other"}, {"UID", "u"}, {"secret", kSecretRw}});
  EXPECT_EQ(ErrorCode(r), 403007) << Describe(r);
}

TEST_F(ShimAuthTest, UserKeySelectsTheSecret) {
  Rebuild(/*allow_insecure_secret=*/true);
  auto get = [&](const std::string& user_key, const std::string& secret) {
    return Get("/accounts.getCounters",
               {{"apiKey", "acme"}, {"UID", "u"}, {"userKey", user_key}, {"secret", secret}});
  };
  EXPECT_EQ(ErrorCode(get("s1", kSecretRw)), 0);
  EXPECT_EQ(ErrorCode(get("s2", kSecretRw)), 403007);       // s1's secret under the name s2
  EXPECT_EQ(ErrorCode(get("s3", kSecretRevoked)), 403007);  // revoked
  EXPECT_EQ(ErrorCode(get("s9", kSecretRw)), 403007);       // no such secret
  EXPECT_EQ(ErrorCode(get("", kSecretRw)), 400006);         // empty userKey
  // Signed with a userKey naming a revoked secret.
  http::HttpResponse r =
      SignedGet("/accounts.getCounters", {{"UID", "u"}, {"userKey", "s3"}}, kSecretRevoked);
  EXPECT_EQ(ErrorCode(r), 403003) << Describe(r);
}

TEST_F(ShimAuthTest, SecretAndSignatureTogetherIsRefused) {
  Params p =
      Signed({{"UID", "u"}, {"secret", kSecretRw}}, kSecretRw, "GET", "/accounts.getCounters");
  http::HttpResponse r = Get("/accounts.getCounters", p);
  EXPECT_EQ(ErrorCode(r), 400006) << Describe(r);
  ExpectNoCredentialEcho(r, p);
}

TEST_F(ShimAuthTest, MalformedSignatureParametersNameTheParameter) {
  const std::string ts = absl::StrCat(absl::ToUnixSeconds(clock_.Now()));
  struct Case {
    Params params;
    int code;
    const char* field;
  };
  const std::string long_nonce(257, 'n');
  const Case cases[] = {
      {{{"nonce", "a"}, {"sig", "x"}}, 400002, "timestamp"},
      {{{"timestamp", "12.5"}, {"nonce", "a"}, {"sig", "x"}}, 400004, "timestamp"},
      {{{"timestamp", "soon"}, {"nonce", "a"}, {"sig", "x"}}, 400004, "timestamp"},
      {{{"timestamp", ts}, {"sig", "x"}}, 400002, "nonce"},
      {{{"timestamp", ts}, {"nonce", ""}, {"sig", "x"}}, 400002, "nonce"},
      {{{"timestamp", ts}, {"nonce", long_nonce}, {"sig", "x"}}, 400006, "nonce"},
      {{{"timestamp", ts}, {"nonce", "a"}}, 400002, "sig"},
  };
  for (const Case& c : cases) {
    Params p = c.params;
    p.emplace_back("apiKey", "acme");
    http::HttpResponse r = Get("/accounts.getCounters", p);
    EXPECT_EQ(ErrorCode(r), c.code) << c.field << "\n" << Describe(r);
    EXPECT_THAT(ErrorDetails(r), HasSubstr(c.field)) << Describe(r);
  }
  EXPECT_EQ(registry_.last_base_string, "");  // none got as far as the signature
}

TEST_F(ShimAuthTest, TimestampOutsideTheWindowIs403002) {
  Params p = Signed({{"UID", "u"}}, kSecretRw, "GET", "/accounts.getCounters");
  clock_.Advance(absl::Seconds(121));
  http::HttpResponse r = Get("/accounts.getCounters", p);
  EXPECT_EQ(ErrorCode(r), 403002) << Describe(r);
  ExpectNoCredentialEcho(r, p);
  // From the future too.
  clock_.Advance(absl::Seconds(-242));
  r = Get("/accounts.getCounters", p);
  EXPECT_EQ(ErrorCode(r), 403002) << Describe(r);
  // Inside the window (inclusive) it passes.
  clock_.Advance(absl::Seconds(1));
  r = Get("/accounts.getCounters", p);
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
}

TEST_F(ShimAuthTest, BadSignatureIs403003AndDoesNotUseTheNonce) {
  Params p = Signed({{"UID", "u"}}, kSecretRw, "GET", "/accounts.getCounters");
  Params tampered = p;
  tampered[0].second = "someone-else";  // UID changed after signing
  http::HttpResponse r = Get("/accounts.getCounters", tampered);
  EXPECT_EQ(ErrorCode(r), 403003) << Describe(r);
  EXPECT_THAT(ErrorDetails(r), HasSubstr("http://countd.test:8080/accounts.getCounters"));
  ExpectNoCredentialEcho(r, p);
  // The genuine request with the same nonce still passes: the forgery did not burn it.
  r = Get("/accounts.getCounters", p);
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
}

TEST_F(ShimAuthTest, SignatureBindsMethodHostSchemeAndPath) {
  Params p = Signed({{"UID", "u"}}, kSecretRw, "GET", "/accounts.getCounters");
  http::HttpRequest other_host = Request("GET", "/accounts.getCounters", Encode(p));
  other_host.headers[0].second = "evil.test:8080";
  EXPECT_EQ(ErrorCode(shim_->Handle(other_host)), 403003);
  http::HttpRequest tls = Request("GET", "/accounts.getCounters", Encode(p));
  tls.secure = true;
  EXPECT_EQ(ErrorCode(shim_->Handle(tls)), 403003);
  EXPECT_EQ(ErrorCode(shim_->Handle(Request("POST", "/accounts.getCounters", Encode(p)))), 403003);
  http::HttpRequest no_host = Request("GET", "/accounts.getCounters", Encode(p));
  no_host.headers.clear();
  http::HttpResponse r = shim_->Handle(no_host);
  EXPECT_EQ(ErrorCode(r), 400002) << Describe(r);
  EXPECT_THAT(ErrorDetails(r), HasSubstr("Host"));
  // Tenant A's signature presented with apiKey B.
  Params as_other = Signed({{"UID", "u"}}, kSecretRw, "GET", "/accounts.getCounters");
  for (auto& [n, v] : as_other) {
    if (n == "apiKey") v = "other";
  }
  EXPECT_EQ(ErrorCode(Get("/accounts.getCounters", as_other)), 403003);
}

TEST_F(ShimAuthTest, ReplayedNonceIs403004) {
  RegisterAcmeCounter();
  Params p = Signed(Increment(), kSecretRw, "POST", "/accounts.incrementCounters");
  ASSERT_EQ(ErrorCode(PostForm("/accounts.incrementCounters", p)), 0);
  std::string after_first = AcmeCounters();
  http::HttpResponse r = PostForm("/accounts.incrementCounters", p);
  EXPECT_EQ(ErrorCode(r), 403004) << Describe(r);
  ExpectNoCredentialEcho(r, p);
  EXPECT_EQ(AcmeCounters(), after_first);  // counted once (lastUpdated included)
}

TEST_F(ShimAuthTest, ReadOnlySecretReadsButCannotWrite) {
  RegisterAcmeCounter();
  http::HttpResponse r = SignedGet("/accounts.getCounters", {{"UID", "u"}}, kSecretRo);
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
  r = PostForm("/accounts.incrementCounters",
               Signed(Increment(), kSecretRo, "POST", "/accounts.incrementCounters"));
  EXPECT_EQ(ErrorCode(r), 403007) << Describe(r);
  r = PostForm("/gm.notifyAction",
               Signed({{"UID", "u"}, {"action", "a"}}, kSecretRo, "POST", "/gm.notifyAction"));
  EXPECT_EQ(ErrorCode(r), 403007) << Describe(r);
  EXPECT_EQ(AcmeCounters(), "");
}

TEST_F(ShimAuthTest, RateLimitIs403048AfterAuthentication) {
  registry_.tenants["acme"].budget = 1;
  EXPECT_EQ(ErrorCode(SignedGet("/accounts.getCounters", {{"UID", "u"}})), 0);
  http::HttpResponse r = SignedGet("/accounts.getCounters", {{"UID", "u"}});
  EXPECT_EQ(ErrorCode(r), 403048) << Describe(r);
  // Unauthenticated calls do not spend the tenant's budget.
  const int admitted = registry_.admitted;
  Get("/accounts.getCounters", {{"apiKey", "acme"}, {"UID", "u"}});
  EXPECT_EQ(registry_.admitted, admitted);
}

TEST_F(ShimAuthTest, HttpStatusCodesTrueGivesTheHttpStatus) {
  http::HttpResponse r =
      Get("/accounts.getCounters", Signed({{"UID", "u"}, {"httpStatusCodes", "true"}}, kSecretRo,
                                          "GET", "/accounts.getCounters"));
  EXPECT_EQ(r.status, 200) << Describe(r);
  r = Get("/accounts.getCounters", {{"apiKey", "acme"}, {"httpStatusCodes", "true"}});
  EXPECT_EQ(ErrorCode(r), 403007);
  EXPECT_EQ(r.status, 403) << Describe(r);
}

TEST_F(ShimAuthTest, AuthOffNeedsNoCredentials) {
  http::HttpResponse r =
      open_->Handle(Request("GET", "/accounts.getCounters", "apiKey=acme&UID=u"));
  EXPECT_EQ(ErrorCode(r), 0) << Describe(r);
}

// --- Stash and Tally
// ------------------------------------------------------------------------------

http::HttpRequest WithOrigin(http::HttpRequest r, const std::string& origin) {
  r.headers.emplace_back("origin", origin);
  return r;
}

TEST_F(ShimAuthTest, StashUnknownTenantIs403) {
  http::HttpResponse r =
      shim_->Handle(Request("POST", "/stash/v1.1/count/incr/nobody/public/v:c", "", "", ""));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"status\":403}");
  r = shim_->Handle(Request("POST", "/tally/nobody/ecount/c/x/60", ""));
  EXPECT_EQ(r.body, "{\"error\":\"not saved\",\"status\":403}");
  r = shim_->Handle(Request("GET", "/tally/nobody/ecount/c/x", ""));
  EXPECT_EQ(r.body, "{\"status\":403}");
}

TEST_F(ShimAuthTest, StashDisallowedOriginIs403AndWritesNothing) {
  http::HttpResponse r = shim_->Handle(WithOrigin(
      Request("POST", "/stash/v1.1/count/incr/web/public/v:c", ""), "https://evil.example"));
  EXPECT_EQ(r.body, "{\"status\":403}");
  r = shim_->Handle(
      WithOrigin(Request("POST", "/tally/web/ecount/c/x/60", ""), "https://evil.example"));
  EXPECT_EQ(r.body, "{\"error\":\"not saved\",\"status\":403}");
  // Nothing was written.
  r = open_->Handle(Request("GET", "/tally/web/ecount/c/x", ""));
  EXPECT_EQ(r.body, "{\"status\":404}") << Describe(r);
  r = open_->Handle(Request(
      "POST", "/stash/v1.1/count/getbatch/web/public", "",
      absl::StrCat("{\"keys\":[\"v:c:",
                   absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone()), "\"]}")));
  EXPECT_EQ(r.body, "{\"status\":404}") << Describe(r);  // getbatch: no key exists
  // The same read sees an allowed write (so the check above can fail).
  r = shim_->Handle(WithOrigin(Request("POST", "/stash/v1.1/count/incr/web/public/v:c", ""),
                               "https://shop.example"));
  ASSERT_THAT(r.body, HasSubstr("\"status\":200")) << Describe(r);
  r = open_->Handle(Request(
      "POST", "/stash/v1.1/count/getbatch/web/public", "",
      absl::StrCat("{\"keys\":[\"v:c:",
                   absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone()), "\"]}")));
  EXPECT_THAT(r.body, HasSubstr("\"1\"")) << Describe(r);
}

TEST_F(ShimAuthTest, AllowedOriginIsEchoedWithVary) {
  http::HttpResponse r = shim_->Handle(WithOrigin(
      Request("POST", "/stash/v1.1/count/incr/web/public/v:c", ""), "https://shop.example"));
  EXPECT_THAT(r.body, HasSubstr("\"status\":200")) << Describe(r);
  ASSERT_NE(FindHeader(r, "Access-Control-Allow-Origin"), nullptr);
  EXPECT_EQ(*FindHeader(r, "Access-Control-Allow-Origin"), "https://shop.example");
  EXPECT_EQ(*FindHeader(r, "Vary"), "Origin");
  r = shim_->Handle(
      WithOrigin(Request("POST", "/tally/web/topk/c/x/60", ""), "https://shop.example"));
  EXPECT_EQ(r.body, "{\"status\":\"saved\"}");
  EXPECT_EQ(*FindHeader(r, "Access-Control-Allow-Origin"), "https://shop.example");
  // A tenant without an origin list answers any origin with "*".
  r = shim_->Handle(
      WithOrigin(Request("POST", "/tally/acme/ecount/c/x/60", ""), "https://anywhere.example"));
  EXPECT_EQ(r.body, "{\"status\":\"saved\"}");
  EXPECT_EQ(*FindHeader(r, "Access-Control-Allow-Origin"), "*");
}

TEST_F(ShimAuthTest, PreflightFollowsTheOriginRule) {
  http::HttpResponse r = shim_->Handle(WithOrigin(
      Request("OPTIONS", "/stash/v1.1/count/incr/web/public/v:c", ""), "https://shop.example"));
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(*FindHeader(r, "Access-Control-Allow-Origin"), "https://shop.example");
  EXPECT_NE(FindHeader(r, "Access-Control-Allow-Methods"), nullptr);
  r = shim_->Handle(WithOrigin(Request("OPTIONS", "/stash/v1.1/count/incr/web/public/v:c", ""),
                               "https://evil.example"));
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(FindHeader(r, "Access-Control-Allow-Origin"), nullptr) << Describe(r);
  EXPECT_EQ(FindHeader(r, "Access-Control-Allow-Methods"), nullptr) << Describe(r);
  // Preflights do not spend the rate budget.
  EXPECT_EQ(registry_.admitted, 0);
}

TEST_F(ShimAuthTest, BrowserRateLimitIs429) {
  registry_.tenants["acme"].budget = 1;
  http::HttpResponse r =
      shim_->Handle(Request("POST", "/stash/v1.1/count/incr/acme/public/v:c", ""));
  EXPECT_THAT(r.body, HasSubstr("\"status\":200"));
  r = shim_->Handle(Request("POST", "/stash/v1.1/count/incr/acme/public/v:c", ""));
  EXPECT_EQ(r.body, "{\"status\":429}");
  r = shim_->Handle(Request("POST", "/tally/acme/ecount/c/x/60", ""));
  EXPECT_EQ(r.body, "{\"error\":\"not saved\",\"status\":429}");
  r = shim_->Handle(Request("GET", "/tally/acme/ecount/c/x", ""));
  EXPECT_EQ(r.body, "{\"status\":429}");
}

// --- canonical /v1/ ------------------------------------------------------------------------------

http::HttpRequest Canonical(const std::string& route, const std::string& body,
                            std::vector<std::pair<std::string, std::string>> headers) {
  http::HttpRequest r;
  r.method = "POST";
  r.path = r.target = absl::StrCat("/v1/", route);
  r.body = body;
  r.headers = std::move(headers);
  r.headers.emplace_back("content-type", "application/json");
  return r;
}

int CanonicalCode(const http::HttpResponse& r) {
  rapidjson::Document doc = Parse(r.body);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("code")) return -1;
  return doc["code"].GetInt();
}

TEST_F(ShimAuthTest, CanonicalBearerAndHeaderPairSucceed) {
  const std::string body = R"({"tenant":"acme","visitorId":"v","counterName":"c"})";
  http::HttpResponse r = shim_->Handle(Canonical(
      "Counters/Incr", body, {{"authorization", absl::StrCat("Bearer acme:", kSecretRw)}}));
  EXPECT_EQ(r.status, 200) << Describe(r);
  r = shim_->Handle(Canonical(
      "Counters/Incr", body,
      {{"x-countd-tenant", "acme"}, {"x-countd-secret", kSecretRw}, {"x-countd-secret-id", "s1"}}));
  EXPECT_EQ(r.status, 200) << Describe(r);
}

TEST_F(ShimAuthTest, CanonicalRefusals) {
  const std::string body = R"({"tenant":"acme","visitorId":"v","counterName":"c"})";
  http::HttpResponse r = shim_->Handle(Canonical("Counters/Incr", body, {}));
  EXPECT_EQ(r.status, 401) << Describe(r);
  EXPECT_EQ(CanonicalCode(r), 16);
  ASSERT_NE(FindHeader(r, "WWW-Authenticate"), nullptr);

  const std::string wrong = "d3Jvbmctc2VjcmV0LXZhbHVl";
  r = shim_->Handle(
      Canonical("Counters/Incr", body, {{"authorization", absl::StrCat("Bearer acme:", wrong)}}));
  EXPECT_EQ(r.status, 401) << Describe(r);
  EXPECT_THAT(r.body, Not(HasSubstr(wrong)));

  r = shim_->Handle(Canonical("Counters/Incr", body,
                              {{"authorization", absl::StrCat("Bearer other:", kSecretRo)}}));
  EXPECT_EQ(r.status, 403) << Describe(r);  // other's credential on acme's counter
  EXPECT_EQ(CanonicalCode(r), 7);

  r = shim_->Handle(Canonical("Counters/Incr", body,
                              {{"authorization", absl::StrCat("Bearer acme:", kSecretRo)}}));
  EXPECT_EQ(r.status, 403) << Describe(r);  // read-only secret, writing method
  r = shim_->Handle(Canonical("Counters/Get",
                              R"({"tenant":"acme","visitorId":"v","counterName":"c",)"
                              R"("date":"2024-01-01"})",
                              {{"authorization", absl::StrCat("Bearer acme:", kSecretRo)}}));
  EXPECT_NE(r.status, 403) << Describe(r);  // reading is allowed (404: nothing counted)

  r = shim_->Handle(Canonical("Counters/Incr", body,
                              {{"authorization", absl::StrCat("Bearer acme:", kSecretRw)},
                               {"authorization", absl::StrCat("Bearer other:", kSecretRo)}}));
  EXPECT_EQ(r.status, 401) << Describe(r);  // a repeated credential header

  r = shim_->Handle(Canonical("Counters/Incr", R"({"visitorId":"v","counterName":"c"})",
                              {{"authorization", absl::StrCat("Bearer acme:", kSecretRw)}}));
  EXPECT_EQ(r.status, 400) << Describe(r);  // no tenant in the request

  registry_.tenants["acme"].budget = 0;
  r = shim_->Handle(Canonical("Counters/Incr", body,
                              {{"authorization", absl::StrCat("Bearer acme:", kSecretRw)}}));
  EXPECT_EQ(r.status, 429) << Describe(r);
  EXPECT_EQ(CanonicalCode(r), 8);

  // Nothing was counted by any refused call.
  registry_.tenants["acme"].budget = -1;
  r = shim_->Handle(Canonical(
      "Counters/GetBatch",
      absl::StrCat(R"({"tenant":"acme","keys":["v:c:)",
                   absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone()), R"("]})"),
      {{"authorization", absl::StrCat("Bearer acme:", kSecretRw)}}));
  EXPECT_EQ(r.status, 200) << Describe(r);
  EXPECT_THAT(r.body, Not(HasSubstr("\"1\""))) << Describe(r);
}

}  // namespace
}  // namespace countd::shim
