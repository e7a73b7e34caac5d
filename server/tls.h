// server/tls.h — countd's TLS settings: the --tls-* files read, parsed and checked once at
// start, before any listener opens, so that a bad certificate stops countd with a message naming
// the flag instead of failing every handshake later.
#ifndef COUNTD_SERVER_TLS_H_
#define COUNTD_SERVER_TLS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace countd {

// The files named by the flags; empty = not set.
struct TlsFiles {
  std::string cert_file;       // --tls-cert-file: PEM certificate chain, leaf first
  std::string key_file;        // --tls-key-file: unencrypted PEM private key of the leaf
  std::string client_ca_file;  // --tls-client-ca-file: PEM CA bundle; set = mutual TLS

  // True when any of the three is set (then LoadTlsMaterial decides whether they fit together).
  bool any() const { return !cert_file.empty() || !key_file.empty() || !client_ca_file.empty(); }
};

// The checked contents of the files, as the listeners take them. Holds key material: never log
// it; the destructor wipes the key's copy.
struct TlsMaterial {
  std::string cert_chain_pem;
  std::string private_key_pem;
  std::string client_ca_pem;  // "" = clients are not asked for a certificate

  // For the startup log (no secret): the leaf certificate's subject and validity end.
  std::string leaf_subject;
  absl::Time leaf_not_after;

  TlsMaterial() = default;
  TlsMaterial(const TlsMaterial&) = default;
  TlsMaterial& operator=(const TlsMaterial&) = default;
  TlsMaterial(TlsMaterial&&) = default;
  TlsMaterial& operator=(TlsMaterial&&) = default;
  ~TlsMaterial();
};

// Reads and checks `files`: the certificate and key must be set together, the client CA needs
// them, each file must be readable and hold PEM of the right kind (at least one certificate; one
// unencrypted private key), and the key must belong to the first certificate of the chain.
// An expired certificate is accepted (the caller may warn): refusing to start would not help
// clients that cannot connect either way.
// Errors: INVALID_ARGUMENT whose message starts with the offending flag ("--tls-key-file: ...");
// the message never contains key material.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsFiles& files);

}  // namespace countd

#endif  // COUNTD_SERVER_TLS_H_
