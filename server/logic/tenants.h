// server/logic/tenants.h — the tenant registry: which tenants exist, their secrets (encrypted at
// rest, compared in constant time), their per-tenant settings (allowed browser origins, request
// rate), and the checks every edge runs before a request touches a tenant's data.
//
// Protocol-free: the gRPC edge (metadata credentials), the Gigya routes (secret parameter or
// signed request) and the Stash/Tally routes (origin, rate) all call the same methods here and
// translate the absl::Status they get once, in server/errors.cc (auth_reason payloads).
#ifndef COUNTD_SERVER_LOGIC_TENANTS_H_
#define COUNTD_SERVER_LOGIC_TENANTS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/logic/config_cache.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd::logic {

// What a secret may do.
enum class SecretRole { kReadWrite, kReadOnly };

// Whether a call changes data (needs kReadWrite) or only reads it. Which RPC needs which is in
// the method tables of server/api.
enum class Access { kRead, kWrite };

struct SecretInfo {
  std::string id;  // "s1", "s2", ... unique within the tenant, never reused
  absl::Time created;
  bool revoked = false;
  SecretRole role = SecretRole::kReadWrite;
};

struct TenantSettings {
  // scheme://host[:port] values allowed on the Stash/Tally routes; empty = any origin.
  std::vector<std::string> allowed_origins;
  double rate_limit_per_second = 0;  // 0 = unlimited
  int64_t rate_limit_burst = 0;      // 0 = max(1, rate_limit_per_second)
};

struct TenantInfo {
  std::string tenant;
  absl::Time created;
  TenantSettings settings;
  std::vector<SecretInfo> secrets;  // creation order, revoked included
};

// A secret as created: `secret` is shown to the operator once and never again.
struct NewSecret {
  SecretInfo info;
  std::string secret;  // standard base64 of 32 random bytes
};

// Who sent a request, once its credentials checked out.
struct Principal {
  std::string tenant;
  std::string secret_id;
  SecretRole role = SecretRole::kReadWrite;
};

// At most this many live (unrevoked) secrets per tenant: the old and the new during rotation.
inline constexpr int kMaxLiveSecrets = 2;

// Thread-safe. Holds every tenant in memory (decrypted secrets included, never exposed); writes
// go to storage first (table kMeta), then to memory. Each change is conditional on the
// registry's version record (and bumps it in the same atomic write), so changes made through
// several processes sharing a store never lose one another. A process sharing its store
// re-reads that version record before trusting a copy older than `config_cache_ttl` (and then
// reloads the records if it moved): a change made through one process is seen by the checks of
// the others at most `config_cache_ttl` after it returned, at once by the process that made it.
// On a store one process owns (RocksDB) memory is never re-checked: every change goes through it.
// Rate limits are token buckets kept in memory on RocksDB, and in the store (one record per
// tenant, exact across processes) when processes share it.
class TenantRegistry {
 public:
  struct Options {
    const storage::Clock* clock = nullptr;  // required; must outlive the registry
    // AES-256-GCM key (exactly 32 raw bytes) the secrets are encrypted with at rest.
    std::string secrets_key;
    // Key rotation: the key the secrets were sealed with so far (32 raw bytes; empty = none).
    // Open re-seals every record that opens only with it under `secrets_key`, in one atomic
    // write, before serving.
    std::string previous_secrets_key;
    // When set, Open stores here how many tenant records it re-sealed.
    int* rekeyed = nullptr;
    // Unexpired nonces of signed requests held per tenant (UseNonce); >= 1.
    size_t max_nonces_per_tenant = 100'000;
    // When processes share the store: how stale the in-memory registry may be
    // (ConfigCacheOptions).
    absl::Duration config_cache_ttl = kDefaultConfigCacheTtl;
    // Tests only: returns the raw bytes of each new secret (asked for 32) instead of the CSPRNG,
    // so a test can check signatures against vectors computed elsewhere. Empty = RAND_bytes.
    std::function<std::string(size_t)> secret_bytes_for_test;
  };

  // Loads the registry (and re-seals under secrets_key what opens only with
  // previous_secrets_key). Errors: INVALID_ARGUMENT when a key is not 32 bytes; DATA_LOSS when a
  // stored secret decrypts with neither key (wrong --secrets-key-file); UNAVAILABLE when storage
  // fails (nothing is re-sealed then).
  static absl::StatusOr<std::unique_ptr<TenantRegistry>> Open(storage::Store* store,
                                                              const Options& options);
  virtual ~TenantRegistry() = default;

  // --- administration (countd.v1.Admin) ---
  // Changes start from the stored registry (exact as of the call); GetTenant and ListTenants
  // read the in-memory copy, as the request path does.
  // Errors (all): INVALID_ARGUMENT naming the field (tenant syntax, origin syntax, negative or
  // non-finite rate, negative burst); NOT_FOUND naming "tenant" / "secret_id"; UNAVAILABLE;
  // ABORTED when other processes changed the registry kMaxWriteAttempts times during one change;
  // DATA_LOSS for a tenant whose record holds a secret this process's keys do not open.
  virtual absl::StatusOr<std::pair<TenantInfo, NewSecret>> CreateTenant(
      absl::string_view tenant, const TenantSettings& settings,
      SecretRole role) = 0;  // +ALREADY_EXISTS
  virtual absl::StatusOr<TenantInfo> GetTenant(absl::string_view tenant) = 0;
  virtual absl::StatusOr<std::vector<TenantInfo>> ListTenants() = 0;
  virtual absl::StatusOr<TenantInfo> UpdateTenant(absl::string_view tenant,
                                                  const TenantSettings& settings) = 0;
  virtual absl::Status DeleteTenant(absl::string_view tenant) = 0;
  // FAILED_PRECONDITION naming "tenant" when kMaxLiveSecrets are live.
  virtual absl::StatusOr<NewSecret> AddSecret(absl::string_view tenant, SecretRole role) = 0;
  virtual absl::StatusOr<TenantInfo> RevokeSecret(absl::string_view tenant,
                                                  absl::string_view secret_id) = 0;

  // --- request path ---
  // In memory, except that a process sharing its store re-reads the registry's version record
  // at most once per config_cache_ttl (and the records when it moved), and that a limited tenant's
  // Admit reads and writes its bucket record there. Errors (besides those named below):
  // UNAVAILABLE / DEADLINE_EXCEEDED when that storage access fails; DATA_LOSS for a tenant
  // whose record holds a secret added through a process with another secrets key.
  // `presented` against the tenant's live secrets (only the one with id `secret_id` when that is
  // non-empty), in constant time. Errors: AuthFailure kUnknownTenant (field "tenant" here,
  // as in every method below; edges re-label it as their parameter, e.g. "apiKey"), kBadSecret
  // (field "secret", also for an unknown or revoked secret_id).
  virtual absl::StatusOr<Principal> CheckSecret(absl::string_view tenant,
                                                absl::string_view secret_id,
                                                absl::string_view presented) = 0;
  // `signature_b64` = Base64(HMAC-SHA1(Base64Decode(secret), base_string)) for a live secret
  // (the one named `secret_id` when non-empty). Compared in constant time.
  // Errors: kUnknownTenant; kBadSignature (field "sig").
  virtual absl::StatusOr<Principal> CheckSignature(absl::string_view tenant,
                                                   absl::string_view secret_id,
                                                   absl::string_view base_string,
                                                   absl::string_view signature_b64) = 0;
  // The tenant's settings. Errors: kUnknownTenant.
  virtual absl::StatusOr<TenantSettings> Settings(absl::string_view tenant) = 0;
  // OK when `origin` (the request's Origin header; empty when absent) may call the browser
  // routes of `tenant`. Errors: kUnknownTenant; kOrigin (field "Origin").
  virtual absl::Status CheckOrigin(absl::string_view tenant, absl::string_view origin) = 0;
  // Takes one request from the tenant's token bucket (rate_limit_per_second refills, up to the
  // burst). A tenant without a limit costs nothing. With a store one process owns the bucket is
  // in memory; with a shared store it is one record in the tenant's partition, read and written
  // conditionally, so N processes together admit exactly what one would. Requests of one tenant
  // that arrive while this process writes its bucket take their tokens together in the next
  // write. Errors: kUnknownTenant; kRateLimited; UNAVAILABLE / DEADLINE_EXCEEDED (shared store;
  // the request is refused); ABORTED when other processes wrote the bucket kMaxWriteAttempts
  // times in a row.
  virtual absl::Status Admit(absl::string_view tenant) = 0;
  // Records the nonce of a verified signed request of `tenant` whose signature stays valid until
  // `expires`; durable, so a restart still refuses its replay (NonceCache with the store).
  // Errors: AuthFailure kReplay (field "nonce") for a nonce already used; kRateLimited when the
  // tenant holds max_nonces_per_tenant unexpired nonces; UNAVAILABLE when storage fails.
  virtual absl::Status UseNonce(absl::string_view tenant, absl::string_view nonce,
                                absl::Time expires) = 0;
};

// OK when `principal` may use `access` on `tenant`. Errors: kOtherTenant (field "tenant") when
// the tenants differ, kRole when a read-only secret asks for kWrite.
absl::Status Authorize(const Principal& principal, absl::string_view tenant, Access access);

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_TENANTS_H_
