#include "tests/testing/test_certs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/util/openssl_util.h"

namespace countd::test {
namespace {

using openssl::BioPtr;
using openssl::PkeyPtr;
using openssl::X509Ptr;

using ExtPtr = openssl::X509ExtensionPtr;

// The queued OpenSSL errors as one line (and clears the queue); never empty.
std::string OpenSslErrors() {
  std::string out = openssl::Errors();
  return out.empty() ? "unknown OpenSSL error" : out;
}

absl::Status Fail(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", OpenSslErrors()));
}

absl::StatusOr<std::string> ToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) return Fail("PEM_write_bio_X509");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::StatusOr<std::string> ToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Fail("PEM_write_bio_PrivateKey");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

// Never prompts for a passphrase (test keys have none).
int NoPassphrase(char*, int, int, void*) { return -1; }

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (ext == nullptr) return Fail(absl::StrCat("extension ", OBJ_nid2sn(nid), "=", value));
  if (X509_add_ext(cert, ext.get(), -1) != 1) return Fail("X509_add_ext");
  return absl::OkStatus();
}

// An unsigned certificate for `key` named `common_name`, issued by `issuer` (nullptr = itself).
absl::StatusOr<X509Ptr> NewCert(EVP_PKEY* key, const std::string& common_name, X509* issuer,
                                absl::Duration valid_for) {
  X509Ptr cert(X509_new());
  if (cert == nullptr) return Fail("X509_new");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) return Fail("RAND_bytes");
  serial[0] &= 0x7f;  // positive
  openssl::BignumPtr bn(BN_bin2bn(serial, sizeof(serial), nullptr));
  if (bn == nullptr || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return Fail("serial number");
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), absl::ToInt64Seconds(valid_for));
  if (X509_set_pubkey(cert.get(), key) != 1) return Fail("X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("countd tests"), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1) {
    return Fail("subject name");
  }
  if (X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name) !=
      1) {
    return Fail("issuer name");
  }
  return cert;
}

// Signs `cert` with `signer` (SHA-256) and returns it with its own private key `key`, as PEM.
absl::StatusOr<TestCert> SignAndExport(X509* cert, EVP_PKEY* signer, EVP_PKEY* key) {
  if (X509_sign(cert, signer, EVP_sha256()) == 0) return Fail("X509_sign");
  TestCert out;
  absl::StatusOr<std::string> pem = ToPem(cert);
  if (!pem.ok()) return pem.status();
  out.cert_pem = *std::move(pem);
  pem = ToPem(key);
  if (!pem.ok()) return pem.status();
  out.key_pem = *std::move(pem);
  return out;
}

}  // namespace

absl::StatusOr<TestCert> MakeTestCa(const std::string& common_name) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return Fail("EVP_EC_gen");
  absl::StatusOr<X509Ptr> cert = NewCert(key.get(), common_name, nullptr, absl::Hours(24 * 2));
  if (!cert.ok()) return cert.status();
  X509* x = cert->get();
  for (auto [nid, value] : {std::pair<int, const char*>{NID_basic_constraints, "critical,CA:TRUE"},
                            {NID_key_usage, "critical,keyCertSign,cRLSign"},
                            {NID_subject_key_identifier, "hash"}}) {
    absl::Status s = AddExtension(x, x, nid, value);
    if (!s.ok()) return s;
  }
  return SignAndExport(x, key.get(), key.get());
}

absl::StatusOr<TestCert> MakeTestLeaf(const TestCert& issuer, const LeafOptions& options) {
  BioPtr cert_bio(
      BIO_new_mem_buf(issuer.cert_pem.data(), static_cast<int>(issuer.cert_pem.size())));
  BioPtr key_bio(BIO_new_mem_buf(issuer.key_pem.data(), static_cast<int>(issuer.key_pem.size())));
  if (cert_bio == nullptr || key_bio == nullptr) return Fail("BIO_new_mem_buf");
  X509Ptr issuer_cert(PEM_read_bio_X509(cert_bio.get(), nullptr, &NoPassphrase, nullptr));
  PkeyPtr issuer_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, &NoPassphrase, nullptr));
  if (issuer_cert == nullptr || issuer_key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("issuer certificate or key does not parse: ", OpenSslErrors()));
  }
  std::vector<std::string> alt_names;
  for (const std::string& dns : options.dns_names) alt_names.push_back("DNS:" + dns);
  for (const std::string& ip : options.ip_addresses) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip.c_str(), buf) != 1 && inet_pton(AF_INET6, ip.c_str(), buf) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("not an IP address: ", ip));
    }
    alt_names.push_back("IP:" + ip);
  }

  PkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return Fail("EVP_EC_gen");
  absl::StatusOr<X509Ptr> cert =
      NewCert(key.get(), options.common_name, issuer_cert.get(), options.valid_for);
  if (!cert.ok()) return cert.status();
  X509* x = cert->get();
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_ext_key_usage, options.usage == CertUsage::kServer ? "serverAuth" : "clientAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  if (!alt_names.empty()) {
    extensions.emplace_back(NID_subject_alt_name, absl::StrJoin(alt_names, ","));
  }
  for (const auto& [nid, value] : extensions) {
    absl::Status s = AddExtension(x, issuer_cert.get(), nid, value);
    if (!s.ok()) return s;
  }
  return SignAndExport(x, issuer_key.get(), key.get());
}

absl::StatusOr<TestPki> MakeTestPki() {
  TestPki pki;
  absl::StatusOr<TestCert> c = MakeTestCa("countd test CA");
  if (!c.ok()) return c.status();
  pki.ca = *std::move(c);
  LeafOptions server;
  server.common_name = "countd-server";
  c = MakeTestLeaf(pki.ca, server);
  if (!c.ok()) return c.status();
  pki.server = *std::move(c);
  LeafOptions client;
  client.common_name = "countd-client";
  client.usage = CertUsage::kClient;
  client.dns_names.clear();
  client.ip_addresses.clear();
  c = MakeTestLeaf(pki.ca, client);
  if (!c.ok()) return c.status();
  pki.client = *std::move(c);
  c = MakeTestCa("countd other test CA");
  if (!c.ok()) return c.status();
  pki.other_ca = *std::move(c);
  client.common_name = "countd-other-client";
  c = MakeTestLeaf(pki.other_ca, client);
  if (!c.ok()) return c.status();
  pki.other_client = *std::move(c);
  return pki;
}

absl::StatusOr<std::string> EncryptTestKey(const std::string& key_pem,
                                           const std::string& passphrase) {
  BioPtr in(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  if (in == nullptr) return Fail("BIO_new_mem_buf");
  PkeyPtr key(PEM_read_bio_PrivateKey(in.get(), nullptr, &NoPassphrase, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("key does not parse: ", OpenSslErrors()));
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (out == nullptr ||
      PEM_write_bio_PKCS8PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(), passphrase.data(),
                                    static_cast<int>(passphrase.size()), nullptr, nullptr) != 1) {
    return Fail("PEM_write_bio_PKCS8PrivateKey");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::Status WriteTestFile(const std::string& path, const std::string& contents) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(fd);
      return absl::InternalError(absl::StrCat("write ", path, ": ", strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) {
    return absl::InternalError(absl::StrCat("close ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace countd::test
