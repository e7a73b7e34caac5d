// End-to-end tests of the Gigya-style gm.* (Game Mechanics) routes of the JSON shim: the real
// countd binary, libcurl over loopback; parameters by GET query, POST form and POST JSON; Gigya's
// field names in answers and error details; the envelope and JSONP on gm routes.
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/shim_e2e_util.h"

namespace countd::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Str(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject() || !v.HasMember(name) || !v[name].IsString()) return "<absent>";
  return v[name].GetString();
}

int64_t Int(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject() || !v.HasMember(name) || !v[name].IsInt64()) return -999999;
  return v[name].GetInt64();
}

class HttpGmE2eTest : public ShimE2eTest {
 protected:
  // Calls /<method> with `params` plus apiKey=tenant_. kJson sends a JSON object of strings.
  HttpResult Call(const std::string& method, Params params, Via via = Via::kQuery) {
    params.insert(params.begin(), {"apiKey", tenant_});
    return CallGigya(method, params, via);
  }

  // Parses the envelope and checks its common members for `error_code`.
  rapidjson::Document Envelope(const HttpResult& r, int error_code) {
    rapidjson::Document doc = ParseJson(r.body);
    if (doc.HasParseError() || !doc.IsObject()) {
      ADD_FAILURE() << "not a JSON object: " << r;
      doc.SetObject();
      return doc;
    }
    const std::string text = ToJson(doc);
    EXPECT_TRUE(doc.HasMember("callId") && doc["callId"].IsString() &&
                IsLowerHex32(doc["callId"].GetString()))
        << text;
    EXPECT_EQ(Int(doc, "errorCode"), error_code) << text;
    EXPECT_EQ(Int(doc, "apiVersion"), 2) << text;
    const int status = error_code == 0 ? 200 : error_code / 1000;
    EXPECT_EQ(Int(doc, "statusCode"), status) << text;
    EXPECT_EQ(Str(doc, "statusReason"), status == 200   ? "OK"
                                        : status == 400 ? "Bad Request"
                                        : status == 404 ? "Not Found"
                                                        : "Internal Server Error")
        << text;
    static const std::regex kTime(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
    EXPECT_TRUE(std::regex_match(Str(doc, "time"), kTime)) << text;
    if (error_code == 0) {
      EXPECT_FALSE(doc.HasMember("errorMessage")) << text;
      EXPECT_FALSE(doc.HasMember("errorDetails")) << text;
    } else {
      EXPECT_TRUE(doc.HasMember("errorMessage") && doc["errorMessage"].IsString()) << text;
      EXPECT_TRUE(doc.HasMember("errorDetails") && doc["errorDetails"].IsString()) << text;
    }
    return doc;
  }

  // A successful call (HTTP 200, errorCode 0); returns the envelope.
  rapidjson::Document Ok(const HttpResult& r) {
    EXPECT_EQ(r.status, 200) << r;
    return Envelope(r, 0);
  }

  // An error envelope with `error_code` whose errorDetails name `param`; HTTP 200.
  void ExpectError(const HttpResult& r, int error_code, const std::string& param,
                   const std::string& message) {
    EXPECT_EQ(r.status, 200) << r;
    rapidjson::Document doc = Envelope(r, error_code);
    EXPECT_EQ(Str(doc, "errorMessage"), message) << r;
    EXPECT_THAT(Str(doc, "errorDetails"), HasSubstr(param)) << r;
  }
  void ExpectBadValue(const HttpResult& r, const std::string& param) {
    ExpectError(r, 400006, param, "Invalid parameter value");
  }
  void ExpectBadFormat(const HttpResult& r, const std::string& param) {
    ExpectError(r, 400004, param, "Invalid parameter format");
  }
  void ExpectMissing(const HttpResult& r, const std::string& param) {
    ExpectError(r, 400002, param, "Missing required parameter");
  }

  // A member of a successful call's envelope as JSON text ("<absent>" when missing).
  std::string Member(const HttpResult& r, const char* name) {
    rapidjson::Document doc = Ok(r);
    if (!doc.HasMember(name)) {
      ADD_FAILURE() << "no " << name << " in " << r;
      return "<absent>";
    }
    return ToJson(doc[name]);
  }

  void SetChallenge(const std::string& id, const std::string& levels, const char* enabled = "") {
    Params p = {{"challengeID", id}, {"title", "T " + id}, {"description", "D " + id}};
    if (*enabled != '\0') p.emplace_back("enabled", enabled);
    if (!levels.empty()) p.emplace_back("levels", levels);
    Ok(Call("gm.setChallengeConfig", p));
  }
  void SetAction(const std::string& id, int64_t points, const std::string& challenges = "") {
    Params p = {{"actionID", id}, {"title", "T " + id}, {"points", absl::StrCat(points)}};
    if (!challenges.empty()) p.emplace_back("challenges", challenges);
    Ok(Call("gm.setActionConfig", p));
  }
  void Notify(const std::string& uid, const std::string& action, Params extra = {}) {
    extra.insert(extra.begin(), {{"UID", uid}, {"action", action}});
    Ok(Call("gm.notifyAction", extra));
  }

  // The achievements of `uid` (optionally filtered), parsed.
  rapidjson::Document Status(const std::string& uid, Params extra = {}) {
    extra.insert(extra.begin(), {"UID", uid});
    return ParseJson(Member(Call("gm.getChallengeStatus", extra), "achievements"));
  }
  // The achievement of `uid` in one challenge, as {pointsTotal, level, isNewLevel} text.
  std::string Standing(const std::string& uid, const std::string& challenge) {
    rapidjson::Document a = Status(uid, {{"includeChallenges", challenge}});
    if (!a.IsArray() || a.Size() != 1) return "<not one achievement: " + ToJson(a) + ">";
    return absl::StrCat(Int(a[0], "pointsTotal"), " L", Int(a[0], "level"),
                        a[0]["isNewLevel"].IsTrue() ? " new" : "");
  }

  // The log of `uid` (optionally with more parameters), parsed.
  rapidjson::Document Log(const std::string& uid, Params extra = {}) {
    extra.insert(extra.begin(), {"UID", uid});
    return ParseJson(Member(Call("gm.getActionsLog", extra), "actions"));
  }
  // Log rows as "challengeID actionID points operation ip".
  std::vector<std::string> LogRows(const std::string& uid) {
    rapidjson::Document log = Log(uid);
    std::vector<std::string> rows;
    if (!log.IsArray()) return {"<not an array>"};
    for (const auto& e : log.GetArray()) {
      rows.push_back(absl::StrCat(Str(e, "challengeID"), " ", Str(e, "actionID"), " ",
                                  Int(e, "points"), " ", Str(e, "operation"), " ",
                                  e.HasMember("ip") ? Str(e, "ip") : ""));
    }
    return rows;
  }

  // Top users as "UID rank pointsTotal/points7Days".
  std::vector<std::string> Top(Params params) {
    rapidjson::Document users = ParseJson(Member(Call("gm.getTopUsers", params), "users"));
    std::vector<std::string> rows;
    if (!users.IsArray()) return {"<not an array>"};
    for (const auto& u : users.GetArray()) {
      std::string row = absl::StrCat(Str(u, "UID"), " ", Int(u, "rank"));
      if (u.HasMember("achievements") && u["achievements"].IsArray() &&
          u["achievements"].Size() == 1) {
        const rapidjson::Value& a = u["achievements"][0];
        absl::StrAppend(&row, " ", Int(a, "pointsTotal"), "/", Int(a, "points7Days"), " ",
                        Str(a, "challengeID"));
      } else {
        absl::StrAppend(&row, " <achievements: ", ToJson(u), ">");
      }
      rows.push_back(row);
    }
    return rows;
  }

  std::vector<std::string> ChallengeIds(Params params) {
    rapidjson::Document c = ParseJson(Member(Call("gm.getChallengeConfig", params), "challenges"));
    std::vector<std::string> ids;
    if (!c.IsArray()) return {"<not an array>"};
    for (const auto& x : c.GetArray()) ids.push_back(Str(x, "challengeID"));
    return ids;
  }
  std::vector<std::string> ActionIds(Params params) {
    rapidjson::Document a = ParseJson(Member(Call("gm.getActionConfig", params), "actions"));
    std::vector<std::string> ids;
    if (!a.IsArray()) return {"<not an array>"};
    for (const auto& x : a.GetArray()) ids.push_back(Str(x, "actionID"));
    return ids;
  }
};

constexpr char kQuizLevels[] =
    R"([{"level":2,"title":"Silver","description":"second","badgeURL":"https://b.example/2.png","pointsRequired":30},)"
    R"({"level":1,"title":"Bronze","description":"first","badgeURL":"https://b.example/1.png","pointsRequired":10}])";

// --- challenge configuration -------------------------------------------------------------------

TEST_F(HttpGmE2eTest, ChallengeConfigRoundTripsInGigyaNames) {
  // A fresh tenant already has _default.
  EXPECT_THAT(ChallengeIds({}), ElementsAre("_default"));

  SetChallenge("quiz", kQuizLevels, "true");
  SetChallenge("old", "", "false");
  HttpResult r = Call("gm.getChallengeConfig", {});
  rapidjson::Document doc = Ok(r);
  ASSERT_TRUE(doc.HasMember("challenges") && doc["challenges"].IsArray()) << r;
  const rapidjson::Value& list = doc["challenges"];
  ASSERT_EQ(list.Size(), 2u) << r;  // the disabled one is left out
  EXPECT_EQ(Str(list[0], "challengeID"), "_default");
  EXPECT_TRUE(list[0]["enabled"].IsTrue()) << r;
  EXPECT_THAT(ToJson(list[1]),
              JsonEq(R"({"challengeID":"quiz","title":"T quiz","description":"D quiz",)"
                     R"("enabled":true,"levels":[)"
                     R"({"level":1,"title":"Bronze","description":"first",)"
                     R"("badgeURL":"https://b.example/1.png","pointsRequired":10},)"
                     R"({"level":2,"title":"Silver","description":"second",)"
                     R"("badgeURL":"https://b.example/2.png","pointsRequired":30}]})"));

  // includeDisabledChallenges shows the disabled one, with enabled false.
  HttpResult all = Call("gm.getChallengeConfig", {{"includeDisabledChallenges", "true"}});
  rapidjson::Document all_doc = ParseJson(Member(all, "challenges"));
  ASSERT_TRUE(all_doc.IsArray() && all_doc.Size() == 3) << all;
  EXPECT_EQ(Str(all_doc[1], "challengeID"), "old");
  EXPECT_TRUE(all_doc[1]["enabled"].IsFalse()) << all;
  EXPECT_THAT(ToJson(all_doc[1]["levels"]), JsonEq("[]"));

  EXPECT_THAT(ChallengeIds({{"includeChallenges", "quiz"}}), ElementsAre("quiz"));
  EXPECT_THAT(ChallengeIds({{"excludeChallenges", "_default"}, {"includeDisabledChallenges", "1"}}),
              ElementsAre("old", "quiz"));
  ExpectBadValue(Call("gm.getChallengeConfig", {{"includeDisabledChallenges", "maybe"}}),
                 "includeDisabledChallenges");

  // Replacing a challenge replaces its levels. A field without data is left out, as in Gigya's
  // answers: here the level's description and badgeURL.
  SetChallenge("quiz", R"([{"level":1,"title":"Only","pointsRequired":5}])");
  rapidjson::Document quiz = ParseJson(
      Member(Call("gm.getChallengeConfig", {{"includeChallenges", "quiz"}}), "challenges"));
  ASSERT_TRUE(quiz.IsArray() && quiz.Size() == 1);
  EXPECT_THAT(ToJson(quiz[0]["levels"]),
              JsonEq(R"([{"level":1,"title":"Only","pointsRequired":5}])"));
}

TEST_F(HttpGmE2eTest, SetChallengeConfigRefusesBadLevelsAndChangesNothing) {
  ExpectBadFormat(Call("gm.setChallengeConfig", {{"challengeID", "quiz"}, {"levels", "[{oops"}}),
                  "levels");
  ExpectBadFormat(
      Call("gm.setChallengeConfig", {{"challengeID", "quiz"}, {"levels", R"({"level":1})"}}),
      "levels");
  ExpectBadFormat(
      Call("gm.setChallengeConfig",
           {{"challengeID", "quiz"}, {"levels", R"([{"level":1,"pointsRequired":"ten"}])"}}),
      "levels[0].pointsRequired");
  ExpectBadValue(Call("gm.setChallengeConfig", {{"challengeID", "quiz"}, {"enabled", "yes"}}),
                 "enabled");

  // Non-increasing pointsRequired: 400006 naming the second level in Gigya's spelling.
  HttpResult r = Call("gm.setChallengeConfig",
                      {{"challengeID", "quiz"},
                       {"levels", R"([{"level":1,"title":"a","pointsRequired":10},)"
                                  R"({"level":2,"title":"b","pointsRequired":10}])"}});
  ExpectBadValue(r, "levels[1].pointsRequired");
  rapidjson::Document doc = ParseJson(r.body);
  const std::string details = Str(doc, "errorDetails");
  EXPECT_THAT(details, Not(HasSubstr("points_required"))) << details;
  EXPECT_THAT(details, Not(HasSubstr("challenge."))) << details;
  EXPECT_TRUE(absl::StartsWith(details, "levels[1].pointsRequired")) << details;

  ExpectMissing(Call("gm.setChallengeConfig", {{"title", "no id"}}), "challengeID");
  // Disabling _default is refused.
  ExpectBadValue(Call("gm.setChallengeConfig", {{"challengeID", "_default"}, {"enabled", "false"}}),
                 "enabled");

  // None of the refused calls stored anything.
  EXPECT_THAT(ChallengeIds({{"includeDisabledChallenges", "true"}}), ElementsAre("_default"));
}

TEST_F(HttpGmE2eTest, DeleteChallengeRemovesItButNeverDefault) {
  SetChallenge("quiz", kQuizLevels);
  SetChallenge("poll", "");
  Ok(Call("gm.deleteChallenge", {{"challengeID", "quiz"}}));
  EXPECT_THAT(ChallengeIds({}), ElementsAre("_default", "poll"));
  // Deleting it again names a challenge that does not exist: 400006 naming challengeID (404000
  // is only an unknown method).
  ExpectBadValue(Call("gm.deleteChallenge", {{"challengeID", "quiz"}}), "challengeID");
  ExpectBadValue(Call("gm.deleteChallenge", {{"challengeID", "never"}}), "challengeID");

  ExpectBadValue(Call("gm.deleteChallenge", {{"challengeID", "_default"}}), "challengeID");
  ExpectMissing(Call("gm.deleteChallenge", {}), "challengeID");
  EXPECT_THAT(ChallengeIds({}), ElementsAre("_default", "poll"));
}

// --- action configuration ----------------------------------------------------------------------

TEST_F(HttpGmE2eTest, ActionConfigSetListFilterAndDelete) {
  SetChallenge("quiz", kQuizLevels);
  SetChallenge("poll", "");
  Ok(Call("gm.setActionConfig",
          {{"actionID", "share"},
           {"title", "Share"},
           {"description", "shares a page"},
           {"points", "5"},
           {"challenges", "quiz, poll"}},
          Via::kForm));
  SetAction("spam", -3);
  SetAction("visit", 1);

  HttpResult r = Call("gm.getActionConfig", {{"includeActions", "share"}});
  EXPECT_THAT(Member(r, "actions"),
              JsonEq(R"([{"actionID":"share","title":"Share","description":"shares a page",)"
                     R"("points":5,"challenges":["quiz","poll"]}])"));
  rapidjson::Document spam =
      ParseJson(Member(Call("gm.getActionConfig", {{"includeActions", "spam"}}), "actions"));
  ASSERT_TRUE(spam.IsArray() && spam.Size() == 1);
  EXPECT_EQ(Int(spam[0], "points"), -3);
  EXPECT_THAT(ToJson(spam[0]["challenges"]), JsonEq("[]"));

  EXPECT_THAT(ActionIds({}), ElementsAre("share", "spam", "visit"));
  EXPECT_THAT(ActionIds({{"includeActions", "*"}, {"excludeActions", "spam"}}),
              ElementsAre("share", "visit"));
  EXPECT_THAT(ActionIds({{"includeActions", "visit,spam,nope"}, {"excludeActions", "visit"}}),
              ElementsAre("spam"));
  ExpectBadFormat(Call("gm.getActionConfig", {{"includeActions", "a,,b"}}), "includeActions");

  // Bad setters name the parameter as sent.
  ExpectBadFormat(Call("gm.setActionConfig", {{"actionID", "x"}, {"points", "1.5"}}), "points");
  ExpectBadFormat(Call("gm.setActionConfig",
                       {{"actionID", "x"}, {"points", "1"}, {"challenges", "quiz,bad\x01id"}}),
                  "challenges[1]");
  ExpectMissing(Call("gm.setActionConfig", {{"points", "1"}}), "actionID");
  EXPECT_THAT(ActionIds({}), ElementsAre("share", "spam", "visit"));

  Ok(Call("gm.deleteAction", {{"actionID", "spam"}}));
  EXPECT_THAT(ActionIds({}), ElementsAre("share", "visit"));
  // An action that is no longer (or never was) configured: 400006 naming actionID.
  ExpectBadValue(Call("gm.deleteAction", {{"actionID", "spam"}}), "actionID");
  ExpectBadValue(Call("gm.deleteAction", {{"actionID", "never"}}), "actionID");
  ExpectMissing(Call("gm.deleteAction", {}), "actionID");
}

// --- users -------------------------------------------------------------------------------------

TEST_F(HttpGmE2eTest, NotifyActionGrantsPointsAndLogsTheIp) {
  SetChallenge("_default", R"([{"level":1,"title":"Bronze","pointsRequired":10}])");
  SetAction("earn", 6);
  Notify("u", "earn", {{"ip", "198.51.100.7"}});
  Notify("u", "earn");  // no ip: the caller's address
  EXPECT_THAT(LogRows("u"),
              ElementsAre("_default earn 6 grant 127.0.0.1", "_default earn 6 grant 198.51.100.7"));
  EXPECT_EQ(Standing("u", "_default"), "12 L1 new");

  ExpectBadValue(Call("gm.notifyAction", {{"UID", "u"}, {"action", "nope"}}), "action");
  HttpResult unknown = Call("gm.notifyAction", {{"UID", "u"}, {"action", "nope"}});
  EXPECT_THAT(Str(ParseJson(unknown.body), "errorDetails"), Not(HasSubstr("action_id")));
  ExpectMissing(Call("gm.notifyAction", {{"action", "earn"}}), "UID");
  ExpectMissing(Call("gm.notifyAction", {{"UID", "u"}}), "action");
  // A parameter notifyAction does not take is ignored; it does not rescue a refused call and is
  // never echoed.
  HttpResult ignored = Call("gm.notifyAction", {{"UID", "u"}, {"bogus_param", "1"}});
  ExpectMissing(ignored, "action");
  EXPECT_THAT(ignored.body, Not(HasSubstr("bogus")));
  // The refused calls changed nothing.
  EXPECT_EQ(LogRows("u").size(), 2u);
  EXPECT_EQ(Standing("u", "_default"), "12 L1 new");
}

TEST_F(HttpGmE2eTest, RepeatedRequestIdIsAppliedOnce) {
  SetAction("earn", 7);
  for (int i = 0; i < 3; ++i) Notify("u", "earn", {{"requestID", "order-1"}});
  EXPECT_EQ(Standing("u", "_default"), "7 L0");
  EXPECT_THAT(LogRows("u"), ElementsAre("_default earn 7 grant 127.0.0.1"));
  Notify("u", "earn", {{"requestID", "order-2"}});
  EXPECT_EQ(Standing("u", "_default"), "14 L0");
  // Redeem with a repeated requestID too.
  for (int i = 0; i < 2; ++i) {
    Ok(Call("gm.redeemPoints", {{"UID", "u"}, {"points", "4"}, {"requestID", "redeem-1"}}));
  }
  EXPECT_EQ(Standing("u", "_default"), "10 L0");
  EXPECT_EQ(LogRows("u").size(), 3u);
}

TEST_F(HttpGmE2eTest, RedeemPointsDeductsLogsAndRefusesWithoutChange) {
  SetChallenge("quiz", kQuizLevels);
  SetAction("earn", 15, "quiz");
  Notify("u", "earn");
  const std::vector<std::string> log_before = LogRows("u");
  // _default holds every action.
  ASSERT_THAT(log_before,
              ElementsAre("quiz earn 15 grant 127.0.0.1", "_default earn 15 grant 127.0.0.1"));

  // More than the balance: refused, nothing changes.
  ExpectBadValue(Call("gm.redeemPoints", {{"UID", "u"}, {"challenge", "quiz"}, {"points", "16"}}),
                 "points");
  ExpectBadFormat(Call("gm.redeemPoints", {{"UID", "u"}, {"challenge", "quiz"}, {"points", "2.5"}}),
                  "points");
  ExpectBadFormat(Call("gm.redeemPoints", {{"UID", "u"}, {"challenge", "quiz"}, {"points", "x"}}),
                  "points");
  ExpectBadValue(Call("gm.redeemPoints", {{"UID", "u"}, {"challenge", "quiz"}, {"points", "0"}}),
                 "points");
  ExpectMissing(Call("gm.redeemPoints", {{"UID", "u"}, {"challenge", "quiz"}}), "points");
  ExpectBadValue(Call("gm.redeemPoints", {{"UID", "u"}, {"challenge", "nope"}, {"points", "1"}}),
                 "challenge");
  // Without a challenge the balance of _default counts.
  ExpectBadValue(Call("gm.redeemPoints", {{"UID", "u"}, {"points", "16"}}), "points");
  EXPECT_EQ(LogRows("u"), log_before);
  EXPECT_EQ(Standing("u", "quiz"), "15 L1 new");
  EXPECT_EQ(Standing("u", "_default"), "15 L0");

  Ok(Call("gm.redeemPoints", {{"UID", "u"}, {"challenge", "quiz"}, {"points", "6"}}, Via::kForm));
  EXPECT_EQ(Standing("u", "quiz"), "9 L0 new");
  EXPECT_EQ(Standing("u", "_default"), "15 L0");  // other challenges are untouched
  rapidjson::Document log = Log("u");
  ASSERT_TRUE(log.IsArray() && log.Size() == 3) << ToJson(log);
  EXPECT_EQ(Int(log[0], "points"), -6);
  EXPECT_EQ(Str(log[0], "operation"), "redeem");
  EXPECT_EQ(Str(log[0], "challengeID"), "quiz");
  EXPECT_EQ(Str(log[1], "operation"), "grant");
  EXPECT_EQ(Int(log[1], "points"), 15);
}

TEST_F(HttpGmE2eTest, ActionsLogIsNewestFirstWithTimesFiltersAndPages) {
  SetAction("a1", 1);
  SetAction("a2", 2);
  SetAction("a3", 3);
  const int64_t before = absl::ToUnixSeconds(absl::Now());
  Notify("u", "a1");
  Notify("u", "a2");
  Notify("u", "a3");
  Ok(Call("gm.redeemPoints", {{"UID", "u"}, {"points", "4"}}));
  const int64_t after = absl::ToUnixSeconds(absl::Now());

  rapidjson::Document log = Log("u");
  ASSERT_TRUE(log.IsArray() && log.Size() == 4) << ToJson(log);
  std::vector<std::string> ids;
  static const std::regex kTime(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$)");
  for (const auto& e : log.GetArray()) {
    ids.push_back(Str(e, "actionID"));
    const std::string t = Str(e, "time");
    ASSERT_TRUE(std::regex_match(t, kTime)) << t;
    absl::Time parsed;
    std::string err;
    ASSERT_TRUE(absl::ParseTime("%Y-%m-%d %H:%M:%SZ", t, absl::UTCTimeZone(), &parsed, &err))
        << err;
    EXPECT_GE(absl::ToUnixSeconds(parsed), before) << t;
    EXPECT_LE(absl::ToUnixSeconds(parsed), after) << t;
  }
  EXPECT_THAT(ids, ElementsAre("_redeem", "a3", "a2", "a1"));
  EXPECT_EQ(Str(log[0], "operation"), "redeem");
  EXPECT_EQ(Int(log[0], "points"), -4);
  EXPECT_EQ(Str(log[1], "operation"), "grant");
  EXPECT_EQ(Int(log[1], "points"), 3);
  EXPECT_EQ(Str(log[1], "ip"), "127.0.0.1");
  EXPECT_EQ(Str(log[1], "challengeID"), "_default");

  // Time filters (unix seconds, inclusive).
  EXPECT_EQ(
      Log("u", {{"startTime", absl::StrCat(before - 60)}, {"endTime", absl::StrCat(after + 60)}})
          .Size(),
      4u);
  EXPECT_EQ(
      Log("u", {{"startTime", absl::StrCat(after + 3600)}, {"endTime", absl::StrCat(after + 7200)}})
          .Size(),
      0u);
  EXPECT_EQ(Log("u", {{"startTime", absl::StrCat(before - 7200)},
                      {"endTime", absl::StrCat(before - 3600)}})
                .Size(),
            0u);
  EXPECT_EQ(Log("u", {{"endTime", absl::StrCat(before - 1)}}).Size(), 0u);
  EXPECT_EQ(Log("u", {{"startTime", absl::StrCat(before)}}).Size(), 4u);
  HttpResult reversed = Call("gm.getActionsLog", {{"UID", "u"},
                                                  {"startTime", absl::StrCat(after + 10)},
                                                  {"endTime", absl::StrCat(before - 10)}});
  ExpectBadValue(reversed, "startTime");
  // errorDetails name no parameter the way only the service spells it (end_time).
  EXPECT_EQ(Str(ParseJson(reversed.body), "errorDetails"),
            absl::StrCat("startTime: ", after + 10, " is after the end time ", before - 10))
      << reversed;
  ExpectBadFormat(Call("gm.getActionsLog", {{"UID", "u"}, {"startTime", "yesterday"}}),
                  "startTime");

  // Pages: 2 + 2, the token leads to the rest, the last page has no token.
  HttpResult p1 = Call("gm.getActionsLog", {{"UID", "u"}, {"pageSize", "2"}});
  rapidjson::Document d1 = Ok(p1);
  ASSERT_TRUE(d1.HasMember("actions") && d1["actions"].IsArray()) << p1;
  ASSERT_EQ(d1["actions"].Size(), 2u) << p1;
  EXPECT_EQ(Str(d1["actions"][0], "actionID"), "_redeem");
  EXPECT_EQ(Str(d1["actions"][1], "actionID"), "a3");
  const std::string token = Str(d1, "nextPageToken");
  ASSERT_NE(token, "<absent>") << p1;
  ASSERT_FALSE(token.empty());
  HttpResult p2 = Call("gm.getActionsLog", {{"UID", "u"}, {"pageSize", "2"}, {"pageToken", token}});
  rapidjson::Document d2 = Ok(p2);
  ASSERT_TRUE(d2.HasMember("actions") && d2["actions"].IsArray()) << p2;
  ASSERT_EQ(d2["actions"].Size(), 2u) << p2;
  EXPECT_EQ(Str(d2["actions"][0], "actionID"), "a2");
  EXPECT_EQ(Str(d2["actions"][1], "actionID"), "a1");
  EXPECT_FALSE(d2.HasMember("nextPageToken")) << p2;
  ExpectBadFormat(Call("gm.getActionsLog", {{"UID", "u"}, {"pageToken", "garbage!"}}), "pageToken");

  // A user without data reads an empty log; the UID is required.
  EXPECT_THAT(Member(Call("gm.getActionsLog", {{"UID", "ghost"}}), "actions"), JsonEq("[]"));
  ExpectMissing(Call("gm.getActionsLog", {}), "UID");
}

TEST_F(HttpGmE2eTest, ChallengeStatusAndResetLevelStatus) {
  SetChallenge("quiz", kQuizLevels);
  SetChallenge("poll", R"([{"level":1,"title":"Voter","pointsRequired":1}])");
  SetAction("answer", 12, "quiz");
  SetAction("vote", 1, "poll");
  Notify("u", "answer");
  Notify("u", "vote");

  HttpResult r = Call("gm.getChallengeStatus", {{"UID", "u"}});
  rapidjson::Document all = ParseJson(Member(r, "achievements"));
  ASSERT_TRUE(all.IsArray() && all.Size() == 3) << r;
  EXPECT_EQ(Str(all[0], "challengeID"), "_default");
  EXPECT_EQ(Int(all[0], "pointsTotal"), 13);  // _default holds every action
  EXPECT_EQ(Str(all[1], "challengeID"), "poll");
  EXPECT_THAT(ToJson(all[2]),
              JsonEq(R"({"challengeID":"quiz","level":1,"levelTitle":"Bronze",)"
                     R"("levelDescription":"first","badgeURL":"https://b.example/1.png",)"
                     R"("pointsTotal":12,"points7Days":12,"isNewLevel":true})"));

  rapidjson::Document only =
      Status("u", {{"includeChallenges", "quiz,poll"}, {"excludeChallenges", "poll"}});
  ASSERT_TRUE(only.IsArray() && only.Size() == 1) << ToJson(only);
  EXPECT_EQ(Str(only[0], "challengeID"), "quiz");
  rapidjson::Document rest = Status("u", {{"excludeChallenges", "quiz"}});
  ASSERT_TRUE(rest.IsArray() && rest.Size() == 2) << ToJson(rest);
  ExpectBadFormat(Call("gm.getChallengeStatus", {{"UID", "u"}, {"includeChallenges", "a,,b"}}),
                  "includeChallenges");

  // A user without data: level-0 rows with zero points. Level 0 has no title, description or
  // badge, and a field without data is left out, as in Gigya's answers.
  rapidjson::Document ghost = Status("ghost", {{"includeChallenges", "quiz"}});
  ASSERT_TRUE(ghost.IsArray() && ghost.Size() == 1) << ToJson(ghost);
  EXPECT_THAT(ToJson(ghost[0]),
              JsonEq(R"({"challengeID":"quiz","level":0,"pointsTotal":0,"points7Days":0,)"
                     R"("isNewLevel":false})"));
  ExpectMissing(Call("gm.getChallengeStatus", {}), "UID");

  // Reset clears isNewLevel of that challenge only.
  Ok(Call("gm.resetLevelStatus", {{"UID", "u"}, {"challenge", "quiz"}}, Via::kForm));
  EXPECT_EQ(Standing("u", "quiz"), "12 L1");
  EXPECT_EQ(Standing("u", "poll"), "1 L1 new");
  ExpectBadValue(Call("gm.resetLevelStatus", {{"UID", "u"}, {"challenge", "nope"}}), "challenge");
  ExpectMissing(Call("gm.resetLevelStatus", {{"challenge", "quiz"}}), "UID");
  // Reaching a higher level sets it again.
  Notify("u", "answer");
  Notify("u", "answer");
  EXPECT_EQ(Standing("u", "quiz"), "36 L2 new");
}

TEST_F(HttpGmE2eTest, TopUsersRankByPeriodWithSelf) {
  SetAction("one", 1);
  SetAction("five", 5);
  for (const char* uid : {"carol", "alice", "bob"}) Notify(uid, "five");
  Notify("bob", "one");
  Notify("dave", "one");
  Ok(Call("gm.redeemPoints", {{"UID", "bob"}, {"points", "6"}}));  // all-time 0, 7 days 6

  EXPECT_THAT(Top({{"period", "all"}}),
              ElementsAre("alice 1 5/5 _default", "carol 2 5/5 _default", "dave 3 1/1 _default"));
  const std::vector<std::string> week = {"bob 1 0/6 _default", "alice 2 5/5 _default",
                                         "carol 3 5/5 _default", "dave 4 1/1 _default"};
  EXPECT_EQ(Top({{"period", "7days"}}), week);
  EXPECT_EQ(Top({}), week);  // 7days is the default
  EXPECT_EQ(Top({{"period", "7days"}, {"challenge", "_default"}}), week);
  EXPECT_THAT(Top({{"period", "all"}, {"totalCount", "2"}}),
              ElementsAre("alice 1 5/5 _default", "carol 2 5/5 _default"));
  // includeSelf (default true) adds the caller when outside the list.
  EXPECT_THAT(Top({{"period", "all"}, {"totalCount", "1"}, {"UID", "dave"}}),
              ElementsAre("alice 1 5/5 _default", "dave 3 1/1 _default"));
  EXPECT_THAT(
      Top({{"period", "all"}, {"totalCount", "1"}, {"UID", "dave"}, {"includeSelf", "true"}}),
      ElementsAre("alice 1 5/5 _default", "dave 3 1/1 _default"));
  EXPECT_THAT(Top({{"period", "all"}, {"totalCount", "1"}, {"UID", "bob"}}),
              ElementsAre("alice 1 5/5 _default", "bob 0 0/6 _default"));
  EXPECT_THAT(
      Top({{"period", "all"}, {"totalCount", "1"}, {"UID", "dave"}, {"includeSelf", "false"}}),
      ElementsAre("alice 1 5/5 _default"));

  ExpectBadValue(Call("gm.getTopUsers", {{"totalCount", "0"}}), "totalCount");
  ExpectBadValue(Call("gm.getTopUsers", {{"totalCount", "101"}}), "totalCount");
  ExpectBadFormat(Call("gm.getTopUsers", {{"totalCount", "ten"}}), "totalCount");
  ExpectBadValue(Call("gm.getTopUsers", {{"period", "month"}}), "period");
  ExpectBadValue(Call("gm.getTopUsers", {{"challenge", "nope"}}), "challenge");
  EXPECT_EQ(Top({{"period", "all"}, {"totalCount", "100"}}).size(), 3u);
}

// --- envelope, transports, JSONP ---------------------------------------------------------------

TEST_F(HttpGmE2eTest, EnvelopeOnAGmRoute) {
  HttpResult r = Call("gm.getChallengeConfig", {{"context", "ctx-1"}});
  EXPECT_EQ(r.status, 200) << r;
  rapidjson::Document doc = Envelope(r, 0);
  EXPECT_EQ(Str(doc, "context"), "ctx-1");
  EXPECT_TRUE(doc.HasMember("challenges")) << r;
  EXPECT_EQ(r.HeaderOr("access-control-allow-origin"), "*");
  EXPECT_THAT(r.HeaderOr("content-type"), HasSubstr("application/json"));
  // callIds differ between calls.
  HttpResult r2 = Call("gm.getChallengeConfig", {});
  EXPECT_NE(Str(ParseJson(r2.body), "callId"), Str(doc, "callId"));

  // An error on a gm route: HTTP 200, or the status code with httpStatusCodes=true.
  HttpResult e = Call("gm.notifyAction", {{"UID", "u"}, {"action", "nope"}});
  EXPECT_EQ(e.status, 200) << e;
  Envelope(e, 400006);
  HttpResult e2 =
      Call("gm.notifyAction", {{"UID", "u"}, {"action", "nope"}, {"httpStatusCodes", "true"}});
  EXPECT_EQ(e2.status, 400) << e2;
  Envelope(e2, 400006);
}

TEST_F(HttpGmE2eTest, QueryFormAndJsonGiveTheSameResults) {
  SetChallenge("quiz", kQuizLevels);
  // Configure and write through each transport.
  Ok(Call("gm.setActionConfig", {{"actionID", "a"}, {"points", "4"}, {"challenges", "quiz"}},
          Via::kQuery));
  Ok(Call("gm.setActionConfig", {{"actionID", "b"}, {"points", "3"}, {"challenges", "_default"}},
          Via::kForm));
  Ok(Call("gm.setActionConfig", {{"actionID", "c"}, {"points", "2"}, {"challenges", "quiz"}},
          Via::kJson));
  Ok(Call("gm.notifyAction", {{"UID", "u"}, {"action", "a"}, {"ip", "10.0.0.1"}}, Via::kQuery));
  Ok(Call("gm.notifyAction", {{"UID", "u"}, {"action", "b"}, {"ip", "10.0.0.2"}}, Via::kForm));
  Ok(Call("gm.notifyAction", {{"UID", "u"}, {"action", "c"}, {"ip", "10.0.0.3"}}, Via::kJson));
  EXPECT_THAT(LogRows("u"), ElementsAre("quiz c 2 grant 10.0.0.3", "_default c 2 grant 10.0.0.3",
                                        "_default b 3 grant 10.0.0.2", "quiz a 4 grant 10.0.0.1",
                                        "_default a 4 grant 10.0.0.1"));

  const std::vector<std::pair<std::string, Params>> reads = {
      {"gm.getChallengeConfig", {}},
      {"gm.getActionConfig", {{"excludeActions", "b"}}},
      {"gm.getChallengeStatus", {{"UID", "u"}}},
      {"gm.getActionsLog", {{"UID", "u"}}},
      {"gm.getTopUsers", {{"period", "all"}, {"challenge", "quiz"}}},
  };
  for (const auto& [method, params] : reads) {
    std::vector<std::string> answers;
    for (Via via : {Via::kQuery, Via::kForm, Via::kJson}) {
      rapidjson::Document doc = Ok(Call(method, params, via));
      doc.RemoveMember("callId");
      doc.RemoveMember("time");
      answers.push_back(ToJson(doc));
    }
    EXPECT_THAT(answers[1], JsonEq(answers[0])) << method;
    EXPECT_THAT(answers[2], JsonEq(answers[0])) << method;
  }
  EXPECT_EQ(Standing("u", "quiz"), "6 L0");
  // Errors read the same way through each transport.
  for (Via via : {Via::kQuery, Via::kForm, Via::kJson}) {
    ExpectBadValue(
        Call("gm.redeemPoints", {{"UID", "u"}, {"challenge", "quiz"}, {"points", "7"}}, via),
        "points");
  }
}

TEST_F(HttpGmE2eTest, JsonpOnAGmRoute) {
  SetAction("earn", 2);
  Notify("u", "earn");
  HttpResult r = Call("gm.getChallengeStatus",
                      {{"UID", "u"}, {"format", "jsonp"}, {"callback", "cb.on_status$1"}});
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.HeaderOr("content-type"), HasSubstr("text/javascript"));
  const std::string prefix = "cb.on_status$1(";
  ASSERT_TRUE(absl::StartsWith(r.body, prefix)) << r;
  ASSERT_TRUE(absl::EndsWith(r.body, ");")) << r;
  HttpResult inner;
  inner.status = 200;
  inner.body = r.body.substr(prefix.size(), r.body.size() - prefix.size() - 2);
  rapidjson::Document doc = Envelope(inner, 0);
  ASSERT_TRUE(doc.HasMember("achievements") && doc["achievements"].IsArray()) << r;
  ASSERT_EQ(doc["achievements"].Size(), 1u);
  EXPECT_EQ(Int(doc["achievements"][0], "pointsTotal"), 2);

  // An error is wrapped as well.
  HttpResult e = Call("gm.notifyAction",
                      {{"UID", "u"}, {"action", "nope"}, {"format", "jsonp"}, {"callback", "f"}});
  ASSERT_TRUE(absl::StartsWith(e.body, "f(") && absl::EndsWith(e.body, ");")) << e;
  inner.body = e.body.substr(2, e.body.size() - 4);
  Envelope(inner, 400006);
  // An unsafe callback is refused and never echoed.
  HttpResult bad = Call("gm.getChallengeStatus",
                        {{"UID", "u"}, {"format", "jsonp"}, {"callback", "alert(1)//"}});
  EXPECT_THAT(bad.HeaderOr("content-type"), Not(HasSubstr("javascript")));
  EXPECT_FALSE(absl::StartsWith(bad.body, "alert")) << bad;
  ExpectBadValue(bad, "callback");
  // A write through JSONP is applied.
  HttpResult w = Call("gm.notifyAction",
                      {{"UID", "u"}, {"action", "earn"}, {"format", "jsonp"}, {"callback", "g"}});
  ASSERT_TRUE(absl::StartsWith(w.body, "g(") && absl::EndsWith(w.body, ");")) << w;
  inner.body = w.body.substr(2, w.body.size() - 4);
  Envelope(inner, 0);
  EXPECT_EQ(Standing("u", "_default"), "4 L0");
}

// --- legacy clients as they really call
// ------------------------------------------------------------

// gm.* methods ignore what they do not take (SDK and jQuery parameters) and apply the call once.
TEST_F(HttpGmE2eTest, ParametersOfLegacyClientsAreIgnored) {
  SetAction("earn", 5);
  Ok(Call("gm.notifyAction",
          {{"UID", "u"},
           {"action", "earn"},
           {"sdk", "python_3.6.0"},
           {"format", "json"},
           {"httpStatusCodes", "false"}},
          Via::kForm));
  Ok(Call("gm.notifyAction", {{"UID", "u"},
                              {"action", "earn"},
                              {"sdk", "js_latest"},
                              {"targetEnv", "jssdk"},
                              {"pageURL", "https://shop.example/"},
                              {"sdkBuild", "15703"},
                              {"authMode", "cookie"},
                              {"_", "1700000000000"},
                              {"cid", "w1"}}));
  Ok(Call("gm.getActionsLog", {{"UID", "u"}, {"sdk", "python_3.6.0"}}, Via::kJson));
  EXPECT_EQ(Standing("u", "_default"), "10 L0");
  EXPECT_EQ(LogRows("u").size(), 2u);
}

// The same boolean rule as every method: true/false in any case, 1/0; anything else 400006.
TEST_F(HttpGmE2eTest, BooleansAreTheSameInEveryMethod) {
  SetChallenge("quiz", kQuizLevels);
  for (const char* no : {"FALSE", "False", "0", "false"}) {
    Ok(Call("gm.setChallengeConfig", {{"challengeID", "quiz"}, {"enabled", no}}));
    EXPECT_THAT(ChallengeIds({{"includeChallenges", "quiz"}}), ElementsAre()) << no;
    EXPECT_THAT(
        ChallengeIds({{"includeChallenges", "quiz"}, {"includeDisabledChallenges", "TRUE"}}),
        ElementsAre("quiz"))
        << no;
  }
  for (const char* yes : {"TRUE", "True", "1", "true"}) {
    Ok(Call("gm.setChallengeConfig", {{"challengeID", "quiz"}, {"enabled", yes}}));
    EXPECT_THAT(ChallengeIds({{"includeChallenges", "quiz"}, {"includeDisabledChallenges", "0"}}),
                ElementsAre("quiz"))
        << yes;
  }
  for (const char* bad : {"yes", "2", "on"}) {
    ExpectBadValue(Call("gm.setChallengeConfig", {{"challengeID", "quiz"}, {"enabled", bad}}),
                   "enabled");
    ExpectBadValue(Call("gm.getTopUsers", {{"includeSelf", bad}}), "includeSelf");
    ExpectBadValue(Call("gm.getChallengeConfig", {{"includeDisabledChallenges", bad}}),
                   "includeDisabledChallenges");
    ExpectBadValue(Call("gm.getActionsLog", {{"UID", "u"}, {"dontHandleScreenSet", bad}}),
                   "dontHandleScreenSet");
  }
  // The refused enabled=yes left the challenge enabled.
  EXPECT_THAT(ChallengeIds({{"includeChallenges", "quiz"}}), ElementsAre("quiz"));
  // includeSelf in any case, or 1/0: adds the caller outside the top list or not.
  SetAction("earn", 1);
  SetAction("big", 5);
  Notify("me", "earn");
  Notify("top", "big");
  for (const char* yes : {"TRUE", "True", "1"}) {
    EXPECT_THAT(Top({{"UID", "me"}, {"totalCount", "1"}, {"includeSelf", yes}, {"period", "all"}}),
                ElementsAre("top 1 5/5 _default", "me 2 1/1 _default"))
        << yes;
  }
  for (const char* no : {"FALSE", "False", "0"}) {
    EXPECT_THAT(Top({{"UID", "me"}, {"totalCount", "1"}, {"includeSelf", no}, {"period", "all"}}),
                ElementsAre("top 1 5/5 _default"))
        << no;
  }
}

// Level members are named in errors as the caller wrote them.
TEST_F(HttpGmE2eTest, ErrorDetailsNameLevelMembersAsTheCallerSpelledThem) {
  for (const char* member : {"badge_url", "_", "points_required"}) {
    HttpResult r = Call(
        "gm.setChallengeConfig",
        {{"challengeID", "c"}, {"levels", absl::StrCat(R"([{"level":1,")", member, R"(":"x"}])")}});
    ExpectBadValue(r, absl::StrCat("levels[0].", member, ": is not a level member"));
  }
  // The service's names still read in Gigya's spelling.
  HttpResult r = Call("gm.setChallengeConfig",
                      {{"challengeID", "c"}, {"levels", R"([{"level":1,"pointsRequired":-1}])"}});
  EXPECT_THAT(Str(ParseJson(r.body), "errorDetails"), HasSubstr("levels[0].pointsRequired"));
  EXPECT_THAT(ChallengeIds({}), ElementsAre("_default"));
}

// Without pageSize/pageToken the log holds every action of the time frame (more than a page of
// 1000); paging stays available as an opt-in.
TEST_F(HttpGmE2eTest, ActionsLogWithoutPagingReturnsEveryAction) {
  SetAction("first", 1);
  SetAction("tick", 1);
  SetAction("last", 1);
  constexpr int kTicks = 1205;
  Notify("u", "first");
  for (int i = 0; i < kTicks; ++i) Notify("u", "tick");
  Notify("u", "last");
  constexpr size_t kAll = kTicks + 2;
  for (Via via : {Via::kQuery, Via::kForm, Via::kJson}) {
    HttpResult r = Call("gm.getActionsLog", {{"UID", "u"}}, via);
    rapidjson::Document doc = Ok(r);
    ASSERT_TRUE(doc.HasMember("actions") && doc["actions"].IsArray());
    ASSERT_EQ(doc["actions"].Size(), kAll);
    EXPECT_EQ(Str(doc["actions"][0], "actionID"), "last");
    EXPECT_EQ(Str(doc["actions"][kAll - 1], "actionID"), "first");
    EXPECT_FALSE(doc.HasMember("nextPageToken"));
  }
  // With a time frame that holds them all, too.
  EXPECT_EQ(Log("u", {{"startTime", "0"},
                      {"endTime", absl::StrCat(absl::ToUnixSeconds(absl::Now()) + 60)}})
                .Size(),
            kAll);
  // Paging on request: pageSize gives a page and a token; the token alone continues in pages
  // of 1000; the last page has no token.
  HttpResult p1 = Call("gm.getActionsLog", {{"UID", "u"}, {"pageSize", "7"}});
  rapidjson::Document d1 = Ok(p1);
  ASSERT_EQ(d1["actions"].Size(), 7u);
  EXPECT_EQ(Str(d1["actions"][0], "actionID"), "last");
  const std::string t1 = Str(d1, "nextPageToken");
  ASSERT_NE(t1, "<absent>");
  HttpResult p2 = Call("gm.getActionsLog", {{"UID", "u"}, {"pageToken", t1}});
  rapidjson::Document d2 = Ok(p2);
  ASSERT_EQ(d2["actions"].Size(), 1000u);
  const std::string t2 = Str(d2, "nextPageToken");
  ASSERT_NE(t2, "<absent>");
  HttpResult p3 = Call("gm.getActionsLog", {{"UID", "u"}, {"pageToken", t2}, {"pageSize", "1000"}});
  rapidjson::Document d3 = Ok(p3);
  ASSERT_EQ(d3["actions"].Size(), kAll - 1007);
  EXPECT_EQ(Str(d3["actions"][kAll - 1008], "actionID"), "first");
  EXPECT_FALSE(d3.HasMember("nextPageToken"));
  ExpectBadValue(Call("gm.getActionsLog", {{"UID", "u"}, {"pageSize", "0"}}), "pageSize");
}

// Exactly kGigyaActionsLogMaxActions (10000) actions are answered at once; one more in the time
// frame is refused loudly, naming the limit and how to page, never truncated; paging reads all.
TEST_F(HttpGmE2eTest, ActionsLogBeyondTheLimitIsRefusedNamingTheLimitAndPaging) {
  SetAction("tick", 1);
  SetAction("last", 1);
  constexpr int kLimit = 10000;
  for (int i = 0; i < kLimit; ++i) Notify("u", "tick");
  {
    rapidjson::Document doc = Ok(Call("gm.getActionsLog", {{"UID", "u"}}));
    ASSERT_TRUE(doc.HasMember("actions") && doc["actions"].IsArray());
    EXPECT_EQ(doc["actions"].Size(), static_cast<size_t>(kLimit));
    EXPECT_FALSE(doc.HasMember("nextPageToken"));
  }
  Notify("u", "last");
  for (Via via : {Via::kQuery, Via::kJson}) {
    HttpResult r = Call("gm.getActionsLog", {{"UID", "u"}}, via);
    ExpectBadValue(r, "the time frame holds more than 10000 actions");
    rapidjson::Document doc = ParseJson(r.body);
    EXPECT_FALSE(doc.HasMember("actions")) << "a truncated list is never answered";
    const std::string details = Str(doc, "errorDetails");
    EXPECT_THAT(details, HasSubstr("pageSize"));
    EXPECT_THAT(details, HasSubstr("pageToken"));
    EXPECT_THAT(details, HasSubstr("nextPageToken"));
  }
  HttpResult coded = Call("gm.getActionsLog", {{"UID", "u"}, {"httpStatusCodes", "1"}});
  EXPECT_EQ(coded.status, 400) << coded;
  Envelope(coded, 400006);
  // Paging reads every action, newest first.
  size_t total = 0;
  std::string token;
  for (int page = 0; page < 20; ++page) {
    Params p = {{"UID", "u"}, {"pageSize", "1000"}};
    if (!token.empty()) p.emplace_back("pageToken", token);
    rapidjson::Document d = Ok(Call("gm.getActionsLog", p));
    ASSERT_TRUE(d.HasMember("actions") && d["actions"].IsArray());
    if (page == 0) {
      EXPECT_EQ(Str(d["actions"][0], "actionID"), "last");
    }
    total += d["actions"].Size();
    if (!d.HasMember("nextPageToken")) break;
    token = Str(d, "nextPageToken");
  }
  EXPECT_EQ(total, static_cast<size_t>(kLimit + 1));
}
}  // namespace
}  // namespace countd::e2e
