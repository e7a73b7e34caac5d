// tests/testing/fake_clock.h — a storage::Clock that stands still until a test moves it.
#ifndef COUNTD_TESTS_TESTING_FAKE_CLOCK_H_
#define COUNTD_TESTS_TESTING_FAKE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/clock.h"

namespace countd::test {

// A clock that stands still until told to move. Thread-safe.
class FakeClock : public storage::Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace countd::test

#endif  // COUNTD_TESTS_TESTING_FAKE_CLOCK_H_
