#include "server/grpc/tally_service.h"

#include "server/grpc/reactor.h"

namespace countd::grpc_edge {
namespace {

// The service name as in the .proto file, for logic::AccessOf.
constexpr absl::string_view kService = "Tally";

}  // namespace

grpc::ServerUnaryReactor* TallyService::Increment(grpc::CallbackServerContext* ctx,
    const v1::TallyIncrementRequest* req, v1::TallyIncrementResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "Increment", req->tenant()),
                  [this, req, resp] { return api_->Increment(*req, resp); });
}

grpc::ServerUnaryReactor* TallyService::GetCount(grpc::CallbackServerContext* ctx,
    const v1::GetCountRequest* req, v1::GetCountResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "GetCount", req->tenant()),
                  [this, req, resp] { return api_->GetCount(*req, resp); });
}

grpc::ServerUnaryReactor* TallyService::GetTopK(grpc::CallbackServerContext* ctx,
    const v1::GetTopKRequest* req, v1::GetTopKResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "GetTopK", req->tenant()),
                  [this, req, resp] { return api_->GetTopK(*req, resp); });
}

}  // namespace countd::grpc_edge
