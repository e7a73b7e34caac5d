// Gigya gm.* Game Mechanics methods over the GameMechanics API.
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "rapidjson/document.h"
#include "server/http/gigya_methods.h"
#include "server/http/routes.h"
#include "server/logic/status_util.h"

namespace countd::http {
namespace {

using grpc_edge::GmApi;
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

absl::StatusOr<bool> ParseBool(absl::string_view name, absl::string_view text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return logic::BadFormat(name, absl::StrCat(logic::Quote(text), " is not true or false"));
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

std::string AchievementJson(const v1::Achievement& a) {
  return absl::StrCat("{\"challengeID\":", JsonQuote(a.challenge_id()), ",\"level\":", a.level(),
                      ",\"levelTitle\":", JsonQuote(a.level_title()),
                      ",\"levelDescription\":", JsonQuote(a.level_description()),
                      ",\"badgeURL\":", JsonQuote(a.badge_url()),
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
  return absl::StrCat("{\"actionID\":", JsonQuote(a.action_id()), ",\"title\":",
                      JsonQuote(a.title()), ",\"description\":", JsonQuote(a.description()),
                      ",\"points\":", a.points(), ",\"challenges\":", challenges, "]}");
}

std::string ChallengeJson(const v1::Challenge& c) {
  std::string levels = "[";
  for (int i = 0; i < c.levels_size(); ++i) {
    const v1::Level& l = c.levels(i);
    absl::StrAppend(&levels, i == 0 ? "" : ",", "{\"level\":", l.level(),
                    ",\"title\":", JsonQuote(l.title()),
                    ",\"description\":", JsonQuote(l.description()),
                    ",\"badgeURL\":", JsonQuote(l.badge_url()),
                    ",\"pointsRequired\":", l.points_required(), "}");
  }
  return absl::StrCat("{\"challengeID\":", JsonQuote(c.challenge_id()),
                      ",\"title\":", JsonQuote(c.title()),
                      ",\"description\":", JsonQuote(c.description()),
                      ",\"enabled\":", !c.has_enabled() || c.enabled() ? "true" : "false",
                      ",\"levels\":", levels, "]}");
}

// `levels`: a JSON array of {level, title, description, badgeURL, pointsRequired}.
absl::Status ParseLevels(absl::string_view text, v1::Challenge* out) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsArray()) {
    return logic::BadFormat("levels", "must be a JSON array of level objects");
  }
  rapidjson::SizeType i = 0;
  for (const rapidjson::Value& item : doc.GetArray()) {
    std::string at = absl::StrCat("levels[", i++, "]");
    if (!item.IsObject()) return logic::BadFormat(at, "must be an object");
    v1::Level* level = out->add_levels();
    for (const auto& m : item.GetObject()) {
      absl::string_view name(m.name.GetString(), m.name.GetStringLength());
      std::string field = absl::StrCat(at, ".", name);
      if (name == "level" || name == "pointsRequired") {
        if (!m.value.IsInt64()) return logic::BadFormat(field, "must be a whole number");
        if (name == "level") {
          if (!m.value.IsInt()) return logic::BadValue(field, "is out of range");
          level->set_level(m.value.GetInt());
        } else {
          level->set_points_required(m.value.GetInt64());
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

Fields NotifyAction(GmApi* api, const GigyaParams& p, const HttpRequest& request) {
  v1::NotifyActionRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_uid(Opt(p, "UID"));
  req.set_action_id(Opt(p, "action"));
  const std::string* ip = p.Find("ip");
  req.set_ip(ip != nullptr && !ip->empty() ? *ip : request.remote_ip);
  req.set_request_id(Opt(p, "requestID"));
  v1::NotifyActionResponse resp;
  absl::Status s = api->NotifyAction(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

Fields RedeemPoints(GmApi* api, const GigyaParams& p, const HttpRequest&) {
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
  v1::RedeemPointsResponse resp;
  absl::Status s = api->RedeemPoints(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

Fields GetActionsLog(GmApi* api, const GigyaParams& p, const HttpRequest&) {
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
  if (req.page_size() == 0) req.set_page_size(1000);  // legacy callers expect the whole range
  v1::GetActionsLogResponse resp;
  s = api->GetActionsLog(req, &resp);
  if (!s.ok()) return s;
  std::string out = "\"actions\":[";
  for (int i = 0; i < resp.actions_size(); ++i) {
    const v1::ActionLogEntry& a = resp.actions(i);
    absl::Time t = absl::FromUnixSeconds(a.time().seconds());
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"time\":\"",
                    absl::FormatTime("%Y-%m-%d %H:%M:%SZ", t, absl::UTCTimeZone()),
                    "\",\"actionID\":", JsonQuote(a.action_id()), ",\"points\":", a.points());
    if (!a.ip().empty()) absl::StrAppend(&out, ",\"ip\":", JsonQuote(a.ip()));
    absl::StrAppend(&out, ",\"challengeID\":", JsonQuote(a.challenge_id()), ",\"operation\":\"",
                    a.operation() == v1::OPERATION_REDEEM ? "redeem" : "grant", "\"}");
  }
  out += "]";
  if (!resp.next_page_token().empty()) {
    absl::StrAppend(&out, ",\"nextPageToken\":", JsonQuote(resp.next_page_token()));
  }
  return out;
}

Fields GetChallengeStatus(GmApi* api, const GigyaParams& p, const HttpRequest&) {
  v1::GetChallengeStatusRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_uid(Opt(p, "UID"));
  req.set_include(Opt(p, "includeChallenges"));
  req.set_exclude(Opt(p, "excludeChallenges"));
  v1::GetChallengeStatusResponse resp;
  absl::Status s = api->GetChallengeStatus(req, &resp);
  if (!s.ok()) return s;
  return absl::StrCat("\"achievements\":", AchievementsJson(resp.achievements()));
}

Fields ResetLevelStatus(GmApi* api, const GigyaParams& p, const HttpRequest&) {
  v1::ResetLevelStatusRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_uid(Opt(p, "UID"));
  req.set_challenge_id(Opt(p, "challenge"));
  v1::ResetLevelStatusResponse resp;
  absl::Status s = api->ResetLevelStatus(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

Fields GetTopUsers(GmApi* api, const GigyaParams& p, const HttpRequest&) {
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
  if (const std::string* self = p.Find("includeSelf"); self != nullptr && !self->empty()) {
    absl::StatusOr<bool> b = ParseBool("includeSelf", *self);
    if (!b.ok()) return b.status();
    req.set_include_self(*b);
  }
  v1::GetTopUsersResponse resp;
  s = api->GetTopUsers(req, &resp);
  if (!s.ok()) return s;
  std::string out = "\"users\":[";
  for (int i = 0; i < resp.users_size(); ++i) {
    const v1::TopUser& u = resp.users(i);
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"UID\":", JsonQuote(u.uid()), ",\"rank\":",
                    u.rank(), ",\"achievements\":", AchievementsJson(u.achievements()), "}");
  }
  return out + "]";
}

Fields SetActionConfig(GmApi* api, const GigyaParams& p, const HttpRequest&) {
  v1::SetActionConfigRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  v1::Action* a = req.mutable_action();
  a->set_action_id(Opt(p, "actionID"));
  a->set_title(Opt(p, "title"));
  a->set_description(Opt(p, "description"));
  absl::Status s = OptionalInt(p, "points", [&](int64_t v) { a->set_points(v); });
  if (!s.ok()) return s;
  for (absl::string_view c : absl::StrSplit(Opt(p, "challenges"), ',', absl::SkipWhitespace())) {
    a->add_challenges(std::string(absl::StripAsciiWhitespace(c)));
  }
  v1::SetActionConfigResponse resp;
  s = api->SetActionConfig(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

Fields GetActionConfig(GmApi* api, const GigyaParams& p, const HttpRequest&) {
  v1::GetActionConfigRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_include(Opt(p, "includeActions"));
  req.set_exclude(Opt(p, "excludeActions"));
  v1::GetActionConfigResponse resp;
  absl::Status s = api->GetActionConfig(req, &resp);
  if (!s.ok()) return s;
  std::string out = "\"actions\":[";
  for (int i = 0; i < resp.actions_size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", ActionJson(resp.actions(i)));
  }
  return out + "]";
}

Fields DeleteAction(GmApi* api, const GigyaParams& p, const HttpRequest&) {
  v1::DeleteActionRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_action_id(Opt(p, "actionID"));
  v1::DeleteActionResponse resp;
  absl::Status s = api->DeleteAction(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

Fields SetChallengeConfig(GmApi* api, const GigyaParams& p, const HttpRequest&) {
  v1::SetChallengeConfigRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  v1::Challenge* c = req.mutable_challenge();
  c->set_challenge_id(Opt(p, "challengeID"));
  c->set_title(Opt(p, "title"));
  c->set_description(Opt(p, "description"));
  if (const std::string* enabled = p.Find("enabled"); enabled != nullptr && !enabled->empty()) {
    absl::StatusOr<bool> b = ParseBool("enabled", *enabled);
    if (!b.ok()) return b.status();
    c->set_enabled(*b);
  }
  if (const std::string* levels = p.Find("levels"); levels != nullptr && !levels->empty()) {
    absl::Status s = ParseLevels(*levels, c);
    if (!s.ok()) return s;
  }
  v1::SetChallengeConfigResponse resp;
  absl::Status s = api->SetChallengeConfig(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

Fields GetChallengeConfig(GmApi* api, const GigyaParams& p, const HttpRequest&) {
  v1::GetChallengeConfigRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_include(Opt(p, "includeChallenges"));
  req.set_exclude(Opt(p, "excludeChallenges"));
  if (const std::string* d = p.Find("includeDisabledChallenges"); d != nullptr && !d->empty()) {
    absl::StatusOr<bool> b = ParseBool("includeDisabledChallenges", *d);
    if (!b.ok()) return b.status();
    req.set_include_disabled(*b);
  }
  v1::GetChallengeConfigResponse resp;
  absl::Status s = api->GetChallengeConfig(req, &resp);
  if (!s.ok()) return s;
  std::string out = "\"challenges\":[";
  for (int i = 0; i < resp.challenges_size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", ChallengeJson(resp.challenges(i)));
  }
  return out + "]";
}

Fields DeleteChallenge(GmApi* api, const GigyaParams& p, const HttpRequest&) {
  v1::DeleteChallengeRequest req;
  req.set_tenant(Opt(p, "apiKey"));
  req.set_challenge_id(Opt(p, "challengeID"));
  v1::DeleteChallengeResponse resp;
  absl::Status s = api->DeleteChallenge(req, &resp);
  if (!s.ok()) return s;
  return std::string();
}

using Handler = Fields (*)(GmApi*, const GigyaParams&, const HttpRequest&);

void Add(GigyaMethodTable* table, GmApi* api, const char* name,
         absl::flat_hash_set<std::string> params,
         absl::flat_hash_map<std::string, std::string> names, Handler handler) {
  // The GameMechanics RPC it maps to: "gm.notifyAction" -> "NotifyAction".
  absl::string_view short_name = absl::string_view(name).substr(sizeof("gm.") - 1);
  (*table)[name] = GigyaMethod{
      std::move(params), std::move(names),
      [api, handler](const GigyaParams& p, const HttpRequest& r) { return handler(api, p, r); },
      "GameMechanics",
      absl::StrCat(absl::AsciiStrToUpper(short_name.substr(0, 1)), short_name.substr(1))};
}

}  // namespace

void AddGmMethods(GmApi* api, GigyaMethodTable* table) {
  Add(table, api, "gm.notifyAction", {"UID", "action", "ip", "requestID", "actionAttributes"},
      {{"action_id", "action"}}, NotifyAction);
  Add(table, api, "gm.redeemPoints", {"UID", "challenge", "points", "requestID"},
      {{"challenge_id", "challenge"}}, RedeemPoints);
  Add(table, api, "gm.getActionsLog", {"UID", "startTime", "endTime", "pageSize", "pageToken"},
      {}, GetActionsLog);
  Add(table, api, "gm.getChallengeStatus", {"UID", "includeChallenges", "excludeChallenges"},
      {{"include", "includeChallenges"}, {"exclude", "excludeChallenges"}}, GetChallengeStatus);
  Add(table, api, "gm.resetLevelStatus", {"UID", "challenge"}, {{"challenge_id", "challenge"}},
      ResetLevelStatus);
  Add(table, api, "gm.getTopUsers",
      {"UID", "challenge", "totalCount", "period", "includeSelf", "friendsCount"},
      {{"challenge_id", "challenge"}},
      GetTopUsers);
  Add(table, api, "gm.setActionConfig", {"actionID", "title", "description", "points", "challenges"},
      {{"action.", ""}}, SetActionConfig);
  Add(table, api, "gm.getActionConfig", {"includeActions", "excludeActions", "lang"},
      {{"include", "includeActions"}, {"exclude", "excludeActions"}}, GetActionConfig);
  Add(table, api, "gm.deleteAction", {"actionID"}, {{"action_id", "actionID"}}, DeleteAction);
  Add(table, api, "gm.setChallengeConfig",
      {"challengeID", "title", "description", "enabled", "levels"}, {{"challenge.", ""}},
      SetChallengeConfig);
  Add(table, api, "gm.getChallengeConfig",
      {"includeChallenges", "excludeChallenges", "includeDisabledChallenges", "lang"},
      {{"include", "includeChallenges"}, {"exclude", "excludeChallenges"}}, GetChallengeConfig);
  Add(table, api, "gm.deleteChallenge", {"challengeID"}, {{"challenge_id", "challengeID"}},
      DeleteChallenge);
}

}  // namespace countd::http
