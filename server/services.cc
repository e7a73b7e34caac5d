#include "server/services.h"

namespace countd {

Services::Services(storage::Store* store, const storage::Clock* clock,
                   const ServicesOptions& options)
    : requests(store, clock),
      counters(store, clock, &requests, options.counters),
      stash(store, clock, options.stash),
      tally(store, clock, options.tally),
      gm(store, clock, &requests, options.gm),
      admin(store),
      counters_api(&counters, &stash),
      tally_api(&tally),
      gm_api(&gm),
      admin_api(&admin, options.tenants) {}

}  // namespace countd
