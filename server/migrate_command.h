// server/migrate_command.h — `countd migrate-to-redis`: moves a RocksDB data dir (a stopped
// node's, or a backup) into a Redis Cluster, resumably, and verifies it (server/migration.h).
#ifndef COUNTD_SERVER_MIGRATE_COMMAND_H_
#define COUNTD_SERVER_MIGRATE_COMMAND_H_

#include "server/flags.h"

namespace countd {

// Exit codes of `countd migrate-to-redis`.
inline constexpr int kMigrateOk = 0;       // copied (or complete already) and verified
inline constexpr int kMigrateFailed = 1;   // an error, or the verification found differences
inline constexpr int kMigrateStopped = 3;  // stopped by --max-partitions: run again to continue

// Runs the command: opens config.data_dir read-only and the cluster, copies (unless
// config.verify_only), then verifies. Prints the reports on stdout and progress on stderr;
// returns one of the exit codes above.
int RunMigrateToRedis(const MigrateConfig& config);

}  // namespace countd

#endif  // COUNTD_SERVER_MIGRATE_COMMAND_H_
