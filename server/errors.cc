#include "server/errors.h"

#include "server/logic/status_util.h"

namespace countd {

ErrorClass Classify(const absl::Status& status) {
  using absl::StatusCode;
  switch (status.code()) {
    case absl::StatusCode::kOk: return {StatusCode::kOk, 0, 200, 200};
    case absl::StatusCode::kInvalidArgument: {
      std::string reason = logic::ReasonOf(status);
      if (reason == "missing") return {StatusCode::kInvalidArgument, 400002, 400, 400};
      if (reason == "format") return {StatusCode::kInvalidArgument, 400004, 400, 400};
      if (reason == "unparseable") return {StatusCode::kInvalidArgument, 400001, 400, 400};
      return {StatusCode::kInvalidArgument, 400006, 400, 400};
    }
    case absl::StatusCode::kOutOfRange: return {StatusCode::kOutOfRange, 400006, 400, 400};
    case absl::StatusCode::kNotFound: return {StatusCode::kNotFound, 404000, 404, 404};
    case absl::StatusCode::kFailedPrecondition:
      return {StatusCode::kFailedPrecondition, 400006, 400, 400};
    case absl::StatusCode::kAlreadyExists: return {StatusCode::kAlreadyExists, 400003, 400, 409};
    case absl::StatusCode::kPermissionDenied:
      return {StatusCode::kPermissionDenied, 403007, 403, 403};
    case absl::StatusCode::kUnauthenticated: {
      namespace r = logic::auth_reason;
      std::string reason = logic::ReasonOf(status);
      if (reason == r::kUnknownTenant) return {StatusCode::kUnauthenticated, 400093, 403, 401};
      if (reason == r::kBadSignature) return {StatusCode::kUnauthenticated, 403003, 403, 401};
      if (reason == r::kExpired) return {StatusCode::kUnauthenticated, 403002, 403, 401};
      if (reason == r::kReplay) return {StatusCode::kUnauthenticated, 403004, 403, 401};
      if (reason == r::kInsecure) return {StatusCode::kUnauthenticated, 400001, 403, 401};
      if (reason == r::kNoCredentials || reason == r::kBadSecret) {
        return {StatusCode::kUnauthenticated, 403007, 403, 401};
      }
      return {StatusCode::kUnauthenticated, 403005, 403, 401};
    }
    case absl::StatusCode::kResourceExhausted:
      return {StatusCode::kResourceExhausted, 403048, 429, 429};
    case absl::StatusCode::kDeadlineExceeded:
      return {StatusCode::kDeadlineExceeded, 504002, 500, 504};
    case absl::StatusCode::kCancelled: return {StatusCode::kCancelled, 500001, 500, 499};
    case absl::StatusCode::kUnimplemented: return {StatusCode::kUnimplemented, 400001, 400, 501};
    default:
      // Storage failures (kUnavailable, kDataLoss) and broken invariants: retryable server fault.
      return {StatusCode::kUnavailable, 500001, 500, 503};
  }
}

const char* GigyaMessage(int error_code) {
  switch (error_code) {
    case 0: return "OK";
    case 400001: return "Invalid request format";
    case 400002: return "Missing required parameter";
    case 400003: return "Unique identifier exists";
    case 400004: return "Invalid parameter format";
    case 400006: return "Invalid parameter value";
    case 400093: return "Invalid ApiKey parameter";
    case 403002: return "Request has expired";
    case 403003: return "Invalid request signature";
    case 403004: return "Duplicate nonce";
    case 403005: return "Unauthorized user";
    case 403007: return "Permission denied";
    case 403048: return "Api rate limit exceeded";
    case 404000: return "Not found";
    case 504002: return "Request Timeout";
    default: return "General Server error";
  }
}

}  // namespace countd
