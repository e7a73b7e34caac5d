#include "server/logic/nonce_cache.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/logic/status_util.h"
#include "storage/keys.h"

namespace countd::logic {
namespace {

// The kRequests scope of nonce records (request_id records use the service names).
constexpr absl::string_view kScope = "nonce";

absl::Status ReplayError() {
  return AuthFailure(auth_reason::kReplay, "nonce",
                     "was already used in a request signed within the signature window; "
                     "send a new nonce with every request");
}

}  // namespace

NonceCache::NonceCache(const Options& options) : options_(options) {}

void NonceCache::Expire(TenantNonces* t, absl::Time now) {
  // A record stays while now <= expires: a replay at exactly `expires` still passes the
  // timestamp check, so it must still be caught here.
  while (!t->by_expiry.empty() && t->by_expiry.begin()->first < now) {
    auto it = t->by_expiry.begin();
    t->seen.erase(absl::string_view(it->second));
    t->by_expiry.erase(it);
  }
}

void NonceCache::SweepLocked(absl::Time now) {
  // Tenants that stopped sending keep their records until a sweep; one pass a second over the
  // tenants (each pass only looks at records that did expire) keeps that bounded and cheap.
  if (now - last_sweep_ < absl::Seconds(1)) return;
  last_sweep_ = now;
  for (auto it = tenants_.begin(); it != tenants_.end();) {
    Expire(&it->second, now);
    if (it->second.by_expiry.empty()) {
      tenants_.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::Status NonceCache::RecordLocked(absl::string_view tenant, absl::string_view nonce,
                                      absl::Time expires, absl::Time now) {
  TenantNonces& t = tenants_[tenant];
  Expire(&t, now);
  if (t.seen.contains(nonce)) return ReplayError();
  if (expires < now) return absl::OkStatus();  // nothing left to remember
  if (t.by_expiry.size() >= std::max<size_t>(options_.max_per_tenant, 1)) {
    return AuthFailure(
        auth_reason::kRateLimited, "nonce",
        absl::StrCat("too many signed requests within the signature window (at most ",
                     options_.max_per_tenant, " per apiKey); retry later"));
  }
  auto node = t.by_expiry.emplace(expires, std::string(nonce));
  t.seen.insert(absl::string_view(node->second));
  return absl::OkStatus();
}

void NonceCache::Forget(absl::string_view tenant, absl::string_view nonce, absl::Time expires) {
  absl::MutexLock lock(&mu_);
  auto t = tenants_.find(tenant);
  if (t == tenants_.end()) return;
  auto [first, last] = t->second.by_expiry.equal_range(expires);
  for (auto it = first; it != last; ++it) {
    if (it->second != nonce) continue;
    t->second.seen.erase(absl::string_view(it->second));
    t->second.by_expiry.erase(it);
    return;
  }
}

absl::Status NonceCache::Load() {
  if (options_.store == nullptr) return absl::OkStatus();
  const absl::Time now = options_.clock->Now();
  absl::Status malformed;
  absl::MutexLock lock(&mu_);
  // Across tenants: only a store with one ordered key space can list them (RocksDB). Elsewhere
  // the memory starts empty and the store's own check (Use) still refuses every replay.
  absl::Status scanned = options_.store->ScanAllPartitions(
      storage::Table::kRequests, storage::PrefixRange(storage::keys::RequestScopePrefix(kScope)),
      [&](absl::string_view key, absl::string_view value) {
        std::vector<absl::string_view> parts = storage::keys::Split(key);
        if (parts.size() != 3 || value.size() != 8) {
          malformed = absl::DataLossError("nonce record: malformed key or value in table requests");
          return false;
        }
        // The store never returns expired records; the in-memory expiry is the signature's.
        const absl::Time expires =
            absl::FromUnixSeconds(storage::keys::GetBigEndian64(value)) - absl::Seconds(1);
        if (expires >= now) {
          TenantNonces& t = tenants_[parts[1]];
          auto node = t.by_expiry.emplace(expires, std::string(parts[2]));
          t.seen.insert(absl::string_view(node->second));
        }
        return true;
      });
  if (absl::IsUnimplemented(scanned)) return absl::OkStatus();
  if (!scanned.ok()) return scanned;
  return malformed;
}

absl::Status NonceCache::Use(absl::string_view tenant, absl::string_view nonce,
                             absl::Time expires) {
  const absl::Time now = options_.clock->Now();
  {
    absl::MutexLock lock(&mu_);
    SweepLocked(now);
    absl::Status recorded = RecordLocked(tenant, nonce, expires, now);
    if (!recorded.ok()) return recorded;
  }
  if (options_.store == nullptr || expires < now) return absl::OkStatus();
  // Written outside the lock, so concurrent signed requests share WAL writes (and fsyncs). The
  // record is in memory already: a concurrent replay is refused meanwhile. Kept until the whole
  // second after `expires` (the store drops a record once its expiry second has begun).
  std::string value;
  storage::keys::PutBigEndian64(&value, absl::ToUnixSeconds(expires) + 1);
  // Expected absent: another process sharing the store (Redis Cluster) that saw the nonce first
  // makes this write fail ABORTED, which is a replay.
  const std::string key = storage::keys::NonceKey(tenant, nonce);
  storage::WriteBatch batch(storage::keys::TenantPartition(tenant));
  batch.Expect(storage::Table::kRequests, key, std::nullopt);
  batch.Put(storage::Table::kRequests, key, value);
  absl::Status written = options_.store->Write(batch);
  if (absl::IsAborted(written)) return ReplayError();
  if (!written.ok()) Forget(tenant, nonce, expires);
  return written;
}

size_t NonceCache::SizeForTest() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [tenant, t] : tenants_) n += t.by_expiry.size();
  return n;
}

}  // namespace countd::logic
