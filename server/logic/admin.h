// server/logic/admin.h — operator actions on the running server: consistent online backups of
// the database to a directory on the server's filesystem.
#ifndef COUNTD_SERVER_LOGIC_ADMIN_H_
#define COUNTD_SERVER_LOGIC_ADMIN_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace countd::logic {

// What a backup produced.
struct BackupResult {
  // The directory written: the requested path in normal form (no "." or ".." parts, no
  // trailing slash).
  std::string dir;
  // Wall time the backup took.
  absl::Duration elapsed;
  // Total size of the files in the backup (hard-linked files count in full); 0 when the
  // directory could not be measured after a successful backup.
  int64_t size_bytes = 0;
};

// Operator actions. Thread-safe (concurrent backups to different directories are allowed; the
// gRPC edge runs them one at a time anyway). `store` must outlive this object.
class Admin {
 public:
  explicit Admin(storage::Store* store) : store_(store) {}

  // Writes a consistent, openable copy of the whole database to `dir` while the server keeps
  // serving (storage::Store::Checkpoint). `dir` is a path on this machine's filesystem.
  // Errors: INVALID_ARGUMENT naming "dir" when it is empty, not absolute, contains a NUL byte,
  // already exists, or its parent is not an existing directory; UNAVAILABLE when the copy fails
  // (nothing is left at `dir` then).
  absl::StatusOr<BackupResult> Backup(const std::string& dir);

 private:
  storage::Store* const store_;
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_ADMIN_H_
