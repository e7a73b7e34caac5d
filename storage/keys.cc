#include "storage/keys.h"

#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"

namespace countd::storage::keys {

std::string Join(std::initializer_list<absl::string_view> parts) {
  size_t n = 0;
  for (absl::string_view p : parts) n += p.size() + 1;
  std::string out;
  out.reserve(n + kBucketSuffixSize);
  for (absl::string_view p : parts) {
    out.append(p.data(), p.size());
    out.push_back('\0');
  }
  return out;
}

std::vector<absl::string_view> Split(absl::string_view key) {
  std::vector<absl::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '\0') {
      parts.push_back(key.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

int32_t DayIndex(absl::Time t) {
  absl::CivilDay day = absl::ToCivilDay(t, absl::UTCTimeZone());
  return static_cast<int32_t>(day - absl::CivilDay(1970, 1, 1));
}

int32_t MonthIndex(absl::Time t) {
  absl::CivilMonth month = absl::ToCivilMonth(t, absl::UTCTimeZone());
  return static_cast<int32_t>(month - absl::CivilMonth(1970, 1));
}

std::string WithBucket(absl::string_view base, int32_t bucket) {
  std::string out;
  out.reserve(base.size() + kBucketSuffixSize);
  out.append(base.data(), base.size());
  uint32_t b = static_cast<uint32_t>(bucket);
  out.push_back(static_cast<char>(b >> 24));
  out.push_back(static_cast<char>(b >> 16));
  out.push_back(static_cast<char>(b >> 8));
  out.push_back(static_cast<char>(b));
  return out;
}

int32_t BucketOf(absl::string_view key) {
  if (key.size() < kBucketSuffixSize) return -1;
  const unsigned char* p =
      reinterpret_cast<const unsigned char*>(key.data() + key.size() - kBucketSuffixSize);
  uint32_t b = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  return static_cast<int32_t>(b);
}

absl::string_view WithoutBucket(absl::string_view key) {
  if (key.size() < kBucketSuffixSize) return key;
  return key.substr(0, key.size() - kBucketSuffixSize);
}

std::string SignalsUserPrefix(absl::string_view tenant, char kind, absl::string_view user) {
  std::string who;
  who.reserve(user.size() + 1);
  who.push_back(kind);
  who.append(user.data(), user.size());
  return Join({tenant, who});
}

std::string SignalsCounterKey(absl::string_view user_prefix, absl::string_view cls,
                              absl::string_view path) {
  // One allocation, with room for a bucket suffix as Join leaves.
  std::string out;
  out.reserve(user_prefix.size() + cls.size() + path.size() + 2 + kBucketSuffixSize);
  out.append(user_prefix.data(), user_prefix.size());
  out.append(cls.data(), cls.size());
  out.push_back('\0');
  out.append(path.data(), path.size());
  out.push_back('\0');
  return out;
}

std::string RegistryPrefix(absl::string_view tenant) { return Join({"reg", tenant}); }

std::string RegistryKey(absl::string_view tenant, absl::string_view cls, absl::string_view path) {
  return Join({"reg", tenant, cls, path});
}

std::string CounterSettingsKey(absl::string_view tenant) { return Join({"csettings", tenant}); }

std::string TenantRegistryPrefix() { return Join({"tenant"}); }

std::string TenantRecordKey(absl::string_view tenant) { return Join({"tenant", tenant}); }

std::string ConfigVersionKey(absl::string_view kind, absl::string_view tenant) {
  return Join({"cver", kind, tenant});
}

std::string TenantRegistryVersionKey() { return Join({"cver", "tenant"}); }

std::string RateLimitKey(absl::string_view tenant) { return Join({"rate", tenant}); }

std::string StashKey(absl::string_view tenant, absl::string_view visitor,
                     absl::string_view counter_name, int32_t day) {
  return WithBucket(Join({tenant, visitor, counter_name}), day);
}

Partition SignalsUserPartition(absl::string_view tenant, char kind, absl::string_view user) {
  return Partition(Join({"su", tenant, absl::string_view(&kind, 1), user}));
}

Partition StashPartition(absl::string_view tenant, absl::string_view visitor) {
  return Partition(Join({"sv", tenant, visitor}));
}

Partition TallyPartition(absl::string_view tenant, absl::string_view counter) {
  return Partition(Join({"tc", tenant, counter}));
}

Partition TenantPartition(absl::string_view tenant) { return Partition(Join({"t", tenant})); }

Partition TenantRegistryPartition() { return Partition(Join({"tr"})); }

std::string RequestKey(absl::string_view scope, const Partition& partition,
                       absl::string_view request_id) {
  std::string out = Join({scope});
  out.append(partition.id());
  out.append(Join({request_id}));
  return out;
}

std::string LegacyRequestKey(absl::string_view scope, absl::string_view tenant,
                             absl::string_view request_id) {
  return Join({scope, tenant, request_id});
}

std::string NonceKey(absl::string_view tenant, absl::string_view nonce) {
  return Join({"nonce", tenant, nonce});
}

std::string RequestScopePrefix(absl::string_view scope) { return Join({scope}); }

namespace {

std::string TallyTag(absl::string_view base, char op) {
  std::string tag(base);
  tag.push_back(op);
  return tag;
}

}  // namespace

std::string TallyCounterPrefix(char op, absl::string_view tenant, absl::string_view counter) {
  return Join({TallyTag("b", op), tenant, counter});
}

std::string TallyCountablePrefix(char op, absl::string_view tenant, absl::string_view counter,
                                 absl::string_view countable) {
  return Join({TallyTag("b", op), tenant, counter, countable});
}

std::string TallyBucketKey(absl::string_view countable_prefix, int64_t bucket_end, int64_t expiry) {
  std::string out;
  out.reserve(countable_prefix.size() + kTallySuffixSize);
  out.append(countable_prefix.data(), countable_prefix.size());
  PutBigEndian64(&out, bucket_end);
  PutBigEndian64(&out, expiry);
  return out;
}

int64_t TallyBucketEnd(absl::string_view key) {
  return GetBigEndian64(key.substr(key.size() - kTallySuffixSize));
}

std::string TallyMetadataKey(char op, absl::string_view tenant, absl::string_view counter,
                             absl::string_view countable) {
  return Join({TallyTag("md", op), tenant, counter, countable});
}

std::string TallySettingsKey(char op, absl::string_view tenant, absl::string_view counter) {
  return Join({TallyTag("cfg", op), tenant, counter});
}

std::vector<std::string> TallyLegacyPrefixes(storage::Table table) {
  if (table == storage::Table::kTally) return {Join({"b"})};
  if (table == storage::Table::kTallyMeta) return {Join({"md"}), Join({"cfg"})};
  return {};
}

std::string TallyLegacyKeyAs(absl::string_view legacy_key, char op) {
  // "<tag>\0<rest>" becomes "<tag><op>\0<rest>".
  size_t end = legacy_key.find('\0');
  std::string out(legacy_key.substr(0, end));
  out.push_back(op);
  out.append(legacy_key.data() + end, legacy_key.size() - end);
  return out;
}

std::string GmConfigPrefix(absl::string_view tenant) { return Join({"gmcfg", tenant}); }

std::string GmActionKey(absl::string_view tenant, absl::string_view action_id) {
  return Join({"gmcfg", tenant, "a", action_id});
}

std::string GmChallengeKey(absl::string_view tenant, absl::string_view challenge_id) {
  return Join({"gmcfg", tenant, "c", challenge_id});
}

std::string GmUserStateKey(absl::string_view tenant, absl::string_view uid,
                           absl::string_view challenge_id) {
  return Join({"u", tenant, uid, challenge_id});
}

std::string GmTopPrefix(absl::string_view tenant, absl::string_view challenge_id) {
  return Join({"top", tenant, challenge_id});
}

std::string GmTopKey(absl::string_view tenant, absl::string_view challenge_id, int64_t balance,
                     absl::string_view uid) {
  std::string out = GmTopPrefix(tenant, challenge_id);
  PutBigEndian64(&out, std::numeric_limits<int64_t>::max() - balance);
  out.append(uid.data(), uid.size());
  return out;
}

int64_t GmTopBalance(absl::string_view rest) {
  return std::numeric_limits<int64_t>::max() - GetBigEndian64(rest);
}

absl::string_view GmTopUid(absl::string_view rest) { return rest.substr(kGmTopBalanceSize); }

std::string GmLogPrefix(absl::string_view tenant, absl::string_view uid) {
  return Join({tenant, uid});
}

std::string GmLogKey(absl::string_view log_prefix, int64_t time_ms, int64_t seq) {
  std::string out;
  out.reserve(log_prefix.size() + kGmLogSuffixSize);
  out.append(log_prefix.data(), log_prefix.size());
  PutBigEndian64(&out, time_ms);
  PutBigEndian64(&out, seq);
  return out;
}

std::string GmDailyChallengePrefix(absl::string_view tenant, absl::string_view challenge_id) {
  return Join({tenant, challenge_id});
}

std::string GmDailyKey(absl::string_view tenant, absl::string_view challenge_id,
                       absl::string_view uid, int32_t day) {
  return WithBucket(Join({tenant, challenge_id, uid}), day);
}

namespace {

// Splits a key that is exactly '\0'-terminated parts; false when bytes follow the last
// terminator.
bool SplitWhole(absl::string_view key, std::vector<absl::string_view>* parts) {
  *parts = Split(key);
  return key.empty() || key.back() == '\0';
}

// The first `n` '\0'-terminated parts of `key` and what follows them; false when it has fewer.
bool SplitHead(absl::string_view key, size_t n, std::vector<absl::string_view>* parts,
               absl::string_view* rest) {
  parts->clear();
  size_t start = 0;
  while (parts->size() < n) {
    size_t end = key.find('\0', start);
    if (end == absl::string_view::npos) return false;
    parts->push_back(key.substr(start, end - start));
    start = end + 1;
  }
  *rest = key.substr(start);
  return true;
}

// The base of a key that ends with a fixed-size suffix (a bucket index, an expiry, a time and
// sequence) split into whole parts; false when it is too short or not whole parts.
bool SplitBeforeSuffix(absl::string_view key, size_t suffix_size,
                       std::vector<absl::string_view>* parts) {
  if (key.size() < suffix_size) return false;
  return SplitWhole(key.substr(0, key.size() - suffix_size), parts);
}

bool IsOneOf(absl::string_view tag, std::initializer_list<absl::string_view> tags) {
  for (absl::string_view t : tags) {
    if (tag == t) return true;
  }
  return false;
}

// The partition of a request_id record (RequestKey) or nonce (NonceKey), kRequests.
absl::StatusOr<Partition> PartitionOfRequestKey(const std::vector<absl::string_view>& p) {
  // NonceKey: "nonce", tenant, nonce.
  if (p.size() == 3 && p[0] == "nonce") return TenantPartition(p[1]);
  // RateLimitKey: "rate", tenant.
  if (p.size() == 2 && p[0] == "rate") return TenantPartition(p[1]);
  // RequestKey: scope, the parts of the partition id (its tag first), request_id.
  if (p.size() >= 3) {
    const absl::string_view tag = p[1];
    if (tag == "su" && p.size() == 6 && p[3].size() == 1) {
      return SignalsUserPartition(p[2], p[3][0], p[4]);
    }
    if (tag == "sv" && p.size() == 5) return StashPartition(p[2], p[3]);
    if (tag == "tc" && p.size() == 5) return TallyPartition(p[2], p[3]);
    if (tag == "t" && p.size() == 4) return TenantPartition(p[2]);
    if (tag == "tr" && p.size() == 3) return TenantRegistryPartition();
    // LegacyRequestKey: scope, tenant, request_id.
    if (p.size() == 3) {
      return absl::FailedPreconditionError(
          "storage: a request_id record of table requests from before partitions belongs to no "
          "partition");
    }
  }
  return absl::DataLossError("storage: a key of table requests has no known layout");
}

}  // namespace

absl::StatusOr<Partition> PartitionOfKey(Table table, absl::string_view key) {
  std::vector<absl::string_view> p;
  absl::string_view rest;
  switch (table) {
    case Table::kMeta:
      if (!SplitWhole(key, &p) || p.empty()) break;
      if (p[0] == "reg" && p.size() == 4) return TenantPartition(p[1]);
      if (p[0] == "csettings" && p.size() == 2) return TenantPartition(p[1]);
      if (p[0] == "tenant" && p.size() == 2) return TenantRegistryPartition();
      // ConfigVersionKey: "cver", kind, tenant; TenantRegistryVersionKey: "cver", "tenant".
      if (p[0] == "cver" && p.size() == 3 && IsOneOf(p[1], {"reg", "gmcfg"})) {
        return TenantPartition(p[2]);
      }
      if (p[0] == "cver" && p.size() == 2 && p[1] == "tenant") return TenantRegistryPartition();
      if (p[0] == "gmcfg" && p.size() == 4 && IsOneOf(p[2], {"a", "c"})) {
        return TenantPartition(p[1]);
      }
      break;
    case Table::kTotals:
    case Table::kMonthly:
    case Table::kDaily: {
      // SignalsCounterKey: tenant, kind + user, class, path (+ bucket for monthly and daily).
      const bool whole = table == Table::kTotals ? SplitWhole(key, &p)
                                                 : SplitBeforeSuffix(key, kBucketSuffixSize, &p);
      if (whole && p.size() == 4 && !p[1].empty() && IsOneOf(p[1].substr(0, 1), {"u", "r"})) {
        return SignalsUserPartition(p[0], p[1][0], p[1].substr(1));
      }
      break;
    }
    case Table::kStash:
      if (SplitBeforeSuffix(key, kBucketSuffixSize, &p) && p.size() == 3) {
        return StashPartition(p[0], p[1]);
      }
      break;
    case Table::kRequests:
      if (!SplitWhole(key, &p)) break;
      return PartitionOfRequestKey(p);
    case Table::kTally:
      if (SplitBeforeSuffix(key, kTallySuffixSize, &p) && p.size() == 4 &&
          IsOneOf(p[0], {"be", "bt", "b"})) {
        return TallyPartition(p[1], p[2]);
      }
      break;
    case Table::kTallyMeta:
      if (!SplitWhole(key, &p) || p.empty()) break;
      if (p.size() == 4 && IsOneOf(p[0], {"mde", "mdt", "md"})) return TallyPartition(p[1], p[2]);
      if (p.size() == 3 && IsOneOf(p[0], {"cfge", "cfgt", "cfg"})) {
        return TallyPartition(p[1], p[2]);
      }
      break;
    case Table::kGmLog:
      if (SplitBeforeSuffix(key, kGmLogSuffixSize, &p) && p.size() == 2) {
        return TenantPartition(p[0]);
      }
      break;
    case Table::kGmState:
      if (SplitHead(key, 1, &p, &rest) && p[0] == "u") {
        if (SplitWhole(key, &p) && p.size() == 4) return TenantPartition(p[1]);
      } else if (SplitHead(key, 3, &p, &rest) && p[0] == "top" &&
                 rest.size() >= kGmTopBalanceSize) {
        return TenantPartition(p[1]);
      }
      break;
    case Table::kGmDaily:
      if (SplitBeforeSuffix(key, kBucketSuffixSize, &p) && p.size() == 3) {
        return TenantPartition(p[0]);
      }
      break;
  }
  return absl::DataLossError(
      absl::StrCat("storage: a key of table ", TableName(table), " has no known layout"));
}

bool IsTallyLegacyKey(Table table, absl::string_view key) {
  for (const std::string& prefix : TallyLegacyPrefixes(table)) {
    if (absl::StartsWith(key, prefix)) return true;
  }
  return false;
}

uint64_t Fnv1a64(absl::string_view bytes) {
  uint64_t h = 14695981039346656037ull;  // the FNV-64 offset basis
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;  // the FNV-64 prime
  }
  return h;
}

void PutBigEndian64(std::string* out, int64_t v) {
  uint64_t u = static_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

int64_t GetBigEndian64(absl::string_view bytes) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return static_cast<int64_t>(v);
}

}  // namespace countd::storage::keys
