#include "server/tls.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "server/util/openssl_util.h"

namespace countd {
namespace {

constexpr absl::string_view kCertFlag = "--tls-cert-file";
constexpr absl::string_view kKeyFlag = "--tls-key-file";
constexpr absl::string_view kClientCaFlag = "--tls-client-ca-file";
// Larger files are certainly not a certificate bundle (and are not read whole into memory).
constexpr std::streamoff kMaxFileBytes = 1 << 20;

using openssl::BioPtr;
using openssl::PkeyPtr;
using openssl::X509Ptr;

absl::Status Bad(absl::string_view flag, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", why));
}

// Never prompts on the terminal for a passphrase (OpenSSL's default callback would): an
// encrypted key simply fails to load.
int NoPassphrase(char*, int, int, void*) { return -1; }

absl::StatusOr<std::string> ReadFile(absl::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Bad(flag, absl::StrCat("cannot read \"", path, "\": ", strerror(errno)));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return Bad(flag, absl::StrCat("cannot read \"", path, "\""));
  if (size > kMaxFileBytes) {
    return Bad(flag, absl::StrCat("\"", path, "\" is ", size, " bytes; a PEM file of at most ",
                                  kMaxFileBytes, " bytes is expected"));
  }
  in.seekg(0, std::ios::beg);
  std::string contents(static_cast<size_t>(size), '\0');
  if (!in.read(contents.data(), size)) {
    return Bad(flag, absl::StrCat("cannot read \"", path, "\": ", strerror(errno)));
  }
  return contents;
}

// Every certificate in `pem`, in order. Errors name `flag` and `path`.
absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(absl::string_view flag,
                                                       const std::string& path,
                                                       const std::string& pem) {
  ERR_clear_error();
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return Bad(flag, "out of memory");
  std::vector<X509Ptr> certs;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, &NoPassphrase, nullptr));
    if (cert == nullptr) break;
    certs.push_back(std::move(cert));
  }
  // The loop ends with "no start line" once the input is used up; anything else is damage.
  const unsigned long last = ERR_peek_last_error();
  if (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
  }
  std::string errors = openssl::Errors();
  if (!errors.empty()) {
    return Bad(flag, absl::StrCat("\"", path, "\" holds a damaged certificate (", errors, ")"));
  }
  if (certs.empty()) {
    return Bad(flag, absl::StrCat("\"", path, "\" holds no PEM certificate"));
  }
  return certs;
}

std::string SubjectOf(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    return "";
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::Time NotAfterOf(X509* cert) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return absl::InfinitePast();
  return absl::FromTM(tm, absl::UTCTimeZone());
}

}  // namespace

TlsMaterial::~TlsMaterial() {
  if (!private_key_pem.empty()) OPENSSL_cleanse(private_key_pem.data(), private_key_pem.size());
}

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsFiles& files) {
  if (files.cert_file.empty() && !files.key_file.empty()) {
    return Bad(kCertFlag, absl::StrCat("must be set together with ", kKeyFlag));
  }
  if (!files.cert_file.empty() && files.key_file.empty()) {
    return Bad(kKeyFlag, absl::StrCat("must be set together with ", kCertFlag));
  }
  if (files.cert_file.empty() && !files.client_ca_file.empty()) {
    return Bad(kClientCaFlag, absl::StrCat("needs ", kCertFlag, " and ", kKeyFlag,
                                           " (mutual TLS is TLS with client certificates)"));
  }
  TlsMaterial m;
  if (files.cert_file.empty()) return m;

  absl::StatusOr<std::string> text = ReadFile(kCertFlag, files.cert_file);
  if (!text.ok()) return text.status();
  m.cert_chain_pem = *std::move(text);
  absl::StatusOr<std::vector<X509Ptr>> chain =
      ParseCertificates(kCertFlag, files.cert_file, m.cert_chain_pem);
  if (!chain.ok()) return chain.status();
  X509* leaf = chain->front().get();

  text = ReadFile(kKeyFlag, files.key_file);
  if (!text.ok()) return text.status();
  m.private_key_pem = *std::move(text);
  ERR_clear_error();
  BioPtr key_bio(
      BIO_new_mem_buf(m.private_key_pem.data(), static_cast<int>(m.private_key_pem.size())));
  if (key_bio == nullptr) return Bad(kKeyFlag, "out of memory");
  PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, &NoPassphrase, nullptr));
  if (key == nullptr) {
    return Bad(kKeyFlag,
               absl::StrCat("\"", files.key_file, "\" holds no unencrypted PEM private key (",
                            openssl::Errors(), ")"));
  }
  ERR_clear_error();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return Bad(kKeyFlag, absl::StrCat("the key in \"", files.key_file,
                                      "\" does not belong to the first certificate in ", kCertFlag,
                                      " \"", files.cert_file, "\""));
  }
  m.leaf_subject = SubjectOf(leaf);
  m.leaf_not_after = NotAfterOf(leaf);

  if (!files.client_ca_file.empty()) {
    text = ReadFile(kClientCaFlag, files.client_ca_file);
    if (!text.ok()) return text.status();
    m.client_ca_pem = *std::move(text);
    absl::StatusOr<std::vector<X509Ptr>> cas =
        ParseCertificates(kClientCaFlag, files.client_ca_file, m.client_ca_pem);
    if (!cas.ok()) return cas.status();
  }
  return m;
}

}  // namespace countd
