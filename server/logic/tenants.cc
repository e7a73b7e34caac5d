#include "server/logic/tenants.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "server/logic/config_cache.h"
#include "server/logic/nonce_cache.h"
#include "server/logic/request_log.h"
#include "server/logic/secret_box.h"
#include "server/logic/status_util.h"
#include "server/logic/validate.h"
#include "storage/keys.h"

namespace countd::logic {
namespace {

namespace reason = auth_reason;

// Raw bytes of a secret; the operator sees their standard base64 (44 characters).
constexpr size_t kSecretBytes = 32;
// Version byte that starts every tenant record (the encoding is in EncodeRecord).
constexpr uint8_t kRecordVersion = 1;
// Prefix of the associated data of a sealed secret: the ciphertext is bound to its tenant and
// secret id, so it cannot be copied into another record (or another id) and still open.
constexpr absl::string_view kAadLabel = "countd.tenant-secret.v1";

constexpr size_t kMaxOrigins = 100;
constexpr size_t kMaxOriginBytes = 512;
constexpr double kMaxRatePerSecond = 1e9;
constexpr int64_t kMaxBurst = 1'000'000'000;

// --- Record encoding -------------------------------------------------------------------------
//
// A tenant record (kMeta, keys::TenantRecordKey) is, in order, with integers big-endian:
//   u8  version (1)
//   i64 created, unix microseconds
//   u32 number of allowed origins, then each as bytes (u32 length + bytes)
//   u64 rate_limit_per_second (IEEE-754 bits)
//   i64 rate_limit_burst
//   u32 number the next secret id gets ("s<n>")
//   u32 number of secrets, then each: bytes id, i64 created (unix us), u8 revoked (0/1),
//       u8 role (0 read-write, 1 read-only), bytes sealed (SecretBox::Seal of the 32 raw bytes
//       with aad = kAadLabel \0 tenant \0 id)

class Encoder {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    for (int i = 3; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void I64(int64_t v) { storage::keys::PutBigEndian64(&out_, v); }
  void F64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    I64(static_cast<int64_t>(bits));
  }
  void Bytes(absl::string_view v) {
    U32(static_cast<uint32_t>(v.size()));
    out_.append(v.data(), v.size());
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads what Encoder wrote; any read past the end makes ok() false (and returns zeros).
class Decoder {
 public:
  explicit Decoder(absl::string_view in) : in_(in) {}
  uint8_t U8() {
    if (!Need(1)) return 0;
    uint8_t v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return v;
  }
  uint32_t U32() {
    if (!Need(4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(4);
    return v;
  }
  int64_t I64() {
    if (!Need(8)) return 0;
    int64_t v = storage::keys::GetBigEndian64(in_);
    in_.remove_prefix(8);
    return v;
  }
  double F64() {
    uint64_t bits = static_cast<uint64_t>(I64());
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  std::string Bytes() {
    uint32_t n = U32();
    if (!Need(n)) return std::string();
    std::string v(in_.substr(0, n));
    in_.remove_prefix(n);
    return v;
  }
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }

 private:
  bool Need(size_t n) {
    if (!ok_ || in_.size() < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  absl::string_view in_;
  bool ok_ = true;
};

std::string SecretAad(absl::string_view tenant, absl::string_view id) {
  return absl::StrCat(kAadLabel, absl::string_view("\0", 1), tenant, absl::string_view("\0", 1),
                      id);
}

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }

// --- Validation ----------------------------------------------------------------------------

// One allowed origin in canonical form: lower case, the scheme's default port left out (a
// browser's Origin header never carries it), so the exact comparison in CheckOrigin matches
// what browsers send.
absl::StatusOr<std::string> NormalizeOrigin(absl::string_view field, absl::string_view value) {
  if (value.empty()) return MissingField(field);
  if (value.size() > kMaxOriginBytes) {
    return BadFormat(field, absl::StrCat("is longer than ", kMaxOriginBytes, " bytes"));
  }
  const std::string lower = absl::AsciiStrToLower(value);
  constexpr absl::string_view kShape =
      "must be an origin: http:// or https://, a host and an optional :port, with no path, "
      "query or fragment (e.g. \"https://www.example.com\")";
  absl::string_view rest = lower;
  std::string scheme;
  if (absl::ConsumePrefix(&rest, "https://")) {
    scheme = "https";
  } else if (absl::ConsumePrefix(&rest, "http://")) {
    scheme = "http";
  } else {
    return BadFormat(field, absl::StrCat(Quote(value), " ", kShape));
  }
  if (rest.find_first_of("/?#@\\ ") != absl::string_view::npos) {
    return BadFormat(field, absl::StrCat(Quote(value), " ", kShape));
  }
  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(rest, "[")) {  // IPv6 literal
    size_t close = rest.find(']');
    if (close == absl::string_view::npos) {
      return BadFormat(field, absl::StrCat(Quote(value), ": the IPv6 address lacks its ']'"));
    }
    host = rest.substr(0, close + 1);
    absl::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return BadFormat(field, absl::StrCat(Quote(value), " ", kShape));
      port = after.substr(1);
    }
    for (char c : host.substr(1, host.size() - 2)) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return BadFormat(field, absl::StrCat(Quote(value), ": not a valid IPv6 address"));
      }
    }
    if (host.size() <= 2) {
      return BadFormat(field, absl::StrCat(Quote(value), ": the host is empty"));
    }
  } else {
    size_t colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != absl::string_view::npos) port = rest.substr(colon + 1);
    if (host.empty()) return BadFormat(field, absl::StrCat(Quote(value), ": the host is empty"));
    for (char c : host) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        return BadFormat(field, absl::StrCat(Quote(value),
                                             ": the host may hold only letters, "
                                             "digits, '.', '-' and '_'"));
      }
    }
    if (host.front() == '.' || host.back() == '.' || absl::StrContains(host, "..")) {
      return BadFormat(field, absl::StrCat(Quote(value), ": the host has an empty label"));
    }
  }
  std::string out = absl::StrCat(scheme, "://", host);
  if (!port.empty() || rest.back() == ':') {
    int number = 0;
    bool digits =
        !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
          return absl::ascii_isdigit(static_cast<unsigned char>(c));
        });
    if (!digits || !absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
      return BadFormat(field, absl::StrCat(Quote(value), ": the port must be 1..65535"));
    }
    const bool default_port =
        (scheme == "http" && number == 80) || (scheme == "https" && number == 443);
    if (!default_port) absl::StrAppend(&out, ":", number);
  }
  return out;
}

// `settings` checked and in canonical form (origins normalized). Fields are named as in
// countd.v1.TenantSettings under "settings.".
absl::StatusOr<TenantSettings> ValidateSettings(const TenantSettings& settings) {
  TenantSettings out;
  if (settings.allowed_origins.size() > kMaxOrigins) {
    return BadValue("settings.allowed_origins",
                    absl::StrCat("has ", settings.allowed_origins.size(), " entries; at most ",
                                 kMaxOrigins, " are allowed"));
  }
  for (size_t i = 0; i < settings.allowed_origins.size(); ++i) {
    const std::string field = absl::StrCat("settings.allowed_origins[", i, "]");
    absl::StatusOr<std::string> origin = NormalizeOrigin(field, settings.allowed_origins[i]);
    if (!origin.ok()) return origin.status();
    auto dup = std::find(out.allowed_origins.begin(), out.allowed_origins.end(), *origin);
    if (dup != out.allowed_origins.end()) {
      return BadValue(field, absl::StrCat(Quote(*origin),
                                          " is listed twice (also as "
                                          "settings.allowed_origins[",
                                          dup - out.allowed_origins.begin(), "])"));
    }
    out.allowed_origins.push_back(*std::move(origin));
  }
  const double rate = settings.rate_limit_per_second;
  if (!std::isfinite(rate) || rate < 0 || rate > kMaxRatePerSecond) {
    return BadValue(
        "settings.rate_limit_per_second",
        absl::StrCat(rate, " is not within 0..", kMaxRatePerSecond, " (0 = unlimited)"));
  }
  out.rate_limit_per_second = rate;
  if (settings.rate_limit_burst < 0 || settings.rate_limit_burst > kMaxBurst) {
    return BadValue("settings.rate_limit_burst",
                    absl::StrCat(settings.rate_limit_burst, " is not within 0..", kMaxBurst,
                                 " (0 = max(1, rate_limit_per_second))"));
  }
  out.rate_limit_burst = settings.rate_limit_burst;
  return out;
}

absl::Status UnknownTenant(absl::string_view tenant) {
  return AuthFailure(reason::kUnknownTenant, "tenant",
                     absl::StrCat(Quote(tenant), " is not a registered tenant"));
}

// --- The registry --------------------------------------------------------------------------

// One secret as held in memory. The raw bytes never leave this file.
struct StoredSecret {
  SecretInfo info;
  std::string sealed;      // as stored: re-encoding a record keeps the ciphertext
  std::string raw;         // the 32 secret bytes (HMAC key); empty once revoked
  std::string b64_digest;  // SHA-256 of the base64 form the operator was given; empty if revoked

  StoredSecret() = default;
  StoredSecret(const StoredSecret&) = default;
  StoredSecret& operator=(const StoredSecret&) = default;
  StoredSecret(StoredSecret&&) = default;
  StoredSecret& operator=(StoredSecret&&) = default;
  ~StoredSecret() {
    Cleanse(&raw);
    Cleanse(&b64_digest);
  }
  void Forget() {
    Cleanse(&raw);
    Cleanse(&b64_digest);
  }
};

// One tenant. Published as an immutable snapshot (shared_ptr<const TenantRecord>): a change
// builds a new record, stores it, then swaps the pointer.
struct TenantRecord {
  std::string tenant;
  absl::Time created;
  TenantSettings settings;
  uint32_t next_secret = 1;
  std::vector<StoredSecret> secrets;
  // Not stored. A secret opened only with the previous key (Open re-seals it).
  bool resealed = false;
  // Not stored. Not OK when a secret another process added does not open with this process's
  // keys: the tenant's requests fail with it (the others' are served).
  absl::Status broken;

  TenantInfo Info() const {
    TenantInfo info;
    info.tenant = tenant;
    info.created = created;
    info.settings = settings;
    for (const StoredSecret& s : secrets) info.secrets.push_back(s.info);
    return info;
  }
  int LiveSecrets() const {
    return static_cast<int>(std::count_if(secrets.begin(), secrets.end(),
                                          [](const StoredSecret& s) { return !s.info.revoked; }));
  }
};

// Every registered tenant: the value of the registry's ConfigCache.
struct Tenants {
  std::map<std::string, std::shared_ptr<const TenantRecord>, std::less<>> records;
};

// The in-memory token bucket of one tenant (a store one process owns). Its own lock keeps Admit
// of different tenants apart.
struct Bucket {
  absl::Mutex mu;
  bool started ABSL_GUARDED_BY(mu) = false;
  double tokens ABSL_GUARDED_BY(mu) = 0;
  absl::Time last ABSL_GUARDED_BY(mu);
};

// One round of a shared bucket: the requests of this process that queued while the previous
// round was being written take their tokens together, in one conditional write.
struct Round {
  int64_t requested = 0;  // frozen once a leader starts the round
  int64_t granted = 0;    // requests 0 .. granted-1 of the round are admitted
  bool done = false;
  absl::Status status;  // a storage failure fails every request of the round
};

// This process's side of a tenant's bucket in a shared store (key RateLimitKey in the tenant's
// partition). Rounds run one at a time per process, so processes, not requests, contend for the
// record.
struct SharedBucket {
  absl::Mutex mu;
  bool busy ABSL_GUARDED_BY(mu) = false;                  // a round is being written
  std::shared_ptr<Round> next ABSL_GUARDED_BY(mu);        // the round requests join now
  bool known ABSL_GUARDED_BY(mu) = false;                 // `stored` is worth trying without a read
  std::optional<std::string> stored ABSL_GUARDED_BY(mu);  // the record as last read or written
};

// A tenant's bucket, of its current incarnation (a tenant deleted and created again starts
// with a full bucket).
struct BucketSlot {
  absl::Time created;
  std::shared_ptr<Bucket> local;
  std::shared_ptr<SharedBucket> shared;
};

std::string EncodeRecord(const TenantRecord& r) {
  Encoder e;
  e.U8(kRecordVersion);
  e.I64(ToMicros(r.created));
  e.U32(static_cast<uint32_t>(r.settings.allowed_origins.size()));
  for (const std::string& o : r.settings.allowed_origins) e.Bytes(o);
  e.F64(r.settings.rate_limit_per_second);
  e.I64(r.settings.rate_limit_burst);
  e.U32(r.next_secret);
  e.U32(static_cast<uint32_t>(r.secrets.size()));
  for (const StoredSecret& s : r.secrets) {
    e.Bytes(s.info.id);
    e.I64(ToMicros(s.info.created));
    e.U8(s.info.revoked ? 1 : 0);
    e.U8(s.info.role == SecretRole::kReadOnly ? 1 : 0);
    e.Bytes(s.sealed);
  }
  return e.Take();
}

// --- Shared rate-limit records ---------------------------------------------------------------
//
// The value of a RateLimitKey record (table kRequests) is, with integers big-endian:
//   i64 expiry, unix seconds (kRequests rule): when the bucket is full again, after which an
//       absent record means the same thing
//   u8  version (1)
//   i64 the tenant's created time, unix microseconds (another incarnation's record is ignored)
//   u64 tokens (IEEE-754 bits)
//   i64 time of the last refill, unix nanoseconds
constexpr uint8_t kBucketVersion = 1;
constexpr int64_t kMaxBucketLifetimeSeconds = int64_t{10} * 365 * 24 * 3600;

struct BucketState {
  double tokens = 0;
  absl::Time last;
};

// The stored state of the bucket of the tenant incarnation `created`; a full bucket at `now`
// when absent, of another incarnation, or unreadable.
BucketState DecodeBucket(const std::optional<std::string>& stored, absl::Time created, double burst,
                         absl::Time now) {
  if (stored.has_value()) {
    Decoder d(*stored);
    d.I64();  // expiry
    const uint8_t version = d.U8();
    const int64_t incarnation = d.I64();
    const double tokens = d.F64();
    const int64_t last_ns = d.I64();
    if (d.ok() && d.done() && version == kBucketVersion && incarnation == ToMicros(created) &&
        std::isfinite(tokens)) {
      return BucketState{tokens, absl::FromUnixNanos(last_ns)};
    }
  }
  return BucketState{burst, now};
}

std::string EncodeBucket(const BucketState& b, absl::Time created, double rate, double burst) {
  // Full again after (burst - tokens) / rate seconds; the whole second after that, so the store
  // (which drops a record once its expiry second began) never drops it early.
  const double refill = std::max(0.0, (burst - b.tokens) / rate);
  const int64_t lifetime = refill >= static_cast<double>(kMaxBucketLifetimeSeconds)
                               ? kMaxBucketLifetimeSeconds
                               : static_cast<int64_t>(std::ceil(refill)) + 1;
  Encoder e;
  e.I64(absl::ToUnixSeconds(b.last) + lifetime);
  e.U8(kBucketVersion);
  e.I64(ToMicros(created));
  e.F64(b.tokens);
  e.I64(absl::ToUnixNanos(b.last));
  return e.Take();
}

// Refills `b` up to `now` (a clock that steps back refills nothing) and caps it at `burst` (also
// when the burst was lowered).
void Refill(BucketState* b, double rate, double burst, absl::Time now) {
  if (now > b->last) {
    b->tokens += rate * absl::ToDoubleSeconds(now - b->last);
    b->last = now;
  }
  b->tokens = std::min(b->tokens, burst);
}

absl::Status RateLimited(absl::string_view tenant, double rate, double burst) {
  return AuthFailure(reason::kRateLimited, "",
                     absl::StrCat("tenant ", Quote(tenant), " is over its rate limit of ", rate,
                                  " requests per second (burst ", burst, "); retry later"));
}

// The one unit of the registry's ConfigCache.
constexpr absl::string_view kRegistry = "tenants";

ConfigUnit RegistryUnit() {
  return ConfigUnit{storage::keys::TenantRegistryPartition(),
                    storage::keys::TenantRegistryVersionKey(), "the tenant registry"};
}

class TenantRegistryImpl final : public TenantRegistry {
 public:
  TenantRegistryImpl(storage::Store* store, const Options& options, std::unique_ptr<SecretBox> box,
                     std::unique_ptr<SecretBox> previous_box)
      : store_(store),
        clock_(options.clock),
        secret_bytes_for_test_(options.secret_bytes_for_test),
        box_(std::move(box)),
        previous_box_(std::move(previous_box)),
        nonces_(NonceCache::Options{options.clock, options.max_nonces_per_tenant, store}),
        registry_(
            store, ConfigCacheOptions{options.clock, options.config_cache_ttl},
            [](const std::string&) { return RegistryUnit(); },
            [this](const std::string&, const Tenants* previous) { return LoadAll(previous); }),
        shared_buckets_(registry_.revalidates()) {}

  absl::Status UseNonce(absl::string_view tenant, absl::string_view nonce,
                        absl::Time expires) override {
    return nonces_.Use(tenant, nonce, expires);
  }

  // Reads every record, and the nonces of signed requests still within their window; records
  // sealed with the previous key are re-sealed with the current one and stored (all in one
  // conditional write) before anything is published. Sets *rekeyed to their number. Errors as
  // TenantRegistry::Open.
  absl::Status Load(int* rekeyed) {
    absl::Status nonces = nonces_.Load();
    if (!nonces.ok()) return nonces;
    absl::Status s = registry_.Update(
        kRegistry,
        [&](const Tenants& current,
            storage::WriteBatch* batch) -> absl::StatusOr<std::shared_ptr<const Tenants>> {
          *rekeyed = 0;
          auto next = std::make_shared<Tenants>(current);
          for (auto& [name, record] : next->records) {
            if (!record->resealed) continue;
            auto copy = std::make_shared<TenantRecord>(*record);
            copy->resealed = false;
            batch->Put(storage::Table::kMeta, storage::keys::TenantRecordKey(name),
                       EncodeRecord(*copy));
            record = std::move(copy);
            ++*rekeyed;
          }
          return std::shared_ptr<const Tenants>(std::move(next));
        });
    if (!s.ok()) return s;
    // From now on a record that does not open breaks only its tenant (see TenantRecord::broken).
    opened_ = true;
    return absl::OkStatus();
  }

  // --- administration ---

  absl::StatusOr<std::pair<TenantInfo, NewSecret>> CreateTenant(absl::string_view tenant,
                                                                const TenantSettings& settings,
                                                                SecretRole role) override {
    absl::Status s = CheckUrlSafe("tenant", tenant);
    if (!s.ok()) return s;
    absl::StatusOr<TenantSettings> valid = ValidateSettings(settings);
    if (!valid.ok()) return valid.status();
    std::pair<TenantInfo, NewSecret> out;
    s = Change([&](Tenants* next, storage::WriteBatch* batch) -> absl::Status {
      if (next->records.count(tenant) > 0) {
        return absl::AlreadyExistsError(
            absl::StrCat("tenant: ", Quote(tenant), " is already registered"));
      }
      auto record = std::make_shared<TenantRecord>();
      record->tenant = std::string(tenant);
      record->created = clock_->Now();
      record->settings = *valid;
      absl::StatusOr<NewSecret> secret = AppendSecret(record.get(), role);
      if (!secret.ok()) return secret.status();
      out = std::make_pair(record->Info(), *std::move(secret));
      Stage(std::move(record), next, batch);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return out;
  }

  absl::StatusOr<TenantInfo> GetTenant(absl::string_view tenant) override {
    absl::StatusOr<std::shared_ptr<const TenantRecord>> record = Existing(tenant);
    if (!record.ok()) return record.status();
    return (*record)->Info();
  }

  absl::StatusOr<std::vector<TenantInfo>> ListTenants() override {
    absl::StatusOr<std::shared_ptr<const Tenants>> all = All();
    if (!all.ok()) return all.status();
    std::vector<TenantInfo> out;
    out.reserve((*all)->records.size());
    for (const auto& [name, record] : (*all)->records) out.push_back(record->Info());
    return out;
  }

  absl::StatusOr<TenantInfo> UpdateTenant(absl::string_view tenant,
                                          const TenantSettings& settings) override {
    absl::StatusOr<TenantSettings> valid = ValidateSettings(settings);
    if (!valid.ok()) return valid.status();
    TenantInfo out;
    absl::Status s = Change([&](Tenants* next, storage::WriteBatch* batch) -> absl::Status {
      absl::StatusOr<std::shared_ptr<const TenantRecord>> current = ExistingIn(*next, tenant);
      if (!current.ok()) return current.status();
      auto record = std::make_shared<TenantRecord>(**current);
      record->settings = *valid;
      out = record->Info();
      Stage(std::move(record), next, batch);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return out;
  }

  absl::Status DeleteTenant(absl::string_view tenant) override {
    absl::Status s = CheckUrlSafe("tenant", tenant);
    if (!s.ok()) return s;
    s = Change([&](Tenants* next, storage::WriteBatch* batch) -> absl::Status {
      auto it = next->records.find(tenant);
      if (it == next->records.end()) {
        return NotFound("tenant", absl::StrCat(Quote(tenant), " is not a registered tenant"));
      }
      next->records.erase(it);
      batch->Delete(storage::Table::kMeta, storage::keys::TenantRecordKey(tenant));
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    absl::MutexLock lock(&buckets_mu_);
    buckets_.erase(std::string(tenant));
    return absl::OkStatus();
  }

  absl::StatusOr<NewSecret> AddSecret(absl::string_view tenant, SecretRole role) override {
    NewSecret out;
    absl::Status s = Change([&](Tenants* next, storage::WriteBatch* batch) -> absl::Status {
      absl::StatusOr<std::shared_ptr<const TenantRecord>> current = ExistingIn(*next, tenant);
      if (!current.ok()) return current.status();
      if ((*current)->LiveSecrets() >= kMaxLiveSecrets) {
        std::vector<std::string> live;
        for (const StoredSecret& s : (*current)->secrets) {
          if (!s.info.revoked) live.push_back(s.info.id);
        }
        return Refused("tenant", absl::StrCat(Quote(tenant), " already has ", kMaxLiveSecrets,
                                              " live secrets (", absl::StrJoin(live, ", "),
                                              "): revoke one before adding another"));
      }
      auto record = std::make_shared<TenantRecord>(**current);
      absl::StatusOr<NewSecret> secret = AppendSecret(record.get(), role);
      if (!secret.ok()) return secret.status();
      out = *std::move(secret);
      Stage(std::move(record), next, batch);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return out;
  }

  absl::StatusOr<TenantInfo> RevokeSecret(absl::string_view tenant,
                                          absl::string_view secret_id) override {
    TenantInfo out;
    absl::Status s = Change([&](Tenants* next, storage::WriteBatch* batch) -> absl::Status {
      absl::StatusOr<std::shared_ptr<const TenantRecord>> current = ExistingIn(*next, tenant);
      if (!current.ok()) return current.status();
      if (secret_id.empty()) return MissingField("secret_id");
      auto record = std::make_shared<TenantRecord>(**current);
      auto it = std::find_if(record->secrets.begin(), record->secrets.end(),
                             [&](const StoredSecret& s) { return s.info.id == secret_id; });
      if (it == record->secrets.end()) {
        return NotFound("secret_id", absl::StrCat(Quote(secret_id), " is not a secret of tenant ",
                                                  Quote(tenant)));
      }
      out = record->Info();
      if (it->info.revoked) return absl::OkStatus();  // idempotent: nothing to write
      it->info.revoked = true;
      it->Forget();
      out = record->Info();
      Stage(std::move(record), next, batch);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return out;
  }

  // --- request path ---

  absl::StatusOr<Principal> CheckSecret(absl::string_view tenant, absl::string_view secret_id,
                                        absl::string_view presented) override {
    absl::StatusOr<std::shared_ptr<const TenantRecord>> found = Find(tenant);
    if (!found.ok()) return found.status();
    const TenantRecord& record = **found;
    const std::string digest = Sha256(presented);
    const StoredSecret* match = nullptr;
    // Every candidate is compared (no early exit), each in constant time.
    for (const StoredSecret& s : record.secrets) {
      if (s.info.revoked || (!secret_id.empty() && s.info.id != secret_id)) continue;
      if (ConstantTimeEqualsSameLength(digest, s.b64_digest) && match == nullptr) match = &s;
    }
    if (match == nullptr) {
      return AuthFailure(reason::kBadSecret, "secret",
                         secret_id.empty()
                             ? "does not match a live secret of the tenant"
                             : absl::StrCat("does not match a live secret of the tenant with id ",
                                            Quote(secret_id)));
    }
    return Principal{record.tenant, match->info.id, match->info.role};
  }

  absl::StatusOr<Principal> CheckSignature(absl::string_view tenant, absl::string_view secret_id,
                                           absl::string_view base_string,
                                           absl::string_view signature_b64) override {
    absl::StatusOr<std::shared_ptr<const TenantRecord>> found = Find(tenant);
    if (!found.ok()) return found.status();
    const TenantRecord& record = **found;
    std::string presented;
    if (signature_b64.empty() || !absl::Base64Unescape(signature_b64, &presented)) {
      return AuthFailure(reason::kBadSignature, "sig", "is not standard base64");
    }
    const StoredSecret* match = nullptr;
    for (const StoredSecret& s : record.secrets) {
      if (s.info.revoked || (!secret_id.empty() && s.info.id != secret_id)) continue;
      std::string mac = HmacSha1(s.raw, base_string);
      if (ConstantTimeEqualsSameLength(presented, mac) && match == nullptr) match = &s;
    }
    if (match == nullptr) {
      return AuthFailure(reason::kBadSignature, "sig",
                         secret_id.empty()
                             ? "is not the signature of the request with a live secret of the "
                               "tenant"
                             : absl::StrCat("is not the signature of the request with the live "
                                            "secret ",
                                            Quote(secret_id), " of the tenant"));
    }
    return Principal{record.tenant, match->info.id, match->info.role};
  }

  absl::StatusOr<TenantSettings> Settings(absl::string_view tenant) override {
    absl::StatusOr<std::shared_ptr<const TenantRecord>> found = Find(tenant);
    if (!found.ok()) return found.status();
    return (*found)->settings;
  }

  absl::Status CheckOrigin(absl::string_view tenant, absl::string_view origin) override {
    absl::StatusOr<std::shared_ptr<const TenantRecord>> found = Find(tenant);
    if (!found.ok()) return found.status();
    const std::vector<std::string>& allowed = (*found)->settings.allowed_origins;
    if (allowed.empty()) return absl::OkStatus();
    if (origin.empty()) {
      return AuthFailure(reason::kOrigin, "Origin",
                         "is required: the tenant accepts only its allowed origins");
    }
    for (const std::string& a : allowed) {
      if (a == origin) return absl::OkStatus();
    }
    return AuthFailure(reason::kOrigin, "Origin",
                       absl::StrCat(Quote(origin), " is not an allowed origin of the tenant"));
  }

  absl::Status Admit(absl::string_view tenant) override {
    absl::StatusOr<std::shared_ptr<const TenantRecord>> found = Find(tenant);
    if (!found.ok()) return found.status();
    const TenantRecord& record = **found;
    const double rate = record.settings.rate_limit_per_second;
    if (rate <= 0) return absl::OkStatus();
    const double burst = record.settings.rate_limit_burst > 0
                             ? static_cast<double>(record.settings.rate_limit_burst)
                             : std::max(1.0, rate);
    BucketSlot slot = SlotOf(record);
    if (slot.shared != nullptr) return AdmitShared(record, *slot.shared, rate, burst);

    const absl::Time now = clock_->Now();
    Bucket& b = *slot.local;
    absl::MutexLock lock(&b.mu);
    if (!b.started) {
      b.started = true;
      b.tokens = burst;
      b.last = now;
    }
    BucketState state{b.tokens, b.last};
    Refill(&state, rate, burst, now);
    b.tokens = state.tokens;
    b.last = state.last;
    if (b.tokens < 1) return RateLimited(tenant, rate, burst);
    b.tokens -= 1;
    return absl::OkStatus();
  }

 private:
  // Every tenant's record from the store, secrets decrypted (those `previous` already held are
  // taken from it: a secret id never changes its bytes).
  absl::StatusOr<std::shared_ptr<const Tenants>> LoadAll(const Tenants* previous) {
    absl::Status failure;
    auto loaded = std::make_shared<Tenants>();
    const std::string prefix = storage::keys::TenantRegistryPrefix();
    absl::Status scanned = store_->Scan(
        storage::keys::TenantRegistryPartition(), storage::Table::kMeta,
        storage::PrefixRange(prefix), [&](absl::string_view key, absl::string_view value) {
          std::vector<absl::string_view> parts = storage::keys::Split(key);
          if (parts.size() != 2) {
            failure = absl::DataLossError(absl::StrCat("tenant registry: malformed record key ",
                                                       Quote(key), " in table meta"));
            return false;
          }
          const TenantRecord* before = nullptr;
          if (previous != nullptr) {
            auto it = previous->records.find(parts[1]);
            if (it != previous->records.end()) before = it->second.get();
          }
          absl::StatusOr<TenantRecord> record = DecodeRecord(parts[1], value, before);
          if (!record.ok()) {
            failure = record.status();
            return false;
          }
          loaded->records[std::string(parts[1])] =
              std::make_shared<const TenantRecord>(*std::move(record));
          return true;
        });
    if (!scanned.ok()) return scanned;
    if (!failure.ok()) return failure;
    // Buckets of tenants that are gone (deleted through another process) go too.
    absl::MutexLock lock(&buckets_mu_);
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      if (loaded->records.count(it->first) == 0) {
        buckets_.erase(it++);
      } else {
        ++it;
      }
    }
    return std::shared_ptr<const Tenants>(std::move(loaded));
  }

  absl::StatusOr<std::shared_ptr<const Tenants>> All() { return registry_.Get(kRegistry); }

  // The record of a registered tenant, for the request path. Errors: kUnknownTenant; the
  // tenant's DATA_LOSS (TenantRecord::broken); UNAVAILABLE when the registry cannot be
  // re-validated.
  absl::StatusOr<std::shared_ptr<const TenantRecord>> Find(absl::string_view tenant) {
    absl::StatusOr<std::shared_ptr<const Tenants>> all = All();
    if (!all.ok()) return all.status();
    auto it = (*all)->records.find(tenant);
    if (it == (*all)->records.end()) return UnknownTenant(tenant);
    if (!it->second->broken.ok()) return it->second->broken;
    return it->second;
  }

  // The record of a registered tenant in `tenants`. Errors: INVALID_ARGUMENT for a malformed
  // name; NOT_FOUND; the tenant's DATA_LOSS.
  static absl::StatusOr<std::shared_ptr<const TenantRecord>> ExistingIn(const Tenants& tenants,
                                                                        absl::string_view tenant) {
    absl::Status s = CheckUrlSafe("tenant", tenant);
    if (!s.ok()) return s;
    auto it = tenants.records.find(tenant);
    if (it == tenants.records.end()) {
      return NotFound("tenant", absl::StrCat(Quote(tenant), " is not a registered tenant"));
    }
    if (!it->second->broken.ok()) return it->second->broken;
    return it->second;
  }

  absl::StatusOr<std::shared_ptr<const TenantRecord>> Existing(absl::string_view tenant) {
    absl::Status s = CheckUrlSafe("tenant", tenant);
    if (!s.ok()) return s;
    absl::StatusOr<std::shared_ptr<const Tenants>> all = All();
    if (!all.ok()) return all.status();
    return ExistingIn(**all, tenant);
  }

  // Runs an administrative change on a copy of the current registry (exact as of the call) and
  // stores it conditionally; see ConfigVersionCache::Update.
  absl::Status Change(const std::function<absl::Status(Tenants*, storage::WriteBatch*)>& change) {
    return registry_.Update(
        kRegistry,
        [&](const Tenants& current,
            storage::WriteBatch* batch) -> absl::StatusOr<std::shared_ptr<const Tenants>> {
          auto next = std::make_shared<Tenants>(current);
          absl::Status s = change(next.get(), batch);
          if (!s.ok()) return s;
          return std::shared_ptr<const Tenants>(std::move(next));
        });
  }

  // Puts `record` into `next` and its bytes into `batch`.
  static void Stage(std::shared_ptr<TenantRecord> record, Tenants* next,
                    storage::WriteBatch* batch) {
    batch->Put(storage::Table::kMeta, storage::keys::TenantRecordKey(record->tenant),
               EncodeRecord(*record));
    std::string name = record->tenant;
    next->records[name] = std::move(record);
  }

  // The bucket of the tenant incarnation `record`.
  BucketSlot SlotOf(const TenantRecord& record) {
    {
      absl::ReaderMutexLock lock(&buckets_mu_);
      auto it = buckets_.find(record.tenant);
      if (it != buckets_.end() && it->second.created == record.created) return it->second;
    }
    absl::MutexLock lock(&buckets_mu_);
    BucketSlot& slot = buckets_[record.tenant];
    if (slot.created != record.created || (slot.local == nullptr && slot.shared == nullptr)) {
      slot.created = record.created;
      slot.local = shared_buckets_ ? nullptr : std::make_shared<Bucket>();
      slot.shared = shared_buckets_ ? std::make_shared<SharedBucket>() : nullptr;
    }
    return slot;
  }

  // Admit on a shared store: joins the round that is forming; the first request of a round
  // writes it for everyone queued (one read-check-write of the tenant's record, retried from a
  // fresh read when another process wrote in between).
  absl::Status AdmitShared(const TenantRecord& record, SharedBucket& b, double rate, double burst) {
    std::shared_ptr<Round> round;
    int64_t position;
    bool lead;
    {
      absl::MutexLock lock(&b.mu);
      if (b.next == nullptr) b.next = std::make_shared<Round>();
      round = b.next;
      position = round->requested++;
      auto ready = [&]() { return round->done || (!b.busy && b.next == round); };
      b.mu.Await(absl::Condition(&ready));
      lead = !round->done;
      if (lead) {
        b.busy = true;
        b.next = nullptr;  // later requests form the next round
      }
    }
    if (lead) {
      std::optional<std::string> stored;
      bool known;
      {
        absl::MutexLock lock(&b.mu);
        stored = b.stored;
        known = b.known;
      }
      int64_t granted = 0;
      absl::Status s = TakeShared(record, rate, burst, round->requested, &known, &stored, &granted);
      absl::MutexLock lock(&b.mu);
      b.stored = std::move(stored);
      b.known = known && s.ok();
      round->granted = granted;
      round->status = s;
      round->done = true;
      b.busy = false;
    }
    if (!round->status.ok()) return round->status;
    if (position >= round->granted) return RateLimited(record.tenant, rate, burst);
    return absl::OkStatus();
  }

  // Takes up to `wanted` tokens from the tenant's shared bucket; *granted says how many.
  // `*stored` is the record as this process last saw it (`*known`: worth trying without a
  // read); both are updated. Errors: UNAVAILABLE / DEADLINE_EXCEEDED from the store (nothing is
  // granted then); ABORTED after kMaxWriteAttempts conflicting writes.
  absl::Status TakeShared(const TenantRecord& record, double rate, double burst, int64_t wanted,
                          bool* known, std::optional<std::string>* stored, int64_t* granted) {
    const storage::Partition partition = storage::keys::TenantPartition(record.tenant);
    const std::string key = storage::keys::RateLimitKey(record.tenant);
    *granted = 0;
    for (int attempt = 0; attempt < kMaxWriteAttempts; ++attempt) {
      if (!*known) {
        absl::StatusOr<std::string> raw = store_->Get(partition, storage::Table::kRequests, key);
        if (absl::IsNotFound(raw.status())) {
          stored->reset();
        } else if (!raw.ok()) {
          return raw.status();
        } else {
          *stored = *std::move(raw);
        }
        *known = true;
      }
      const absl::Time now = clock_->Now();
      BucketState state = DecodeBucket(*stored, record.created, burst, now);
      Refill(&state, rate, burst, now);
      const int64_t take =
          std::min<int64_t>(wanted, static_cast<int64_t>(std::floor(std::max(0.0, state.tokens))));
      // A refusal writes nothing: refilling is a function of the time alone.
      if (take == 0) return absl::OkStatus();
      state.tokens -= static_cast<double>(take);
      std::string value = EncodeBucket(state, record.created, rate, burst);
      storage::WriteBatch batch(partition);
      batch.Expect(storage::Table::kRequests, key, *stored);
      batch.Put(storage::Table::kRequests, key, value);
      absl::Status s = store_->Write(batch);
      if (s.ok()) {
        *stored = std::move(value);
        *granted = take;
        return absl::OkStatus();
      }
      *known = false;  // read again: another process wrote, or the write's fate is unknown
      if (!absl::IsAborted(s)) return s;
    }
    return absl::AbortedError(absl::StrCat("the rate-limit record of tenant ", Quote(record.tenant),
                                           " was changed by other processes ", kMaxWriteAttempts,
                                           " times in a row; retry"));
  }

  // Adds a new secret to `record` (not yet stored) and returns it as shown to the operator.
  absl::StatusOr<NewSecret> AppendSecret(TenantRecord* record, SecretRole role) {
    absl::StatusOr<std::string> raw =
        secret_bytes_for_test_ ? secret_bytes_for_test_(kSecretBytes) : RandomBytes(kSecretBytes);
    if (!raw.ok()) return raw.status();
    if (raw->size() != kSecretBytes) return absl::InternalError("secret_bytes_for_test: size");
    StoredSecret s;
    s.info.id = absl::StrCat("s", record->next_secret);
    s.info.created = clock_->Now();
    s.info.role = role;
    absl::StatusOr<std::string> sealed = box_->Seal(*raw, SecretAad(record->tenant, s.info.id));
    if (!sealed.ok()) return sealed.status();
    s.sealed = *std::move(sealed);
    NewSecret out;
    out.info = s.info;
    out.secret = absl::Base64Escape(*raw);
    s.b64_digest = Sha256(out.secret);
    s.raw = *std::move(raw);
    record->secrets.push_back(std::move(s));
    ++record->next_secret;
    return out;
  }

  // The record of `tenant` from its stored bytes, secrets decrypted. A secret that `previous`
  // (this process's record of the same tenant incarnation, or nullptr) holds is taken from it
  // without decrypting. A secret that opens only with the previous key is re-sealed with the
  // current one in the returned record, and `resealed` set. After Open, a secret that opens with
  // neither key makes the record `broken` instead of failing the whole registry.
  absl::StatusOr<TenantRecord> DecodeRecord(absl::string_view tenant, absl::string_view value,
                                            const TenantRecord* previous) {
    auto corrupt = [&](absl::string_view why) {
      return absl::DataLossError(absl::StrCat("tenant registry: the record of tenant ",
                                              Quote(tenant), " is corrupt: ", why));
    };
    Decoder d(value);
    const uint8_t version = d.U8();
    if (!d.ok() || version != kRecordVersion) {
      return corrupt(absl::StrCat("unknown record version ", version));
    }
    TenantRecord r;
    r.tenant = std::string(tenant);
    r.created = absl::FromUnixMicros(d.I64());
    const uint32_t origins = d.U32();
    for (uint32_t i = 0; d.ok() && i < origins; ++i) {
      r.settings.allowed_origins.push_back(d.Bytes());
    }
    r.settings.rate_limit_per_second = d.F64();
    r.settings.rate_limit_burst = d.I64();
    r.next_secret = d.U32();
    const uint32_t secrets = d.U32();
    if (previous != nullptr && previous->created != r.created) previous = nullptr;
    const bool lenient = opened_.load();
    for (uint32_t i = 0; d.ok() && i < secrets; ++i) {
      StoredSecret s;
      s.info.id = d.Bytes();
      s.info.created = absl::FromUnixMicros(d.I64());
      const uint8_t revoked = d.U8();
      const uint8_t role = d.U8();
      s.sealed = d.Bytes();
      if (!d.ok()) break;
      if (revoked > 1 || role > 1) return corrupt(absl::StrCat("secret ", Quote(s.info.id)));
      s.info.revoked = revoked == 1;
      s.info.role = role == 1 ? SecretRole::kReadOnly : SecretRole::kReadWrite;
      const StoredSecret* known = nullptr;
      if (previous != nullptr) {
        for (const StoredSecret& p : previous->secrets) {
          if (p.info.id == s.info.id && p.info.created == s.info.created) known = &p;
        }
      }
      if (s.info.revoked && (known != nullptr || lenient)) {
        // Nothing to open: a revoked secret is never compared.
      } else if (known != nullptr && !known->raw.empty()) {
        s.raw = known->raw;
        s.b64_digest = known->b64_digest;
      } else {
        absl::Status opened = OpenSecret(tenant, &s, &r.resealed);
        if (!opened.ok()) {
          if (!lenient) return opened;
          r.broken = opened;
        }
      }
      r.secrets.push_back(std::move(s));
    }
    if (!d.ok()) return corrupt("truncated");
    if (!d.done()) return corrupt("trailing bytes");
    return r;
  }

  // Decrypts `s->sealed` into s->raw / s->b64_digest (dropped again for a revoked secret),
  // re-sealing with the current key what opens only with the previous one (*resealed = true).
  // Errors: DATA_LOSS when it opens with neither key.
  absl::Status OpenSecret(absl::string_view tenant, StoredSecret* s, bool* resealed) {
    // Revoked secrets are decrypted too at Open: a wrong key shows at once, whatever the state.
    const std::string aad = SecretAad(tenant, s->info.id);
    absl::StatusOr<std::string> raw = box_->Open(s->sealed, aad);
    if (!raw.ok() && previous_box_ != nullptr) {
      raw = previous_box_->Open(s->sealed, aad);
      if (raw.ok() && raw->size() == kSecretBytes) {
        absl::StatusOr<std::string> sealed = box_->Seal(*raw, aad);
        if (!sealed.ok()) return sealed.status();
        s->sealed = *std::move(sealed);
        *resealed = true;
      }
    }
    if (!raw.ok() || raw->size() != kSecretBytes) {
      return absl::DataLossError(
          absl::StrCat("tenant registry: secret ", Quote(s->info.id), " of tenant ", Quote(tenant),
                       " does not decrypt with the secrets key",
                       previous_box_ != nullptr ? " nor with the previous one" : "",
                       ": the key is not the one the secrets were stored with (wrong "
                       "--secrets-key-file?), or the record was altered"));
    }
    if (!s->info.revoked) {
      s->b64_digest = Sha256(absl::Base64Escape(*raw));
      s->raw = *std::move(raw);
    } else {
      std::string dropped = *std::move(raw);
      Cleanse(&dropped);
    }
    return absl::OkStatus();
  }

  storage::Store* const store_;
  const storage::Clock* const clock_;
  const std::function<std::string(size_t)> secret_bytes_for_test_;
  const std::unique_ptr<SecretBox> box_;
  const std::unique_ptr<SecretBox> previous_box_;  // nullptr: no key rotation under way
  NonceCache nonces_;                              // signed requests' nonces, durable in the store
  // Every tenant; administrative changes are serialized by it and conditional on its version.
  ConfigCache<Tenants> registry_;
  // Whether rate limits are kept in the store (processes share it) rather than in memory.
  const bool shared_buckets_;
  std::atomic<bool> opened_{false};
  absl::Mutex buckets_mu_;
  absl::flat_hash_map<std::string, BucketSlot> buckets_ ABSL_GUARDED_BY(buckets_mu_);
};

}  // namespace

absl::Status Authorize(const Principal& principal, absl::string_view tenant, Access access) {
  if (principal.tenant != tenant) {
    return AuthFailure(reason::kOtherTenant, "tenant",
                       absl::StrCat(Quote(tenant), " is not the tenant of the credentials (",
                                    Quote(principal.tenant), ")"));
  }
  if (access == Access::kWrite && principal.role == SecretRole::kReadOnly) {
    return AuthFailure(
        reason::kRole, "",
        absl::StrCat("secret ", Quote(principal.secret_id), " of tenant ", Quote(principal.tenant),
                     " is read-only, and this method writes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TenantRegistry>> TenantRegistry::Open(storage::Store* store,
                                                                     const Options& options) {
  if (store == nullptr) return absl::InvalidArgumentError("tenant registry: no store");
  if (options.clock == nullptr) return absl::InvalidArgumentError("tenant registry: no clock");
  absl::StatusOr<std::unique_ptr<SecretBox>> box = SecretBox::Create(options.secrets_key);
  if (!box.ok()) return box.status();
  std::unique_ptr<SecretBox> previous;
  if (!options.previous_secrets_key.empty()) {
    absl::StatusOr<std::unique_ptr<SecretBox>> p = SecretBox::Create(options.previous_secrets_key);
    if (!p.ok()) return p.status();
    previous = *std::move(p);
  }
  auto registry =
      std::make_unique<TenantRegistryImpl>(store, options, *std::move(box), std::move(previous));
  int rekeyed = 0;
  absl::Status s = registry->Load(&rekeyed);
  if (!s.ok()) return s;
  if (options.rekeyed != nullptr) *options.rekeyed = rekeyed;
  return std::unique_ptr<TenantRegistry>(std::move(registry));
}

}  // namespace countd::logic
