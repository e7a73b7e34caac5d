// tests/e2e/tls_util.h — TLS pieces shared by the e2e tests that run countd with --tls-* flags:
// the test PKI (tests/testing/test_certs.h, made at run time) written as PEM files, and gRPC
// channels over TLS.
#ifndef COUNTD_TESTS_E2E_TLS_UTIL_H_
#define COUNTD_TESTS_E2E_TLS_UTIL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certs.h"

namespace countd::e2e {

// The test PKI and the paths of its PEM files in a temporary directory (mode 0600).
struct PkiFiles {
  test::TestPki pki;
  std::string ca, server_cert, server_key, client_cert, client_key, other_ca, other_client_cert,
      other_client_key;
};

// Makes a new test PKI and writes it into `dir`. Errors: those of MakeTestPki and WriteTestFile.
inline absl::StatusOr<PkiFiles> WritePki(const test::ScopedTempDir& dir) {
  absl::StatusOr<test::TestPki> pki = test::MakeTestPki();
  if (!pki.ok()) return pki.status();
  PkiFiles f;
  f.pki = *std::move(pki);
  const std::vector<std::pair<std::string*, std::pair<std::string, const std::string*>>> files = {
      {&f.ca, {"ca.pem", &f.pki.ca.cert_pem}},
      {&f.server_cert, {"server.pem", &f.pki.server.cert_pem}},
      {&f.server_key, {"server.key", &f.pki.server.key_pem}},
      {&f.client_cert, {"client.pem", &f.pki.client.cert_pem}},
      {&f.client_key, {"client.key", &f.pki.client.key_pem}},
      {&f.other_ca, {"other_ca.pem", &f.pki.other_ca.cert_pem}},
      {&f.other_client_cert, {"other_client.pem", &f.pki.other_client.cert_pem}},
      {&f.other_client_key, {"other_client.key", &f.pki.other_client.key_pem}},
  };
  for (const auto& [path, what] : files) {
    *path = dir.Sub(what.first);
    absl::Status s = test::WriteTestFile(*path, *what.second);
    if (!s.ok()) return s;
  }
  return f;
}

// countd's flags for serving TLS with the server certificate of `files`.
inline std::vector<std::string> ServerTlsArgs(const PkiFiles& files) {
  return {"--tls-cert-file=" + files.server_cert, "--tls-key-file=" + files.server_key};
}

// A channel over TLS that trusts `root_pem`, presenting `client` when given. Its own subchannel
// pool, so that no connection is shared with a channel of other credentials.
inline std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address,
                                                 const std::string& root_pem,
                                                 const test::TestCert* client = nullptr) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = root_pem;
  if (client != nullptr) {
    options.pem_private_key = client->key_pem;
    options.pem_cert_chain = client->cert_pem;
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

}  // namespace countd::e2e

#endif  // COUNTD_TESTS_E2E_TLS_UTIL_H_
