// tests/testing/service_stack.h — the service logic and proto-level APIs over one store, wired as
// server/server.cc wires them (default options, real clock): what in-process tests of the JSON
// shim hand to ShimServices.
#ifndef COUNTD_TESTS_TESTING_SERVICE_STACK_H_
#define COUNTD_TESTS_TESTING_SERVICE_STACK_H_

#include <memory>

#include "server/grpc/counters_api.h"
#include "server/grpc/gm_api.h"
#include "server/grpc/tally_api.h"
#include "server/logic/counters.h"
#include "server/logic/gm.h"
#include "server/logic/request_log.h"
#include "server/logic/stash.h"
#include "server/logic/tally.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd::test {

// `store` must outlive the stack. Members are declared in construction order.
struct ServiceStack {
  explicit ServiceStack(storage::Store* store)
      : requests(store, clock),
        counters(store, clock, &requests, logic::CountersOptions{}),
        stash(store, clock, logic::StashOptions{}),
        tally(store, clock, logic::TallyOptions{}),
        gm(store, clock, &requests, logic::GameMechanicsOptions{}),
        counters_api(&counters, &stash),
        tally_api(&tally),
        gm_api(&gm) {}

  const storage::Clock* const clock = storage::RealClock();
  logic::RequestLog requests;
  logic::Counters counters;
  logic::Stash stash;
  logic::Tally tally;
  logic::GameMechanics gm;
  grpc_edge::CountersApi counters_api;
  grpc_edge::TallyApi tally_api;
  grpc_edge::GmApi gm_api;
};

}  // namespace countd::test

#endif  // COUNTD_TESTS_TESTING_SERVICE_STACK_H_
