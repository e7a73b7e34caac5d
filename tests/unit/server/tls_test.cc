// tests/unit/server/tls_test.cc — LoadTlsMaterial on real files made at test time: which flag
// combinations and file contents are accepted, and that each refusal names its flag without
// quoting key material.
#include "server/tls.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certs.h"

namespace countd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<test::TestPki> pki = test::MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    cert_ = Write("server.pem", pki_.server.cert_pem);
    key_ = Write("server.key", pki_.server.key_pem);
    ca_ = Write("ca.pem", pki_.ca.cert_pem);
  }

  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = dir_.Sub(name);
    absl::Status s = test::WriteTestFile(path, contents);
    EXPECT_TRUE(s.ok()) << s;
    return path;
  }

  // Asserts `files` are refused with a message that starts with `flag` and quotes no key.
  std::string ExpectRefused(const TlsFiles& files, const std::string& flag) {
    absl::StatusOr<TlsMaterial> m = LoadTlsMaterial(files);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
    const std::string message(m.status().message());
    EXPECT_THAT(message, StartsWith(flag + ": "));
    EXPECT_THAT(message, Not(HasSubstr("PRIVATE KEY")));
    for (const std::string* key : {&pki_.server.key_pem, &pki_.client.key_pem}) {
      std::vector<std::string> lines = absl::StrSplit(*key, '\n');
      EXPECT_THAT(message, Not(HasSubstr(lines[1])));
    }
    return message;
  }

  test::ScopedTempDir dir_;
  test::TestPki pki_;
  std::string cert_, key_, ca_;
};

TEST_F(TlsTest, NothingSetMeansPlaintext) {
  absl::StatusOr<TlsMaterial> m = LoadTlsMaterial(TlsFiles{});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->cert_chain_pem.empty());
  EXPECT_TRUE(m->private_key_pem.empty());
  EXPECT_TRUE(m->client_ca_pem.empty());
  EXPECT_FALSE(TlsFiles{}.any());
}

TEST_F(TlsTest, CertificateAndKeyLoad) {
  absl::StatusOr<TlsMaterial> m = LoadTlsMaterial({cert_, key_, ""});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->cert_chain_pem, pki_.server.cert_pem);
  EXPECT_EQ(m->private_key_pem, pki_.server.key_pem);
  EXPECT_TRUE(m->client_ca_pem.empty());
  EXPECT_THAT(m->leaf_subject, HasSubstr("CN=countd-server"));
  EXPECT_GT(m->leaf_not_after, absl::Now());
  EXPECT_LT(m->leaf_not_after, absl::Now() + absl::Hours(25));
}

TEST_F(TlsTest, ClientCaMakesItMutual) {
  absl::StatusOr<TlsMaterial> m = LoadTlsMaterial({cert_, key_, ca_});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->client_ca_pem, pki_.ca.cert_pem);
  // A bundle of several CAs is fine too.
  const std::string bundle = Write("bundle.pem", pki_.ca.cert_pem + pki_.other_ca.cert_pem);
  m = LoadTlsMaterial({cert_, key_, bundle});
  ASSERT_TRUE(m.ok()) << m.status();
}

TEST_F(TlsTest, ChainWithIntermediateLoadsWhenTheServerCertificateComesFirst) {
  const std::string chain = Write("chain.pem", pki_.server.cert_pem + pki_.ca.cert_pem);
  absl::StatusOr<TlsMaterial> m = LoadTlsMaterial({chain, key_, ""});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(m->leaf_subject, HasSubstr("CN=countd-server"));
  const std::string reversed = Write("reversed.pem", pki_.ca.cert_pem + pki_.server.cert_pem);
  std::string message = ExpectRefused({reversed, key_, ""}, "--tls-key-file");
  EXPECT_THAT(message, HasSubstr("does not belong to the first certificate"));
}

TEST_F(TlsTest, OneFileHoldingCertificateAndKeyServesAsBoth) {
  const std::string both = Write("both.pem", pki_.server.cert_pem + pki_.server.key_pem);
  absl::StatusOr<TlsMaterial> m = LoadTlsMaterial({both, both, ""});
  ASSERT_TRUE(m.ok()) << m.status();
}

TEST_F(TlsTest, FlagsThatDoNotFitTogetherAreRefusedNamingTheMissingFlag) {
  EXPECT_THAT(ExpectRefused({cert_, "", ""}, "--tls-key-file"), HasSubstr("--tls-cert-file"));
  EXPECT_THAT(ExpectRefused({"", key_, ""}, "--tls-cert-file"), HasSubstr("--tls-key-file"));
  EXPECT_THAT(ExpectRefused({"", "", ca_}, "--tls-client-ca-file"), HasSubstr("--tls-cert-file"));
  ExpectRefused({"", key_, ca_}, "--tls-cert-file");
}

TEST_F(TlsTest, UnreadableFilesAreRefusedNamingFlagAndPath) {
  const std::string missing = dir_.Sub("missing.pem");
  EXPECT_THAT(ExpectRefused({missing, key_, ""}, "--tls-cert-file"), HasSubstr(missing));
  EXPECT_THAT(ExpectRefused({cert_, missing, ""}, "--tls-key-file"), HasSubstr(missing));
  EXPECT_THAT(ExpectRefused({cert_, key_, missing}, "--tls-client-ca-file"), HasSubstr(missing));
  ExpectRefused({dir_.path(), key_, ""}, "--tls-cert-file");  // a directory
  const std::string huge = Write("huge.pem", std::string((1 << 20) + 1, 'x'));
  EXPECT_THAT(ExpectRefused({huge, key_, ""}, "--tls-cert-file"), HasSubstr("bytes"));
}

TEST_F(TlsTest, WrongContentsAreRefused) {
  const std::string empty = Write("empty.pem", "");
  EXPECT_THAT(ExpectRefused({empty, key_, ""}, "--tls-cert-file"), HasSubstr("no PEM certificate"));
  // The key file given as the certificate: no certificate in it.
  EXPECT_THAT(ExpectRefused({key_, key_, ""}, "--tls-cert-file"), HasSubstr("no PEM certificate"));
  // The certificate given as the key.
  EXPECT_THAT(ExpectRefused({cert_, cert_, ""}, "--tls-key-file"),
              HasSubstr("no unencrypted PEM private key"));
  const std::string damaged =
      Write("damaged.pem", "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n");
  EXPECT_THAT(ExpectRefused({damaged, key_, ""}, "--tls-cert-file"), HasSubstr("damaged"));
  EXPECT_THAT(ExpectRefused({cert_, key_, damaged}, "--tls-client-ca-file"), HasSubstr("damaged"));
  EXPECT_THAT(ExpectRefused({cert_, key_, key_}, "--tls-client-ca-file"),
              HasSubstr("no PEM certificate"));
}

TEST_F(TlsTest, KeyOfAnotherCertificateIsRefused) {
  const std::string other_key = Write("client.key", pki_.client.key_pem);
  std::string message = ExpectRefused({cert_, other_key, ""}, "--tls-key-file");
  EXPECT_THAT(message, HasSubstr("does not belong"));
  EXPECT_THAT(message, HasSubstr("--tls-cert-file"));
}

TEST_F(TlsTest, EncryptedKeyIsRefusedWithoutAskingForAPassphrase) {
  absl::StatusOr<std::string> encrypted = test::EncryptTestKey(pki_.server.key_pem, "secret");
  ASSERT_TRUE(encrypted.ok()) << encrypted.status();
  ASSERT_THAT(*encrypted, HasSubstr("ENCRYPTED"));
  const std::string path = Write("encrypted.key", *encrypted);
  EXPECT_THAT(ExpectRefused({cert_, path, ""}, "--tls-key-file"), HasSubstr("unencrypted"));
}

}  // namespace
}  // namespace countd
