// tests/unit/grpc/health_service_test.cc — grpc.health.v1.Health on countd's completion queues:
// Check answers, Watch streams the status and its changes, cancelled watches are released, and
// the status is set through grpc::Server::GetHealthCheckService() as with gRPC's own service.
#include "server/grpc/health_service.h"

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "server/grpc/completion_queues.h"

namespace countd::grpc_edge {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// Counts what the service reports for Check.
class CountingObserver : public CallObserver, public MethodCallObserver {
 public:
  MethodCallObserver* ObserveMethod(const std::string& method_path) override {
    paths_.push_back(method_path);
    return this;
  }
  void Started() override {
    absl::MutexLock lock(&mu_);
    ++started_;
  }
  void Finished(const grpc::Status& status, double, const grpc::ServerContext&) override {
    absl::MutexLock lock(&mu_);
    ++finished_[status.error_code()];
  }
  int started() {
    absl::MutexLock lock(&mu_);
    return started_;
  }
  int finished(grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    return finished_[code];
  }
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::vector<std::string> paths_;
  absl::Mutex mu_;
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<grpc::StatusCode, int> finished_ ABSL_GUARDED_BY(mu_);
};

class HealthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_ = std::make_unique<HealthService>(&observer_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.SetOption(service_->BuilderOption());
    builder.RegisterService(service_.get());
    queues_ = std::make_unique<CompletionQueues>(builder, 2);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    queues_->Start({service_.get()});
    stub_ = Health::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    server_->Wait();
    queues_->Stop();
    server_.reset();
  }

  // Opens a Watch of "" on `ctx` and reads its first status, which must be SERVING.
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> WatchServing(grpc::ClientContext* ctx) {
    std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader =
        stub_->Watch(ctx, HealthCheckRequest());
    HealthCheckResponse resp;
    EXPECT_TRUE(reader->Read(&resp));
    EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);
    return reader;
  }

  grpc::Status Check(const std::string& service, HealthCheckResponse* resp) {
    HealthCheckRequest req;
    req.set_service(service);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return stub_->Check(&ctx, req, resp);
  }

  CountingObserver observer_;
  std::unique_ptr<HealthService> service_;
  std::unique_ptr<CompletionQueues> queues_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(HealthServiceTest, CheckAnswersTheStatusSetThroughTheServer) {
  EXPECT_EQ(observer_.paths(), std::vector<std::string>{"/grpc.health.v1.Health/Check"});
  HealthCheckResponse resp;
  ASSERT_TRUE(Check("", &resp).ok());
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);  // "" serves from the start
  grpc::Status unknown = Check("countd.v1.Counters", &resp);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(unknown.error_message(), "service name unknown");

  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  ASSERT_NE(health, nullptr);
  health->SetServingStatus("countd.v1.Counters", true);
  ASSERT_TRUE(Check("countd.v1.Counters", &resp).ok());
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);
  health->SetServingStatus(false);  // every name
  ASSERT_TRUE(Check("", &resp).ok());
  EXPECT_EQ(resp.status(), HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(Check("countd.v1.Counters", &resp).ok());
  EXPECT_EQ(resp.status(), HealthCheckResponse::NOT_SERVING);

  health->Shutdown();  // NOT_SERVING for good
  health->SetServingStatus(true);
  ASSERT_TRUE(Check("", &resp).ok());
  EXPECT_EQ(resp.status(), HealthCheckResponse::NOT_SERVING);

  EXPECT_EQ(observer_.started(), 6);
  EXPECT_EQ(observer_.finished(grpc::StatusCode::OK), 5);
  EXPECT_EQ(observer_.finished(grpc::StatusCode::NOT_FOUND), 1);
}

TEST_F(HealthServiceTest, WatchSendsTheStatusThenEveryChangeUntilCancelled) {
  HealthCheckRequest req;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader = stub_->Watch(&ctx, req);
  HealthCheckResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);
  server_->GetHealthCheckService()->SetServingStatus(false);
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::NOT_SERVING);
  server_->GetHealthCheckService()->SetServingStatus(false);  // no change: nothing sent
  server_->GetHealthCheckService()->SetServingStatus(true);
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);

  // A watch of a name nobody set hears SERVICE_UNKNOWN, and stays open.
  HealthCheckRequest other;
  other.set_service("nope");
  grpc::ClientContext other_ctx;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> other_reader =
      stub_->Watch(&other_ctx, other);
  ASSERT_TRUE(other_reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVICE_UNKNOWN);

  ctx.TryCancel();
  other_ctx.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(other_reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // Changes after the cancel reach no released watch (ASan would see a use after free).
  server_->GetHealthCheckService()->SetServingStatus(false);
  // The cancelled watches are released: the shutdown in TearDown does not wait for them.
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
}

TEST_F(HealthServiceTest, ShutdownEndsAWatchStillOpenAfterTheGrace) {
  HealthCheckRequest req;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader = stub_->Watch(&ctx, req);
  HealthCheckResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
  while (reader->Read(&resp)) {
  }
  EXPECT_FALSE(reader->Finish().ok());
}

// EndWatches (the server's shutdown starting): an open Watch gets its last status, NOT_SERVING,
// then ends with UNAVAILABLE at once, so the shutdown does not wait out its grace; a Watch that
// starts afterwards is answered once and ended too.
TEST_F(HealthServiceTest, EndWatchesEndsOpenAndNewWatchesAfterTheirLastStatus) {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader = WatchServing(&ctx);
  HealthCheckResponse resp;

  server_->GetHealthCheckService()->SetServingStatus(false);
  service_->EndWatches();
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&resp));
  grpc::Status ended = reader->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();

  grpc::ClientContext late_ctx;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> late =
      stub_->Watch(&late_ctx, HealthCheckRequest());
  ASSERT_TRUE(late->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(late->Read(&resp));
  EXPECT_EQ(late->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);

  // Nothing is left open: the shutdown returns well before a long grace.
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace countd::grpc_edge
