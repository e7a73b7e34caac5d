#include "server/logic/gm_config.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/logic/gm_codec.h"
#include "server/logic/status_util.h"
#include "server/logic/validate.h"

namespace countd::logic {
namespace {

// Format version of stored configuration records.
constexpr uint8_t kActionVersion = 1;
constexpr uint8_t kChallengeVersion = 1;

std::string Indexed(absl::string_view list, size_t i) { return absl::StrCat(list, "[", i, "]"); }

absl::Status CheckText(absl::string_view field, absl::string_view value) {
  if (value.size() > kMaxGmTextBytes) {
    return BadValue(field, absl::StrCat("is ", value.size(), " bytes; at most ", kMaxGmTextBytes));
  }
  // Every string of a countd.v1 message must be UTF-8: stored text is answered in them.
  return CheckUtf8(field, value);
}

absl::Status CheckLevel(size_t i, const GmLevel& level) {
  std::string prefix = absl::StrCat(Indexed("challenge.levels", i), ".");
  if (level.level < 0) {
    return BadValue(prefix + "level", absl::StrCat(level.level, " is negative"));
  }
  if (level.points_required < 0) {
    return BadValue(prefix + "points_required",
                    absl::StrCat(level.points_required, " is negative"));
  }
  absl::Status s = CheckText(prefix + "title", level.title);
  if (s.ok()) s = CheckText(prefix + "description", level.description);
  if (s.ok()) s = CheckText(prefix + "badge_url", level.badge_url);
  return s;
}

// Parses one side of a filter: sets *all for "*" (alone or as an item), else fills *ids.
absl::Status ParseList(absl::string_view field, absl::string_view list, bool* all,
                       absl::flat_hash_set<std::string>* ids) {
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item == "*") {
      *all = true;
      continue;
    }
    if (item.empty()) {
      return BadFormat(field, absl::StrCat(Quote(list), " has an empty list item"));
    }
    absl::Status s = CheckIdentifier(field, item);
    if (!s.ok()) return s;
    ids->insert(std::string(item));
  }
  return absl::OkStatus();
}

// An action or challenge id: an identifier that the comma lists of the filters (include /
// exclude, Gigya's challenges and includeChallenges) can name, so no ',' and not "*", and
// without blanks at its ends (the lists strip them).
absl::Status CheckConfigId(absl::string_view field, absl::string_view id) {
  absl::Status s = CheckIdentifier(field, id);
  if (!s.ok()) return s;
  if (id == "*" || absl::StrContains(id, ',') || absl::StripAsciiWhitespace(id) != id) {
    return BadValue(field, absl::StrCat(Quote(id),
                                        " cannot be named in a comma list: no ',', not \"*\", no "
                                        "blank at either end"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GmAction> NormalizeAction(const GmAction& action) {
  absl::Status s = CheckConfigId("action.action_id", action.action_id);
  if (s.ok() && action.action_id == kRedeemActionId) {
    s = BadValue("action.action_id", absl::StrCat(Quote(kRedeemActionId),
                                                  " is reserved for redeems in the action log"));
  }
  if (s.ok()) s = CheckText("action.title", action.title);
  if (s.ok()) s = CheckText("action.description", action.description);
  if (!s.ok()) return s;
  if (action.challenges.size() > kMaxGmChallenges) {
    return BadValue("action.challenges", absl::StrCat(action.challenges.size(),
                                                      " challenges; at most ", kMaxGmChallenges));
  }
  GmAction out = action;
  out.challenges.clear();
  absl::flat_hash_set<absl::string_view> seen;
  for (size_t i = 0; i < action.challenges.size(); ++i) {
    s = CheckConfigId(Indexed("action.challenges", i), action.challenges[i]);
    if (!s.ok()) return s;
    if (seen.insert(action.challenges[i]).second) out.challenges.push_back(action.challenges[i]);
  }
  return out;
}

absl::StatusOr<GmChallenge> NormalizeChallenge(const GmChallenge& challenge) {
  absl::Status s = CheckConfigId("challenge.challenge_id", challenge.challenge_id);
  if (s.ok()) s = CheckText("challenge.title", challenge.title);
  if (s.ok()) s = CheckText("challenge.description", challenge.description);
  if (!s.ok()) return s;
  if (challenge.challenge_id == kDefaultChallengeId && !challenge.IsEnabled()) {
    return BadValue("challenge.enabled",
                    absl::StrCat("challenge ", Quote(kDefaultChallengeId), " cannot be disabled"));
  }
  if (challenge.levels.size() > kMaxGmLevels) {
    return BadValue("challenge.levels",
                    absl::StrCat(challenge.levels.size(), " levels; at most ", kMaxGmLevels));
  }
  for (size_t i = 0; i < challenge.levels.size(); ++i) {
    s = CheckLevel(i, challenge.levels[i]);
    if (!s.ok()) return s;
  }
  // Check uniqueness and monotony in level order, naming the offending level as sent.
  std::vector<size_t> order(challenge.levels.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return challenge.levels[a].level < challenge.levels[b].level;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const GmLevel& prev = challenge.levels[order[k - 1]];
    const GmLevel& cur = challenge.levels[order[k]];
    std::string prefix = absl::StrCat(Indexed("challenge.levels", order[k]), ".");
    if (cur.level == prev.level) {
      return BadValue(prefix + "level", absl::StrCat("level ", cur.level, " appears twice"));
    }
    if (cur.points_required <= prev.points_required) {
      return BadValue(prefix + "points_required",
                      absl::StrCat(cur.points_required, " for level ", cur.level, " is not above ",
                                   prev.points_required, " for level ", prev.level,
                                   " (must increase strictly with level)"));
    }
  }
  GmChallenge out = challenge;
  out.levels.clear();
  out.levels.reserve(order.size());
  for (size_t i : order) out.levels.push_back(challenge.levels[i]);
  return out;
}

const GmLevel* LevelFor(const GmChallenge& challenge, int64_t balance) {
  // Levels are sorted and points_required increases with level: the last one reached wins.
  const GmLevel* reached = nullptr;
  for (const GmLevel& level : challenge.levels) {
    if (level.points_required > balance) break;
    reached = &level;
  }
  return reached;
}

int32_t LevelNumber(const GmChallenge& challenge, int64_t balance) {
  const GmLevel* level = LevelFor(challenge, balance);
  return level == nullptr ? 0 : level->level;
}

GmChallenge DefaultChallenge() {
  GmChallenge c;
  c.challenge_id = std::string(kDefaultChallengeId);
  c.title = std::string(kDefaultChallengeTitle);
  return c;
}

std::string EncodeAction(const GmAction& action) {
  gm_codec::Writer w;
  w.U8(kActionVersion);
  w.Str(action.action_id);
  w.Str(action.title);
  w.Str(action.description);
  w.I64(action.points);
  w.I32(static_cast<int32_t>(action.challenges.size()));
  for (const std::string& c : action.challenges) w.Str(c);
  return w.Take();
}

bool DecodeAction(absl::string_view bytes, GmAction* action) {
  gm_codec::Reader r(bytes);
  uint8_t version = 0;
  int32_t n = 0;
  if (!r.U8(&version) || version != kActionVersion) return false;
  GmAction a;
  if (!r.Str(&a.action_id) || !r.Str(&a.title) || !r.Str(&a.description) || !r.I64(&a.points) ||
      !r.I32(&n) || n < 0 || static_cast<size_t>(n) > kMaxGmChallenges) {
    return false;
  }
  a.challenges.resize(n);
  for (std::string& c : a.challenges) {
    if (!r.Str(&c)) return false;
  }
  if (!r.Done()) return false;
  *action = std::move(a);
  return true;
}

std::string EncodeChallenge(const GmChallenge& challenge) {
  gm_codec::Writer w;
  w.U8(kChallengeVersion);
  w.Str(challenge.challenge_id);
  w.Str(challenge.title);
  w.Str(challenge.description);
  // 0 = absent, 1 = false, 2 = true.
  w.U8(challenge.enabled.has_value() ? (*challenge.enabled ? 2 : 1) : 0);
  w.I32(static_cast<int32_t>(challenge.levels.size()));
  for (const GmLevel& level : challenge.levels) {
    w.I32(level.level);
    w.Str(level.title);
    w.Str(level.description);
    w.Str(level.badge_url);
    w.I64(level.points_required);
  }
  return w.Take();
}

bool DecodeChallenge(absl::string_view bytes, GmChallenge* challenge) {
  gm_codec::Reader r(bytes);
  uint8_t version = 0, enabled = 0;
  int32_t n = 0;
  if (!r.U8(&version) || version != kChallengeVersion) return false;
  GmChallenge c;
  if (!r.Str(&c.challenge_id) || !r.Str(&c.title) || !r.Str(&c.description) || !r.U8(&enabled) ||
      enabled > 2 || !r.I32(&n) || n < 0 || static_cast<size_t>(n) > kMaxGmLevels) {
    return false;
  }
  if (enabled != 0) c.enabled = enabled == 2;
  c.levels.resize(n);
  for (GmLevel& level : c.levels) {
    if (!r.I32(&level.level) || !r.Str(&level.title) || !r.Str(&level.description) ||
        !r.Str(&level.badge_url) || !r.I64(&level.points_required)) {
      return false;
    }
  }
  if (!r.Done()) return false;
  *challenge = std::move(c);
  return true;
}

absl::StatusOr<IdFilter> IdFilter::Parse(absl::string_view include_field, absl::string_view include,
                                         absl::string_view exclude_field,
                                         absl::string_view exclude) {
  IdFilter f;
  if (!absl::StripAsciiWhitespace(include).empty()) {
    f.include_all_ = false;
    absl::Status s = ParseList(include_field, include, &f.include_all_, &f.include_);
    if (!s.ok()) return s;
  }
  if (!absl::StripAsciiWhitespace(exclude).empty()) {
    absl::Status s = ParseList(exclude_field, exclude, &f.exclude_all_, &f.exclude_);
    if (!s.ok()) return s;
  }
  return f;
}

bool IdFilter::Matches(absl::string_view id) const {
  if (exclude_all_ || exclude_.contains(id)) return false;
  return include_all_ || include_.contains(id);
}

const GmAction* GmConfig::FindAction(absl::string_view id) const {
  auto it = actions.find(std::string(id));
  return it == actions.end() ? nullptr : &it->second;
}

const GmChallenge* GmConfig::FindChallenge(absl::string_view id) const {
  auto it = challenges.find(std::string(id));
  return it == challenges.end() ? nullptr : &it->second;
}

std::vector<const GmChallenge*> GmConfig::ChallengesOf(const GmAction& action) const {
  std::vector<const GmChallenge*> out;
  for (const auto& [id, challenge] : challenges) {
    if (!challenge.IsEnabled()) continue;
    bool holds = action.challenges.empty() || id == kDefaultChallengeId ||
                 std::find(action.challenges.begin(), action.challenges.end(), id) !=
                     action.challenges.end();
    if (holds) out.push_back(&challenge);
  }
  return out;
}

}  // namespace countd::logic
