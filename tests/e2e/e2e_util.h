// tests/e2e/e2e_util.h — small helpers shared by the e2e tests that run the countd binary:
// deadlines, status matchers, UTC period names, and raw (proto-less) unary calls.
#ifndef COUNTD_TESTS_E2E_E2E_UTIL_H_
#define COUNTD_TESTS_E2E_E2E_UTIL_H_

#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "tests/testing/server_process.h"

namespace countd::e2e {

// Every RPC of the e2e tests carries this deadline.
inline constexpr std::chrono::seconds kRpcDeadline(10);

inline void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
}

inline std::shared_ptr<grpc::Channel> NewChannel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

// How long a countd that must refuse to start may take to exit.
inline constexpr absl::Duration kRefusedStartTimeout = absl::Seconds(30);

// Launches countd with `options` and expects it to refuse to start: it exits with a non-zero
// status without printing a listening line. Records a test failure otherwise. Returns its
// stderr ("" when it could not be launched); `stdout_text`, when given, receives its stdout.
inline std::string ExpectRefusedStart(const test::ServerProcessOptions& options,
                                      std::string* stdout_text = nullptr) {
  absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
      test::ServerProcess::Launch(options);
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    return "";
  }
  absl::Status listening = (*server)->WaitUntilListening(kRefusedStartTimeout);
  EXPECT_FALSE(listening.ok()) << "the server started: " << (*server)->grpc_address();
  std::optional<test::ExitStatus> exit = (*server)->WaitForExit(kRefusedStartTimeout);
  EXPECT_TRUE(exit.has_value()) << "still running after " << kRefusedStartTimeout;
  if (exit.has_value()) {
    EXPECT_TRUE(exit->exited) << exit->ToString();
    EXPECT_NE(exit->code, 0) << exit->ToString();
  }
  EXPECT_THAT((*server)->stdout_text(), ::testing::Not(::testing::HasSubstr("listening on")));
  if (stdout_text != nullptr) *stdout_text = (*server)->stdout_text();
  std::string err = (*server)->stderr_text();
  EXPECT_THAT(err, ::testing::Not(::testing::HasSubstr("listening on")));
  return err;
}

// Calls one unary method of a generated stub with a fresh context and the standard deadline.
template <typename Stub, typename Req, typename Resp>
grpc::Status Rpc(Stub* stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                 const Req& req, Resp* resp) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  return (stub->*method)(&ctx, req, resp);
}

inline std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : absl::StrCat("code ", i);
}

inline std::string Describe(const grpc::Status& s) {
  return absl::StrCat(CodeName(s.error_code()), ": \"", s.error_message(), "\"");
}

// gtest prints the status itself (see PrintTo below).
MATCHER(IsOk, "is OK") { return arg.ok(); }

// The status has `code` and its message contains `field` (the offending field's name).
MATCHER_P2(IsError, code, field, absl::StrCat("is ", CodeName(code), " naming \"", field, "\"")) {
  return arg.error_code() == code && arg.error_message().find(field) != std::string::npos;
}

// The UTC calendar names of one day as the server uses them.
struct DayNames {
  absl::CivilDay day;
  std::string yymm;    // "2401"
  std::string yymmdd;  // "240115"
  std::string iso;     // "2024-01-15"
};

inline DayNames NamesOf(absl::CivilDay d) {
  DayNames n;
  n.day = d;
  n.yymm = absl::StrFormat("%02d%02d", d.year() % 100, d.month());
  n.yymmdd = absl::StrFormat("%02d%02d%02d", d.year() % 100, d.month(), d.day());
  n.iso = absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
  return n;
}

inline absl::CivilDay TodayUtc() { return absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()); }

// Calls `method` ("/pkg.Service/Method") with the serialized request `request` as a unary call
// and returns the serialized response. Also works for a bidi method that answers one message
// per request: the call sends one message, half-closes, and takes the single answer.
inline absl::StatusOr<std::string> RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                                                const std::string& method,
                                                const std::string& request) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1);
  grpc::ByteBuffer resp;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, &resp, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  // The call's own deadline ends it; the extra margin only guards against a lost callback.
  if (!done.WaitForNotificationWithTimeout(absl::FromChrono(kRpcDeadline) + absl::Seconds(5))) {
    ctx.TryCancel();
    done.WaitForNotification();
    return absl::DeadlineExceededError(absl::StrCat(method, ": no completion"));
  }
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat(method, ": ", status.error_message()));
  }
  std::vector<grpc::Slice> slices;
  if (!resp.Dump(&slices).ok()) return absl::InternalError("cannot read the response");
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

}  // namespace countd::e2e

namespace grpc {
// Lets gtest print a grpc::Status as "CODE: "message"" instead of its bytes (found by ADL).
inline void PrintTo(const Status& status, std::ostream* os) {
  *os << countd::e2e::Describe(status);
}
}  // namespace grpc

#endif  // COUNTD_TESTS_E2E_E2E_UTIL_H_
