#include "server/grpc/gm_service.h"

#include "server/grpc/reactor.h"

namespace countd::grpc_edge {
namespace {

// The service name as in the .proto file, for logic::AccessOf.
constexpr absl::string_view kService = "GameMechanics";

}  // namespace

grpc::ServerUnaryReactor* GmService::SetActionConfig(grpc::CallbackServerContext* ctx,
    const v1::SetActionConfigRequest* req, v1::SetActionConfigResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "SetActionConfig", req->tenant()),
                  [this, req, resp] { return api_->SetActionConfig(*req, resp); });
}

grpc::ServerUnaryReactor* GmService::GetActionConfig(grpc::CallbackServerContext* ctx,
    const v1::GetActionConfigRequest* req, v1::GetActionConfigResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "GetActionConfig", req->tenant()),
                  [this, req, resp] { return api_->GetActionConfig(*req, resp); });
}

grpc::ServerUnaryReactor* GmService::DeleteAction(grpc::CallbackServerContext* ctx,
    const v1::DeleteActionRequest* req, v1::DeleteActionResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "DeleteAction", req->tenant()),
                  [this, req, resp] { return api_->DeleteAction(*req, resp); });
}

grpc::ServerUnaryReactor* GmService::SetChallengeConfig(grpc::CallbackServerContext* ctx,
    const v1::SetChallengeConfigRequest* req, v1::SetChallengeConfigResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "SetChallengeConfig", req->tenant()),
                  [this, req, resp] { return api_->SetChallengeConfig(*req, resp); });
}

grpc::ServerUnaryReactor* GmService::GetChallengeConfig(grpc::CallbackServerContext* ctx,
    const v1::GetChallengeConfigRequest* req, v1::GetChallengeConfigResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "GetChallengeConfig", req->tenant()),
                  [this, req, resp] { return api_->GetChallengeConfig(*req, resp); });
}

grpc::ServerUnaryReactor* GmService::DeleteChallenge(grpc::CallbackServerContext* ctx,
    const v1::DeleteChallengeRequest* req, v1::DeleteChallengeResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "DeleteChallenge", req->tenant()),
                  [this, req, resp] { return api_->DeleteChallenge(*req, resp); });
}

grpc::ServerUnaryReactor* GmService::NotifyAction(grpc::CallbackServerContext* ctx,
    const v1::NotifyActionRequest* req, v1::NotifyActionResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "NotifyAction", req->tenant()),
                  [this, req, resp] { return api_->NotifyAction(*req, resp); });
}

grpc::ServerUnaryReactor* GmService::RedeemPoints(grpc::CallbackServerContext* ctx,
    const v1::RedeemPointsRequest* req, v1::RedeemPointsResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "RedeemPoints", req->tenant()),
                  [this, req, resp] { return api_->RedeemPoints(*req, resp); });
}

grpc::ServerUnaryReactor* GmService::GetActionsLog(grpc::CallbackServerContext* ctx,
    const v1::GetActionsLogRequest* req, v1::GetActionsLogResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "GetActionsLog", req->tenant()),
                  [this, req, resp] { return api_->GetActionsLog(*req, resp); });
}

grpc::ServerUnaryReactor* GmService::GetChallengeStatus(grpc::CallbackServerContext* ctx,
    const v1::GetChallengeStatusRequest* req, v1::GetChallengeStatusResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "GetChallengeStatus", req->tenant()),
                  [this, req, resp] { return api_->GetChallengeStatus(*req, resp); });
}

grpc::ServerUnaryReactor* GmService::ResetLevelStatus(grpc::CallbackServerContext* ctx,
    const v1::ResetLevelStatusRequest* req, v1::ResetLevelStatusResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "ResetLevelStatus", req->tenant()),
                  [this, req, resp] { return api_->ResetLevelStatus(*req, resp); });
}

grpc::ServerUnaryReactor* GmService::GetTopUsers(grpc::CallbackServerContext* ctx,
    const v1::GetTopUsersRequest* req, v1::GetTopUsersResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "GetTopUsers", req->tenant()),
                  [this, req, resp] { return api_->GetTopUsers(*req, resp); });
}

}  // namespace countd::grpc_edge
