// server/flags.h — countd's command-line flags (each also read from COUNTD_<NAME>) and their
// translation into a validated ServerConfig.
#ifndef COUNTD_SERVER_FLAGS_H_
#define COUNTD_SERVER_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/server.h"

namespace countd {

// The arguments to parse: argv[0], then "--name=value" for every flag whose environment variable
// COUNTD_<NAME> (upper case, e.g. COUNTD_DATA_DIR) is set, then the command line, whose flags
// come later and so win. Flag names are accepted with dashes (--data-dir) or underscores.
std::vector<std::string> ArgsWithEnvironment(int argc, char** argv);

// Reads the parsed flags, and the credential files they name (--operator-token-file,
// --secrets-key-file). Errors: INVALID_ARGUMENT naming the flag and the bad value (for a
// credential file: its path and what is wrong, never its contents), also for a flag of
// `countd migrate-to-redis` (--restart, --verify-only, --max-partitions).
absl::StatusOr<ServerConfig> ConfigFromFlags();

// What `countd migrate-to-redis` reads (server/migrate_command.h): the RocksDB data dir to move,
// the cluster (the --redis-* flags), the retention flags (which records are live; they must be
// those the node and the cluster's countd run with), RocksDB's cache sizes, and its own
// --restart, --verify-only and --max-partitions. The other flags are ignored.
struct MigrateConfig {
  std::string data_dir;
  RedisConfig redis;
  storage::Retention retention;
  size_t block_cache_bytes = size_t{128} << 20;
  size_t memtable_bytes = size_t{64} << 20;
  bool restart = false;
  bool verify_only = false;
  int64_t max_partitions = 0;
};

// Reads the flags of MigrateConfig. Errors: INVALID_ARGUMENT naming the flag and the bad value.
absl::StatusOr<MigrateConfig> MigrateConfigFromFlags();

// The log level flag ("debug", "info", "warn", "error").
std::string LogLevelFlag();

// Every countd flag with its effective value (after the environment and the command line),
// "name=value" separated by spaces, in a fixed order; for the startup log. No flag holds a
// secret; the credential file flags (--operator-token-file, --secrets-key-file) show only
// "<set>" or "<unset>".
std::string EffectiveFlags();

}  // namespace countd

#endif  // COUNTD_SERVER_FLAGS_H_
