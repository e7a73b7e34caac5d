// server/grpc/admin_api.h — the Admin service at the level of protobuf messages: converts
// requests to logic arguments and results back.
#ifndef COUNTD_SERVER_GRPC_ADMIN_API_H_
#define COUNTD_SERVER_GRPC_ADMIN_API_H_

#include "absl/status/status.h"
#include "countd/v1/admin.pb.h"
#include "server/logic/admin.h"

namespace countd::grpc_edge {

// Stateless apart from the logic object, which must outlive it. Thread-safe.
// Each method fills `resp` and returns the call's status (errors as the logic method says).
class AdminApi {
 public:
  explicit AdminApi(logic::Admin* admin) : admin_(admin) {}

  absl::Status Backup(const v1::BackupRequest& req, v1::BackupResponse* resp);

 private:
  logic::Admin* admin_;
};

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_ADMIN_API_H_
