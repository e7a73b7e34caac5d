// Tests of server/grpc/grpc_status.h: the gRPC form of the one error mapping.
#include "server/grpc/grpc_status.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"

namespace countd::grpc_edge {
namespace {

TEST(ErrorsTest, ToGrpcStatusKeepsTheMessage) {
  grpc::Status s =
      ToGrpcStatus(logic::BadFormat("counters[2].path", "\"a/\" must not end with '/'"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "counters[2].path: \"a/\" must not end with '/'");

  grpc::Status storage = ToGrpcStatus(absl::DataLossError("storage: unreadable"));
  EXPECT_EQ(storage.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(storage.error_message(), "storage: unreadable");

  grpc::Status refused = ToGrpcStatus(logic::Refused("request_id", "reused"));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(refused.error_message(), "request_id: reused");
}

TEST(ErrorsTest, ToGrpcStatusOfOkIsOk) {
  grpc::Status s = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.error_message(), "");
}

}  // namespace
}  // namespace countd::grpc_edge
