// server/grpc/completion_queues.h — the polling threads of countd's asynchronous gRPC services:
// a small fixed set of completion queues, one thread each, that deliver the services' events.
#ifndef COUNTD_SERVER_GRPC_COMPLETION_QUEUES_H_
#define COUNTD_SERVER_GRPC_COMPLETION_QUEUES_H_

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "storage/store.h"

namespace countd::grpc_edge {

// The tag of every operation started on these queues: the queue's thread calls Proceed(ok) when
// the operation completes (`ok` as grpc::CompletionQueue::Next says).
class CqTag {
 public:
  virtual void Proceed(bool ok) = 0;

 protected:
  ~CqTag() = default;
};

// A reply held back until the WAL records of the writes before it are flushed (see
// CompletionQueues::DeferWalFlushesOf): Send is called on the same thread once they are, with the
// flush's status.
class DeferredReply {
 public:
  virtual void Send(const absl::Status& flushed) = 0;

 protected:
  ~DeferredReply() = default;
};

// A service served from the queues: it requests its calls on each queue.
class CqService {
 public:
  virtual ~CqService() = default;
  // Requests one call of each of its methods on `cq` (and keeps doing so as calls arrive, until
  // the server shuts down). Called once per queue, after the server started.
  virtual void ServeOn(grpc::ServerCompletionQueue* cq) = 0;
  // The shutdown is starting with its grace ending at `grace_end`: work of a call that has not
  // started by then finishes as cancelled without being done (gRPC has cancelled the call and
  // told its client so). Call before grpc::Server::Shutdown. A service whose calls do all their
  // work on the polling thread as they arrive has no queued work, hence nothing to do.
  virtual void CancelWorkStartingAfter(std::chrono::steady_clock::time_point grace_end) {
    static_cast<void>(grace_end);
  }
};

// Lifecycle: construct with the builder (adds the queues), BuildAndStart, Start, then at shutdown:
// BeginShutdown, grpc::Server::Shutdown with the same grace (the threads keep polling, so calls in
// flight finish), drain the executors the services use, Stop. Not thread-safe; the queues
// themselves are.
class CompletionQueues {
 public:
  // Adds `count` (>= 1) completion queues to `builder`; call before BuildAndStart.
  CompletionQueues(grpc::ServerBuilder& builder, int count);
  ~CompletionQueues();  // Stop()

  // Each service requests its calls on every queue, then one thread per queue starts polling.
  void Start(const std::vector<CqService*>& services);

  // The threads run inside a storage::DeferWalFlush scope on `store`: a call's work writes
  // without flushing the WAL, its reply is held (Defer), and when the queue has no event ready
  // (or kMaxDeferredReplies are held) the thread flushes once and sends every held reply. Only
  // for services whose work runs inline on these threads; call before Start.
  void DeferWalFlushesOf(storage::Store* store) { wal_store_ = store; }

  // On a thread of queues with DeferWalFlushesOf, when a WAL flush is pending: holds `reply`
  // and returns true. Otherwise returns false and the caller answers at once.
  static bool Defer(DeferredReply* reply);

  // Held replies that make the thread flush without waiting for an idle queue. Small on purpose:
  // holding up to 64 made 50 closed-loop clients wait in convoys and was slower than no
  // deferral at all; 8 gave +27% on unary Incr (docs/storage.md).
  static constexpr size_t kMaxDeferredReplies = 8;

  // Tells every service started here that the shutdown grace ends at `grace_end`
  // (CqService::CancelWorkStartingAfter).
  void BeginShutdown(std::chrono::steady_clock::time_point grace_end);

  // Shuts the queues down, delivers what is left on them and joins the threads. Call after
  // grpc::Server::Shutdown returned and nothing will start operations on the queues any more.
  // Idempotent.
  void Stop();

  int size() const { return static_cast<int>(queues_.size()); }

 private:
  // A thread's loop with DeferWalFlushesOf.
  static void PollDeferringReplies(grpc::ServerCompletionQueue* q, storage::Store* store);

  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> threads_;
  std::vector<CqService*> services_;
  storage::Store* wal_store_ = nullptr;
  bool stopped_ = false;
};

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_COMPLETION_QUEUES_H_
