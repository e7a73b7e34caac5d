#include "server/logic/admin.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/logic/status_util.h"

namespace countd::logic {
namespace {

namespace fs = std::filesystem;

// The whole path, quoted and escaped (Quote() shortens, and operators need all of it).
std::string QuotePath(const std::string& path) {
  return absl::StrCat("\"", absl::CHexEscape(path), "\"");
}

// Sum of the sizes of the regular files under `dir`; 0 when it cannot be walked. The size is
// informational, so a failed walk does not turn a completed backup into an error.
int64_t SizeOf(const fs::path& dir) {
  std::error_code ec;
  int64_t total = 0;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (!it->is_regular_file(size_ec) || size_ec) continue;
    uintmax_t size = it->file_size(size_ec);
    if (!size_ec) total += static_cast<int64_t>(size);
  }
  return ec ? 0 : total;
}

}  // namespace

absl::StatusOr<BackupResult> Admin::Backup(const std::string& dir) {
  if (store_->kind() != storage::StoreKind::kRocksDb) {
    // No pretending: a directory on one pod would hold none of the cluster's data.
    return Refused("dir",
                   "this countd runs on Redis Cluster (--store=redis-cluster), whose data is not "
                   "on this pod: back it up with Redis persistence on every master (AOF "
                   "appendfsync always, or BGSAVE and copy each dump.rdb); see docs/operations.md");
  }
  if (dir.empty()) return MissingField("dir");
  if (dir.find('\0') != std::string::npos) return BadFormat("dir", "contains a NUL byte");
  fs::path path(dir);
  if (!path.is_absolute()) {
    return BadFormat("dir", absl::StrCat(QuotePath(dir),
                                         " is not an absolute path (it names a "
                                         "directory on the server's filesystem)"));
  }
  // "/a/b/" and "/a/./b" name /a/b; RocksDB stages the copy next to the target as "<dir>.tmp".
  path = path.lexically_normal();
  if (!path.has_filename()) path = path.parent_path();
  std::error_code ec;
  if (fs::exists(fs::symlink_status(path, ec))) {
    return BadValue("dir", absl::StrCat(QuotePath(path.string()), " already exists"));
  }
  fs::path parent = path.parent_path();
  if (!fs::is_directory(parent, ec)) {
    return BadValue("dir", absl::StrCat("the parent directory ", QuotePath(parent.string()),
                                        " does not exist (or is not a directory)"));
  }

  absl::Time start = absl::Now();
  absl::Status s = store_->Checkpoint(path.string());
  if (absl::IsInvalidArgument(s)) {
    // Created by someone else between the check above and the checkpoint.
    return BadValue("dir", absl::StrCat(QuotePath(path.string()), ": ", s.message()));
  }
  if (!s.ok()) return s;
  BackupResult result;
  result.dir = path.string();
  result.elapsed = absl::Now() - start;
  result.size_bytes = SizeOf(path);
  return result;
}

}  // namespace countd::logic
