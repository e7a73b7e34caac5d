// server/logic/stash.h — Stash-style daily counters: one signed count per (tenant, visitor,
// counter name, UTC day).
#ifndef COUNTD_SERVER_LOGIC_STASH_H_
#define COUNTD_SERVER_LOGIC_STASH_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd::logic {

inline constexpr size_t kMaxBatchKeys = 10;

struct StashAddArgs {
  std::string tenant;
  std::string visitor_id;
  std::string counter_name;
  absl::optional<int64_t> delta;          // default 1; must be >= 1
  absl::optional<int64_t> event_time_ms;  // default now
};

struct StashOptions {
  int retention_days = 90;
};

// Daily visitor counters. Thread-safe; increments never read (merge), so they run in parallel.
class Stash {
 public:
  // `store` and `clock` must outlive this object.
  Stash(storage::Store* store, const storage::Clock* clock, StashOptions options)
      : store_(store), clock_(clock), options_(options) {}

  // Adds +delta (Incr) or -delta (Decr, `negate`) to the day's bucket, creating it at 0.
  // Returns "<tenant>:<counter_name>:YYYY-MM-DD". Errors: INVALID_ARGUMENT naming the field;
  // UNAVAILABLE.
  absl::StatusOr<std::string> Add(const StashAddArgs& args, bool negate);

  // The count of the bucket of `date` ("YYYY-MM-DD").
  // Errors: INVALID_ARGUMENT; NOT_FOUND when the bucket does not exist; UNAVAILABLE.
  absl::StatusOr<int64_t> Get(const std::string& tenant, const std::string& visitor_id,
                              const std::string& counter_name, const std::string& date);

  // Reads 1-10 buckets "<visitor_id>:<counter_name>:<YYYY-MM-DD>"; returns (key as sent, count)
  // for those that exist, in request order (a repeated key once).
  // Errors: INVALID_ARGUMENT naming "keys" or "keys[i]"; UNAVAILABLE.
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> GetBatch(
      const std::string& tenant, const std::vector<std::string>& keys);

 private:
  storage::Store* store_;
  const storage::Clock* clock_;
  StashOptions options_;
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_STASH_H_
