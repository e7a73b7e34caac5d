// End-to-end tests of bench/grpc-ceiling, the bare gRPC server bench/compare measures countd
// against: with either API it answers any unary call OK with an empty reply, counts the calls,
// stops on SIGTERM, and refuses bad flags.
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <signal.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "countd/v1/counters.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kDeadline = absl::Seconds(10);

absl::StatusOr<std::unique_ptr<test::ServerProcess>> StartCeiling(std::vector<std::string> args) {
  test::ServerProcessOptions options;
  options.binary = GRPC_CEILING_BINARY;
  options.countd_args = false;
  options.wait_for_http = false;
  options.extra_args = std::move(args);
  return test::ServerProcess::Start(options);
}

class GrpcCeilingE2eTest : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(GrpcCeilingE2eTest, AnswersEveryUnaryCallWithEmptyReplyAndStopsOnSigterm) {
  std::vector<std::string> args = GetParam();
  args.push_back("--port=0");
  absl::StatusOr<std::unique_ptr<test::ServerProcess>> server = StartCeiling(args);
  ASSERT_TRUE(server.ok()) << server.status();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel((*server)->grpc_address(), grpc::InsecureChannelCredentials());

  // A countd stub: the call succeeds and the reply parses as an empty IncrResponse.
  auto stub = v1::Counters::NewStub(channel);
  v1::IncrRequest request;
  request.set_tenant("bench");
  request.set_visitor_id("v1");
  request.set_counter_name("c");
  v1::IncrResponse response;
  response.set_key("not cleared");
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kDeadline));
  grpc::Status status = stub->Incr(&ctx, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.key(), "");

  // A generic call of a method no service defines: OK, and a reply of zero bytes.
  grpc::GenericStub generic(channel);
  grpc::Slice slice(std::string("any bytes"));
  grpc::ByteBuffer generic_request(&slice, 1);
  grpc::ByteBuffer generic_response;
  grpc::ClientContext generic_ctx;
  generic_ctx.set_deadline(absl::ToChronoTime(absl::Now() + kDeadline));
  absl::Notification done;
  grpc::Status generic_status;
  generic.UnaryCall(&generic_ctx, "/no.such.Service/Method", grpc::StubOptions(), &generic_request,
                    &generic_response, [&](grpc::Status s) {
                      generic_status = std::move(s);
                      done.Notify();
                    });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kDeadline));
  ASSERT_TRUE(generic_status.ok()) << generic_status.error_message();
  EXPECT_TRUE(generic_response.Valid());
  EXPECT_EQ(generic_response.Length(), 0u);

  ASSERT_TRUE((*server)->Signal(SIGTERM).ok());
  std::optional<test::ExitStatus> exit = (*server)->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(exit.has_value()) << "grpc-ceiling still runs 10 s after SIGTERM";
  EXPECT_TRUE(exit->Success()) << exit->ToString() << "\n" << (*server)->stderr_text();
  EXPECT_THAT((*server)->stdout_text(), HasSubstr("\nserved 2 calls\n"));
}

INSTANTIATE_TEST_SUITE_P(Apis, GrpcCeilingE2eTest,
                         ::testing::Values(std::vector<std::string>{"--api=callback"},
                                           std::vector<std::string>{"--api=cq"},
                                           std::vector<std::string>{"--api=cq", "--cq-threads=2"}),
                         [](const ::testing::TestParamInfo<std::vector<std::string>>& info) {
                           return info.param.size() == 1 ? info.param[0].substr(6)
                                                         : std::string("cq2threads");
                         });

TEST(GrpcCeilingFlagsE2eTest, RefusesBadFlagsWithExitStatus2) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--api=sync"}, {"--port=70000"}, {"--api=cq", "--cq-threads=0"}, {"extra"}}) {
    test::ServerProcessOptions options;
    options.binary = GRPC_CEILING_BINARY;
    options.countd_args = false;
    options.wait_for_http = false;
    options.extra_args = args;
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> process =
        test::ServerProcess::Launch(options);
    ASSERT_TRUE(process.ok()) << process.status();
    std::optional<test::ExitStatus> exit = (*process)->WaitForExit(absl::Seconds(10));
    ASSERT_TRUE(exit.has_value()) << args[0] << ": still running";
    EXPECT_TRUE(exit->exited && exit->code == 2) << args[0] << ": " << exit->ToString();
    EXPECT_THAT((*process)->stderr_text(), HasSubstr("grpc-ceiling: ")) << args[0];
    EXPECT_EQ((*process)->stdout_text(), "") << args[0];
  }
}

}  // namespace
}  // namespace countd::e2e
