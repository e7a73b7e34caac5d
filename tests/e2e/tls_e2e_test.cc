// End-to-end tests of TLS and mutual TLS on both ports of the real countd binary: certificates
// are made at test time (tests/testing/test_certs.h) and passed by the --tls-* flags; gRPC goes
// through grpc::SslCredentials, HTTP through libcurl, and countctl's --tls-* flags are checked
// against the same servers. Also the startup refusals for TLS files that do not fit together, and
// that no key material reaches the logs.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "countd/v1/counters.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/countctl_runner.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/http_client.h"
#include "tests/e2e/tls_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certs.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Code = grpc::StatusCode;

// Failed handshakes end a call quickly; this only bounds a hang.
constexpr std::chrono::seconds kFailingRpcDeadline(5);

std::shared_ptr<grpc::Channel> PlainChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

grpc::Status Incr(const std::shared_ptr<grpc::Channel>& channel, const std::string& tenant,
                  std::chrono::seconds deadline = kRpcDeadline) {
  std::unique_ptr<v1::Counters::Stub> stub = v1::Counters::NewStub(channel);
  v1::IncrRequest req;
  req.set_tenant(tenant);
  req.set_visitor_id("v1");
  req.set_counter_name("views");
  v1::IncrResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  return stub->Incr(&ctx, req, &resp);
}

// The value of an unlabelled sample in Prometheus text, or -1.
double MetricValue(const std::string& text, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, name + " ")) {
      double v = -1;
      return absl::SimpleAtod(line.substr(name.size() + 1), &v) ? v : -1;
    }
  }
  return -1;
}

// Runs one countd with TLS (or mutual TLS, per the parameter of the subclass) for a suite.
class TlsServerFixture : public ::testing::Test {
 protected:
  static void StartServer(bool mutual) {
    dir_ = new test::ScopedTempDir();
    absl::StatusOr<PkiFiles> files = WritePki(*dir_);
    if (!files.ok()) {
      start_error_ = new std::string(files.status().ToString());
      return;
    }
    files_ = new PkiFiles(*std::move(files));
    test::ServerProcessOptions options;
    options.data_dir = dir_->Sub("data");
    options.extra_args = ServerTlsArgs(*files_);
    options.extra_args.push_back("--log-level=debug");
    if (mutual) options.extra_args.push_back("--tls-client-ca-file=" + files_->ca);
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
        test::ServerProcess::Start(options);
    if (!server.ok()) {
      start_error_ = new std::string(server.status().ToString());
      return;
    }
    server_ = server->release();
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete files_;
    files_ = nullptr;
    delete dir_;
    dir_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    tenant_ = absl::StrCat("t-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  void TearDown() override {
    if (server_ == nullptr) return;
    // Whatever a test did, the server is still up; and nothing it logged is key material.
    EXPECT_FALSE(server_->WaitForExit(absl::ZeroDuration()).has_value()) << "countd exited";
    const std::string logs = server_->stdout_text() + server_->stderr_text();
    EXPECT_THAT(logs, Not(HasSubstr("PRIVATE KEY")));
    for (const test::TestCert* c : {&files_->pki.server, &files_->pki.client}) {
      std::vector<std::string> lines = absl::StrSplit(c->key_pem, '\n');
      ASSERT_GE(lines.size(), 2u);
      EXPECT_THAT(logs, Not(HasSubstr(lines[1]))) << "a private key line was logged";
    }
    if (HasFailure()) {
      ADD_FAILURE() << "stdout:\n"
                    << server_->stdout_text().substr(0, 6000) << "\nstderr:\n"
                    << server_->stderr_text().substr(0, 4000);
    }
  }

  // Waits (bounded polling: the log has no completion event) until countd's stdout contains
  // `needle`: for lines logged while serving, such as a failed handshake.
  static bool AwaitStdout(const std::string& needle) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!absl::StrContains(server_->stdout_text(), needle)) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return true;
  }

  static HttpClientTls Trusting(const std::string& ca, const std::string& cert = "",
                                const std::string& key = "") {
    return HttpClientTls{ca, cert, key};
  }

  static test::ScopedTempDir* dir_;
  static PkiFiles* files_;
  static test::ServerProcess* server_;
  static std::string* start_error_;
  std::string tenant_;
};

test::ScopedTempDir* TlsServerFixture::dir_ = nullptr;
PkiFiles* TlsServerFixture::files_ = nullptr;
test::ServerProcess* TlsServerFixture::server_ = nullptr;
std::string* TlsServerFixture::start_error_ = nullptr;

// --- TLS (server-authenticated) ------------------------------------------------------------------

class TlsE2eTest : public TlsServerFixture {
 protected:
  static void SetUpTestSuite() { StartServer(/*mutual=*/false); }
};

TEST_F(TlsE2eTest, GrpcOverTlsWithTheCaAsRootSucceeds) {
  std::shared_ptr<grpc::Channel> channel =
      TlsChannel(server_->grpc_address(), files_->pki.ca.cert_pem);
  EXPECT_THAT(Incr(channel, tenant_), IsOk());
  absl::StatusOr<std::string> health =
      RawUnaryCall(channel, "/grpc.health.v1.Health/Check", std::string());
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, std::string("\x08\x01", 2));
  // The server certificate names localhost as well as 127.0.0.1.
  const std::string port = server_->grpc_address().substr(server_->grpc_address().rfind(':'));
  EXPECT_THAT(Incr(TlsChannel("localhost" + port, files_->pki.ca.cert_pem), tenant_), IsOk());
}

TEST_F(TlsE2eTest, GrpcPlaintextOrUntrustedClientsAreRefused) {
  grpc::Status plain = Incr(PlainChannel(server_->grpc_address()), tenant_, kFailingRpcDeadline);
  EXPECT_EQ(plain.error_code(), Code::UNAVAILABLE) << Describe(plain);
  grpc::Status untrusted = Incr(TlsChannel(server_->grpc_address(), files_->pki.other_ca.cert_pem),
                                tenant_, kFailingRpcDeadline);
  EXPECT_EQ(untrusted.error_code(), Code::UNAVAILABLE) << Describe(untrusted);
  // Still serving.
  EXPECT_THAT(Incr(TlsChannel(server_->grpc_address(), files_->pki.ca.cert_pem), tenant_), IsOk());
}

TEST_F(TlsE2eTest, HttpsWithTheCaSucceedsOnEveryRoute) {
  HttpClient https(server_->http_address(), Trusting(files_->ca));
  HttpResult r = https.Get("/healthz");
  EXPECT_EQ(r.status, 200) << r;
  r = https.Get("/readyz");
  EXPECT_EQ(r.status, 200) << r;
  r = https.Post(absl::StrCat("/stash/v1.1/count/incr/", tenant_, "/public/v1:views"),
                 R"({"dimension":"date"})", {{"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, HasSubstr(R"("status":200)"));
  r = https.PostJson("/v1/Counters/Incr", absl::StrCat(R"({"tenant":")", tenant_,
                                                       R"(","visitorId":"v2","counterName":"c"})"));
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(https.last_new_connections(), 0) << "keep-alive over TLS";
}

TEST_F(TlsE2eTest, PlaintextHttpToTheTlsPortFailsAndTheServerKeepsServing) {
  HttpClient https(server_->http_address(), Trusting(files_->ca));
  const double before =
      MetricValue(https.Get("/metrics").body, "countd_http_tls_handshake_failures_total");
  ASSERT_GE(before, 0);

  HttpClient plain(server_->http_address());
  HttpResult r = plain.Get("/healthz");
  EXPECT_EQ(r.status, 0) << r;  // no HTTP answer: the connection is closed
  EXPECT_FALSE(r.error.empty());
  // A raw request gets no HTTP bytes back either, only the close.
  absl::StatusOr<RawConnection> raw = RawConnection::Connect(server_->http_address());
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_TRUE(raw->Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  EXPECT_TRUE(raw->WaitForClose(kHttpTimeout));

  // An HTTPS client that does not trust the server's CA fails too.
  HttpClient untrusting(server_->http_address(), Trusting(files_->other_ca));
  EXPECT_EQ(untrusting.Get("/healthz").status, 0);

  HttpClient after(server_->http_address(), Trusting(files_->ca));
  r = after.Get("/metrics");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_GE(MetricValue(r.body, "countd_http_tls_handshake_failures_total"), before + 2) << r.body;
  EXPECT_TRUE(AwaitStdout("http tls handshake failed: remote=127.0.0.1")) << "no debug log line";
}

TEST_F(TlsE2eTest, StartupLogSaysTlsIsOnAndNamesTheCertificate) {
  // Logged before the listening lines, which the harness still finds unchanged.
  const std::string out = server_->stdout_text();
  EXPECT_THAT(out, HasSubstr("tls: server-authenticated on grpc and http; certificate subject="));
  EXPECT_THAT(out, HasSubstr("CN=countd-server"));
  EXPECT_THAT(out, HasSubstr("grpc listening on 127.0.0.1:"));
  EXPECT_THAT(out, HasSubstr("http listening on 127.0.0.1:"));
  EXPECT_THAT(out, HasSubstr("tls=on"));
}

// --- countctl over TLS
// ----------------------------------------------------------------------------

// countctl's arguments: --addr, then `flags`, then `command`.
std::vector<std::string> CountctlArgs(const std::string& address, std::vector<std::string> flags,
                                      const std::vector<std::string>& command) {
  flags.insert(flags.begin(), "--addr=" + address);
  flags.insert(flags.end(), command.begin(), command.end());
  return flags;
}

TEST_F(TlsE2eTest, CountctlReachesTheTlsServerOnlyWithTheCa) {
  const std::string addr = server_->grpc_address();
  const std::vector<std::string> incr = {"incr", "--tenant=" + tenant_, "--visitor-id=v1",
                                         "--counter-name=views"};
  CommandResult ok = Countctl(CountctlArgs(addr, {"--tls-ca-file=" + files_->ca}, incr));
  ASSERT_EQ(ok.exit_code, 0) << ok.out;
  v1::IncrResponse incr_resp;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ok.out, &incr_resp).ok()) << ok.out;
  ASSERT_THAT(incr_resp.key(), ::testing::StartsWith(tenant_ + ":views:"));

  // Plaintext (the default), the system roots (a bare --tls, followed by the subcommand), and a
  // CA that did not sign the server's certificate: the handshake fails, exit status 1.
  for (const std::vector<std::string>& flags : std::vector<std::vector<std::string>>{
           {}, {"--tls"}, {"--tls-ca-file=" + files_->other_ca}}) {
    CommandResult refused = Countctl(CountctlArgs(addr, flags, incr));
    EXPECT_EQ(refused.exit_code, 1) << absl::StrJoin(flags, " ") << "\n" << refused.out;
    EXPECT_THAT(refused.out, HasSubstr("\"code\":\"UNAVAILABLE\"")) << absl::StrJoin(flags, " ");
  }

  // --tls-server-name: the certificate names localhost (dialled as 127.0.0.1 here), not another.
  CommandResult named = Countctl(
      CountctlArgs(addr, {"--tls-ca-file=" + files_->ca, "--tls-server-name=localhost"}, incr));
  EXPECT_EQ(named.exit_code, 0) << named.out;
  CommandResult misnamed = Countctl(CountctlArgs(
      addr, {"--tls-ca-file=" + files_->ca, "--tls-server-name=not-in-the-cert.example"}, incr));
  EXPECT_EQ(misnamed.exit_code, 1) << misnamed.out;

  // Exactly the two accepted calls counted (read back through countctl over TLS too).
  const std::string date = incr_resp.key().substr(incr_resp.key().rfind(':') + 1);
  CommandResult get = Countctl(CountctlArgs(
      addr, {"--tls-ca-file=" + files_->ca},
      {"get", "--tenant=" + tenant_, "--visitor-id=v1", "--counter-name=views", "--date=" + date}));
  ASSERT_EQ(get.exit_code, 0) << get.out;
  v1::GetResponse get_resp;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(get.out, &get_resp).ok()) << get.out;
  EXPECT_EQ(get_resp.count(), 2);
}

// --- mutual TLS ----------------------------------------------------------------------------------

class MutualTlsE2eTest : public TlsServerFixture {
 protected:
  static void SetUpTestSuite() { StartServer(/*mutual=*/true); }
};

TEST_F(MutualTlsE2eTest, GrpcNeedsAClientCertificateFromTheClientCa) {
  const std::string& ca = files_->pki.ca.cert_pem;
  grpc::Status none = Incr(TlsChannel(server_->grpc_address(), ca), tenant_, kFailingRpcDeadline);
  EXPECT_EQ(none.error_code(), Code::UNAVAILABLE) << Describe(none);
  grpc::Status other = Incr(TlsChannel(server_->grpc_address(), ca, &files_->pki.other_client),
                            tenant_, kFailingRpcDeadline);
  EXPECT_EQ(other.error_code(), Code::UNAVAILABLE) << Describe(other);
  EXPECT_THAT(Incr(TlsChannel(server_->grpc_address(), ca, &files_->pki.client), tenant_), IsOk());
}

TEST_F(MutualTlsE2eTest, HttpNeedsAClientCertificateFromTheClientCa) {
  HttpClient none(server_->http_address(), Trusting(files_->ca));
  HttpResult r = none.Get("/healthz");
  EXPECT_EQ(r.status, 0) << r;
  HttpClient other(server_->http_address(),
                   Trusting(files_->ca, files_->other_client_cert, files_->other_client_key));
  r = other.Get("/healthz");
  EXPECT_EQ(r.status, 0) << r;
  HttpClient good(server_->http_address(),
                  Trusting(files_->ca, files_->client_cert, files_->client_key));
  r = good.Get("/readyz");
  EXPECT_EQ(r.status, 200) << r;
  r = good.PostJson("/v1/Counters/Incr", absl::StrCat(R"({"tenant":")", tenant_,
                                                      R"(","visitorId":"v","counterName":"c"})"));
  EXPECT_EQ(r.status, 200) << r;
}

TEST_F(MutualTlsE2eTest, StartupLogSaysMutual) {
  EXPECT_THAT(server_->stdout_text(), HasSubstr("tls: mutual on grpc and http"));
  EXPECT_THAT(server_->stdout_text(), HasSubstr("tls=mutual"));
}

TEST_F(MutualTlsE2eTest, CountctlNeedsAClientCertificateFromTheClientCa) {
  const std::string addr = server_->grpc_address();
  const std::vector<std::string> incr = {"incr", "--tenant=" + tenant_, "--visitor-id=v1",
                                         "--counter-name=views"};
  const std::string ca = "--tls-ca-file=" + files_->ca;
  CommandResult none = Countctl(CountctlArgs(addr, {ca}, incr));
  EXPECT_EQ(none.exit_code, 1) << none.out;
  EXPECT_THAT(none.out, HasSubstr("UNAVAILABLE"));
  CommandResult other = Countctl(CountctlArgs(addr,
                                              {ca, "--tls-cert-file=" + files_->other_client_cert,
                                               "--tls-key-file=" + files_->other_client_key},
                                              incr));
  EXPECT_EQ(other.exit_code, 1) << other.out;
  CommandResult good = Countctl(CountctlArgs(
      addr, {ca, "--tls-cert-file=" + files_->client_cert, "--tls-key-file=" + files_->client_key},
      incr));
  EXPECT_EQ(good.exit_code, 0) << good.out;
  EXPECT_THAT(good.out, HasSubstr(tenant_ + ":views:"));
}

TEST_F(MutualTlsE2eTest, CountctlTlsFlagMistakesAreUsageErrorsNamingTheFlag) {
  const std::string addr = server_->grpc_address();
  const std::vector<std::string> incr = {"incr", "--tenant=" + tenant_, "--visitor-id=v1",
                                         "--counter-name=views"};
  const std::string ca = "--tls-ca-file=" + files_->ca;
  std::vector<std::string> key_lines = absl::StrSplit(files_->pki.client.key_pem, '\n');
  ASSERT_GE(key_lines.size(), 2u);
  struct Case {
    std::vector<std::string> flags;
    std::vector<std::string> says;  // substrings of the message
  };
  const Case cases[] = {
      {{ca, "--tls-cert-file=" + files_->client_cert}, {"--tls-cert-file needs --tls-key-file"}},
      {{ca, "--tls-key-file=" + files_->client_key}, {"--tls-key-file needs --tls-cert-file"}},
      {{ca, "--tls-cert-file=" + files_->client_cert, "--tls-key-file=" + dir_->Sub("no.key")},
       {"--tls-key-file", "no.key"}},
      {{"--tls-ca-file=" + dir_->Sub("no-ca.pem")}, {"--tls-ca-file", "no-ca.pem"}},
      // Swapped files: a key where certificates belong, a certificate where the key belongs.
      {{"--tls-ca-file=" + files_->client_key}, {"--tls-ca-file", "no PEM certificate"}},
      {{ca, "--tls-cert-file=" + files_->client_key, "--tls-key-file=" + files_->client_key},
       {"--tls-cert-file", "no PEM certificate"}},
      {{ca, "--tls-cert-file=" + files_->client_cert, "--tls-key-file=" + files_->client_cert},
       {"--tls-key-file", "no PEM private key"}},
      {{"--tls=false", ca}, {"--tls-ca-file needs TLS"}},
  };
  for (const Case& c : cases) {
    const std::string what = absl::StrJoin(c.flags, " ");
    CommandResult r = Countctl(CountctlArgs(addr, c.flags, incr));
    EXPECT_EQ(r.exit_code, 2) << what << "\n" << r.out;
    for (const std::string& s : c.says) EXPECT_THAT(r.out, HasSubstr(s)) << what;
    EXPECT_THAT(r.out, Not(HasSubstr("PRIVATE KEY"))) << what;
    EXPECT_THAT(r.out, Not(HasSubstr(key_lines[1]))) << what << ": key material printed";
  }
}

// --- startup refusals ----------------------------------------------------------------------------

class TlsStartupE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<PkiFiles> files = WritePki(dir_);
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = *std::move(files);
  }

  // Runs countd with `args`; it must exit non-zero without listening. Returns its stderr.
  std::string ExpectRefusal(const std::vector<std::string>& args) {
    test::ServerProcessOptions options;
    options.data_dir = dir_.Sub("data");
    options.extra_args = args;
    std::string out;
    const std::string err = ExpectRefusedStart(options, &out);
    EXPECT_THAT(err + out, Not(HasSubstr("PRIVATE KEY")));
    return err;
  }

  test::ScopedTempDir dir_;
  PkiFiles files_;
};

TEST_F(TlsStartupE2eTest, CertificateWithoutKeyIsRefused) {
  std::string err = ExpectRefusal({"--tls-cert-file=" + files_.server_cert});
  EXPECT_THAT(err, HasSubstr("--tls-key-file"));
}

TEST_F(TlsStartupE2eTest, KeyWithoutCertificateIsRefused) {
  std::string err = ExpectRefusal({"--tls-key-file=" + files_.server_key});
  EXPECT_THAT(err, HasSubstr("--tls-cert-file"));
}

TEST_F(TlsStartupE2eTest, KeyThatDoesNotMatchTheCertificateIsRefused) {
  std::string err = ExpectRefusal(
      {"--tls-cert-file=" + files_.server_cert, "--tls-key-file=" + files_.client_key});
  EXPECT_THAT(err, HasSubstr("--tls-key-file"));
  EXPECT_THAT(err, HasSubstr("does not belong"));
}

TEST_F(TlsStartupE2eTest, MissingOrUnreadableFilesAreRefusedNamingTheFlag) {
  std::string err = ExpectRefusal(
      {"--tls-cert-file=" + dir_.Sub("missing.pem"), "--tls-key-file=" + files_.server_key});
  EXPECT_THAT(err, HasSubstr("--tls-cert-file"));
  EXPECT_THAT(err, HasSubstr("missing.pem"));
  err = ExpectRefusal(
      {"--tls-cert-file=" + files_.server_cert, "--tls-key-file=" + dir_.Sub("missing.key")});
  EXPECT_THAT(err, HasSubstr("--tls-key-file"));
  err =
      ExpectRefusal({"--tls-cert-file=" + files_.server_cert, "--tls-key-file=" + files_.server_key,
                     "--tls-client-ca-file=" + dir_.Sub("missing-ca.pem")});
  EXPECT_THAT(err, HasSubstr("--tls-client-ca-file"));
  // A key file passed as the certificate (no certificate in it).
  err = ExpectRefusal(
      {"--tls-cert-file=" + files_.server_key, "--tls-key-file=" + files_.server_key});
  EXPECT_THAT(err, HasSubstr("--tls-cert-file"));
  EXPECT_THAT(err, HasSubstr("no PEM certificate"));
}

TEST_F(TlsStartupE2eTest, ClientCaWithoutServerCertificateIsRefused) {
  std::string err = ExpectRefusal({"--tls-client-ca-file=" + files_.ca});
  EXPECT_THAT(err, HasSubstr("--tls-client-ca-file"));
}

}  // namespace
}  // namespace countd::e2e
