// tests/unit/server/flags_test.cc — ConfigFromFlags for the TLS, reflection and connection-limit
// flags: defaults, accepted ranges, and refusals that name the flag.
#include "server/flags.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace countd {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class FlagsTest : public ::testing::Test {
 protected:
  // These flags are checked without credentials: --auth=off (its own tests are in
  // auth_flags_test.cc).
  void SetUp() override {
    std::string error;
    absl::CommandLineFlag* auth = absl::FindCommandLineFlag("auth");
    ASSERT_NE(auth, nullptr);
    ASSERT_TRUE(auth->ParseFrom("off", &error)) << error;
  }

  // ConfigFromFlags with `values` ("name" as in absl, value as on the command line) set.
  absl::StatusOr<ServerConfig> ConfigWith(
      const std::vector<std::pair<std::string, std::string>>& values) {
    for (const auto& [name, value] : values) {
      absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
      if (flag == nullptr) {
        ADD_FAILURE() << "no flag " << name;
        continue;
      }
      std::string error;
      if (!flag->ParseFrom(value, &error)) {
        return absl::InvalidArgumentError(absl::StrCat("parse --", name, ": ", error));
      }
    }
    return ConfigFromFlags();
  }

  // The flag `name`=`value` is refused with a message starting "--<dashed name>: ".
  void ExpectRefused(const std::string& name, const std::string& value,
                     std::vector<std::pair<std::string, std::string>> others = {}) {
    absl::FlagSaver restore;  // each refusal on its own
    others.emplace_back(name, value);
    absl::StatusOr<ServerConfig> c = ConfigWith(others);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << name << "=" << value;
    std::string dashed = name;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    EXPECT_THAT(std::string(c.status().message()), StartsWith("--" + dashed + ": "))
        << name << "=" << value;
  }

  absl::FlagSaver saver_;  // every test starts from the defaults
};

TEST_F(FlagsTest, DefaultsOfTheConnectionFlags) {
  absl::StatusOr<ServerConfig> c = ConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->tls.any());
  EXPECT_TRUE(c->grpc_reflection);
  EXPECT_EQ(c->grpc_max_message_bytes, 4 << 20);
  EXPECT_EQ(c->grpc_max_concurrent_streams, 1000);
  EXPECT_EQ(c->grpc_max_connection_idle, absl::Minutes(30));
  EXPECT_EQ(c->grpc_max_connection_age, absl::ZeroDuration());
  EXPECT_EQ(c->grpc_max_connection_age_grace, absl::Seconds(30));
  EXPECT_EQ(c->grpc_keepalive_time, absl::Hours(2));
  EXPECT_EQ(c->grpc_cq_threads, 0);  // automatic: the number of cores, at most 8
  EXPECT_EQ(c->http_max_connections, 10000);
  EXPECT_EQ(c->http_max_url_bytes, 8192);
}

TEST_F(FlagsTest, TlsFilesAndSwitchesPassThrough) {
  absl::StatusOr<ServerConfig> c = ConfigWith({{"tls_cert_file", "/c.pem"},
                                               {"tls_key_file", "/k.pem"},
                                               {"tls_client_ca_file", "/ca.pem"},
                                               {"grpc_reflection", "false"},
                                               {"grpc_max_connection_age", "1h"},
                                               {"grpc_max_connection_idle", "0"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls.cert_file, "/c.pem");
  EXPECT_EQ(c->tls.key_file, "/k.pem");
  EXPECT_EQ(c->tls.client_ca_file, "/ca.pem");
  EXPECT_FALSE(c->grpc_reflection);
  EXPECT_EQ(c->grpc_max_connection_age, absl::Hours(1));
  EXPECT_EQ(c->grpc_max_connection_idle, absl::ZeroDuration());
}

TEST_F(FlagsTest, RangesAreInclusive) {
  absl::StatusOr<ServerConfig> c = ConfigWith({{"grpc_max_message_bytes", "16384"},
                                               {"grpc_max_concurrent_streams", "1"},
                                               {"grpc_cq_threads", "1"},
                                               {"grpc_keepalive_time", "10s"},
                                               {"grpc_max_connection_idle", "1s"},
                                               {"http_max_connections", "1"},
                                               {"http_max_url_bytes", "256"}});
  ASSERT_TRUE(c.ok()) << c.status();
  c = ConfigWith({{"grpc_max_message_bytes", "1073741824"},
                  {"grpc_max_concurrent_streams", "1000000"},
                  {"grpc_cq_threads", "64"},
                  {"http_max_connections", "1000000"},
                  {"http_max_header_bytes", "32768"},
                  {"http_max_url_bytes", "32768"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->http_max_url_bytes, 32768);
  EXPECT_EQ(c->grpc_cq_threads, 64);
}

TEST_F(FlagsTest, OutOfRangeValuesAreRefusedNamingTheFlag) {
  ExpectRefused("grpc_max_message_bytes", "16383");
  ExpectRefused("grpc_max_message_bytes", "1073741825");
  ExpectRefused("grpc_max_concurrent_streams", "0");
  ExpectRefused("grpc_max_concurrent_streams", "1000001");
  ExpectRefused("grpc_cq_threads", "-1");
  ExpectRefused("grpc_cq_threads", "65");
  ExpectRefused("grpc_max_connection_idle", "-1s");
  ExpectRefused("grpc_max_connection_idle", "500ms");
  ExpectRefused("grpc_max_connection_age", "9000h");
  ExpectRefused("grpc_max_connection_age_grace", "-1s");
  ExpectRefused("grpc_max_connection_age_grace", "25h");
  ExpectRefused("grpc_keepalive_time", "9s");
  ExpectRefused("http_max_connections", "0");
  ExpectRefused("http_max_url_bytes", "255");
  // The request line is part of the header: the URL cap cannot exceed the header cap.
  ExpectRefused("http_max_url_bytes", "16385");
  ExpectRefused("http_max_url_bytes", "4096", {{"http_max_header_bytes", "2048"}});
}

TEST_F(FlagsTest, StoreDefaultsToRocksDbAndRedisClusterNeedsNodes) {
  absl::StatusOr<ServerConfig> c = ConfigWith({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->store, storage::StoreKind::kRocksDb);
  ExpectRefused("store", "redis");
  ExpectRefused("redis_nodes", "", {{"store", "redis-cluster"}});
  // By default a write waits for one replica (docs/storage.md, Durability).
  c = ConfigWith({{"store", "redis-cluster"}, {"redis_nodes", "127.0.0.1:30001"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->redis.wait_replicas, 1);
  EXPECT_EQ(c->redis.wait_timeout, absl::Milliseconds(500));
  c = ConfigWith({{"store", "redis-cluster"},
                  {"redis_nodes", "127.0.0.1:30001,127.0.0.1:30002"},
                  {"redis_username", "countd"},
                  {"redis_key_prefix", "blue"},
                  {"redis_command_timeout", "250ms"},
                  {"redis_wait_replicas", "0"},
                  {"redis_wait_timeout", "100ms"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->store, storage::StoreKind::kRedisCluster);
  EXPECT_EQ(c->redis.nodes, "127.0.0.1:30001,127.0.0.1:30002");
  EXPECT_EQ(c->redis.username, "countd");
  EXPECT_EQ(c->redis.password, "");
  EXPECT_EQ(c->redis.key_prefix, "blue");
  EXPECT_EQ(c->redis.command_timeout, absl::Milliseconds(250));
  EXPECT_EQ(c->redis.wait_replicas, 0);
  EXPECT_EQ(c->redis.wait_timeout, absl::Milliseconds(100));
}

TEST_F(FlagsTest, RedisFlagsAreChecked) {
  ExpectRefused("redis_key_prefix", "a{b}");
  ExpectRefused("redis_key_prefix", "");
  ExpectRefused("redis_command_timeout", "0s");
  ExpectRefused("redis_wait_replicas", "-1");
  ExpectRefused("redis_wait_replicas", "17");
  // WAIT must end before the command that carries it times out.
  ExpectRefused("redis_wait_timeout", "2s", {{"redis_command_timeout", "1s"}});
  ExpectRefused("redis_password_file", "/nonexistent/countd-redis-password");
}

TEST_F(FlagsTest, ConfigCacheTtlDefaultsToOneSecondWithinZeroToOneHour) {
  absl::StatusOr<ServerConfig> c = ConfigWith({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config_cache_ttl, absl::Seconds(1));
  {
    absl::FlagSaver restore;
    c = ConfigWith({{"config_cache_ttl", "0s"}});
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->config_cache_ttl, absl::ZeroDuration());
  }
  {
    absl::FlagSaver restore;
    c = ConfigWith({{"config_cache_ttl", "1h"}});
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->config_cache_ttl, absl::Hours(1));
  }
  ExpectRefused("config_cache_ttl", "-1s");
  ExpectRefused("config_cache_ttl", "61m");
}

TEST_F(FlagsTest, TheServerRefusesTheFlagsOfMigrateToRedis) {
  for (const auto& [name, value] : {std::pair<const char*, const char*>{"restart", "true"},
                                    {"verify_only", "true"},
                                    {"max_partitions", "5"}}) {
    ExpectRefused(name, value);
    absl::FlagSaver restore;
    absl::StatusOr<ServerConfig> c = ConfigWith({{name, value}});
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("countd migrate-to-redis"));
  }
}

// MigrateConfigFromFlags with `values` set.
absl::StatusOr<MigrateConfig> MigrateWith(
    const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [name, value] : values) {
    std::string error;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr || !flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("parse --", name, ": ", error));
    }
  }
  return MigrateConfigFromFlags();
}

TEST_F(FlagsTest, MigrateToRedisReadsTheStoreFlagsAndItsOwn) {
  absl::StatusOr<MigrateConfig> c =
      MigrateWith({{"data_dir", "/srv/node"},
                   {"redis_nodes", "127.0.0.1:30001"},
                   {"redis_key_prefix", "blue"},
                   {"daily_retention_days", "30"},
                   {"block_cache_mb", "16"},
                   {"max_partitions", "100"},
                   {"restart", "true"},
                   // Server-only flags are ignored, even ones the server would refuse together.
                   {"auth", "required"},
                   {"grpc_addr", "not an address"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data_dir, "/srv/node");
  EXPECT_EQ(c->redis.nodes, "127.0.0.1:30001");
  EXPECT_EQ(c->redis.key_prefix, "blue");
  EXPECT_EQ(c->retention.daily_days, 30);
  EXPECT_EQ(c->block_cache_bytes, size_t{16} << 20);
  EXPECT_EQ(c->max_partitions, 100);
  EXPECT_TRUE(c->restart);
  EXPECT_FALSE(c->verify_only);
}

TEST_F(FlagsTest, MigrateToRedisRefusesBadFlagsNamingThem) {
  const std::pair<std::vector<std::pair<std::string, std::string>>, const char*> cases[] = {
      {{}, "--redis-nodes: is required"},
      {{{"redis_nodes", "h:1"}, {"max_partitions", "-1"}}, "--max-partitions: "},
      {{{"redis_nodes", "h:1"}, {"verify_only", "true"}, {"restart", "true"}}, "--verify-only: "},
      {{{"redis_nodes", "h:1"}, {"verify_only", "true"}, {"max_partitions", "2"}},
       "--verify-only: "},
      {{{"redis_nodes", "h:1"}, {"redis_key_prefix", "a b"}}, "--redis-key-prefix: "},
      {{{"redis_nodes", "h:1"}, {"stash_retention_days", "0"}}, "--stash-retention-days: "},
      {{{"redis_nodes", "h:1"}, {"data_dir", ""}}, "--data-dir: "},
  };
  for (const auto& [values, message] : cases) {
    absl::FlagSaver restore;
    absl::StatusOr<MigrateConfig> c = MigrateWith(values);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << message;
    EXPECT_THAT(std::string(c.status().message()), StartsWith(message));
  }
}

TEST_F(FlagsTest, EffectiveFlagsListTheNewFlags) {
  const std::string flags = EffectiveFlags();
  for (const char* name : {"tls_cert_file=",
                           "tls_key_file=",
                           "tls_client_ca_file=",
                           "grpc_reflection=true",
                           "grpc_max_message_bytes=4194304",
                           "grpc_max_concurrent_streams=1000",
                           "grpc_max_connection_idle=30m",
                           "grpc_max_connection_age=0",
                           "grpc_max_connection_age_grace=30s",
                           "grpc_keepalive_time=2h",
                           "http_max_connections=10000",
                           "http_max_url_bytes=8192",
                           "store=rocksdb",
                           "redis_nodes=",
                           "redis_password_file=<unset>",
                           "redis_wait_replicas=1",
                           "config_cache_ttl=1s",
                           "restart=false",
                           "verify_only=false",
                           "max_partitions=0",
                           "grpc_cq_threads=0"}) {
    EXPECT_THAT(flags, HasSubstr(name));
  }
}

}  // namespace
}  // namespace countd
