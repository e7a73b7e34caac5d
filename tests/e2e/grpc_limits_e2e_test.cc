// End-to-end tests of the gRPC port's switches and limits through the real countd binary: server
// reflection on and off, the message cap in both directions, the per-call caps of the services,
// concurrent streams per connection, and the idle/age connection policy.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "countd/v1/counters.grpc.pb.h"
#include "countd/v1/gm.grpc.pb.h"
#include "countd/v1/tally.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;
using Code = grpc::StatusCode;

constexpr char kReflection[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kHealthWatch[] = "/grpc.health.v1.Health/Watch";
// ServerReflectionRequest{list_services: "*"}.
const std::string kListServices("\x3a\x01*", 3);

// A channel with its own subchannel pool: its connection is not shared with other channels of
// this process, so connection-level behaviour is the channel's own.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// An open grpc.health.v1.Health/Watch stream: a call that stays in flight until cancelled,
// holding one HTTP/2 stream of its connection.
class HealthWatch {
 public:
  // Starts the watch and waits for its first answer. ok() tells whether that worked.
  explicit HealthWatch(const std::shared_ptr<grpc::Channel>& channel) : stub_(channel) {
    call_ = stub_.PrepareCall(&ctx_, kHealthWatch, &cq_);
    call_->StartCall(Tag(1));
    if (!Await(1, absl::Seconds(10))) return;
    grpc::Slice empty{std::string()};
    grpc::ByteBuffer request(&empty, 1);
    call_->Write(request, Tag(2));
    if (!Await(2, absl::Seconds(10))) return;
    call_->WritesDone(Tag(3));
    if (!Await(3, absl::Seconds(10))) return;
    ok_ = Read(absl::Seconds(10)).value_or(false);
  }

  ~HealthWatch() {
    ctx_.TryCancel();
    grpc::Status status;
    call_->Finish(&status, Tag(9));
    Await(9, absl::Seconds(10));
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  bool ok() const { return ok_; }

  // Reads the next answer: true when one arrived, false when the stream ended, nullopt when
  // nothing happened within `timeout`.
  std::optional<bool> Read(absl::Duration timeout) {
    if (!reading_) {
      call_->Read(&response_, Tag(4));
      reading_ = true;
    }
    std::optional<bool> r = AwaitFor(4, timeout);
    if (r.has_value()) reading_ = false;
    return r;
  }

 private:
  static void* Tag(intptr_t i) { return reinterpret_cast<void*>(i); }

  bool Await(intptr_t tag, absl::Duration timeout) {
    return AwaitFor(tag, timeout).value_or(false);
  }

  // Waits for `tag`; other tags that complete meanwhile are dropped (only one op is pending at
  // a time here, except the read that Finish completes).
  std::optional<bool> AwaitFor(intptr_t tag, absl::Duration timeout) {
    const auto deadline = std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout);
    for (;;) {
      void* got = nullptr;
      bool ok = false;
      grpc::CompletionQueue::NextStatus s = cq_.AsyncNext(&got, &ok, deadline);
      if (s != grpc::CompletionQueue::GOT_EVENT) return std::nullopt;
      if (got == Tag(tag)) return ok;
    }
  }

  grpc::GenericStub stub_;
  grpc::ClientContext ctx_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  grpc::ByteBuffer response_;
  bool reading_ = false;
  bool ok_ = false;
};

class GrpcLimitsE2eTest : public ::testing::Test {
 protected:
  // Starts countd with `args`; fails the test when it does not come up.
  void Start(std::vector<std::string> args = {}) {
    test::ServerProcessOptions options;
    options.data_dir = dir_.Sub(absl::StrCat("data", ++servers_));
    options.extra_args = std::move(args);
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
        test::ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = OwnChannel(server_->grpc_address());
    counters_ = v1::Counters::NewStub(channel_);
    tally_ = v1::Tally::NewStub(channel_);
    gm_ = v1::GameMechanics::NewStub(channel_);
  }

  void TearDown() override {
    if (!HasFailure() || server_ == nullptr) return;
    ADD_FAILURE() << "stdout:\n"
                  << server_->stdout_text().substr(0, 4000) << "\nstderr:\n"
                  << server_->stderr_text().substr(0, 4000);
  }

  grpc::Status Incr(const std::string& visitor_id) {
    v1::IncrRequest req;
    req.set_tenant("t");
    req.set_visitor_id(visitor_id);
    req.set_counter_name("views");
    v1::IncrResponse resp;
    return Rpc(counters_.get(), &v1::Counters::Stub::Incr, req, &resp);
  }

  // Launches countd with `args`, which must make it exit non-zero; returns its stderr.
  std::string ExpectRefusal(std::vector<std::string> args) {
    test::ServerProcessOptions options;
    options.data_dir = dir_.Sub("refused");
    options.extra_args = std::move(args);
    return ExpectRefusedStart(options);
  }

  test::ScopedTempDir dir_;
  int servers_ = 0;
  std::unique_ptr<test::ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Counters::Stub> counters_;
  std::unique_ptr<v1::Tally::Stub> tally_;
  std::unique_ptr<v1::GameMechanics::Stub> gm_;
};

// --- reflection ----------------------------------------------------------------------------------

TEST_F(GrpcLimitsE2eTest, ReflectionOffIsUnimplementedWhileHealthServes) {
  Start({"--grpc-reflection=false"});
  absl::StatusOr<std::string> reflection = RawUnaryCall(channel_, kReflection, kListServices);
  EXPECT_EQ(reflection.status().code(), absl::StatusCode::kUnimplemented) << reflection.status();
  absl::StatusOr<std::string> health = RawUnaryCall(channel_, kHealthCheck, std::string());
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, std::string("\x08\x01", 2)) << "want SERVING";
  EXPECT_THAT(Incr("v1"), IsOk());
}

TEST_F(GrpcLimitsE2eTest, ReflectionIsOnByDefault) {
  Start();
  absl::StatusOr<std::string> reflection = RawUnaryCall(channel_, kReflection, kListServices);
  ASSERT_TRUE(reflection.ok()) << reflection.status();
  EXPECT_THAT(*reflection, HasSubstr("countd.v1.Counters"));
}

// --- message size --------------------------------------------------------------------------------

TEST_F(GrpcLimitsE2eTest, DefaultMessageCapIsFourMebibytes) {
  Start();
  // Under the cap the request reaches the service (which refuses the long id by name)...
  grpc::Status under = Incr(std::string((4 << 20) - 1024, 'v'));
  EXPECT_THAT(under, IsError(Code::INVALID_ARGUMENT, "visitor_id"));
  // ...over it gRPC refuses it before any service code runs.
  grpc::Status over = Incr(std::string((4 << 20) + 1024, 'v'));
  EXPECT_EQ(over.error_code(), Code::RESOURCE_EXHAUSTED) << Describe(over);
  EXPECT_THAT(Incr("v1"), IsOk());
}

TEST_F(GrpcLimitsE2eTest, MessageCapAppliesToRequestsAndResponses) {
  Start({"--grpc-max-message-bytes=65536"});
  grpc::Status over = Incr(std::string(70000, 'v'));
  EXPECT_EQ(over.error_code(), Code::RESOURCE_EXHAUSTED) << Describe(over);
  EXPECT_THAT(Incr(std::string(60000, 'v')), IsError(Code::INVALID_ARGUMENT, "visitor_id"));

  // Eight countables with 16 KiB of metadata each: every request fits, the top-K with metadata
  // (~128 KiB) does not fit in one response; without metadata it does.
  for (int i = 0; i < 8; ++i) {
    v1::TallyIncrementRequest inc;
    inc.set_tenant("t");
    inc.set_op(v1::OP_TOPK);
    inc.set_counter("big");
    inc.set_countable(absl::StrCat("c", i));
    inc.set_window_minutes(60);
    inc.set_metadata(std::string(16384, 'm'));
    v1::TallyIncrementResponse inc_resp;
    ASSERT_THAT(Rpc(tally_.get(), &v1::Tally::Stub::Increment, inc, &inc_resp), IsOk());
  }
  v1::GetTopKRequest top;
  top.set_tenant("t");
  top.set_counter("big");
  top.set_with_metadata(true);
  v1::GetTopKResponse top_resp;
  grpc::Status s = Rpc(tally_.get(), &v1::Tally::Stub::GetTopK, top, &top_resp);
  EXPECT_EQ(s.error_code(), Code::RESOURCE_EXHAUSTED) << Describe(s);
  top.set_with_metadata(false);
  ASSERT_THAT(Rpc(tally_.get(), &v1::Tally::Stub::GetTopK, top, &top_resp), IsOk());
  EXPECT_EQ(top_resp.items_size(), 8);
}

// --- per-call caps of the services -----------------------------------------------------------

TEST_F(GrpcLimitsE2eTest, PerCallCapsAreInvalidArgumentNamingTheField) {
  Start();
  v1::RegisterCountersRequest reg;
  reg.set_tenant("t");
  auto* pair = reg.add_counters();
  pair->set_class_("c");
  pair->set_path("/");
  v1::RegisterCountersResponse reg_resp;
  ASSERT_THAT(Rpc(counters_.get(), &v1::Counters::Stub::RegisterCounters, reg, &reg_resp), IsOk());

  // IncrementCounters: 100 counters are fine, 101 are not.
  v1::IncrementCountersRequest inc;
  inc.set_tenant("t");
  inc.set_uid("u");
  for (int i = 0; i < 100; ++i) {
    auto* c = inc.add_counters();
    c->set_class_("c");
    c->set_path("/");
  }
  v1::IncrementCountersResponse inc_resp;
  EXPECT_THAT(Rpc(counters_.get(), &v1::Counters::Stub::IncrementCounters, inc, &inc_resp), IsOk());
  auto* extra = inc.add_counters();
  extra->set_class_("c");
  extra->set_path("/");
  grpc::Status s = Rpc(counters_.get(), &v1::Counters::Stub::IncrementCounters, inc, &inc_resp);
  EXPECT_THAT(s, IsError(Code::INVALID_ARGUMENT, "counters"));
  EXPECT_THAT(s.error_message(), HasSubstr("at most 100"));

  // GetCounters: at most 100 filters.
  v1::GetCountersRequest get;
  get.set_tenant("t");
  get.set_uid("u");
  for (int i = 0; i < 101; ++i) get.add_counters()->set_class_("c");
  v1::GetCountersResponse get_resp;
  EXPECT_THAT(Rpc(counters_.get(), &v1::Counters::Stub::GetCounters, get, &get_resp),
              IsError(Code::INVALID_ARGUMENT, "counters"));

  // Stash GetBatch: at most 10 keys.
  v1::GetBatchRequest batch;
  batch.set_tenant("t");
  for (int i = 0; i < 11; ++i) batch.add_keys(absl::StrCat("v", i, ":views:2024-01-01"));
  v1::GetBatchResponse batch_resp;
  EXPECT_THAT(Rpc(counters_.get(), &v1::Counters::Stub::GetBatch, batch, &batch_resp),
              IsError(Code::INVALID_ARGUMENT, "keys"));

  // GameMechanics GetTopUsers: total_count at most 100.
  v1::GetTopUsersRequest top;
  top.set_tenant("t");
  top.set_total_count(101);
  v1::GetTopUsersResponse top_resp;
  EXPECT_THAT(Rpc(gm_.get(), &v1::GameMechanics::Stub::GetTopUsers, top, &top_resp),
              IsError(Code::INVALID_ARGUMENT, "total_count"));

  // Tally: metadata at most 16384 characters.
  v1::TallyIncrementRequest tally;
  tally.set_tenant("t");
  tally.set_op(v1::OP_TOPK);
  tally.set_counter("c");
  tally.set_countable("x");
  tally.set_window_minutes(60);
  tally.set_metadata(std::string(16385, 'm'));
  v1::TallyIncrementResponse tally_resp;
  EXPECT_THAT(Rpc(tally_.get(), &v1::Tally::Stub::Increment, tally, &tally_resp),
              IsError(Code::INVALID_ARGUMENT, "metadata"));
}

// --- streams and connections -----------------------------------------------------------------

TEST_F(GrpcLimitsE2eTest, CallsBeyondMaxConcurrentStreamsWaitForAFreeStream) {
  Start({"--grpc-max-concurrent-streams=1"});
  std::optional<HealthWatch> watch;
  watch.emplace(channel_);
  ASSERT_TRUE(watch->ok());
  // The connection's one stream is taken: a second call on it waits until its deadline.
  v1::IncrRequest req;
  req.set_tenant("t");
  req.set_visitor_id("v1");
  req.set_counter_name("views");
  v1::IncrResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  grpc::Status waited = counters_->Incr(&ctx, req, &resp);
  EXPECT_EQ(waited.error_code(), Code::DEADLINE_EXCEEDED) << Describe(waited);
  // Another connection has streams of its own.
  std::unique_ptr<v1::Counters::Stub> other =
      v1::Counters::NewStub(OwnChannel(server_->grpc_address()));
  EXPECT_THAT(Rpc(other.get(), &v1::Counters::Stub::Incr, req, &resp), IsOk());
  // Once the watch ends, the first connection serves again.
  watch.reset();
  EXPECT_THAT(Incr("v1"), IsOk());
}

TEST_F(GrpcLimitsE2eTest, IdleConnectionIsClosedAfterMaxConnectionIdle) {
  Start({"--grpc-max-connection-idle=1s"});
  ASSERT_THAT(Incr("v1"), IsOk());
  ASSERT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
  const absl::Time start = absl::Now();
  // The server's GOAWAY takes the channel out of READY (no sleep: a state-change wait).
  EXPECT_TRUE(channel_->WaitForStateChange(
      GRPC_CHANNEL_READY, std::chrono::system_clock::now() + std::chrono::seconds(10)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(500));
  EXPECT_THAT(Incr("v1"), IsOk());  // the client reconnects on demand
}

TEST_F(GrpcLimitsE2eTest, MaxConnectionAgeClosesEvenABusyConnectionAfterTheGrace) {
  Start({"--grpc-max-connection-age=1s", "--grpc-max-connection-age-grace=1s",
         "--grpc-max-connection-idle=0"});
  HealthWatch watch(channel_);
  ASSERT_TRUE(watch.ok());
  const absl::Time start = absl::Now();
  // The watch never ends on its own; the connection's age (+-10%) plus the grace ends it.
  std::optional<bool> read = watch.Read(absl::Seconds(15));
  ASSERT_TRUE(read.has_value()) << "the stream was not ended within 15s";
  EXPECT_FALSE(*read);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(1500));
  EXPECT_THAT(Incr("v1"), IsOk());
}

// --- flags -------------------------------------------------------------------------------------

TEST_F(GrpcLimitsE2eTest, OutOfRangeLimitsAreRefusedNamingTheFlag) {
  for (const auto& [arg, flag] : std::vector<std::pair<std::string, std::string>>{
           {"--grpc-max-message-bytes=100", "--grpc-max-message-bytes"},
           {"--grpc-max-concurrent-streams=0", "--grpc-max-concurrent-streams"},
           {"--grpc-max-connection-idle=-1s", "--grpc-max-connection-idle"},
           {"--grpc-max-connection-age=100ms", "--grpc-max-connection-age"},
           {"--grpc-keepalive-time=1s", "--grpc-keepalive-time"},
           {"--http-max-connections=0", "--http-max-connections"},
           {"--http-max-url-bytes=100", "--http-max-url-bytes"},
           {"--grpc-reflection=maybe", "grpc_reflection"},
       }) {
    EXPECT_THAT(ExpectRefusal({arg}), HasSubstr(flag)) << arg;
  }
}

}  // namespace
}  // namespace countd::e2e
