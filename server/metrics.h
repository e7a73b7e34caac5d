// server/metrics.h — a small Prometheus metrics registry: counters, gauges and fixed-bucket
// histograms (atomics on the hot path), scrape-time collectors, and the text exposition format
// 0.0.4. No client library: Debian 12 packages none that fits.
#ifndef COUNTD_SERVER_METRICS_H_
#define COUNTD_SERVER_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace countd::metrics {

// Content-Type of Registry::Render()'s text.
inline constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Label name/value pairs of one sample, in order.
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

// A monotonically increasing count. Thread-safe (relaxed atomics).
class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down. Thread-safe (relaxed atomics).
class Gauge {
 public:
  void Add(int64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void Set(int64_t value) { value_.store(value, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// A histogram read at one moment.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;  // ascending, finite; the +Inf bucket is implied
  // counts[i] = observations v with upper_bounds[i-1] < v <= upper_bounds[i] (not cumulative);
  // counts.back() (index upper_bounds.size()) counts those above every bound.
  std::vector<uint64_t> counts;
  double sum = 0;
};

// Observations counted in fixed buckets. Thread-safe (relaxed atomics; a snapshot taken while
// others observe may miss the newest observations but its count always equals its +Inf bucket).
class Histogram {
 public:
  // `upper_bounds` must be ascending and finite (checked: a broken invariant aborts).
  explicit Histogram(std::vector<double> upper_bounds);

  void Observe(double value);
  HistogramSnapshot Snapshot() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Request-latency bucket bounds in seconds, 100 us .. 10 s.
std::vector<double> LatencyBuckets();

// Appends families to the exposition text; used by Registry and by collectors for figures read
// at scrape time. Not thread-safe (one per render).
class ExpositionWriter {
 public:
  explicit ExpositionWriter(std::string* out) : out_(out) {}

  // The "# HELP" and "# TYPE" lines that open a family. Write each family once, then its samples.
  void Family(absl::string_view name, absl::string_view help, MetricType type);
  // One sample line: name{labels} value. Label values are escaped as the format requires.
  void Sample(absl::string_view name, const Labels& labels, double value);
  // The _bucket (cumulative, with le), _sum and _count lines of one histogram child.
  void HistogramSamples(absl::string_view name, const Labels& labels,
                        const HistogramSnapshot& snapshot);

 private:
  std::string* out_;
};

// Children of one metric family, one per combination of label values. Thread-safe; children live
// as long as the family (pointers may be cached).
template <typename T>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<T>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}

  // The child for `values` (one per label name, in order), created on first use.
  T* With(const std::vector<std::string>& values) {
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = children_.find(values);
      if (it != children_.end()) return it->second.get();
    }
    absl::MutexLock lock(&mu_);
    std::unique_ptr<T>& child = children_[values];
    if (child == nullptr) child = make_();
    return child.get();
  }

  // Calls fn(labels, child) for every child, in label-value order.
  void ForEach(const std::function<void(const Labels&, const T&)>& fn) const {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [values, child] : children_) {
      Labels labels;
      for (size_t i = 0; i < values.size() && i < label_names_.size(); ++i) {
        labels.emplace_back(label_names_[i], values[i]);
      }
      fn(labels, *child);
    }
  }

 private:
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

// Owns metric families and renders them. Thread-safe: families may be added, updated and
// rendered concurrently. Returned family pointers live as long as the registry.
class Registry {
 public:
  Registry();
  ~Registry();

  // Adds a family. `name` and the label names must be valid Prometheus names and unique within
  // the registry (the caller's responsibility; nothing is checked).
  Family<Counter>* AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names);
  Family<Gauge>* AddGauge(std::string name, std::string help, std::vector<std::string> label_names);
  Family<Histogram>* AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> upper_bounds);

  // Adds figures computed at scrape time: `collect` runs on every Render, after the families,
  // in the order added, and writes whole families (HELP/TYPE then samples) to the writer.
  void AddCollector(std::function<void(ExpositionWriter&)> collect);

  // The text exposition (format 0.0.4) of every family and collector. A family without children
  // still shows its HELP and TYPE lines.
  std::string Render() const;

 private:
  struct Entry;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(ExpositionWriter&)>> collectors_ ABSL_GUARDED_BY(mu_);
};

// Writes the process_* families (resident memory, CPU seconds, open fds, start time) read from
// /proc/self and getrusage; figures that cannot be read are left out.
void WriteProcessMetrics(ExpositionWriter& writer);

}  // namespace countd::metrics

#endif  // COUNTD_SERVER_METRICS_H_
