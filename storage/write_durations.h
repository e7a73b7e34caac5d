// storage/write_durations.h — the Store::Write duration histogram both stores report in
// StoreStats::write_duration, and which tables hold CounterCells.
#ifndef COUNTD_STORAGE_WRITE_DURATIONS_H_
#define COUNTD_STORAGE_WRITE_DURATIONS_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "storage/store.h"

namespace countd::storage {

// Tables whose values are CounterCells, the only ones WriteBatch::AddCounter may name.
inline bool IsCounterTable(Table t) {
  return t == Table::kTotals || t == Table::kMonthly || t == Table::kDaily || t == Table::kStash ||
         t == Table::kTally || t == Table::kGmDaily;
}

// Durations of Store::Write in fixed buckets (relaxed atomics; thread-safe). Plain numbers only:
// the server renders them as a metric.
class WriteDurations {
 public:
  static constexpr std::array<double, 15> kBounds = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                                     0.0005,  0.001,    0.0025,  0.005,  0.01,
                                                     0.025,   0.05,     0.1,     0.25,   1};

  void Observe(std::chrono::steady_clock::duration d) {
    int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    double seconds = static_cast<double>(ns) / 1e9;
    size_t i = std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin();
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
  }

  DurationHistogram Snapshot() const {
    DurationHistogram h;
    h.upper_bounds_seconds.assign(kBounds.begin(), kBounds.end());
    for (const std::atomic<uint64_t>& c : counts_) {
      h.counts.push_back(c.load(std::memory_order_relaxed));
    }
    h.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return h;
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace countd::storage

#endif  // COUNTD_STORAGE_WRITE_DURATIONS_H_
