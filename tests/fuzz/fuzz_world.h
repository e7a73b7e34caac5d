// tests/fuzz/fuzz_world.h — the whole request path of countd in memory, fresh for each fuzz input:
// the JSON shim over the real proto-level APIs and service logic over an InMemoryStore, with a
// clock that stands still (so every input replays exactly).
#ifndef COUNTD_TESTS_FUZZ_FUZZ_WORLD_H_
#define COUNTD_TESTS_FUZZ_FUZZ_WORLD_H_

#include <memory>

#include "absl/time/time.h"
#include "server/api/counters_api.h"
#include "server/api/gm_api.h"
#include "server/api/tally_api.h"
#include "server/services.h"
#include "server/shim/internal/gigya/methods.h"
#include "server/shim/shim.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/in_memory_store.h"

namespace countd::fuzz {

// 2024-03-01T12:00:00Z, the time of every fuzzed request.
absl::Time FuzzNow();

// Not thread-safe; one per input.
class FuzzWorld {
 public:
  FuzzWorld();

  shim::JsonShim& shim() { return *shim_; }
  // The Gigya methods bound to this world's services (their parse steps are pure).
  const shim::GigyaMethodTable& gigya() const { return gigya_; }
  test::InMemoryStore& store() { return store_; }
  api::CountersApi& counters() { return services_.counters_api; }
  api::TallyApi& tally() { return services_.tally_api; }
  api::GmApi& gm() { return services_.gm_api; }

 private:
  test::InMemoryStore store_;
  test::FakeClock clock_;
  Services services_;
  std::unique_ptr<shim::JsonShim> shim_;
  shim::GigyaMethodTable gigya_;
};

}  // namespace countd::fuzz

#endif  // COUNTD_TESTS_FUZZ_FUZZ_WORLD_H_
