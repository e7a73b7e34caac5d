// client/connection.h — how the client tools (countctl, countd-bench) reach countd: the bearer
// credential and the channel transport (plaintext, TLS, mutual TLS) from their command-line flags.
// Messages name the flag and the path, never a credential or a file's contents.
#ifndef COUNTD_CLIENT_CONNECTION_H_
#define COUNTD_CLIENT_CONNECTION_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace countd::client {

// The connection flags as given on the command line (absent = not given).
struct ConnectionFlags {
  // --bearer / --bearer-file; at most one of them.
  absl::optional<std::string> bearer;
  absl::optional<std::string> bearer_file;
  // --tls (absent: implied by any other --tls-* flag); the --tls-* files and name.
  absl::optional<bool> tls;
  absl::optional<std::string> tls_ca_file;
  absl::optional<std::string> tls_cert_file;
  absl::optional<std::string> tls_key_file;
  absl::optional<std::string> tls_server_name;
};

// The contents of `path`, named by the flag `--flag`. Errors (INVALID_ARGUMENT, usage): the file
// cannot be opened or read, or is larger than 1 MiB.
absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag, const std::string& path);

// The credential to send as `authorization: Bearer <it>`: --bearer, the trimmed contents of
// --bearer-file, or the environment variable COUNTD_BEARER; empty for none. Errors (usage): both
// flags given, an unreadable or empty file, a value with a control or non-ASCII byte.
absl::StatusOr<std::string> ResolveBearer(const ConnectionFlags& flags);

// How a channel reaches the server.
struct Transport {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  grpc::ChannelArguments args;
};

// The transport the flags ask for: plaintext, or TLS when --tls or any other --tls-* flag is
// given. --tls-ca-file replaces the default roots; --tls-cert-file with --tls-key-file presents a
// client certificate; --tls-server-name overrides the name the certificate must carry. Errors
// (usage, each naming the flag): --tls=false with another --tls-* flag; --tls-cert-file without
// --tls-key-file or the reverse; an empty --tls-server-name; a file that cannot be read or holds
// no PEM of its kind (certificates in --tls-ca-file and --tls-cert-file, an unencrypted private
// key in --tls-key-file).
absl::StatusOr<Transport> ResolveTransport(const ConnectionFlags& flags);

}  // namespace countd::client

#endif  // COUNTD_CLIENT_CONNECTION_H_
