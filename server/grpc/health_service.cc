#include "server/grpc/health_service.h"

#include <chrono>
#include <utility>

#include "grpcpp/ext/health_check_service_server_builder_option.h"
#include "grpcpp/health_check_service_interface.h"

namespace countd::grpc_edge {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// What grpc::Server::GetHealthCheckService() returns; the server owns it, the HealthService
// outlives the server.
class HealthStatusSetter : public grpc::HealthCheckServiceInterface {
 public:
  explicit HealthStatusSetter(HealthService* service) : service_(service) {}
  void SetServingStatus(const std::string& service_name, bool serving) override {
    service_->SetServingStatus(service_name, serving);
  }
  void SetServingStatus(bool serving) override { service_->SetServingStatus(serving); }
  void Shutdown() override { service_->Shutdown(); }

 private:
  HealthService* const service_;
};

}  // namespace

// One Check call; runs on the queue's thread. Deletes itself.
class HealthService::CheckCall final : public CqTag {
 public:
  CheckCall(HealthService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), responder_(&ctx_) {}

  void Request() { service_->RequestCheck(&ctx_, &req_, &responder_, cq_, cq_, this); }

  void Proceed(bool ok) override {
    if (finishing_ || !ok) {  // the status went out, or no call came (shutdown)
      delete this;
      return;
    }
    (new CheckCall(service_, cq_))->Request();
    const auto start = std::chrono::steady_clock::now();
    service_->check_observer_->Started();
    ServingStatus status;
    {
      absl::ReaderMutexLock lock(&service_->mu_);
      status = service_->StatusOf(req_.service());
    }
    grpc::Status answer = status == HealthCheckResponse::SERVICE_UNKNOWN
                              ? grpc::Status(grpc::StatusCode::NOT_FOUND, "service name unknown")
                              : grpc::Status::OK;
    resp_.set_status(status);
    service_->check_observer_->Finished(
        answer, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
        ctx_);
    finishing_ = true;
    if (answer.ok()) {
      responder_.Finish(resp_, answer, this);
    } else {
      responder_.FinishWithError(answer, this);
    }
  }

 private:
  HealthService* const service_;
  grpc::ServerCompletionQueue* const cq_;
  grpc::ServerContext ctx_;
  HealthCheckRequest req_;
  HealthCheckResponse resp_;
  grpc::ServerAsyncResponseWriter<HealthCheckResponse> responder_;
  bool finishing_ = false;  // only the queue's thread touches it
};

// One Watch stream: the status at once, then every change, one write at a time, until the call
// ends (the client cancels, the server ends it with End, or the server's shutdown cancels it
// after the grace). Deletes itself once the done notification came and no write or finish is
// outstanding.
class HealthService::WatchCall final : public CqTag {
 public:
  WatchCall(HealthService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), writer_(&ctx_), write_tag_(this), done_tag_(this) {}

  void Request() {
    ctx_.AsyncNotifyWhenDone(&done_tag_);
    service_->RequestWatch(&ctx_, &req_, &writer_, cq_, cq_, this);
  }

  // The call arrived (or not: shutdown; then no done notification follows).
  void Proceed(bool ok) override {
    if (!ok) {
      delete this;
      return;
    }
    (new WatchCall(service_, cq_))->Request();
    service_->Register(this);
  }

  const std::string& service_name() const { return req_.service(); }

  // The status to send next (called under the service's mutex).
  void Update(ServingStatus status) {
    absl::MutexLock lock(&mu_);
    wanted_ = status;
    MaybeWrite();
  }

  // Ends the stream with UNAVAILABLE once the status wanted now is sent (called under the
  // service's mutex).
  void End() {
    absl::MutexLock lock(&mu_);
    end_wanted_ = true;
    MaybeWrite();
  }

 private:
  class WriteTag final : public CqTag {
   public:
    explicit WriteTag(WatchCall* call) : call_(call) {}
    void Proceed(bool ok) override { call_->WriteDone(ok); }

   private:
    WatchCall* const call_;
  };
  class DoneTag final : public CqTag {
   public:
    explicit DoneTag(WatchCall* call) : call_(call) {}
    void Proceed(bool) override { call_->Ended(); }

   private:
    WatchCall* const call_;
  };

  void MaybeWrite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || ended_ || broken_ || finishing_) return;
    if (sent_any_ && wanted_ == sent_) {
      if (end_wanted_) {
        finishing_ = true;
        writing_ = true;
        writer_.Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "countd is shutting down"),
                       &write_tag_);
      }
      return;
    }
    writing_ = true;
    sent_any_ = true;
    sent_ = wanted_;
    resp_.set_status(sent_);
    writer_.Write(resp_, &write_tag_);
  }

  void WriteDone(bool ok) {
    bool done;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) broken_ = true;  // the stream is gone; the done notification follows
      MaybeWrite();
      done = ended_ && !writing_;
    }
    if (done) delete this;
  }

  void Ended() {
    service_->Unregister(this);
    bool done;
    {
      absl::MutexLock lock(&mu_);
      ended_ = true;
      done = !writing_;
    }
    if (done) delete this;
  }

  HealthService* const service_;
  grpc::ServerCompletionQueue* const cq_;
  grpc::ServerContext ctx_;
  HealthCheckRequest req_;
  HealthCheckResponse resp_;
  grpc::ServerAsyncWriter<HealthCheckResponse> writer_;
  WriteTag write_tag_;
  DoneTag done_tag_;
  absl::Mutex mu_;
  ServingStatus wanted_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  ServingStatus sent_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  bool sent_any_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool end_wanted_ ABSL_GUARDED_BY(mu_) = false;  // End was called
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;   // the Finish is out (no write may follow)
};

HealthService::HealthService(CallObserver* observer)
    : check_observer_(observer->ObserveMethod("/grpc.health.v1.Health/Check")) {
  absl::MutexLock lock(&mu_);
  serving_[""] = true;
}

HealthService::~HealthService() = default;

std::unique_ptr<grpc::ServerBuilderOption> HealthService::BuilderOption() {
  return std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(
      std::make_unique<HealthStatusSetter>(this));
}

void HealthService::ServeOn(grpc::ServerCompletionQueue* cq) {
  (new CheckCall(this, cq))->Request();
  (new WatchCall(this, cq))->Request();
}

void HealthService::SetServingStatus(const std::string& service, bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  serving_[service] = serving;
  NotifyWatches(&service);
}

void HealthService::SetServingStatus(bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  for (auto& [name, value] : serving_) value = serving;
  NotifyWatches(nullptr);
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  for (auto& [name, value] : serving_) value = false;
  shut_down_ = true;
  NotifyWatches(nullptr);
}

HealthService::ServingStatus HealthService::StatusOf(const std::string& service) const {
  auto it = serving_.find(service);
  if (it == serving_.end()) return HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

void HealthService::NotifyWatches(const std::string* service) {
  for (WatchCall* watch : watches_) {
    if (service == nullptr || watch->service_name() == *service) {
      watch->Update(StatusOf(watch->service_name()));
    }
  }
}

void HealthService::EndWatches() {
  absl::MutexLock lock(&mu_);
  ending_watches_ = true;
  for (WatchCall* watch : watches_) watch->End();
}

void HealthService::Register(WatchCall* watch) {
  absl::MutexLock lock(&mu_);
  watches_.insert(watch);
  watch->Update(StatusOf(watch->service_name()));
  if (ending_watches_) watch->End();
}

void HealthService::Unregister(WatchCall* watch) {
  absl::MutexLock lock(&mu_);
  watches_.erase(watch);
}

}  // namespace countd::grpc_edge
