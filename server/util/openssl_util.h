// server/util/openssl_util.h — owning pointers for OpenSSL objects and the error queue as text,
// shared by the tenant secret box (server/logic/secret_box.cc), the HTTPS transport
// (server/http/http_server.cc), the TLS file checks (server/tls.cc) and the test certificate
// maker (tests/testing). server/util/ is a leaf below every layer: it includes nothing of countd,
// so logic and the HTTP transport (which may not include logic) can both use it.
// Header-only: users link OpenSSL::Crypto themselves.
#ifndef COUNTD_SERVER_UTIL_OPENSSL_UTIL_H_
#define COUNTD_SERVER_UTIL_OPENSSL_UTIL_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"

namespace countd::openssl {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct X509ExtensionFree {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};
struct BignumFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, X509ExtensionFree>;
using BignumPtr = std::unique_ptr<BIGNUM, BignumFree>;

// The queued OpenSSL errors of this thread as one line ("" when none), then clears the queue.
// OpenSSL's messages name the failing step and reason ("PEM routines::no start line"), never the
// bytes being parsed.
inline std::string Errors() {
  std::string out;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    absl::StrAppend(&out, out.empty() ? "" : "; ", buf);
  }
  return out;
}

}  // namespace countd::openssl

#endif  // COUNTD_SERVER_UTIL_OPENSSL_UTIL_H_
