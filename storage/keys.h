// storage/keys.h — how countd lays its data out in RocksDB keys.
//
// Keys are byte strings of '\0'-terminated parts. Identifiers are validated as printable ASCII
// before they reach storage, so '\0' never occurs inside a part, and a key prefix of whole parts
// selects exactly the records under it (e.g. one tenant's user).
// Bucketed tables (daily, monthly) end every key with a 4-byte big-endian bucket index; the
// store reads it to expire old buckets during compaction.
#ifndef COUNTD_STORAGE_KEYS_H_
#define COUNTD_STORAGE_KEYS_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace countd::storage::keys {

// Concatenates the parts, each followed by '\0'.
std::string Join(std::initializer_list<absl::string_view> parts);
// Splits a key made by Join (ignoring a trailing bucket suffix the caller removed).
std::vector<absl::string_view> Split(absl::string_view key);

// Days since 1970-01-01 (UTC) of `t`.
int32_t DayIndex(absl::Time t);
// Months since 1970-01 (UTC) of `t`.
int32_t MonthIndex(absl::Time t);

inline constexpr size_t kBucketSuffixSize = 4;
// base + 4-byte big-endian bucket index.
std::string WithBucket(absl::string_view base, int32_t bucket);
// The bucket index at the end of `key`; -1 when the key is too short.
int32_t BucketOf(absl::string_view key);
// `key` without its bucket suffix.
absl::string_view WithoutBucket(absl::string_view key);

// --- Partitions (store.h): the unit of atomic writes and scans ---
// Each id starts with its own tag part, so ids of different kinds never collide, and is made of
// whole parts, so one may be embedded in a key (RequestKey).
// A Signals user (kTotals, kMonthly, kDaily and its request_id records).
Partition SignalsUserPartition(absl::string_view tenant, char kind, absl::string_view user);
// A Stash visitor (kStash).
Partition StashPartition(absl::string_view tenant, absl::string_view visitor);
// A Tally counter name, both ops (kTally, kTallyMeta).
Partition TallyPartition(absl::string_view tenant, absl::string_view counter);
// A tenant: its Signals registry and settings, its nonces, and all of its GameMechanics data
// (configuration, user state, leaderboard index, action log, daily points, request_id records),
// so that NotifyAction is one atomic write.
Partition TenantPartition(absl::string_view tenant);
// The tenant registry (the records of every tenant, kMeta).
Partition TenantRegistryPartition();

// --- Signals counters (tables kTotals, kMonthly, kDaily) ---
// The user part: kind 'u' for a UID, 'r' for a regToken (separate namespaces).
std::string SignalsUserPrefix(absl::string_view tenant, char kind, absl::string_view user);
// prefix + class + path: the key in kTotals, and the base of monthly/daily bucket keys.
std::string SignalsCounterKey(absl::string_view user_prefix, absl::string_view cls,
                              absl::string_view path);

// --- Signals registry and settings (table kMeta) ---
std::string RegistryPrefix(absl::string_view tenant);
std::string RegistryKey(absl::string_view tenant, absl::string_view cls, absl::string_view path);
std::string CounterSettingsKey(absl::string_view tenant);

// --- Tenant registry (table kMeta): one record per tenant (server/logic/tenants.cc) ---
// The prefix of every tenant record, and one tenant's record.
std::string TenantRegistryPrefix();
std::string TenantRecordKey(absl::string_view tenant);

// --- Configuration versions (table kMeta; server/logic/config_cache.h) ---
// An 8-byte big-endian count of the changes of one cached configuration, bumped in the same
// atomic write as each change. Per tenant, in TenantPartition: kind "reg" (the Signals registry
// and settings) and "gmcfg" (the GameMechanics configuration).
std::string ConfigVersionKey(absl::string_view kind, absl::string_view tenant);
// The version record of the tenant registry, in TenantRegistryPartition.
std::string TenantRegistryVersionKey();

// --- Rate limits (table kRequests; server/logic/tenants.cc) ---
// A tenant's shared token bucket (when processes share the store), in TenantPartition; the value
// starts with its 8-byte big-endian expiry like every kRequests record.
std::string RateLimitKey(absl::string_view tenant);

// --- Stash daily counters (table kStash) ---
std::string StashKey(absl::string_view tenant, absl::string_view visitor,
                     absl::string_view counter_name, int32_t day);

// --- Idempotency records (table kRequests); value = 8-byte big-endian expiry + payload ---
// The record of a request_id lives in the partition of the data it guards, so that it commits in
// the same atomic write on every store; a request_id is therefore remembered per partition.
std::string RequestKey(absl::string_view scope, const Partition& partition,
                       absl::string_view request_id);
// The key request_id records had before partitions (scope, tenant, request_id). Still read, on
// RocksDB, until the last of them expires.
std::string LegacyRequestKey(absl::string_view scope, absl::string_view tenant,
                             absl::string_view request_id);
// A signed request's nonce, in the tenant's partition (TenantPartition).
std::string NonceKey(absl::string_view tenant, absl::string_view nonce);
// The prefix of every RequestKey of `scope`, and of every NonceKey (scope "nonce").
std::string RequestScopePrefix(absl::string_view scope);

// --- Tally (tables kTally, kTallyMeta) ---
// Every Tally record belongs to one (tenant, op, counter): `op` is kTallyECount or kTallyTopK, and
// the two ops of one counter name keep separate counts, windows and metadata. The op is part of
// each record's leading tag ("b" + op for buckets, "md" + op for metadata, "cfg" + op for
// settings).
inline constexpr char kTallyECount = 'e';
inline constexpr char kTallyTopK = 't';
// Sub-bucket keys: tag, tenant, counter, countable, then the bucket's end and expiry (8-byte
// big-endian unix seconds each). The store expires a bucket by the trailing expiry.
inline constexpr size_t kTallySuffixSize = 16;
std::string TallyCounterPrefix(char op, absl::string_view tenant, absl::string_view counter);
std::string TallyCountablePrefix(char op, absl::string_view tenant, absl::string_view counter,
                                 absl::string_view countable);
std::string TallyBucketKey(absl::string_view countable_prefix, int64_t bucket_end, int64_t expiry);
// Bucket end of a kTally key (requires key.size() >= kTallySuffixSize).
int64_t TallyBucketEnd(absl::string_view key);
// Metadata of one countable, and the settings record of a counter (kTallyMeta).
std::string TallyMetadataKey(char op, absl::string_view tenant, absl::string_view counter,
                             absl::string_view countable);
std::string TallySettingsKey(char op, absl::string_view tenant, absl::string_view counter);
// Records written before the ops were separate (one set of counts per counter name) carry the
// bare tags "b" (kTally), "md" and "cfg" (kTallyMeta). These are the prefixes of those records,
// and the key of a legacy record as it is stored under `op`.
std::vector<std::string> TallyLegacyPrefixes(storage::Table table);
std::string TallyLegacyKeyAs(absl::string_view legacy_key, char op);

// --- GameMechanics (tables kMeta, kGmState, kGmLog, kGmDaily) ---
// Configuration records (kMeta): one per action and one per challenge of a tenant.
std::string GmConfigPrefix(absl::string_view tenant);
std::string GmActionKey(absl::string_view tenant, absl::string_view action_id);
std::string GmChallengeKey(absl::string_view tenant, absl::string_view challenge_id);
// A user's standing in one challenge (kGmState): balance and is_new_level.
std::string GmUserStateKey(absl::string_view tenant, absl::string_view uid,
                           absl::string_view challenge_id);
// All-time leaderboard index (kGmState): prefix + 8-byte big-endian (INT64_MAX - balance) + uid,
// so a forward scan visits users by balance descending, then uid ascending.
std::string GmTopPrefix(absl::string_view tenant, absl::string_view challenge_id);
std::string GmTopKey(absl::string_view tenant, absl::string_view challenge_id, int64_t balance,
                     absl::string_view uid);
inline constexpr size_t kGmTopBalanceSize = 8;
// Balance and uid of a GmTopKey whose prefix (of length prefix_size) the caller removed.
int64_t GmTopBalance(absl::string_view rest);
absl::string_view GmTopUid(absl::string_view rest);
// Action log (kGmLog): user prefix + 8-byte big-endian unix ms + 8-byte big-endian sequence.
inline constexpr size_t kGmLogSuffixSize = 16;
std::string GmLogPrefix(absl::string_view tenant, absl::string_view uid);
std::string GmLogKey(absl::string_view log_prefix, int64_t time_ms, int64_t seq);
// Daily granted points (kGmDaily): tenant, challenge, uid, then the 4-byte day index; one
// challenge's prefix holds every user's buckets (the 7-day leaderboard rebuild scans it).
std::string GmDailyChallengePrefix(absl::string_view tenant, absl::string_view challenge_id);
std::string GmDailyKey(absl::string_view tenant, absl::string_view challenge_id,
                       absl::string_view uid, int32_t day);

// --- The partition of a stored key: the inverse of the builders above ---
// The partition `key` of `table` belongs to, read back from the key alone (ScanAllPartitions
// visits keys without their partitions; moving a node's data into a cluster needs them). Covers
// every layout of this file, also Tally records of the layout shared by both ops
// (TallyLegacyPrefixes: their counter's partition). The key must be whole: a key with bytes
// missing or left over is not of its layout.
// Errors: kDataLoss when `key` is of no layout of `table` (the message names the table, never
// the key, which may hold personal data such as a uid); kFailedPrecondition for a request_id
// record of the layout before partitions (LegacyRequestKey), which belongs to no partition.
// (A legacy record of a tenant named "tr" reads as a record of the tenant registry's partition,
// whose RequestKey it equals byte for byte.)
absl::StatusOr<Partition> PartitionOfKey(Table table, absl::string_view key);
// Whether `key` of `table` is a Tally record of the layout shared by both ops (see
// TallyLegacyPrefixes), which Tally::SplitLegacyCounters moves at start.
bool IsTallyLegacyKey(Table table, absl::string_view key);

// FNV-1a, 64 bits: a hash that is stable across processes, versions and machines (absl::Hash
// is not), for what is stored or shared: Redis hash tags, request fingerprints.
uint64_t Fnv1a64(absl::string_view bytes);

// Appends / reads an 8-byte big-endian integer.
void PutBigEndian64(std::string* out, int64_t v);
int64_t GetBigEndian64(absl::string_view bytes);

}  // namespace countd::storage::keys

#endif  // COUNTD_STORAGE_KEYS_H_
