// server/errors.h — the one mapping from countd's internal absl::Status to every protocol's
// error form (gRPC code, Gigya errorCode, Qubit status, HTTP status). Protocol-free: the gRPC
// edge turns the code into a grpc::Status (server/grpc/grpc_status.h), the shim into its bodies.
#ifndef COUNTD_SERVER_ERRORS_H_
#define COUNTD_SERVER_ERRORS_H_

#include <string>

#include "absl/status/status.h"

namespace countd {

// How one internal status shows in each protocol.
struct ErrorClass {
  absl::StatusCode grpc;  // the gRPC status code (gRPC and absl share the numbers)
  int gigya;              // Gigya errorCode (0 = success)
  int qubit;              // Qubit body "status" (200 = success)
  int http;               // HTTP status grpc-gateway uses for the gRPC code
};

// Classifies `status` (code plus the countd/reason payload). Thread-safe, pure.
ErrorClass Classify(const absl::Status& status);

// Gigya's standard message for an errorCode ("Invalid parameter value", ...).
const char* GigyaMessage(int error_code);

}  // namespace countd

#endif  // COUNTD_SERVER_ERRORS_H_
