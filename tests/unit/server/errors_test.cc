// Tests of server/errors.h: the one mapping from absl::Status to every protocol's error form.
#include "server/errors.h"

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"

namespace countd {
namespace {

struct ClassifyCase {
  std::string name;
  absl::Status status;
  grpc::StatusCode grpc;
  int gigya;
  int qubit;
  int http;
};

// Names the case in test output (ctest lists the name, not the object's bytes).
void PrintTo(const ClassifyCase& c, std::ostream* os) { *os << c.name; }

class ClassifyTest : public ::testing::TestWithParam<ClassifyCase> {};

TEST_P(ClassifyTest, MapsEveryProtocol) {
  const ClassifyCase& c = GetParam();
  ErrorClass e = Classify(c.status);
  EXPECT_EQ(e.grpc, c.grpc);
  EXPECT_EQ(e.gigya, c.gigya);
  EXPECT_EQ(e.qubit, c.qubit);
  EXPECT_EQ(e.http, c.http);
}

absl::Status WithReason(absl::Status s, absl::string_view reason) {
  s.SetPayload(logic::kReasonPayload, absl::Cord(reason));
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    AllCodes, ClassifyTest,
    ::testing::Values(
        ClassifyCase{"Ok", absl::OkStatus(), grpc::StatusCode::OK, 0, 200, 200},
        ClassifyCase{"Missing", logic::MissingField("uid"), grpc::StatusCode::INVALID_ARGUMENT,
                     400002, 400, 400},
        ClassifyCase{"BadFormat", logic::BadFormat("path", "x"),
                     grpc::StatusCode::INVALID_ARGUMENT, 400004, 400, 400},
        ClassifyCase{"BadValue", logic::BadValue("count", "x"),
                     grpc::StatusCode::INVALID_ARGUMENT, 400006, 400, 400},
        ClassifyCase{"PlainInvalidArgument", absl::InvalidArgumentError("x"),
                     grpc::StatusCode::INVALID_ARGUMENT, 400006, 400, 400},
        ClassifyCase{"UnknownReason", WithReason(absl::InvalidArgumentError("x"), "other"),
                     grpc::StatusCode::INVALID_ARGUMENT, 400006, 400, 400},
        ClassifyCase{"NotFound", logic::NotFound("date", "x"), grpc::StatusCode::NOT_FOUND,
                     404000, 404, 404},
        ClassifyCase{"FailedPrecondition", logic::Refused("counters[0].path", "x"),
                     grpc::StatusCode::FAILED_PRECONDITION, 400006, 400, 400},
        ClassifyCase{"OutOfRange", absl::OutOfRangeError("x"), grpc::StatusCode::OUT_OF_RANGE,
                     400006, 400, 400},
        ClassifyCase{"AlreadyExists", absl::AlreadyExistsError("x"),
                     grpc::StatusCode::ALREADY_EXISTS, 400003, 400, 409},
        ClassifyCase{"PermissionDenied", absl::PermissionDeniedError("x"),
                     grpc::StatusCode::PERMISSION_DENIED, 403007, 403, 403},
        ClassifyCase{"Unauthenticated", absl::UnauthenticatedError("x"),
                     grpc::StatusCode::UNAUTHENTICATED, 403005, 403, 401},
        // Authentication and authorization failures, by auth_reason.
        ClassifyCase{"AuthUnknownTenant",
                     logic::AuthFailure(logic::auth_reason::kUnknownTenant, "apiKey", "x"),
                     grpc::StatusCode::UNAUTHENTICATED, 400093, 403, 401},
        ClassifyCase{"AuthNoCredentials",
                     logic::AuthFailure(logic::auth_reason::kNoCredentials, "", "x"),
                     grpc::StatusCode::UNAUTHENTICATED, 403007, 403, 401},
        ClassifyCase{"AuthBadSecret", logic::AuthFailure(logic::auth_reason::kBadSecret, "secret", "x"),
                     grpc::StatusCode::UNAUTHENTICATED, 403007, 403, 401},
        ClassifyCase{"AuthBadSignature",
                     logic::AuthFailure(logic::auth_reason::kBadSignature, "sig", "x"),
                     grpc::StatusCode::UNAUTHENTICATED, 403003, 403, 401},
        ClassifyCase{"AuthExpired", logic::AuthFailure(logic::auth_reason::kExpired, "timestamp", "x"),
                     grpc::StatusCode::UNAUTHENTICATED, 403002, 403, 401},
        ClassifyCase{"AuthReplay", logic::AuthFailure(logic::auth_reason::kReplay, "nonce", "x"),
                     grpc::StatusCode::UNAUTHENTICATED, 403004, 403, 401},
        ClassifyCase{"AuthInsecure", logic::AuthFailure(logic::auth_reason::kInsecure, "secret", "x"),
                     grpc::StatusCode::UNAUTHENTICATED, 400001, 403, 401},
        ClassifyCase{"AuthRole", logic::AuthFailure(logic::auth_reason::kRole, "", "x"),
                     grpc::StatusCode::PERMISSION_DENIED, 403007, 403, 403},
        ClassifyCase{"AuthOtherTenant",
                     logic::AuthFailure(logic::auth_reason::kOtherTenant, "tenant", "x"),
                     grpc::StatusCode::PERMISSION_DENIED, 403007, 403, 403},
        ClassifyCase{"AuthOrigin", logic::AuthFailure(logic::auth_reason::kOrigin, "Origin", "x"),
                     grpc::StatusCode::PERMISSION_DENIED, 403007, 403, 403},
        ClassifyCase{"AuthRateLimited",
                     logic::AuthFailure(logic::auth_reason::kRateLimited, "", "x"),
                     grpc::StatusCode::RESOURCE_EXHAUSTED, 403048, 429, 429},
        ClassifyCase{"ResourceExhausted", absl::ResourceExhaustedError("x"),
                     grpc::StatusCode::RESOURCE_EXHAUSTED, 403048, 429, 429},
        ClassifyCase{"DeadlineExceeded", absl::DeadlineExceededError("x"),
                     grpc::StatusCode::DEADLINE_EXCEEDED, 504002, 500, 504},
        ClassifyCase{"Cancelled", absl::CancelledError("x"), grpc::StatusCode::CANCELLED,
                     500001, 500, 499},
        ClassifyCase{"Unimplemented", absl::UnimplementedError("x"),
                     grpc::StatusCode::UNIMPLEMENTED, 400001, 400, 501},
        // Storage failures and broken invariants: a retryable server fault.
        ClassifyCase{"Unavailable", absl::UnavailableError("storage: write"),
                     grpc::StatusCode::UNAVAILABLE, 500001, 500, 503},
        ClassifyCase{"DataLoss", absl::DataLossError("x"), grpc::StatusCode::UNAVAILABLE,
                     500001, 500, 503},
        ClassifyCase{"Internal", absl::InternalError("x"), grpc::StatusCode::UNAVAILABLE,
                     500001, 500, 503},
        ClassifyCase{"Unknown", absl::UnknownError("x"), grpc::StatusCode::UNAVAILABLE, 500001,
                     500, 503},
        ClassifyCase{"Aborted", absl::AbortedError("x"), grpc::StatusCode::UNAVAILABLE, 500001,
                     500, 503}),
    [](const ::testing::TestParamInfo<ClassifyCase>& info) { return info.param.name; });

TEST(ErrorsTest, ReasonOnlyMattersForInvalidArgument) {
  absl::Status refused = logic::Refused("f", "x");
  refused.SetPayload(logic::kReasonPayload, absl::Cord("missing"));
  EXPECT_EQ(Classify(refused).gigya, 400006);
  EXPECT_EQ(Classify(refused).grpc, grpc::StatusCode::FAILED_PRECONDITION);
  absl::Status unavailable = absl::UnavailableError("x");
  unavailable.SetPayload(logic::kReasonPayload, absl::Cord("format"));
  EXPECT_EQ(Classify(unavailable).gigya, 500001);
}

TEST(ErrorsTest, ToGrpcStatusKeepsTheMessage) {
  grpc::Status s = ToGrpcStatus(logic::BadFormat("counters[2].path", "\"a/\" must not end with '/'"));
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

TEST(ErrorsTest, GigyaMessagesMatchTheirCodes) {
  EXPECT_STREQ(GigyaMessage(0), "OK");
  EXPECT_STREQ(GigyaMessage(400002), "Missing required parameter");
  EXPECT_STREQ(GigyaMessage(400004), "Invalid parameter format");
  EXPECT_STREQ(GigyaMessage(400006), "Invalid parameter value");
  EXPECT_STREQ(GigyaMessage(404000), "Not found");
  EXPECT_STREQ(GigyaMessage(403004), "Duplicate nonce");
  EXPECT_STREQ(GigyaMessage(500001), "General Server error");
  EXPECT_STREQ(GigyaMessage(123), "General Server error");
}

TEST(ErrorsTest, EveryClassifiedGigyaCodeHasAMessage) {
  for (absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
        absl::StatusCode::kFailedPrecondition, absl::StatusCode::kAlreadyExists,
        absl::StatusCode::kPermissionDenied, absl::StatusCode::kUnauthenticated,
        absl::StatusCode::kResourceExhausted, absl::StatusCode::kDeadlineExceeded,
        absl::StatusCode::kUnimplemented}) {
    int gigya = Classify(absl::Status(code, "x")).gigya;
    EXPECT_STRNE(GigyaMessage(gigya), "General Server error") << gigya;
  }
}

}  // namespace
}  // namespace countd
