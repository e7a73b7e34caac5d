// Tests of storage/keys.h: the key layout every table relies on.
#include "storage/keys.h"

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace countd::storage::keys {
namespace {

using ::testing::ElementsAre;

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0, int ss = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

std::string Bytes(const char* data, size_t n) { return std::string(data, n); }

TEST(KeyCodecTest, JoinTerminatesEveryPart) {
  EXPECT_EQ(Join({"a", "bc"}), Bytes("a\0bc\0", 5));
  EXPECT_EQ(Join({}), "");
  EXPECT_EQ(Join({"", "x"}), Bytes("\0x\0", 3));
}

TEST(KeyCodecTest, RoundTripsNames) {
  std::string key = Join({"tenant", "uAlice", "class with spaces", "/a/b"});
  EXPECT_THAT(Split(key), ElementsAre("tenant", "uAlice", "class with spaces", "/a/b"));
}

TEST(KeyCodecTest, SplitKeepsEmptyPartsAndDropsUnterminatedTail) {
  EXPECT_THAT(Split(Join({"", "x", ""})), ElementsAre("", "x", ""));
  EXPECT_THAT(Split(Bytes("a\0tail", 6)), ElementsAre("a"));
  EXPECT_TRUE(Split("").empty());
}

TEST(KeyCodecTest, BucketSuffixRoundTrips) {
  std::string base = Join({"t", "c"});
  for (int32_t bucket : {0, 1, 255, 256, 19723, 0x01020304, 0x7fffffff}) {
    std::string key = WithBucket(base, bucket);
    ASSERT_EQ(key.size(), base.size() + kBucketSuffixSize);
    EXPECT_EQ(BucketOf(key), bucket);
    EXPECT_EQ(WithoutBucket(key), base);
  }
}

TEST(KeyCodecTest, BucketSuffixIsBigEndian) {
  std::string key = WithBucket("k", 0x01020304);
  EXPECT_EQ(key, std::string("k\x01\x02\x03\x04"));
  // Big-endian: a later bucket of the same base sorts after an earlier one.
  EXPECT_LT(WithBucket("k", 255), WithBucket("k", 256));
  EXPECT_LT(WithBucket("k", 19999), WithBucket("k", 20000));
}

TEST(KeyCodecTest, BucketOfShortKeyIsMinusOne) {
  EXPECT_EQ(BucketOf(""), -1);
  EXPECT_EQ(BucketOf("abc"), -1);
  EXPECT_EQ(WithoutBucket("abc"), "abc");
}

TEST(KeyCodecTest, DayIndexCountsUtcDaysSinceEpoch) {
  EXPECT_EQ(DayIndex(absl::UnixEpoch()), 0);
  EXPECT_EQ(DayIndex(Utc(1970, 1, 2)), 1);
  EXPECT_EQ(DayIndex(Utc(2024, 1, 1)), 19723);
  EXPECT_EQ(DayIndex(absl::UnixEpoch() - absl::Milliseconds(1)), -1);
}

TEST(KeyCodecTest, DayIndexChangesExactlyAtUtcMidnight) {
  absl::Time midnight = Utc(2024, 3, 1);
  EXPECT_EQ(DayIndex(midnight - absl::Milliseconds(1)), DayIndex(midnight) - 1);
  EXPECT_EQ(DayIndex(midnight), DayIndex(midnight + absl::Hours(24) - absl::Nanoseconds(1)));
  // 2024 is a leap year: Feb 29 exists between Feb 28 and Mar 1.
  EXPECT_EQ(DayIndex(Utc(2024, 3, 1)) - DayIndex(Utc(2024, 2, 28)), 2);
  EXPECT_EQ(DayIndex(Utc(2023, 3, 1)) - DayIndex(Utc(2023, 2, 28)), 1);
}

TEST(KeyCodecTest, MonthIndexChangesAtMonthBoundaries) {
  EXPECT_EQ(MonthIndex(absl::UnixEpoch()), 0);
  EXPECT_EQ(MonthIndex(Utc(2024, 1, 1)), 54 * 12);
  EXPECT_EQ(MonthIndex(Utc(2024, 1, 31, 23, 59, 59)), 54 * 12);
  EXPECT_EQ(MonthIndex(Utc(2024, 2, 1)), 54 * 12 + 1);
  EXPECT_EQ(MonthIndex(Utc(2024, 12, 31, 23, 59, 59)), 54 * 12 + 11);
  EXPECT_EQ(MonthIndex(Utc(2025, 1, 1)), 55 * 12);
  EXPECT_EQ(MonthIndex(Utc(2024, 2, 1) - absl::Milliseconds(1)), 54 * 12);
}

TEST(KeyCodecTest, UserPrefixDoesNotMatchLongerUserId) {
  std::string ab = SignalsUserPrefix("t", 'u', "ab");
  std::string abc = SignalsUserPrefix("t", 'u', "abc");
  EXPECT_FALSE(absl::StartsWith(abc, ab));
  EXPECT_FALSE(absl::StartsWith(SignalsCounterKey(abc, "c", "/"), ab));
  EXPECT_TRUE(absl::StartsWith(SignalsCounterKey(ab, "c", "/"), ab));
  EXPECT_FALSE(absl::StartsWith(WithBucket(SignalsCounterKey(abc, "c", "/"), 7), ab));
}

TEST(KeyCodecTest, TenantPrefixDoesNotMatchLongerTenant) {
  EXPECT_FALSE(absl::StartsWith(SignalsUserPrefix("abc", 'u', "x"), Join({"ab"})));
  EXPECT_FALSE(absl::StartsWith(RegistryKey("abc", "c", "/"), RegistryPrefix("ab")));
  EXPECT_TRUE(absl::StartsWith(RegistryKey("ab", "c", "/"), RegistryPrefix("ab")));
  EXPECT_FALSE(absl::StartsWith(StashKey("abc", "v", "n", 1), Join({"ab"})));
}

TEST(KeyCodecTest, UidAndRegTokenAreSeparateNamespaces) {
  EXPECT_NE(SignalsUserPrefix("t", 'u', "x"), SignalsUserPrefix("t", 'r', "x"));
  EXPECT_FALSE(absl::StartsWith(SignalsUserPrefix("t", 'r', "x"), SignalsUserPrefix("t", 'u', "")));
}

TEST(KeyCodecTest, CounterKeySplitsIntoClassAndPath) {
  std::string prefix = SignalsUserPrefix("tenant", 'u', "alice");
  std::string key = SignalsCounterKey(prefix, "views", "/a/b");
  ASSERT_TRUE(absl::StartsWith(key, prefix));
  EXPECT_THAT(Split(absl::string_view(key).substr(prefix.size())), ElementsAre("views", "/a/b"));
  EXPECT_THAT(Split(key), ElementsAre("tenant", "ualice", "views", "/a/b"));
}

TEST(KeyCodecTest, CounterKeyBytes) {
  using std::string_literals::operator""s;
  EXPECT_EQ(SignalsCounterKey(SignalsUserPrefix("t", 'u', "x"), "views", "/a"),
            "t\0ux\0views\0/a\0"s);
  EXPECT_EQ(SignalsCounterKey(SignalsUserPrefix("t", 'r', ""), "", "/"), "t\0r\0\0/\0"s);
}

TEST(KeyCodecTest, ClassPrefixDoesNotMatchLongerClass) {
  std::string prefix = SignalsUserPrefix("t", 'u', "x");
  EXPECT_FALSE(absl::StartsWith(SignalsCounterKey(prefix, "abc", "/"), prefix + Join({"ab"})));
}

TEST(KeyCodecTest, StashKeyEndsWithDayBucket) {
  std::string key = StashKey("t", "visitor", "name", 19723);
  EXPECT_EQ(BucketOf(key), 19723);
  EXPECT_THAT(Split(WithoutBucket(key)), ElementsAre("t", "visitor", "name"));
}

TEST(KeyCodecTest, RegistryAndSettingsKeysAreDistinct) {
  EXPECT_THAT(Split(RegistryKey("t", "c", "/p")), ElementsAre("reg", "t", "c", "/p"));
  EXPECT_THAT(Split(CounterSettingsKey("t")), ElementsAre("csettings", "t"));
  EXPECT_FALSE(absl::StartsWith(CounterSettingsKey("t"), RegistryPrefix("t")));
}

TEST(KeyCodecTest, PartitionsOfDifferentKindsNeverCollide) {
  std::vector<std::string> ids = {SignalsUserPartition("t", 'u', "x").id(),
                                  SignalsUserPartition("t", 'r', "x").id(),
                                  StashPartition("t", "x").id(),
                                  TallyPartition("t", "x").id(),
                                  TenantPartition("t").id(),
                                  TenantRegistryPartition().id(),
                                  TallyPartition("t", "").id()};
  for (size_t i = 0; i < ids.size(); ++i) {
    for (size_t j = i + 1; j < ids.size(); ++j) EXPECT_NE(ids[i], ids[j]) << i << " " << j;
  }
  // Whole parts: a partition id is a sequence of '\0'-terminated parts.
  EXPECT_THAT(Split(TallyPartition("t", "c").id()), ElementsAre("tc", "t", "c"));
  EXPECT_NE(TallyPartition("t1", "c").id(), TallyPartition("t", "1c").id());
}

TEST(KeyCodecTest, RequestKeySeparatesScopesAndPartitions) {
  EXPECT_THAT(Split(RequestKey("Inc", TenantPartition("t"), "r1")),
              ElementsAre("Inc", "t", "t", "r1"));
  EXPECT_NE(RequestKey("A", TenantPartition("t"), "r"), RequestKey("B", TenantPartition("t"), "r"));
  EXPECT_NE(RequestKey("A", TenantPartition("t1"), "r"),
            RequestKey("A", TenantPartition("t"), "1r"));
  EXPECT_NE(RequestKey("A", StashPartition("t", "v"), "r"),
            RequestKey("A", StashPartition("t", "w"), "r"));
  // The layout before partitions, still read on RocksDB, and nonces (unchanged).
  EXPECT_THAT(Split(LegacyRequestKey("Inc", "t", "r1")), ElementsAre("Inc", "t", "r1"));
  EXPECT_THAT(Split(NonceKey("t", "n")), ElementsAre("nonce", "t", "n"));
}

TEST(KeyCodecTest, TenantRecordsShareOnePrefixAndNoOtherKindOfMetaKey) {
  EXPECT_TRUE(absl::StartsWith(TenantRecordKey("site1"), TenantRegistryPrefix()));
  EXPECT_FALSE(absl::StartsWith(TenantRecordKey("site10"), TenantRecordKey("site1")));
  EXPECT_EQ(Split(TenantRecordKey("site1")), (std::vector<absl::string_view>{"tenant", "site1"}));
  // Other kMeta records of a tenant named like the prefix stay outside the registry's scan.
  EXPECT_FALSE(absl::StartsWith(RegistryPrefix("tenant"), TenantRegistryPrefix()));
  EXPECT_FALSE(absl::StartsWith(CounterSettingsKey("tenant"), TenantRegistryPrefix()));
  EXPECT_FALSE(absl::StartsWith(GmConfigPrefix("tenant"), TenantRegistryPrefix()));
}

TEST(KeyCodecTest, VersionRecordsAreOutsideTheRecordsTheyVersion) {
  EXPECT_THAT(Split(ConfigVersionKey("reg", "t")), ElementsAre("cver", "reg", "t"));
  EXPECT_THAT(Split(TenantRegistryVersionKey()), ElementsAre("cver", "tenant"));
  EXPECT_NE(ConfigVersionKey("reg", "t"), ConfigVersionKey("gmcfg", "t"));
  EXPECT_NE(ConfigVersionKey("reg", "tenant"), TenantRegistryVersionKey());
  for (const std::string& key : {ConfigVersionKey("reg", "tenant"),
                                 ConfigVersionKey("gmcfg", "tenant"), TenantRegistryVersionKey()}) {
    // No scan of a configuration (registry, GameMechanics, tenants) visits a version record.
    EXPECT_FALSE(absl::StartsWith(key, RegistryPrefix("cver"))) << key;
    EXPECT_FALSE(absl::StartsWith(key, GmConfigPrefix("cver"))) << key;
    EXPECT_FALSE(absl::StartsWith(key, TenantRegistryPrefix())) << key;
  }
}

TEST(KeyCodecTest, RateLimitRecordsHaveTheirOwnScope) {
  EXPECT_THAT(Split(RateLimitKey("t")), ElementsAre("rate", "t"));
  EXPECT_FALSE(absl::StartsWith(RateLimitKey("t"), RequestScopePrefix("nonce")));
  EXPECT_NE(RateLimitKey("t1"), RateLimitKey("t"));
}

// --- PartitionOfKey: every key builder's key reads back as the partition it is written with ---

// Names with the bytes that could confuse a parser: empty, tag-like, long, printable punctuation.
const char* const kNames[] = {"", "t", "su", "tr", "u", "top", "nonce", "a b/c:d", "x\x7f~"};

void ExpectPartition(Table table, const std::string& key, const Partition& want) {
  absl::StatusOr<Partition> got = PartitionOfKey(table, key);
  ASSERT_TRUE(got.ok()) << TableName(table) << ": " << got.status();
  EXPECT_EQ(got->id(), want.id()) << TableName(table);
}

TEST(PartitionOfKeyTest, SignalsCountersBelongToTheirUser) {
  for (const char* tenant : kNames) {
    for (const char* user : kNames) {
      for (char kind : {'u', 'r'}) {
        const std::string key =
            SignalsCounterKey(SignalsUserPrefix(tenant, kind, user), "cls", "/a/b");
        const Partition want = SignalsUserPartition(tenant, kind, user);
        ExpectPartition(Table::kTotals, key, want);
        // Bucket indexes whose bytes are '\0' or look like parts.
        for (int32_t bucket : {0, 0x00000100, 0x00740000, 19723}) {
          ExpectPartition(Table::kMonthly, WithBucket(key, bucket), want);
          ExpectPartition(Table::kDaily, WithBucket(key, bucket), want);
        }
      }
    }
  }
  // An empty class and path are still whole parts.
  ExpectPartition(Table::kTotals, SignalsCounterKey(SignalsUserPrefix("t1", 'u', "x"), "", ""),
                  SignalsUserPartition("t1", 'u', "x"));
}

TEST(PartitionOfKeyTest, StashBucketsBelongToTheirVisitor) {
  for (const char* tenant : kNames) {
    for (const char* visitor : kNames) {
      for (int32_t day : {0, 1, 20000}) {
        ExpectPartition(Table::kStash, StashKey(tenant, visitor, "views", day),
                        StashPartition(tenant, visitor));
      }
    }
  }
}

TEST(PartitionOfKeyTest, TallyRecordsOfBothOpsBelongToTheirCounter) {
  for (const char* tenant : kNames) {
    for (const char* counter : kNames) {
      const Partition want = TallyPartition(tenant, counter);
      for (char op : {kTallyECount, kTallyTopK}) {
        for (auto [end, expiry] : {std::pair<int64_t, int64_t>{0, 0},
                                   {1700000040, 1700086440},
                                   {int64_t{1} << 40, -1}}) {
          ExpectPartition(
              Table::kTally,
              TallyBucketKey(TallyCountablePrefix(op, tenant, counter, "item"), end, expiry), want);
        }
        ExpectPartition(Table::kTallyMeta, TallyMetadataKey(op, tenant, counter, "item"), want);
        ExpectPartition(Table::kTallyMeta, TallySettingsKey(op, tenant, counter), want);
        EXPECT_FALSE(IsTallyLegacyKey(Table::kTallyMeta, TallySettingsKey(op, tenant, counter)));
      }
    }
  }
}

TEST(PartitionOfKeyTest, TallyRecordsOfTheSharedLayoutBelongToTheirCounterAndAreLegacy) {
  const std::string bucket = TallyBucketKey(Join({"b", "t1", "c", "item"}), 60, 120);
  const std::string metadata = Join({"md", "t1", "c", "item"});
  const std::string settings = Join({"cfg", "t1", "c"});
  ExpectPartition(Table::kTally, bucket, TallyPartition("t1", "c"));
  ExpectPartition(Table::kTallyMeta, metadata, TallyPartition("t1", "c"));
  ExpectPartition(Table::kTallyMeta, settings, TallyPartition("t1", "c"));
  EXPECT_TRUE(IsTallyLegacyKey(Table::kTally, bucket));
  EXPECT_TRUE(IsTallyLegacyKey(Table::kTallyMeta, metadata));
  EXPECT_TRUE(IsTallyLegacyKey(Table::kTallyMeta, settings));
  EXPECT_FALSE(IsTallyLegacyKey(
      Table::kTally, TallyBucketKey(TallyCountablePrefix('t', "t1", "c", "i"), 60, 120)));
}

TEST(PartitionOfKeyTest, MetaRecordsBelongToTheirTenantOrTheRegistry) {
  for (const char* tenant : kNames) {
    ExpectPartition(Table::kMeta, RegistryKey(tenant, "cls", "/p"), TenantPartition(tenant));
    ExpectPartition(Table::kMeta, CounterSettingsKey(tenant), TenantPartition(tenant));
    ExpectPartition(Table::kMeta, GmActionKey(tenant, "act"), TenantPartition(tenant));
    ExpectPartition(Table::kMeta, GmChallengeKey(tenant, "ch"), TenantPartition(tenant));
    ExpectPartition(Table::kMeta, TenantRecordKey(tenant), TenantRegistryPartition());
    // Version records sit in the partition of the configuration they version.
    ExpectPartition(Table::kMeta, ConfigVersionKey("reg", tenant), TenantPartition(tenant));
    ExpectPartition(Table::kMeta, ConfigVersionKey("gmcfg", tenant), TenantPartition(tenant));
  }
  ExpectPartition(Table::kMeta, TenantRegistryVersionKey(), TenantRegistryPartition());
  EXPECT_EQ(PartitionOfKey(Table::kMeta, ConfigVersionKey("other", "t")).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(PartitionOfKeyTest, RequestRecordsAndNoncesBelongToThePartitionTheyGuard) {
  for (const char* tenant : kNames) {
    for (const char* name : kNames) {
      const Partition partitions[] = {SignalsUserPartition(tenant, 'u', name),
                                      SignalsUserPartition(tenant, 'r', name),
                                      StashPartition(tenant, name),
                                      TallyPartition(tenant, name),
                                      TenantPartition(tenant),
                                      TenantRegistryPartition()};
      for (const Partition& partition : partitions) {
        for (const char* scope : {"IncrementCounters", "gm.NotifyAction", "t"}) {
          ExpectPartition(Table::kRequests, RequestKey(scope, partition, "req-1"), partition);
        }
      }
      ExpectPartition(Table::kRequests, NonceKey(tenant, name), TenantPartition(tenant));
    }
    ExpectPartition(Table::kRequests, RateLimitKey(tenant), TenantPartition(tenant));
  }
}

TEST(PartitionOfKeyTest, RequestRecordsFromBeforePartitionsBelongToNone) {
  absl::StatusOr<Partition> legacy =
      PartitionOfKey(Table::kRequests, LegacyRequestKey("IncrementCounters", "acme", "uid-9"));
  EXPECT_EQ(legacy.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(legacy.status().message()),
              ::testing::Not(::testing::HasSubstr("uid-9")));
}

TEST(PartitionOfKeyTest, GameMechanicsRecordsBelongToTheirTenant) {
  for (const char* tenant : kNames) {
    for (const char* uid : kNames) {
      const Partition want = TenantPartition(tenant);
      ExpectPartition(Table::kGmState, GmUserStateKey(tenant, uid, "ch"), want);
      // Balances whose 8 bytes hold '\0' (INT64_MAX - balance = 0) and look like parts.
      for (int64_t balance :
           {int64_t{0}, int64_t{-5}, int64_t{1} << 40, std::numeric_limits<int64_t>::max()}) {
        ExpectPartition(Table::kGmState, GmTopKey(tenant, "ch", balance, uid), want);
      }
      for (int64_t seq : {0, 1, 256}) {
        ExpectPartition(Table::kGmLog, GmLogKey(GmLogPrefix(tenant, uid), 1700000000000, seq),
                        want);
      }
      ExpectPartition(Table::kGmDaily, GmDailyKey(tenant, "ch", uid, 19723), want);
      ExpectPartition(Table::kGmDaily, GmDailyKey(tenant, "ch", uid, 0), want);
    }
  }
}

TEST(PartitionOfKeyTest, KeysOfNoLayoutAreDataLossNamingTheTableNotTheKey) {
  const std::string user = SignalsUserPrefix("acme", 'u', "secret-uid");
  const std::pair<Table, std::string> bad[] = {
      {Table::kTotals, "secret-uid"},                             // no terminator
      {Table::kTotals, user + "cls" + std::string(1, '\0')},      // a part missing
      {Table::kTotals, SignalsCounterKey(user, "c", "p") + "x"},  // bytes left over
      {Table::kTotals, SignalsCounterKey(Join({"acme", "qsecret-uid"}), "c", "p")},  // kind
      {Table::kDaily, "ab"},                                         // shorter than a bucket
      {Table::kStash, WithBucket(Join({"acme", "secret-uid"}), 3)},  // a part missing
      {Table::kMeta, Join({"reg", "acme", "secret-uid"})},           // a part missing
      {Table::kMeta, Join({"gmcfg", "acme", "x", "secret-uid"})},    // neither action nor challenge
      {Table::kMeta, TallySettingsKey('t', "acme", "secret-uid")},   // another table's key
      {Table::kRequests, Join({"scope", "zz", "acme", "secret-uid"})},  // unknown partition tag
      {Table::kRequests, Join({"scope", "secret-uid"})},                // too few parts
      {Table::kTally, TallyCountablePrefix('t', "acme", "c", "secret-uid")},           // no suffix
      {Table::kTally, TallyBucketKey(Join({"bx", "acme", "c", "secret-uid"}), 1, 2)},  // tag
      {Table::kTallyMeta, Join({"mdt", "acme", "secret-uid"})},        // a part missing
      {Table::kGmLog, Join({"acme", "secret-uid"})},                   // no suffix
      {Table::kGmState, Join({"u", "acme", "secret-uid"})},            // challenge missing
      {Table::kGmState, GmTopPrefix("acme", "secret-uid") + "1234"},   // balance cut short
      {Table::kGmState, Join({"x", "acme", "secret-uid", "c"})},       // unknown tag
      {Table::kGmDaily, WithBucket(Join({"acme", "secret-uid"}), 7)},  // a part missing
  };
  for (const auto& [table, key] : bad) {
    absl::StatusOr<Partition> got = PartitionOfKey(table, key);
    ASSERT_FALSE(got.ok()) << TableName(table) << " took a key of no layout";
    EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
    const std::string message(got.status().message());
    EXPECT_THAT(message, ::testing::HasSubstr(absl::StrCat("table ", TableName(table))));
    EXPECT_THAT(message, ::testing::Not(::testing::HasSubstr("secret-uid")));
    EXPECT_THAT(message, ::testing::Not(::testing::HasSubstr("acme")));
  }
}

}  // namespace
}  // namespace countd::storage::keys
