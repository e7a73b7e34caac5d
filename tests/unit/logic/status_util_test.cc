// Tests of server/logic/status_util.h: errors that name their field and carry a reason payload.
#include "server/logic/status_util.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "gtest/gtest.h"

namespace countd::logic {
namespace {

TEST(StatusUtilTest, MissingFieldIsInvalidArgumentWithMissingReason) {
  absl::Status s = MissingField("uid");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldOf(s), "uid");
  EXPECT_EQ(ReasonOf(s), "missing");
  EXPECT_EQ(s.message(), "uid: required");
}

TEST(StatusUtilTest, BadFormatCarriesFormatReason) {
  absl::Status s = BadFormat("counters[2].path", "must start with '/'");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldOf(s), "counters[2].path");
  EXPECT_EQ(ReasonOf(s), "format");
  EXPECT_EQ(s.message(), "counters[2].path: must start with '/'");
}

TEST(StatusUtilTest, BadValueHasNoReason) {
  absl::Status s = BadValue("count", "-1 is negative");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldOf(s), "count");
  EXPECT_EQ(ReasonOf(s), "");
  EXPECT_FALSE(s.GetPayload(kReasonPayload).has_value());
  EXPECT_EQ(s.message(), "count: -1 is negative");
}

TEST(StatusUtilTest, RefusedIsFailedPrecondition) {
  absl::Status s = Refused("request_id", "already used");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(FieldOf(s), "request_id");
  EXPECT_EQ(ReasonOf(s), "");
  EXPECT_EQ(s.message(), "request_id: already used");
}

TEST(StatusUtilTest, NotFoundNamesTheField) {
  absl::Status s = NotFound("date", "no bucket");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FieldOf(s), "date");
  EXPECT_EQ(s.message(), "date: no bucket");
}

TEST(StatusUtilTest, PayloadsUseTheDocumentedTypeUrls) {
  absl::Status s = BadFormat("f", "why");
  EXPECT_EQ(s.GetPayload("countd/field"), absl::Cord("f"));
  EXPECT_EQ(s.GetPayload("countd/reason"), absl::Cord("format"));
}

TEST(StatusUtilTest, FieldAndReasonOfPlainStatusesAreEmpty) {
  EXPECT_EQ(FieldOf(absl::OkStatus()), "");
  EXPECT_EQ(ReasonOf(absl::OkStatus()), "");
  EXPECT_EQ(FieldOf(absl::UnavailableError("disk")), "");
  EXPECT_EQ(ReasonOf(absl::InvalidArgumentError("x")), "");
}

TEST(StatusUtilTest, QuoteEscapesAndTruncates) {
  EXPECT_EQ(Quote("abc"), "\"abc\"");
  EXPECT_EQ(Quote(""), "\"\"");
  EXPECT_EQ(Quote(std::string("a\nb\x01", 4)), "\"a\\nb\\x01\"");
  EXPECT_EQ(Quote("say \"hi\""), "\"say \\\"hi\\\"\"");
  std::string exactly64(64, 'x');
  EXPECT_EQ(Quote(exactly64), "\"" + exactly64 + "\"");
  std::string long_value(100, 'y');
  EXPECT_EQ(Quote(long_value), "\"" + std::string(64, 'y') + "\"...");
}

TEST(StatusUtilTest, WithFieldPrefixKeepsTheReason) {
  absl::Status s = WithFieldPrefix(MissingField("path"), "counters[3].");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldOf(s), "counters[3].path");
  EXPECT_EQ(ReasonOf(s), "missing");
  EXPECT_EQ(s.message(), "counters[3].path: required");
}

TEST(StatusUtilTest, WithFieldPrefixKeepsCodeAndOtherPayloads) {
  absl::Status base = Refused("path", "not registered");
  base.SetPayload("other/payload", absl::Cord("kept"));
  absl::Status s = WithFieldPrefix(base, "items[0].");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(FieldOf(s), "items[0].path");
  EXPECT_EQ(ReasonOf(s), "");
  EXPECT_EQ(s.GetPayload("other/payload"), absl::Cord("kept"));
}

TEST(StatusUtilTest, WithFieldPrefixOfOkIsOk) {
  EXPECT_TRUE(WithFieldPrefix(absl::OkStatus(), "x.").ok());
}

}  // namespace
}  // namespace countd::logic
