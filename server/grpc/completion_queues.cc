#include "server/grpc/completion_queues.h"

namespace countd::grpc_edge {

CompletionQueues::CompletionQueues(grpc::ServerBuilder& builder, int count) {
  queues_.reserve(count);
  for (int i = 0; i < count; ++i) queues_.push_back(builder.AddCompletionQueue());
}

CompletionQueues::~CompletionQueues() { Stop(); }

void CompletionQueues::Start(const std::vector<CqService*>& services) {
  services_ = services;
  for (const std::unique_ptr<grpc::ServerCompletionQueue>& cq : queues_) {
    for (CqService* service : services) service->ServeOn(cq.get());
  }
  threads_.reserve(queues_.size());
  for (const std::unique_ptr<grpc::ServerCompletionQueue>& cq : queues_) {
    threads_.emplace_back([q = cq.get()] {
      void* tag = nullptr;
      bool ok = false;
      while (q->Next(&tag, &ok)) static_cast<CqTag*>(tag)->Proceed(ok);
    });
  }
}

void CompletionQueues::BeginShutdown(std::chrono::steady_clock::time_point grace_end) {
  for (CqService* service : services_) service->CancelWorkStartingAfter(grace_end);
}

void CompletionQueues::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (const std::unique_ptr<grpc::ServerCompletionQueue>& cq : queues_) cq->Shutdown();
  if (threads_.empty()) {
    // Never started: nothing was requested on the queues, but gRPC wants each drained.
    for (const std::unique_ptr<grpc::ServerCompletionQueue>& cq : queues_) {
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) static_cast<CqTag*>(tag)->Proceed(ok);
    }
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

}  // namespace countd::grpc_edge
