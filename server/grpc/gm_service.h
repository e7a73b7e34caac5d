// server/grpc/gm_service.h — the gRPC edge of countd.v1.GameMechanics: converts messages to
// logic arguments and back (through GmApi), nothing more.
#ifndef COUNTD_SERVER_GRPC_GM_SERVICE_H_
#define COUNTD_SERVER_GRPC_GM_SERVICE_H_

#include "countd/v1/gm.grpc.pb.h"
#include "server/executor.h"
#include "server/grpc/grpc_auth.h"
#include "server/grpc/gm_api.h"

namespace countd::grpc_edge {

// Thread-safe; `api`, `executor` and `auth` must outlive it. Every call is checked by
// `auth` (GrpcAuth::CheckTenantCall) before its work is queued.
class GmService final : public v1::GameMechanics::CallbackService {
 public:
  GmService(GmApi* api, Executor* executor, const GrpcAuth* auth)
      : api_(api), executor_(executor), auth_(auth) {}

  grpc::ServerUnaryReactor* SetActionConfig(grpc::CallbackServerContext* ctx, const v1::SetActionConfigRequest* req,
      v1::SetActionConfigResponse* resp) override;
  grpc::ServerUnaryReactor* GetActionConfig(grpc::CallbackServerContext* ctx, const v1::GetActionConfigRequest* req,
      v1::GetActionConfigResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteAction(grpc::CallbackServerContext* ctx, const v1::DeleteActionRequest* req,
      v1::DeleteActionResponse* resp) override;
  grpc::ServerUnaryReactor* SetChallengeConfig(grpc::CallbackServerContext* ctx, const v1::SetChallengeConfigRequest* req,
      v1::SetChallengeConfigResponse* resp) override;
  grpc::ServerUnaryReactor* GetChallengeConfig(grpc::CallbackServerContext* ctx, const v1::GetChallengeConfigRequest* req,
      v1::GetChallengeConfigResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteChallenge(grpc::CallbackServerContext* ctx, const v1::DeleteChallengeRequest* req,
      v1::DeleteChallengeResponse* resp) override;
  grpc::ServerUnaryReactor* NotifyAction(grpc::CallbackServerContext* ctx, const v1::NotifyActionRequest* req,
      v1::NotifyActionResponse* resp) override;
  grpc::ServerUnaryReactor* RedeemPoints(grpc::CallbackServerContext* ctx, const v1::RedeemPointsRequest* req,
      v1::RedeemPointsResponse* resp) override;
  grpc::ServerUnaryReactor* GetActionsLog(grpc::CallbackServerContext* ctx, const v1::GetActionsLogRequest* req,
      v1::GetActionsLogResponse* resp) override;
  grpc::ServerUnaryReactor* GetChallengeStatus(grpc::CallbackServerContext* ctx, const v1::GetChallengeStatusRequest* req,
      v1::GetChallengeStatusResponse* resp) override;
  grpc::ServerUnaryReactor* ResetLevelStatus(grpc::CallbackServerContext* ctx, const v1::ResetLevelStatusRequest* req,
      v1::ResetLevelStatusResponse* resp) override;
  grpc::ServerUnaryReactor* GetTopUsers(grpc::CallbackServerContext* ctx, const v1::GetTopUsersRequest* req,
      v1::GetTopUsersResponse* resp) override;

 private:
  GmApi* api_;
  Executor* executor_;
  const GrpcAuth* auth_;
};

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_GM_SERVICE_H_
