#include "server/migrate_command.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "absl/status/statusor.h"
#include "server/migration.h"
#include "spdlog/spdlog.h"
#include "storage/redis_cluster/redis_store.h"
#include "storage/store.h"

namespace countd {
namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "countd migrate-to-redis: %s\n", std::string(s.message()).c_str());
  return kMigrateFailed;
}

// The data dir as recorded with the progress: absolute and normal, so that "./data" and
// "/srv/countd/data" of one directory resume each other.
std::string SourceName(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(dir, ec).lexically_normal();
  if (ec) return dir;
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();
  return p.string();
}

}  // namespace

int RunMigrateToRedis(const MigrateConfig& config) {
  storage::StoreOptions source_options;
  source_options.read_only = true;
  source_options.retention = config.retention;
  source_options.block_cache_bytes = config.block_cache_bytes;
  source_options.memtable_bytes = config.memtable_bytes;
  absl::StatusOr<std::unique_ptr<storage::Store>> source =
      storage::OpenRocksDbStore(config.data_dir, source_options);
  if (!source.ok()) return Fail(source.status());

  storage::redis::RedisStoreOptions target_options;
  target_options.client.seeds = config.redis.nodes;
  target_options.client.username = config.redis.username;
  target_options.client.password = config.redis.password;
  target_options.client.connect_timeout = config.redis.connect_timeout;
  target_options.client.command_timeout = config.redis.command_timeout;
  target_options.key_prefix = config.redis.key_prefix;
  target_options.retention = config.retention;
  target_options.wait_replicas = config.redis.wait_replicas;
  target_options.wait_timeout = config.redis.wait_timeout;
  absl::StatusOr<std::unique_ptr<storage::Store>> target =
      storage::redis::OpenRedisClusterStore(target_options);
  if (!target.ok()) return Fail(target.status());
  absl::Status reachable = (*target)->Probe();
  if (!reachable.ok()) return Fail(reachable);

  MigrationOptions options;
  options.source_name = SourceName(config.data_dir);
  options.restart = config.restart;
  options.max_partitions = config.max_partitions;
  options.log = [](const std::string& line) { spdlog::info("migrate: {}", line); };
  spdlog::info("migrate: from {} (read-only) into Redis Cluster via {} (key prefix \"{}\"){}",
               options.source_name, config.redis.nodes, config.redis.key_prefix,
               config.verify_only ? ", verification only" : "");

  if (!config.verify_only) {
    absl::StatusOr<CopyReport> copied = CopyToCluster(**source, **target, options);
    if (!copied.ok()) return Fail(copied.status());
    std::fputs(FormatCopyReport(*copied).c_str(), stdout);
    std::fflush(stdout);
    if (!copied->complete) return kMigrateStopped;
  }
  absl::StatusOr<VerifyReport> verified = VerifyCopy(**source, **target, options);
  if (!verified.ok()) return Fail(verified.status());
  std::fputs(FormatVerifyReport(*verified).c_str(), stdout);
  std::fflush(stdout);
  return verified->ok() ? kMigrateOk : kMigrateFailed;
}

}  // namespace countd
