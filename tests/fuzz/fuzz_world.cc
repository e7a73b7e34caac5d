#include "tests/fuzz/fuzz_world.h"

#include <utility>

#include "absl/status/status.h"

namespace countd::fuzz {

absl::Time FuzzNow() { return absl::FromUnixSeconds(1709294400); }

FuzzWorld::FuzzWorld()
    : clock_(FuzzNow()),
      requests_(&store_, &clock_),
      counters_(&store_, &clock_, &requests_, logic::CountersOptions{}),
      stash_(&store_, &clock_, logic::StashOptions{}),
      tally_(&store_, &clock_, logic::TallyOptions{}),
      gm_(&store_, &clock_, &requests_, logic::GameMechanicsOptions{}),
      counters_api_(std::make_unique<grpc_edge::CountersApi>(&counters_, &stash_)),
      tally_api_(std::make_unique<grpc_edge::TallyApi>(&tally_)),
      gm_api_(std::make_unique<grpc_edge::GmApi>(&gm_)) {
  http::ShimServices services;
  services.counters = counters_api_.get();
  services.tally = tally_api_.get();
  services.gm = gm_api_.get();
  services.ready = [] { return absl::OkStatus(); };
  shim_ = std::make_unique<http::JsonShim>(std::move(services));
  http::AddAccountsMethods(counters_api_.get(), &gigya_);
  http::AddGmMethods(gm_api_.get(), &gigya_);
}

}  // namespace countd::fuzz
