#include "server/logic/nonce_cache.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/status_util.h"

namespace countd::logic {

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

absl::Status NonceCache::Use(absl::string_view tenant, absl::string_view nonce,
                             absl::Time expires) {
  const absl::Time now = options_.clock->Now();
  absl::MutexLock lock(&mu_);
  SweepLocked(now);
  TenantNonces& t = tenants_[tenant];
  Expire(&t, now);
  if (t.seen.contains(nonce)) {
    return AuthFailure(auth_reason::kReplay, "nonce",
                       "was already used in a request signed within the signature window; "
                       "send a new nonce with every request");
  }
  if (expires < now) return absl::OkStatus();
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

size_t NonceCache::SizeForTest() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [tenant, t] : tenants_) n += t.by_expiry.size();
  return n;
}

}  // namespace countd::logic
