#include "server/grpc/grpc_status.h"

#include <string>

#include "server/errors.h"

namespace countd::grpc_edge {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // gRPC and absl share the code numbers (both follow google.rpc.Code).
  return grpc::Status(static_cast<grpc::StatusCode>(Classify(status).grpc),
                      std::string(status.message()));
}

}  // namespace countd::grpc_edge
