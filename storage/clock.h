// storage/clock.h — the time source shared by storage expiry and service logic.
#ifndef COUNTD_STORAGE_CLOCK_H_
#define COUNTD_STORAGE_CLOCK_H_

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

}  // namespace countd::storage

#endif  // COUNTD_STORAGE_CLOCK_H_
