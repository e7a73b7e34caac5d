// server/http/gigya_methods.h — the tables of Gigya-style methods (internal to server/http).
#ifndef COUNTD_SERVER_HTTP_GIGYA_METHODS_H_
#define COUNTD_SERVER_HTTP_GIGYA_METHODS_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "server/grpc/counters_api.h"
#include "server/grpc/gm_api.h"
#include "server/http/gigya.h"

namespace countd::http {

// "accounts.getCounters" -> method.
using GigyaMethodTable = absl::flat_hash_map<std::string, GigyaMethod>;

// Adds accounts.{register,unregister,getRegistered,increment,get}Counters.
void AddAccountsMethods(grpc_edge::CountersApi* api, GigyaMethodTable* table);

// Adds the gm.* Game Mechanics methods.
void AddGmMethods(grpc_edge::GmApi* api, GigyaMethodTable* table);

}  // namespace countd::http

#endif  // COUNTD_SERVER_HTTP_GIGYA_METHODS_H_
