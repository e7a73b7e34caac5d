#include "client/connection.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace countd::client {
namespace {

// Files named by flags are credentials or certificates: far smaller than this.
constexpr size_t kMaxFlagFileBytes = 1 << 20;

}  // namespace

// The contents of `path`, named by the flag `--flag`. Errors (usage): the file cannot be opened
// or read, or is larger than kMaxFlagFileBytes. Messages name the flag and the path, never the
// contents.
absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read '", path, "'"));
  }
  std::string contents;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && contents.size() <= kMaxFlagFileBytes) {
    contents.append(buf, n);
  }
  const bool failed = std::ferror(f) != 0;  // e.g. a directory
  std::fclose(f);
  if (failed) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read '", path, "'"));
  }
  if (contents.size() > kMaxFlagFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": '", path, "' is larger than ", kMaxFlagFileBytes, " bytes"));
  }
  return contents;
}

// The credential to send: --bearer, the trimmed contents of --bearer-file, or COUNTD_BEARER;
// empty for none. Errors (usage): both flags given, an unreadable or empty file. Messages never
// hold the credential.
absl::StatusOr<std::string> ResolveBearer(const ConnectionFlags& flags) {
  if (flags.bearer.has_value() && flags.bearer_file.has_value()) {
    return absl::InvalidArgumentError("give --bearer or --bearer-file, not both");
  }
  std::string value;
  if (flags.bearer_file.has_value()) {
    absl::StatusOr<std::string> contents = ReadFlagFile("bearer-file", *flags.bearer_file);
    if (!contents.ok()) return contents.status();
    value = std::string(absl::StripAsciiWhitespace(*contents));
    if (value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--bearer-file: '", *flags.bearer_file, "' is empty"));
    }
  } else if (flags.bearer.has_value()) {
    value = std::string(absl::StripAsciiWhitespace(*flags.bearer));
    if (value.empty()) return absl::InvalidArgumentError("--bearer: is empty");
  } else if (const char* env = std::getenv("COUNTD_BEARER"); env != nullptr) {
    value = std::string(absl::StripAsciiWhitespace(env));
  }
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          "the bearer credential holds a line break or a non-ASCII byte (it is sent in a "
          "header)");
    }
  }
  return value;
}

namespace {

// Reads a PEM file named by `--flag` and checks that it holds a block whose BEGIN line contains
// `label` ("CERTIFICATE", "PRIVATE KEY"); `what` names it in the error. A cheap check of the kind
// of file, so that swapped flags are a usage error naming the flag rather than a failed handshake.
absl::StatusOr<std::string> ReadPemFlagFile(absl::string_view flag, const std::string& path,
                                            absl::string_view label, absl::string_view what) {
  absl::StatusOr<std::string> pem = ReadFlagFile(flag, path);
  if (!pem.ok()) return pem.status();
  if (!absl::StrContains(*pem, absl::StrCat(label, "-----"))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": '", path, "' holds no PEM ", what));
  }
  return pem;
}

}  // namespace

// The transport the flags ask for. TLS is on with --tls, or when any other --tls-* flag is given
// (they mean nothing without it). Errors (usage, each naming the flag): --tls=false with another
// --tls-* flag; --tls-cert-file without --tls-key-file or the reverse; an empty
// --tls-server-name; a file that cannot be read or holds no PEM of its kind (certificates in
// --tls-ca-file and --tls-cert-file, an unencrypted private key in --tls-key-file).
absl::StatusOr<Transport> ResolveTransport(const ConnectionFlags& flags) {
  Transport t;
  const std::pair<const char*, const absl::optional<std::string>*> tls_flags[] = {
      {"tls-ca-file", &flags.tls_ca_file},
      {"tls-cert-file", &flags.tls_cert_file},
      {"tls-key-file", &flags.tls_key_file},
      {"tls-server-name", &flags.tls_server_name},
  };
  const char* implied_by = nullptr;
  for (const auto& [flag, value] : tls_flags) {
    if (value->has_value() && implied_by == nullptr) implied_by = flag;
  }
  if (implied_by != nullptr && flags.tls.has_value() && !*flags.tls) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", implied_by, " needs TLS, but --tls=false"));
  }
  if (!flags.tls.value_or(implied_by != nullptr)) {
    t.credentials = grpc::InsecureChannelCredentials();
    return t;
  }
  if (flags.tls_cert_file.has_value() != flags.tls_key_file.has_value()) {
    return absl::InvalidArgumentError(flags.tls_cert_file.has_value()
                                          ? "--tls-cert-file needs --tls-key-file"
                                          : "--tls-key-file needs --tls-cert-file");
  }
  grpc::SslCredentialsOptions options;  // empty roots: gRPC's default (the system's) roots
  if (flags.tls_ca_file.has_value()) {
    absl::StatusOr<std::string> ca =
        ReadPemFlagFile("tls-ca-file", *flags.tls_ca_file, "CERTIFICATE", "certificate");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  if (flags.tls_cert_file.has_value()) {
    absl::StatusOr<std::string> chain =
        ReadPemFlagFile("tls-cert-file", *flags.tls_cert_file, "CERTIFICATE", "certificate");
    if (!chain.ok()) return chain.status();
    absl::StatusOr<std::string> key =
        ReadPemFlagFile("tls-key-file", *flags.tls_key_file, "PRIVATE KEY", "private key");
    if (!key.ok()) return key.status();
    // gRPC takes no passphrase: an encrypted key (PKCS#8 or traditional) cannot be used.
    if (absl::StrContains(*key, "ENCRYPTED")) {
      return absl::InvalidArgumentError(absl::StrCat("--tls-key-file: '", *flags.tls_key_file,
                                                     "' is encrypted; give an unencrypted key"));
    }
    options.pem_cert_chain = *std::move(chain);
    options.pem_private_key = *std::move(key);
  }
  if (flags.tls_server_name.has_value()) {
    if (flags.tls_server_name->empty()) {
      return absl::InvalidArgumentError("--tls-server-name: is empty");
    }
    t.args.SetSslTargetNameOverride(*flags.tls_server_name);
  }
  t.credentials = grpc::SslCredentials(options);
  return t;
}

}  // namespace countd::client
