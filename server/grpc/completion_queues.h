// server/grpc/completion_queues.h — the polling threads of countd's asynchronous gRPC services:
// a small fixed set of completion queues, one thread each, that deliver the services' events.
#ifndef COUNTD_SERVER_GRPC_COMPLETION_QUEUES_H_
#define COUNTD_SERVER_GRPC_COMPLETION_QUEUES_H_

#include <memory>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"

namespace countd::grpc_edge {

// The tag of every operation started on these queues: the queue's thread calls Proceed(ok) when
// the operation completes (`ok` as grpc::CompletionQueue::Next says).
class CqTag {
 public:
  virtual void Proceed(bool ok) = 0;

 protected:
  ~CqTag() = default;
};

// A service served from the queues: it requests its calls on each queue.
class CqService {
 public:
  virtual ~CqService() = default;
  // Requests one call of each of its methods on `cq` (and keeps doing so as calls arrive, until
  // the server shuts down). Called once per queue, after the server started.
  virtual void ServeOn(grpc::ServerCompletionQueue* cq) = 0;
};

// Lifecycle: construct with the builder (adds the queues), BuildAndStart, Start, then at shutdown:
// grpc::Server::Shutdown (the threads keep polling, so calls in flight finish), drain the
// executors the services use, Stop. Not thread-safe; the queues themselves are.
class CompletionQueues {
 public:
  // Adds `count` (>= 1) completion queues to `builder`; call before BuildAndStart.
  CompletionQueues(grpc::ServerBuilder& builder, int count);
  ~CompletionQueues();  // Stop()

  // Each service requests its calls on every queue, then one thread per queue starts polling.
  void Start(const std::vector<CqService*>& services);

  // Shuts the queues down, delivers what is left on them and joins the threads. Call after
  // grpc::Server::Shutdown returned and nothing will start operations on the queues any more.
  // Idempotent.
  void Stop();

  int size() const { return static_cast<int>(queues_.size()); }

 private:
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_COMPLETION_QUEUES_H_
