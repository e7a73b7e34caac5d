#include "storage/clock.h"

namespace countd::storage {
namespace {
class SystemClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};
}  // namespace

const Clock* RealClock() {
  static const SystemClock* clock = new SystemClock();
  return clock;
}

}  // namespace countd::storage
