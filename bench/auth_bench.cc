// Google Benchmark programs for the cost of authentication on the request path, without gRPC or
// HTTP: checking a tenant secret, verifying a Gigya signature, and recording a signed request's
// nonce (in memory only, and durable in RocksDB as countd does it).
// Run: ./build/bench/auth_bench
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "server/logic/nonce_cache.h"
#include "server/logic/secret_box.h"
#include "server/logic/tenants.h"
#include "storage/store.h"

namespace countd {
namespace {

// A RocksDB store in a fresh temporary directory, removed afterwards.
struct StoreFixture {
  std::string dir;
  std::unique_ptr<storage::Store> store;

  explicit StoreFixture(const std::string& name)
      : dir((std::filesystem::temp_directory_path() / ("countd-auth-bench-" + name)).string()) {
    std::filesystem::remove_all(dir);
    absl::StatusOr<std::unique_ptr<storage::Store>> s =
        storage::OpenRocksDbStore(dir, storage::StoreOptions{});
    if (!s.ok()) std::abort();
    store = *std::move(s);
  }
  ~StoreFixture() {
    store.reset();
    std::filesystem::remove_all(dir);
  }
};

// A registry with one tenant "site1"; `secret` is its first secret.
struct RegistryFixture {
  StoreFixture db{"registry"};
  std::unique_ptr<logic::TenantRegistry> registry;
  std::string secret;

  RegistryFixture() {
    logic::TenantRegistry::Options options;
    options.clock = storage::RealClock();
    absl::StatusOr<std::string> key = logic::RandomBytes(logic::kSecretsKeyBytes);
    if (!key.ok()) std::abort();
    options.secrets_key = *key;
    absl::StatusOr<std::unique_ptr<logic::TenantRegistry>> r =
        logic::TenantRegistry::Open(db.store.get(), options);
    if (!r.ok()) std::abort();
    registry = *std::move(r);
    auto created = registry->CreateTenant("site1", {}, logic::SecretRole::kReadWrite);
    if (!created.ok()) std::abort();
    secret = created->second.secret;
  }
};

void BM_CheckSecret(benchmark::State& state) {
  RegistryFixture f;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.registry->CheckSecret("site1", "", f.secret));
  }
}
BENCHMARK(BM_CheckSecret);

// A typical base string: accounts.incrementCounters with a handful of parameters.
void BM_CheckSignature(benchmark::State& state) {
  RegistryFixture f;
  const std::string base =
      "POST&https%3A%2F%2Faccounts.example.com%2Faccounts.incrementCounters&UID%3Du1%26apiKey%3D"
      "site1%26counters%3D%255B%257B%2522class%2522%253A%2522_buy%2522%252C%2522path%2522%253A%"
      "2522%252F%2522%257D%255D%26nonce%3Dn1%26timestamp%3D1700000000";
  std::string raw;
  if (!absl::Base64Unescape(f.secret, &raw)) std::abort();
  const std::string good = absl::Base64Escape(logic::HmacSha1(raw, base));
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.registry->CheckSignature("site1", "", base, good));
  }
}
BENCHMARK(BM_CheckSignature);

// Recording fresh nonces: in memory only (arg 0) or durable as countd does it (arg 1, WAL on).
void BM_UseNonce(benchmark::State& state) {
  StoreFixture db("nonces");
  logic::NonceCache::Options options;
  options.clock = storage::RealClock();
  options.max_per_tenant = 1'000'000'000;
  if (state.range(0) == 1) options.store = db.store.get();
  logic::NonceCache cache(options);
  static std::atomic<int64_t> next{0};
  const absl::Time expires = absl::Now() + absl::Seconds(120);
  for (auto _ : state) {
    const std::string nonce = absl::StrCat("n", next.fetch_add(1));
    if (!cache.Use("site1", nonce, expires).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UseNonce)->Arg(0)->Arg(1);

}  // namespace
}  // namespace countd

BENCHMARK_MAIN();
