// End-to-end tests of countd.v1.Counters through the real countd binary: a child process on
// 127.0.0.1:0 with a fresh data directory, generated stubs over a real channel, a deadline on
// every call. Each test uses its own tenant, so tests do not see each other's data.
#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "countd/v1/counters.grpc.pb.h"
#include "countd/v1/gm.grpc.pb.h"
#include "countd/v1/tally.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using Stub = v1::Counters::Stub;
using Code = grpc::StatusCode;

class CountersE2eTest : public ::testing::Test {
 protected:
  // One server per test binary run; ctest runs every case in its own process anyway.
  static void SetUpTestSuite() {
    dir_ = new test::ScopedTempDir();
    test::ServerProcessOptions options;
    options.data_dir = dir_->Sub("data");
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
        test::ServerProcess::Start(options);
    if (!server.ok()) {
      start_error_ = new std::string(server.status().ToString());
      return;
    }
    server_ = server->release();
    channel_ = new std::shared_ptr<grpc::Channel>(NewChannel(server_->grpc_address()));
  }

  static void TearDownTestSuite() {
    delete channel_;
    channel_ = nullptr;
    delete server_;  // kills and reaps countd
    server_ = nullptr;
    delete dir_;
    dir_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    stub_ = v1::Counters::NewStub(*channel_);
    tenant_ =
        absl::StrCat("tenant-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  // On failure, show what the server said and whether it still runs.
  void TearDown() override {
    if (!HasFailure() || server_ == nullptr) return;
    std::optional<test::ExitStatus> exit = server_->WaitForExit(absl::ZeroDuration());
    ADD_FAILURE() << "countd " << (exit.has_value() ? exit->ToString() : "still runs")
                  << "\nstdout:\n"
                  << server_->stdout_text() << "\nstderr:\n"
                  << server_->stderr_text();
  }

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                    const Req& req, Resp* resp) {
    return Rpc(stub_.get(), method, req, resp);
  }

  grpc::Status Register(const std::string& tenant,
                        const std::vector<std::pair<std::string, std::string>>& pairs) {
    v1::RegisterCountersRequest req;
    req.set_tenant(tenant);
    for (const auto& [cls, path] : pairs) {
      v1::CounterPath* p = req.add_counters();
      p->set_class_(cls);
      p->set_path(path);
    }
    v1::RegisterCountersResponse resp;
    return Call(&Stub::RegisterCounters, req, &resp);
  }

  static v1::IncrementCountersRequest IncrementOf(const std::string& tenant,
                                                  const std::string& uid) {
    v1::IncrementCountersRequest req;
    req.set_tenant(tenant);
    req.set_uid(uid);
    return req;
  }

  static void AddIncrement(v1::IncrementCountersRequest* req, const std::string& cls,
                           const std::string& path, int64_t count, double value) {
    v1::CounterIncrement* c = req->add_counters();
    c->set_class_(cls);
    c->set_path(path);
    c->set_count(count);
    c->set_value(value);
  }

  grpc::Status Increment(const v1::IncrementCountersRequest& req) {
    v1::IncrementCountersResponse resp;
    return Call(&Stub::IncrementCounters, req, &resp);
  }

  struct Query {
    std::string cls, path, period;
  };

  // GetCounters for `uid`, each entry summarized as "class path period count=N value=D"; a
  // failed call yields the single entry "RPC failed: <status>" (so it never matches).
  std::vector<std::string> Read(const std::string& tenant, const std::string& uid,
                                const std::vector<Query>& queries) {
    v1::GetCountersResponse resp;
    grpc::Status s = ReadRaw(tenant, uid, queries, &resp);
    if (!s.ok()) return {"RPC failed: " + Describe(s)};
    std::vector<std::string> out;
    for (const v1::CounterValue& v : resp.counters()) {
      out.push_back(absl::StrCat(v.class_(), " ", v.path(), " ", v.period(), " count=", v.count(),
                                 " value=", v.value_decimal()));
    }
    return out;
  }

  grpc::Status ReadRaw(const std::string& tenant, const std::string& uid,
                       const std::vector<Query>& queries, v1::GetCountersResponse* resp) {
    v1::GetCountersRequest req;
    req.set_tenant(tenant);
    req.set_uid(uid);
    for (const Query& q : queries) {
      v1::CounterQuery* cq = req.add_counters();
      cq->set_class_(q.cls);
      cq->set_path(q.path);
      cq->set_period(q.period);
    }
    return Call(&Stub::GetCounters, req, resp);
  }

  grpc::Status StashIncr(const std::string& tenant, const std::string& visitor,
                         const std::string& name, int64_t delta, std::string* key = nullptr) {
    v1::IncrRequest req;
    req.set_tenant(tenant);
    req.set_visitor_id(visitor);
    req.set_counter_name(name);
    if (delta != 0) req.set_delta(delta);
    v1::IncrResponse resp;
    grpc::Status s = Call(&Stub::Incr, req, &resp);
    if (key != nullptr) *key = resp.key();
    return s;
  }

  grpc::Status StashDecr(const std::string& tenant, const std::string& visitor,
                         const std::string& name, int64_t delta, std::string* key = nullptr) {
    v1::DecrRequest req;
    req.set_tenant(tenant);
    req.set_visitor_id(visitor);
    req.set_counter_name(name);
    if (delta != 0) req.set_delta(delta);
    v1::DecrResponse resp;
    grpc::Status s = Call(&Stub::Decr, req, &resp);
    if (key != nullptr) *key = resp.key();
    return s;
  }

  grpc::Status StashGet(const std::string& tenant, const std::string& visitor,
                        const std::string& name, const std::string& date, int64_t* count) {
    v1::GetRequest req;
    req.set_tenant(tenant);
    req.set_visitor_id(visitor);
    req.set_counter_name(name);
    req.set_date(date);
    v1::GetResponse resp;
    grpc::Status s = Call(&Stub::Get, req, &resp);
    *count = resp.count();
    return s;
  }

  grpc::Status StashGetBatch(const std::string& tenant, const std::vector<std::string>& keys,
                             std::map<std::string, int64_t>* counts) {
    v1::GetBatchRequest req;
    req.set_tenant(tenant);
    for (const std::string& k : keys) req.add_keys(k);
    v1::GetBatchResponse resp;
    grpc::Status s = Call(&Stub::GetBatch, req, &resp);
    counts->clear();
    for (const auto& [k, v] : resp.counts()) (*counts)[k] = v;
    return s;
  }

  static test::ScopedTempDir* dir_;
  static test::ServerProcess* server_;
  static std::shared_ptr<grpc::Channel>* channel_;
  static std::string* start_error_;

  std::unique_ptr<Stub> stub_;
  std::string tenant_;
};

test::ScopedTempDir* CountersE2eTest::dir_ = nullptr;
test::ServerProcess* CountersE2eTest::server_ = nullptr;
std::shared_ptr<grpc::Channel>* CountersE2eTest::channel_ = nullptr;
std::string* CountersE2eTest::start_error_ = nullptr;

// Skips the rest of a test whose day-dependent expectations were computed on a different UTC
// day than the server used (the test ran across midnight).
#define SKIP_IF_DAY_CHANGED(day)                           \
  if (TodayUtc() != (day))                                 \
  GTEST_SKIP() << "crossed UTC midnight during the test; " \
                  "day-based expectations no longer hold"

// --- Registry and settings -------------------------------------------------------------------

TEST_F(CountersE2eTest, RegistersListsAndUnregistersCounters) {
  ASSERT_THAT(Register(tenant_, {{"_view", "/a/b"}, {"_buy", "/"}, {"_buy", "/shoes"}}), IsOk());
  // Re-registering is a no-op success.
  ASSERT_THAT(Register(tenant_, {{"_buy", "/shoes"}}), IsOk());

  v1::GetRegisteredCountersRequest list;
  list.set_tenant(tenant_);
  v1::GetRegisteredCountersResponse listed;
  ASSERT_THAT(Call(&Stub::GetRegisteredCounters, list, &listed), IsOk());
  std::vector<std::string> pairs;
  for (const v1::CounterPath& p : listed.counters()) pairs.push_back(p.class_() + " " + p.path());
  EXPECT_THAT(pairs, ElementsAre("_buy /", "_buy /shoes", "_view /a/b"));

  // Data written while registered stays readable after unregistering.
  v1::IncrementCountersRequest inc = IncrementOf(tenant_, "u1");
  AddIncrement(&inc, "_buy", "/shoes", 4, 0);
  ASSERT_THAT(Increment(inc), IsOk());

  v1::UnregisterCountersRequest unreg;
  unreg.set_tenant(tenant_);
  v1::CounterPath* p = unreg.add_counters();
  p->set_class_("_buy");
  p->set_path("/shoes");
  p = unreg.add_counters();  // never registered: a no-op
  p->set_class_("_never");
  p->set_path("/x");
  v1::UnregisterCountersResponse unreg_resp;
  ASSERT_THAT(Call(&Stub::UnregisterCounters, unreg, &unreg_resp), IsOk());

  ASSERT_THAT(Call(&Stub::GetRegisteredCounters, list, &listed), IsOk());
  pairs.clear();
  for (const v1::CounterPath& c : listed.counters()) pairs.push_back(c.class_() + " " + c.path());
  EXPECT_THAT(pairs, ElementsAre("_buy /", "_view /a/b"));

  EXPECT_THAT(Increment(inc), IsError(Code::FAILED_PRECONDITION, "counters[0].path"));
  EXPECT_THAT(Read(tenant_, "u1", {{"_buy", "/shoes", "total"}}),
              ElementsAre("_buy /shoes total count=4 value=0"));
}

TEST_F(CountersE2eTest, CounterSettingsLimitRegistrationDepth) {
  v1::GetCounterSettingsRequest get;
  get.set_tenant(tenant_);
  v1::GetCounterSettingsResponse got;
  ASSERT_THAT(Call(&Stub::GetCounterSettings, get, &got), IsOk());
  EXPECT_EQ(got.settings().max_path_depth(), 2);

  EXPECT_THAT(Register(tenant_, {{"_c", "/a/b/c"}}),
              IsError(Code::INVALID_ARGUMENT, "counters[0].path"));

  v1::SetCounterSettingsRequest set;
  set.set_tenant(tenant_);
  set.mutable_settings()->set_max_path_depth(3);
  v1::SetCounterSettingsResponse set_resp;
  ASSERT_THAT(Call(&Stub::SetCounterSettings, set, &set_resp), IsOk());
  EXPECT_EQ(set_resp.settings().max_path_depth(), 3);
  ASSERT_THAT(Call(&Stub::GetCounterSettings, get, &got), IsOk());
  EXPECT_EQ(got.settings().max_path_depth(), 3);
  EXPECT_THAT(Register(tenant_, {{"_c", "/a/b/c"}}), IsOk());
  EXPECT_THAT(Register(tenant_, {{"_c", "/a/b/c/d"}}),
              IsError(Code::INVALID_ARGUMENT, "counters[0].path"));

  for (int bad : {0, 9, -1}) {
    set.mutable_settings()->set_max_path_depth(bad);
    EXPECT_THAT(Call(&Stub::SetCounterSettings, set, &set_resp),
                IsError(Code::INVALID_ARGUMENT, "settings.max_path_depth"))
        << "max_path_depth " << bad;
  }
  ASSERT_THAT(Call(&Stub::GetCounterSettings, get, &got), IsOk());
  EXPECT_EQ(got.settings().max_path_depth(), 3);
}

// --- Increment and read ----------------------------------------------------------------------

TEST_F(CountersE2eTest, IncrementUpdatesTotalMonthDayAndLast7Days) {
  const absl::CivilDay today = TodayUtc();
  const DayNames now = NamesOf(today);
  const DayNames three_ago = NamesOf(today - 3);
  const DayNames ten_ago = NamesOf(today - 10);
  const int64_t noon_ms = absl::ToUnixMillis(absl::FromCivil(today, absl::UTCTimeZone())) +
                          12 * 3600 * 1000;  // a time inside a past day, never in the future
  ASSERT_THAT(Register(tenant_, {{"_buy", "/shoes"}}), IsOk());

  // Backfill into 10 and 3 days ago, then today's increment.
  v1::IncrementCountersRequest old = IncrementOf(tenant_, "u1");
  AddIncrement(&old, "_buy", "/shoes", 7, 0.5);
  old.set_event_time_ms(noon_ms - int64_t{10} * 86400 * 1000);
  ASSERT_THAT(Increment(old), IsOk());
  v1::IncrementCountersRequest recent = IncrementOf(tenant_, "u1");
  AddIncrement(&recent, "_buy", "/shoes", 5, 0.25);
  recent.set_event_time_ms(noon_ms - int64_t{3} * 86400 * 1000);
  ASSERT_THAT(Increment(recent), IsOk());
  const absl::Time before = absl::Now();
  v1::IncrementCountersRequest inc = IncrementOf(tenant_, "u1");
  AddIncrement(&inc, "_buy", "/shoes", 2, 1.5);
  v1::CounterIncrement* root = inc.add_counters();  // "/" needs no registration; defaults apply
  root->set_class_("_buy");
  root->set_path("/");
  ASSERT_THAT(Increment(inc), IsOk());
  const absl::Time after = absl::Now();

  v1::GetCountersResponse resp;
  ASSERT_THAT(ReadRaw(tenant_, "u1",
                      {{"_buy", "/shoes", "total"},
                       {"_buy", "/shoes", now.yymm},
                       {"_buy", "/shoes", now.yymmdd},
                       {"_buy", "/shoes", three_ago.yymmdd},
                       {"_buy", "/shoes", ten_ago.yymmdd},
                       {"_buy", "/shoes", "last7Days"},
                       {"_buy", "/", "total"}},
                      &resp),
              IsOk());
  SKIP_IF_DAY_CHANGED(today);

  // Expected month sum: only the increments that fall in the current month.
  int64_t month_count = 2;
  int64_t month_micros = 1500000;
  if (absl::CivilMonth(today - 3) == absl::CivilMonth(today)) {
    month_count += 5;
    month_micros += 250000;
  }
  if (absl::CivilMonth(today - 10) == absl::CivilMonth(today)) {
    month_count += 7;
    month_micros += 500000;
  }
  const std::string month_value = absl::StrCat(static_cast<double>(month_micros) / 1e6);

  std::vector<std::string> got;
  for (const v1::CounterValue& v : resp.counters()) {
    got.push_back(absl::StrCat(v.class_(), " ", v.path(), " ", v.period(), " count=", v.count(),
                               " value=", v.value_decimal()));
  }
  // Ordered by class, path, then period name.
  std::vector<std::string> want = {
      "_buy / total count=1 value=0",
      absl::StrCat("_buy /shoes ", ten_ago.yymmdd, " count=7 value=0.5"),
      absl::StrCat("_buy /shoes ", three_ago.yymmdd, " count=5 value=0.25"),
      absl::StrCat("_buy /shoes ", now.yymm, " count=", month_count, " value=", month_value),
      absl::StrCat("_buy /shoes ", now.yymmdd, " count=2 value=1.5"),
      "_buy /shoes last7Days count=7 value=1.75",
      "_buy /shoes total count=14 value=2.25",
  };
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);

  // Today's increment is the latest one: it sets last_updated of the total.
  for (const v1::CounterValue& v : resp.counters()) {
    if (v.path() != "/shoes" || v.period() != "total") continue;
    absl::Time updated = absl::FromUnixSeconds(v.last_updated().seconds()) +
                         absl::Nanoseconds(v.last_updated().nanos());
    EXPECT_GE(updated, absl::FromUnixMillis(absl::ToUnixMillis(before)));
    EXPECT_LE(updated, after);
    EXPECT_DOUBLE_EQ(v.value(), 2.25);
  }

  // No filter: every counter of the user, period total.
  EXPECT_THAT(Read(tenant_, "u1", {}),
              ElementsAre("_buy / total count=1 value=0", "_buy /shoes total count=14 value=2.25"));
  // A user without data gets an empty list.
  EXPECT_THAT(Read(tenant_, "nobody", {}), IsEmpty());
}

TEST_F(CountersE2eTest, GetCountersFiltersByRegex) {
  const absl::CivilDay today = TodayUtc();
  const DayNames now = NamesOf(today);
  ASSERT_THAT(
      Register(
          tenant_,
          {{"_buy", "/shoes"}, {"_buy", "/shoes/red"}, {"_buy", "/hats"}, {"_view", "/shoes"}}),
      IsOk());
  v1::IncrementCountersRequest inc = IncrementOf(tenant_, "u1");
  AddIncrement(&inc, "_buy", "/shoes", 1, 0);
  AddIncrement(&inc, "_buy", "/shoes/red", 2, 0);
  AddIncrement(&inc, "_buy", "/hats", 3, 0);
  AddIncrement(&inc, "_view", "/shoes", 4, 0);
  ASSERT_THAT(Increment(inc), IsOk());

  EXPECT_THAT(Read(tenant_, "u1", {{"regex('^_b')", "", ""}}),
              ElementsAre("_buy /hats total count=3 value=0", "_buy /shoes total count=1 value=0",
                          "_buy /shoes/red total count=2 value=0"));
  EXPECT_THAT(
      Read(tenant_, "u1", {{"", "regex('^/shoes')", ""}}),
      ElementsAre("_buy /shoes total count=1 value=0", "_buy /shoes/red total count=2 value=0",
                  "_view /shoes total count=4 value=0"));
  EXPECT_THAT(Read(tenant_, "u1", {{"_buy", "regex('red$')", ""}}),
              ElementsAre("_buy /shoes/red total count=2 value=0"));
  // Period regexes select among total, YYMM, YYMMDD and last7Days.
  auto days = Read(tenant_, "u1", {{"_view", "/shoes", "regex('^[0-9]{6}$')"}});
  auto months = Read(tenant_, "u1", {{"_view", "/shoes", "regex('^[0-9]{4}$')"}});
  auto named = Read(tenant_, "u1", {{"_view", "/shoes", "regex('^(total|last7Days)$')"}});
  SKIP_IF_DAY_CHANGED(today);
  EXPECT_THAT(days, ElementsAre(absl::StrCat("_view /shoes ", now.yymmdd, " count=4 value=0")));
  EXPECT_THAT(months, ElementsAre(absl::StrCat("_view /shoes ", now.yymm, " count=4 value=0")));
  EXPECT_THAT(named, ElementsAre("_view /shoes last7Days count=4 value=0",
                                 "_view /shoes total count=4 value=0"));

  v1::GetCountersResponse resp;
  EXPECT_THAT(ReadRaw(tenant_, "u1", {{"regex('(')", "", ""}}, &resp),
              IsError(Code::INVALID_ARGUMENT, "counters[0].class"));
  EXPECT_THAT(ReadRaw(tenant_, "u1", {{"_buy", "regex('[')", ""}}, &resp),
              IsError(Code::INVALID_ARGUMENT, "counters[0].path"));
  EXPECT_THAT(ReadRaw(tenant_, "u1", {{"_buy", "", "total"}, {"_buy", "", "weekly"}}, &resp),
              IsError(Code::INVALID_ARGUMENT, "counters[1].period"));
}

TEST_F(CountersE2eTest, ValuesAreSummedExactly) {
  for (int i = 0; i < 10; ++i) {
    v1::IncrementCountersRequest inc = IncrementOf(tenant_, "u1");
    AddIncrement(&inc, "_pay", "/", 1, 0.1);
    ASSERT_THAT(Increment(inc), IsOk()) << "increment " << i;
  }
  v1::GetCountersResponse resp;
  ASSERT_THAT(ReadRaw(tenant_, "u1", {{"_pay", "/", "total"}}, &resp), IsOk());
  ASSERT_EQ(resp.counters_size(), 1);
  EXPECT_EQ(resp.counters(0).count(), 10);
  EXPECT_EQ(resp.counters(0).value_decimal(), "1");
  EXPECT_EQ(resp.counters(0).value(), 1.0);  // exactly, not 0.9999999999999999

  // Rounded to 6 fractional digits, negative values allowed.
  v1::IncrementCountersRequest inc = IncrementOf(tenant_, "u1");
  AddIncrement(&inc, "_pay", "/", 0, -0.0000004);  // rounds to 0
  AddIncrement(&inc, "_pay2", "/", 0, 12.3456789);
  ASSERT_THAT(Increment(inc), IsOk());
  EXPECT_THAT(Read(tenant_, "u1", {}), ElementsAre("_pay / total count=10 value=1",
                                                   "_pay2 / total count=0 value=12.345679"));
}

TEST_F(CountersE2eTest, UidAndRegTokenAreSeparateUsers) {
  v1::IncrementCountersRequest by_uid = IncrementOf(tenant_, "same");
  AddIncrement(&by_uid, "_c", "/", 3, 0);
  ASSERT_THAT(Increment(by_uid), IsOk());
  v1::IncrementCountersRequest by_token;
  by_token.set_tenant(tenant_);
  by_token.set_reg_token("same");
  AddIncrement(&by_token, "_c", "/", 5, 0);
  ASSERT_THAT(Increment(by_token), IsOk());

  v1::GetCountersRequest req;
  req.set_tenant(tenant_);
  req.set_reg_token("same");
  v1::GetCountersResponse resp;
  ASSERT_THAT(Call(&Stub::GetCounters, req, &resp), IsOk());
  ASSERT_EQ(resp.counters_size(), 1);
  EXPECT_EQ(resp.counters(0).count(), 5);
  EXPECT_THAT(Read(tenant_, "same", {}), ElementsAre("_c / total count=3 value=0"));
}

TEST_F(CountersE2eTest, IncrementIsAllOrNothing) {
  ASSERT_THAT(Register(tenant_, {{"_buy", "/ok"}}), IsOk());

  // The second counter's path is not registered: nothing of the call is applied.
  v1::IncrementCountersRequest inc = IncrementOf(tenant_, "u1");
  AddIncrement(&inc, "_buy", "/ok", 1, 1);
  AddIncrement(&inc, "_buy", "/", 1, 1);
  AddIncrement(&inc, "_buy", "/missing", 1, 1);
  EXPECT_THAT(Increment(inc), IsError(Code::FAILED_PRECONDITION, "counters[2].path"));

  // A bad field late in the list also rejects the whole call.
  v1::IncrementCountersRequest bad = IncrementOf(tenant_, "u1");
  AddIncrement(&bad, "_buy", "/ok", 1, 1);
  AddIncrement(&bad, "_buy", "/", -1, 1);
  EXPECT_THAT(Increment(bad), IsError(Code::INVALID_ARGUMENT, "counters[1].count"));

  EXPECT_THAT(Read(tenant_, "u1", {}), IsEmpty());
  EXPECT_THAT(Read(tenant_, "u1", {{"", "", "regex('.')"}}), IsEmpty());

  // The same call without the unregistered counter applies fully.
  v1::IncrementCountersRequest good = IncrementOf(tenant_, "u1");
  AddIncrement(&good, "_buy", "/ok", 1, 1);
  AddIncrement(&good, "_buy", "/", 1, 1);
  ASSERT_THAT(Increment(good), IsOk());
  EXPECT_THAT(Read(tenant_, "u1", {}),
              ElementsAre("_buy / total count=1 value=1", "_buy /ok total count=1 value=1"));
}

TEST_F(CountersE2eTest, RepeatedRequestIdIsAppliedOnce) {
  v1::IncrementCountersRequest inc = IncrementOf(tenant_, "u1");
  AddIncrement(&inc, "_c", "/", 2, 0.5);
  inc.set_request_id("req-1");
  ASSERT_THAT(Increment(inc), IsOk());
  ASSERT_THAT(Increment(inc), IsOk());  // retry: answered as the first time
  EXPECT_THAT(Read(tenant_, "u1", {}), ElementsAre("_c / total count=2 value=0.5"));

  // The same id for a different request is refused and changes nothing.
  v1::IncrementCountersRequest other = IncrementOf(tenant_, "u1");
  AddIncrement(&other, "_c", "/", 3, 0.5);
  other.set_request_id("req-1");
  EXPECT_THAT(Increment(other), IsError(Code::FAILED_PRECONDITION, "request_id"));
  EXPECT_THAT(Read(tenant_, "u1", {}), ElementsAre("_c / total count=2 value=0.5"));

  // A new id is a new request.
  inc.set_request_id("req-2");
  ASSERT_THAT(Increment(inc), IsOk());
  EXPECT_THAT(Read(tenant_, "u1", {}), ElementsAre("_c / total count=4 value=1"));
}

// --- Stash -----------------------------------------------------------------------------------

TEST_F(CountersE2eTest, StashIncrDecrAndGetTodaysBucket) {
  const absl::CivilDay today = TodayUtc();
  const DayNames now = NamesOf(today);
  std::string key;
  ASSERT_THAT(StashIncr(tenant_, "v1", "clicks", 0, &key), IsOk());
  SKIP_IF_DAY_CHANGED(today);
  EXPECT_EQ(key, absl::StrCat(tenant_, ":clicks:", now.iso));
  ASSERT_THAT(StashIncr(tenant_, "v1", "clicks", 5), IsOk());
  int64_t count = 0;
  ASSERT_THAT(StashGet(tenant_, "v1", "clicks", now.iso, &count), IsOk());
  EXPECT_EQ(count, 6);

  // Counts may go below zero.
  ASSERT_THAT(StashDecr(tenant_, "v1", "clicks", 10, &key), IsOk());
  EXPECT_EQ(key, absl::StrCat(tenant_, ":clicks:", now.iso));
  ASSERT_THAT(StashDecr(tenant_, "v1", "clicks", 0), IsOk());  // default delta 1
  ASSERT_THAT(StashGet(tenant_, "v1", "clicks", now.iso, &count), IsOk());
  SKIP_IF_DAY_CHANGED(today);
  EXPECT_EQ(count, -5);

  // A Decr of a fresh bucket starts from 0.
  ASSERT_THAT(StashDecr(tenant_, "v2", "clicks", 3), IsOk());
  ASSERT_THAT(StashGet(tenant_, "v2", "clicks", now.iso, &count), IsOk());
  SKIP_IF_DAY_CHANGED(today);
  EXPECT_EQ(count, -3);
}

TEST_F(CountersE2eTest, StashGetOfMissingBucketIsNotFound) {
  const DayNames now = NamesOf(TodayUtc());
  int64_t count = 0;
  EXPECT_THAT(StashGet(tenant_, "nobody", "clicks", now.iso, &count),
              IsError(Code::NOT_FOUND, "date"));
  ASSERT_THAT(StashIncr(tenant_, "v1", "clicks", 0), IsOk());
  EXPECT_THAT(StashGet(tenant_, "v1", "clicks", "2001-01-01", &count),
              IsError(Code::NOT_FOUND, "date"));
  EXPECT_THAT(StashGet(tenant_, "v1", "other", now.iso, &count), IsError(Code::NOT_FOUND, ""));
}

TEST_F(CountersE2eTest, StashGetBatchReturnsExistingKeysAsSent) {
  const absl::CivilDay today = TodayUtc();
  const DayNames now = NamesOf(today);
  ASSERT_THAT(StashIncr(tenant_, "v1", "clicks", 2), IsOk());
  ASSERT_THAT(StashDecr(tenant_, "v2", "views", 4), IsOk());

  const std::string k1 = absl::StrCat("v1:clicks:", now.iso);
  const std::string k2 = absl::StrCat("v2:views:", now.iso);
  const std::string missing_day = "v1:clicks:2001-01-01";
  const std::string missing_name = absl::StrCat("v1:nothing:", now.iso);
  std::map<std::string, int64_t> counts;
  ASSERT_THAT(StashGetBatch(tenant_, {k1, missing_day, k2, missing_name}, &counts), IsOk());
  SKIP_IF_DAY_CHANGED(today);
  EXPECT_THAT(counts, UnorderedElementsAre(Pair(k1, 2), Pair(k2, -4)));

  std::vector<std::string> ten(10, k1);
  ASSERT_THAT(StashGetBatch(tenant_, ten, &counts), IsOk());
  EXPECT_THAT(counts, ElementsAre(Pair(k1, 2)));
  std::vector<std::string> eleven(11, k1);
  EXPECT_THAT(StashGetBatch(tenant_, eleven, &counts), IsError(Code::INVALID_ARGUMENT, "keys"));
  EXPECT_THAT(StashGetBatch(tenant_, {}, &counts), IsError(Code::INVALID_ARGUMENT, "keys"));
  EXPECT_THAT(StashGetBatch(tenant_, {k1, "no-colons"}, &counts),
              IsError(Code::INVALID_ARGUMENT, "keys[1]"));
  EXPECT_THAT(StashGetBatch(tenant_, {"v1:clicks:2024-02-30"}, &counts),
              IsError(Code::INVALID_ARGUMENT, "keys[0]"));
}

// --- Tenants ---------------------------------------------------------------------------------

TEST_F(CountersE2eTest, TenantsSeeNothingOfEachOther) {
  const std::string a = tenant_ + "-a";
  const std::string b = tenant_ + "-b";
  const DayNames now = NamesOf(TodayUtc());
  ASSERT_THAT(Register(a, {{"_buy", "/shoes"}}), IsOk());
  v1::SetCounterSettingsRequest set;
  set.set_tenant(a);
  set.mutable_settings()->set_max_path_depth(5);
  v1::SetCounterSettingsResponse set_resp;
  ASSERT_THAT(Call(&Stub::SetCounterSettings, set, &set_resp), IsOk());
  v1::IncrementCountersRequest inc = IncrementOf(a, "u1");
  AddIncrement(&inc, "_buy", "/shoes", 1, 0);
  ASSERT_THAT(Increment(inc), IsOk());
  ASSERT_THAT(StashIncr(a, "v1", "clicks", 0), IsOk());

  v1::GetRegisteredCountersRequest list;
  list.set_tenant(b);
  v1::GetRegisteredCountersResponse listed;
  ASSERT_THAT(Call(&Stub::GetRegisteredCounters, list, &listed), IsOk());
  EXPECT_EQ(listed.counters_size(), 0);
  v1::GetCounterSettingsRequest get;
  get.set_tenant(b);
  v1::GetCounterSettingsResponse got;
  ASSERT_THAT(Call(&Stub::GetCounterSettings, get, &got), IsOk());
  EXPECT_EQ(got.settings().max_path_depth(), 2);
  EXPECT_THAT(Read(b, "u1", {}), IsEmpty());
  v1::IncrementCountersRequest inc_b = IncrementOf(b, "u1");
  AddIncrement(&inc_b, "_buy", "/shoes", 1, 0);
  EXPECT_THAT(Increment(inc_b), IsError(Code::FAILED_PRECONDITION, "counters[0].path"));
  int64_t count = 0;
  EXPECT_THAT(StashGet(b, "v1", "clicks", now.iso, &count), IsError(Code::NOT_FOUND, "date"));
  std::map<std::string, int64_t> counts;
  ASSERT_THAT(StashGetBatch(b, {absl::StrCat("v1:clicks:", now.iso)}, &counts), IsOk());
  EXPECT_THAT(counts, IsEmpty());

  // And A still sees its own data.
  EXPECT_THAT(Read(a, "u1", {}), ElementsAre("_buy /shoes total count=1 value=0"));
}

// --- Errors ----------------------------------------------------------------------------------

TEST_F(CountersE2eTest, BadSignalsRequestsNameTheField) {
  EXPECT_THAT(Register("", {{"_c", "/"}}), IsError(Code::INVALID_ARGUMENT, "tenant"));
  EXPECT_THAT(Register(std::string(257, 't'), {{"_c", "/"}}),
              IsError(Code::INVALID_ARGUMENT, "tenant"));
  EXPECT_THAT(Register("bad\x01tenant", {{"_c", "/"}}), IsError(Code::INVALID_ARGUMENT, "tenant"));
  EXPECT_THAT(Register(tenant_, {}), IsError(Code::INVALID_ARGUMENT, "counters"));
  EXPECT_THAT(Register(tenant_, {{"_c", "/a/"}}),
              IsError(Code::INVALID_ARGUMENT, "counters[0].path"));
  EXPECT_THAT(Register(tenant_, {{"_c", "/ok"}, {"_c", "no-slash"}}),
              IsError(Code::INVALID_ARGUMENT, "counters[1].path"));
  EXPECT_THAT(Register(tenant_, {{"_c", "/a b"}}),
              IsError(Code::INVALID_ARGUMENT, "counters[0].path"));
  EXPECT_THAT(Register(tenant_, {{"", "/a"}}),
              IsError(Code::INVALID_ARGUMENT, "counters[0].class"));

  v1::IncrementCountersRequest no_user;
  no_user.set_tenant(tenant_);
  AddIncrement(&no_user, "_c", "/", 1, 0);
  EXPECT_THAT(Increment(no_user), IsError(Code::INVALID_ARGUMENT, "uid"));
  v1::IncrementCountersRequest empty_token;
  empty_token.set_tenant(tenant_);
  empty_token.set_reg_token("");
  AddIncrement(&empty_token, "_c", "/", 1, 0);
  EXPECT_THAT(Increment(empty_token), IsError(Code::INVALID_ARGUMENT, "reg_token"));
  v1::IncrementCountersRequest no_counters = IncrementOf(tenant_, "u1");
  EXPECT_THAT(Increment(no_counters), IsError(Code::INVALID_ARGUMENT, "counters"));
  v1::IncrementCountersRequest too_many = IncrementOf(tenant_, "u1");
  for (int i = 0; i < 101; ++i) AddIncrement(&too_many, "_c", "/", 1, 0);
  EXPECT_THAT(Increment(too_many), IsError(Code::INVALID_ARGUMENT, "counters"));
  v1::IncrementCountersRequest nan = IncrementOf(tenant_, "u1");
  AddIncrement(&nan, "_c", "/", 1, std::numeric_limits<double>::quiet_NaN());
  EXPECT_THAT(Increment(nan), IsError(Code::INVALID_ARGUMENT, "counters[0].value"));
  v1::IncrementCountersRequest huge = IncrementOf(tenant_, "u1");
  AddIncrement(&huge, "_c", "/", 1, 2e15);
  EXPECT_THAT(Increment(huge), IsError(Code::INVALID_ARGUMENT, "counters[0].value"));
  v1::IncrementCountersRequest future = IncrementOf(tenant_, "u1");
  AddIncrement(&future, "_c", "/", 1, 0);
  future.set_event_time_ms(absl::ToUnixMillis(absl::Now() + absl::Hours(1)));
  EXPECT_THAT(Increment(future), IsError(Code::INVALID_ARGUMENT, "event_time_ms"));
  v1::IncrementCountersRequest ancient = IncrementOf(tenant_, "u1");
  AddIncrement(&ancient, "_c", "/", 1, 0);
  ancient.set_event_time_ms(absl::ToUnixMillis(absl::Now() - absl::Hours(24 * 365)));
  EXPECT_THAT(Increment(ancient), IsError(Code::INVALID_ARGUMENT, "event_time_ms"));
  v1::IncrementCountersRequest bad_id = IncrementOf(tenant_, "u1");
  AddIncrement(&bad_id, "_c", "/", 1, 0);
  bad_id.set_request_id(std::string(300, 'r'));
  EXPECT_THAT(Increment(bad_id), IsError(Code::INVALID_ARGUMENT, "request_id"));

  v1::GetCountersRequest read;
  read.set_tenant(tenant_);
  v1::GetCountersResponse resp;
  EXPECT_THAT(Call(&Stub::GetCounters, read, &resp), IsError(Code::INVALID_ARGUMENT, "uid"));

  // Nothing of the failed calls was written.
  EXPECT_THAT(Read(tenant_, "u1", {}), IsEmpty());
  v1::GetRegisteredCountersRequest list;
  list.set_tenant(tenant_);
  v1::GetRegisteredCountersResponse listed;
  ASSERT_THAT(Call(&Stub::GetRegisteredCounters, list, &listed), IsOk());
  EXPECT_EQ(listed.counters_size(), 0);
}

TEST_F(CountersE2eTest, BadStashRequestsNameTheField) {
  const DayNames now = NamesOf(TodayUtc());
  EXPECT_THAT(StashIncr("", "v1", "c", 0), IsError(Code::INVALID_ARGUMENT, "tenant"));
  EXPECT_THAT(StashIncr(tenant_, "v:1", "c", 0), IsError(Code::INVALID_ARGUMENT, "visitor_id"));
  EXPECT_THAT(StashIncr(tenant_, "", "c", 0), IsError(Code::INVALID_ARGUMENT, "visitor_id"));
  EXPECT_THAT(StashIncr(tenant_, "v1", "a/b", 0), IsError(Code::INVALID_ARGUMENT, "counter_name"));
  EXPECT_THAT(StashDecr(tenant_, "v1", "", 0), IsError(Code::INVALID_ARGUMENT, "counter_name"));
  EXPECT_THAT(StashIncr(tenant_, "v1", "c", -2), IsError(Code::INVALID_ARGUMENT, "delta"));
  EXPECT_THAT(StashDecr(tenant_, "v1", "c", -1), IsError(Code::INVALID_ARGUMENT, "delta"));

  v1::IncrRequest future;
  future.set_tenant(tenant_);
  future.set_visitor_id("v1");
  future.set_counter_name("c");
  future.set_event_time_ms(absl::ToUnixMillis(absl::Now() + absl::Hours(1)));
  v1::IncrResponse incr_resp;
  EXPECT_THAT(Call(&Stub::Incr, future, &incr_resp),
              IsError(Code::INVALID_ARGUMENT, "event_time_ms"));
  v1::IncrRequest zero;
  zero.set_tenant(tenant_);
  zero.set_visitor_id("v1");
  zero.set_counter_name("c");
  zero.set_delta(0);  // explicitly 0 is not the default 1
  EXPECT_THAT(Call(&Stub::Incr, zero, &incr_resp), IsError(Code::INVALID_ARGUMENT, "delta"));

  int64_t count = 0;
  EXPECT_THAT(StashGet(tenant_, "v1", "c", "", &count), IsError(Code::INVALID_ARGUMENT, "date"));
  EXPECT_THAT(StashGet(tenant_, "v1", "c", "2024-13-01", &count),
              IsError(Code::INVALID_ARGUMENT, "date"));
  EXPECT_THAT(StashGet(tenant_, "v1", "c", "240101", &count),
              IsError(Code::INVALID_ARGUMENT, "date"));
  EXPECT_THAT(StashGet(tenant_, "v~1", "c:x", now.iso, &count),
              IsError(Code::INVALID_ARGUMENT, "counter_name"));

  // None of the refused writes created a bucket.
  EXPECT_THAT(StashGet(tenant_, "v1", "c", now.iso, &count), IsError(Code::NOT_FOUND, "date"));
}

// --- Other services on the same port ---------------------------------------------------------

// Tally and GameMechanics share the port and the process with Counters; their own e2e tests
// cover them. (Each had a "...IsRegisteredButUnimplemented" test here until it was built.)
TEST_F(CountersE2eTest, OtherServicesAnswerOnTheSamePort) {
  std::unique_ptr<v1::Tally::Stub> tally = v1::Tally::NewStub(*channel_);
  v1::TallyIncrementRequest inc;
  inc.set_tenant(tenant_);
  inc.set_op(v1::OP_ECOUNT);
  inc.set_counter("c");
  inc.set_countable("x");
  inc.set_window_minutes(5);
  inc.set_delta(3);
  v1::TallyIncrementResponse inc_resp;
  ASSERT_THAT(Rpc(tally.get(), &v1::Tally::Stub::Increment, inc, &inc_resp), IsOk());
  v1::GetCountRequest get;
  get.set_tenant(tenant_);
  get.set_counter("c");
  get.set_countable("x");
  v1::GetCountResponse got;
  ASSERT_THAT(Rpc(tally.get(), &v1::Tally::Stub::GetCount, get, &got), IsOk());
  EXPECT_EQ(got.count(), 3);

  std::unique_ptr<v1::GameMechanics::Stub> gm = v1::GameMechanics::NewStub(*channel_);
  v1::GetActionConfigRequest actions;
  actions.set_tenant(tenant_);
  v1::GetActionConfigResponse actions_resp;
  EXPECT_THAT(Rpc(gm.get(), &v1::GameMechanics::Stub::GetActionConfig, actions, &actions_resp),
              IsOk());
}

TEST_F(CountersE2eTest, HealthCheckIsServing) {
  // grpc.health.v1.HealthCheckRequest{service: ""} encodes to no bytes. The Debian packages ship
  // no generated health stubs, so the response is decoded by hand: field 1 (status) varint.
  absl::StatusOr<std::string> resp =
      RawUnaryCall(*channel_, "/grpc.health.v1.Health/Check", std::string());
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(*resp, std::string("\x08\x01", 2)) << "want status SERVING (1)";

  // An unknown service name is NOT_FOUND: the check really looks at the name.
  std::string unknown = "\x0a\x07nothing";  // field 1 (service), length 7
  absl::StatusOr<std::string> missing =
      RawUnaryCall(*channel_, "/grpc.health.v1.Health/Check", unknown);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();

  // Each countd service by its full name, as grpc_health_probe -service=... asks.
  for (const std::string name :
       {"countd.v1.Counters", "countd.v1.Tally", "countd.v1.GameMechanics", "countd.v1.Admin"}) {
    const std::string req = std::string("\x0a", 1) + static_cast<char>(name.size()) + name;
    absl::StatusOr<std::string> one = RawUnaryCall(*channel_, "/grpc.health.v1.Health/Check", req);
    ASSERT_TRUE(one.ok()) << name << ": " << one.status();
    EXPECT_EQ(*one, std::string("\x08\x01", 2)) << name << ": want SERVING (1)";
  }
}

// A request that does not parse is countd's INVALID_ARGUMENT naming the message type, not
// gRPC's INTERNAL: a string field that is not UTF-8 (as a JavaScript client sends a lone
// surrogate), truncated bytes, or bytes of no message. Nothing is written.
TEST_F(CountersE2eTest, UnparseableRequestsAreInvalidArgument) {
  v1::IncrRequest incr;
  incr.set_tenant("site");
  incr.set_visitor_id("v");
  incr.set_counter_name("c");
  const std::string good = incr.SerializeAsString();
  for (const std::string& bad : {std::string("\x0a\x02\xff\xfe", 4),     // tenant not UTF-8
                                 std::string("\x0a\x09site", 6),         // length past the end
                                 std::string("\xff\xff\xff\xff", 4)}) {  // no field at all
    absl::StatusOr<std::string> r = RawUnaryCall(*channel_, "/countd.v1.Counters/Incr", bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("not a valid countd.v1.IncrRequest message"));
  }
  // The valid request of the same shape goes through, once.
  absl::StatusOr<std::string> ok = RawUnaryCall(*channel_, "/countd.v1.Counters/Incr", good);
  ASSERT_TRUE(ok.ok()) << ok.status();
  std::unique_ptr<v1::Counters::Stub> stub = v1::Counters::NewStub(*channel_);
  v1::GetRequest get;
  get.set_tenant("site");
  get.set_visitor_id("v");
  get.set_counter_name("c");
  get.set_date(absl::FormatCivilTime(TodayUtc()));
  v1::GetResponse got;
  ASSERT_THAT(Rpc(stub.get(), &v1::Counters::Stub::Get, get, &got), IsOk());
  EXPECT_EQ(got.count(), 1);
}

TEST_F(CountersE2eTest, ReflectionListsEveryService) {
  // ServerReflectionRequest{list_services: "*"}: field 7, length-delimited. The reflection
  // method is bidi; one request, half-close, one answer.
  const std::string list_services = std::string("\x3a\x01*", 3);
  absl::StatusOr<std::string> resp = RawUnaryCall(
      *channel_, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", list_services);
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_THAT(*resp, HasSubstr("countd.v1.Counters"));
  EXPECT_THAT(*resp, HasSubstr("countd.v1.Tally"));
  EXPECT_THAT(*resp, HasSubstr("countd.v1.GameMechanics"));
  EXPECT_THAT(*resp, HasSubstr("grpc.health.v1.Health"));
}

}  // namespace
}  // namespace countd::e2e
