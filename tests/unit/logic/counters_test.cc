// Tests of the Signals counters logic (server/logic/counters.h) over a real RocksDB store in a
// fresh temporary directory, with a fake clock shared by the store's expiry and the logic.
#include "server/logic/counters.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logic/decimal.h"
#include "server/logic/request_log.h"
#include "server/logic/status_util.h"
#include "storage/keys.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/testing/failing_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/in_memory_store.h"
#include "tests/testing/temp_dir.h"

namespace countd::logic {
namespace {

using storage::Table;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using Op = test::FailingStore::Op;

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0, int ss = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

CounterIncrement Inc(const std::string& cls, const std::string& path,
                     absl::optional<double> value = absl::nullopt,
                     absl::optional<int64_t> count = absl::nullopt) {
  CounterIncrement c;
  c.cls = cls;
  c.path = path;
  c.value = value;
  c.count = count;
  return c;
}

CounterQuery Query(const std::string& cls, const std::string& path = "",
                   const std::string& period = "") {
  return CounterQuery{cls, path, period};
}

CounterUser Uid(const std::string& uid) {
  CounterUser u;
  u.uid = uid;
  return u;
}

CounterUser RegToken(const std::string& token) {
  CounterUser u;
  u.reg_token = token;
  return u;
}

// "class path period count value" rows, for compact assertions.
std::vector<std::string> Rows(const std::vector<CounterValue>& values) {
  std::vector<std::string> out;
  for (const CounterValue& v : values) {
    out.push_back(absl::StrCat(v.cls, " ", v.path, " ", v.period, " ", v.count, " ",
                               FormatMicros(v.value_micros)));
  }
  return out;
}

std::vector<std::string> Pairs(const std::vector<CounterPath>& paths) {
  std::vector<std::string> out;
  for (const CounterPath& p : paths) out.push_back(p.cls + " " + p.path);
  return out;
}

void ExpectError(const absl::Status& s, absl::StatusCode code, const std::string& field) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_EQ(FieldOf(s), field) << s;
  EXPECT_NE(s.message().find(field), absl::string_view::npos) << s;
}

class CountersTest : public ::testing::Test {
 protected:
  CountersTest() : clock_(Utc(2024, 6, 15, 12, 0, 0)) {}

  void SetUp() override {
    storage::StoreOptions options;
    options.clock = &clock_;
    options.block_cache_bytes = size_t{8} << 20;
    options.memtable_bytes = size_t{8} << 20;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::OpenRocksDbStore(dir_.Sub("db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    failing_ = std::make_unique<test::FailingStore>(store_.get());
    NewCounters();
  }

  // A fresh Counters (empty registry cache) over the same store.
  void NewCounters() {
    counters_.reset();
    requests_ = std::make_unique<RequestLog>(failing_.get(), &clock_);
    counters_ =
        std::make_unique<Counters>(failing_.get(), &clock_, requests_.get(), CountersOptions{});
  }

  absl::Status Register(std::vector<CounterPath> paths, const std::string& tenant = "site") {
    return counters_->RegisterCounters(tenant, paths);
  }

  absl::Status Unregister(std::vector<CounterPath> paths, const std::string& tenant = "site") {
    return counters_->UnregisterCounters(tenant, paths);
  }

  std::vector<std::string> Registered(const std::string& tenant = "site") {
    absl::StatusOr<std::vector<CounterPath>> got = counters_->GetRegisteredCounters(tenant);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? Pairs(*got) : std::vector<std::string>{"<error>"};
  }

  absl::Status Increment(const CounterUser& user, std::vector<CounterIncrement> counters,
                         const std::string& request_id = "",
                         absl::optional<int64_t> event_time_ms = absl::nullopt,
                         const std::string& tenant = "site") {
    IncrementCountersArgs args;
    args.tenant = tenant;
    args.user = user;
    args.counters = std::move(counters);
    args.request_id = request_id;
    args.event_time_ms = event_time_ms;
    return counters_->IncrementCounters(args);
  }

  absl::Status Increment(const std::string& uid, std::vector<CounterIncrement> counters) {
    return Increment(Uid(uid), std::move(counters));
  }

  absl::StatusOr<std::vector<CounterValue>> Get(const CounterUser& user,
                                                std::vector<CounterQuery> queries,
                                                const std::string& tenant = "site") {
    GetCountersArgs args;
    args.tenant = tenant;
    args.user = user;
    args.counters = std::move(queries);
    return counters_->GetCounters(args);
  }

  std::vector<std::string> GetRows(const CounterUser& user, std::vector<CounterQuery> queries,
                                   const std::string& tenant = "site") {
    absl::StatusOr<std::vector<CounterValue>> got = Get(user, std::move(queries), tenant);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? Rows(*got) : std::vector<std::string>{"<error>"};
  }

  std::vector<std::string> GetRows(const std::string& uid, std::vector<CounterQuery> queries) {
    return GetRows(Uid(uid), std::move(queries));
  }

  int64_t RawEntries(Table table) {
    absl::StatusOr<int64_t> n = storage::CountRawEntriesForTest(*store_, table);
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }

  static int64_t Ms(absl::Time t) { return absl::ToUnixMillis(t); }

  test::ScopedTempDir dir_;
  test::FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<test::FailingStore> failing_;
  std::unique_ptr<RequestLog> requests_;
  std::unique_ptr<Counters> counters_;
};

// --- PathDepth
// ------------------------------------------------------------------------------------

TEST(PathDepthTest, CountsLevels) {
  EXPECT_EQ(PathDepth("p", "/").value_or(-1), 0);
  EXPECT_EQ(PathDepth("p", "/a").value_or(-1), 1);
  EXPECT_EQ(PathDepth("p", "/a.b/C_d-9").value_or(-1), 2);
  EXPECT_EQ(PathDepth("p", "/1/2/3/4/5/6/7/8").value_or(-1), 8);
}

TEST(PathDepthTest, RejectsMalformedPaths) {
  for (const char* bad :
       {"a", "a/b", "/a/", "//", "/a//b", "/a b", "/a:b", "/a?b", "/a~b", "/a\\b", "/\xc3\xa9"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<int> d = PathDepth("counters[0].path", bad);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(FieldOf(d.status()), "counters[0].path");
    EXPECT_EQ(ReasonOf(d.status()), "format");
  }
  EXPECT_EQ(ReasonOf(PathDepth("p", "").status()), "missing");
  absl::StatusOr<int> deep = PathDepth("p", "/1/2/3/4/5/6/7/8/9");
  EXPECT_EQ(deep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldOf(deep.status()), "p");
}

// --- Registry
// ---------------------------------------------------------------------------------------

TEST_F(CountersTest, RegistersAndListsOrderedByClassThenPath) {
  ASSERT_TRUE(Register({{"b", "/x"}, {"a", "/z"}, {"a", "/"}, {"a", "/y/z"}}).ok());
  EXPECT_THAT(Registered(), ElementsAre("a /", "a /y/z", "a /z", "b /x"));
  EXPECT_THAT(Registered("other"), IsEmpty());
}

TEST_F(CountersTest, ReRegisteringIsANoOpSuccess) {
  ASSERT_TRUE(Register({{"c", "/a"}, {"c", "/a"}}).ok());
  ASSERT_TRUE(Register({{"c", "/a"}}).ok());
  EXPECT_THAT(Registered(), ElementsAre("c /a"));
  // The pair and the registry's version record, which counts one change: the second call wrote
  // nothing.
  EXPECT_EQ(RawEntries(Table::kMeta), 2);
  absl::StatusOr<std::string> version =
      store_->Get(storage::keys::TenantPartition("site"), Table::kMeta,
                  storage::keys::ConfigVersionKey("reg", "site"));
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(storage::keys::GetBigEndian64(*version), 1);
}

TEST_F(CountersTest, EachLevelIsRegisteredOnItsOwn) {
  ASSERT_TRUE(Register({{"c", "/a/b"}}).ok());
  EXPECT_THAT(Registered(), ElementsAre("c /a/b"));
  ExpectError(Increment("u", {Inc("c", "/a")}), absl::StatusCode::kFailedPrecondition,
              "counters[0].path");
  EXPECT_TRUE(Increment("u", {Inc("c", "/a/b")}).ok());
  // The pair is (class, path): another class with the same path is not registered.
  ExpectError(Increment("u", {Inc("d", "/a/b")}), absl::StatusCode::kFailedPrecondition,
              "counters[0].path");
}

TEST_F(CountersTest, DefaultMaxDepthIsTwo) {
  EXPECT_EQ(counters_->GetCounterSettings("site").value_or(CounterSettings{-1}).max_path_depth, 2);
  ASSERT_TRUE(Register({{"c", "/a/b"}}).ok());
  ExpectError(Register({{"c", "/a"}, {"c", "/a/b/c"}}), absl::StatusCode::kInvalidArgument,
              "counters[1].path");
  // Nothing of the refused call was registered, not even its valid first pair.
  EXPECT_THAT(Registered(), ElementsAre("c /a/b"));
}

// Found by a black-box audit: re-registering a pair registered before max_path_depth was lowered
// was refused, although lowering the depth only refuses new pairs.
TEST_F(CountersTest, ReRegisteringAPairDeeperThanALoweredDepthIsANoOpSuccess) {
  ASSERT_TRUE(counters_->SetCounterSettings("site", CounterSettings{3}).ok());
  ASSERT_TRUE(Register({{"c", "/x/y/z"}}).ok());
  ASSERT_TRUE(counters_->SetCounterSettings("site", CounterSettings{2}).ok());
  EXPECT_TRUE(Register({{"c", "/x/y/z"}}).ok());
  EXPECT_THAT(Registered(), ElementsAre("c /x/y/z"));
  // A new pair that deep is still refused, and so is the call that carries it.
  ExpectError(Register({{"c", "/x/y/z"}, {"c", "/x/y/w"}}), absl::StatusCode::kInvalidArgument,
              "counters[1].path");
  EXPECT_THAT(Registered(), ElementsAre("c /x/y/z"));
}

TEST_F(CountersTest, SettingsAllowDepthUpToEight) {
  absl::StatusOr<CounterSettings> set = counters_->SetCounterSettings("site", CounterSettings{8});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->max_path_depth, 8);
  EXPECT_EQ(counters_->GetCounterSettings("site").value_or(CounterSettings{-1}).max_path_depth, 8);
  ASSERT_TRUE(Register({{"c", "/1/2/3/4/5/6/7/8"}}).ok());
  ExpectError(Register({{"c", "/1/2/3/4/5/6/7/8/9"}}), absl::StatusCode::kInvalidArgument,
              "counters[0].path");
  EXPECT_TRUE(Increment("u", {Inc("c", "/1/2/3/4/5/6/7/8")}).ok());
  // Other tenants keep the default.
  ExpectError(Register({{"c", "/1/2/3"}}, "other"), absl::StatusCode::kInvalidArgument,
              "counters[0].path");
}

TEST_F(CountersTest, SettingsOutsideOneToEightAreRejected) {
  for (int bad : {0, -1, 9, 100}) {
    SCOPED_TRACE(bad);
    ExpectError(counters_->SetCounterSettings("site", CounterSettings{bad}).status(),
                absl::StatusCode::kInvalidArgument, "settings.max_path_depth");
  }
  EXPECT_EQ(counters_->GetCounterSettings("site").value_or(CounterSettings{-1}).max_path_depth, 2);
}

TEST_F(CountersTest, SettingsAndRegistryPersistAcrossInstances) {
  ASSERT_TRUE(counters_->SetCounterSettings("site", CounterSettings{3}).ok());
  ASSERT_TRUE(Register({{"c", "/a/b/c"}, {"d", "/"}}).ok());
  NewCounters();
  EXPECT_EQ(counters_->GetCounterSettings("site").value_or(CounterSettings{-1}).max_path_depth, 3);
  EXPECT_THAT(Registered(), ElementsAre("c /a/b/c", "d /"));
  EXPECT_TRUE(Increment("u", {Inc("c", "/a/b/c")}).ok());
}

TEST_F(CountersTest, RejectsMalformedPathsAndClasses) {
  for (const char* bad : {"a", "/a/", "//", "/a//b", "/a b", "/a:b", "/a/b*"}) {
    SCOPED_TRACE(bad);
    absl::Status s = Register({{"c", "/ok"}, {"c", bad}});
    ExpectError(s, absl::StatusCode::kInvalidArgument, "counters[1].path");
    EXPECT_EQ(ReasonOf(s), "format");
  }
  absl::Status missing = Register({{"c", ""}});
  ExpectError(missing, absl::StatusCode::kInvalidArgument, "counters[0].path");
  EXPECT_EQ(ReasonOf(missing), "missing");
  ExpectError(Register({{"", "/"}}), absl::StatusCode::kInvalidArgument, "counters[0].class");
  ExpectError(Register({{"c\x01", "/"}}), absl::StatusCode::kInvalidArgument, "counters[0].class");
  ExpectError(Register({}), absl::StatusCode::kInvalidArgument, "counters");
  ExpectError(Register({{"c", "/"}}, ""), absl::StatusCode::kInvalidArgument, "tenant");
  EXPECT_THAT(Registered(), IsEmpty());
}

TEST_F(CountersTest, RegistryIsLimitedTo1000PairsPerTenant) {
  std::vector<CounterPath> many;
  for (int i = 0; i < 999; ++i) many.push_back({"c", absl::StrCat("/p", i)});
  ASSERT_TRUE(Register(many).ok());
  ASSERT_THAT(Registered(), SizeIs(999));

  absl::Status s = Register({{"c", "/new1"}, {"c", "/new2"}});
  ExpectError(s, absl::StatusCode::kFailedPrecondition, "counters");
  EXPECT_THAT(Registered(), SizeIs(999));
  ExpectError(Increment("u", {Inc("c", "/new1")}), absl::StatusCode::kFailedPrecondition,
              "counters[0].path");
  // The refusal is not cached by mistake either: a fresh instance sees 999 too.
  NewCounters();
  EXPECT_THAT(Registered(), SizeIs(999));

  ASSERT_TRUE(Register({{"c", "/new1"}}).ok());
  EXPECT_THAT(Registered(), SizeIs(1000));
  EXPECT_TRUE(Register({{"c", "/p0"}, {"c", "/new1"}}).ok());  // already there: fine
  ExpectError(Register({{"d", "/"}}), absl::StatusCode::kFailedPrecondition, "counters");
  EXPECT_THAT(Registered(), SizeIs(1000));
  // Unregistering makes room again.
  ASSERT_TRUE(Unregister({{"c", "/p0"}}).ok());
  EXPECT_TRUE(Register({{"d", "/"}}).ok());
  EXPECT_THAT(Registered(), SizeIs(1000));
}

TEST_F(CountersTest, MoreThan1000PairsInOneCallAreRejected) {
  std::vector<CounterPath> many;
  for (int i = 0; i < 1001; ++i) many.push_back({"c", absl::StrCat("/p", i)});
  ExpectError(Register(many), absl::StatusCode::kInvalidArgument, "counters");
  EXPECT_THAT(Registered(), IsEmpty());
}

TEST_F(CountersTest, UnregisterKeepsDataButRefusesNewIncrements) {
  ASSERT_TRUE(Register({{"c", "/a"}, {"c", "/b"}}).ok());
  ASSERT_TRUE(Increment("u", {Inc("c", "/a", 2.5)}).ok());
  ASSERT_TRUE(Unregister({{"c", "/a"}}).ok());
  EXPECT_THAT(Registered(), ElementsAre("c /b"));
  ExpectError(Increment("u", {Inc("c", "/a")}), absl::StatusCode::kFailedPrecondition,
              "counters[0].path");
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c /a total 1 2.5"));
  // Idempotent, and unknown pairs are fine.
  EXPECT_TRUE(Unregister({{"c", "/a"}, {"x", "/never"}}).ok());
  // Registering again continues the old data.
  ASSERT_TRUE(Register({{"c", "/a"}}).ok());
  ASSERT_TRUE(Increment("u", {Inc("c", "/a", 0.5)}).ok());
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c /a total 2 3"));
  // A fresh instance agrees with the stored registry.
  ASSERT_TRUE(Unregister({{"c", "/b"}}).ok());
  NewCounters();
  EXPECT_THAT(Registered(), ElementsAre("c /a"));
}

TEST_F(CountersTest, RegistryIsPerTenant) {
  ASSERT_TRUE(Register({{"c", "/a"}}, "site").ok());
  ExpectError(Increment(Uid("u"), {Inc("c", "/a")}, "", absl::nullopt, "other"),
              absl::StatusCode::kFailedPrecondition, "counters[0].path");
  EXPECT_TRUE(Increment(Uid("u"), {Inc("c", "/a")}, "", absl::nullopt, "site").ok());
}

// --- IncrementCounters
// ----------------------------------------------------------------------------

TEST_F(CountersTest, RootPathNeedsNoRegistration) {
  ASSERT_TRUE(Increment("u", {Inc("c", "/")}).ok());
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c / total 1 0"));
  EXPECT_THAT(Registered(), IsEmpty());
}

TEST_F(CountersTest, CountDefaultsToOneAndValueToZero) {
  ASSERT_TRUE(Increment("u", {Inc("c", "/")}).ok());
  ASSERT_TRUE(Increment("u", {Inc("c", "/", 1.5)}).ok());
  ASSERT_TRUE(Increment("u", {Inc("c", "/", absl::nullopt, 5)}).ok());
  ASSERT_TRUE(Increment("u", {Inc("c", "/", -0.5, 0)}).ok());
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c / total 7 1"));
}

// On a replying thread (DeferWalFlush, as countd's completion-queue threads) the store keeps
// plain increments until the thread flushes (Store::Submit): the thread reads them at once,
// another thread only after the flush. With a request_id the write carries a precondition and
// is applied at once.
TEST_F(CountersTest, IncrementsOnAReplyingThreadAreKeptUntilItsFlush) {
  auto elsewhere = [&](const std::string& uid) {
    std::vector<std::string> rows;
    std::thread reader([&] { rows = GetRows(uid, {}); });
    reader.join();
    return rows;
  };
  storage::DeferWalFlush defer;
  ASSERT_TRUE(Increment("u", {Inc("c", "/")}).ok());
  ASSERT_TRUE(Increment("u", {Inc("c", "/", 1.5, 2)}).ok());
  EXPECT_TRUE(store_->WalFlushPending());
  EXPECT_THAT(elsewhere("u"), IsEmpty());
  ASSERT_TRUE(Increment(Uid("r"), {Inc("c", "/")}, "req-1").ok());
  EXPECT_THAT(elsewhere("r"), ElementsAre("c / total 1 0"));
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c / total 3 1.5"));  // this thread: at once
  ASSERT_TRUE(Increment("u", {Inc("c", "/")}).ok());
  ASSERT_TRUE(store_->FlushWal().ok());
  EXPECT_THAT(elsewhere("u"), ElementsAre("c / total 4 1.5"));
}

TEST_F(CountersTest, NegativeCountIsRejectedAndNothingIsWritten) {
  ExpectError(Increment("u", {Inc("c", "/"), Inc("c", "/", 1, -1)}),
              absl::StatusCode::kInvalidArgument, "counters[1].count");
  EXPECT_THAT(GetRows("u", {}), IsEmpty());
}

// The checks name the counter's index and field (built only on the error path).
TEST_F(CountersTest, BadClassOrPathIsNamedWithItsIndexAndNothingIsWritten) {
  ExpectError(Increment("u", {Inc("c", "/"), Inc("c", "/"), Inc("", "/")}),
              absl::StatusCode::kInvalidArgument, "counters[2].class");
  ExpectError(Increment("u", {Inc("c", "/"), Inc("c\x01", "/")}),
              absl::StatusCode::kInvalidArgument, "counters[1].class");
  ExpectError(Increment("u", {Inc("c", "/"), Inc("c", "a/b")}), absl::StatusCode::kInvalidArgument,
              "counters[1].path");
  ExpectError(Increment("u", {Inc("c", "")}), absl::StatusCode::kInvalidArgument,
              "counters[0].path");
  EXPECT_THAT(GetRows("u", {}), IsEmpty());
}

TEST_F(CountersTest, NonFiniteOrHugeValueIsRejected) {
  ExpectError(Increment("u", {Inc("c", "/"), Inc("c", "/", std::nan(""))}),
              absl::StatusCode::kInvalidArgument, "counters[1].value");
  ExpectError(Increment("u", {Inc("c", "/", 1e16)}), absl::StatusCode::kInvalidArgument,
              "counters[0].value");
  EXPECT_THAT(GetRows("u", {}), IsEmpty());
}

TEST_F(CountersTest, UnregisteredPathRefusesTheWholeCall) {
  ASSERT_TRUE(Register({{"c", "/ok"}}).ok());
  absl::Status s = Increment("u", {Inc("c", "/"), Inc("c", "/ok"), Inc("c", "/nope")});
  ExpectError(s, absl::StatusCode::kFailedPrecondition, "counters[2].path");
  EXPECT_NE(s.message().find("/nope"), absl::string_view::npos) << s;
  // All or nothing: the valid counters before it were not applied.
  EXPECT_THAT(GetRows("u", {}), IsEmpty());
  EXPECT_EQ(RawEntries(Table::kTotals), 0);
  EXPECT_EQ(RawEntries(Table::kMonthly), 0);
  EXPECT_EQ(RawEntries(Table::kDaily), 0);
}

TEST_F(CountersTest, AtMostOneHundredCountersPerCall) {
  std::vector<CounterIncrement> hundred(100, Inc("c", "/"));
  ASSERT_TRUE(Increment("u", hundred).ok());
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c / total 100 0"));
  std::vector<CounterIncrement> too_many(101, Inc("c", "/"));
  ExpectError(Increment("u", too_many), absl::StatusCode::kInvalidArgument, "counters");
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c / total 100 0"));
  absl::Status empty = Increment("u", {});
  ExpectError(empty, absl::StatusCode::kInvalidArgument, "counters");
  EXPECT_EQ(ReasonOf(empty), "missing");
}

TEST_F(CountersTest, ExactlyOneOfUidAndRegToken) {
  CounterUser both;
  both.uid = "u";
  both.reg_token = "r";
  ExpectError(Increment(both, {Inc("c", "/")}), absl::StatusCode::kInvalidArgument, "uid");
  absl::Status neither = Increment(CounterUser{}, {Inc("c", "/")});
  ExpectError(neither, absl::StatusCode::kInvalidArgument, "uid");
  EXPECT_EQ(ReasonOf(neither), "missing");
  ExpectError(Get(both, {}).status(), absl::StatusCode::kInvalidArgument, "uid");
  ExpectError(Get(CounterUser{}, {}).status(), absl::StatusCode::kInvalidArgument, "uid");
  ExpectError(Increment(RegToken(""), {Inc("c", "/")}), absl::StatusCode::kInvalidArgument,
              "reg_token");
  ExpectError(Increment(Uid(std::string(257, 'u')), {Inc("c", "/")}),
              absl::StatusCode::kInvalidArgument, "uid");
  EXPECT_EQ(RawEntries(Table::kTotals), 0);
}

TEST_F(CountersTest, UidAndRegTokenAreSeparateNamespaces) {
  ASSERT_TRUE(Increment(Uid("x"), {Inc("c", "/", 1)}).ok());
  ASSERT_TRUE(Increment(RegToken("x"), {Inc("c", "/", 2), Inc("c", "/", 2)}).ok());
  EXPECT_THAT(GetRows(Uid("x"), {}), ElementsAre("c / total 1 1"));
  EXPECT_THAT(GetRows(RegToken("x"), {}), ElementsAre("c / total 2 4"));
}

TEST_F(CountersTest, TenantsAreIsolated) {
  ASSERT_TRUE(Increment(Uid("u"), {Inc("c", "/")}, "", absl::nullopt, "site").ok());
  EXPECT_THAT(GetRows(Uid("u"), {}, "other"), IsEmpty());
  EXPECT_THAT(GetRows(Uid("u"), {Query("c", "/", "regex('.*')")}, "other"), IsEmpty());
  EXPECT_THAT(GetRows(Uid("u"), {}, "site"), ElementsAre("c / total 1 0"));
  // A tenant whose name extends another's sees nothing of it either.
  EXPECT_THAT(GetRows(Uid("u"), {}, "site2"), IsEmpty());
}

TEST_F(CountersTest, UsersWhoseIdsSharePrefixesAreIsolated) {
  ASSERT_TRUE(Increment("ab", {Inc("c", "/", absl::nullopt, 1)}).ok());
  ASSERT_TRUE(Increment("abc", {Inc("c", "/", absl::nullopt, 10)}).ok());
  EXPECT_THAT(GetRows("ab", {Query("c", "/", "regex('.*')")}),
              ElementsAre("c / 2406 1 0", "c / 240615 1 0", "c / last7Days 1 0", "c / total 1 0"));
  EXPECT_THAT(GetRows("abc", {}), ElementsAre("c / total 10 0"));
  EXPECT_THAT(GetRows("a", {}), IsEmpty());
}

TEST_F(CountersTest, SameCounterTwiceInOneCallAddsBoth) {
  ASSERT_TRUE(Increment("u", {Inc("c", "/", 1.25, 2), Inc("c", "/", 0.75, 3)}).ok());
  EXPECT_THAT(GetRows("u", {Query("c", "/", "240615")}), ElementsAre("c / 240615 5 2"));
}

TEST_F(CountersTest, PointOneAddedTenTimesIsExactlyOne) {
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Increment("u", {Inc("c", "/", 0.1)}).ok());
  absl::StatusOr<std::vector<CounterValue>> got = Get(Uid("u"), {});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_THAT(*got, SizeIs(1));
  EXPECT_EQ((*got)[0].value_micros, absl::int128(1000000));
  EXPECT_EQ(FormatMicros((*got)[0].value_micros), "1");
  EXPECT_EQ((*got)[0].count, 10);
  // Ten counters of 0.1 in one call as well.
  ASSERT_TRUE(Increment("v", std::vector<CounterIncrement>(10, Inc("c", "/", 0.1))).ok());
  got = Get(Uid("v"), {Query("c", "/", "last7Days")});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_THAT(*got, SizeIs(1));
  EXPECT_EQ((*got)[0].value_micros, absl::int128(1000000));
}

TEST_F(CountersTest, ConcurrentIncrementsAreAllCounted) {
  ASSERT_TRUE(Register({{"c", "/a"}}).ok());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!Increment("u", {Inc("c", "/a", 0.5)}).ok()) ++failures[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_THAT(failures, ElementsAre(0, 0, 0, 0));
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c /a total 200 100"));
}

// --- GetCounters
// ------------------------------------------------------------------------------------

TEST_F(CountersTest, ReportsEveryPeriodExactly) {
  ASSERT_TRUE(Register({{"c", "/a"}}).ok());
  ASSERT_TRUE(Increment("u", {Inc("c", "/a", 1.5)}).ok());
  ASSERT_TRUE(Increment("u", {Inc("c", "/a", 0.25, 2)}).ok());
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "total")}), ElementsAre("c /a total 3 1.75"));
  EXPECT_THAT(GetRows("u", {Query("c", "/a")}), ElementsAre("c /a total 3 1.75"));
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "2406")}), ElementsAre("c /a 2406 3 1.75"));
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "240615")}), ElementsAre("c /a 240615 3 1.75"));
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "last7Days")}), ElementsAre("c /a last7Days 3 1.75"));
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "2405")}), IsEmpty());
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "240614")}), IsEmpty());
}

TEST_F(CountersTest, OmittedFiltersReturnEveryCounterTotal) {
  ASSERT_TRUE(Register({{"b", "/x"}, {"a", "/y"}, {"a", "/y/z"}}).ok());
  ASSERT_TRUE(
      Increment("u", {Inc("b", "/x"), Inc("a", "/y/z"), Inc("a", "/y"), Inc("a", "/")}).ok());
  EXPECT_THAT(GetRows("u", {}),
              ElementsAre("a / total 1 0", "a /y total 1 0", "a /y/z total 1 0", "b /x total 1 0"));
  EXPECT_THAT(GetRows("nobody", {}), IsEmpty());
}

TEST_F(CountersTest, ResultsAreOrderedByClassPathPeriod) {
  ASSERT_TRUE(Register({{"b", "/x"}, {"a", "/y"}}).ok());
  ASSERT_TRUE(Increment("u", {Inc("b", "/x"), Inc("a", "/y")}).ok());
  EXPECT_THAT(
      GetRows("u", {Query("regex('.')", "", "regex('.*')")}),
      ElementsAre("a /y 2406 1 0", "a /y 240615 1 0", "a /y last7Days 1 0", "a /y total 1 0",
                  "b /x 2406 1 0", "b /x 240615 1 0", "b /x last7Days 1 0", "b /x total 1 0"));
}

TEST_F(CountersTest, ClassOnlyFilterSelectsEveryPathOfTheClass) {
  ASSERT_TRUE(Register({{"ab", "/x"}, {"abc", "/x"}, {"ab", "/y"}}).ok());
  ASSERT_TRUE(Increment("u", {Inc("ab", "/x"), Inc("abc", "/x"), Inc("ab", "/y")}).ok());
  EXPECT_THAT(GetRows("u", {Query("ab")}), ElementsAre("ab /x total 1 0", "ab /y total 1 0"));
  EXPECT_THAT(GetRows("u", {Query("abc", "/x")}), ElementsAre("abc /x total 1 0"));
  EXPECT_THAT(GetRows("u", {Query("ab", "/z")}), IsEmpty());
}

TEST_F(CountersTest, Last7DaysIncludesTodayAndTheSixPreviousDays) {
  ASSERT_TRUE(Register({{"c", "/a"}}).ok());
  clock_.Set(Utc(2024, 6, 10, 23, 0, 0));
  // Day i (June 10 + i) gets count i+1, so every sum names its days.
  for (int i = 0; i < 8; ++i) {
    if (i > 0) clock_.Advance(absl::Hours(24));
    ASSERT_TRUE(Increment("u", {Inc("c", "/a", absl::nullopt, i + 1)}).ok());
  }
  // Today is June 17: the window is June 11..17 (counts 2..8); June 10 is out.
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "last7Days")}), ElementsAre("c /a last7Days 35 0"));
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "total")}), ElementsAre("c /a total 36 0"));
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "240610")}), ElementsAre("c /a 240610 1 0"));

  clock_.Advance(absl::Hours(1));  // June 18 00:00: June 11 leaves the window
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "last7Days")}), ElementsAre("c /a last7Days 33 0"));
  clock_.Advance(absl::Hours(24 * 6) - absl::Milliseconds(1));  // June 23 23:59:59.999
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "last7Days")}), ElementsAre("c /a last7Days 8 0"));
  clock_.Advance(absl::Milliseconds(1));  // June 24: only empty days in the window
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "last7Days")}), IsEmpty());
  EXPECT_THAT(GetRows("u", {Query("c", "/a", "total")}), ElementsAre("c /a total 36 0"));
}

TEST_F(CountersTest, MonthBoundarySplitsBuckets) {
  clock_.Set(Utc(2024, 1, 31, 23, 59, 59));
  ASSERT_TRUE(Increment("u", {Inc("c", "/", 1)}).ok());
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(Increment("u", {Inc("c", "/", 2)}).ok());
  EXPECT_THAT(GetRows("u", {Query("c", "/", "regex('.*')")}),
              ElementsAre("c / 2401 1 1", "c / 240131 1 1", "c / 2402 1 2", "c / 240201 1 2",
                          "c / last7Days 2 3", "c / total 2 3"));
}

TEST_F(CountersTest, RegexFiltersSelectClassesPathsAndPeriods) {
  ASSERT_TRUE(Register({{"views", "/a"},
                        {"views", "/a/b"},
                        {"views", "/b"},
                        {"clicks", "/a"},
                        {"preview", "/a"}})
                  .ok());
  clock_.Set(Utc(2024, 2, 15, 12, 0, 0));
  // Backfill into December 2023 and January 2024, then today (February).
  for (absl::Time t : {Utc(2023, 12, 20, 8, 0, 0), Utc(2024, 1, 10, 8, 0, 0), clock_.Now()}) {
    ASSERT_TRUE(Increment(Uid("u"),
                          {Inc("views", "/a"), Inc("views", "/a/b"), Inc("views", "/b"),
                           Inc("clicks", "/a"), Inc("preview", "/a")},
                          "", Ms(t))
                    .ok());
  }
  EXPECT_THAT(GetRows("u", {Query("regex('^views$')", "regex('^/a')")}),
              ElementsAre("views /a total 3 0", "views /a/b total 3 0"));
  EXPECT_THAT(GetRows("u", {Query("regex('view')", "/a")}),
              ElementsAre("preview /a total 3 0", "views /a total 3 0"));
  EXPECT_THAT(GetRows("u", {Query("views", "/a", "regex('^24..$')")}),
              ElementsAre("views /a 2401 1 0", "views /a 2402 1 0"));
  EXPECT_THAT(GetRows("u", {Query("views", "/a", "regex('^2312')")}),
              ElementsAre("views /a 2312 1 0", "views /a 231220 1 0"));
  EXPECT_THAT(GetRows("u", {Query("clicks", "", "regex('^(total|last7Days)$')")}),
              ElementsAre("clicks /a last7Days 1 0", "clicks /a total 3 0"));
  EXPECT_THAT(GetRows("u", {Query("regex('^nomatch$')")}), IsEmpty());
}

TEST_F(CountersTest, OverlappingFiltersReturnEachEntryOnce) {
  ASSERT_TRUE(Register({{"c", "/a"}}).ok());
  ASSERT_TRUE(Increment("u", {Inc("c", "/a"), Inc("c", "/")}).ok());
  EXPECT_THAT(
      GetRows("u", {Query("c", "/a"), Query("regex('.*')"), Query("c", "/a", "total"),
                    Query("c", "/a", "last7Days"), Query("c", "", "last7Days")}),
      ElementsAre("c / last7Days 1 0", "c / total 1 0", "c /a last7Days 1 0", "c /a total 1 0"));
}

TEST_F(CountersTest, LastUpdatedIsTheEventTime) {
  const absl::Time event = clock_.Now() - absl::Hours(1) + absl::Milliseconds(123);
  ASSERT_TRUE(Increment(Uid("u"), {Inc("c", "/")}, "", Ms(event)).ok());
  absl::StatusOr<std::vector<CounterValue>> got = Get(Uid("u"), {Query("c", "/", "regex('.*')")});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_THAT(*got, SizeIs(4));
  for (const CounterValue& v : *got) EXPECT_EQ(v.last_updated, event) << v.period;

  clock_.Advance(absl::Minutes(10));
  ASSERT_TRUE(Increment("u", {Inc("c", "/")}).ok());
  got = Get(Uid("u"), {Query("c", "/", "total")});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_THAT(*got, SizeIs(1));
  EXPECT_EQ((*got)[0].last_updated, clock_.Now());
  // A backfill older than the latest update does not move last_updated back.
  ASSERT_TRUE(Increment(Uid("u"), {Inc("c", "/")}, "", Ms(event - absl::Hours(2))).ok());
  got = Get(Uid("u"), {Query("c", "/", "total")});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].last_updated, clock_.Now());
  EXPECT_EQ((*got)[0].count, 3);
}

TEST_F(CountersTest, EventTimeBackfillsAPastDay) {
  const absl::Time three_days_ago = clock_.Now() - absl::Hours(72);
  ASSERT_TRUE(Increment(Uid("u"), {Inc("c", "/", 2)}, "", Ms(three_days_ago)).ok());
  EXPECT_THAT(GetRows("u", {Query("c", "/", "regex('.*')")}),
              ElementsAre("c / 2406 1 2", "c / 240612 1 2", "c / last7Days 1 2", "c / total 1 2"));
}

TEST_F(CountersTest, EventTimeOutsideTheAllowedWindowIsRejected) {
  ExpectError(Increment(Uid("u"), {Inc("c", "/")}, "", Ms(clock_.Now() - absl::Hours(24 * 91))),
              absl::StatusCode::kInvalidArgument, "event_time_ms");
  ExpectError(Increment(Uid("u"), {Inc("c", "/")}, "", Ms(clock_.Now() + absl::Minutes(5)) + 1),
              absl::StatusCode::kInvalidArgument, "event_time_ms");
  EXPECT_TRUE(Increment(Uid("u"), {Inc("c", "/")}, "", Ms(clock_.Now() + absl::Minutes(5))).ok());
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c / total 1 0"));
}

TEST_F(CountersTest, RequestIdMakesRetriesIdempotent) {
  ASSERT_TRUE(Register({{"c", "/a"}}).ok());
  ASSERT_TRUE(Increment(Uid("u"), {Inc("c", "/a", 1.5)}, "req-1").ok());
  clock_.Advance(absl::Hours(1));
  ASSERT_TRUE(Increment(Uid("u"), {Inc("c", "/a", 1.5)}, "req-1").ok());
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c /a total 1 1.5"));
  ExpectError(Increment(Uid("u"), {Inc("c", "/a", 2.5)}, "req-1"),
              absl::StatusCode::kFailedPrecondition, "request_id");
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c /a total 1 1.5"));
  // An id is remembered per user (it lives in the user's partition): for another user it is
  // another request, applied once there too.
  ASSERT_TRUE(Increment(Uid("other"), {Inc("c", "/a", 1.5)}, "req-1").ok());
  ASSERT_TRUE(Increment(Uid("other"), {Inc("c", "/a", 1.5)}, "req-1").ok());
  EXPECT_THAT(GetRows("other", {}), ElementsAre("c /a total 1 1.5"));
  ExpectError(Increment(Uid("other"), {Inc("c", "/a", 2.5)}, "req-1"),
              absl::StatusCode::kFailedPrecondition, "request_id");
  // Another id applies; the same id in another tenant is independent.
  ASSERT_TRUE(Increment(Uid("u"), {Inc("c", "/a", 1.5)}, "req-2").ok());
  ASSERT_TRUE(Increment(Uid("u"), {Inc("c", "/")}, "req-1", absl::nullopt, "other").ok());
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c /a total 2 3"));
}

// Found by a black-box audit: a request that succeeded, retried (its reply was lost) after its
// pair was unregistered, was refused as unregistered although it had been applied.
TEST_F(CountersTest, ARetryAfterItsPairWasUnregisteredGetsTheFirstAnswer) {
  ASSERT_TRUE(Register({{"c", "/a"}, {"c", "/b"}}).ok());
  ASSERT_TRUE(Increment(Uid("u"), {Inc("c", "/b"), Inc("c", "/a", 3)}, "req-1").ok());
  ASSERT_TRUE(Unregister({{"c", "/a"}}).ok());
  EXPECT_TRUE(Increment(Uid("u"), {Inc("c", "/b"), Inc("c", "/a", 3)}, "req-1").ok());
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c /a total 1 3", "c /b total 1 0"));
  // A new request is refused as before, naming the unregistered pair, and writes nothing;
  // another request under the same id is refused for the id.
  ExpectError(Increment(Uid("u"), {Inc("c", "/b"), Inc("c", "/a", 3)}, "req-2"),
              absl::StatusCode::kFailedPrecondition, "counters[1].path");
  ExpectError(Increment(Uid("u"), {Inc("c", "/b"), Inc("c", "/a", 3)}),
              absl::StatusCode::kFailedPrecondition, "counters[1].path");
  ExpectError(Increment(Uid("u"), {Inc("c", "/a", 4)}, "req-1"),
              absl::StatusCode::kFailedPrecondition, "request_id");
  // An error of the request itself after the unregistered pair still names the first one.
  CounterIncrement negative = Inc("c", "/b");
  negative.count = -1;
  ExpectError(Increment(Uid("u"), {Inc("c", "/a"), negative}), absl::StatusCode::kFailedPrecondition,
              "counters[0].path");
  ExpectError(Increment(Uid("u"), {negative, Inc("c", "/a")}), absl::StatusCode::kInvalidArgument,
              "counters[0].count");
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c /a total 1 3", "c /b total 1 0"));
}

TEST_F(CountersTest, InvalidFiltersNameTheirField) {
  ExpectError(Get(Uid("u"), {Query("c"), Query("c", "/", "bogus")}).status(),
              absl::StatusCode::kInvalidArgument, "counters[1].period");
  ExpectError(Get(Uid("u"), {Query("c", "/", "241301")}).status(),
              absl::StatusCode::kInvalidArgument, "counters[0].period");
  absl::Status bad_regex = Get(Uid("u"), {Query("regex('(')")}).status();
  ExpectError(bad_regex, absl::StatusCode::kInvalidArgument, "counters[0].class");
  EXPECT_EQ(ReasonOf(bad_regex), "format");
  ExpectError(Get(Uid("u"), {Query("c", "a/b")}).status(), absl::StatusCode::kInvalidArgument,
              "counters[0].path");
  ExpectError(Get(Uid("u"), {Query("c", "regex('abc")}).status(),
              absl::StatusCode::kInvalidArgument, "counters[0].path");
  ExpectError(Get(Uid("u"), {Query("c", "/", "regex('[')")}).status(),
              absl::StatusCode::kInvalidArgument, "counters[0].period");
  ExpectError(Get(Uid("u"), std::vector<CounterQuery>(101, Query("c"))).status(),
              absl::StatusCode::kInvalidArgument, "counters");
  ExpectError(Get(Uid("u"), {}, "").status(), absl::StatusCode::kInvalidArgument, "tenant");
}

TEST_F(CountersTest, AnswersAreLimitedToTenThousandEntries) {
  // 2500 counters with 4 periods each fill the answer exactly; one more counter overflows it.
  for (int call = 0; call < 25; ++call) {
    std::vector<CounterIncrement> batch;
    for (int i = 0; i < 100; ++i) batch.push_back(Inc(absl::StrCat("c", call * 100 + i), "/"));
    ASSERT_TRUE(Increment("u", batch).ok());
  }
  absl::StatusOr<std::vector<CounterValue>> all = Get(Uid("u"), {Query("", "", "regex('.*')")});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(*all, SizeIs(10000));
  ASSERT_TRUE(Increment("u", {Inc("extra", "/")}).ok());
  ExpectError(Get(Uid("u"), {Query("", "", "regex('.*')")}).status(),
              absl::StatusCode::kInvalidArgument, "counters");
  absl::StatusOr<std::vector<CounterValue>> totals = Get(Uid("u"), {});
  ASSERT_TRUE(totals.ok()) << totals.status();
  EXPECT_THAT(*totals, SizeIs(2501));
}

TEST_F(CountersTest, BucketsOutsideRetentionDisappearButTotalsStay) {
  ASSERT_TRUE(Increment("u", {Inc("c", "/")}).ok());  // June 15 2024
  clock_.Advance(absl::Hours(24 * 89));               // September 12: day 89 of 90
  EXPECT_THAT(GetRows("u", {Query("c", "/", "240615")}), ElementsAre("c / 240615 1 0"));
  clock_.Advance(absl::Hours(24));
  EXPECT_THAT(GetRows("u", {Query("c", "/", "regex('.*')")}),
              ElementsAre("c / 2406 1 0", "c / total 1 0"));
  clock_.Set(Utc(2026, 6, 30, 23, 59, 59));  // June 2024 is the oldest of 25 months
  EXPECT_THAT(GetRows("u", {Query("c", "/", "regex('.*')")}),
              ElementsAre("c / 2406 1 0", "c / total 1 0"));
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(GetRows("u", {Query("c", "/", "regex('.*')")}), ElementsAre("c / total 1 0"));
}

// --- Storage failures
// -------------------------------------------------------------------------------

TEST_F(CountersTest, RegisterWriteFailureIsUnavailableAndLeavesTheRegistryUnchanged) {
  ASSERT_TRUE(Register({{"c", "/old"}}).ok());  // the cache is warm
  failing_->FailNextWrite();
  EXPECT_EQ(Register({{"c", "/new"}}).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failing_->injected(Op::kWrite), 1);
  EXPECT_THAT(Registered(), ElementsAre("c /old"));
  ExpectError(Increment("u", {Inc("c", "/new")}), absl::StatusCode::kFailedPrecondition,
              "counters[0].path");
  ASSERT_TRUE(Register({{"c", "/new"}}).ok());
  EXPECT_TRUE(Increment("u", {Inc("c", "/new")}).ok());
}

TEST_F(CountersTest, RegisterWriteFailureOnAColdCacheLeavesTheRegistryUnchanged) {
  failing_->FailNextWrite();
  EXPECT_EQ(Register({{"c", "/new"}}).code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Registered(), IsEmpty());
  ExpectError(Increment("u", {Inc("c", "/new")}), absl::StatusCode::kFailedPrecondition,
              "counters[0].path");
}

TEST_F(CountersTest, UnregisterWriteFailureKeepsThePair) {
  ASSERT_TRUE(Register({{"c", "/a"}}).ok());
  failing_->FailNextWrite();
  EXPECT_EQ(Unregister({{"c", "/a"}}).code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Registered(), ElementsAre("c /a"));
  EXPECT_TRUE(Increment("u", {Inc("c", "/a")}).ok());
}

TEST_F(CountersTest, SettingsWriteFailureKeepsTheOldDepth) {
  failing_->FailNextWrite();
  EXPECT_EQ(counters_->SetCounterSettings("site", CounterSettings{5}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(counters_->GetCounterSettings("site").value_or(CounterSettings{-1}).max_path_depth, 2);
  ExpectError(Register({{"c", "/1/2/3"}}), absl::StatusCode::kInvalidArgument, "counters[0].path");
}

TEST_F(CountersTest, IncrementWriteFailureIsUnavailableAndCountsNothing) {
  failing_->FailNextWrite();
  EXPECT_EQ(Increment("u", {Inc("c", "/")}).code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(GetRows("u", {}), IsEmpty());
  // With a request id the failed attempt does not use the id up.
  failing_->FailNextWrite();
  EXPECT_EQ(Increment(Uid("u"), {Inc("c", "/")}, "req").code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(Increment(Uid("u"), {Inc("c", "/")}, "req").ok());
  ASSERT_TRUE(Increment(Uid("u"), {Inc("c", "/")}, "req").ok());
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c / total 1 0"));
}

TEST_F(CountersTest, RegistryLoadFailureIsUnavailableNotARefusal) {
  ASSERT_TRUE(Register({{"c", "/a"}}).ok());
  NewCounters();  // cold cache: the next increment loads the registry
  failing_->FailNextScan();
  EXPECT_EQ(Increment("u", {Inc("c", "/a")}).code(), absl::StatusCode::kUnavailable);
  failing_->FailNextGet();  // the settings read of the load
  EXPECT_EQ(Increment("u", {Inc("c", "/a")}).code(), absl::StatusCode::kUnavailable);
  failing_->FailNextScan();
  EXPECT_EQ(counters_->GetRegisteredCounters("site").status().code(),
            absl::StatusCode::kUnavailable);
  // The failed loads cached nothing: the next call loads the real registry.
  EXPECT_TRUE(Increment("u", {Inc("c", "/a")}).ok());
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c /a total 1 0"));
}

TEST_F(CountersTest, RequestLogLookupFailureIsUnavailable) {
  EXPECT_THAT(Registered(), IsEmpty());  // warm the registry cache: the next Get is the log's
  failing_->FailNextGet();
  EXPECT_EQ(Increment(Uid("u"), {Inc("c", "/")}, "req").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(RawEntries(Table::kTotals), 0);
}

TEST_F(CountersTest, ReadFailureIsUnavailableNotAnEmptyAnswer) {
  ASSERT_TRUE(Increment("u", {Inc("c", "/")}).ok());
  failing_->FailNextScan();
  EXPECT_EQ(Get(Uid("u"), {}).status().code(), absl::StatusCode::kUnavailable);
  failing_->FailNextScan();
  EXPECT_EQ(Get(Uid("u"), {Query("c", "/", "240615")}).status().code(),
            absl::StatusCode::kUnavailable);
  failing_->FailNextScan();
  EXPECT_EQ(Get(Uid("u"), {Query("c", "/", "last7Days")}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_THAT(GetRows("u", {}), ElementsAre("c / total 1 0"));
}

// --- Several processes on one shared store ---------------------------------------------------

// Two Counters over one in-memory store that says it is shared: two countd processes on one
// Redis Cluster.
class CountersSharedStoreTest : public ::testing::Test {
 protected:
  struct Process {
    Process(storage::Store* store, const storage::Clock* clock)
        : requests(store, clock), counters(store, clock, &requests, CountersOptions{}) {}
    RequestLog requests;
    Counters counters;
  };

  CountersSharedStoreTest()
      : clock_(Utc(2024, 6, 15, 12, 0, 0)),
        store_(storage::StoreKind::kRedisCluster),
        a_(&store_, &clock_),
        b_(&store_, &clock_) {}

  static absl::Status Increment(Process& p, const std::string& cls, const std::string& path) {
    IncrementCountersArgs args;
    args.tenant = "site";
    args.user = Uid("u");
    args.counters = {Inc(cls, path)};
    return p.counters.IncrementCounters(args);
  }

  static std::vector<std::string> Registered(Process& p) {
    absl::StatusOr<std::vector<CounterPath>> got = p.counters.GetRegisteredCounters("site");
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? Pairs(*got) : std::vector<std::string>{"<error>"};
  }

  test::FakeClock clock_;
  test::InMemoryStore store_;
  Process a_;
  Process b_;
};

TEST_F(CountersSharedStoreTest, ARegistrationIsSeenByTheOtherProcessWithinTheTtl) {
  ExpectError(Increment(b_, "c", "/a"), absl::StatusCode::kFailedPrecondition,
              "counters[0].path");  // b caches the empty registry
  ASSERT_TRUE(a_.counters.RegisterCounters("site", {{"c", "/a"}}).ok());
  EXPECT_TRUE(Increment(a_, "c", "/a").ok());  // read-your-writes
  ExpectError(Increment(b_, "c", "/a"), absl::StatusCode::kFailedPrecondition,
              "counters[0].path");  // within the bound
  clock_.Advance(kDefaultConfigCacheTtl);
  EXPECT_TRUE(Increment(b_, "c", "/a").ok());
  EXPECT_THAT(Registered(b_), ElementsAre("c /a"));

  // Unregistering and settings travel the same way.
  EXPECT_TRUE(Increment(a_, "c", "/a").ok());  // a checks its copy now
  ASSERT_TRUE(b_.counters.UnregisterCounters("site", {{"c", "/a"}}).ok());
  ASSERT_TRUE(b_.counters.SetCounterSettings("site", CounterSettings{4}).ok());
  EXPECT_TRUE(Increment(a_, "c", "/a").ok());
  clock_.Advance(kDefaultConfigCacheTtl);
  ExpectError(Increment(a_, "c", "/a"), absl::StatusCode::kFailedPrecondition, "counters[0].path");
  EXPECT_EQ(a_.counters.GetCounterSettings("site").value_or(CounterSettings{-1}).max_path_depth, 4);
}

TEST_F(CountersSharedStoreTest, ChangesStartFromTheStoredRegistry) {
  ASSERT_TRUE(a_.counters.RegisterCounters("site", {{"c", "/a"}}).ok());
  EXPECT_THAT(Registered(b_), ElementsAre("c /a"));  // b caches {c /a}
  ASSERT_TRUE(a_.counters.SetCounterSettings("site", CounterSettings{1}).ok());
  // b's copy still says depth 2, but the change reads the stored registry: /x/y is too deep.
  ExpectError(b_.counters.RegisterCounters("site", {{"c", "/x/y"}}),
              absl::StatusCode::kInvalidArgument, "counters[0].path");
  ASSERT_TRUE(a_.counters.UnregisterCounters("site", {{"c", "/a"}}).ok());
  ASSERT_TRUE(b_.counters.RegisterCounters("site", {{"c", "/b"}}).ok());
  // b's own write is seen at once, and carries a's unregistration.
  EXPECT_THAT(Registered(b_), ElementsAre("c /b"));
}

TEST_F(CountersSharedStoreTest, ConcurrentRegistrationsFromTwoProcessesAreAllKept) {
  constexpr int kPerThread = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 4; ++t) {
    Process* p = t % 2 == 0 ? &a_ : &b_;
    threads.emplace_back([p, t, &failed] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string path = absl::StrCat("/t", t, "_", i);
        absl::Status s = p->counters.RegisterCounters("site", {{"c", path}});
        // A change that lost every one of its optimistic attempts is ABORTED and wrote
        // nothing; callers retry it (how often that happens is the scheduler's call).
        for (int retry = 0; absl::IsAborted(s) && retry < 1000; ++retry) {
          s = p->counters.RegisterCounters("site", {{"c", path}});
        }
        if (!s.ok()) ++failed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  clock_.Advance(kDefaultConfigCacheTtl);
  EXPECT_THAT(Registered(a_), SizeIs(4 * kPerThread));
  EXPECT_THAT(Registered(b_), SizeIs(4 * kPerThread));
  Process c(&store_, &clock_);
  EXPECT_THAT(Registered(c), SizeIs(4 * kPerThread));
}

}  // namespace
}  // namespace countd::logic
