// grpc-ceiling: a bare gRPC server on the project's gRPC build, the transport's ceiling for
// bench/compare (spec/performance.md). A generic service answers every unary call, whatever its
// method, with OK and an empty (zero-length) reply message; nothing else runs per call.
//
//   grpc-ceiling [--port=0] [--api=callback|cq] [--cq-threads=1]
//
// --api=callback serves through grpc::CallbackGenericService (the API countd uses);
// --api=cq through grpc::AsyncGenericService on --cq-threads completion queues, one polling
// thread each. Listens on 127.0.0.1 only; port 0 picks a free port. Prints
// "grpc listening on 127.0.0.1:PORT" once serving, and on SIGTERM/SIGINT stops (in-flight calls get
// 1 s), prints "served N calls" (calls answered OK) and exits 0. Exit status 2 for usage errors,
// 1 when the port cannot be bound.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

ABSL_FLAG(int, port, 0, "loopback port to listen on; 0 picks a free one");
ABSL_FLAG(std::string, api, "callback",
          "callback (grpc::CallbackGenericService) | cq (grpc::AsyncGenericService polled by "
          "--cq-threads threads)");
ABSL_FLAG(int, cq_threads, 1, "with --api=cq: completion queues, one polling thread each (1-64)");

namespace countd::bench {
namespace {

// Calls requested ahead on each completion queue, so that arriving calls rarely wait for the
// polling thread to ask for the next one (each arrival asks for one more).
constexpr int kCallsRequestedPerQueue = 64;
// How long in-flight calls may run after a stop signal before they are cancelled.
constexpr std::chrono::seconds kShutdownGrace(1);

// What every call shares: the reply and the count of calls answered. Thread-safe.
struct Shared {
  // A zero-length message. A default-constructed ByteBuffer is not valid and would send no
  // message at all (a unary client then fails the call), so this one holds one empty slice.
  grpc::Slice empty_slice;
  const grpc::ByteBuffer reply{&empty_slice, 1};
  std::atomic<int64_t> calls{0};
};

// --api=callback: one reactor per call reads the request message, then writes the reply and
// finishes in one step.
class CallbackService final : public grpc::CallbackGenericService {
 public:
  explicit CallbackService(Shared* shared) : shared_(shared) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* /*ctx*/) override {
    return new Reactor(shared_);
  }

 private:
  class Reactor final : public grpc::ServerGenericBidiReactor {
   public:
    explicit Reactor(Shared* shared) : shared_(shared) { StartRead(&request_); }

    void OnReadDone(bool ok) override {
      if (!ok) {  // The client sent no message (or the call was cancelled).
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message"));
        return;
      }
      shared_->calls.fetch_add(1, std::memory_order_relaxed);
      StartWriteAndFinish(&shared_->reply, grpc::WriteOptions(), grpc::Status::OK);
    }

    void OnDone() override { delete this; }

   private:
    Shared* const shared_;
    grpc::ByteBuffer request_;
  };

  Shared* const shared_;
};

// --api=cq: one call's state machine on one completion queue; the call object is its own tag.
// Only the thread polling that queue touches it.
class CqCall {
 public:
  // Asks for the next call on `cq`; the object deletes itself when that call is over.
  static void Request(grpc::AsyncGenericService* service, grpc::ServerCompletionQueue* cq,
                      Shared* shared) {
    auto* call = new CqCall(service, cq, shared);
    service->RequestCall(&call->ctx_, &call->stream_, cq, cq, call);
  }

  // Advances the state machine after this call's pending operation completed with `ok`.
  void Proceed(bool ok) {
    switch (state_) {
      case State::kRequested:
        if (!ok) {  // The server is shutting down: no call came.
          delete this;
          return;
        }
        Request(service_, cq_, shared_);
        state_ = State::kReading;
        stream_.Read(&request_, this);
        return;
      case State::kReading:
        state_ = State::kFinishing;
        if (!ok) {
          stream_.Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message"),
                         this);
          return;
        }
        shared_->calls.fetch_add(1, std::memory_order_relaxed);
        stream_.WriteAndFinish(shared_->reply, grpc::WriteOptions(), grpc::Status::OK, this);
        return;
      case State::kFinishing: delete this; return;
    }
  }

 private:
  enum class State { kRequested, kReading, kFinishing };

  CqCall(grpc::AsyncGenericService* service, grpc::ServerCompletionQueue* cq, Shared* shared)
      : service_(service), cq_(cq), shared_(shared), stream_(&ctx_) {}

  grpc::AsyncGenericService* const service_;
  grpc::ServerCompletionQueue* const cq_;
  Shared* const shared_;
  grpc::GenericServerContext ctx_;
  grpc::GenericServerAsyncReaderWriter stream_;
  grpc::ByteBuffer request_;
  State state_ = State::kRequested;
};

// Polls `cq` until it is shut down and drained.
void PollQueue(grpc::ServerCompletionQueue* cq) {
  void* tag;
  bool ok;
  while (cq->Next(&tag, &ok)) static_cast<CqCall*>(tag)->Proceed(ok);
}

int Usage(std::string_view message) {
  std::fprintf(stderr, "grpc-ceiling: %.*s\n", static_cast<int>(message.size()), message.data());
  return 2;
}

// Lets flags be spelled with dashes (--cq-threads) as well as absl's underscores.
void AcceptDashedFlagNames(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.substr(0, 2) != "--") continue;
    for (char* p = argv[i] + 2; *p != '\0' && *p != '='; ++p) {
      if (*p == '-') *p = '_';
    }
  }
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "a bare gRPC server that answers every unary call with an empty reply.\n"
      "  grpc-ceiling [--port=0] [--api=callback|cq] [--cq-threads=1]");
  // As in countd (server/main.cc): Debian's Abseil has Mutex deadlock detection on, and gRPC
  // creates a Mutex per call; the ceiling must not pay a cost countd does not.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  AcceptDashedFlagNames(argc, argv);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) return Usage(absl::StrCat("unexpected argument '", rest[1], "'"));
  const int port = absl::GetFlag(FLAGS_port);
  const std::string api = absl::GetFlag(FLAGS_api);
  const int cq_threads = absl::GetFlag(FLAGS_cq_threads);
  if (port < 0 || port > 65535) return Usage("--port must be 0-65535");
  if (api != "callback" && api != "cq") return Usage("--api must be callback or cq");
  if (cq_threads < 1 || cq_threads > 64) return Usage("--cq-threads must be 1-64");

  // The stop signals are taken by sigwait() below; blocked before gRPC starts its threads, which
  // inherit the mask, so no other thread receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Shared shared;
  CallbackService callback_service(&shared);
  grpc::AsyncGenericService async_service;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(),
                           &bound_port);
  if (api == "callback") {
    builder.RegisterCallbackGenericService(&callback_service);
  } else {
    builder.RegisterAsyncGenericService(&async_service);
    for (int i = 0; i < cq_threads; ++i) queues.push_back(builder.AddCompletionQueue());
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    std::fprintf(stderr, "grpc-ceiling: cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  std::vector<std::thread> pollers;
  for (auto& cq : queues) {
    for (int i = 0; i < kCallsRequestedPerQueue; ++i) {
      CqCall::Request(&async_service, cq.get(), &shared);
    }
    pollers.emplace_back(PollQueue, cq.get());
  }
  std::printf("grpc listening on 127.0.0.1:%d\n", bound_port);
  std::fflush(stdout);
  std::fprintf(stderr, "grpc-ceiling: api=%s%s\n", api.c_str(),
               api == "cq" ? absl::StrCat(", ", cq_threads, " polling thread(s)").c_str() : "");

  int sig = 0;
  sigwait(&stop_signals, &sig);
  // Shutdown() returns once every call is released, which needs the pollers still running; only
  // then may the queues shut down (no operation starts on a queue after that).
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  for (auto& cq : queues) cq->Shutdown();
  for (std::thread& t : pollers) t.join();
  std::printf("served %lld calls\n", static_cast<long long>(shared.calls.load()));
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace countd::bench

int main(int argc, char** argv) { return countd::bench::Main(argc, argv); }
