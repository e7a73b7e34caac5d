// server/services.h — the one wiring object: countd's service logic and its proto-level APIs
// over one store, built in dependency order. The server, the in-process test stack and the fuzz
// world all build theirs with it.
#ifndef COUNTD_SERVER_SERVICES_H_
#define COUNTD_SERVER_SERVICES_H_

#include "server/api/admin_api.h"
#include "server/api/counters_api.h"
#include "server/api/gm_api.h"
#include "server/api/tally_api.h"
#include "server/logic/admin.h"
#include "server/logic/counters.h"
#include "server/logic/gm.h"
#include "server/logic/request_log.h"
#include "server/logic/stash.h"
#include "server/logic/tally.h"
#include "server/logic/tenants.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd {

struct ServicesOptions {
  logic::CountersOptions counters;
  logic::StashOptions stash;
  logic::TallyOptions tally;
  logic::GameMechanicsOptions gm;
  // The tenant registry Admin manages; nullptr when none is open (the Admin tenant methods then
  // fail FAILED_PRECONDITION). Must outlive the Services.
  logic::TenantRegistry* tenants = nullptr;
};

// The members are declared in construction order: each is built from those above it and the
// store, so destruction (the reverse) never leaves one pointing at a freed one. Thread-safe as
// each member is. `store` and `clock` must outlive it.
struct Services {
  Services(storage::Store* store, const storage::Clock* clock, const ServicesOptions& options);
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  logic::RequestLog requests;
  logic::Counters counters;
  logic::Stash stash;
  logic::Tally tally;
  logic::GameMechanics gm;
  logic::Admin admin;
  api::CountersApi counters_api;
  api::TallyApi tally_api;
  api::GmApi gm_api;
  api::AdminApi admin_api;
};

}  // namespace countd

#endif  // COUNTD_SERVER_SERVICES_H_
