#include "server/grpc/admin_api.h"

#include <string>
#include <utility>

namespace countd::grpc_edge {

absl::Status AdminApi::Backup(const v1::BackupRequest& req, v1::BackupResponse* resp) {
  absl::StatusOr<logic::BackupResult> result = admin_->Backup(req.dir());
  if (!result.ok()) return result.status();
  resp->set_dir(std::move(result->dir));
  int64_t nanos = absl::ToInt64Nanoseconds(result->elapsed);
  resp->mutable_elapsed()->set_seconds(nanos / 1000000000);
  resp->mutable_elapsed()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  resp->set_size_bytes(result->size_bytes);
  return absl::OkStatus();
}

}  // namespace countd::grpc_edge
