// server/grpc/table_service.h — a countd.v1 gRPC service served from its method table
// (server/api/rpc.h): each row becomes a callback method that checks the caller (GrpcAuth), runs
// the api method on the executor and finishes with the status mapped once (grpc_status.h).
#ifndef COUNTD_SERVER_GRPC_TABLE_SERVICE_H_
#define COUNTD_SERVER_GRPC_TABLE_SERVICE_H_

#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/grpcpp.h"
#include "server/api/rpc.h"
#include "server/executor.h"
#include "server/grpc/grpc_auth.h"
#include "server/grpc/reactor.h"

namespace countd::grpc_edge {

// The request's tenant field, or empty for a request without one.
template <typename Req, typename = void>
struct HasTenant : std::false_type {};
template <typename Req>
struct HasTenant<Req, std::void_t<decltype(std::declval<const Req&>().tenant())>> : std::true_type {
};
template <typename Req>
absl::string_view TenantOf(const Req& req) {
  if constexpr (HasTenant<Req>::value) {
    return req.tenant();
  } else {
    return {};
  }
}

// `GeneratedService` is the generated base of the service (e.g. v1::Tally::Service): it
// registers every RPC of the .proto with the gRPC server, so reflection lists them all. The
// constructor replaces each RPC's handler by a callback handler made from the table row of the
// same name, the way the generated CallbackService does for hand-written overrides (through
// grpc::Service::MarkMethodCallback and grpc::internal::CallbackUnaryHandler, the gRPC 1.51
// codegen API those use). A table that does not match the .proto is a broken build and aborts
// at start (tests/unit/api/rpc_test.cc catches it first).
// Thread-safe; `api`, `executor` and `auth` must outlive it.
template <typename GeneratedService, typename Api, typename Table>
class TableService final : public GeneratedService {
 public:
  TableService(Api* api, const Table& table, Executor* executor, const GrpcAuth* auth)
      : api_(api), executor_(executor), auth_(auth) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            absl::StrCat("countd.v1.", table.service));
    if (service == nullptr) std::abort();
    int served = 0;
    table.ForEach([&](const auto& row) {
      Serve(*service, row);
      ++served;
    });
    if (served != service->method_count()) std::abort();
  }

 private:
  template <typename Row>
  void Serve(const google::protobuf::ServiceDescriptor& service, const Row& row) {
    using Req = typename Row::Request;
    using Resp = typename Row::Response;
    static_assert(std::is_same_v<typename Row::ApiType, Api>, "a row of another service");
    const google::protobuf::MethodDescriptor* method =
        service.FindMethodByName(std::string(row.name));
    if (method == nullptr || method->input_type() != Req::descriptor() ||
        method->output_type() != Resp::descriptor()) {
      std::abort();
    }
    const api::Access access = row.access;
    this->MarkMethodCallback(
        method->index(),
        new grpc::internal::CallbackUnaryHandler<Req, Resp>(
            [this, access](grpc::CallbackServerContext* ctx, const Req* req, Resp* resp) {
              return RunUnary(ctx, executor_,
                              auth_->Check(ctx->client_metadata(), access, TenantOf(*req)),
                              [this, req, resp] { return Row::Call(api_, *req, resp); });
            }));
  }

  Api* const api_;
  Executor* const executor_;
  const GrpcAuth* const auth_;
};

// The service of `table` over `api`, e.g. MakeTableService<v1::Tally::Service>(&tally_api,
// api::kTallyMethods, executor, auth).
template <typename GeneratedService, typename Api, typename Table>
std::unique_ptr<grpc::Service> MakeTableService(Api* api, const Table& table, Executor* executor,
                                                const GrpcAuth* auth) {
  return std::make_unique<TableService<GeneratedService, Api, Table>>(api, table, executor, auth);
}

}  // namespace countd::grpc_edge

#endif  // COUNTD_SERVER_GRPC_TABLE_SERVICE_H_
