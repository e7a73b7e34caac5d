// End-to-end tests of authentication on the JSON shim: the real countd binary with
// --auth=required, tenants created through the Admin gRPC service, and libcurl over loopback
// (plain HTTP, and HTTPS with a countd that terminates TLS itself: certificates from
// tests/testing/test_certs.h, made at run time).
// Gigya requests are signed here by an implementation of the SDK algorithm that shares no code
// with the server (libcurl's RFC 3986 escaping, std::map ordering, OpenSSL HMAC and base64).
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "countd/v1/admin.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/shim_e2e_util.h"
#include "tests/e2e/tls_util.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Params = std::map<std::string, std::string>;  // sorted by name, bytewise: what is signed

// --- an independent Gigya signer ----------------------------------------------------------------

// RFC 3986: libcurl keeps A-Z a-z 0-9 - . _ ~ and escapes every other byte as %XX.
std::string Escape(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  std::string out = e != nullptr ? e : "";
  curl_free(e);
  return out;
}

std::string Base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

std::string Unbase64(const std::string& b64) {
  std::string out(b64.size(), '\0');
  int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(b64.data()),
                            static_cast<int>(b64.size()));
  if (len < 0) return "";
  // EVP_DecodeBlock counts the '=' padding as zero bytes.
  size_t pad = 0;
  for (size_t i = b64.size(); i > 0 && b64[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<size_t>(len) - pad);
  return out;
}

// sig = Base64(HMAC-SHA1(Base64Decode(secret), METHOD&esc(url)&esc(k=esc(v)&...))).
std::string GigyaSig(const std::string& method, const std::string& url, const Params& params,
                     const std::string& secret) {
  std::vector<std::string> pairs;
  for (const auto& [k, v] : params) {
    if (k != "sig") pairs.push_back(k + "=" + Escape(v));
  }
  std::string base = method + "&" + Escape(url) + "&" + Escape(absl::StrJoin(pairs, "&"));
  std::string key = Unbase64(secret);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(base.data()), base.size(), mac, &len);
  return Base64(mac, len);
}

std::string Encode(const Params& params) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : params) parts.push_back(Escape(k) + "=" + Escape(v));
  return absl::StrJoin(parts, "&");
}

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> b(bytes);
  RAND_bytes(b.data(), static_cast<int>(b.size()));
  std::string out;
  for (unsigned char c : b) absl::StrAppend(&out, absl::Hex(c, absl::kZeroPad2));
  return out;
}

// `params` with apiKey=acme (when absent), timestamp, nonce and sig added: signed with `secret`
// for `http_method` on `url` (the normalized URL: scheme://host:port/method).
Params SignParams(Params params, const std::string& http_method, const std::string& url,
                  const std::string& secret, absl::Time at = absl::Now()) {
  params.emplace("apiKey", "acme");
  params["timestamp"] = absl::StrCat(absl::ToUnixSeconds(at));
  params["nonce"] = RandomHex(12);
  params["sig"] = GigyaSig(http_method, url, params, secret);
  return params;
}

int ErrorCode(const HttpResult& r) {
  rapidjson::Document doc = ParseJson(r.body);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("errorCode")) return -1;
  return doc["errorCode"].GetInt();
}

// --- one countd with tenants
// ----------------------------------------------------------------------

struct Tenant {
  std::string name;
  std::string secret;  // the first (read-write) secret
};

// A countd with --auth=required, its operator token and secrets key in temp files.
class AuthServer {
 public:
  // `extra` flags are appended; the Admin calls go over `admin_credentials` (nullptr: plaintext;
  // TLS credentials when `extra` turns TLS on).
  static std::unique_ptr<AuthServer> Start(
      test::ScopedTempDir* dir, const std::string& name, std::vector<std::string> extra,
      std::string* error, std::shared_ptr<grpc::ChannelCredentials> admin_credentials = nullptr) {
    auto s = std::unique_ptr<AuthServer>(new AuthServer());
    s->token_ = RandomHex(32);
    const std::string token_file = dir->Sub(name + "-operator-token");
    const std::string key_file = dir->Sub(name + "-secrets-key");
    std::ofstream(token_file) << s->token_ << "\n";
    std::ofstream(key_file) << RandomHex(32) << "\n";  // the AES-256 key as 64 hex digits
    test::ServerProcessOptions options;
    options.data_dir = dir->Sub(name + "-data");
    options.extra_args = {"--auth=required", "--operator-token-file=" + token_file,
                          "--secrets-key-file=" + key_file};
    for (std::string& e : extra) options.extra_args.push_back(std::move(e));
    s->options_ = options;
    s->admin_credentials_ =
        admin_credentials != nullptr ? admin_credentials : grpc::InsecureChannelCredentials();
    absl::Status started = s->Launch();
    if (!started.ok()) {
      *error = started.ToString();
      return nullptr;
    }
    return s;
  }

  // SIGKILLs countd and starts it again on the same data directory, flags and credential files.
  absl::Status Restart() {
    process_->Kill();
    process_.reset();
    return Launch();
  }

  std::string http_address() const { return process_->http_address(); }
  test::ServerProcess* process() { return process_.get(); }

  // Creates `tenant` with a read-write secret.
  absl::StatusOr<Tenant> Create(const std::string& tenant, const v1::TenantSettings& settings) {
    v1::CreateTenantRequest req;
    req.set_tenant(tenant);
    *req.mutable_settings() = settings;
    req.set_role(v1::SECRET_ROLE_READ_WRITE);
    v1::CreateTenantResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s = admin_->CreateTenant(&ctx, req, &resp);
    if (!s.ok()) return absl::InternalError("CreateTenant: " + s.error_message());
    return Tenant{tenant, resp.secret().secret()};
  }

  absl::StatusOr<v1::NewSecret> AddSecret(const std::string& tenant, v1::SecretRole role) {
    v1::AddSecretRequest req;
    req.set_tenant(tenant);
    req.set_role(role);
    v1::AddSecretResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s = admin_->AddSecret(&ctx, req, &resp);
    if (!s.ok()) return absl::InternalError("AddSecret: " + s.error_message());
    return resp.secret();
  }

  absl::Status Revoke(const std::string& tenant, const std::string& id) {
    v1::RevokeSecretRequest req;
    req.set_tenant(tenant);
    req.set_secret_id(id);
    v1::RevokeSecretResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s = admin_->RevokeSecret(&ctx, req, &resp);
    if (!s.ok()) return absl::InternalError("RevokeSecret: " + s.error_message());
    return absl::OkStatus();
  }

 private:
  AuthServer() = default;
  absl::Status Launch() {
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> process =
        test::ServerProcess::Start(options_);
    if (!process.ok()) return process.status();
    process_ = *std::move(process);
    admin_ = v1::Admin::NewStub(grpc::CreateChannel(process_->grpc_address(), admin_credentials_));
    return absl::OkStatus();
  }
  void Prepare(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx->AddMetadata("authorization", "Bearer " + token_);
  }

  std::string token_;
  test::ServerProcessOptions options_;
  std::shared_ptr<grpc::ChannelCredentials> admin_credentials_;
  std::unique_ptr<test::ServerProcess> process_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

v1::TenantSettings Open() { return v1::TenantSettings(); }

// The parameters of accounts.incrementCounters adding 1 to ("_buy", "/") for `uid`.
Params Increment(const std::string& uid) {
  return {{"UID", uid}, {"counters", R"([{"class":"_buy","path":"/"}])"}};
}

// The total count of ("_buy", "/") in an accounts.getCounters answer (-1 when absent, -2 when
// the answer has no counters).
int64_t TotalBuyCount(const HttpResult& r) {
  EXPECT_EQ(ErrorCode(r), 0) << r;
  rapidjson::Document doc = ParseJson(r.body);
  if (!doc.IsObject() || !doc.HasMember("counters")) return -2;
  for (const auto& c : doc["counters"].GetArray()) {
    if (std::string(c["class"].GetString()) == "_buy" &&
        std::string(c["period"].GetString()) == "total") {
      return c["count"].GetInt64();
    }
  }
  return -1;
}

v1::TenantSettings Rate(double per_second, int64_t burst) {
  v1::TenantSettings s;
  s.set_rate_limit_per_second(per_second);
  s.set_rate_limit_burst(burst);
  return s;
}

// A countd with --auth=required shared by the tests of one suite, with the open tenant acme.
// `Suite` only tags the instantiation, so that each suite has its own server. A failed start is
// reported by every test of the suite (SetUp), not by a crash.
template <typename Suite>
class AuthServerSuite : public ::testing::Test {
 protected:
  // Starts the server (named `name` in dir_, made here unless the suite made it already for its
  // own files) with `flags`; Admin goes over `admin_credentials` (see AuthServer::Start). Call
  // from SetUpTestSuite.
  static void StartSuite(const std::string& name, std::vector<std::string> flags,
                         std::shared_ptr<grpc::ChannelCredentials> admin_credentials = nullptr) {
    if (dir_ == nullptr) dir_ = new test::ScopedTempDir();
    std::string error;
    server_ = AuthServer::Start(dir_, name, std::move(flags), &error, std::move(admin_credentials))
                  .release();
    if (server_ == nullptr) return Fail(absl::InternalError(error));
    absl::StatusOr<Tenant> t = server_->Create("acme", v1::TenantSettings());
    if (!t.ok()) return Fail(t.status());
    acme_ = new Tenant(*t);
  }
  // Records why the suite cannot run (kept for SetUp to report).
  static void Fail(const absl::Status& s) {
    if (start_error_ == nullptr) start_error_ = new std::string(s.ToString());
  }
  static bool Started() { return start_error_ == nullptr; }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
    dir_ = nullptr;
    delete acme_;
    acme_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    uid_ = absl::StrCat("u-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  void TearDown() override {
    if (HasFailure() && server_ != nullptr) {
      ADD_FAILURE() << "countd stdout:\n"
                    << server_->process()->stdout_text().substr(0, 4000) << "\ncountd stderr:\n"
                    << server_->process()->stderr_text().substr(0, 4000);
    }
  }

  static inline test::ScopedTempDir* dir_ = nullptr;
  static inline AuthServer* server_ = nullptr;
  static inline std::string* start_error_ = nullptr;
  static inline Tenant* acme_ = nullptr;

  std::string uid_;  // "u-<test name>": a user id no other test of the suite uses
};

class HttpAuthE2eTest : public AuthServerSuite<class HttpAuthTag> {
 protected:
  static void SetUpTestSuite() {
    StartSuite("main", {});
    if (!Started()) return;
    // s2: read-write, then revoked; s3: read-only.
    absl::StatusOr<v1::NewSecret> s2 = server_->AddSecret("acme", v1::SECRET_ROLE_READ_WRITE);
    if (!s2.ok()) return Fail(s2.status());
    revoked_secret_ = new v1::NewSecret(*s2);
    if (absl::Status s = server_->Revoke("acme", s2->info().id()); !s.ok()) return Fail(s);
    absl::StatusOr<v1::NewSecret> s3 = server_->AddSecret("acme", v1::SECRET_ROLE_READ_ONLY);
    if (!s3.ok()) return Fail(s3.status());
    read_only_ = new v1::NewSecret(*s3);
    absl::StatusOr<Tenant> t = server_->Create("beta", Open());
    if (!t.ok()) return Fail(t.status());
    beta_ = new Tenant(*t);
    v1::TenantSettings web;
    web.add_allowed_origins("https://shop.example");
    if (absl::Status s = server_->Create("web", web).status(); !s.ok()) return Fail(s);
    for (const char* slow : {"slow-gigya", "slow-browser", "slow-canonical"}) {
      absl::StatusOr<Tenant> created = server_->Create(slow, Rate(0.001, 2));
      if (!created.ok()) return Fail(created.status());
      (*slow_)[slow] = *created;
    }
  }

  void SetUp() override {
    AuthServerSuite::SetUp();
    if (HasFatalFailure()) return;
    http_ = std::make_unique<HttpClient>(server_->http_address());
  }

  // The URL the client signs: how it reaches the server.
  static std::string Url(const std::string& method) {
    return absl::StrCat("http://", server_->http_address(), "/", method);
  }

  // `params` with apiKey (when absent), timestamp, nonce and sig added.
  static Params Sign(Params params, const std::string& http_method, const std::string& method,
                     const std::string& secret, absl::Time at = absl::Now()) {
    return SignParams(std::move(params), http_method, Url(method), secret, at);
  }

  HttpResult Get(const std::string& method, const Params& params) {
    return http_->Get(absl::StrCat("/", method, "?", Encode(params)));
  }
  HttpResult Post(const std::string& method, const Params& params) {
    return http_->Post(absl::StrCat("/", method), Encode(params));
  }
  HttpResult SignedGet(const std::string& method, Params params,
                       const std::string& secret = acme_->secret) {
    return Get(method, Sign(std::move(params), "GET", method, secret));
  }
  HttpResult SignedPost(const std::string& method, Params params,
                        const std::string& secret = acme_->secret) {
    return Post(method, Sign(std::move(params), "POST", method, secret));
  }

  // The total count of acme's ("_buy", "/") for uid_ (-1 when absent).
  int64_t BuyCount() { return TotalBuyCount(SignedGet("accounts.getCounters", {{"UID", uid_}})); }

  void RegisterBuy() {
    HttpResult r =
        SignedPost("accounts.registerCounters", {{"counters", R"([{"class":"_buy","path":"/"}])"}});
    ASSERT_EQ(ErrorCode(r), 0) << r;
  }

  static Tenant* beta_;
  static v1::NewSecret* revoked_secret_;
  static v1::NewSecret* read_only_;
  static std::map<std::string, Tenant>* slow_;

  std::unique_ptr<HttpClient> http_;
};

Tenant* HttpAuthE2eTest::beta_ = nullptr;
v1::NewSecret* HttpAuthE2eTest::revoked_secret_ = nullptr;
v1::NewSecret* HttpAuthE2eTest::read_only_ = nullptr;
std::map<std::string, Tenant>* HttpAuthE2eTest::slow_ = new std::map<std::string, Tenant>();

// --- Gigya
// -----------------------------------------------------------------------------------------

TEST_F(HttpAuthE2eTest, SignedAccountsRequestsSucceed) {
  RegisterBuy();
  HttpResult r = SignedPost("accounts.incrementCounters", Increment(uid_));
  ASSERT_EQ(ErrorCode(r), 0) << r;
  EXPECT_EQ(BuyCount(), 1);
  // The same call as a GET with the parameters in the query string.
  r = SignedGet("accounts.incrementCounters", Increment(uid_));
  ASSERT_EQ(ErrorCode(r), 0) << r;
  EXPECT_EQ(BuyCount(), 2);
}

TEST_F(HttpAuthE2eTest, SignedGmRequestsSucceed) {
  HttpResult r = SignedPost(
      "gm.setChallengeConfig",
      {{"challengeID", "c-auth"}, {"levels", R"([{"level":1,"title":"One","pointsRequired":5}])"}});
  ASSERT_EQ(ErrorCode(r), 0) << r;
  r = SignedPost("gm.setActionConfig",
                 {{"actionID", "a-auth"}, {"points", "5"}, {"challenges", "c-auth"}});
  ASSERT_EQ(ErrorCode(r), 0) << r;
  r = SignedPost("gm.notifyAction", {{"UID", uid_}, {"action", "a-auth"}});
  ASSERT_EQ(ErrorCode(r), 0) << r;
  r = SignedGet("gm.getChallengeStatus", {{"UID", uid_}, {"includeChallenges", "c-auth"}});
  ASSERT_EQ(ErrorCode(r), 0) << r;
  EXPECT_THAT(r.body, HasSubstr("\"pointsTotal\":5"));
}

// The official Python SDK (SAP/gigya-python-sdk, GSRequest.send and sendRequest) as it really
// calls, reproduced here: a form POST of the method's parameters plus format=json,
// httpStatusCodes=false and sdk=python_<version> on every call, then apiKey, timestamp, nonce
// (the milliseconds followed by a random number below 1000) and sig over all of them; arrays
// JSON-stringified the Python way (json.dumps: ", " and ": "). The parameters countd does not
// take are ignored, but the signature covers them.
TEST_F(HttpAuthE2eTest, OfficialPythonSdkSignedRequestsSucceed) {
  RegisterBuy();
  int sequence = 0;
  auto sdk_call = [&](const std::string& method, Params params, Params after_signing = {}) {
    params["format"] = "json";
    params["httpStatusCodes"] = "false";
    params["sdk"] = "python_3.6.0";
    params["apiKey"] = "acme";
    params["timestamp"] = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
    params["nonce"] = absl::StrCat(absl::ToUnixMillis(absl::Now()), (sequence++ * 37) % 1000);
    params["sig"] = GigyaSig("POST", Url(method), params, acme_->secret);
    for (const auto& [k, v] : after_signing) params[k] = v;
    return http_->Post(absl::StrCat("/", method), Encode(params),
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  };
  const Params increment = {{"UID", uid_}, {"counters", R"([{"class": "_buy", "path": "/"}])"}};
  HttpResult r = sdk_call("accounts.incrementCounters", increment);
  EXPECT_EQ(r.status, 200) << r;
  ASSERT_EQ(ErrorCode(r), 0) << r;
  EXPECT_EQ(BuyCount(), 1);
  // Reads, on both route families.
  r = sdk_call("accounts.getCounters", {{"UID", uid_}});
  EXPECT_EQ(TotalBuyCount(r), 1) << r;
  r = sdk_call("gm.getActionsLog", {{"UID", uid_}});
  EXPECT_EQ(ErrorCode(r), 0) << r;
  // The ignored parameters count in the signature: changed after signing, the call is refused
  // and writes nothing.
  for (const auto& [name, value] : Params{{"sdk", "python_9.9.9"}, {"httpStatusCodes", "0"}}) {
    r = sdk_call("accounts.incrementCounters", increment, {{name, value}});
    EXPECT_EQ(ErrorCode(r), 403003) << name << ": " << r;
  }
  // Added after signing: refused as well.
  r = sdk_call("accounts.incrementCounters", increment, {{"_", "1700000000000"}});
  EXPECT_EQ(ErrorCode(r), 403003) << r;
  EXPECT_EQ(BuyCount(), 1);
  // A signed GET with jQuery's cache-buster in the signed parameters.
  Params get = Sign({{"UID", uid_}, {"_", "1700000000000"}, {"targetEnv", "jssdk"}}, "GET",
                    "accounts.getCounters", acme_->secret);
  EXPECT_EQ(TotalBuyCount(Get("accounts.getCounters", get)), 1);
}

TEST_F(HttpAuthE2eTest, WrongSecretIs403003) {
  RegisterBuy();
  HttpResult r = SignedPost("accounts.incrementCounters", Increment(uid_), beta_->secret);
  EXPECT_EQ(ErrorCode(r), 403003) << r;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(BuyCount(), -1);
}

TEST_F(HttpAuthE2eTest, ExpiredTimestampIs403002) {
  Params p = Sign({{"UID", uid_}}, "GET", "accounts.getCounters", acme_->secret,
                  absl::Now() - absl::Seconds(300));
  HttpResult r = Get("accounts.getCounters", p);
  EXPECT_EQ(ErrorCode(r), 403002) << r;
  EXPECT_THAT(r.body, Not(HasSubstr(p["sig"])));
  EXPECT_THAT(r.body, Not(HasSubstr(p["nonce"])));
}

TEST_F(HttpAuthE2eTest, ReplayedNonceIs403004) {
  RegisterBuy();
  Params p = Sign(Increment(uid_), "POST", "accounts.incrementCounters", acme_->secret);
  ASSERT_EQ(ErrorCode(Post("accounts.incrementCounters", p)), 0);
  HttpResult r = Post("accounts.incrementCounters", p);
  EXPECT_EQ(ErrorCode(r), 403004) << r;
  EXPECT_EQ(BuyCount(), 1);
}

TEST_F(HttpAuthE2eTest, UnknownApiKeyIs400093) {
  HttpResult r = SignedGet("accounts.getCounters", {{"apiKey", "no-such-tenant"}, {"UID", uid_}});
  EXPECT_EQ(ErrorCode(r), 400093) << r;
}

TEST_F(HttpAuthE2eTest, NoCredentialsIs403007) {
  HttpResult r = Get("accounts.getCounters", {{"apiKey", "acme"}, {"UID", uid_}});
  EXPECT_EQ(ErrorCode(r), 403007) << r;
  rapidjson::Document doc = ParseJson(r.body);
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("errorDetails")) << r;
  EXPECT_THAT(std::string(doc["errorDetails"].GetString()), HasSubstr("sig"));
}

TEST_F(HttpAuthE2eTest, SecretOverPlainHttpIs400001) {
  Params p = {{"apiKey", "acme"}, {"UID", uid_}, {"secret", acme_->secret}};
  HttpResult r = Get("accounts.getCounters", p);
  EXPECT_EQ(ErrorCode(r), 400001) << r;
  EXPECT_THAT(r.body, Not(HasSubstr(acme_->secret)));
  EXPECT_THAT(r.body, HasSubstr("HTTPS"));
}

TEST_F(HttpAuthE2eTest, AnotherTenantsSignatureWritesNothing) {
  RegisterBuy();
  // beta signs a request naming acme: not acme's secret.
  HttpResult r = SignedPost("accounts.incrementCounters", Increment(uid_), beta_->secret);
  EXPECT_EQ(ErrorCode(r), 403003) << r;
  // acme's signature presented with an unknown apiKey.
  Params p = Increment(uid_);
  p["apiKey"] = "not-registered";
  r = SignedPost("accounts.incrementCounters", p);
  EXPECT_EQ(ErrorCode(r), 400093) << r;
  // acme's signature over apiKey=acme, then the apiKey swapped to beta.
  p = Sign(Increment(uid_), "POST", "accounts.incrementCounters", acme_->secret);
  p["apiKey"] = "beta";
  r = Post("accounts.incrementCounters", p);
  EXPECT_EQ(ErrorCode(r), 403003) << r;
  EXPECT_EQ(BuyCount(), -1);
}

TEST_F(HttpAuthE2eTest, ReadOnlySecretCannotNotifyAction) {
  HttpResult r =
      SignedPost("gm.notifyAction", {{"UID", uid_}, {"action", "a-any"}}, read_only_->secret());
  EXPECT_EQ(ErrorCode(r), 403007) << r;
  r = SignedGet("gm.getActionsLog", {{"UID", uid_}}, read_only_->secret());
  EXPECT_EQ(ErrorCode(r), 0) << r;
}

TEST_F(HttpAuthE2eTest, SignedWithARevokedSecretIs403003) {
  HttpResult r =
      SignedGet("accounts.getCounters", {{"UID", uid_}, {"userKey", revoked_secret_->info().id()}},
                revoked_secret_->secret());
  EXPECT_EQ(ErrorCode(r), 403003) << r;
}

TEST_F(HttpAuthE2eTest, RateLimitIs403048) {
  const Tenant& slow = slow_->at("slow-gigya");
  int ok = 0;
  int limited = 0;
  for (int i = 0; i < 4; ++i) {
    HttpResult r = SignedGet("gm.getActionConfig", {{"apiKey", slow.name}}, slow.secret);
    if (ErrorCode(r) == 0) ++ok;
    if (ErrorCode(r) == 403048) ++limited;
  }
  EXPECT_EQ(ok, 2);  // the burst
  EXPECT_EQ(limited, 2);
}

TEST_F(HttpAuthE2eTest, HttpStatusCodesTrueGivesHttp403) {
  HttpResult r = SignedGet("accounts.getCounters", {{"UID", uid_}, {"httpStatusCodes", "true"}},
                           beta_->secret);
  EXPECT_EQ(ErrorCode(r), 403003) << r;
  EXPECT_EQ(r.status, 403);
  r = SignedGet("accounts.getCounters", {{"UID", uid_}, {"httpStatusCodes", "true"}});
  EXPECT_EQ(ErrorCode(r), 0) << r;
  EXPECT_EQ(r.status, 200);
}

// --- Stash and Tally
// ---------------------------------------------------------------------------------

TEST_F(HttpAuthE2eTest, BrowserRoutesRefuseUnknownTrackingIds) {
  HttpResult r = http_->Post("/stash/v1.1/count/incr/no-such-tenant/public/v:c", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, JsonEq(R"({"status":403})"));
  r = http_->Post("/tally/no-such-tenant/ecount/c/x/60", "");
  EXPECT_THAT(r.body, JsonEq(R"({"error":"not saved","status":403})"));
}

TEST_F(HttpAuthE2eTest, DisallowedOriginIs403AndWritesNothing) {
  const std::string key = absl::StrCat(uid_, ":c:", TodayIso());
  HttpResult r = http_->Post(absl::StrCat("/stash/v1.1/count/incr/web/public/", uid_, ":c"), "",
                             {{"Origin", "https://evil.example"}});
  EXPECT_THAT(r.body, JsonEq(R"({"status":403})")) << r;
  r = http_->Post(absl::StrCat("/tally/web/ecount/c/", uid_, "/60"), "",
                  {{"Origin", "https://evil.example"}});
  EXPECT_THAT(r.body, JsonEq(R"({"error":"not saved","status":403})")) << r;
  // Read back from the allowed origin: nothing was counted.
  r = http_->Get(absl::StrCat("/stash/v1.1/count/get/web/public/", key),
                 {{"Origin", "https://shop.example"}});
  EXPECT_THAT(r.body, JsonEq(R"({"status":404})")) << r;
  r = http_->Get(absl::StrCat("/tally/web/ecount/c/", uid_), {{"Origin", "https://shop.example"}});
  EXPECT_THAT(r.body, JsonEq(R"({"status":404})")) << r;
}

TEST_F(HttpAuthE2eTest, AllowedOriginIsEchoed) {
  HttpResult r = http_->Post(absl::StrCat("/stash/v1.1/count/incr/web/public/", uid_, ":c"), "",
                             {{"Origin", "https://shop.example"}});
  EXPECT_THAT(r.body, HasSubstr("\"status\":200")) << r;
  EXPECT_EQ(r.HeaderOr("access-control-allow-origin"), "https://shop.example");
  EXPECT_EQ(r.HeaderOr("vary"), "Origin");
  r = http_->Get(absl::StrCat("/stash/v1.1/count/get/web/public/", uid_, ":c:", TodayIso()),
                 {{"Origin", "https://shop.example"}});
  EXPECT_THAT(r.body, JsonEq(R"({"status":200,"data":"1"})")) << r;
  // A tenant without an origin list: any origin, answered with "*".
  r = http_->Post(absl::StrCat("/tally/acme/ecount/c/", uid_, "/60"), "",
                  {{"Origin", "https://anywhere.example"}});
  EXPECT_THAT(r.body, JsonEq(R"({"status":"saved"})")) << r;
  EXPECT_EQ(r.HeaderOr("access-control-allow-origin"), "*");
}

TEST_F(HttpAuthE2eTest, BrowserRateLimitIs429) {
  std::vector<std::string> bodies;
  for (int i = 0; i < 3; ++i) {
    bodies.push_back(http_->Post("/stash/v1.1/count/incr/slow-browser/public/v:c", "").body);
  }
  EXPECT_THAT(bodies[0], HasSubstr("\"status\":200"));
  EXPECT_THAT(bodies[1], HasSubstr("\"status\":200"));
  EXPECT_THAT(bodies[2], JsonEq(R"({"status":429})"));
  HttpResult r = http_->Post("/tally/slow-browser/ecount/c/x/60", "");
  EXPECT_THAT(r.body, JsonEq(R"({"error":"not saved","status":429})")) << r;
}

// --- canonical /v1/
// ----------------------------------------------------------------------------------

TEST_F(HttpAuthE2eTest, CanonicalBearer) {
  const std::string body =
      absl::StrCat(R"({"tenant":"acme","visitorId":")", uid_, R"(","counterName":"c"})");
  HeaderList json = {{"Content-Type", "application/json"}};
  auto with = [&](std::string name, std::string value) {
    HeaderList h = json;
    h.emplace_back(std::move(name), std::move(value));
    return h;
  };
  HttpResult r =
      http_->Post("/v1/Counters/Incr", body, with("Authorization", "Bearer acme:" + acme_->secret));
  EXPECT_EQ(r.status, 200) << r;
  r = http_->Post("/v1/Counters/Incr", body, json);
  EXPECT_EQ(r.status, 401) << r;
  r = http_->Post("/v1/Counters/Incr", body, with("Authorization", "Bearer acme:" + beta_->secret));
  EXPECT_EQ(r.status, 401) << r;
  EXPECT_THAT(r.body, Not(HasSubstr(beta_->secret)));
  r = http_->Post("/v1/Counters/Incr", body, with("Authorization", "Bearer beta:" + beta_->secret));
  EXPECT_EQ(r.status, 403) << r;  // beta's credential on acme's data
  r = http_->Post("/v1/Counters/Incr", body,
                  with("Authorization", "Bearer acme:" + read_only_->secret()));
  EXPECT_EQ(r.status, 403) << r;  // read-only
  HeaderList pair = json;
  pair.emplace_back("X-Countd-Tenant", "acme");
  pair.emplace_back("X-Countd-Secret", acme_->secret);
  r = http_->Post("/v1/Counters/Incr", body, pair);
  EXPECT_EQ(r.status, 200) << r;
  // Exactly the two accepted calls counted.
  r = http_->Get(absl::StrCat("/stash/v1.1/count/get/acme/public/", uid_, ":c:", TodayIso()));
  EXPECT_THAT(r.body, JsonEq(R"({"status":200,"data":"2"})")) << r;

  const Tenant& slow = slow_->at("slow-canonical");
  const std::string slow_body = R"({"tenant":"slow-canonical","visitorId":"v","counterName":"c"})";
  std::vector<long> statuses;
  for (int i = 0; i < 3; ++i) {
    statuses.push_back(http_
                           ->Post("/v1/Counters/Incr", slow_body,
                                  with("Authorization", "Bearer " + slow.name + ":" + slow.secret))
                           .status);
  }
  EXPECT_THAT(statuses, ::testing::ElementsAre(200, 200, 429));
}

TEST_F(HttpAuthE2eTest, ForwardedHeadersAreIgnoredWithoutTrustedProxies) {
  // This countd has no --trusted-proxies: a client cannot talk its way into "https".
  const HeaderList forwarded = {{"X-Forwarded-Proto", "https"},
                                {"X-Forwarded-Host", "accounts.example.com"},
                                {"X-Forwarded-For", "198.51.100.7"}};
  HttpResult r = http_->Get(
      absl::StrCat("/accounts.getCounters?",
                   Encode({{"apiKey", "acme"}, {"UID", uid_}, {"secret", acme_->secret}})),
      forwarded);
  EXPECT_EQ(ErrorCode(r), 400001) << r;
  // Signed for the URL the headers claim: refused; countd names the URL it checked.
  const std::string claimed = "https://accounts.example.com/accounts.getCounters";
  r = http_->Get(absl::StrCat("/accounts.getCounters?",
                              Encode(SignParams({{"UID", uid_}}, "GET", claimed, acme_->secret))),
                 forwarded);
  EXPECT_EQ(ErrorCode(r), 403003) << r;
  EXPECT_THAT(r.body, HasSubstr(Url("accounts.getCounters")));
  // Even a malformed one is just ignored.
  r = http_->Get(
      absl::StrCat("/accounts.getCounters?",
                   Encode(Sign({{"UID", uid_}}, "GET", "accounts.getCounters", acme_->secret))),
      {{"X-Forwarded-Proto", "gopher"}});
  EXPECT_EQ(ErrorCode(r), 0) << r;
}

// --- a countd restarted between a request and its replay
// ------------------------------------------

TEST(HttpAuthRestartE2eTest, AReplayAfterARestartIsStill403004) {
  test::ScopedTempDir dir;
  std::string error;
  std::unique_ptr<AuthServer> server = AuthServer::Start(&dir, "restart", {}, &error);
  ASSERT_NE(server, nullptr) << error;
  absl::StatusOr<Tenant> t = server->Create("acme", Open());
  ASSERT_TRUE(t.ok()) << t.status();
  const std::string method = "accounts.getCounters";
  auto url = [&] { return absl::StrCat("http://", server->http_address(), "/", method); };
  // Signed once, sent twice: before and after a kill -9. The port changes with the restart,
  // so the replay is signed for the new URL with the same nonce, as a captured request re-aimed.
  Params signed_params = SignParams({{"UID", "u"}}, "GET", url(), t->secret);
  HttpResult r =
      HttpClient(server->http_address()).Get(absl::StrCat("/", method, "?", Encode(signed_params)));
  ASSERT_EQ(ErrorCode(r), 0) << r;
  ASSERT_TRUE(server->Restart().ok());
  signed_params.erase("sig");
  signed_params["sig"] = GigyaSig("GET", url(), signed_params, t->secret);
  r = HttpClient(server->http_address()).Get(absl::StrCat("/", method, "?", Encode(signed_params)));
  EXPECT_EQ(ErrorCode(r), 403004) << r;
  // A fresh nonce is fine.
  r = HttpClient(server->http_address())
          .Get(absl::StrCat("/", method, "?",
                            Encode(SignParams({{"UID", "u"}}, "GET", url(), t->secret))));
  EXPECT_EQ(ErrorCode(r), 0) << r;
}

// --- a countd that accepts the secret over plain HTTP
// ---------------------------------------------------

TEST(HttpAuthInsecureSecretE2eTest, SecretParameterWorksWithAllowInsecureSecret) {
  test::ScopedTempDir dir;
  std::string error;
  std::unique_ptr<AuthServer> server =
      AuthServer::Start(&dir, "insecure", {"--allow-insecure-secret"}, &error);
  ASSERT_NE(server, nullptr) << error;
  absl::StatusOr<Tenant> t = server->Create("acme", Open());
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<v1::NewSecret> s2 = server->AddSecret("acme", v1::SECRET_ROLE_READ_WRITE);
  ASSERT_TRUE(s2.ok()) << s2.status();
  ASSERT_TRUE(server->Revoke("acme", s2->info().id()).ok());
  HttpClient http(server->http_address());
  auto get = [&](Params p) { return http.Get(absl::StrCat("/accounts.getCounters?", Encode(p))); };
  HttpResult r = get({{"apiKey", "acme"}, {"UID", "u"}, {"secret", t->secret}});
  EXPECT_EQ(ErrorCode(r), 0) << r;
  r = get({{"apiKey", "acme"}, {"UID", "u"}, {"secret", s2->secret()}});
  EXPECT_EQ(ErrorCode(r), 403007) << r;  // revoked
  r = get(
      {{"apiKey", "acme"}, {"UID", "u"}, {"userKey", s2->info().id()}, {"secret", s2->secret()}});
  EXPECT_EQ(ErrorCode(r), 403007) << r;  // userKey selecting the revoked secret
  r = get({{"apiKey", "acme"}, {"UID", "u"}, {"userKey", s2->info().id()}, {"secret", t->secret}});
  EXPECT_EQ(ErrorCode(r), 403007) << r;  // the live secret, but under the revoked one's name
  EXPECT_THAT(r.body, Not(HasSubstr(t->secret)));
}

// --- a countd that terminates TLS: the secret is accepted over HTTPS
// --------------------------------

// One countd with --auth=required and TLS on both ports for the suite; the tenant acme has two
// live read-write secrets (s1, s2). Clients trust the test CA.
class HttpsAuthE2eTest : public AuthServerSuite<class HttpsAuthTag> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::ScopedTempDir();
    absl::StatusOr<PkiFiles> files = WritePki(*dir_);
    if (!files.ok()) return Fail(files.status());
    files_ = new PkiFiles(*std::move(files));
    grpc::SslCredentialsOptions roots;
    roots.pem_root_certs = files_->pki.ca.cert_pem;
    StartSuite("tls", ServerTlsArgs(*files_), grpc::SslCredentials(roots));
    if (!Started()) return;
    absl::StatusOr<v1::NewSecret> s2 = server_->AddSecret("acme", v1::SECRET_ROLE_READ_WRITE);
    if (!s2.ok()) return Fail(s2.status());
    second_ = new v1::NewSecret(*s2);
  }

  static void TearDownTestSuite() {
    AuthServerSuite::TearDownTestSuite();
    delete files_;
    files_ = nullptr;
    delete second_;
    second_ = nullptr;
  }

  void SetUp() override {
    AuthServerSuite::SetUp();
    if (HasFatalFailure()) return;
    https_ =
        std::make_unique<HttpClient>(server_->http_address(), HttpClientTls{files_->ca, "", ""});
  }

  // The normalized URL of `method` with `scheme` ("https" is how the client reaches countd).
  static std::string Url(const std::string& scheme, const std::string& method) {
    return absl::StrCat(scheme, "://", server_->http_address(), "/", method);
  }

  HttpResult Get(const std::string& method, const Params& params) {
    return https_->Get(absl::StrCat("/", method, "?", Encode(params)));
  }
  HttpResult Post(const std::string& method, const Params& params) {
    return https_->Post(absl::StrCat("/", method), Encode(params));
  }

  static inline PkiFiles* files_ = nullptr;
  static inline v1::NewSecret* second_ = nullptr;

  std::unique_ptr<HttpClient> https_;
};

TEST_F(HttpsAuthE2eTest, SecretParameterOverHttpsSucceeds) {
  const std::string& s1 = acme_->secret;
  const std::string& s2 = second_->secret();
  ASSERT_EQ(second_->info().id(), "s2");
  const Params base = {{"apiKey", "acme"}, {"UID", uid_}};
  auto with = [](Params p, std::vector<std::pair<std::string, std::string>> more) {
    for (auto& [k, v] : more) p[k] = v;
    return p;
  };
  // The secret alone, and with userKey naming it; either live secret.
  HttpResult r = Get("accounts.getCounters", with(base, {{"secret", s1}}));
  EXPECT_EQ(ErrorCode(r), 0) << r;
  r = Get("accounts.getCounters", with(base, {{"userKey", "s1"}, {"secret", s1}}));
  EXPECT_EQ(ErrorCode(r), 0) << r;
  r = Get("accounts.getCounters", with(base, {{"userKey", "s2"}, {"secret", s2}}));
  EXPECT_EQ(ErrorCode(r), 0) << r;
  // Still checked over HTTPS: a live secret under the other one's name, or a wrong one.
  r = Get("accounts.getCounters", with(base, {{"userKey", "s1"}, {"secret", s2}}));
  EXPECT_EQ(ErrorCode(r), 403007) << r;
  EXPECT_THAT(r.body, Not(HasSubstr(s2)));
  r = Get("accounts.getCounters", with(base, {{"secret", RandomHex(32)}}));
  EXPECT_EQ(ErrorCode(r), 403007) << r;

  // Writes with the secret (POST form body), read back with userKey + secret.
  r = Post("accounts.registerCounters",
           {{"apiKey", "acme"}, {"secret", s1}, {"counters", R"([{"class":"_buy","path":"/"}])"}});
  ASSERT_EQ(ErrorCode(r), 0) << r;
  r = Post("accounts.incrementCounters",
           with(Increment(uid_), {{"apiKey", "acme"}, {"userKey", "s2"}, {"secret", s2}}));
  ASSERT_EQ(ErrorCode(r), 0) << r;
  EXPECT_EQ(
      TotalBuyCount(Get("accounts.getCounters", with(base, {{"userKey", "s1"}, {"secret", s1}}))),
      1);
  EXPECT_EQ(https_->last_new_connections(), 0) << "keep-alive over TLS";
}

TEST_F(HttpsAuthE2eTest, SignedRequestOverHttpsSignsTheHttpsUrl) {
  const std::string method = "accounts.getCounters";
  HttpResult r =
      Get(method, SignParams({{"UID", uid_}}, "GET", Url("https", method), acme_->secret));
  EXPECT_EQ(ErrorCode(r), 0) << r;
  r = Post(method, SignParams({{"UID", uid_}, {"userKey", "s2"}}, "POST", Url("https", method),
                              second_->secret()));
  EXPECT_EQ(ErrorCode(r), 0) << r;
  // Signed for http:// but sent over HTTPS: countd signs the scheme it serves, and says so.
  r = Get(method, SignParams({{"UID", uid_}}, "GET", Url("http", method), acme_->secret));
  EXPECT_EQ(ErrorCode(r), 403003) << r;
  EXPECT_THAT(r.body, HasSubstr(Url("https", method)));
  r = Post(method, SignParams({{"UID", uid_}}, "POST", Url("http", method), acme_->secret));
  EXPECT_EQ(ErrorCode(r), 403003) << r;
}

// --- a countd behind a trusted reverse proxy (--trusted-proxies) ---------------------------------

// One countd with --trusted-proxies naming loopback, so this test client plays the ingress that
// terminates TLS for the real client and forwards over plain HTTP. Tenant acme is open.
class HttpTrustedProxyE2eTest : public AuthServerSuite<class HttpTrustedProxyTag> {
 protected:
  static void SetUpTestSuite() {
    StartSuite("proxy", {"--trusted-proxies=127.0.0.0/8,::1", "--log-level=debug"});
  }

  void SetUp() override {
    AuthServerSuite::SetUp();
    if (HasFatalFailure()) return;
    http_ = std::make_unique<HttpClient>(server_->http_address());
  }

  HttpResult Get(const std::string& method, const Params& params, const HeaderList& headers) {
    return http_->Get(absl::StrCat("/", method, "?", Encode(params)), headers);
  }
  HttpResult Post(const std::string& method, const Params& params, const HeaderList& headers) {
    return http_->Post(absl::StrCat("/", method), Encode(params), headers);
  }

  std::unique_ptr<HttpClient> http_;
};

TEST_F(HttpTrustedProxyE2eTest, SecretIsAcceptedWhenTheProxySaysTheClientUsedHttps) {
  const Params p = {{"apiKey", "acme"}, {"UID", uid_}, {"secret", acme_->secret}};
  EXPECT_EQ(ErrorCode(Get("accounts.getCounters", p, {{"X-Forwarded-Proto", "https"}})), 0);
  // The proxy saw plain HTTP, or says nothing: the connection itself is plain.
  HttpResult r = Get("accounts.getCounters", p, {{"X-Forwarded-Proto", "http"}});
  EXPECT_EQ(ErrorCode(r), 400001) << r;
  EXPECT_EQ(ErrorCode(Get("accounts.getCounters", p, {})), 400001);
  // A client's own "https" in front of a proxy that appends what it saw: the proxy's wins.
  EXPECT_EQ(ErrorCode(Get("accounts.getCounters", p, {{"X-Forwarded-Proto", "https, http"}})),
            400001);
  // Writes too, with the secret in a form body.
  r = Post("accounts.registerCounters",
           {{"apiKey", "acme"},
            {"secret", acme_->secret},
            {"counters", R"([{"class":"_buy","path":"/"}])"}},
           {{"X-Forwarded-Proto", "https"}});
  EXPECT_EQ(ErrorCode(r), 0) << r;
}

TEST_F(HttpTrustedProxyE2eTest, SignaturesAreCheckedAgainstTheUrlTheClientUsed) {
  const std::string method = "accounts.getCounters";
  // The client called https://accounts.example.com/...; the ingress forwards over plain HTTP.
  const HeaderList ingress = {{"X-Forwarded-Proto", "https"},
                              {"X-Forwarded-Host", "Accounts.Example.com"},
                              {"X-Forwarded-For", "198.51.100.7"}};
  const std::string public_url = "https://accounts.example.com/" + method;
  Params signed_params = SignParams({{"UID", uid_}}, "GET", public_url, acme_->secret);
  HttpResult r = Get(method, signed_params, ingress);
  EXPECT_EQ(ErrorCode(r), 0) << r;
  // The same signature without the proxy's headers is for another URL: 403003 naming the URL.
  signed_params = SignParams({{"UID", uid_}}, "GET", public_url, acme_->secret);
  r = Get(method, signed_params, {});
  EXPECT_EQ(ErrorCode(r), 403003) << r;
  EXPECT_THAT(r.body, HasSubstr("http://" + server_->http_address() + "/" + method));
  // A non-default port stays in the URL; POST signs the same way.
  const std::string port_url = "https://accounts.example.com:8443/" + method;
  r = Post(method, SignParams({{"UID", uid_}}, "POST", port_url, acme_->secret),
           {{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "accounts.example.com:8443"}});
  EXPECT_EQ(ErrorCode(r), 0) << r;
  r = Post(method, SignParams({{"UID", uid_}}, "POST", port_url, acme_->secret), ingress);
  EXPECT_EQ(ErrorCode(r), 403003) << r;
  EXPECT_THAT(r.body, HasSubstr(public_url));
}

TEST_F(HttpTrustedProxyE2eTest, GmRecordsTheForwardedClientAddress) {
  const HeaderList tls = {{"X-Forwarded-Proto", "https"}};
  auto with_secret = [&](Params p) {
    p.emplace("apiKey", "acme");
    p.emplace("secret", acme_->secret);
    return p;
  };
  ASSERT_EQ(ErrorCode(Post("gm.setActionConfig",
                           with_secret({{"actionID", "visit"}, {"points", "1"}}), tls)),
            0);
  // Hops: a forged entry the client sent, the client as the ingress saw it, the ingress's own
  // pod address (trusted): the client is the first untrusted hop from the right.
  HeaderList forwarded = tls;
  forwarded.emplace_back("X-Forwarded-For", "203.0.113.1, 198.51.100.7, 127.0.0.9");
  ASSERT_EQ(ErrorCode(Post("gm.notifyAction", with_secret({{"UID", uid_}, {"action", "visit"}}),
                           forwarded)),
            0);
  // No X-Forwarded-For: the proxy's own address.
  ASSERT_EQ(
      ErrorCode(Post("gm.notifyAction", with_secret({{"UID", uid_}, {"action", "visit"}}), tls)),
      0);
  HttpResult r = Get("gm.getActionsLog", with_secret({{"UID", uid_}}), tls);
  ASSERT_EQ(ErrorCode(r), 0) << r;
  rapidjson::Document doc = ParseJson(r.body);
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("actions")) << r;
  std::vector<std::string> ips;
  for (const auto& a : doc["actions"].GetArray()) {
    ips.push_back(a.HasMember("ip") ? a["ip"].GetString() : "");
  }
  EXPECT_THAT(ips, ::testing::UnorderedElementsAre("198.51.100.7", "127.0.0.1")) << r;
  // The debug request line names both the client and the proxy.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (
      !absl::StrContains(server_->process()->stdout_text(), "remote=198.51.100.7 via=127.0.0.1") &&
      absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(server_->process()->stdout_text(), HasSubstr("remote=198.51.100.7 via=127.0.0.1"));
}

TEST_F(HttpTrustedProxyE2eTest, MalformedForwardedHeadersAreRefusedInEachFamilysForm) {
  const Params p = {{"apiKey", "acme"}, {"UID", uid_}, {"secret", acme_->secret}};
  const HeaderList bad_proto = {{"X-Forwarded-Proto", "gopher"}};
  HttpResult r = Get("accounts.getCounters", p, bad_proto);
  EXPECT_EQ(r.status, 200) << r;  // Gigya answers in the body
  EXPECT_EQ(ErrorCode(r), 400001) << r;
  EXPECT_THAT(r.body, HasSubstr("bad_forwarded_header"));
  const std::string incr = absl::StrCat("/stash/v1.1/count/incr/acme/public/", uid_, ":c");
  r = http_->Post(incr, "", {{"X-Forwarded-For", "nope"}});
  EXPECT_EQ(r.status, 200) << r;  // Stash answers in the body
  EXPECT_EQ(r.body, R"({"status":400})");
  r = http_->Get("/tally/acme/views?count=10", {{"X-Forwarded-Host", "a/b"}});
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, HasSubstr("\"error\""));
  r = http_->Get("/healthz", {{"X-Forwarded-Proto", "gopher"}});
  EXPECT_EQ(r.status, 400) << r;
  EXPECT_EQ(r.body, R"({"error":"bad_forwarded_header"})");
  // The refused Stash increment wrote nothing: the next one counts 1.
  r = http_->Post(incr, "", {{"X-Forwarded-For", "198.51.100.7"}});
  ASSERT_EQ(r.status, 200) << r;
  rapidjson::Document doc = ParseJson(r.body);
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("data") && doc["data"].IsString()) << r;
  const std::string key = doc["data"].GetString();  // acme:c:<day>
  r = http_->Get(
      absl::StrCat("/stash/v1.1/count/get/acme/public/", uid_, key.substr(key.find(':'))));
  EXPECT_THAT(r.body, JsonEq(R"({"status":200,"data":"1"})")) << r;
}

TEST(HttpTrustedProxyStartupE2eTest, MalformedRangesRefuseToStart) {
  for (const char* bad : {"10.1.2.3/8", "ingress", "10.0.0.0/33"}) {
    test::ScopedTempDir dir;
    test::ServerProcessOptions options;
    options.data_dir = dir.Sub("data");
    options.extra_args = {absl::StrCat("--trusted-proxies=", bad)};
    EXPECT_THAT(ExpectRefusedStart(options), HasSubstr("--trusted-proxies")) << bad;
  }
}

}  // namespace
}  // namespace countd::e2e
