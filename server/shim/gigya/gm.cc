// Gigya gm.* Game Mechanics methods over the GameMechanics API: each method parses its parameters
// into a GameMechanics request (pure), then calls the service and writes Gigya's members.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "rapidjson/document.h"
#include "server/logic/status_util.h"
#include "server/shim/internal/gigya/methods.h"
#include "server/shim/internal/json.h"
#include "server/shim/internal/routes.h"

namespace countd::shim {
namespace {

using api::GmApi;
using Fields = absl::StatusOr<std::string>;

// A whole decimal number (optional leading '-'), else 400004 naming `name`.
absl::StatusOr<int64_t> ParseInt(absl::string_view name, absl::string_view text) {
  int64_t v = 0;
  bool digits = !text.empty();
  for (size_t i = 0; i < text.size(); ++i) {
    if (!(absl::ascii_isdigit(static_cast<unsigned char>(text[i])) || (i == 0 && text[i] == '-'))) {
      digits = false;
    }
  }
  if (!digits || !absl::SimpleAtoi(text, &v)) {
    return logic::BadFormat(name, absl::StrCat(logic::Quote(text), " is not a whole number"));
  }
  return v;
}

// A list of ids: Gigya's comma list ("a, b"), or a JSON array of strings, as an SDK encodes a
// list parameter and as gm.getActionConfig answers it. Absent or empty is no id. Errors: 400004
// naming `name` when the value opens a JSON array that is not one of strings.
absl::StatusOr<std::vector<std::string>> ParseIdList(const GigyaParams& p, absl::string_view name) {
  std::vector<std::string> out;
  const std::string* raw = p.Find(name);
  if (raw == nullptr) return out;
  absl::string_view text = absl::StripAsciiWhitespace(*raw);
  if (!absl::StartsWith(text, "[")) {
    for (absl::string_view id : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
      out.emplace_back(absl::StripAsciiWhitespace(id));
    }
    return out;
  }
  rapidjson::Document doc;
  bool ok = ParseJson(text, &doc).ok() && doc.IsArray();
  if (ok) {
    for (const rapidjson::Value& id : doc.GetArray()) {
      if (!id.IsString()) {
        ok = false;
        break;
      }
      out.emplace_back(id.GetString(), id.GetStringLength());
    }
  }
  if (!ok) {
    return logic::BadFormat(name, "must be a comma list or a JSON array of strings");
  }
  return out;
}

// Reads an optional integer parameter into `set` when present.
template <typename Set>
absl::Status OptionalInt(const GigyaParams& p, absl::string_view name, Set set) {
  const std::string* v = p.Find(name);
  if (v == nullptr || v->empty()) return absl::OkStatus();
  absl::StatusOr<int64_t> n = ParseInt(name, *v);
  if (!n.ok()) return n.status();
  set(*n);
  return absl::OkStatus();
}

std::string Opt(const GigyaParams& p, absl::string_view name) {
  const std::string* v = p.Find(name);
  return v == nullptr ? std::string() : *v;
}

// `,"name":"value"`, or nothing when `value` is empty: Gigya leaves out a field that holds no
// data (the getActionsLog page says so).
std::string OptionalString(absl::string_view name, absl::string_view value) {
  return value.empty() ? std::string() : absl::StrCat(",\"", name, "\":", JsonQuote(value));
}

std::string AchievementJson(const v1::Achievement& a) {
  return absl::StrCat("{\"challengeID\":", JsonQuote(a.challenge_id()), ",\"level\":", a.level(),
                      OptionalString("levelTitle", a.level_title()),
                      OptionalString("levelDescription", a.level_description()),
                      OptionalString("badgeURL", a.badge_url()),
                      ",\"pointsTotal\":", a.points_total(), ",\"points7Days\":", a.points_7days(),
                      ",\"isNewLevel\":", a.is_new_level() ? "true" : "false", "}");
}

template <typename List>
std::string AchievementsJson(const List& list) {
  std::string out = "[";
  for (int i = 0; i < list.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", AchievementJson(list.Get(i)));
  }
  return out + "]";
}

std::string ActionJson(const v1::Action& a) {
  std::string challenges = "[";
  for (int i = 0; i < a.challenges_size(); ++i) {
    absl::StrAppend(&challenges, i == 0 ? "" : ",", JsonQuote(a.challenges(i)));
  }
  return absl::StrCat("{\"actionID\":", JsonQuote(a.action_id()),
                      OptionalString("title", a.title()),
                      OptionalString("description", a.description()), ",\"points\":", a.points(),
                      ",\"challenges\":", challenges, "]}");
}

std::string ChallengeJson(const v1::Challenge& c) {
  std::string levels = "[";
  for (int i = 0; i < c.levels_size(); ++i) {
    const v1::Level& l = c.levels(i);
    absl::StrAppend(
        &levels, i == 0 ? "" : ",", "{\"level\":", l.level(), OptionalString("title", l.title()),
        OptionalString("description", l.description()), OptionalString("badgeURL", l.badge_url()),
        ",\"pointsRequired\":", l.points_required(), "}");
  }
  return absl::StrCat("{\"challengeID\":", JsonQuote(c.challenge_id()),
                      OptionalString("title", c.title()),
                      OptionalString("description", c.description()),
                      ",\"enabled\":", !c.has_enabled() || c.enabled() ? "true" : "false",
                      ",\"levels\":", levels, "]}");
}

// `levels`: a JSON array of {level, title, description, badgeURL, pointsRequired}.
absl::Status ParseLevels(absl::string_view text, v1::Challenge* out) {
  rapidjson::Document doc;
  if (!ParseJson(text, &doc).ok() || !doc.IsArray()) {
    return logic::BadFormat("levels", "must be a JSON array of level objects");
  }
  rapidjson::SizeType i = 0;
  for (const rapidjson::Value& item : doc.GetArray()) {
    std::string at = absl::StrCat("levels[", i++, "]");
    if (!item.IsObject()) return logic::BadFormat(at, "must be an object");
    if (absl::optional<std::string> twice = RepeatedMember(item)) {
      return logic::BadFormat(absl::StrCat(at, ".", *twice), "given more than once");
    }
    v1::Level* level = out->add_levels();
    for (const auto& m : item.GetObject()) {
      absl::string_view name(m.name.GetString(), m.name.GetStringLength());
      std::string field = absl::StrCat(at, ".", name);
      if (name == "level" || name == "pointsRequired") {
        // As counters' counts: a whole number, also written 2.0 or as a string ("2").
        absl::StatusOr<int64_t> n = WholeMember(m.value, field);
        if (!n.ok()) return n.status();
        if (name == "level") {
          if (*n < std::numeric_limits<int32_t>::min() ||
              *n > std::numeric_limits<int32_t>::max()) {
            return logic::BadValue(field, "is out of range");
          }
          level->set_level(static_cast<int32_t>(*n));
        } else {
          level->set_points_required(*n);
        }
      } else if (name == "title" || name == "description" || name == "badgeURL") {
        if (!m.value.IsString()) return logic::BadFormat(field, "must be a string");
        std::string v(m.value.GetString(), m.value.GetStringLength());
        if (name == "title") level->set_title(v);
        if (name == "description") level->set_description(v);
        if (name == "badgeURL") level->set_badge_url(v);
      } else {
        return logic::BadValue(field, "is not a level member");
      }
    }
  }
  return absl::OkStatus();
}

// --- parse: parameters -> request (pure) -------------------------------------------------------

absl::StatusOr<v1::NotifyActionRequest> ParseNotifyAction(const GigyaParams& p,
                                                          const http::HttpRequest& request) {
  v1::NotifyActionRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_uid(Opt(p, "UID"));
  req.set_action_id(Opt(p, "action"));
  const std::string* ip = p.Find("ip");
  req.set_ip(ip != nullptr && !ip->empty() ? *ip : request.remote_ip);
  req.set_request_id(Opt(p, "requestID"));
  return req;
}

absl::StatusOr<v1::RedeemPointsRequest> ParseRedeemPoints(const GigyaParams& p,
                                                          const http::HttpRequest&) {
  v1::RedeemPointsRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_uid(Opt(p, "UID"));
  req.set_challenge_id(Opt(p, "challenge"));
  req.set_request_id(Opt(p, "requestID"));
  absl::StatusOr<std::string> points = p.Required("points");
  if (!points.ok()) return points.status();
  absl::StatusOr<int64_t> n = ParseInt("points", *points);
  if (!n.ok()) return n.status();
  req.set_points(*n);
  return req;
}

absl::StatusOr<v1::GetActionsLogRequest> ParseGetActionsLog(const GigyaParams& p,
                                                            const http::HttpRequest&) {
  v1::GetActionsLogRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_uid(Opt(p, "UID"));
  req.set_page_token(Opt(p, "pageToken"));
  absl::Status s = OptionalInt(p, "startTime", [&](int64_t v) { req.set_start_time(v); });
  if (s.ok()) s = OptionalInt(p, "endTime", [&](int64_t v) { req.set_end_time(v); });
  if (s.ok()) {
    s = OptionalInt(p, "pageSize", [&](int64_t v) {
      req.set_page_size(static_cast<int32_t>(std::clamp<int64_t>(v, -1, 1'000'000)));
    });
  }
  if (!s.ok()) return s;
  // Paging is opt-in: pageSize or pageToken asks for one page. page_size 0 with no token is how
  // the request says "every action" to the call step, so a given pageSize must be >= 1.
  if (const std::string* size = p.Find("pageSize"); size != nullptr && !size->empty()) {
    if (req.page_size() < 1) {
      return logic::BadValue("pageSize", absl::StrCat(logic::Quote(*size), " is outside 1..",
                                                      kGigyaActionsLogPageSize));
    }
  } else if (!req.page_token().empty()) {
    req.set_page_size(kGigyaActionsLogPageSize);
  }
  return req;
}

absl::StatusOr<v1::GetChallengeStatusRequest> ParseGetChallengeStatus(const GigyaParams& p,
                                                                      const http::HttpRequest&) {
  v1::GetChallengeStatusRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_uid(Opt(p, "UID"));
  req.set_include(Opt(p, "includeChallenges"));
  req.set_exclude(Opt(p, "excludeChallenges"));
  return req;
}

absl::StatusOr<v1::ResetLevelStatusRequest> ParseResetLevelStatus(const GigyaParams& p,
                                                                  const http::HttpRequest&) {
  v1::ResetLevelStatusRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_uid(Opt(p, "UID"));
  req.set_challenge_id(Opt(p, "challenge"));
  return req;
}

absl::StatusOr<v1::GetTopUsersRequest> ParseGetTopUsers(const GigyaParams& p,
                                                        const http::HttpRequest&) {
  v1::GetTopUsersRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_uid(Opt(p, "UID"));
  req.set_challenge_id(Opt(p, "challenge"));
  absl::Status s = OptionalInt(p, "totalCount", [&](int64_t v) {
    req.set_total_count(static_cast<int32_t>(std::clamp<int64_t>(v, -1, 1'000'000)));
  });
  if (!s.ok()) return s;
  std::string period = Opt(p, "period");
  if (period == "all") {
    req.set_period(v1::PERIOD_ALL);
  } else if (period == "7days" || period.empty()) {
    req.set_period(v1::PERIOD_DAYS7);
  } else {
    return logic::BadValue("period", absl::StrCat(logic::Quote(period), " is not all or 7days"));
  }
  absl::StatusOr<absl::optional<bool>> self = p.OptionalBool("includeSelf");
  if (!self.ok()) return self.status();
  if (self->has_value()) req.set_include_self(**self);
  return req;
}

absl::StatusOr<v1::SetActionConfigRequest> ParseSetActionConfig(const GigyaParams& p,
                                                                const http::HttpRequest&) {
  v1::SetActionConfigRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  v1::Action* a = req.mutable_action();
  a->set_action_id(Opt(p, "actionID"));
  a->set_title(Opt(p, "title"));
  a->set_description(Opt(p, "description"));
  absl::Status s = OptionalInt(p, "points", [&](int64_t v) { a->set_points(v); });
  if (!s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> challenges = ParseIdList(p, "challenges");
  if (!challenges.ok()) return challenges.status();
  for (std::string& c : *challenges) a->add_challenges(std::move(c));
  return req;
}

absl::StatusOr<v1::GetActionConfigRequest> ParseGetActionConfig(const GigyaParams& p,
                                                                const http::HttpRequest&) {
  v1::GetActionConfigRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_include(Opt(p, "includeActions"));
  req.set_exclude(Opt(p, "excludeActions"));
  return req;
}

absl::StatusOr<v1::DeleteActionRequest> ParseDeleteAction(const GigyaParams& p,
                                                          const http::HttpRequest&) {
  v1::DeleteActionRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_action_id(Opt(p, "actionID"));
  return req;
}

absl::StatusOr<v1::SetChallengeConfigRequest> ParseSetChallengeConfig(const GigyaParams& p,
                                                                      const http::HttpRequest&) {
  v1::SetChallengeConfigRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  v1::Challenge* c = req.mutable_challenge();
  c->set_challenge_id(Opt(p, "challengeID"));
  c->set_title(Opt(p, "title"));
  c->set_description(Opt(p, "description"));
  absl::StatusOr<absl::optional<bool>> enabled = p.OptionalBool("enabled");
  if (!enabled.ok()) return enabled.status();
  if (enabled->has_value()) c->set_enabled(**enabled);
  if (const std::string* levels = p.Find("levels"); levels != nullptr && !levels->empty()) {
    absl::Status s = ParseLevels(*levels, c);
    if (!s.ok()) return s;
  }
  return req;
}

absl::StatusOr<v1::GetChallengeConfigRequest> ParseGetChallengeConfig(const GigyaParams& p,
                                                                      const http::HttpRequest&) {
  v1::GetChallengeConfigRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_include(Opt(p, "includeChallenges"));
  req.set_exclude(Opt(p, "excludeChallenges"));
  absl::StatusOr<absl::optional<bool>> disabled = p.OptionalBool("includeDisabledChallenges");
  if (!disabled.ok()) return disabled.status();
  if (disabled->has_value()) req.set_include_disabled(**disabled);
  return req;
}

absl::StatusOr<v1::DeleteChallengeRequest> ParseDeleteChallenge(const GigyaParams& p,
                                                                const http::HttpRequest&) {
  v1::DeleteChallengeRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_challenge_id(Opt(p, "challengeID"));
  return req;
}

// --- call: request -> service -> response members ---------------------------------------------

// A method without response members of its own: the envelope alone says it worked.
template <typename Req, typename Resp>
Fields CallOnly(GmApi* api, absl::Status (GmApi::*method)(const Req&, Resp*), const Req& req) {
  Resp resp;
  absl::Status s = (api->*method)(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

// Appends the entries of `resp` to a JSON array under construction (`first`: nothing in it yet).
void AppendActions(const v1::GetActionsLogResponse& resp, bool first, std::string* out) {
  for (int i = 0; i < resp.actions_size(); ++i) {
    const v1::ActionLogEntry& a = resp.actions(i);
    absl::Time t = absl::FromUnixSeconds(a.time().seconds());
    absl::StrAppend(out, first && i == 0 ? "" : ",", "{\"time\":\"",
                    absl::FormatTime("%Y-%m-%d %H:%M:%SZ", t, absl::UTCTimeZone()),
                    "\",\"actionID\":", JsonQuote(a.action_id()), ",\"points\":", a.points());
    if (!a.ip().empty()) absl::StrAppend(out, ",\"ip\":", JsonQuote(a.ip()));
    absl::StrAppend(out, ",\"challengeID\":", JsonQuote(a.challenge_id()), ",\"operation\":\"",
                    a.operation() == v1::OPERATION_REDEEM ? "redeem" : "grant", "\"}");
  }
}

// One page (the request has pageSize or pageToken), or every action of the time frame read page
// by page: each page continues strictly below the last entry of the one before, so entries
// logged meanwhile (newer) neither repeat nor shift the answer.
Fields GetActionsLog(GmApi* api, const v1::GetActionsLogRequest& req) {
  const bool every = req.page_size() == 0 && req.page_token().empty();
  v1::GetActionsLogRequest page = req;
  if (every) page.set_page_size(kGigyaActionsLogPageSize);
  std::string out = "\"actions\":[";
  int64_t count = 0;
  std::string next_page_token;
  while (true) {
    v1::GetActionsLogResponse resp;
    absl::Status s = api->GetActionsLog(page, &resp);
    if (!s.ok()) return s;
    AppendActions(resp, count == 0, &out);
    count += resp.actions_size();
    next_page_token = resp.next_page_token();
    if (!every || next_page_token.empty()) break;
    if (count >= kGigyaActionsLogMaxActions) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the time frame holds more than ", kGigyaActionsLogMaxActions,
          " actions, the most gm.getActionsLog answers at once: page with pageSize (1..",
          kGigyaActionsLogPageSize,
          ") and pageToken (each answer's nextPageToken), or give a "
          "shorter time frame (startTime, endTime)"));
    }
    page.set_page_token(next_page_token);
  }
  out += "]";
  if (!every && !next_page_token.empty()) {
    absl::StrAppend(&out, ",\"nextPageToken\":", JsonQuote(next_page_token));
  }
  return out;
}

Fields GetChallengeStatus(GmApi* api, const v1::GetChallengeStatusRequest& req) {
  v1::GetChallengeStatusResponse resp;
  absl::Status s = api->GetChallengeStatus(req, &resp);
  if (!s.ok()) return s;
  return absl::StrCat("\"achievements\":", AchievementsJson(resp.achievements()));
}

Fields GetTopUsers(GmApi* api, const v1::GetTopUsersRequest& req) {
  v1::GetTopUsersResponse resp;
  absl::Status s = api->GetTopUsers(req, &resp);
  if (!s.ok()) return s;
  std::string out = "\"users\":[";
  for (int i = 0; i < resp.users_size(); ++i) {
    const v1::TopUser& u = resp.users(i);
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"UID\":", JsonQuote(u.uid()),
                    ",\"rank\":", u.rank(),
                    ",\"achievements\":", AchievementsJson(u.achievements()), "}");
  }
  return out + "]";
}

Fields GetActionConfig(GmApi* api, const v1::GetActionConfigRequest& req) {
  v1::GetActionConfigResponse resp;
  absl::Status s = api->GetActionConfig(req, &resp);
  if (!s.ok()) return s;
  std::string out = "\"actions\":[";
  for (int i = 0; i < resp.actions_size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", ActionJson(resp.actions(i)));
  }
  return out + "]";
}

Fields GetChallengeConfig(GmApi* api, const v1::GetChallengeConfigRequest& req) {
  v1::GetChallengeConfigResponse resp;
  absl::Status s = api->GetChallengeConfig(req, &resp);
  if (!s.ok()) return s;
  std::string out = "\"challenges\":[";
  for (int i = 0; i < resp.challenges_size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", ChallengeJson(resp.challenges(i)));
  }
  return out + "]";
}

using Names = absl::flat_hash_map<std::string, std::string>;

// Adds a method whose call formats the response (`format` reads the service's response itself).
template <typename Req>
void Add(GigyaMethodTable* table, GmApi* api, const char* name,
         absl::flat_hash_set<std::string> params, Names names,
         absl::StatusOr<Req> (*parse)(const GigyaParams&, const http::HttpRequest&),
         Fields (*call)(GmApi*, const Req&)) {
  (*table)[name] = MakeGigyaMethod<Req>(std::move(params), std::move(names), parse,
                                        [api, call](const Req& req) { return call(api, req); });
}

// Adds a method that answers with the envelope alone.
template <typename Req, typename Resp>
void AddPlain(GigyaMethodTable* table, GmApi* api, const char* name,
              absl::flat_hash_set<std::string> params, Names names,
              absl::StatusOr<Req> (*parse)(const GigyaParams&, const http::HttpRequest&),
              absl::Status (GmApi::*method)(const Req&, Resp*)) {
  (*table)[name] =
      MakeGigyaMethod<Req>(std::move(params), std::move(names), parse,
                           [api, method](const Req& req) { return CallOnly(api, method, req); });
}

}  // namespace

void AddGmMethods(GmApi* api, GigyaMethodTable* table) {
  AddPlain(table, api, "gm.notifyAction", {"UID", "action", "ip", "requestID", "actionAttributes"},
           {{"action_id", "action"}}, ParseNotifyAction, &GmApi::NotifyAction);
  AddPlain(table, api, "gm.redeemPoints", {"UID", "challenge", "points", "requestID"},
           {{"challenge_id", "challenge"}}, ParseRedeemPoints, &GmApi::RedeemPoints);
  Add(table, api, "gm.getActionsLog", {"UID", "startTime", "endTime", "pageSize", "pageToken"}, {},
      ParseGetActionsLog, GetActionsLog);
  Add(table, api, "gm.getChallengeStatus", {"UID", "includeChallenges", "excludeChallenges"},
      {{"include", "includeChallenges"}, {"exclude", "excludeChallenges"}}, ParseGetChallengeStatus,
      GetChallengeStatus);
  AddPlain(table, api, "gm.resetLevelStatus", {"UID", "challenge"}, {{"challenge_id", "challenge"}},
           ParseResetLevelStatus, &GmApi::ResetLevelStatus);
  Add(table, api, "gm.getTopUsers",
      {"UID", "challenge", "totalCount", "period", "includeSelf", "friendsCount"},
      {{"challenge_id", "challenge"}}, ParseGetTopUsers, GetTopUsers);
  AddPlain(table, api, "gm.setActionConfig",
           {"actionID", "title", "description", "points", "challenges"}, {{"action.", ""}},
           ParseSetActionConfig, &GmApi::SetActionConfig);
  Add(table, api, "gm.getActionConfig", {"includeActions", "excludeActions", "lang"},
      {{"include", "includeActions"}, {"exclude", "excludeActions"}}, ParseGetActionConfig,
      GetActionConfig);
  AddPlain(table, api, "gm.deleteAction", {"actionID"}, {{"action_id", "actionID"}},
           ParseDeleteAction, &GmApi::DeleteAction);
  AddPlain(table, api, "gm.setChallengeConfig",
           {"challengeID", "title", "description", "enabled", "levels"}, {{"challenge.", ""}},
           ParseSetChallengeConfig, &GmApi::SetChallengeConfig);
  Add(table, api, "gm.getChallengeConfig",
      {"includeChallenges", "excludeChallenges", "includeDisabledChallenges", "lang"},
      {{"include", "includeChallenges"}, {"exclude", "excludeChallenges"}}, ParseGetChallengeConfig,
      GetChallengeConfig);
  AddPlain(table, api, "gm.deleteChallenge", {"challengeID"}, {{"challenge_id", "challengeID"}},
           ParseDeleteChallenge, &GmApi::DeleteChallenge);
}

}  // namespace countd::shim
