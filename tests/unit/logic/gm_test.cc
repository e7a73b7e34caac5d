// Tests of the GameMechanics logic (server/logic/gm.h) over a real RocksDB store in a fresh
// temporary directory, with a fake clock shared by the store's expiry and the logic.
#include "server/logic/gm.h"

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logic/request_log.h"
#include "server/logic/status_util.h"
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

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0, int ss = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

void ExpectError(const absl::Status& s, absl::StatusCode code, const std::string& field) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_EQ(FieldOf(s), field) << s;
  EXPECT_NE(s.message().find(field), absl::string_view::npos) << s;
}

GmLevel Level(int32_t level, int64_t points_required, const std::string& title = "") {
  GmLevel l;
  l.level = level;
  l.points_required = points_required;
  l.title = title.empty() ? absl::StrCat("L", level) : title;
  l.description = absl::StrCat("level ", level);
  l.badge_url = absl::StrCat("https://badges.example/", level, ".png");
  return l;
}

// "uid rank points" rows of a leaderboard (points of the period asked for).
using TopRow = std::tuple<std::string, int32_t, int64_t>;

class GmTest : public ::testing::Test {
 protected:
  GmTest() : clock_(Utc(2024, 6, 15, 12, 0, 0)) {}

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
    NewGm();
  }

  // A fresh GameMechanics (cold caches and rankings) over the same store.
  void NewGm(GameMechanicsOptions options = {}) {
    gm_.reset();
    requests_ = std::make_unique<RequestLog>(failing_.get(), &clock_);
    gm_ = std::make_unique<GameMechanics>(failing_.get(), &clock_, requests_.get(), options);
  }

  void SetAction(const std::string& id, int64_t points, std::vector<std::string> challenges = {},
                 const std::string& tenant = "site") {
    GmAction a;
    a.action_id = id;
    a.title = "title of " + id;
    a.description = "description of " + id;
    a.points = points;
    a.challenges = std::move(challenges);
    absl::Status s = gm_->SetActionConfig(tenant, a);
    ASSERT_TRUE(s.ok()) << s;
  }

  void SetChallenge(const std::string& id, std::vector<GmLevel> levels = {},
                    absl::optional<bool> enabled = absl::nullopt) {
    GmChallenge c;
    c.challenge_id = id;
    c.title = "title of " + id;
    c.enabled = enabled;
    c.levels = std::move(levels);
    absl::Status s = gm_->SetChallengeConfig("site", c);
    ASSERT_TRUE(s.ok()) << s;
  }

  absl::StatusOr<std::vector<GmAchievement>> Notify(const std::string& uid,
                                                    const std::string& action,
                                                    const std::string& request_id = "",
                                                    const std::string& ip = "",
                                                    const std::string& tenant = "site") {
    NotifyActionArgs args;
    args.tenant = tenant;
    args.uid = uid;
    args.action_id = action;
    args.ip = ip;
    args.request_id = request_id;
    return gm_->NotifyAction(args);
  }

  void MustNotify(const std::string& uid, const std::string& action, const std::string& ip = "") {
    absl::StatusOr<std::vector<GmAchievement>> got = Notify(uid, action, "", ip);
    ASSERT_TRUE(got.ok()) << got.status();
  }

  absl::StatusOr<GmAchievement> Redeem(const std::string& uid, int64_t points,
                                       const std::string& challenge = "",
                                       const std::string& request_id = "") {
    RedeemPointsArgs args;
    args.tenant = "site";
    args.uid = uid;
    args.challenge_id = challenge;
    args.points = points;
    args.request_id = request_id;
    return gm_->RedeemPoints(args);
  }

  // The user's achievement in one challenge, read through GetChallengeStatus.
  GmAchievement StatusOf(const std::string& uid, const std::string& challenge = "_default") {
    absl::StatusOr<std::vector<GmAchievement>> got =
        gm_->GetChallengeStatus("site", uid, challenge, "");
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok() || got->size() != 1) {
      ADD_FAILURE() << "no single achievement for " << challenge;
      return GmAchievement{};
    }
    return (*got)[0];
  }

  int64_t Balance(const std::string& uid, const std::string& challenge = "_default") {
    return StatusOf(uid, challenge).points_total;
  }

  absl::StatusOr<GmLogPage> Log(const std::string& uid, int32_t page_size = 0,
                                const std::string& token = "",
                                absl::optional<int64_t> start = absl::nullopt,
                                absl::optional<int64_t> end = absl::nullopt) {
    GetActionsLogArgs args;
    args.tenant = "site";
    args.uid = uid;
    args.page_size = page_size;
    args.page_token = token;
    args.start_time = start;
    args.end_time = end;
    return gm_->GetActionsLog(args);
  }

  // Every log entry of the user as "challenge action points op", newest first.
  std::vector<std::string> LogRows(const std::string& uid) {
    absl::StatusOr<GmLogPage> page = Log(uid, kMaxGmLogPageSize);
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> out;
    if (!page.ok()) return out;
    EXPECT_EQ(page->next_page_token, "");
    for (const GmLogEntry& e : page->entries) {
      out.push_back(absl::StrCat(e.challenge_id, " ", e.action_id, " ", e.points, " ",
                                 e.operation == GmOperation::kRedeem ? "redeem" : "grant"));
    }
    return out;
  }

  absl::StatusOr<std::vector<GmTopUser>> Top(GmPeriod period, absl::optional<int32_t> count,
                                             const std::string& uid = "",
                                             absl::optional<bool> include_self = absl::nullopt,
                                             const std::string& challenge = "") {
    GetTopUsersArgs args;
    args.tenant = "site";
    args.challenge_id = challenge;
    args.total_count = count;
    args.period = period;
    args.uid = uid;
    args.include_self = include_self;
    return gm_->GetTopUsers(args);
  }

  std::vector<TopRow> TopRows(GmPeriod period, int32_t count, const std::string& uid = "",
                              absl::optional<bool> include_self = absl::nullopt,
                              const std::string& challenge = "") {
    absl::StatusOr<std::vector<GmTopUser>> got = Top(period, count, uid, include_self, challenge);
    EXPECT_TRUE(got.ok()) << got.status();
    std::vector<TopRow> out;
    if (!got.ok()) return out;
    for (const GmTopUser& u : *got) {
      int64_t points =
          period == GmPeriod::kAll ? u.achievement.points_total : u.achievement.points_7days;
      out.emplace_back(u.uid, u.rank, points);
    }
    return out;
  }

  int64_t RawEntries(Table table) {
    absl::StatusOr<int64_t> n = storage::CountRawEntriesForTest(*store_, table);
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }

  test::ScopedTempDir dir_;
  test::FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<test::FailingStore> failing_;
  std::unique_ptr<RequestLog> requests_;
  std::unique_ptr<GameMechanics> gm_;
};

std::vector<std::string> ActionIds(const std::vector<GmAction>& actions) {
  std::vector<std::string> out;
  for (const GmAction& a : actions) out.push_back(a.action_id);
  return out;
}

std::vector<std::string> ChallengeIds(const std::vector<GmChallenge>& challenges) {
  std::vector<std::string> out;
  for (const GmChallenge& c : challenges) out.push_back(c.challenge_id);
  return out;
}

std::vector<std::string> AchievementIds(const std::vector<GmAchievement>& achievements) {
  std::vector<std::string> out;
  for (const GmAchievement& a : achievements) out.push_back(a.challenge_id);
  return out;
}

// --- Configuration ------------------------------------------------------------------------------

TEST_F(GmTest, DefaultChallengeExistsBeforeAnyConfiguration) {
  absl::StatusOr<std::vector<GmChallenge>> got = gm_->GetChallengeConfig("site", "", "", false);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_THAT(ChallengeIds(*got), ElementsAre("_default"));
  EXPECT_TRUE((*got)[0].IsEnabled());
  EXPECT_THAT((*got)[0].levels, IsEmpty());
}

TEST_F(GmTest, DefaultChallengeCanBeRedefinedButNotDeletedOrDisabled) {
  SetChallenge("_default", {Level(1, 10, "Bronze")});
  absl::StatusOr<std::vector<GmChallenge>> got =
      gm_->GetChallengeConfig("site", "_default", "", false);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].title, "title of _default");
  ASSERT_EQ((*got)[0].levels.size(), 1u);
  EXPECT_EQ((*got)[0].levels[0].title, "Bronze");

  ExpectError(gm_->DeleteChallenge("site", "_default"), absl::StatusCode::kInvalidArgument,
              "challenge_id");
  GmChallenge off;
  off.challenge_id = "_default";
  off.enabled = false;
  ExpectError(gm_->SetChallengeConfig("site", off), absl::StatusCode::kInvalidArgument,
              "challenge.enabled");
  got = gm_->GetChallengeConfig("site", "", "", true);
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(ChallengeIds(*got), ElementsAre("_default"));
}

TEST_F(GmTest, ActionConfigRoundTripsAndFilters) {
  SetAction("share", 5, {"social", "social"});
  SetAction("comment", -2);
  SetAction("buy", 100);
  absl::StatusOr<std::vector<GmAction>> all = gm_->GetActionConfig("site", "*", "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(ActionIds(*all), ElementsAre("buy", "comment", "share"));
  const GmAction& share = (*all)[2];
  EXPECT_EQ(share.title, "title of share");
  EXPECT_EQ(share.description, "description of share");
  EXPECT_EQ(share.points, 5);
  EXPECT_THAT(share.challenges, ElementsAre("social"));  // duplicates dropped
  EXPECT_EQ((*all)[1].points, -2);

  EXPECT_THAT(ActionIds(*gm_->GetActionConfig("site", "", "")),
              ElementsAre("buy", "comment", "share"));
  EXPECT_THAT(ActionIds(*gm_->GetActionConfig("site", "share, buy ,nope", "")),
              ElementsAre("buy", "share"));
  EXPECT_THAT(ActionIds(*gm_->GetActionConfig("site", "*", "comment")),
              ElementsAre("buy", "share"));
  EXPECT_THAT(ActionIds(*gm_->GetActionConfig("site", "buy,comment", "comment")),
              ElementsAre("buy"));
  EXPECT_THAT(ActionIds(*gm_->GetActionConfig("site", "*", "*")), IsEmpty());

  // Replacing keeps one action.
  SetAction("buy", 50);
  absl::StatusOr<std::vector<GmAction>> buy = gm_->GetActionConfig("site", "buy", "");
  ASSERT_TRUE(buy.ok());
  ASSERT_EQ(buy->size(), 1u);
  EXPECT_EQ((*buy)[0].points, 50);
}

TEST_F(GmTest, BadFiltersNameTheirField) {
  ExpectError(gm_->GetActionConfig("site", "a,,b", "").status(), absl::StatusCode::kInvalidArgument,
              "include");
  ExpectError(gm_->GetActionConfig("site", "*", std::string("a,\x01")).status(),
              absl::StatusCode::kInvalidArgument, "exclude");
  ExpectError(gm_->GetChallengeConfig("site", ",", "", false).status(),
              absl::StatusCode::kInvalidArgument, "include");
  ExpectError(gm_->GetChallengeStatus("site", "u", "*", ",x").status(),
              absl::StatusCode::kInvalidArgument, "exclude");
}

TEST_F(GmTest, DeleteActionRemovesItAndUnknownIsNotFound) {
  SetAction("share", 5);
  ASSERT_TRUE(gm_->DeleteAction("site", "share").ok());
  EXPECT_THAT(*gm_->GetActionConfig("site", "", ""), IsEmpty());
  ExpectError(gm_->DeleteAction("site", "share"), absl::StatusCode::kNotFound, "action_id");
  ExpectError(Notify("u", "share").status(), absl::StatusCode::kInvalidArgument, "action_id");
}

TEST_F(GmTest, ChallengeConfigNormalizesLevelsAndDefaultsToEnabled) {
  SetChallenge("quiz", {Level(2, 30), Level(0, 0), Level(1, 10)});
  SetChallenge("old", {}, false);
  absl::StatusOr<std::vector<GmChallenge>> got = gm_->GetChallengeConfig("site", "", "", false);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(ChallengeIds(*got), ElementsAre("_default", "quiz"));  // "old" is disabled
  const GmChallenge& quiz = (*got)[1];
  EXPECT_TRUE(quiz.IsEnabled());
  ASSERT_EQ(quiz.levels.size(), 3u);
  EXPECT_EQ(quiz.levels[0].level, 0);
  EXPECT_EQ(quiz.levels[1].level, 1);
  EXPECT_EQ(quiz.levels[2].level, 2);
  EXPECT_EQ(quiz.levels[2].badge_url, "https://badges.example/2.png");

  got = gm_->GetChallengeConfig("site", "", "", true);
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(ChallengeIds(*got), ElementsAre("_default", "old", "quiz"));
  EXPECT_FALSE((*got)[1].IsEnabled());
  got = gm_->GetChallengeConfig("site", "old,quiz", "quiz", true);
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(ChallengeIds(*got), ElementsAre("old"));
}

TEST_F(GmTest, MalformedLevelsNameTheLevel) {
  struct Case {
    std::vector<GmLevel> levels;
    std::string field;
  };
  std::vector<Case> cases = {
      {{Level(0, 0), Level(1, 10), Level(2, 10)}, "challenge.levels[2].points_required"},
      {{Level(0, 0), Level(1, 10), Level(2, 5)}, "challenge.levels[2].points_required"},
      // The higher level needs fewer points: it is the one named.
      {{Level(2, 5), Level(1, 10)}, "challenge.levels[0].points_required"},
      {{Level(1, 0), Level(1, 10)}, "challenge.levels[1].level"},
      {{Level(-1, 0)}, "challenge.levels[0].level"},
      {{Level(0, 0), Level(1, -5)}, "challenge.levels[1].points_required"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    GmChallenge challenge;
    challenge.challenge_id = "quiz";
    challenge.levels = c.levels;
    ExpectError(gm_->SetChallengeConfig("site", challenge), absl::StatusCode::kInvalidArgument,
                c.field);
  }
  GmChallenge long_title;
  long_title.challenge_id = "quiz";
  long_title.levels = {Level(1, 1)};
  long_title.levels[0].title = std::string(kMaxGmTextBytes + 1, 'x');
  ExpectError(gm_->SetChallengeConfig("site", long_title), absl::StatusCode::kInvalidArgument,
              "challenge.levels[0].title");
  // None of them was stored.
  EXPECT_THAT(ChallengeIds(*gm_->GetChallengeConfig("site", "", "", true)),
              ElementsAre("_default"));
}

TEST_F(GmTest, BadIdentifiersInConfigNameTheirField) {
  GmAction a;
  a.action_id = "";
  ExpectError(gm_->SetActionConfig("site", a), absl::StatusCode::kInvalidArgument,
              "action.action_id");
  a.action_id = "ok";
  a.challenges = {"fine", std::string(300, 'c')};
  ExpectError(gm_->SetActionConfig("site", a), absl::StatusCode::kInvalidArgument,
              "action.challenges[1]");
  ExpectError(gm_->SetActionConfig("", a), absl::StatusCode::kInvalidArgument, "tenant");
  GmChallenge c;
  c.challenge_id = "bad\nid";
  ExpectError(gm_->SetChallengeConfig("site", c), absl::StatusCode::kInvalidArgument,
              "challenge.challenge_id");
  ExpectError(gm_->DeleteChallenge("site", "nope"), absl::StatusCode::kNotFound, "challenge_id");
  EXPECT_EQ(RawEntries(Table::kMeta), 0);
}

// Found by the gigya_gm fuzzer: stored titles and descriptions are answered in countd.v1 strings,
// which must be UTF-8 (a gRPC client cannot parse anything else).
TEST_F(GmTest, TextThatIsNotUtf8IsRefusedAndNothingIsStored) {
  GmAction a;
  a.action_id = "comment";
  a.description = "Wrote a comment\xa6";
  ExpectError(gm_->SetActionConfig("site", a), absl::StatusCode::kInvalidArgument,
              "action.description");
  a.description = "caf\xc3\xa9";
  a.title = "\xc0\xaf";  // overlong '/'
  ExpectError(gm_->SetActionConfig("site", a), absl::StatusCode::kInvalidArgument, "action.title");
  GmChallenge c;
  c.challenge_id = "quiz";
  GmLevel level = Level(1, 10);
  level.badge_url = "http://x/\xff.png";
  c.levels = {level};
  ExpectError(gm_->SetChallengeConfig("site", c), absl::StatusCode::kInvalidArgument,
              "challenge.levels[0].badge_url");
  EXPECT_EQ(RawEntries(Table::kMeta), 0);
  a.title = "T\xe2\x82\xac";  // valid UTF-8 is fine
  EXPECT_TRUE(gm_->SetActionConfig("site", a).ok());
}

TEST_F(GmTest, ConfigurationSurvivesANewInstanceAndIsPerTenant) {
  SetChallenge("quiz", {Level(1, 10)});
  SetAction("share", 5, {"quiz"});
  NewGm();
  EXPECT_THAT(ActionIds(*gm_->GetActionConfig("site", "", "")), ElementsAre("share"));
  EXPECT_THAT(ChallengeIds(*gm_->GetChallengeConfig("site", "", "", false)),
              ElementsAre("_default", "quiz"));
  EXPECT_THAT(*gm_->GetActionConfig("other", "", ""), IsEmpty());
  EXPECT_THAT(ChallengeIds(*gm_->GetChallengeConfig("other", "", "", true)),
              ElementsAre("_default"));
  ExpectError(Notify("u", "share", "", "", "other").status(), absl::StatusCode::kInvalidArgument,
              "action_id");
}

TEST_F(GmTest, ActionAndChallengeLimitsAreEnforced) {
  for (size_t i = 1; i < kMaxGmChallenges; ++i) SetChallenge(absl::StrCat("c", i));
  GmChallenge extra;
  extra.challenge_id = "one-too-many";
  ExpectError(gm_->SetChallengeConfig("site", extra), absl::StatusCode::kFailedPrecondition,
              "challenge");
  SetChallenge("c1", {Level(1, 1)});  // replacing is fine at the limit
}

// --- NotifyAction -------------------------------------------------------------------------------

TEST_F(GmTest, UnknownActionNamesActionIdAndWritesNothing) {
  ExpectError(Notify("u", "nope").status(), absl::StatusCode::kInvalidArgument, "action_id");
  EXPECT_EQ(RawEntries(Table::kGmLog), 0);
  EXPECT_EQ(RawEntries(Table::kGmState), 0);
  EXPECT_EQ(RawEntries(Table::kGmDaily), 0);
}

TEST_F(GmTest, BadIdentifiersNameTheirFieldAndWriteNothing) {
  SetAction("share", 5);
  NotifyActionArgs args;
  args.tenant = "site";
  args.uid = "u";
  args.action_id = "share";
  for (auto [field, mutate] :
       std::vector<std::pair<std::string, std::function<void(NotifyActionArgs*)>>>{
           {"tenant", [](NotifyActionArgs* a) { a->tenant = ""; }},
           {"uid", [](NotifyActionArgs* a) { a->uid = std::string(257, 'u'); }},
           {"uid", [](NotifyActionArgs* a) { a->uid = "tab\there"; }},
           {"action_id", [](NotifyActionArgs* a) { a->action_id = ""; }},
           {"ip", [](NotifyActionArgs* a) { a->ip = "1.2.3.4\n"; }},
           {"request_id", [](NotifyActionArgs* a) { a->request_id = std::string(300, 'r'); }},
       }) {
    SCOPED_TRACE(field);
    NotifyActionArgs bad = args;
    mutate(&bad);
    ExpectError(gm_->NotifyAction(bad).status(), absl::StatusCode::kInvalidArgument, field);
  }
  EXPECT_EQ(RawEntries(Table::kGmLog), 0);
  EXPECT_EQ(RawEntries(Table::kGmState), 0);
  EXPECT_EQ(RawEntries(Table::kRequests), 0);
}

TEST_F(GmTest, BalanceFloorsAtZeroWhileTheLogKeepsNegativeEntries) {
  SetAction("earn", 10);
  SetAction("lose", -25);
  MustNotify("u", "earn");
  MustNotify("u", "lose");  // 10 - 25 -> 0, not -15
  EXPECT_EQ(Balance("u"), 0);
  MustNotify("u", "earn");
  EXPECT_EQ(Balance("u"), 10);
  EXPECT_THAT(LogRows("u"), ElementsAre("_default earn 10 grant", "_default lose -25 grant",
                                        "_default earn 10 grant"));
  // The log sums to -5; the balance never went below 0.
}

TEST_F(GmTest, NotifyAnswersTheStandingInEachChallengeItCounted) {
  SetChallenge("social", {Level(1, 5, "Chatty")});
  SetChallenge("shop");
  SetChallenge("retired", {}, false);
  SetAction("share", 5, {"social", "retired", "missing"});
  SetAction("visit", 1);  // empty list: every challenge
  absl::StatusOr<std::vector<GmAchievement>> got = Notify("u", "share");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_THAT(AchievementIds(*got), ElementsAre("_default", "social"));
  EXPECT_EQ((*got)[1].points_total, 5);
  EXPECT_EQ((*got)[1].points_7days, 5);
  EXPECT_EQ((*got)[1].level, 1);
  EXPECT_EQ((*got)[1].level_title, "Chatty");
  EXPECT_TRUE((*got)[1].is_new_level);
  EXPECT_FALSE((*got)[0].is_new_level);  // _default has no levels

  got = Notify("u", "visit");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(AchievementIds(*got), ElementsAre("_default", "shop", "social"));
  EXPECT_THAT(LogRows("u"),
              ElementsAre("social visit 1 grant", "shop visit 1 grant", "_default visit 1 grant",
                          "social share 5 grant", "_default share 5 grant"));
  // A disabled challenge gets nothing and is not reported.
  absl::StatusOr<std::vector<GmAchievement>> status = gm_->GetChallengeStatus("site", "u", "", "");
  ASSERT_TRUE(status.ok());
  EXPECT_THAT(AchievementIds(*status), ElementsAre("_default", "shop", "social"));
}

TEST_F(GmTest, LogEntriesCarryTimeAndIp) {
  SetAction("share", 5);
  ASSERT_TRUE(Notify("u", "share", "", "203.0.113.9").ok());
  absl::StatusOr<GmLogPage> page = Log("u");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(page->entries[0].time, clock_.Now());
  EXPECT_EQ(page->entries[0].ip, "203.0.113.9");
  EXPECT_EQ(page->entries[0].action_id, "share");
  EXPECT_EQ(page->entries[0].operation, GmOperation::kGrant);
}

TEST_F(GmTest, LevelsRiseAndIsNewLevelStaysUntilReset) {
  SetChallenge("_default", {Level(0, 0, "Rookie"), Level(1, 10, "Bronze"), Level(2, 30, "Silver")});
  SetAction("ten", 10);
  SetAction("crash", -100);

  GmAchievement a = StatusOf("u");  // no data: level 0 as defined, zero points
  EXPECT_EQ(a.level, 0);
  EXPECT_EQ(a.level_title, "Rookie");
  EXPECT_EQ(a.points_total, 0);
  EXPECT_FALSE(a.is_new_level);

  MustNotify("u", "ten");
  a = StatusOf("u");
  EXPECT_EQ(a.level, 1);
  EXPECT_EQ(a.level_title, "Bronze");
  EXPECT_EQ(a.level_description, "level 1");
  EXPECT_EQ(a.badge_url, "https://badges.example/1.png");
  EXPECT_TRUE(a.is_new_level);

  ASSERT_TRUE(gm_->ResetLevelStatus("site", "u", "_default").ok());
  EXPECT_FALSE(StatusOf("u").is_new_level);
  MustNotify("u", "ten");  // 20: still level 1
  a = StatusOf("u");
  EXPECT_EQ(a.level, 1);
  EXPECT_FALSE(a.is_new_level);
  MustNotify("u", "ten");  // 30: level 2
  a = StatusOf("u");
  EXPECT_EQ(a.level, 2);
  EXPECT_EQ(a.level_title, "Silver");
  EXPECT_TRUE(a.is_new_level);

  MustNotify("u", "crash");  // back to 0: the flag stays until reset
  a = StatusOf("u");
  EXPECT_EQ(a.level, 0);
  EXPECT_EQ(a.points_total, 0);
  EXPECT_TRUE(a.is_new_level);
  ASSERT_TRUE(gm_->ResetLevelStatus("site", "u", "_default").ok());
  EXPECT_FALSE(StatusOf("u").is_new_level);
  // Resetting again (or for a user without data) is a success that changes nothing.
  EXPECT_TRUE(gm_->ResetLevelStatus("site", "u", "_default").ok());
  EXPECT_TRUE(gm_->ResetLevelStatus("site", "nobody", "_default").ok());
}

TEST_F(GmTest, ResetLevelStatusValidatesItsArguments) {
  ExpectError(gm_->ResetLevelStatus("site", "u", "nope"), absl::StatusCode::kInvalidArgument,
              "challenge_id");
  ExpectError(gm_->ResetLevelStatus("site", "u", ""), absl::StatusCode::kInvalidArgument,
              "challenge_id");
  ExpectError(gm_->ResetLevelStatus("site", "", "_default"), absl::StatusCode::kInvalidArgument,
              "uid");
}

TEST_F(GmTest, UserWithoutDataGetsLevelZeroRowsWithZeroPoints) {
  SetChallenge("quiz", {Level(1, 10)});
  absl::StatusOr<std::vector<GmAchievement>> got = gm_->GetChallengeStatus("site", "ghost", "", "");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_THAT(AchievementIds(*got), ElementsAre("_default", "quiz"));
  for (const GmAchievement& a : *got) {
    EXPECT_EQ(a.level, 0);
    EXPECT_EQ(a.level_title, "");
    EXPECT_EQ(a.points_total, 0);
    EXPECT_EQ(a.points_7days, 0);
    EXPECT_FALSE(a.is_new_level);
  }
}

TEST_F(GmTest, ChallengeStatusFollowsIncludeAndExclude) {
  SetChallenge("a");
  SetChallenge("b");
  SetChallenge("c");
  SetAction("x", 3);
  MustNotify("u", "x");
  auto ids = [&](const std::string& include, const std::string& exclude) {
    absl::StatusOr<std::vector<GmAchievement>> got =
        gm_->GetChallengeStatus("site", "u", include, exclude);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? AchievementIds(*got) : std::vector<std::string>{"<error>"};
  };
  EXPECT_THAT(ids("", ""), ElementsAre("_default", "a", "b", "c"));
  EXPECT_THAT(ids("*", "_default"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(ids("a,c,zzz", ""), ElementsAre("a", "c"));
  EXPECT_THAT(ids("a,b", "b"), ElementsAre("a"));
  EXPECT_THAT(ids("*", "*"), IsEmpty());
}

// --- points_7days and day boundaries ----------------------------------------------------------

TEST_F(GmTest, SevenDaySumsDropPointsSevenDaysOldAndKeepSixDaysOld) {
  SetAction("big", 100);
  SetAction("small", 10);
  clock_.Set(Utc(2024, 6, 10, 23, 59, 59));  // day 0, last second
  MustNotify("u", "big");
  clock_.Set(Utc(2024, 6, 11, 0, 0, 0));  // day 1, first second
  MustNotify("u", "small");
  // Warm the 7-day leaderboard so that its expiry on access is tested too.
  EXPECT_THAT(TopRows(GmPeriod::kDays7, 10), ElementsAre(TopRow("u", 1, 110)));

  clock_.Set(Utc(2024, 6, 16, 23, 59, 59));  // day 6: day 0 is 6 days ago and still counts
  EXPECT_EQ(StatusOf("u").points_7days, 110);
  EXPECT_THAT(TopRows(GmPeriod::kDays7, 10), ElementsAre(TopRow("u", 1, 110)));

  clock_.Advance(absl::Seconds(1));  // day 7: day 0 is 7 days ago and drops out
  GmAchievement a = StatusOf("u");
  EXPECT_EQ(a.points_7days, 10);
  EXPECT_EQ(a.points_total, 110);  // the balance is for all time
  EXPECT_THAT(TopRows(GmPeriod::kDays7, 10), ElementsAre(TopRow("u", 1, 10)));

  // The same from disk alone: a new instance, and after compaction dropped the old buckets.
  ASSERT_TRUE(storage::CompactForTest(*store_, Table::kGmDaily).ok());
  NewGm();
  EXPECT_EQ(StatusOf("u").points_7days, 10);
  EXPECT_THAT(TopRows(GmPeriod::kDays7, 10), ElementsAre(TopRow("u", 1, 10)));

  clock_.Set(Utc(2024, 6, 18, 0, 0, 0));  // day 8: day 1 is 7 days ago
  EXPECT_EQ(StatusOf("u").points_7days, 0);
  EXPECT_THAT(TopRows(GmPeriod::kDays7, 10), IsEmpty());
  EXPECT_THAT(TopRows(GmPeriod::kAll, 10), ElementsAre(TopRow("u", 1, 110)));
}

TEST_F(GmTest, SevenDaySumsCountGrantsNotRedeems) {
  SetAction("earn", 50);
  SetAction("fine", -20);
  MustNotify("u", "earn");
  ASSERT_TRUE(Redeem("u", 30).ok());
  GmAchievement a = StatusOf("u");
  EXPECT_EQ(a.points_total, 20);
  EXPECT_EQ(a.points_7days, 50);
  MustNotify("u", "fine");  // a negative grant counts
  a = StatusOf("u");
  EXPECT_EQ(a.points_total, 0);
  EXPECT_EQ(a.points_7days, 30);
}

// --- RedeemPoints
// ---------------------------------------------------------------------------------

TEST_F(GmTest, RedeemLowersTheBalanceAndLogsANegativeRedeem) {
  SetChallenge("shop", {Level(1, 10)});
  SetAction("earn", 40);
  MustNotify("u", "earn");
  absl::StatusOr<GmAchievement> got = Redeem("u", 15, "shop");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->challenge_id, "shop");
  EXPECT_EQ(got->points_total, 25);
  EXPECT_EQ(got->level, 1);
  EXPECT_EQ(Balance("u", "shop"), 25);
  EXPECT_EQ(Balance("u", "_default"), 40);
  got = Redeem("u", 40);  // challenge defaults to _default
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->challenge_id, "_default");
  EXPECT_EQ(got->points_total, 0);
  EXPECT_THAT(LogRows("u"), ElementsAre("_default _redeem -40 redeem", "shop _redeem -15 redeem",
                                        "shop earn 40 grant", "_default earn 40 grant"));
}

TEST_F(GmTest, RedeemMoreThanTheBalanceIsRefusedAndLogsNothing) {
  SetAction("earn", 10);
  MustNotify("u", "earn");
  ExpectError(Redeem("u", 11).status(), absl::StatusCode::kFailedPrecondition, "points");
  ExpectError(Redeem("nobody", 1).status(), absl::StatusCode::kFailedPrecondition, "points");
  EXPECT_EQ(Balance("u"), 10);
  EXPECT_THAT(LogRows("u"), ElementsAre("_default earn 10 grant"));
  EXPECT_THAT(LogRows("nobody"), IsEmpty());
  EXPECT_TRUE(Redeem("u", 10).ok());  // exactly the balance is fine
  EXPECT_EQ(Balance("u"), 0);
}

TEST_F(GmTest, RedeemValidatesItsArguments) {
  SetChallenge("off", {}, false);
  ExpectError(Redeem("u", 0).status(), absl::StatusCode::kInvalidArgument, "points");
  ExpectError(Redeem("u", -5).status(), absl::StatusCode::kInvalidArgument, "points");
  ExpectError(Redeem("u", 5, "nope").status(), absl::StatusCode::kInvalidArgument, "challenge_id");
  ExpectError(Redeem("u", 5, "off").status(), absl::StatusCode::kFailedPrecondition,
              "challenge_id");
  ExpectError(Redeem("", 5).status(), absl::StatusCode::kInvalidArgument, "uid");
  EXPECT_EQ(RawEntries(Table::kGmLog), 0);
  EXPECT_EQ(RawEntries(Table::kGmState), 0);
}

// --- request_id
// -------------------------------------------------------------------------------------

TEST_F(GmTest, RepeatedRequestIdAppliesOnceAndAnswersTheSame) {
  SetChallenge("_default", {Level(1, 5)});
  SetAction("earn", 5);
  absl::StatusOr<std::vector<GmAchievement>> first = Notify("u", "earn", "req-1");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(gm_->ResetLevelStatus("site", "u", "_default").ok());
  absl::StatusOr<std::vector<GmAchievement>> again = Notify("u", "earn", "req-1");
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].points_total, 5);
  EXPECT_TRUE((*again)[0].is_new_level);  // the first answer, not the current state
  EXPECT_EQ(Balance("u"), 5);
  EXPECT_THAT(LogRows("u"), ElementsAre("_default earn 5 grant"));

  // Another request under the same id is refused; a new id applies.
  ExpectError(Notify("v", "earn", "req-1").status(), absl::StatusCode::kFailedPrecondition,
              "request_id");
  ASSERT_TRUE(Notify("u", "earn", "req-2").ok());
  EXPECT_EQ(Balance("u"), 10);

  // Redeem too, and the scope keeps NotifyAction and RedeemPoints ids apart.
  absl::StatusOr<GmAchievement> r1 = Redeem("u", 3, "", "req-1");
  ASSERT_TRUE(r1.ok()) << r1.status();
  absl::StatusOr<GmAchievement> r2 = Redeem("u", 3, "", "req-1");
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->points_total, 7);
  EXPECT_EQ(Balance("u"), 7);

  // A new instance answers from the stored record.
  NewGm();
  again = Notify("u", "earn", "req-2");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Balance("u"), 7);
}

// Found by a black-box audit: a notify or redeem that succeeded, retried after its action or
// challenge was deleted (or the challenge disabled), was refused although it had been applied;
// and a notify retried from another address (the shim fills ip from the connection) was
// "another request".
TEST_F(GmTest, ARetryGetsItsFirstAnswerAfterTheConfigurationChangedOrFromAnotherAddress) {
  SetChallenge("books", {Level(1, 5)});
  SetAction("read", 5, {"books"});
  absl::StatusOr<std::vector<GmAchievement>> first = Notify("u", "read", "n-1", "10.0.0.1");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::vector<GmAchievement>> moved = Notify("u", "read", "n-1", "10.0.0.2");
  ASSERT_TRUE(moved.ok()) << moved.status();
  ASSERT_TRUE(Redeem("u", 2, "books", "r-1").ok());

  ASSERT_TRUE(gm_->DeleteAction("site", "read").ok());
  absl::StatusOr<std::vector<GmAchievement>> again = Notify("u", "read", "n-1", "10.0.0.1");
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), first->size());
  SetChallenge("books", {Level(1, 5)}, /*enabled=*/false);
  absl::StatusOr<GmAchievement> redeemed = Redeem("u", 2, "books", "r-1");
  ASSERT_TRUE(redeemed.ok()) << redeemed.status();
  EXPECT_EQ(redeemed->points_total, 3);
  ASSERT_TRUE(gm_->DeleteChallenge("site", "books").ok());
  ASSERT_TRUE(Redeem("u", 2, "books", "r-1").ok());
  EXPECT_EQ(Balance("u"), 5);  // _default: granted once, never redeemed from

  // New requests are refused as before, naming the field, and change nothing.
  ExpectError(Notify("u", "read", "n-2").status(), absl::StatusCode::kInvalidArgument,
              "action_id");
  ExpectError(Notify("u", "read").status(), absl::StatusCode::kInvalidArgument, "action_id");
  ExpectError(Redeem("u", 1, "books", "r-2").status(), absl::StatusCode::kInvalidArgument,
              "challenge_id");
  SetChallenge("off", {}, /*enabled=*/false);
  ExpectError(Redeem("u", 1, "off", "r-3").status(), absl::StatusCode::kFailedPrecondition,
              "challenge_id");
  EXPECT_EQ(Balance("u"), 5);
}

// --- GetActionsLog
// ----------------------------------------------------------------------------------

TEST_F(GmTest, PagesThrough250EntriesNewestFirstWithoutDuplicates) {
  SetAction("a", 1);
  for (int i = 0; i < 250; ++i) {
    MustNotify("u", "a", absl::StrCat("ip", i));
    if (i % 3 == 2) clock_.Advance(absl::Milliseconds(1));  // several entries per millisecond
  }
  MustNotify("other", "a");  // another user's entries never show up
  std::vector<std::string> seen;
  std::vector<size_t> sizes;
  std::string token;
  absl::Time previous = absl::InfiniteFuture();
  for (int round = 0; round < 10; ++round) {
    absl::StatusOr<GmLogPage> page = Log("u", 100, token);
    ASSERT_TRUE(page.ok()) << page.status();
    sizes.push_back(page->entries.size());
    for (const GmLogEntry& e : page->entries) {
      EXPECT_LE(e.time, previous);
      previous = e.time;
      seen.push_back(e.ip);
    }
    token = page->next_page_token;
    if (token.empty()) break;
  }
  EXPECT_THAT(sizes, ElementsAre(100, 100, 50));
  ASSERT_EQ(seen.size(), 250u);
  for (int i = 0; i < 250; ++i) EXPECT_EQ(seen[i], absl::StrCat("ip", 249 - i));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 250u);
}

TEST_F(GmTest, DefaultPageSizeIsOneHundredAndExactPagesEndWithoutToken) {
  SetAction("a", 1);
  for (int i = 0; i < 100; ++i) MustNotify("u", "a");
  absl::StatusOr<GmLogPage> page = Log("u");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->entries.size(), 100u);
  EXPECT_EQ(page->next_page_token, "");
  MustNotify("u", "a");
  page = Log("u");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries.size(), 100u);
  EXPECT_NE(page->next_page_token, "");
  page = Log("u", 0, page->next_page_token);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(page->next_page_token, "");
}

TEST_F(GmTest, StartAndEndTimesAreInclusive) {
  SetAction("a", 1);
  for (int64_t t : {1000, 2000, 3000}) {
    clock_.Set(absl::FromUnixSeconds(t));
    MustNotify("u", "a", absl::StrCat("t", t));
  }
  clock_.Set(absl::FromUnixMillis(3000999));  // the last millisecond of second 3000
  MustNotify("u", "a", "t3000.999");
  auto ips = [&](absl::optional<int64_t> start, absl::optional<int64_t> end, int32_t size = 0) {
    std::vector<std::string> out;
    std::string token;
    do {
      absl::StatusOr<GmLogPage> page = Log("u", size, token, start, end);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      for (const GmLogEntry& e : page->entries) out.push_back(e.ip);
      token = page->next_page_token;
    } while (!token.empty());
    return out;
  };
  EXPECT_THAT(ips(2000, 3000), ElementsAre("t3000.999", "t3000", "t2000"));
  EXPECT_THAT(ips(2000, 2000), ElementsAre("t2000"));
  EXPECT_THAT(ips(2001, absl::nullopt), ElementsAre("t3000.999", "t3000"));
  EXPECT_THAT(ips(absl::nullopt, 1999), ElementsAre("t1000"));
  EXPECT_THAT(ips(1001, 1999), IsEmpty());
  EXPECT_THAT(ips(1000, 3000, 1), ElementsAre("t3000.999", "t3000", "t2000", "t1000"));
}

TEST_F(GmTest, BadLogArgumentsNameTheirField) {
  ExpectError(Log("u", 0, "", 2000, 1000).status(), absl::StatusCode::kInvalidArgument,
              "start_time");
  ExpectError(Log("u", 0, "", -1).status(), absl::StatusCode::kInvalidArgument, "start_time");
  ExpectError(Log("u", 0, "", absl::nullopt, kMaxGmUnixSeconds + 1).status(),
              absl::StatusCode::kInvalidArgument, "end_time");
  ExpectError(Log("u", 1001).status(), absl::StatusCode::kInvalidArgument, "page_size");
  ExpectError(Log("u", -1).status(), absl::StatusCode::kInvalidArgument, "page_size");
  EXPECT_TRUE(Log("u", 1000).ok());
  for (const char* garbage :
       {"!!!", "AAAA", "not a token", "AQAAAAAAAAAAAAAAAAAAAAA=", "AgAAAAAAAAAAAAAAAAAAAAA"}) {
    SCOPED_TRACE(garbage);
    ExpectError(Log("u", 0, garbage).status(), absl::StatusCode::kInvalidArgument, "page_token");
  }
  EXPECT_TRUE(Log("u", 0, "AQAAAAAAAAAAAAAAAAAAAAA").ok());  // a well-formed position
  ExpectError(Log("", 0).status(), absl::StatusCode::kInvalidArgument, "uid");
}

// --- GetTopUsers --------------------------------------------------------------------------------

TEST_F(GmTest, AllTimeLeaderboardOrdersByBalanceThenUid) {
  SetAction("one", 1);
  SetAction("five", 5);
  for (const char* uid : {"carol", "alice", "bob"}) MustNotify(uid, "five");
  MustNotify("dave", "one");
  MustNotify("bob", "one");  // bob 6
  EXPECT_THAT(TopRows(GmPeriod::kAll, 10),
              ElementsAre(TopRow("bob", 1, 6), TopRow("alice", 2, 5), TopRow("carol", 3, 5),
                          TopRow("dave", 4, 1)));
  EXPECT_THAT(TopRows(GmPeriod::kAll, 2), ElementsAre(TopRow("bob", 1, 6), TopRow("alice", 2, 5)));

  // A redeem moves a user down, and a balance of 0 leaves the board.
  ASSERT_TRUE(Redeem("bob", 6).ok());
  ASSERT_TRUE(Redeem("carol", 1).ok());
  EXPECT_THAT(TopRows(GmPeriod::kAll, 10),
              ElementsAre(TopRow("alice", 1, 5), TopRow("carol", 2, 4), TopRow("dave", 3, 1)));
  // Exactly one index entry per user with a positive balance.
  EXPECT_EQ(RawEntries(Table::kGmState), 4 /*states*/ + 3 /*index*/);
}

TEST_F(GmTest, IncludeSelfAppendsTheCallerWithItsRealRank) {
  SetAction("one", 1);
  SetAction("two", 2);
  SetAction("three", 3);
  MustNotify("a", "three");
  MustNotify("b", "two");
  MustNotify("c", "one");
  for (GmPeriod period : {GmPeriod::kAll, GmPeriod::kDays7}) {
    SCOPED_TRACE(period == GmPeriod::kAll ? "all" : "days7");
    EXPECT_THAT(TopRows(period, 1, "c"), ElementsAre(TopRow("a", 1, 3), TopRow("c", 3, 1)));
    EXPECT_THAT(TopRows(period, 1, "c", false), ElementsAre(TopRow("a", 1, 3)));
    EXPECT_THAT(TopRows(period, 2, "a"), ElementsAre(TopRow("a", 1, 3), TopRow("b", 2, 2)));
    // Without points in the period: rank 0 and zero points.
    EXPECT_THAT(TopRows(period, 1, "nobody"),
                ElementsAre(TopRow("a", 1, 3), TopRow("nobody", 0, 0)));
  }
}

TEST_F(GmTest, TopUsersValidatesItsArguments) {
  ExpectError(Top(GmPeriod::kAll, 0).status(), absl::StatusCode::kInvalidArgument, "total_count");
  ExpectError(Top(GmPeriod::kDays7, 101).status(), absl::StatusCode::kInvalidArgument,
              "total_count");
  ExpectError(Top(GmPeriod::kAll, 10, "", absl::nullopt, "nope").status(),
              absl::StatusCode::kInvalidArgument, "challenge_id");
  ExpectError(Top(GmPeriod::kAll, 10, "bad\x01uid").status(), absl::StatusCode::kInvalidArgument,
              "uid");
  EXPECT_TRUE(Top(GmPeriod::kAll, 100).ok());
  EXPECT_TRUE(Top(GmPeriod::kAll, 1).ok());
}

TEST_F(GmTest, DefaultTotalCountIsTwelve) {
  SetAction("one", 1);
  for (int i = 0; i < 20; ++i) MustNotify(absl::StrCat("u", i < 10 ? "0" : "", i), "one");
  for (GmPeriod period : {GmPeriod::kAll, GmPeriod::kDays7}) {
    absl::StatusOr<std::vector<GmTopUser>> got = Top(period, absl::nullopt);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), 12u);
    EXPECT_EQ((*got)[0].uid, "u00");
    EXPECT_EQ((*got)[11].uid, "u11");
    EXPECT_EQ((*got)[11].rank, 12);
  }
  absl::StatusOr<std::vector<GmTopUser>> hundred = Top(GmPeriod::kAll, 100);
  ASSERT_TRUE(hundred.ok());
  EXPECT_EQ(hundred->size(), 20u);
}

TEST_F(GmTest, SevenDayLeaderboardRanksRecentGrantsAndSurvivesRestart) {
  SetChallenge("quiz", {Level(1, 50, "Whiz")});
  SetAction("big", 100, {"quiz"});
  SetAction("five", 5, {"quiz"});
  SetAction("three", 3, {"quiz"});
  SetAction("oops", -4, {"quiz"});
  clock_.Set(Utc(2024, 6, 1, 12));
  MustNotify("old", "big");
  clock_.Set(Utc(2024, 6, 8, 12));  // "old" is 7 days back now
  MustNotify("zed", "five");
  MustNotify("bea", "five");
  MustNotify("cat", "three");
  MustNotify("dan", "five");
  MustNotify("dan", "oops");  // 1 in 7 days
  const std::vector<TopRow> week = {TopRow("bea", 1, 5), TopRow("zed", 2, 5), TopRow("cat", 3, 3),
                                    TopRow("dan", 4, 1)};
  EXPECT_EQ(TopRows(GmPeriod::kDays7, 10, "", absl::nullopt, "quiz"), week);
  EXPECT_EQ(TopRows(GmPeriod::kAll, 10, "", absl::nullopt, "quiz")[0], TopRow("old", 1, 100));
  // The row's achievement is the full standing in the challenge.
  absl::StatusOr<std::vector<GmTopUser>> top =
      Top(GmPeriod::kDays7, 1, "old", absl::nullopt, "quiz");
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 2u);
  EXPECT_EQ((*top)[1].uid, "old");
  EXPECT_EQ((*top)[1].rank, 0);
  EXPECT_EQ((*top)[1].achievement.points_total, 100);
  EXPECT_EQ((*top)[1].achievement.level_title, "Whiz");

  NewGm();  // rebuilt from the daily buckets
  EXPECT_EQ(TopRows(GmPeriod::kDays7, 10, "", absl::nullopt, "quiz"), week);
  MustNotify("cat", "five");  // the rebuilt ranking keeps following writes
  EXPECT_EQ(TopRows(GmPeriod::kDays7, 2, "", absl::nullopt, "quiz"),
            (std::vector<TopRow>{TopRow("cat", 1, 8), TopRow("bea", 2, 5)}));
}

TEST_F(GmTest, SevenDayLeaderboardsAreBoundedAndStayExactBeyondTheBudget) {
  GameMechanicsOptions options;
  options.week_rankings.max_rankings = 2;
  options.week_rankings.max_users = 3;
  NewGm(options);
  SetChallenge("a");
  SetChallenge("b");
  SetAction("one", 1);
  SetAction("two", 2);
  for (int i = 0; i < 5; ++i) MustNotify(absl::StrCat("u", i), i % 2 == 0 ? "two" : "one");
  // 5 users in each challenge, more than the budget of 3: ranked from disk, still exact.
  const std::vector<TopRow> want = {TopRow("u0", 1, 2), TopRow("u2", 2, 2), TopRow("u4", 3, 2),
                                    TopRow("u1", 4, 1)};
  for (const char* c : {"_default", "a", "b", "a", "_default"}) {
    SCOPED_TRACE(c);
    EXPECT_EQ(TopRows(GmPeriod::kDays7, 4, "", absl::nullopt, c), want);
    EXPECT_EQ(TopRows(GmPeriod::kDays7, 1, "u3", absl::nullopt, c),
              (std::vector<TopRow>{TopRow("u0", 1, 2), TopRow("u3", 5, 1)}));
  }
}

// --- Concurrency and failures -------------------------------------------------------------------

TEST_F(GmTest, ConcurrentNotificationsForOneUserAreAllApplied) {
  SetChallenge("quiz");
  SetAction("one", 1);
  // Warm the 7-day ranking of one challenge; the other is built while the writers run.
  EXPECT_THAT(TopRows(GmPeriod::kDays7, 1), IsEmpty());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::vector<int> failures(kThreads + 1, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!Notify("u", "one").ok()) ++failures[t];
        if (!Notify(absl::StrCat("other", t), "one").ok()) ++failures[t];
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 50; ++i) {
      if (!Top(GmPeriod::kDays7, 3, "", absl::nullopt, "quiz").ok()) ++failures[kThreads];
    }
  });
  for (std::thread& th : threads) th.join();
  EXPECT_THAT(failures, ::testing::Each(0));
  const int64_t total = kThreads * kPerThread;
  EXPECT_EQ(Balance("u"), total);
  EXPECT_EQ(Balance("u", "quiz"), total);
  EXPECT_EQ(StatusOf("u").points_7days, total);
  // Every notification logged one entry per challenge, none lost or overwritten.
  size_t logged = 0;
  std::string token;
  do {
    absl::StatusOr<GmLogPage> page = Log("u", kMaxGmLogPageSize, token);
    ASSERT_TRUE(page.ok()) << page.status();
    logged += page->entries.size();
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_EQ(logged, 2u * total);
  for (const char* c : {"_default", "quiz"}) {
    SCOPED_TRACE(c);
    std::vector<TopRow> days7 = TopRows(GmPeriod::kDays7, 1, "", absl::nullopt, c);
    EXPECT_THAT(days7, ElementsAre(TopRow("u", 1, total)));
    EXPECT_THAT(TopRows(GmPeriod::kAll, 1, "", absl::nullopt, c),
                ElementsAre(TopRow("u", 1, total)));
    EXPECT_THAT(TopRows(GmPeriod::kDays7, 1, "other3", absl::nullopt, c),
                ElementsAre(TopRow("u", 1, total), TopRow("other3", 5, kPerThread)));
  }
}

TEST_F(GmTest, RankingsRebuiltUnderConcurrentWritesCountEveryGrantOnce) {
  // One ranking slot for three challenges: reads keep evicting and rebuilding while writers run.
  GameMechanicsOptions options;
  options.week_rankings.max_rankings = 1;
  NewGm(options);
  SetChallenge("a");
  SetChallenge("b");
  SetAction("one", 1);
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 100;
  std::vector<int> failures(kWriters + 2, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerWriter; ++i) {
        if (!Notify(absl::StrCat("w", t), "one").ok()) ++failures[t];
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      for (int i = 0; i < 100; ++i) {
        for (const char* c : {"a", "b", "_default"}) {
          if (!Top(GmPeriod::kDays7, 10, "", absl::nullopt, c).ok()) ++failures[kWriters + r];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_THAT(failures, ::testing::Each(0));
  for (const char* c : {"a", "b", "_default", "a"}) {
    SCOPED_TRACE(c);
    EXPECT_THAT(TopRows(GmPeriod::kDays7, 10, "", absl::nullopt, c),
                ElementsAre(TopRow("w0", 1, kPerWriter), TopRow("w1", 2, kPerWriter),
                            TopRow("w2", 3, kPerWriter), TopRow("w3", 4, kPerWriter)));
  }
}

TEST_F(GmTest, WriteFailureIsUnavailableAndChangesNothing) {
  SetAction("one", 1);
  MustNotify("u", "one");
  EXPECT_THAT(TopRows(GmPeriod::kDays7, 5), ElementsAre(TopRow("u", 1, 1)));  // warm
  failing_->FailNextWrite();
  EXPECT_EQ(Notify("u", "one").status().code(), absl::StatusCode::kUnavailable);
  failing_->FailNextWrite();
  EXPECT_EQ(Redeem("u", 1).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Balance("u"), 1);
  EXPECT_THAT(LogRows("u"), ElementsAre("_default one 1 grant"));
  EXPECT_THAT(TopRows(GmPeriod::kDays7, 5), ElementsAre(TopRow("u", 1, 1)));
  EXPECT_THAT(TopRows(GmPeriod::kAll, 5), ElementsAre(TopRow("u", 1, 1)));
}

TEST_F(GmTest, ReadFailuresAreUnavailableNotEmptyAnswers) {
  SetAction("one", 1);
  MustNotify("u", "one");
  failing_->FailNextScan();
  EXPECT_EQ(Log("u").status().code(), absl::StatusCode::kUnavailable);
  failing_->FailNextGet();
  EXPECT_EQ(gm_->GetChallengeStatus("site", "u", "", "").status().code(),
            absl::StatusCode::kUnavailable);
  failing_->FailNextScan();
  EXPECT_EQ(Top(GmPeriod::kAll, 5).status().code(), absl::StatusCode::kUnavailable);
  failing_->FailNextScan();  // the first 7-day read builds the ranking from disk
  EXPECT_EQ(Top(GmPeriod::kDays7, 5).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(TopRows(GmPeriod::kDays7, 5), ElementsAre(TopRow("u", 1, 1)));
  NewGm();
  failing_->FailNextScan();  // configuration load
  EXPECT_EQ(Notify("u", "one").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Balance("u"), 1);
}

TEST_F(GmTest, TenantsAndUsersWithSharedPrefixesAreIsolated) {
  SetAction("one", 1);
  SetAction("one", 1, {}, "site2");
  MustNotify("u", "one");
  MustNotify("u1", "one");
  ASSERT_TRUE(Notify("u", "one", "", "", "site2").ok());
  EXPECT_THAT(LogRows("u"), ElementsAre("_default one 1 grant"));
  EXPECT_THAT(TopRows(GmPeriod::kAll, 5), ElementsAre(TopRow("u", 1, 1), TopRow("u1", 2, 1)));
  EXPECT_THAT(TopRows(GmPeriod::kDays7, 5), ElementsAre(TopRow("u", 1, 1), TopRow("u1", 2, 1)));
}

// --- Several processes on one shared store ---------------------------------------------------

// Two GameMechanics over one in-memory store that says it is shared: two countd processes on
// one Redis Cluster.
class GmSharedStoreTest : public ::testing::Test {
 protected:
  struct Process {
    Process(storage::Store* store, const storage::Clock* clock, GameMechanicsOptions options)
        : requests(store, clock), gm(store, clock, &requests, options) {}
    RequestLog requests;
    GameMechanics gm;
  };

  GmSharedStoreTest()
      : clock_(Utc(2024, 6, 15, 12, 0, 0)), store_(storage::StoreKind::kRedisCluster) {
    GameMechanicsOptions options;
    options.config_cache_ttl = absl::Seconds(5);
    a_ = std::make_unique<Process>(&store_, &clock_, options);
    b_ = std::make_unique<Process>(&store_, &clock_, options);
  }

  static GmAction Action(const std::string& id, int64_t points) {
    GmAction a;
    a.action_id = id;
    a.title = "title of " + id;
    a.points = points;
    return a;
  }

  static absl::StatusOr<std::vector<GmAchievement>> Notify(Process& p, const std::string& action) {
    NotifyActionArgs args;
    args.tenant = "site";
    args.uid = "u";
    args.action_id = action;
    return p.gm.NotifyAction(args);
  }

  static std::vector<std::string> ActionIds(Process& p) {
    absl::StatusOr<std::vector<GmAction>> got = p.gm.GetActionConfig("site", "", "");
    EXPECT_TRUE(got.ok()) << got.status();
    std::vector<std::string> out;
    if (got.ok()) {
      for (const GmAction& a : *got) out.push_back(a.action_id);
    }
    return out;
  }

  test::FakeClock clock_;
  test::InMemoryStore store_;
  std::unique_ptr<Process> a_;
  std::unique_ptr<Process> b_;
};

TEST_F(GmSharedStoreTest, AnActionIsSeenByTheOtherProcessWithinTheConfiguredTtl) {
  ExpectError(Notify(*b_, "one").status(), absl::StatusCode::kInvalidArgument, "action_id");
  ASSERT_TRUE(a_->gm.SetActionConfig("site", Action("one", 3)).ok());
  ASSERT_TRUE(Notify(*a_, "one").ok());  // read-your-writes
  clock_.Advance(absl::Milliseconds(4999));
  ExpectError(Notify(*b_, "one").status(), absl::StatusCode::kInvalidArgument, "action_id");
  clock_.Advance(absl::Milliseconds(1));  // the bound: 5 s
  absl::StatusOr<std::vector<GmAchievement>> got = Notify(*b_, "one");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].points_total, 6);

  // A deletion through b stops a's grants within the bound too.
  ASSERT_TRUE(Notify(*a_, "one").ok());  // a checks its copy now
  ASSERT_TRUE(b_->gm.DeleteAction("site", "one").ok());
  EXPECT_TRUE(Notify(*a_, "one").ok());
  clock_.Advance(absl::Seconds(5));
  ExpectError(Notify(*a_, "one").status(), absl::StatusCode::kInvalidArgument, "action_id");
}

TEST_F(GmSharedStoreTest, ChangesStartFromTheStoredConfiguration) {
  ASSERT_TRUE(a_->gm.SetActionConfig("site", Action("one", 1)).ok());
  EXPECT_THAT(ActionIds(*b_), ElementsAre("one"));
  ASSERT_TRUE(a_->gm.DeleteAction("site", "one").ok());
  // b's copy still has "one", but the deletion reads the stored configuration.
  ExpectError(b_->gm.DeleteAction("site", "one"), absl::StatusCode::kNotFound, "action_id");
  GmChallenge c1;
  c1.challenge_id = "c1";
  ASSERT_TRUE(a_->gm.SetChallengeConfig("site", c1).ok());
  ExpectError(b_->gm.DeleteChallenge("site", "c2"), absl::StatusCode::kNotFound, "challenge_id");
  ASSERT_TRUE(b_->gm.DeleteChallenge("site", "c1").ok());
}

TEST_F(GmSharedStoreTest, ConcurrentChangesFromTwoProcessesAreAllKept) {
  constexpr int kPerThread = 30;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 4; ++t) {
    Process* p = t % 2 == 0 ? a_.get() : b_.get();
    threads.emplace_back([p, t, &failed] {
      for (int i = 0; i < kPerThread; ++i) {
        const GmAction action = Action(absl::StrCat("t", t, "_", i), 1);
        absl::Status s = p->gm.SetActionConfig("site", action);
        // A change that lost every one of its optimistic attempts is ABORTED and wrote
        // nothing; callers retry it (how often that happens is the scheduler's call).
        for (int retry = 0; absl::IsAborted(s) && retry < 1000; ++retry) {
          s = p->gm.SetActionConfig("site", action);
        }
        if (!s.ok()) ++failed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(ActionIds(*a_).size(), 4u * kPerThread);
  EXPECT_EQ(ActionIds(*b_).size(), 4u * kPerThread);
}

}  // namespace
}  // namespace countd::logic
