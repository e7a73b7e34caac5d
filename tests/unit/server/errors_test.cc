// Tests of server/errors.h: the one mapping from absl::Status to every protocol's error form.
#include "server/errors.h"

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"

namespace countd {
namespace {

struct ClassifyCase {
  std::string name;
  absl::Status status;
  absl::StatusCode grpc;
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
        ClassifyCase{"Ok", absl::OkStatus(), absl::StatusCode::kOk, 0, 200, 200},
        ClassifyCase{"Missing", logic::MissingField("uid"), absl::StatusCode::kInvalidArgument,
                     400002, 400, 400},
        ClassifyCase{"BadFormat", logic::BadFormat("path", "x"), absl::StatusCode::kInvalidArgument,
                     400004, 400, 400},
        ClassifyCase{"BadValue", logic::BadValue("count", "x"), absl::StatusCode::kInvalidArgument,
                     400006, 400, 400},
        ClassifyCase{"PlainInvalidArgument", absl::InvalidArgumentError("x"),
                     absl::StatusCode::kInvalidArgument, 400006, 400, 400},
        ClassifyCase{"UnknownReason", WithReason(absl::InvalidArgumentError("x"), "other"),
                     absl::StatusCode::kInvalidArgument, 400006, 400, 400},
        ClassifyCase{"NotFound", logic::NotFound("date", "x"), absl::StatusCode::kNotFound, 404000,
                     404, 404},
        ClassifyCase{"FailedPrecondition", logic::Refused("counters[0].path", "x"),
                     absl::StatusCode::kFailedPrecondition, 400006, 400, 400},
        ClassifyCase{"OutOfRange", absl::OutOfRangeError("x"), absl::StatusCode::kOutOfRange,
                     400006, 400, 400},
        ClassifyCase{"AlreadyExists", absl::AlreadyExistsError("x"),
                     absl::StatusCode::kAlreadyExists, 400003, 400, 409},
        ClassifyCase{"PermissionDenied", absl::PermissionDeniedError("x"),
                     absl::StatusCode::kPermissionDenied, 403007, 403, 403},
        ClassifyCase{"Unauthenticated", absl::UnauthenticatedError("x"),
                     absl::StatusCode::kUnauthenticated, 403005, 403, 401},
        // Authentication and authorization failures, by auth_reason.
        ClassifyCase{"AuthUnknownTenant",
                     logic::AuthFailure(logic::auth_reason::kUnknownTenant, "apiKey", "x"),
                     absl::StatusCode::kUnauthenticated, 400093, 403, 401},
        ClassifyCase{"AuthNoCredentials",
                     logic::AuthFailure(logic::auth_reason::kNoCredentials, "", "x"),
                     absl::StatusCode::kUnauthenticated, 403007, 403, 401},
        ClassifyCase{"AuthBadSecret",
                     logic::AuthFailure(logic::auth_reason::kBadSecret, "secret", "x"),
                     absl::StatusCode::kUnauthenticated, 403007, 403, 401},
        ClassifyCase{"AuthBadSignature",
                     logic::AuthFailure(logic::auth_reason::kBadSignature, "sig", "x"),
                     absl::StatusCode::kUnauthenticated, 403003, 403, 401},
        ClassifyCase{"AuthExpired",
                     logic::AuthFailure(logic::auth_reason::kExpired, "timestamp", "x"),
                     absl::StatusCode::kUnauthenticated, 403002, 403, 401},
        ClassifyCase{"AuthReplay", logic::AuthFailure(logic::auth_reason::kReplay, "nonce", "x"),
                     absl::StatusCode::kUnauthenticated, 403004, 403, 401},
        ClassifyCase{"AuthInsecure",
                     logic::AuthFailure(logic::auth_reason::kInsecure, "secret", "x"),
                     absl::StatusCode::kUnauthenticated, 400001, 403, 401},
        ClassifyCase{"AuthRole", logic::AuthFailure(logic::auth_reason::kRole, "", "x"),
                     absl::StatusCode::kPermissionDenied, 403007, 403, 403},
        ClassifyCase{"AuthOtherTenant",
                     logic::AuthFailure(logic::auth_reason::kOtherTenant, "tenant", "x"),
                     absl::StatusCode::kPermissionDenied, 403007, 403, 403},
        ClassifyCase{"AuthOrigin", logic::AuthFailure(logic::auth_reason::kOrigin, "Origin", "x"),
                     absl::StatusCode::kPermissionDenied, 403007, 403, 403},
        ClassifyCase{"AuthRateLimited",
                     logic::AuthFailure(logic::auth_reason::kRateLimited, "", "x"),
                     absl::StatusCode::kResourceExhausted, 403048, 429, 429},
        ClassifyCase{"ResourceExhausted", absl::ResourceExhaustedError("x"),
                     absl::StatusCode::kResourceExhausted, 403048, 429, 429},
        ClassifyCase{"DeadlineExceeded", absl::DeadlineExceededError("x"),
                     absl::StatusCode::kDeadlineExceeded, 504002, 500, 504},
        ClassifyCase{"Cancelled", absl::CancelledError("x"), absl::StatusCode::kCancelled, 500001,
                     500, 499},
        ClassifyCase{"Unimplemented", absl::UnimplementedError("x"),
                     absl::StatusCode::kUnimplemented, 400001, 400, 501},
        // Storage failures and broken invariants: a retryable server fault.
        ClassifyCase{"Unavailable", absl::UnavailableError("storage: write"),
                     absl::StatusCode::kUnavailable, 500001, 500, 503},
        ClassifyCase{"DataLoss", absl::DataLossError("x"), absl::StatusCode::kUnavailable, 500001,
                     500, 503},
        ClassifyCase{"Internal", absl::InternalError("x"), absl::StatusCode::kUnavailable, 500001,
                     500, 503},
        ClassifyCase{"Unknown", absl::UnknownError("x"), absl::StatusCode::kUnavailable, 500001,
                     500, 503},
        ClassifyCase{"Aborted", absl::AbortedError("x"), absl::StatusCode::kUnavailable, 500001,
                     500, 503}),
    [](const ::testing::TestParamInfo<ClassifyCase>& info) { return info.param.name; });

TEST(ErrorsTest, ReasonOnlyMattersForInvalidArgument) {
  absl::Status refused = logic::Refused("f", "x");
  refused.SetPayload(logic::kReasonPayload, absl::Cord("missing"));
  EXPECT_EQ(Classify(refused).gigya, 400006);
  EXPECT_EQ(Classify(refused).grpc, absl::StatusCode::kFailedPrecondition);
  absl::Status unavailable = absl::UnavailableError("x");
  unavailable.SetPayload(logic::kReasonPayload, absl::Cord("format"));
  EXPECT_EQ(Classify(unavailable).gigya, 500001);
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
