// server/grpc/table_service.h — a countd.v1 gRPC service served from its method table
// (server/api/rpc.h) through gRPC's asynchronous completion-queue API: each row becomes an async
// method whose calls are checked (GrpcAuth), run on the executor and finished with the status
// mapped once (grpc_status.h), reported to a CallObserver on the way.
#ifndef COUNTD_SERVER_GRPC_TABLE_SERVICE_H_
#define COUNTD_SERVER_GRPC_TABLE_SERVICE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/async_unary_call.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "server/api/rpc.h"
#include "server/executor.h"
#include "server/grpc/call_observer.h"
#include "server/grpc/completion_queues.h"
#include "server/grpc/grpc_auth.h"
#include "server/grpc/grpc_status.h"

namespace countd::grpc_edge {

// The request's tenant field, or empty for a request without one.
template <typename Req, typename = void>
struct HasTenant : std::false_type {};
template <typename Req>
struct HasTenant<Req, std::void_t<decltype(std::declval<const Req&>().tenant())>> : std::true_type {
};
template <typename Req>
absl::string_view TenantOf(const Req& req) {
  if constexpr (HasTenant<Req>::value) {
    return req.tenant();
  } else {
    return {};
  }
}

// What the calls of one service share.
struct TableCallEnv {
  Executor* executor = nullptr;
  const GrpcAuth* auth = nullptr;
  // Executor::RunsOnCaller(): the work runs on the polling thread the moment the call arrives, so
  // there is no wait in which the call could be cancelled and no need to hear of cancellation.
  bool inline_work = false;
  // The store whose pending WAL records a reply must wait for (Store::WalFlushPending), or
  // nullptr. On a polling thread that defers (CompletionQueues::DeferWalFlushesOf) the reply is
  // held; on any other thread it flushes first.
  storage::Store* wal_store = nullptr;
  // The end of the shutdown grace (steady_clock nanoseconds; max = not shutting down). gRPC
  // cancels every call still running when it passes; work that was still queued then finishes as
  // cancelled without being done, even if the call's done notification has not reached us yet.
  std::atomic<int64_t> grace_end_ns{std::numeric_limits<int64_t>::max()};

  bool GraceOver() const {
    return std::chrono::steady_clock::now().time_since_epoch().count() >=
           grace_end_ns.load(std::memory_order_acquire);
  }
};

// One unary call of `Row`'s method, from the request for it to its end. The queue's thread
// delivers its events; the work runs on the executor. Deletes itself.
//
// gRPC hands the request over as bytes (the method is raw) and TableCall parses it itself: a
// request that does not parse (invalid UTF-8 in a string field, truncated or foreign bytes) is
// INVALID_ARGUMENT naming the message type, reported like any other answer, instead of the
// INTERNAL "Unable to parse request" gRPC would send without countd seeing the call.
//
// Events: the call arrives (Proceed in kRequested; ok=false = the server is shutting down and no
// call came), its status is sent (Proceed in kFinishing, ok or not), and, unless the work runs
// inline, the done notification (DoneTag; it comes whenever the call ends, before our status if
// the client cancelled or the deadline passed). The object dies after the last of these.
template <typename Service, typename Row>
class TableCall final : public CqTag, public DeferredReply {
 public:
  using Req = typename Row::Request;
  using Resp = typename Row::Response;

  // The inline first block of a request's arena (bytes).
  static constexpr size_t kArenaInlineBytes = 1024;

  // `on_arena`: parse the request onto an arena (RequestOnArena).
  TableCall(Service* service, grpc::ServerCompletionQueue* cq, int method_index, api::Access access,
            bool on_arena, MethodCallObserver* observer, const TableCallEnv* env)
      : service_(service),
        cq_(cq),
        method_index_(method_index),
        access_(access),
        observer_(observer),
        env_(env),
        on_arena_(on_arena),
        responder_(&ctx_),
        done_tag_(this) {
    if (on_arena_) {
      google::protobuf::ArenaOptions options;
      options.initial_block = arena_block_;
      options.initial_block_size = sizeof(arena_block_);
      req_ = google::protobuf::Arena::CreateMessage<Req>(&arena_.emplace(options));
    }
  }

  // Asks gRPC for the next call of the method on the queue.
  void Request() {
    if (!env_->inline_work) ctx_.AsyncNotifyWhenDone(&done_tag_);
    service_->RequestCall(method_index_, &ctx_, &request_bytes_, &responder_, cq_, this);
  }

  void Proceed(bool ok) override {
    if (state_ == State::kFinishing) {
      Release();
      return;
    }
    if (!ok) {  // no call: the server is shutting down (no done notification follows)
      delete this;
      return;
    }
    // The next call of this method may arrive while this one runs.
    (new TableCall(service_, cq_, method_index_, access_, on_arena_, observer_, env_))->Request();
    start_ = std::chrono::steady_clock::now();
    observer_->Started();
    if (!ParseRequest()) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("request: not a valid ", Req::descriptor()->full_name(),
                                       " message (truncated or foreign bytes, or a string field "
                                       "that is not UTF-8)")));
      return;
    }
    absl::Status admitted = env_->auth->Check(ctx_.client_metadata(), access_, TenantOf(*req_));
    if (!admitted.ok()) {
      Finish(ToGrpcStatus(admitted));
      return;
    }
    if (!env_->executor->Schedule([this] { Run(); })) {
      Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "server overloaded: request queue is full"));
    }
  }

 private:
  enum class State { kRequested, kFinishing };

  // Parses request_bytes_ into *req_ with gRPC's own deserializer (which frees the bytes).
  bool ParseRequest() {
    return grpc::GenericDeserialize<grpc::ProtoBufferReader, Req>(&request_bytes_, req_).ok();
  }

  class DoneTag final : public CqTag {
   public:
    explicit DoneTag(TableCall* call) : call_(call) {}
    void Proceed(bool) override {
      call_->ended_.store(true, std::memory_order_release);
      call_->Release();
    }

   private:
    TableCall* const call_;
  };

  void Run() {
    // The call ended before its work ran: the client cancelled it, its deadline passed, or the
    // server's shutdown grace ran out (gRPC cancels the call; its notification may still be on
    // the way).
    if (ended_.load(std::memory_order_acquire) || env_->GraceOver()) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled before it ran"));
      return;
    }
    Finish(ToGrpcStatus(Row::Call(service_->api(), *req_, &resp_)));
  }

  // Sends `status` (and the response when it is OK), or holds it until the WAL records of the
  // writes before it are flushed (CompletionQueues::Defer). The object may be gone when this
  // returns.
  void Finish(const grpc::Status& status) {
    if (CompletionQueues::Defer(this)) {
      held_ = status;
      return;
    }
    if (env_->wal_store != nullptr && env_->wal_store->WalFlushPending()) {
      held_ = status;
      Send(env_->wal_store->FlushWal());
      return;
    }
    Answer(status);
  }

  void Send(const absl::Status& flushed) override {
    if (held_.ok() && !flushed.ok()) {
      Answer(ToGrpcStatus(flushed));  // written, but not known to be in the WAL: not acknowledged
      return;
    }
    Answer(held_);
  }

  void Answer(const grpc::Status& status) {
    observer_->Finished(
        status, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
        ctx_);
    state_ = State::kFinishing;
    if (!status.ok()) {
      responder_.FinishWithError(status, this);
      return;
    }
    grpc::ByteBuffer reply;
    bool own_buffer = false;
    grpc::Status serialized =
        grpc::GenericSerialize<grpc::ProtoBufferWriter, Resp>(resp_, &reply, &own_buffer);
    if (!serialized.ok()) {
      responder_.FinishWithError(serialized, this);
      return;
    }
    responder_.Finish(reply, status, this);
  }

  void Release() {
    if (env_->inline_work || refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  Service* const service_;
  grpc::ServerCompletionQueue* const cq_;
  const int method_index_;
  const api::Access access_;
  MethodCallObserver* const observer_;
  const TableCallEnv* const env_;
  grpc::ServerContext ctx_;
  const bool on_arena_;
  // With on_arena_ the request is parsed onto arena_ (first block inline), else into inline_req_.
  alignas(alignof(std::max_align_t)) char arena_block_[kArenaInlineBytes];
  std::optional<google::protobuf::Arena> arena_;
  Req inline_req_;
  Req* req_ = &inline_req_;
  grpc::ByteBuffer request_bytes_;  // the request as received, until ParseRequest
  Resp resp_;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> responder_;
  DoneTag done_tag_;
  // Set before the status is sent and read by the queue's thread after that completes (the queue
  // orders the two).
  State state_ = State::kRequested;
  std::chrono::steady_clock::time_point start_;
  grpc::Status held_;               // the answer held by Finish until Send
  std::atomic<bool> ended_{false};  // the done notification came
  std::atomic<int> refs_{2};        // the status sent + the done notification (not inline)
};

// Whether calls parse requests of `type` onto an arena: those with a repeated message field
// (IncrementCounters' counters, GetCounters' queries, ...), where parsing a large request would
// otherwise allocate and free every nested message; an arena takes a few blocks. Small requests
// are parsed into the call object, as an arena's own setup would cost them more than it saves.
inline bool RequestOnArena(const google::protobuf::Descriptor& type) {
  for (int i = 0; i < type.field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = type.field(i);
    if (f->is_repeated() && f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      return true;
    }
  }
  return false;
}

// `GeneratedService` is the generated base of the service (e.g. v1::Tally::Service): it
// registers every RPC of the .proto with the gRPC server, so reflection lists them all. The
// constructor marks each RPC asynchronous, as the generated AsyncService does (through
// grpc::Service::MarkMethodAsync and RequestAsyncUnary, the gRPC 1.51 codegen API it uses), and
// serves it with the table row of the same name. A table that does not match the .proto is a
// broken build and aborts at start (tests/unit/api/rpc_test.cc catches it first).
// Thread-safe; `api`, `executor`, `auth` and `observer` must outlive it. It must outlive the
// server's shutdown and the CompletionQueues' Stop (its calls refer to it).
template <typename GeneratedService, typename Api, typename Table>
class TableService final : public GeneratedService, public CqService {
 public:
  TableService(Api* api, const Table& table, Executor* executor, const GrpcAuth* auth,
               CallObserver* observer)
      : api_(api) {
    env_.executor = executor;
    env_.auth = auth;
    env_.inline_work = executor->RunsOnCaller();
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            absl::StrCat("countd.v1.", table.service));
    if (service == nullptr) std::abort();
    full_name_ = service->full_name();
    table.ForEach([&](const auto& row) { Serve(*service, row, observer); });
    if (static_cast<int>(starters_.size()) != service->method_count()) std::abort();
  }

  void ServeOn(grpc::ServerCompletionQueue* cq) override {
    for (const Starter& start : starters_) start(cq);
  }

  // Replies wait for `store`'s pending WAL records (TableCallEnv::wal_store). Call before the
  // server starts.
  void FlushWalBeforeReplies(storage::Store* store) { env_.wal_store = store; }

  void CancelWorkStartingAfter(std::chrono::steady_clock::time_point grace_end) override {
    env_.grace_end_ns.store(grace_end.time_since_epoch().count(), std::memory_order_release);
  }

  Api* api() const { return api_; }
  // The service's full name ("countd.v1.Tally").
  const std::string& full_name() const { return full_name_; }

  // RequestAsyncUnary is protected in grpc::Service; TableCall asks through this (for the raw
  // bytes of a request: TableCall parses them).
  void RequestCall(int index, grpc::ServerContext* ctx, grpc::ByteBuffer* request,
                   grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>* responder,
                   grpc::ServerCompletionQueue* cq, void* tag) {
    this->RequestAsyncUnary(index, ctx, request, responder, cq, cq, tag);
  }

 private:
  using Starter = std::function<void(grpc::ServerCompletionQueue*)>;

  template <typename Row>
  void Serve(const google::protobuf::ServiceDescriptor& service, const Row& row,
             CallObserver* observer) {
    using Req = typename Row::Request;
    using Resp = typename Row::Response;
    static_assert(std::is_same_v<typename Row::ApiType, Api>, "a row of another service");
    const google::protobuf::MethodDescriptor* method =
        service.FindMethodByName(std::string(row.name));
    if (method == nullptr || method->input_type() != Req::descriptor() ||
        method->output_type() != Resp::descriptor() || method->client_streaming() ||
        method->server_streaming()) {
      std::abort();
    }
    const int index = method->index();
    // Raw: gRPC passes the request's bytes and sends the reply's as they are; TableCall parses
    // and serializes (so a request that does not parse is countd's INVALID_ARGUMENT).
    this->MarkMethodRaw(index);
    MethodCallObserver* method_observer =
        observer->ObserveMethod(absl::StrCat("/", service.full_name(), "/", method->name()));
    const api::Access access = row.access;
    const bool on_arena = RequestOnArena(*Req::descriptor());
    starters_.push_back([this, index, access, on_arena,
                         method_observer](grpc::ServerCompletionQueue* cq) {
      (new TableCall<TableService, Row>(this, cq, index, access, on_arena, method_observer, &env_))
          ->Request();
    });
  }

  Api* const api_;
  std::string full_name_;
  TableCallEnv env_;
  std::vector<Starter> starters_;  // one per row
};

// The service of `table` over `api`, e.g. MakeTableService<v1::Tally::Service>(&tally_api,
// api::kTallyMethods, executor, auth, observer).
template <typename GeneratedService, typename Api, typename Table>
std::unique_ptr<TableService<GeneratedService, Api, Table>> MakeTableService(
    Api* api, const Table& table, Executor* executor, const GrpcAuth* auth,
    CallObserver* observer) {
  return std::make_unique<TableService<GeneratedService, Api, Table>>(api, table, executor, auth,
                                                                      observer);
}

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_TABLE_SERVICE_H_
