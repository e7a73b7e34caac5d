// server/api/tally_api.h — the Tally service at the level of protobuf messages: converts
// requests to logic arguments and results back. Shared by the gRPC services and the JSON shim
// (canonical /v1/<Service>/<Method> and legacy routes), so every protocol answers identically.
#ifndef COUNTD_SERVER_API_TALLY_API_H_
#define COUNTD_SERVER_API_TALLY_API_H_

#include "absl/status/status.h"
#include "countd/v1/tally.pb.h"
#include "server/api/rpc.h"
#include "server/logic/tally.h"

namespace countd::api {

// Stateless apart from the logic objects, which must outlive it. Thread-safe.
// Each method fills `resp` and returns the call's status (errors as the logic method says).
class TallyApi {
 public:
  explicit TallyApi(logic::Tally* tally);

  absl::Status Increment(const v1::TallyIncrementRequest& req, v1::TallyIncrementResponse* resp);
  absl::Status GetCount(const v1::GetCountRequest& req, v1::GetCountResponse* resp);
  absl::Status GetTopK(const v1::GetTopKRequest& req, v1::GetTopKResponse* resp);

 private:
  logic::Tally* tally_;
};

// The method table of countd.v1.Tally (server/api/rpc.h).
inline constexpr auto kTallyMethods =
    MakeMethodTable("Tally", Rpc<&TallyApi::Increment>{"Increment", Access::kWrite},
                    Rpc<&TallyApi::GetCount>{"GetCount", Access::kRead},
                    Rpc<&TallyApi::GetTopK>{"GetTopK", Access::kRead});

}  // namespace countd::api

#endif  // COUNTD_SERVER_API_TALLY_API_H_
