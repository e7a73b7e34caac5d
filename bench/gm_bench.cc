// Google Benchmark programs for GameMechanics logic without gRPC: NotifyAction throughput over
// 10^5 users, and GetTopUsers (ALL and DAYS7, top 100) with 10^6 users holding points.
// Run: ./build/bench/gm_bench [--benchmark_filter=TopUsers]
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "server/logic/gm.h"
#include "server/logic/request_log.h"
#include "storage/store.h"

namespace countd {
namespace {

// Adds p50_us / p99_us of the per-call latencies to the benchmark's counters.
void ReportPercentiles(benchmark::State& state, std::vector<double>* micros) {
  if (micros->empty()) return;
  std::sort(micros->begin(), micros->end());
  state.counters["p50_us"] = (*micros)[micros->size() / 2];
  state.counters["p99_us"] = (*micros)[std::min(micros->size() - 1, micros->size() * 99 / 100)];
}

// A store, the logic, and one action worth 10 points in `_default`.
struct GmFixture {
  std::string dir;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<logic::RequestLog> requests;
  std::unique_ptr<logic::GameMechanics> gm;

  explicit GmFixture(const std::string& name)
      : dir((std::filesystem::temp_directory_path() / ("countd-gm-bench-" + name)).string()) {
    std::filesystem::remove_all(dir);
    absl::StatusOr<std::unique_ptr<storage::Store>> s =
        storage::OpenRocksDbStore(dir, storage::StoreOptions{});
    if (!s.ok()) std::abort();
    store = *std::move(s);
    requests = std::make_unique<logic::RequestLog>(store.get(), storage::RealClock());
    gm = std::make_unique<logic::GameMechanics>(store.get(), storage::RealClock(), requests.get(),
                                                logic::GameMechanicsOptions{});
    logic::GmAction action;
    action.action_id = "play";
    action.points = 10;
    if (!gm->SetActionConfig("bench", action).ok()) std::abort();
  }
  ~GmFixture() {
    gm.reset();
    requests.reset();
    store.reset();
    std::filesystem::remove_all(dir);
  }

  void Notify(const std::string& uid) {
    logic::NotifyActionArgs args;
    args.tenant = "bench";
    args.uid = uid;
    args.action_id = "play";
    if (!gm->NotifyAction(args).ok()) std::abort();
  }
};

// NotifyAction for users drawn Zipf(1.0)-like over 10^5 (hot users contend on their locks).
void BM_NotifyAction(benchmark::State& state) {
  static GmFixture* f = nullptr;
  if (state.thread_index() == 0) f = new GmFixture("notify");
  std::mt19937_64 rng(state.thread_index() + 1);
  // Inverse-CDF sampling of Zipf(1) over 1..n: k ~ n^u (continuous approximation).
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (auto _ : state) {
    int64_t k = static_cast<int64_t>(std::pow(100000.0, u(rng)));
    f->Notify(absl::StrCat("u", k));
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete f;
    f = nullptr;
  }
}
BENCHMARK(BM_NotifyAction)->Threads(1)->Threads(4)->UseRealTime();

// GetTopUsers(total_count=100) with `n` users holding distinct balances.
void BM_GetTopUsers(benchmark::State& state) {
  const int64_t n = state.range(0);
  const bool days7 = state.range(1) == 1;
  const bool self = state.range(2) == 1;
  static std::unique_ptr<GmFixture> f;
  static int64_t filled = 0;
  if (f == nullptr || filled != n) {
    f = std::make_unique<GmFixture>("top");
    for (int64_t i = 0; i < n; ++i) {
      f->Notify(absl::StrCat("u", i));
      if (i % 7 == 0) f->Notify(absl::StrCat("u", i));
    }
    filled = n;
  }
  logic::GetTopUsersArgs args;
  args.tenant = "bench";
  args.total_count = 100;
  args.period = days7 ? logic::GmPeriod::kDays7 : logic::GmPeriod::kAll;
  if (self) args.uid = "u123457";  // include_self: a caller far outside the top 100
  if (!f->gm->GetTopUsers(args).ok()) std::abort();  // warm (DAYS7 builds its ranking)
  std::vector<double> micros;
  for (auto _ : state) {
    absl::Time start = absl::Now();
    auto top = f->gm->GetTopUsers(args);
    micros.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    if (!top.ok()) state.SkipWithError("GetTopUsers failed");
    benchmark::DoNotOptimize(top);
  }
  ReportPercentiles(state, &micros);
}
BENCHMARK(BM_GetTopUsers)
    ->ArgNames({"users", "days7", "self"})
    ->Args({1000000, 0, 0})
    ->Args({1000000, 1, 0})
    ->Args({1000000, 0, 1})
    ->Args({1000000, 1, 1})
    ->Args({1000, 1, 1})  // small: for bench.smoke
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace countd

BENCHMARK_MAIN();
