// server/executor.h — where request work runs: inline on the caller's thread, or on a fixed
// pool of worker threads (used when writes block on fsync, so the few gRPC polling threads never
// wait on the disk).
#ifndef COUNTD_SERVER_EXECUTOR_H_
#define COUNTD_SERVER_EXECUTOR_H_

#include <cstddef>
#include <functional>
#include <memory>

namespace countd {

// Runs tasks. Thread-safe.
class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `task` now or later. Returns false (and drops the task) when the executor is
  // saturated or stopped; the caller then answers "overloaded" itself.
  virtual bool Schedule(std::function<void()> task) = 0;
  // Runs every accepted task, then refuses new ones. Idempotent.
  virtual void Drain() = 0;
  // True when Schedule runs each task on the calling thread before it returns.
  virtual bool RunsOnCaller() const { return false; }
};

// Runs each task on the calling thread.
std::unique_ptr<Executor> NewInlineExecutor();

// `threads` workers sharing a FIFO queue of at most `max_queue` waiting tasks.
std::unique_ptr<Executor> NewThreadPoolExecutor(int threads, size_t max_queue);

}  // namespace countd

#endif  // COUNTD_SERVER_EXECUTOR_H_
