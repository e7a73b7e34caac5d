// server/grpc/grpc_status.h — countd's internal absl::Status as a grpc::Status, with the code
// from the one error mapping (server/errors.h).
#ifndef COUNTD_SERVER_GRPC_GRPC_STATUS_H_
#define COUNTD_SERVER_GRPC_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace countd::grpc_edge {

// The gRPC status for `status`: code from Classify, the internal message as is. Thread-safe.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_GRPC_STATUS_H_
