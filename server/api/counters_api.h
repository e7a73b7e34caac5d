// server/api/counters_api.h — the Counters service at the level of protobuf messages: converts
// requests to logic arguments and results back. Shared by the gRPC services and the JSON shim
// (canonical /v1/<Service>/<Method> and legacy routes), so every protocol answers identically.
#ifndef COUNTD_SERVER_API_COUNTERS_API_H_
#define COUNTD_SERVER_API_COUNTERS_API_H_

#include "absl/status/status.h"
#include "countd/v1/counters.pb.h"
#include "server/api/rpc.h"
#include "server/logic/counters.h"
#include "server/logic/stash.h"

namespace countd::api {

// Stateless apart from the logic objects, which must outlive it. Thread-safe.
// Each method fills `resp` and returns the call's status (errors as the logic method says).
class CountersApi {
 public:
  CountersApi(logic::Counters* counters, logic::Stash* stash);

  absl::Status RegisterCounters(const v1::RegisterCountersRequest& req,
                                v1::RegisterCountersResponse* resp);
  absl::Status GetRegisteredCounters(const v1::GetRegisteredCountersRequest& req,
                                     v1::GetRegisteredCountersResponse* resp);
  absl::Status UnregisterCounters(const v1::UnregisterCountersRequest& req,
                                  v1::UnregisterCountersResponse* resp);
  absl::Status SetCounterSettings(const v1::SetCounterSettingsRequest& req,
                                  v1::SetCounterSettingsResponse* resp);
  absl::Status GetCounterSettings(const v1::GetCounterSettingsRequest& req,
                                  v1::GetCounterSettingsResponse* resp);
  absl::Status IncrementCounters(const v1::IncrementCountersRequest& req,
                                 v1::IncrementCountersResponse* resp);
  absl::Status GetCounters(const v1::GetCountersRequest& req, v1::GetCountersResponse* resp);
  absl::Status Incr(const v1::IncrRequest& req, v1::IncrResponse* resp);
  absl::Status Decr(const v1::DecrRequest& req, v1::DecrResponse* resp);
  absl::Status Get(const v1::GetRequest& req, v1::GetResponse* resp);
  absl::Status GetBatch(const v1::GetBatchRequest& req, v1::GetBatchResponse* resp);

 private:
  logic::Counters* counters_;
  logic::Stash* stash_;
};

// The method table of countd.v1.Counters (server/api/rpc.h).
inline constexpr auto kCountersMethods = MakeMethodTable(
    "Counters", Rpc<&CountersApi::RegisterCounters>{"RegisterCounters", Access::kWrite},
    Rpc<&CountersApi::GetRegisteredCounters>{"GetRegisteredCounters", Access::kRead},
    Rpc<&CountersApi::UnregisterCounters>{"UnregisterCounters", Access::kWrite},
    Rpc<&CountersApi::SetCounterSettings>{"SetCounterSettings", Access::kWrite},
    Rpc<&CountersApi::GetCounterSettings>{"GetCounterSettings", Access::kRead},
    Rpc<&CountersApi::IncrementCounters>{"IncrementCounters", Access::kWrite},
    Rpc<&CountersApi::GetCounters>{"GetCounters", Access::kRead},
    Rpc<&CountersApi::Incr>{"Incr", Access::kWrite},
    Rpc<&CountersApi::Decr>{"Decr", Access::kWrite}, Rpc<&CountersApi::Get>{"Get", Access::kRead},
    Rpc<&CountersApi::GetBatch>{"GetBatch", Access::kRead});

}  // namespace countd::api

#endif  // COUNTD_SERVER_API_COUNTERS_API_H_
