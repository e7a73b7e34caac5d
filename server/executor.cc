#include "server/executor.h"

#include <deque>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace countd {
namespace {

class InlineExecutor : public Executor {
 public:
  bool Schedule(std::function<void()> task) override {
    task();
    return true;
  }
  void Drain() override {}
  bool RunsOnCaller() const override { return true; }
};

class ThreadPoolExecutor : public Executor {
 public:
  ThreadPoolExecutor(int threads, size_t max_queue) : max_queue_(max_queue) {
    workers_.reserve(threads);
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~ThreadPoolExecutor() override { Drain(); }

  bool Schedule(std::function<void()> task) override {
    absl::MutexLock lock(&mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(task));
    return true;
  }

  void Drain() override {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    for (std::thread& t : workers_) t.join();
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](ThreadPoolExecutor* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
              return self->stopping_ || !self->queue_.empty();
            },
            this));
        if (queue_.empty()) return;  // stopping and nothing left
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  const size_t max_queue_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<Executor> NewInlineExecutor() { return std::make_unique<InlineExecutor>(); }

std::unique_ptr<Executor> NewThreadPoolExecutor(int threads, size_t max_queue) {
  return std::make_unique<ThreadPoolExecutor>(threads, max_queue);
}

}  // namespace countd
