// tests/testing/service_stack.h — the service logic and proto-level APIs over one store, wired by
// server/services.h as the server wires them (default options, real clock): what in-process tests
// of the JSON shim hand to ShimServices.
#ifndef COUNTD_TESTS_TESTING_SERVICE_STACK_H_
#define COUNTD_TESTS_TESTING_SERVICE_STACK_H_

#include "server/services.h"
#include "storage/clock.h"
#include "storage/store.h"
#include "tests/testing/fake_clock.h"  // transitional, see the alias there

namespace countd::test {

// `store` must outlive the stack.
struct ServiceStack : Services {
  explicit ServiceStack(storage::Store* store)
      : Services(store, storage::RealClock(), ServicesOptions{}) {}
};

}  // namespace countd::test

#endif  // COUNTD_TESTS_TESTING_SERVICE_STACK_H_
