#include "tests/fuzz/fuzz_world.h"

#include <utility>

#include "absl/status/status.h"

namespace countd::fuzz {

absl::Time FuzzNow() { return absl::FromUnixSeconds(1709294400); }

FuzzWorld::FuzzWorld() : clock_(FuzzNow()), services_(&store_, &clock_, ServicesOptions{}) {
  shim::ShimServices services;
  services.counters = &services_.counters_api;
  services.tally = &services_.tally_api;
  services.gm = &services_.gm_api;
  services.ready = [] { return absl::OkStatus(); };
  shim_ = std::make_unique<shim::JsonShim>(std::move(services));
  shim::AddAccountsMethods(&services_.counters_api, &gigya_);
  shim::AddGmMethods(&services_.gm_api, &gigya_);
}

}  // namespace countd::fuzz
