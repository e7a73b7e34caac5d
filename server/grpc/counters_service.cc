#include "server/grpc/counters_service.h"

#include "server/grpc/reactor.h"

namespace countd::grpc_edge {
namespace {

// The service name as in the .proto file, for logic::AccessOf.
constexpr absl::string_view kService = "Counters";

}  // namespace

grpc::ServerUnaryReactor* CountersService::RegisterCounters(grpc::CallbackServerContext* ctx,
    const v1::RegisterCountersRequest* req, v1::RegisterCountersResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "RegisterCounters", req->tenant()),
                  [this, req, resp] { return api_->RegisterCounters(*req, resp); });
}

grpc::ServerUnaryReactor* CountersService::GetRegisteredCounters(grpc::CallbackServerContext* ctx,
    const v1::GetRegisteredCountersRequest* req, v1::GetRegisteredCountersResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "GetRegisteredCounters", req->tenant()),
                  [this, req, resp] { return api_->GetRegisteredCounters(*req, resp); });
}

grpc::ServerUnaryReactor* CountersService::UnregisterCounters(grpc::CallbackServerContext* ctx,
    const v1::UnregisterCountersRequest* req, v1::UnregisterCountersResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "UnregisterCounters", req->tenant()),
                  [this, req, resp] { return api_->UnregisterCounters(*req, resp); });
}

grpc::ServerUnaryReactor* CountersService::SetCounterSettings(grpc::CallbackServerContext* ctx,
    const v1::SetCounterSettingsRequest* req, v1::SetCounterSettingsResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "SetCounterSettings", req->tenant()),
                  [this, req, resp] { return api_->SetCounterSettings(*req, resp); });
}

grpc::ServerUnaryReactor* CountersService::GetCounterSettings(grpc::CallbackServerContext* ctx,
    const v1::GetCounterSettingsRequest* req, v1::GetCounterSettingsResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "GetCounterSettings", req->tenant()),
                  [this, req, resp] { return api_->GetCounterSettings(*req, resp); });
}

grpc::ServerUnaryReactor* CountersService::IncrementCounters(grpc::CallbackServerContext* ctx,
    const v1::IncrementCountersRequest* req, v1::IncrementCountersResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "IncrementCounters", req->tenant()),
                  [this, req, resp] { return api_->IncrementCounters(*req, resp); });
}

grpc::ServerUnaryReactor* CountersService::GetCounters(grpc::CallbackServerContext* ctx,
    const v1::GetCountersRequest* req, v1::GetCountersResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "GetCounters", req->tenant()),
                  [this, req, resp] { return api_->GetCounters(*req, resp); });
}

grpc::ServerUnaryReactor* CountersService::Incr(grpc::CallbackServerContext* ctx,
    const v1::IncrRequest* req, v1::IncrResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "Incr", req->tenant()),
                  [this, req, resp] { return api_->Incr(*req, resp); });
}

grpc::ServerUnaryReactor* CountersService::Decr(grpc::CallbackServerContext* ctx,
    const v1::DecrRequest* req, v1::DecrResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "Decr", req->tenant()),
                  [this, req, resp] { return api_->Decr(*req, resp); });
}

grpc::ServerUnaryReactor* CountersService::Get(grpc::CallbackServerContext* ctx,
    const v1::GetRequest* req, v1::GetResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "Get", req->tenant()),
                  [this, req, resp] { return api_->Get(*req, resp); });
}

grpc::ServerUnaryReactor* CountersService::GetBatch(grpc::CallbackServerContext* ctx,
    const v1::GetBatchRequest* req, v1::GetBatchResponse* resp) {
  return RunUnary(ctx, executor_,
                  auth_->CheckTenantCall(*ctx, kService, "GetBatch", req->tenant()),
                  [this, req, resp] { return api_->GetBatch(*req, resp); });
}

}  // namespace countd::grpc_edge
