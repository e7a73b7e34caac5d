// server/api/rpc.h — the method tables of countd's services. A row names one RPC as in the
// .proto, says who may call it and which api member function serves it; each api header ends with
// its service's table. The gRPC services, the canonical /v1/<Service>/<Method> router and the
// authentication checks all read these tables, so an RPC is added in one place per layer.
#ifndef COUNTD_SERVER_API_RPC_H_
#define COUNTD_SERVER_API_RPC_H_

#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace countd::api {

// Who may call an RPC.
enum class Access {
  kRead,      // a credential of the request's tenant, either role
  kWrite,     // a READ_WRITE credential of the request's tenant
  kOperator,  // the operator token (Admin)
};

// One row of a method table: `Rpc<&TallyApi::GetCount>{"GetCount", Access::kRead}`. The types of
// the request, the response and the api class come from the member function.
template <auto kHandler>
struct Rpc;

template <typename Api, typename Req, typename Resp,
          absl::Status (Api::*kHandler)(const Req&, Resp*)>
struct Rpc<kHandler> {
  using ApiType = Api;
  using Request = Req;
  using Response = Resp;

  absl::string_view name;  // the method's name in the .proto ("GetCount")
  Access access;

  // Runs the RPC: fills `resp` and returns its status (errors as the api method says).
  static absl::Status Call(Api* api, const Req& req, Resp* resp) {
    return (api->*kHandler)(req, resp);
  }
};

// A service's method table: its name in the .proto ("Tally") and one row per RPC, in any order.
// Constant, so thread-safe.
template <typename... Rows>
struct MethodTable {
  absl::string_view service;
  std::tuple<Rows...> rpcs;

  // Calls `visit(row)` for every row, in table order.
  template <typename Visit>
  void ForEach(Visit&& visit) const {
    std::apply([&visit](const auto&... row) { (visit(row), ...); }, rpcs);
  }
};

template <typename... Rows>
constexpr MethodTable<Rows...> MakeMethodTable(absl::string_view service, Rows... rows) {
  return MethodTable<Rows...>{service, std::tuple<Rows...>(rows...)};
}

// The access of `service`/`method` ("Counters", "IncrementCounters") in the tables of Counters,
// Tally, GameMechanics and Admin; kWrite, the stricter tenant role, for a name no table holds.
// Thread-safe.
Access AccessOf(absl::string_view service, absl::string_view method);

}  // namespace countd::api

#endif  // COUNTD_SERVER_API_RPC_H_
