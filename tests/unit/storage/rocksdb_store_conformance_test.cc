// The Store conformance suite (store_conformance.h) against RocksDB in a temporary directory.
#include <memory>

#include "storage/store.h"
#include "tests/unit/storage/store_conformance.h"

namespace countd::storage::conformance {
namespace {

absl::StatusOr<std::unique_ptr<Store>> OpenRocksDb(const StoreSetup& setup) {
  StoreOptions options;
  options.clock = setup.clock;
  options.retention = setup.retention;
  options.block_cache_bytes = size_t{8} << 20;
  options.memtable_bytes = size_t{8} << 20;
  return OpenRocksDbStore(setup.scratch_dir, options);
}

INSTANTIATE_TEST_SUITE_P(RocksDb, StoreConformanceTest,
                         ::testing::Values(StoreFactory{"RocksDb", StoreKind::kRocksDb,
                                                        OpenRocksDb}),
                         StoreFactoryName);

}  // namespace
}  // namespace countd::storage::conformance
