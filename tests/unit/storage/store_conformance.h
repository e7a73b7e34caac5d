// tests/unit/storage/store_conformance.h — one behaviour suite that every Store implementation
// must pass (storage/store.h is the contract; RocksDB is the reference). A test binary links
// store_conformance.cc and instantiates StoreConformanceTest with its store's factory:
//
//   INSTANTIATE_TEST_SUITE_P(RocksDb, StoreConformanceTest,
//                            ::testing::Values(StoreFactory{"RocksDb", StoreKind::kRocksDb, Open}),
//                            StoreFactoryName);
#ifndef COUNTD_TESTS_UNIT_STORAGE_STORE_CONFORMANCE_H_
#define COUNTD_TESTS_UNIT_STORAGE_STORE_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "storage/clock.h"
#include "storage/counter_cell.h"
#include "storage/store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace countd::storage::conformance {

// What a factory gets to open a store for one test.
struct StoreSetup {
  const Clock* clock = nullptr;
  Retention retention;
  // A fresh directory owned by the test (removed after it), for stores that keep files.
  std::string scratch_dir;
  // A name unique to this test (across processes and runs), for stores shared by several tests
  // (e.g. a Redis key prefix). Opening twice with the same setup reopens the same data.
  std::string unique_name;
};

struct StoreFactory {
  std::string name;  // the instantiation's name (letters and digits)
  StoreKind kind;
  // Opens the store of `setup` (empty the first time; the same data when opened again).
  std::function<absl::StatusOr<std::unique_ptr<Store>>(const StoreSetup&)> open;
};

inline void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }

inline std::string StoreFactoryName(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

// Two partitions of the tests (tenant partitions "t1" and "t2" of keys.h).
const Partition& PartitionA();
const Partition& PartitionB();

// The suite's fixture: a fresh store on a FakeClock per test. Its cases and helpers are in
// store_conformance.cc.
class StoreConformanceTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  StoreConformanceTest();
  ~StoreConformanceTest() override;
  void SetUp() override;
  // Closes the store and opens it again with setup_ (e.g. after changing the retention).
  void Reopen();

  // Helpers over store_ (partition A by default).
  absl::Status Put(Table table, absl::string_view key, absl::string_view value,
                   const Partition& p = PartitionA());
  absl::Status Add(Table table, absl::string_view key, const CounterCell& delta,
                   const Partition& p = PartitionA());
  std::vector<std::pair<std::string, std::string>> ScanAll(Table table, const ScanRange& range,
                                                           const Partition& p = PartitionA());
  std::vector<std::string> ScanKeys(Table table, const ScanRange& range,
                                    const Partition& p = PartitionA());
  CounterCell CellOf(Table table, absl::string_view key);
  // `key` of `table` (partition A) is visible (or not) through every read path, scans of the
  // prefix range of `scan_prefix` included.
  void ExpectVisible(Table table, const std::string& key, bool visible,
                     absl::string_view scan_prefix);
  // Writes the kMeta keys of ScanFixtureKeys() (value "v:" + key).
  void WriteScanFixture();
  static std::vector<std::string> ScanFixtureKeys();

  std::unique_ptr<test::ScopedTempDir> dir_;
  test::FakeClock clock_;
  StoreSetup setup_;
  std::unique_ptr<Store> store_;
};

}  // namespace countd::storage::conformance

#endif  // COUNTD_TESTS_UNIT_STORAGE_STORE_CONFORMANCE_H_
