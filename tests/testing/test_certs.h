// tests/testing/test_certs.h — X.509 certificates and keys made at test time (OpenSSL), so that no
// private key is ever committed: certificate authorities, server certificates for
// localhost/127.0.0.1 and client certificates, as PEM text, plus a writer to files for flags.
#ifndef COUNTD_TESTS_TESTING_TEST_CERTS_H_
#define COUNTD_TESTS_TESTING_TEST_CERTS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace countd::test {

// A certificate and its private key (unencrypted PKCS#8), both PEM.
struct TestCert {
  std::string cert_pem;
  std::string key_pem;
};

enum class CertUsage { kServer, kClient };

struct LeafOptions {
  std::string common_name = "countd-test";
  CertUsage usage = CertUsage::kServer;
  std::vector<std::string> dns_names = {"localhost"};            // subjectAltName DNS entries
  std::vector<std::string> ip_addresses = {"127.0.0.1", "::1"};  // subjectAltName IP entries
  absl::Duration valid_for = absl::Hours(24);                    // from an hour ago (clock skew)
};

// A self-signed CA (P-256, SHA-256, basicConstraints CA:TRUE, keyCertSign).
// Errors: INTERNAL when OpenSSL fails (the message holds its error).
absl::StatusOr<TestCert> MakeTestCa(const std::string& common_name);

// A leaf certificate signed by `issuer` (P-256 key, SHA-256), with serverAuth or clientAuth
// extended key usage and the subjectAltNames of `options`.
// Errors: INVALID_ARGUMENT when `issuer` does not parse or an IP address is malformed; INTERNAL
// when OpenSSL fails.
absl::StatusOr<TestCert> MakeTestLeaf(const TestCert& issuer, const LeafOptions& options);

// Everything the TLS tests need: a CA with a server and a client certificate, and a second CA
// with a client certificate of its own (which the first CA does not vouch for).
struct TestPki {
  TestCert ca;
  TestCert server;  // CN countd-server; SAN localhost, 127.0.0.1, ::1
  TestCert client;  // CN countd-client, signed by `ca`
  TestCert other_ca;
  TestCert other_client;  // signed by `other_ca`
};
absl::StatusOr<TestPki> MakeTestPki();

// `key_pem` (an unencrypted private key) encrypted with AES-256-CBC under `passphrase`, as
// PEM: for tests that an encrypted key is refused. Errors: INVALID_ARGUMENT when `key_pem` does
// not parse; INTERNAL when OpenSSL fails.
absl::StatusOr<std::string> EncryptTestKey(const std::string& key_pem,
                                           const std::string& passphrase);

// Writes `contents` to `path` (mode 0600: some of it is key material). Errors: INTERNAL.
absl::Status WriteTestFile(const std::string& path, const std::string& contents);

}  // namespace countd::test

#endif  // COUNTD_TESTS_TESTING_TEST_CERTS_H_
