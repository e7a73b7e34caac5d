#include "server/api/gm_api.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/logic/status_util.h"

namespace countd::api {
namespace {

logic::GmAction ToAction(const v1::Action& in) {
  logic::GmAction out;
  out.action_id = in.action_id();
  out.title = in.title();
  out.description = in.description();
  out.points = in.points();
  out.challenges.assign(in.challenges().begin(), in.challenges().end());
  return out;
}

void FillAction(const logic::GmAction& in, v1::Action* out) {
  out->set_action_id(in.action_id);
  out->set_title(in.title);
  out->set_description(in.description);
  out->set_points(in.points);
  for (const std::string& c : in.challenges) out->add_challenges(c);
}

logic::GmChallenge ToChallenge(const v1::Challenge& in) {
  logic::GmChallenge out;
  out.challenge_id = in.challenge_id();
  out.title = in.title();
  out.description = in.description();
  if (in.has_enabled()) out.enabled = in.enabled();
  out.levels.reserve(in.levels_size());
  for (const v1::Level& l : in.levels()) {
    logic::GmLevel level;
    level.level = l.level();
    level.title = l.title();
    level.description = l.description();
    level.badge_url = l.badge_url();
    level.points_required = l.points_required();
    out.levels.push_back(std::move(level));
  }
  return out;
}

void FillChallenge(const logic::GmChallenge& in, v1::Challenge* out) {
  out->set_challenge_id(in.challenge_id);
  out->set_title(in.title);
  out->set_description(in.description);
  out->set_enabled(in.IsEnabled());  // always explicit in answers
  for (const logic::GmLevel& l : in.levels) {
    v1::Level* level = out->add_levels();
    level->set_level(l.level);
    level->set_title(l.title);
    level->set_description(l.description);
    level->set_badge_url(l.badge_url);
    level->set_points_required(l.points_required);
  }
}

void FillAchievement(const logic::GmAchievement& in, v1::Achievement* out) {
  out->set_challenge_id(in.challenge_id);
  out->set_level(in.level);
  out->set_level_title(in.level_title);
  out->set_level_description(in.level_description);
  out->set_badge_url(in.badge_url);
  out->set_points_total(in.points_total);
  out->set_points_7days(in.points_7days);
  out->set_is_new_level(in.is_new_level);
}

void FillLogEntry(const logic::GmLogEntry& in, v1::ActionLogEntry* out) {
  int64_t ms = absl::ToUnixMillis(in.time);
  out->mutable_time()->set_seconds(ms / 1000);
  out->mutable_time()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
  out->set_action_id(in.action_id);
  out->set_points(in.points);
  out->set_ip(in.ip);
  out->set_challenge_id(in.challenge_id);
  out->set_operation(in.operation == logic::GmOperation::kRedeem ? v1::OPERATION_REDEEM
                                                                 : v1::OPERATION_GRANT);
}

}  // namespace

GmApi::GmApi(logic::GameMechanics* gm) : gm_(gm) {}

absl::Status GmApi::SetActionConfig(const v1::SetActionConfigRequest& req,
                                    v1::SetActionConfigResponse* resp) {
  return gm_->SetActionConfig(req.tenant(), ToAction(req.action()));
}

absl::Status GmApi::GetActionConfig(const v1::GetActionConfigRequest& req,
                                    v1::GetActionConfigResponse* resp) {
  absl::StatusOr<std::vector<logic::GmAction>> actions =
      gm_->GetActionConfig(req.tenant(), req.include(), req.exclude());
  if (!actions.ok()) return actions.status();
  for (const logic::GmAction& a : *actions) FillAction(a, resp->add_actions());
  return absl::OkStatus();
}

absl::Status GmApi::DeleteAction(const v1::DeleteActionRequest& req,
                                 v1::DeleteActionResponse* resp) {
  return gm_->DeleteAction(req.tenant(), req.action_id());
}

absl::Status GmApi::SetChallengeConfig(const v1::SetChallengeConfigRequest& req,
                                       v1::SetChallengeConfigResponse* resp) {
  return gm_->SetChallengeConfig(req.tenant(), ToChallenge(req.challenge()));
}

absl::Status GmApi::GetChallengeConfig(const v1::GetChallengeConfigRequest& req,
                                       v1::GetChallengeConfigResponse* resp) {
  absl::StatusOr<std::vector<logic::GmChallenge>> challenges =
      gm_->GetChallengeConfig(req.tenant(), req.include(), req.exclude(), req.include_disabled());
  if (!challenges.ok()) return challenges.status();
  for (const logic::GmChallenge& c : *challenges) FillChallenge(c, resp->add_challenges());
  return absl::OkStatus();
}

absl::Status GmApi::DeleteChallenge(const v1::DeleteChallengeRequest& req,
                                    v1::DeleteChallengeResponse* resp) {
  return gm_->DeleteChallenge(req.tenant(), req.challenge_id());
}

absl::Status GmApi::NotifyAction(const v1::NotifyActionRequest& req,
                                 v1::NotifyActionResponse* resp) {
  logic::NotifyActionArgs args;
  args.tenant = req.tenant();
  args.uid = req.uid();
  args.action_id = req.action_id();
  args.ip = req.ip();
  args.request_id = req.request_id();
  absl::StatusOr<std::vector<logic::GmAchievement>> achievements = gm_->NotifyAction(args);
  if (!achievements.ok()) return achievements.status();
  for (const logic::GmAchievement& a : *achievements) FillAchievement(a, resp->add_achievements());
  return absl::OkStatus();
}

absl::Status GmApi::RedeemPoints(const v1::RedeemPointsRequest& req,
                                 v1::RedeemPointsResponse* resp) {
  logic::RedeemPointsArgs args;
  args.tenant = req.tenant();
  args.uid = req.uid();
  args.challenge_id = req.challenge_id();
  args.points = req.points();
  args.request_id = req.request_id();
  absl::StatusOr<logic::GmAchievement> achievement = gm_->RedeemPoints(args);
  if (!achievement.ok()) return achievement.status();
  FillAchievement(*achievement, resp->mutable_achievement());
  return absl::OkStatus();
}

absl::Status GmApi::GetActionsLog(const v1::GetActionsLogRequest& req,
                                  v1::GetActionsLogResponse* resp) {
  logic::GetActionsLogArgs args;
  args.tenant = req.tenant();
  args.uid = req.uid();
  if (req.has_start_time()) args.start_time = req.start_time();
  if (req.has_end_time()) args.end_time = req.end_time();
  args.page_size = req.page_size();
  args.page_token = req.page_token();
  absl::StatusOr<logic::GmLogPage> page = gm_->GetActionsLog(args);
  if (!page.ok()) return page.status();
  for (const logic::GmLogEntry& e : page->entries) FillLogEntry(e, resp->add_actions());
  resp->set_next_page_token(page->next_page_token);
  return absl::OkStatus();
}

absl::Status GmApi::GetChallengeStatus(const v1::GetChallengeStatusRequest& req,
                                       v1::GetChallengeStatusResponse* resp) {
  absl::StatusOr<std::vector<logic::GmAchievement>> achievements =
      gm_->GetChallengeStatus(req.tenant(), req.uid(), req.include(), req.exclude());
  if (!achievements.ok()) return achievements.status();
  for (const logic::GmAchievement& a : *achievements) FillAchievement(a, resp->add_achievements());
  return absl::OkStatus();
}

absl::Status GmApi::ResetLevelStatus(const v1::ResetLevelStatusRequest& req,
                                     v1::ResetLevelStatusResponse* resp) {
  return gm_->ResetLevelStatus(req.tenant(), req.uid(), req.challenge_id());
}

absl::Status GmApi::GetTopUsers(const v1::GetTopUsersRequest& req, v1::GetTopUsersResponse* resp) {
  logic::GetTopUsersArgs args;
  args.tenant = req.tenant();
  args.challenge_id = req.challenge_id();
  if (req.has_total_count()) args.total_count = req.total_count();
  switch (req.period()) {
    case v1::PERIOD_UNSPECIFIED:
    case v1::PERIOD_DAYS7: args.period = logic::GmPeriod::kDays7; break;
    case v1::PERIOD_ALL: args.period = logic::GmPeriod::kAll; break;
    default:
      return logic::BadValue("period", absl::StrCat(static_cast<int>(req.period()),
                                                    " is not PERIOD_ALL or PERIOD_DAYS7"));
  }
  args.uid = req.uid();
  if (req.has_include_self()) args.include_self = req.include_self();
  absl::StatusOr<std::vector<logic::GmTopUser>> users = gm_->GetTopUsers(args);
  if (!users.ok()) return users.status();
  for (const logic::GmTopUser& u : *users) {
    v1::TopUser* out = resp->add_users();
    out->set_uid(u.uid);
    out->set_rank(u.rank);
    FillAchievement(u.achievement, out->add_achievements());
  }
  return absl::OkStatus();
}

}  // namespace countd::api
