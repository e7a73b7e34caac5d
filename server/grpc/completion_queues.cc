#include "server/grpc/completion_queues.h"

#include <vector>

#include "grpc/support/time.h"

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
    threads_.emplace_back([q = cq.get(), store = wal_store_] {
      if (store == nullptr) {
        void* tag = nullptr;
        bool ok = false;
        while (q->Next(&tag, &ok)) static_cast<CqTag*>(tag)->Proceed(ok);
        return;
      }
      PollDeferringReplies(q, store);
    });
  }
}

namespace {
struct HeldReplies {
  storage::Store* store = nullptr;
  std::vector<DeferredReply*> replies;
};
thread_local HeldReplies* held = nullptr;

// Flushes the WAL once and sends every held reply.
void SendHeld(HeldReplies& h) {
  if (h.replies.empty()) return;
  const absl::Status flushed = h.store->FlushWal();
  std::vector<DeferredReply*> replies;
  replies.swap(h.replies);
  for (DeferredReply* r : replies) r->Send(flushed);
}
}  // namespace

bool CompletionQueues::Defer(DeferredReply* reply) {
  if (held == nullptr || !held->store->WalFlushPending()) return false;
  held->replies.push_back(reply);
  return true;
}

void CompletionQueues::PollDeferringReplies(grpc::ServerCompletionQueue* q, storage::Store* store) {
  storage::DeferWalFlush defer;
  HeldReplies h;
  h.store = store;
  held = &h;
  void* tag = nullptr;
  bool ok = false;
  for (;;) {
    // With replies held, only look for events already there (gpr_inf_past: a poll that does not
    // wait; a deadline of "now" was rounded up to a millisecond and held a lone call's reply
    // ~1.2 ms); without, wait.
    grpc::CompletionQueue::NextStatus status =
        h.replies.empty() ? (q->Next(&tag, &ok) ? grpc::CompletionQueue::GOT_EVENT
                                                : grpc::CompletionQueue::SHUTDOWN)
                          : q->AsyncNext(&tag, &ok, gpr_inf_past(GPR_CLOCK_MONOTONIC));
    if (status == grpc::CompletionQueue::TIMEOUT) {
      SendHeld(h);
      continue;
    }
    if (status == grpc::CompletionQueue::SHUTDOWN) break;
    static_cast<CqTag*>(tag)->Proceed(ok);
    if (h.replies.size() >= kMaxDeferredReplies) SendHeld(h);
  }
  SendHeld(h);  // nothing is held at a shutdown (every call ended first); kept for safety
  held = nullptr;
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
