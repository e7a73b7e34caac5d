// tests/unit/grpc/table_service_test.cc — a table service on gRPC's completion-queue API, in
// process over an in-memory store: answers and their reports to the CallObserver, the
// saturated executor, a call that ended before its work ran, and shutdown with calls in flight.
#include "server/grpc/table_service.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "countd/v1/counters.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/api/counters_api.h"
#include "server/executor.h"
#include "server/grpc/completion_queues.h"
#include "tests/testing/in_memory_store.h"
#include "tests/testing/service_stack.h"

namespace countd::grpc_edge {
namespace {

using ::testing::HasSubstr;

constexpr char kIncr[] = "/countd.v1.Counters/Incr";

// Holds the tasks it accepts until the test runs them; refuses every task when `refuse` is set.
class HoldingExecutor : public Executor {
 public:
  explicit HoldingExecutor(bool refuse = false) : refuse_(refuse) {}

  bool Schedule(std::function<void()> task) override {
    absl::MutexLock lock(&mu_);
    if (refuse_ || drained_) return false;
    tasks_.push_back(std::move(task));
    return true;
  }
  void Drain() override {
    RunAll();
    absl::MutexLock lock(&mu_);
    drained_ = true;
  }

  // Waits until `n` tasks are held (false after 10 s).
  bool WaitForTasks(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return tasks_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }

  void RunAll() {
    std::vector<std::function<void()>> tasks;
    {
      absl::MutexLock lock(&mu_);
      tasks.swap(tasks_);
    }
    for (std::function<void()>& task : tasks) task();
  }

 private:
  absl::Mutex mu_;
  const bool refuse_;
  bool drained_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
};

// An in-memory store whose writes on a DeferWalFlush thread leave a WAL flush pending, as the
// RocksDB store's do with --sync=none. FlushWal can be held (to see that replies wait for it)
// or made to fail.
class DeferringStore : public test::InMemoryStore {
 public:
  absl::Status Write(const storage::WriteBatch& batch) override {
    absl::Status s = InMemoryStore::Write(batch);
    if (s.ok() && storage::DeferWalFlush::Active()) pending_ = true;
    return s;
  }
  bool WalFlushPending() const override { return pending_; }
  absl::Status FlushWal() override {
    if (hold_) release_.WaitForNotification();
    ++flushes_;
    if (!flush_error_.ok()) return flush_error_;
    pending_ = false;
    return absl::OkStatus();
  }

  void HoldFlushes() { hold_ = true; }
  void ReleaseFlushes() { release_.Notify(); }
  void FailFlushes(absl::Status error) { flush_error_ = std::move(error); }
  void SetPending() { pending_ = true; }
  int flushes() const { return flushes_; }

 private:
  std::atomic<bool> pending_{false};
  std::atomic<int> flushes_{0};
  std::atomic<bool> hold_{false};
  absl::Notification release_;
  absl::Status flush_error_;  // set before the calls start
};

// Records what the service reports, per method path.
class RecordingObserver : public CallObserver {
 public:
  struct Method : MethodCallObserver {
    void Started() override {
      absl::MutexLock lock(&mu);
      ++started;
    }
    void Finished(const grpc::Status& status, double seconds, const grpc::ServerContext&) override {
      absl::MutexLock lock(&mu);
      finished.push_back(status);
      EXPECT_GE(seconds, 0);
    }
    std::vector<grpc::Status> Finishes() {
      absl::MutexLock lock(&mu);
      return finished;
    }
    absl::Mutex mu;
    int started ABSL_GUARDED_BY(mu) = 0;
    std::vector<grpc::Status> finished ABSL_GUARDED_BY(mu);
  };

  MethodCallObserver* ObserveMethod(const std::string& method_path) override {
    std::unique_ptr<Method>& m = methods_[method_path];
    if (m == nullptr) m = std::make_unique<Method>();
    return m.get();
  }

  Method* method(const std::string& path) {
    auto it = methods_.find(path);
    return it == methods_.end() ? nullptr : it->second.get();
  }
  size_t size() const { return methods_.size(); }

 private:
  std::map<std::string, std::unique_ptr<Method>> methods_;
};

class TableServiceTest : public ::testing::Test {
 protected:
  TableServiceTest() : stack_(&store_), auth_(GrpcAuthOptions{}) {}

  ~TableServiceTest() override { Stop(absl::Seconds(5)); }

  // Serves the Counters table with `executor` on `queues` completion queues.
  // With `defer_wal`, the polling threads hold replies for one WAL flush of store_ (the
  // server's setup when the work runs inline).
  void Start(Executor* executor, int queues = 1, bool defer_wal = false) {
    executor_ = executor;
    service_ = MakeTableService<v1::Counters::Service>(&stack_.counters_api, api::kCountersMethods,
                                                       executor, &auth_, &observer_);
    service_->FlushWalBeforeReplies(&store_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    queues_ = std::make_unique<CompletionQueues>(builder, queues);
    if (defer_wal) queues_->DeferWalFlushesOf(&store_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    queues_->Start({service_.get()});
    stub_ = v1::Counters::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  // The server's shutdown sequence (server/server.cc): queues told, server, executor, queues.
  void Stop(absl::Duration grace) {
    if (server_ == nullptr) return;
    queues_->BeginShutdown(std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(grace));
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
    executor_->Drain();
    queues_->Stop();
    server_.reset();
  }

  grpc::Status Incr(const std::string& visitor, absl::Duration deadline = absl::Seconds(10)) {
    v1::IncrRequest req;
    req.set_tenant("t");
    req.set_visitor_id(visitor);
    req.set_counter_name("views");
    v1::IncrResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    return stub_->Incr(&ctx, req, &resp);
  }

  // Makes one call with a 10 s deadline (`call` issues it on the stub with the context given).
  // With the holding executor, the call's work is run here once it is held. The calling thread
  // is always joined, also when the work never arrives (then the deadline ends the call).
  grpc::Status CallRunningHeldWork(const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Status status;
    std::thread caller([&] { status = call(&ctx); });
    if (executor_ == &holding_) {
      EXPECT_TRUE(holding_.WaitForTasks(1));
      holding_.RunAll();
    }
    caller.join();
    return status;
  }

  DeferringStore store_;
  test::ServiceStack stack_;
  GrpcAuth auth_;
  RecordingObserver observer_;
  // Alive until the fixture's destructor stopped the server.
  std::unique_ptr<Executor> inline_ = NewInlineExecutor();
  HoldingExecutor holding_;
  HoldingExecutor refusing_{/*refuse=*/true};
  Executor* executor_ = nullptr;
  std::unique_ptr<TableService<v1::Counters::Service, api::CountersApi,
                               std::decay_t<decltype(api::kCountersMethods)>>>
      service_;
  std::unique_ptr<CompletionQueues> queues_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Counters::Stub> stub_;
};

TEST_F(TableServiceTest, EveryRowIsObservedAndAnsweredInlineOnThePollingThread) {
  Start(inline_.get(), /*queues=*/2);
  EXPECT_EQ(observer_.size(), static_cast<size_t>(google::protobuf::DescriptorPool::generated_pool()
                                                      ->FindServiceByName("countd.v1.Counters")
                                                      ->method_count()));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(Incr("v1").ok());
  grpc::Status bad = Incr("");  // the logic refuses an empty visitor id, naming it
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("visitor_id"));

  RecordingObserver::Method* incr = observer_.method(kIncr);
  ASSERT_NE(incr, nullptr);
  std::vector<grpc::Status> finished = incr->Finishes();
  ASSERT_EQ(finished.size(), 5u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(finished[i].ok());
  EXPECT_EQ(finished[4].error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  absl::MutexLock lock(&incr->mu);
  EXPECT_EQ(incr->started, 5);
}

TEST(RequestOnArenaTest, RequestsWithRepeatedMessagesOnly) {
  EXPECT_TRUE(RequestOnArena(*v1::IncrementCountersRequest::descriptor()));
  EXPECT_TRUE(RequestOnArena(*v1::GetCountersRequest::descriptor()));
  EXPECT_TRUE(RequestOnArena(*v1::RegisterCountersRequest::descriptor()));
  EXPECT_FALSE(RequestOnArena(*v1::IncrRequest::descriptor()));
  EXPECT_FALSE(RequestOnArena(*v1::GetBatchRequest::descriptor()));  // repeated strings only
}

// A request parsed onto an arena, about four times the arena's inline first block
// (1 KiB), run inline on the polling thread and then on a worker thread (the arena is then used
// on two threads): every counter arrives, with class names longer than a string's inline buffer.
TEST_F(TableServiceTest, LargeRequestsParsedOntoAnArenaArriveWhole) {
  for (bool on_worker : {false, true}) {
    SCOPED_TRACE(on_worker ? "worker" : "inline");
    Start(on_worker ? static_cast<Executor*>(&holding_) : inline_.get());
    const std::string uid = on_worker ? "worker-user" : "inline-user";
    v1::IncrementCountersRequest req;
    req.set_tenant("t");
    req.set_uid(uid);
    for (int i = 0; i < 100; ++i) {
      v1::CounterIncrement* c = req.add_counters();
      c->set_class_(absl::StrCat("a-class-name-longer-than-sso-", i));
      c->set_path("/");
      c->set_count(i + 1);
    }
    ASSERT_GT(req.ByteSizeLong(), 3000u);
    v1::IncrementCountersResponse resp;
    grpc::Status incremented = CallRunningHeldWork(
        [&](grpc::ClientContext* ctx) { return stub_->IncrementCounters(ctx, req, &resp); });
    ASSERT_TRUE(incremented.ok()) << incremented.error_message();

    v1::GetCountersRequest get;
    get.set_tenant("t");
    get.set_uid(uid);
    v1::GetCountersResponse got;
    grpc::Status read = CallRunningHeldWork(
        [&](grpc::ClientContext* ctx) { return stub_->GetCounters(ctx, get, &got); });
    ASSERT_TRUE(read.ok()) << read.error_message();
    std::map<std::string, int64_t> counts;
    for (const v1::CounterValue& v : got.counters()) counts[v.class_()] = v.count();
    ASSERT_EQ(counts.size(), 100u);
    for (int i = 0; i < 100; ++i) {
      EXPECT_EQ(counts[absl::StrCat("a-class-name-longer-than-sso-", i)], i + 1) << i;
    }
    Stop(absl::Seconds(5));
  }
}

TEST_F(TableServiceTest, SaturatedExecutorAnswersResourceExhaustedWithoutTheWork) {
  Start(&refusing_);
  grpc::Status s = Incr("v1");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("server overloaded"));
  std::vector<grpc::Status> finished = observer_.method(kIncr)->Finishes();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(TableServiceTest, CallThatEndedBeforeItsWorkRanFinishesCancelledWithoutTheWork) {
  Start(&holding_);
  const int64_t writes = store_.writes();
  grpc::Status s = Incr("v1", absl::Milliseconds(200));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(holding_.WaitForTasks(1));
  // The done notification reaches the server shortly after the client gave up.
  absl::SleepFor(absl::Milliseconds(300));
  holding_.RunAll();
  std::vector<grpc::Status> finished = observer_.method(kIncr)->Finishes();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_THAT(finished[0].error_message(), HasSubstr("cancelled before it ran"));
  EXPECT_EQ(store_.writes(), writes) << "the work ran";
}

TEST_F(TableServiceTest, ShutdownWaitsForCallsInFlightAndAnswersThem) {
  Start(&holding_);
  std::vector<grpc::Status> answers(3);
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([this, i, &answers] { answers[i] = Incr(absl::StrCat("v", i)); });
  }
  ASSERT_TRUE(holding_.WaitForTasks(3));
  const absl::Time start = absl::Now();
  std::thread shutdown([this] {
    queues_->BeginShutdown(std::chrono::steady_clock::now() + std::chrono::seconds(20));
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  });
  absl::SleepFor(absl::Milliseconds(200));
  holding_.RunAll();  // the calls in flight finish within the grace...
  shutdown.join();    // ...so the shutdown ends without waiting for it to run out
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  for (std::thread& c : clients) c.join();
  for (const grpc::Status& a : answers) EXPECT_TRUE(a.ok()) << a.error_message();
  Stop(absl::ZeroDuration());
}

TEST_F(TableServiceTest, ShutdownAfterTheGraceCancelsCallsStillQueued) {
  Start(&holding_, /*queues=*/2);
  const int64_t writes = store_.writes();
  std::vector<grpc::Status> answers(4);
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([this, i, &answers] { answers[i] = Incr(absl::StrCat("v", i)); });
  }
  ASSERT_TRUE(holding_.WaitForTasks(4));
  // The grace runs out with the work still queued: gRPC cancels the calls and waits for them to
  // end; the work, run later (a busy executor), finishes each as cancelled without doing it.
  std::thread late_worker([this] {
    absl::SleepFor(absl::Milliseconds(600));
    holding_.RunAll();
  });
  Stop(absl::Milliseconds(100));
  late_worker.join();
  for (std::thread& c : clients) c.join();
  for (const grpc::Status& a : answers) EXPECT_FALSE(a.ok());
  std::vector<grpc::Status> finished = observer_.method(kIncr)->Finishes();
  ASSERT_EQ(finished.size(), 4u);
  for (const grpc::Status& f : finished) EXPECT_EQ(f.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(store_.writes(), writes) << "work ran after its call was cancelled";
}

TEST_F(TableServiceTest, InlineRepliesWaitForOneWalFlushOfTheirWrites) {
  Start(inline_.get(), /*queues=*/1, /*defer_wal=*/true);
  store_.HoldFlushes();
  std::vector<grpc::Status> answers(4);
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([this, i, &answers, &answered] {
      answers[i] = Incr(absl::StrCat("v", i));
      ++answered;
    });
  }
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(answered.load(), 0) << "a reply went out before the WAL flush of its write";
  EXPECT_TRUE(store_.WalFlushPending());
  store_.ReleaseFlushes();
  for (std::thread& c : clients) c.join();
  for (const grpc::Status& a : answers) EXPECT_TRUE(a.ok()) << a.error_message();
  EXPECT_FALSE(store_.WalFlushPending());
  EXPECT_GE(store_.flushes(), 1);
  EXPECT_LE(store_.flushes(), 4);
}

TEST_F(TableServiceTest, AFailedWalFlushAnswersUnavailableInsteadOfOk) {
  Start(inline_.get(), /*queues=*/1, /*defer_wal=*/true);
  store_.FailFlushes(absl::UnavailableError("storage: flush wal: disk gone"));
  grpc::Status s = Incr("v1");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("flush wal"));
  std::vector<grpc::Status> finished = observer_.method(kIncr)->Finishes();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TableServiceTest, AReplyOffThePollingThreadFlushesAPendingWalFirst) {
  Start(&holding_);
  grpc::Status answer;
  std::thread client([this, &answer] { answer = Incr("v1"); });
  ASSERT_TRUE(holding_.WaitForTasks(1));
  store_.SetPending();  // a polling thread's write, not yet flushed
  holding_.RunAll();    // the work and its reply run here, on this thread
  client.join();
  EXPECT_TRUE(answer.ok()) << answer.error_message();
  EXPECT_EQ(store_.flushes(), 1);
  EXPECT_FALSE(store_.WalFlushPending());
}

}  // namespace
}  // namespace countd::grpc_edge
