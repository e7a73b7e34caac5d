// storage/clock.h — the time source shared by storage expiry and service logic.
#ifndef COUNTD_STORAGE_CLOCK_H_
#define COUNTD_STORAGE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace countd::storage {

// A Clock tells the current UTC time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The process clock (absl::Now()). The returned object lives forever.
const Clock* RealClock();

// A clock that stands still until told to move; for tests. Thread-safe.
class FakeClock : public Clock {
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

}  // namespace countd::storage

#endif  // COUNTD_STORAGE_CLOCK_H_
