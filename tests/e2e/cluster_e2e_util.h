// tests/e2e/cluster_e2e_util.h — helpers of the e2e tests that run several countd processes on
// one Redis Cluster: starting them with one shared key prefix, and a unique prefix per test.
#ifndef COUNTD_TESTS_E2E_CLUSTER_E2E_UTIL_H_
#define COUNTD_TESTS_E2E_CLUSTER_E2E_UTIL_H_

#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"

namespace countd::e2e {

// The cluster of the CTest fixture redis_cluster (COUNTD_E2E_REDIS_CLUSTER_DIR); empty when the
// test was not started by `ctest -L redis`.
inline std::string FixtureClusterDir() {
  const char* dir = std::getenv("COUNTD_E2E_REDIS_CLUSTER_DIR");
  return dir == nullptr ? "" : dir;
}

// A key prefix of this test alone (the fixture's cluster outlives the test): "mp" plus a hash of
// the process id, the time and the test's name; at most 64 characters, no braces or blanks.
inline std::string UniqueKeyPrefix() {
  const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
  return absl::StrCat(
      "mp",
      absl::Hex(std::hash<std::string>()(absl::StrCat(getpid(), "/", absl::ToUnixNanos(absl::Now()),
                                                      "/", t->test_suite_name(), ".", t->name()))));
}

// Starts `n` countd processes on the cluster in `cluster_dir`, sharing `key_prefix` (so they
// share every record), each with its own data directory `<data_root>/p<i>` and ports; the
// processes start in parallel. Errors: those of ServerProcess::Launch and WaitUntilListening.
inline absl::StatusOr<std::vector<std::unique_ptr<test::ServerProcess>>> StartCountdGroup(
    int n, const std::string& data_root, const std::string& cluster_dir,
    const std::string& key_prefix, const std::vector<std::string>& extra_args = {}) {
  std::vector<std::unique_ptr<test::ServerProcess>> group;
  for (int i = 0; i < n; ++i) {
    test::ServerProcessOptions options;
    options.data_dir = absl::StrCat(data_root, "/p", i);
    options.redis_cluster_dir = cluster_dir;
    options.redis_key_prefix = key_prefix;
    options.extra_args = extra_args;
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> p = test::ServerProcess::Launch(options);
    if (!p.ok()) return p.status();
    group.push_back(*std::move(p));
  }
  for (auto& p : group) {
    absl::Status s = p->WaitUntilListening(absl::Seconds(30));
    if (!s.ok()) return s;
  }
  return group;
}

}  // namespace countd::e2e

#endif  // COUNTD_TESTS_E2E_CLUSTER_E2E_UTIL_H_
