// The Store conformance suite (tests/unit/storage/store_conformance.h) against the real 6-node
// Redis Cluster of the CTest fixture redis_cluster. Each test gets its own key prefix, so tests
// never see each other's data.
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "storage/redis_cluster/redis_store.h"
#include "tests/unit/storage/store_conformance.h"

namespace countd::storage::conformance {
namespace {

int BasePort() {
  std::ifstream in(std::string(REDIS_CLUSTER_DIR) + "/baseport");
  int port = 0;
  in >> port;
  return port;
}

absl::StatusOr<std::unique_ptr<Store>> OpenRedis(const StoreSetup& setup) {
  if (BasePort() <= 0) {
    return absl::FailedPreconditionError("no cluster: run through ctest (fixture redis_cluster)");
  }
  redis::RedisStoreOptions options;
  options.client.seeds = absl::StrCat("127.0.0.1:", BasePort());
  options.client.password = REDIS_CLUSTER_PASSWORD;
  options.key_prefix = setup.unique_name;
  options.retention = setup.retention;
  options.clock = setup.clock;
  return redis::OpenRedisClusterStore(options);
}

INSTANTIATE_TEST_SUITE_P(RedisCluster, StoreConformanceTest,
                         ::testing::Values(StoreFactory{"RedisCluster", StoreKind::kRedisCluster,
                                                        OpenRedis}),
                         StoreFactoryName);

}  // namespace
}  // namespace countd::storage::conformance
