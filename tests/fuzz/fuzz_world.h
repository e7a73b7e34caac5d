// tests/fuzz/fuzz_world.h — the whole request path of countd in memory, fresh for each fuzz input:
// the JSON shim over the real proto-level APIs and service logic over an InMemoryStore, with a
// clock that stands still (so every input replays exactly).
#ifndef COUNTD_TESTS_FUZZ_FUZZ_WORLD_H_
#define COUNTD_TESTS_FUZZ_FUZZ_WORLD_H_

#include <memory>

#include "absl/time/time.h"
#include "server/grpc/counters_api.h"
#include "server/grpc/gm_api.h"
#include "server/grpc/tally_api.h"
#include "server/http/gigya_methods.h"
#include "server/http/shim.h"
#include "server/logic/counters.h"
#include "server/logic/gm.h"
#include "server/logic/request_log.h"
#include "server/logic/stash.h"
#include "server/logic/tally.h"
#include "storage/clock.h"
#include "tests/testing/in_memory_store.h"

namespace countd::fuzz {

// 2024-03-01T12:00:00Z, the time of every fuzzed request.
absl::Time FuzzNow();

// Not thread-safe; one per input.
class FuzzWorld {
 public:
  FuzzWorld();

  http::JsonShim& shim() { return *shim_; }
  // The Gigya methods bound to this world's services (their parse steps are pure).
  const http::GigyaMethodTable& gigya() const { return gigya_; }
  test::InMemoryStore& store() { return store_; }
  grpc_edge::CountersApi& counters() { return *counters_api_; }
  grpc_edge::TallyApi& tally() { return *tally_api_; }
  grpc_edge::GmApi& gm() { return *gm_api_; }

 private:
  test::InMemoryStore store_;
  storage::FakeClock clock_;
  logic::RequestLog requests_;
  logic::Counters counters_;
  logic::Stash stash_;
  logic::Tally tally_;
  logic::GameMechanics gm_;
  std::unique_ptr<grpc_edge::CountersApi> counters_api_;
  std::unique_ptr<grpc_edge::TallyApi> tally_api_;
  std::unique_ptr<grpc_edge::GmApi> gm_api_;
  std::unique_ptr<http::JsonShim> shim_;
  http::GigyaMethodTable gigya_;
};

}  // namespace countd::fuzz

#endif  // COUNTD_TESTS_FUZZ_FUZZ_WORLD_H_
