// server/api/gm_api.h — the GameMechanics service at the level of protobuf messages: converts
// requests to logic arguments and results back. Shared by the gRPC services and the JSON shim
// (canonical /v1/<Service>/<Method> and legacy routes), so every protocol answers identically.
#ifndef COUNTD_SERVER_API_GM_API_H_
#define COUNTD_SERVER_API_GM_API_H_

#include "absl/status/status.h"
#include "countd/v1/gm.pb.h"
#include "server/api/rpc.h"
#include "server/logic/gm.h"

namespace countd::api {

// Stateless apart from the logic object, which must outlive it. Thread-safe.
// Each method fills `resp` and returns the call's status (errors as the logic method says;
// GetTopUsers also refuses an unknown `period` value with INVALID_ARGUMENT naming it).
class GmApi {
 public:
  explicit GmApi(logic::GameMechanics* gm);

  absl::Status SetActionConfig(const v1::SetActionConfigRequest& req,
                               v1::SetActionConfigResponse* resp);
  absl::Status GetActionConfig(const v1::GetActionConfigRequest& req,
                               v1::GetActionConfigResponse* resp);
  absl::Status DeleteAction(const v1::DeleteActionRequest& req, v1::DeleteActionResponse* resp);
  absl::Status SetChallengeConfig(const v1::SetChallengeConfigRequest& req,
                                  v1::SetChallengeConfigResponse* resp);
  absl::Status GetChallengeConfig(const v1::GetChallengeConfigRequest& req,
                                  v1::GetChallengeConfigResponse* resp);
  absl::Status DeleteChallenge(const v1::DeleteChallengeRequest& req,
                               v1::DeleteChallengeResponse* resp);
  absl::Status NotifyAction(const v1::NotifyActionRequest& req, v1::NotifyActionResponse* resp);
  absl::Status RedeemPoints(const v1::RedeemPointsRequest& req, v1::RedeemPointsResponse* resp);
  absl::Status GetActionsLog(const v1::GetActionsLogRequest& req, v1::GetActionsLogResponse* resp);
  absl::Status GetChallengeStatus(const v1::GetChallengeStatusRequest& req,
                                  v1::GetChallengeStatusResponse* resp);
  absl::Status ResetLevelStatus(const v1::ResetLevelStatusRequest& req,
                                v1::ResetLevelStatusResponse* resp);
  absl::Status GetTopUsers(const v1::GetTopUsersRequest& req, v1::GetTopUsersResponse* resp);

 private:
  logic::GameMechanics* gm_;
};

// The method table of countd.v1.GameMechanics (server/api/rpc.h).
inline constexpr auto kGmMethods = MakeMethodTable(
    "GameMechanics", Rpc<&GmApi::SetActionConfig>{"SetActionConfig", Access::kWrite},
    Rpc<&GmApi::GetActionConfig>{"GetActionConfig", Access::kRead},
    Rpc<&GmApi::DeleteAction>{"DeleteAction", Access::kWrite},
    Rpc<&GmApi::SetChallengeConfig>{"SetChallengeConfig", Access::kWrite},
    Rpc<&GmApi::GetChallengeConfig>{"GetChallengeConfig", Access::kRead},
    Rpc<&GmApi::DeleteChallenge>{"DeleteChallenge", Access::kWrite},
    Rpc<&GmApi::NotifyAction>{"NotifyAction", Access::kWrite},
    Rpc<&GmApi::RedeemPoints>{"RedeemPoints", Access::kWrite},
    Rpc<&GmApi::GetActionsLog>{"GetActionsLog", Access::kRead},
    Rpc<&GmApi::GetChallengeStatus>{"GetChallengeStatus", Access::kRead},
    Rpc<&GmApi::ResetLevelStatus>{"ResetLevelStatus", Access::kWrite},
    Rpc<&GmApi::GetTopUsers>{"GetTopUsers", Access::kRead});

}  // namespace countd::api

#endif  // COUNTD_SERVER_API_GM_API_H_
