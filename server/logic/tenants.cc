#include "server/logic/tenants.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "server/logic/nonce_cache.h"
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

// The token bucket of one tenant. Its own lock keeps Admit of different tenants apart.
struct Bucket {
  absl::Mutex mu;
  bool started ABSL_GUARDED_BY(mu) = false;
  double tokens ABSL_GUARDED_BY(mu) = 0;
  absl::Time last ABSL_GUARDED_BY(mu);
};

struct Entry {
  std::shared_ptr<const TenantRecord> record;
  std::shared_ptr<Bucket> bucket;
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

class TenantRegistryImpl final : public TenantRegistry {
 public:
  TenantRegistryImpl(storage::Store* store, const Options& options, std::unique_ptr<SecretBox> box,
                     std::unique_ptr<SecretBox> previous_box)
      : store_(store),
        clock_(options.clock),
        secret_bytes_for_test_(options.secret_bytes_for_test),
        box_(std::move(box)),
        previous_box_(std::move(previous_box)),
        nonces_(NonceCache::Options{options.clock, options.max_nonces_per_tenant, store}) {}

  absl::Status UseNonce(absl::string_view tenant, absl::string_view nonce,
                        absl::Time expires) override {
    return nonces_.Use(tenant, nonce, expires);
  }

  // Reads every record, and the nonces of signed requests still within their window; records
  // sealed with the previous key are re-sealed with the current one and stored (all in one
  // write) before anything is published. Sets *rekeyed to their number. Errors as
  // TenantRegistry::Open.
  absl::Status Load(int* rekeyed) {
    absl::Status nonces = nonces_.Load();
    if (!nonces.ok()) return nonces;
    absl::Status failure;
    *rekeyed = 0;
    storage::WriteBatch rekey(storage::keys::TenantRegistryPartition());
    std::map<std::string, Entry, std::less<>> loaded;
    const std::string prefix = storage::keys::TenantRegistryPrefix();
    absl::Status scanned = store_->Scan(
        storage::keys::TenantRegistryPartition(), storage::Table::kMeta,
        storage::PrefixRange(prefix),
        [&](absl::string_view key, absl::string_view value) {
          std::vector<absl::string_view> parts = storage::keys::Split(key);
          if (parts.size() != 2) {
            failure = absl::DataLossError(absl::StrCat("tenant registry: malformed record key ",
                                                       Quote(key), " in table meta"));
            return false;
          }
          bool resealed = false;
          absl::StatusOr<TenantRecord> record = DecodeRecord(parts[1], value, &resealed);
          if (!record.ok()) {
            failure = record.status();
            return false;
          }
          if (resealed) {
            rekey.Put(storage::Table::kMeta, key, EncodeRecord(*record));
            ++*rekeyed;
          }
          std::string tenant(parts[1]);
          loaded[tenant] = Entry{std::make_shared<const TenantRecord>(*std::move(record)),
                                 std::make_shared<Bucket>()};
          return true;
        });
    if (!scanned.ok()) return scanned;
    if (!failure.ok()) return failure;
    if (!rekey.empty()) {
      absl::Status s = store_->Write(rekey);
      if (!s.ok()) return s;
    }
    absl::MutexLock lock(&mu_);
    tenants_ = std::move(loaded);
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
    absl::MutexLock admin(&admin_mu_);
    if (Find(tenant) != nullptr) {
      return absl::AlreadyExistsError(
          absl::StrCat("tenant: ", Quote(tenant), " is already registered"));
    }
    auto record = std::make_shared<TenantRecord>();
    record->tenant = std::string(tenant);
    record->created = clock_->Now();
    record->settings = *std::move(valid);
    absl::StatusOr<NewSecret> secret = AppendSecret(record.get(), role);
    if (!secret.ok()) return secret.status();
    s = Publish(std::move(record), /*new_bucket=*/true);
    if (!s.ok()) return s;
    return std::make_pair(Find(tenant)->Info(), *std::move(secret));
  }

  absl::StatusOr<TenantInfo> GetTenant(absl::string_view tenant) override {
    absl::StatusOr<std::shared_ptr<const TenantRecord>> record = Existing(tenant);
    if (!record.ok()) return record.status();
    return (*record)->Info();
  }

  absl::StatusOr<std::vector<TenantInfo>> ListTenants() override {
    std::vector<std::shared_ptr<const TenantRecord>> records;
    {
      absl::ReaderMutexLock lock(&mu_);
      records.reserve(tenants_.size());
      for (const auto& [name, entry] : tenants_) records.push_back(entry.record);
    }
    std::vector<TenantInfo> out;
    out.reserve(records.size());
    for (const auto& r : records) out.push_back(r->Info());
    return out;
  }

  absl::StatusOr<TenantInfo> UpdateTenant(absl::string_view tenant,
                                          const TenantSettings& settings) override {
    absl::StatusOr<TenantSettings> valid = ValidateSettings(settings);
    if (!valid.ok()) return valid.status();
    absl::MutexLock admin(&admin_mu_);
    absl::StatusOr<std::shared_ptr<const TenantRecord>> current = Existing(tenant);
    if (!current.ok()) return current.status();
    auto record = std::make_shared<TenantRecord>(**current);
    record->settings = *std::move(valid);
    absl::Status s = Publish(record, /*new_bucket=*/false);
    if (!s.ok()) return s;
    return record->Info();
  }

  absl::Status DeleteTenant(absl::string_view tenant) override {
    absl::MutexLock admin(&admin_mu_);
    absl::StatusOr<std::shared_ptr<const TenantRecord>> current = Existing(tenant);
    if (!current.ok()) return current.status();
    storage::WriteBatch batch(storage::keys::TenantRegistryPartition());
    batch.Delete(storage::Table::kMeta, storage::keys::TenantRecordKey(tenant));
    absl::Status s = store_->Write(batch);
    if (!s.ok()) return s;
    absl::MutexLock lock(&mu_);
    tenants_.erase(std::string(tenant));
    return absl::OkStatus();
  }

  absl::StatusOr<NewSecret> AddSecret(absl::string_view tenant, SecretRole role) override {
    absl::MutexLock admin(&admin_mu_);
    absl::StatusOr<std::shared_ptr<const TenantRecord>> current = Existing(tenant);
    if (!current.ok()) return current.status();
    if ((*current)->LiveSecrets() >= kMaxLiveSecrets) {
      std::vector<std::string> live;
      for (const StoredSecret& s : (*current)->secrets) {
        if (!s.info.revoked) live.push_back(s.info.id);
      }
      return Refused(
          "tenant", absl::StrCat(Quote(tenant), " already has ", kMaxLiveSecrets, " live secrets (",
                                 absl::StrJoin(live, ", "), "): revoke one before adding another"));
    }
    auto record = std::make_shared<TenantRecord>(**current);
    absl::StatusOr<NewSecret> secret = AppendSecret(record.get(), role);
    if (!secret.ok()) return secret.status();
    absl::Status s = Publish(std::move(record), /*new_bucket=*/false);
    if (!s.ok()) return s;
    return secret;
  }

  absl::StatusOr<TenantInfo> RevokeSecret(absl::string_view tenant,
                                          absl::string_view secret_id) override {
    absl::MutexLock admin(&admin_mu_);
    absl::StatusOr<std::shared_ptr<const TenantRecord>> current = Existing(tenant);
    if (!current.ok()) return current.status();
    if (secret_id.empty()) return MissingField("secret_id");
    auto record = std::make_shared<TenantRecord>(**current);
    auto it = std::find_if(record->secrets.begin(), record->secrets.end(),
                           [&](const StoredSecret& s) { return s.info.id == secret_id; });
    if (it == record->secrets.end()) {
      return NotFound("secret_id",
                      absl::StrCat(Quote(secret_id), " is not a secret of tenant ", Quote(tenant)));
    }
    if (it->info.revoked) return record->Info();  // idempotent: nothing to write
    it->info.revoked = true;
    it->Forget();
    absl::Status s = Publish(record, /*new_bucket=*/false);
    if (!s.ok()) return s;
    return record->Info();
  }

  // --- request path ---

  absl::StatusOr<Principal> CheckSecret(absl::string_view tenant, absl::string_view secret_id,
                                        absl::string_view presented) override {
    std::shared_ptr<const TenantRecord> record = Find(tenant);
    if (record == nullptr) return UnknownTenant(tenant);
    const std::string digest = Sha256(presented);
    const StoredSecret* match = nullptr;
    // Every candidate is compared (no early exit), each in constant time.
    for (const StoredSecret& s : record->secrets) {
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
    return Principal{record->tenant, match->info.id, match->info.role};
  }

  absl::StatusOr<Principal> CheckSignature(absl::string_view tenant, absl::string_view secret_id,
                                           absl::string_view base_string,
                                           absl::string_view signature_b64) override {
    std::shared_ptr<const TenantRecord> record = Find(tenant);
    if (record == nullptr) return UnknownTenant(tenant);
    std::string presented;
    if (signature_b64.empty() || !absl::Base64Unescape(signature_b64, &presented)) {
      return AuthFailure(reason::kBadSignature, "sig", "is not standard base64");
    }
    const StoredSecret* match = nullptr;
    for (const StoredSecret& s : record->secrets) {
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
    return Principal{record->tenant, match->info.id, match->info.role};
  }

  absl::StatusOr<TenantSettings> Settings(absl::string_view tenant) override {
    std::shared_ptr<const TenantRecord> record = Find(tenant);
    if (record == nullptr) return UnknownTenant(tenant);
    return record->settings;
  }

  absl::Status CheckOrigin(absl::string_view tenant, absl::string_view origin) override {
    std::shared_ptr<const TenantRecord> record = Find(tenant);
    if (record == nullptr) return UnknownTenant(tenant);
    const std::vector<std::string>& allowed = record->settings.allowed_origins;
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
    Entry entry;
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = tenants_.find(tenant);
      if (it == tenants_.end()) return UnknownTenant(tenant);
      entry = it->second;
    }
    const TenantSettings& settings = entry.record->settings;
    const double rate = settings.rate_limit_per_second;
    if (rate <= 0) return absl::OkStatus();
    const double burst = settings.rate_limit_burst > 0
                             ? static_cast<double>(settings.rate_limit_burst)
                             : std::max(1.0, rate);
    const absl::Time now = clock_->Now();
    Bucket& b = *entry.bucket;
    absl::MutexLock lock(&b.mu);
    if (!b.started) {
      b.started = true;
      b.tokens = burst;
      b.last = now;
    } else if (now > b.last) {  // a clock that steps back refills nothing
      b.tokens += rate * absl::ToDoubleSeconds(now - b.last);
      b.last = now;
    }
    b.tokens = std::min(b.tokens, burst);  // also when the burst was lowered
    if (b.tokens < 1) {
      return AuthFailure(reason::kRateLimited, "",
                         absl::StrCat("tenant ", Quote(tenant), " is over its rate limit of ", rate,
                                      " requests per second (burst ", burst, "); retry later"));
    }
    b.tokens -= 1;
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<const TenantRecord> Find(absl::string_view tenant) const {
    absl::ReaderMutexLock lock(&mu_);
    auto it = tenants_.find(tenant);
    return it == tenants_.end() ? nullptr : it->second.record;
  }

  // The record of a registered tenant. Errors: INVALID_ARGUMENT for a malformed name; NOT_FOUND.
  absl::StatusOr<std::shared_ptr<const TenantRecord>> Existing(absl::string_view tenant) const {
    absl::Status s = CheckUrlSafe("tenant", tenant);
    if (!s.ok()) return s;
    std::shared_ptr<const TenantRecord> record = Find(tenant);
    if (record == nullptr) {
      return NotFound("tenant", absl::StrCat(Quote(tenant), " is not a registered tenant"));
    }
    return record;
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

  // Stores `record`, then makes it the tenant's current one. Requires admin_mu_.
  absl::Status Publish(std::shared_ptr<const TenantRecord> record, bool new_bucket)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(admin_mu_) {
    storage::WriteBatch batch(storage::keys::TenantRegistryPartition());
    batch.Put(storage::Table::kMeta, storage::keys::TenantRecordKey(record->tenant),
              EncodeRecord(*record));
    absl::Status s = store_->Write(batch);
    if (!s.ok()) return s;
    absl::MutexLock lock(&mu_);
    Entry& entry = tenants_[record->tenant];
    if (new_bucket || entry.bucket == nullptr) entry.bucket = std::make_shared<Bucket>();
    entry.record = std::move(record);
    return absl::OkStatus();
  }

  // The record of `tenant` from its stored bytes, secrets decrypted. A secret that opens only
  // with the previous key is re-sealed with the current one in the returned record, and
  // *resealed set.
  absl::StatusOr<TenantRecord> DecodeRecord(absl::string_view tenant, absl::string_view value,
                                            bool* resealed) {
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
      // Revoked secrets are decrypted too: a wrong key shows at once, whatever the state.
      const std::string aad = SecretAad(tenant, s.info.id);
      absl::StatusOr<std::string> raw = box_->Open(s.sealed, aad);
      if (!raw.ok() && previous_box_ != nullptr) {
        raw = previous_box_->Open(s.sealed, aad);
        if (raw.ok() && raw->size() == kSecretBytes) {
          absl::StatusOr<std::string> sealed = box_->Seal(*raw, aad);
          if (!sealed.ok()) return sealed.status();
          s.sealed = *std::move(sealed);
          *resealed = true;
        }
      }
      if (!raw.ok() || raw->size() != kSecretBytes) {
        return absl::DataLossError(
            absl::StrCat("tenant registry: secret ", Quote(s.info.id), " of tenant ", Quote(tenant),
                         " does not decrypt with the secrets key",
                         previous_box_ != nullptr ? " nor with the previous one" : "",
                         ": the key is not the one the secrets were stored with (wrong "
                         "--secrets-key-file?), or the record was altered"));
      }
      if (!s.info.revoked) {
        s.b64_digest = Sha256(absl::Base64Escape(*raw));
        s.raw = *std::move(raw);
      } else {
        std::string dropped = *std::move(raw);
        Cleanse(&dropped);
      }
      r.secrets.push_back(std::move(s));
    }
    if (!d.ok()) return corrupt("truncated");
    if (!d.done()) return corrupt("trailing bytes");
    return r;
  }

  storage::Store* const store_;
  const storage::Clock* const clock_;
  const std::function<std::string(size_t)> secret_bytes_for_test_;
  const std::unique_ptr<SecretBox> box_;
  const std::unique_ptr<SecretBox> previous_box_;  // nullptr: no key rotation under way
  NonceCache nonces_;                              // signed requests' nonces, durable in the store
  // Serializes the administrative changes (read, store, publish). Taken before mu_.
  absl::Mutex admin_mu_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry, std::less<>> tenants_ ABSL_GUARDED_BY(mu_);
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
