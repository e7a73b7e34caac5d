#include "server/logic/gm.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/logic/gm_codec.h"
#include "server/logic/status_util.h"
#include "server/logic/validate.h"
#include "storage/keys.h"

namespace countd::logic {

// A user's stored state in one challenge (absent = zero balance, no new level).
struct GameMechanics::Standing {
  int64_t balance = 0;
  bool is_new_level = false;
  std::optional<std::string> stored;  // the bytes read (nullopt: absent), for preconditions
};

namespace {

namespace keys = storage::keys;
using storage::Table;

// Format versions of stored records, recorded answers and page tokens.
constexpr uint8_t kStandingVersion = 1;
constexpr uint8_t kLogVersion = 1;
constexpr uint8_t kAnswerVersion = 1;
constexpr uint8_t kTokenVersion = 1;
constexpr absl::string_view kNotifyScope = "gm.NotifyAction";
constexpr absl::string_view kRedeemScope = "gm.RedeemPoints";

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t out;
  if (!__builtin_add_overflow(a, b, &out)) return out;
  return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

absl::Status Unreadable(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("storage: unreadable gm ", what));
}

std::string EncodeStanding(int64_t balance, bool is_new_level) {
  gm_codec::Writer w;
  w.U8(kStandingVersion);
  w.I64(balance);
  w.Bool(is_new_level);
  return w.Take();
}

bool DecodeStanding(absl::string_view bytes, int64_t* balance, bool* is_new_level) {
  gm_codec::Reader r(bytes);
  uint8_t version = 0;
  return r.U8(&version) && version == kStandingVersion && r.I64(balance) && r.Bool(is_new_level) &&
         r.Done();
}

std::string EncodeLogEntry(GmOperation op, int64_t points, absl::string_view action_id,
                           absl::string_view ip, absl::string_view challenge_id) {
  gm_codec::Writer w;
  w.U8(kLogVersion);
  w.U8(op == GmOperation::kRedeem ? 2 : 1);
  w.I64(points);
  w.Str(action_id);
  w.Str(ip);
  w.Str(challenge_id);
  return w.Take();
}

bool DecodeLogEntry(absl::string_view bytes, GmLogEntry* entry) {
  gm_codec::Reader r(bytes);
  uint8_t version = 0, op = 0;
  if (!r.U8(&version) || version != kLogVersion || !r.U8(&op) || (op != 1 && op != 2) ||
      !r.I64(&entry->points) || !r.Str(&entry->action_id) || !r.Str(&entry->ip) ||
      !r.Str(&entry->challenge_id) || !r.Done()) {
    return false;
  }
  entry->operation = op == 2 ? GmOperation::kRedeem : GmOperation::kGrant;
  return true;
}

std::string EncodeAchievements(const std::vector<GmAchievement>& achievements) {
  gm_codec::Writer w;
  w.U8(kAnswerVersion);
  w.I32(static_cast<int32_t>(achievements.size()));
  for (const GmAchievement& a : achievements) {
    w.Str(a.challenge_id);
    w.I32(a.level);
    w.Str(a.level_title);
    w.Str(a.level_description);
    w.Str(a.badge_url);
    w.I64(a.points_total);
    w.I64(a.points_7days);
    w.Bool(a.is_new_level);
  }
  return w.Take();
}

absl::StatusOr<std::vector<GmAchievement>> DecodeAchievements(absl::string_view bytes) {
  gm_codec::Reader r(bytes);
  uint8_t version = 0;
  int32_t n = 0;
  if (!r.U8(&version) || version != kAnswerVersion || !r.I32(&n) || n < 0 ||
      static_cast<size_t>(n) > kMaxGmChallenges) {
    return Unreadable("recorded answer");
  }
  std::vector<GmAchievement> out(n);
  for (GmAchievement& a : out) {
    if (!r.Str(&a.challenge_id) || !r.I32(&a.level) || !r.Str(&a.level_title) ||
        !r.Str(&a.level_description) || !r.Str(&a.badge_url) || !r.I64(&a.points_total) ||
        !r.I64(&a.points_7days) || !r.Bool(&a.is_new_level)) {
      return Unreadable("recorded answer");
    }
  }
  if (!r.Done()) return Unreadable("recorded answer");
  return out;
}

// A page token is the position of the last entry returned: version, time (ms), sequence,
// base64url without padding. It holds no secret; it is only checked for shape.
std::string EncodePageToken(int64_t time_ms, int64_t seq) {
  gm_codec::Writer w;
  w.U8(kTokenVersion);
  w.I64(time_ms);
  w.I64(seq);
  return absl::WebSafeBase64Escape(w.Take());
}

bool DecodePageToken(absl::string_view token, int64_t* time_ms, int64_t* seq) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) return false;
  // Reject non-canonical spellings (e.g. with padding) so one position has one token.
  if (absl::WebSafeBase64Escape(raw) != token) return false;
  gm_codec::Reader r(raw);
  uint8_t version = 0;
  return r.U8(&version) && version == kTokenVersion && r.I64(time_ms) && *time_ms >= 0 &&
         r.I64(seq) && *seq >= 0 && r.Done();
}

GmAchievement MakeAchievement(const GmChallenge& challenge, int64_t balance, int64_t points_7days,
                              bool is_new_level) {
  GmAchievement a;
  a.challenge_id = challenge.challenge_id;
  const GmLevel* level = LevelFor(challenge, balance);
  if (level != nullptr) {
    a.level = level->level;
    a.level_title = level->title;
    a.level_description = level->description;
    a.badge_url = level->badge_url;
  }
  a.points_total = balance;
  a.points_7days = points_7days;
  a.is_new_level = is_new_level;
  return a;
}

// Where the configuration of `tenant` and its version record live.
ConfigUnit ConfigUnitOf(const std::string& tenant) {
  return ConfigUnit{keys::TenantPartition(tenant), keys::ConfigVersionKey("gmcfg", tenant),
                    absl::StrCat("the GameMechanics configuration of tenant ", Quote(tenant))};
}

absl::Status CheckUser(const std::string& tenant, const std::string& uid) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (!s.ok()) return s;
  return CheckIdentifier("uid", uid);
}

absl::Status CheckLogBound(absl::string_view field, const absl::optional<int64_t>& t) {
  if (t.has_value() && (*t < 0 || *t > kMaxGmUnixSeconds)) {
    return BadValue(field, absl::StrCat(*t, " is outside 0..", kMaxGmUnixSeconds));
  }
  return absl::OkStatus();
}

}  // namespace

GameMechanics::GameMechanics(storage::Store* store, const storage::Clock* clock,
                             RequestLog* requests, GameMechanicsOptions options)
    : store_(store),
      clock_(clock),
      requests_(requests),
      week_(store, clock, options.week_rankings),
      configs_(store, ConfigCacheOptions{clock, options.config_cache_ttl}, ConfigUnitOf,
               [this](const std::string& tenant, const GmConfig*) { return LoadConfig(tenant); }) {}

GameMechanics::~GameMechanics() = default;

absl::Mutex& GameMechanics::UserLock(const std::string& tenant, const std::string& uid) {
  return user_locks_.For(keys::Join({tenant, uid}));
}

// --- Configuration --------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<const GmConfig>> GameMechanics::LoadConfig(
    const std::string& tenant) {
  auto config = std::make_shared<GmConfig>();
  absl::Status corrupt;
  absl::Status s = store_->Scan(
      keys::TenantPartition(tenant), Table::kMeta,
      storage::PrefixRange(keys::GmConfigPrefix(tenant)),
      [&](absl::string_view key, absl::string_view value) {
        std::vector<absl::string_view> parts = keys::Split(key);
        bool ok = parts.size() == 4;
        if (ok && parts[2] == "a") {
          GmAction action;
          ok = DecodeAction(value, &action) && action.action_id == parts[3];
          if (ok) config->actions.emplace(action.action_id, std::move(action));
        } else if (ok && parts[2] == "c") {
          GmChallenge challenge;
          ok = DecodeChallenge(value, &challenge) && challenge.challenge_id == parts[3];
          if (ok) config->challenges.emplace(challenge.challenge_id, std::move(challenge));
        } else {
          ok = false;
        }
        if (!ok) corrupt = Unreadable(absl::StrCat("configuration of tenant ", Quote(tenant)));
        return ok;
      });
  if (s.ok()) s = corrupt;
  if (!s.ok()) return s;
  if (config->challenges.count(std::string(kDefaultChallengeId)) == 0) {
    config->challenges.emplace(std::string(kDefaultChallengeId), DefaultChallenge());
  }
  return std::shared_ptr<const GmConfig>(std::move(config));
}

absl::StatusOr<std::shared_ptr<const GmConfig>> GameMechanics::GetConfig(
    const std::string& tenant) {
  return configs_.Get(tenant);
}

absl::Status GameMechanics::UpdateConfig(const std::string& tenant, const ConfigChange& change) {
  return configs_.Update(
      tenant,
      [&](const GmConfig& current,
          storage::WriteBatch* batch) -> absl::StatusOr<std::shared_ptr<const GmConfig>> {
        auto next = std::make_shared<GmConfig>(current);
        absl::Status s = change(next.get(), batch);
        if (!s.ok()) return s;
        return std::shared_ptr<const GmConfig>(std::move(next));
      });
}

absl::Status GameMechanics::SetActionConfig(const std::string& tenant, const GmAction& action) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (!s.ok()) return s;
  absl::StatusOr<GmAction> normal = NormalizeAction(action);
  if (!normal.ok()) return normal.status();

  return UpdateConfig(tenant, [&](GmConfig* next, storage::WriteBatch* batch) {
    if (next->FindAction(normal->action_id) == nullptr && next->actions.size() >= kMaxGmActions) {
      return Refused("action", absl::StrCat("the tenant has ", kMaxGmActions,
                                            " actions, the limit; delete one first"));
    }
    batch->Put(Table::kMeta, keys::GmActionKey(tenant, normal->action_id), EncodeAction(*normal));
    next->actions[normal->action_id] = *normal;
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<GmAction>> GameMechanics::GetActionConfig(const std::string& tenant,
                                                                     const std::string& include,
                                                                     const std::string& exclude) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (!s.ok()) return s;
  absl::StatusOr<IdFilter> filter = IdFilter::Parse("include", include, "exclude", exclude);
  if (!filter.ok()) return filter.status();
  absl::StatusOr<std::shared_ptr<const GmConfig>> config = GetConfig(tenant);
  if (!config.ok()) return config.status();
  std::vector<GmAction> out;
  for (const auto& [id, action] : (*config)->actions) {
    if (filter->Matches(id)) out.push_back(action);
  }
  return out;
}

absl::Status GameMechanics::DeleteAction(const std::string& tenant, const std::string& action_id) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (s.ok()) s = CheckIdentifier("action_id", action_id);
  if (!s.ok()) return s;
  return UpdateConfig(tenant, [&](GmConfig* next, storage::WriteBatch* batch) {
    if (next->actions.erase(action_id) == 0) {
      return NotFound("action_id", absl::StrCat(Quote(action_id), " is not a configured action"));
    }
    batch->Delete(Table::kMeta, keys::GmActionKey(tenant, action_id));
    return absl::OkStatus();
  });
}

absl::Status GameMechanics::SetChallengeConfig(const std::string& tenant,
                                               const GmChallenge& challenge) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (!s.ok()) return s;
  absl::StatusOr<GmChallenge> normal = NormalizeChallenge(challenge);
  if (!normal.ok()) return normal.status();

  return UpdateConfig(tenant, [&](GmConfig* next, storage::WriteBatch* batch) {
    if (next->FindChallenge(normal->challenge_id) == nullptr &&
        next->challenges.size() >= kMaxGmChallenges) {
      return Refused("challenge", absl::StrCat("the tenant has ", kMaxGmChallenges,
                                               " challenges, the limit; delete one first"));
    }
    batch->Put(Table::kMeta, keys::GmChallengeKey(tenant, normal->challenge_id),
               EncodeChallenge(*normal));
    next->challenges[normal->challenge_id] = *normal;
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<GmChallenge>> GameMechanics::GetChallengeConfig(
    const std::string& tenant, const std::string& include, const std::string& exclude,
    bool include_disabled) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (!s.ok()) return s;
  absl::StatusOr<IdFilter> filter = IdFilter::Parse("include", include, "exclude", exclude);
  if (!filter.ok()) return filter.status();
  absl::StatusOr<std::shared_ptr<const GmConfig>> config = GetConfig(tenant);
  if (!config.ok()) return config.status();
  std::vector<GmChallenge> out;
  for (const auto& [id, challenge] : (*config)->challenges) {
    if ((challenge.IsEnabled() || include_disabled) && filter->Matches(id)) {
      out.push_back(challenge);
    }
  }
  return out;
}

absl::Status GameMechanics::DeleteChallenge(const std::string& tenant,
                                            const std::string& challenge_id) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (s.ok()) s = CheckIdentifier("challenge_id", challenge_id);
  if (!s.ok()) return s;
  if (challenge_id == kDefaultChallengeId) {
    return BadValue("challenge_id",
                    absl::StrCat(Quote(challenge_id), " always exists and cannot be deleted"));
  }
  return UpdateConfig(tenant, [&](GmConfig* next, storage::WriteBatch* batch) {
    if (next->challenges.erase(challenge_id) == 0) {
      return NotFound("challenge_id",
                      absl::StrCat(Quote(challenge_id), " is not a configured challenge"));
    }
    batch->Delete(Table::kMeta, keys::GmChallengeKey(tenant, challenge_id));
    return absl::OkStatus();
  });
}

// --- Reads shared by the user methods --------------------------------------------------------

absl::StatusOr<std::vector<GameMechanics::Standing>> GameMechanics::ReadStandings(
    const std::string& tenant, const std::string& uid,
    const std::vector<const GmChallenge*>& challenges) {
  std::vector<std::string> state_keys;
  state_keys.reserve(challenges.size());
  for (const GmChallenge* c : challenges) {
    state_keys.push_back(keys::GmUserStateKey(tenant, uid, c->challenge_id));
  }
  std::vector<absl::StatusOr<std::string>> raw =
      store_->MultiGet(keys::TenantPartition(tenant), Table::kGmState, state_keys);
  std::vector<Standing> out(challenges.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i].ok()) {
      if (!DecodeStanding(*raw[i], &out[i].balance, &out[i].is_new_level)) {
        return Unreadable("user state");
      }
      out[i].stored = *std::move(raw[i]);
    } else if (!absl::IsNotFound(raw[i].status())) {
      return raw[i].status();
    }
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> GameMechanics::Read7Days(
    const std::string& tenant, const std::vector<std::pair<std::string, std::string>>& pairs,
    absl::Time now) {
  const int32_t today = keys::DayIndex(now);
  std::vector<std::string> day_keys;
  day_keys.reserve(pairs.size() * kGmWeekDays);
  for (const auto& [uid, challenge_id] : pairs) {
    for (int32_t d = today - (kGmWeekDays - 1); d <= today; ++d) {
      day_keys.push_back(keys::GmDailyKey(tenant, challenge_id, uid, d));
    }
  }
  std::vector<absl::StatusOr<storage::CounterCell>> cells =
      store_->MultiGetCounters(keys::TenantPartition(tenant), Table::kGmDaily, day_keys);
  std::vector<int64_t> out(pairs.size(), 0);
  for (size_t i = 0; i < cells.size(); ++i) {
    if (cells[i].ok()) {
      int64_t& sum = out[i / kGmWeekDays];
      sum = SaturatingAdd(sum, cells[i]->count);
    } else if (!absl::IsNotFound(cells[i].status())) {
      return cells[i].status();
    }
  }
  return out;
}

absl::StatusOr<int64_t> GameMechanics::NextLogSeq(const std::string& tenant,
                                                  const std::string& log_prefix, int64_t time_ms) {
  // The newest entry at this very millisecond, if any (clocks may also step back onto it).
  storage::ScanRange range;
  range.begin = keys::GmLogKey(log_prefix, time_ms, 0);
  range.end = keys::GmLogKey(log_prefix, time_ms + 1, 0);
  range.reverse = true;
  int64_t next = 0;
  absl::Status s = store_->Scan(keys::TenantPartition(tenant), Table::kGmLog, range,
                                [&](absl::string_view key, absl::string_view) {
                                  next = keys::GetBigEndian64(key.substr(key.size() - 8)) + 1;
                                  return false;
                                });
  if (!s.ok()) return s;
  return next;
}

absl::StatusOr<std::vector<GmAchievement>> GameMechanics::AchievementsOf(
    const std::string& tenant, const std::vector<std::string>& uids, const GmChallenge& challenge) {
  std::vector<std::string> state_keys;
  std::vector<std::pair<std::string, std::string>> pairs;
  state_keys.reserve(uids.size());
  pairs.reserve(uids.size());
  for (const std::string& uid : uids) {
    state_keys.push_back(keys::GmUserStateKey(tenant, uid, challenge.challenge_id));
    pairs.emplace_back(uid, challenge.challenge_id);
  }
  std::vector<absl::StatusOr<std::string>> raw =
      store_->MultiGet(keys::TenantPartition(tenant), Table::kGmState, state_keys);
  absl::StatusOr<std::vector<int64_t>> week = Read7Days(tenant, pairs, clock_->Now());
  if (!week.ok()) return week.status();
  std::vector<GmAchievement> out;
  out.reserve(uids.size());
  for (size_t i = 0; i < uids.size(); ++i) {
    Standing st;
    if (raw[i].ok()) {
      if (!DecodeStanding(*raw[i], &st.balance, &st.is_new_level)) {
        return Unreadable("user state");
      }
    } else if (!absl::IsNotFound(raw[i].status())) {
      return raw[i].status();
    }
    out.push_back(MakeAchievement(challenge, st.balance, (*week)[i], st.is_new_level));
  }
  return out;
}

// --- User writes ------------------------------------------------------------------------------

absl::StatusOr<std::vector<GmAchievement>> GameMechanics::NotifyAction(
    const NotifyActionArgs& args) {
  absl::Status s = CheckUser(args.tenant, args.uid);
  if (s.ok()) s = CheckIdentifier("action_id", args.action_id);
  if (s.ok()) s = CheckOptionalIdentifier("ip", args.ip);
  if (s.ok()) s = CheckOptionalIdentifier("request_id", args.request_id);
  if (!s.ok()) return s;
  absl::StatusOr<std::shared_ptr<const GmConfig>> config = GetConfig(args.tenant);
  if (!config.ok()) return config.status();
  const GmAction* action = (*config)->FindAction(args.action_id);
  // A refusal that depends on the configuration now applies to new requests only: a request
  // that succeeded, retried after its action was deleted, gets its first answer (RequestLog runs
  // the build step only for a request it has not recorded).
  absl::Status unconfigured;
  std::vector<const GmChallenge*> targets;
  int64_t points = 0;
  if (action == nullptr) {
    unconfigured =
        BadValue("action_id", absl::StrCat(Quote(args.action_id), " is not a configured action"));
  } else {
    // Never empty: "_default" holds every action and cannot be disabled.
    targets = (*config)->ChallengesOf(*action);
    points = action->points;
  }
  std::vector<std::string> ranked;
  if (points != 0) {
    for (const GmChallenge* c : targets) ranked.push_back(c->challenge_id);
  }

  // Announce the 7-day ranking changes before any lock is taken (see GmWeekRankings).
  GmWeekRankings::Writer week_writer = week_.BeginWrite(args.tenant, ranked);
  // Taken in the build step (after RequestLog's stripe) and held until the write is durable.
  absl::optional<absl::MutexLock> user_lock;
  std::vector<GmWeekRankings::Change> changes;
  absl::Time now;
  bool built = false;
  // The request as a retry repeats it: the user and the action. The ip only annotates the log
  // entry; when the shim fills it from the connection, a retry from another address is still
  // the same request.
  const std::string canonical = keys::Join({args.uid, args.action_id});
  absl::StatusOr<std::string> answer = requests_->Apply(
      kNotifyScope, keys::TenantPartition(args.tenant), args.tenant, args.request_id, canonical,
      [&](storage::WriteBatch* batch) -> absl::StatusOr<std::string> {
        if (!unconfigured.ok()) return unconfigured;
        user_lock.emplace(&UserLock(args.tenant, args.uid));
        built = true;
        changes.clear();      // a build runs again after a concurrent change (RequestLog)
        now = clock_->Now();  // read under the lock: one user's entries are in time order
        const int64_t now_ms = absl::ToUnixMillis(now);
        const int32_t day = keys::DayIndex(now);
        absl::StatusOr<std::vector<Standing>> standings =
            ReadStandings(args.tenant, args.uid, targets);
        if (!standings.ok()) return standings.status();
        std::vector<std::pair<std::string, std::string>> pairs;
        for (const GmChallenge* c : targets) pairs.emplace_back(args.uid, c->challenge_id);
        absl::StatusOr<std::vector<int64_t>> week = Read7Days(args.tenant, pairs, now);
        if (!week.ok()) return week.status();
        const std::string log_prefix = keys::GmLogPrefix(args.tenant, args.uid);
        absl::StatusOr<int64_t> seq = NextLogSeq(args.tenant, log_prefix, now_ms);
        if (!seq.ok()) return seq.status();

        std::vector<GmAchievement> out;
        for (size_t i = 0; i < targets.size(); ++i) {
          const GmChallenge& c = *targets[i];
          const Standing& old = (*standings)[i];
          // Exact across processes sharing the store: the write applies only if the standing
          // is still the one read (else RequestLog builds again from fresh reads).
          batch->Expect(Table::kGmState,
                        keys::GmUserStateKey(args.tenant, args.uid, c.challenge_id), old.stored);
          const int64_t balance = std::max<int64_t>(0, SaturatingAdd(old.balance, points));
          const bool is_new =
              old.is_new_level || LevelNumber(c, balance) > LevelNumber(c, old.balance);
          batch->Put(Table::kGmState, keys::GmUserStateKey(args.tenant, args.uid, c.challenge_id),
                     EncodeStanding(balance, is_new));
          if (balance != old.balance) {
            if (old.balance > 0) {
              batch->Delete(Table::kGmState,
                            keys::GmTopKey(args.tenant, c.challenge_id, old.balance, args.uid));
            }
            if (balance > 0) {
              batch->Put(Table::kGmState,
                         keys::GmTopKey(args.tenant, c.challenge_id, balance, args.uid), "");
            }
          }
          const std::string log_key = keys::GmLogKey(log_prefix, now_ms, (*seq)++);
          batch->Expect(Table::kGmLog, log_key, std::nullopt);  // never overwrite an entry
          batch->Put(
              Table::kGmLog, log_key,
              EncodeLogEntry(GmOperation::kGrant, points, args.action_id, args.ip, c.challenge_id));
          if (points != 0) {
            storage::CounterCell cell;
            cell.count = points;
            cell.updated_ms = now_ms;
            batch->AddCounter(Table::kGmDaily,
                              keys::GmDailyKey(args.tenant, c.challenge_id, args.uid, day), cell);
            changes.push_back({c.challenge_id, day, points});
            week_.AddToBatch(batch, args.uid, changes.back(), now);
          }
          out.push_back(MakeAchievement(c, balance, SaturatingAdd((*week)[i], points), is_new));
        }
        return EncodeAchievements(out);
      });
  if (!answer.ok()) return answer.status();
  if (built) week_writer.Commit(args.uid, changes, now);
  return DecodeAchievements(*answer);
}

absl::StatusOr<GmAchievement> GameMechanics::RedeemPoints(const RedeemPointsArgs& args) {
  absl::Status s = CheckUser(args.tenant, args.uid);
  if (!s.ok()) return s;
  const std::string challenge_id =
      args.challenge_id.empty() ? std::string(kDefaultChallengeId) : args.challenge_id;
  s = CheckIdentifier("challenge_id", challenge_id);
  if (s.ok()) s = CheckOptionalIdentifier("request_id", args.request_id);
  if (!s.ok()) return s;
  if (args.points <= 0) return BadValue("points", absl::StrCat(args.points, " is not > 0"));
  absl::StatusOr<std::shared_ptr<const GmConfig>> config = GetConfig(args.tenant);
  if (!config.ok()) return config.status();
  const GmChallenge* challenge = (*config)->FindChallenge(challenge_id);
  // As in NotifyAction: refused for new requests only, so a retry of a redeem that succeeded
  // before its challenge was deleted or disabled gets its first answer.
  absl::Status unconfigured;
  if (challenge == nullptr) {
    unconfigured = BadValue("challenge_id",
                            absl::StrCat(Quote(challenge_id), " is not a configured challenge"));
  } else if (!challenge->IsEnabled()) {
    unconfigured = Refused("challenge_id", absl::StrCat(Quote(challenge_id), " is disabled"));
  }

  absl::optional<absl::MutexLock> user_lock;
  const std::string canonical = keys::Join({args.uid, challenge_id, absl::StrCat(args.points)});
  absl::StatusOr<std::string> answer = requests_->Apply(
      kRedeemScope, keys::TenantPartition(args.tenant), args.tenant, args.request_id, canonical,
      [&](storage::WriteBatch* batch) -> absl::StatusOr<std::string> {
        if (!unconfigured.ok()) return unconfigured;
        user_lock.emplace(&UserLock(args.tenant, args.uid));
        const absl::Time now = clock_->Now();
        const int64_t now_ms = absl::ToUnixMillis(now);
        absl::StatusOr<std::vector<Standing>> standings =
            ReadStandings(args.tenant, args.uid, {challenge});
        if (!standings.ok()) return standings.status();
        const Standing old = (*standings)[0];
        batch->Expect(Table::kGmState, keys::GmUserStateKey(args.tenant, args.uid, challenge_id),
                      old.stored);
        if (args.points > old.balance) {
          return Refused("points",
                         absl::StrCat(args.points, " is more than the balance ", old.balance,
                                      " in challenge ", Quote(challenge_id)));
        }
        const int64_t balance = old.balance - args.points;
        absl::StatusOr<std::vector<int64_t>> week =
            Read7Days(args.tenant, {{args.uid, challenge_id}}, now);
        if (!week.ok()) return week.status();
        const std::string log_prefix = keys::GmLogPrefix(args.tenant, args.uid);
        absl::StatusOr<int64_t> seq = NextLogSeq(args.tenant, log_prefix, now_ms);
        if (!seq.ok()) return seq.status();

        batch->Put(Table::kGmState, keys::GmUserStateKey(args.tenant, args.uid, challenge_id),
                   EncodeStanding(balance, old.is_new_level));
        batch->Delete(Table::kGmState,
                      keys::GmTopKey(args.tenant, challenge_id, old.balance, args.uid));
        if (balance > 0) {
          batch->Put(Table::kGmState, keys::GmTopKey(args.tenant, challenge_id, balance, args.uid),
                     "");
        }
        const std::string log_key = keys::GmLogKey(log_prefix, now_ms, *seq);
        batch->Expect(Table::kGmLog, log_key, std::nullopt);
        batch->Put(
            Table::kGmLog, log_key,
            EncodeLogEntry(GmOperation::kRedeem, -args.points, kRedeemActionId, "", challenge_id));
        return EncodeAchievements(
            {MakeAchievement(*challenge, balance, (*week)[0], old.is_new_level)});
      });
  if (!answer.ok()) return answer.status();
  absl::StatusOr<std::vector<GmAchievement>> decoded = DecodeAchievements(*answer);
  if (!decoded.ok()) return decoded.status();
  if (decoded->size() != 1) return Unreadable("recorded answer");
  return std::move((*decoded)[0]);
}

absl::Status GameMechanics::ResetLevelStatus(const std::string& tenant, const std::string& uid,
                                             const std::string& challenge_id) {
  absl::Status s = CheckUser(tenant, uid);
  if (s.ok()) s = CheckIdentifier("challenge_id", challenge_id);
  if (!s.ok()) return s;
  absl::StatusOr<std::shared_ptr<const GmConfig>> config = GetConfig(tenant);
  if (!config.ok()) return config.status();
  const GmChallenge* challenge = (*config)->FindChallenge(challenge_id);
  if (challenge == nullptr) {
    return BadValue("challenge_id",
                    absl::StrCat(Quote(challenge_id), " is not a configured challenge"));
  }
  absl::MutexLock user_lock(&UserLock(tenant, uid));
  absl::StatusOr<std::string> done = requests_->Apply(
      "ResetLevelStatus", keys::TenantPartition(tenant), tenant, /*request_id=*/"", "",
      [&](storage::WriteBatch* batch) -> absl::StatusOr<std::string> {
        absl::StatusOr<std::vector<Standing>> standings = ReadStandings(tenant, uid, {challenge});
        if (!standings.ok()) return standings.status();
        if (!(*standings)[0].is_new_level) return std::string();
        const std::string key = keys::GmUserStateKey(tenant, uid, challenge_id);
        batch->Expect(Table::kGmState, key, (*standings)[0].stored);
        batch->Put(Table::kGmState, key, EncodeStanding((*standings)[0].balance, false));
        return std::string();
      });
  return done.status();
}

// --- User reads -------------------------------------------------------------------------------

absl::StatusOr<GmLogPage> GameMechanics::GetActionsLog(const GetActionsLogArgs& args) {
  absl::Status s = CheckUser(args.tenant, args.uid);
  if (s.ok()) s = CheckLogBound("start_time", args.start_time);
  if (s.ok()) s = CheckLogBound("end_time", args.end_time);
  if (!s.ok()) return s;
  if (args.start_time.has_value() && args.end_time.has_value() &&
      *args.start_time > *args.end_time) {
    return BadValue("start_time",
                    absl::StrCat(*args.start_time, " is after the end time ", *args.end_time));
  }
  const int32_t page_size = args.page_size == 0 ? kDefaultGmLogPageSize : args.page_size;
  if (page_size < 1 || page_size > kMaxGmLogPageSize) {
    return BadValue("page_size",
                    absl::StrCat(args.page_size, " is outside 1..", kMaxGmLogPageSize));
  }

  const std::string prefix = keys::GmLogPrefix(args.tenant, args.uid);
  storage::ScanRange range = storage::PrefixRange(prefix);
  range.reverse = true;
  if (args.start_time.has_value()) {
    range.begin = keys::GmLogKey(prefix, *args.start_time * 1000, 0);
  }
  if (args.end_time.has_value()) {
    range.end = keys::GmLogKey(prefix, (*args.end_time + 1) * 1000, 0);
  }
  if (!args.page_token.empty()) {
    int64_t time_ms = 0, seq = 0;
    if (!DecodePageToken(args.page_token, &time_ms, &seq)) {
      return BadFormat("page_token", absl::StrCat(Quote(args.page_token),
                                                  " is not a token from a previous page"));
    }
    // Continue strictly below the last entry returned (the end of a range is exclusive).
    range.end = std::min(range.end, keys::GmLogKey(prefix, time_ms, seq));
  }

  GmLogPage page;
  bool more = false;
  absl::Status corrupt;
  if (range.begin < range.end) {
    s = store_->Scan(keys::TenantPartition(args.tenant), Table::kGmLog, range,
                     [&](absl::string_view key, absl::string_view value) {
                       if (page.entries.size() == static_cast<size_t>(page_size)) {
                         more = true;
                         return false;
                       }
                       absl::string_view pos = key.substr(prefix.size());
                       GmLogEntry entry;
                       if (pos.size() != keys::kGmLogSuffixSize || !DecodeLogEntry(value, &entry)) {
                         corrupt = Unreadable("log entry");
                         return false;
                       }
                       entry.time = absl::FromUnixMillis(keys::GetBigEndian64(pos));
                       page.entries.push_back(std::move(entry));
                       if (page.entries.size() == static_cast<size_t>(page_size)) {
                         page.next_page_token = EncodePageToken(
                             keys::GetBigEndian64(pos), keys::GetBigEndian64(pos.substr(8)));
                       }
                       return true;
                     });
    if (s.ok()) s = corrupt;
    if (!s.ok()) return s;
  }
  if (!more) page.next_page_token.clear();
  return page;
}

absl::StatusOr<std::vector<GmAchievement>> GameMechanics::GetChallengeStatus(
    const std::string& tenant, const std::string& uid, const std::string& include,
    const std::string& exclude) {
  absl::Status s = CheckUser(tenant, uid);
  if (!s.ok()) return s;
  absl::StatusOr<IdFilter> filter = IdFilter::Parse("include", include, "exclude", exclude);
  if (!filter.ok()) return filter.status();
  absl::StatusOr<std::shared_ptr<const GmConfig>> config = GetConfig(tenant);
  if (!config.ok()) return config.status();
  std::vector<const GmChallenge*> challenges;
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& [id, challenge] : (*config)->challenges) {
    if (challenge.IsEnabled() && filter->Matches(id)) {
      challenges.push_back(&challenge);
      pairs.emplace_back(uid, id);
    }
  }
  absl::StatusOr<std::vector<Standing>> standings = ReadStandings(tenant, uid, challenges);
  if (!standings.ok()) return standings.status();
  absl::StatusOr<std::vector<int64_t>> week = Read7Days(tenant, pairs, clock_->Now());
  if (!week.ok()) return week.status();
  std::vector<GmAchievement> out;
  out.reserve(challenges.size());
  for (size_t i = 0; i < challenges.size(); ++i) {
    out.push_back(MakeAchievement(*challenges[i], (*standings)[i].balance, (*week)[i],
                                  (*standings)[i].is_new_level));
  }
  return out;
}

absl::StatusOr<std::vector<GmTopUser>> GameMechanics::GetTopUsers(const GetTopUsersArgs& args) {
  absl::Status s = CheckIdentifier("tenant", args.tenant);
  if (!s.ok()) return s;
  const std::string challenge_id =
      args.challenge_id.empty() ? std::string(kDefaultChallengeId) : args.challenge_id;
  s = CheckIdentifier("challenge_id", challenge_id);
  if (s.ok()) s = CheckOptionalIdentifier("uid", args.uid);
  if (!s.ok()) return s;
  const int32_t total_count = args.total_count.value_or(kDefaultGmTopUsers);
  if (total_count < 1 || total_count > kMaxGmTopUsers) {
    return BadValue("total_count", absl::StrCat(total_count, " is outside 1..", kMaxGmTopUsers));
  }
  absl::StatusOr<std::shared_ptr<const GmConfig>> config = GetConfig(args.tenant);
  if (!config.ok()) return config.status();
  const GmChallenge* challenge = (*config)->FindChallenge(challenge_id);
  if (challenge == nullptr) {
    return BadValue("challenge_id",
                    absl::StrCat(Quote(challenge_id), " is not a configured challenge"));
  }
  const bool with_self = args.include_self.value_or(true) && !args.uid.empty();

  std::vector<std::string> uids;
  std::vector<int32_t> ranks;
  bool self_listed = false;
  int32_t self_rank = 0;
  if (args.period == GmPeriod::kAll) {
    // The index orders users by balance descending, then uid: the top is a short prefix scan.
    const std::string prefix = keys::GmTopPrefix(args.tenant, challenge_id);
    absl::Status corrupt;
    s = store_->Scan(keys::TenantPartition(args.tenant), Table::kGmState,
                     storage::PrefixRange(prefix), [&](absl::string_view key, absl::string_view) {
                       absl::string_view rest = key.substr(prefix.size());
                       if (rest.size() <= keys::kGmTopBalanceSize) {
                         corrupt = Unreadable("leaderboard entry");
                         return false;
                       }
                       uids.emplace_back(keys::GmTopUid(rest));
                       ranks.push_back(static_cast<int32_t>(uids.size()));
                       self_listed |= uids.back() == args.uid;
                       return uids.size() < static_cast<size_t>(total_count);
                     });
    if (s.ok()) s = corrupt;
    if (!s.ok()) return s;
    if (with_self && !self_listed) {
      absl::StatusOr<std::vector<Standing>> self =
          ReadStandings(args.tenant, args.uid, {challenge});
      if (!self.ok()) return self.status();
      if ((*self)[0].balance > 0) {
        // Users ahead of the caller are exactly the index keys before its own: O(rank).
        storage::ScanRange ahead;
        ahead.begin = prefix;
        ahead.end = keys::GmTopKey(args.tenant, challenge_id, (*self)[0].balance, args.uid);
        int64_t count = 0;
        s = store_->Scan(keys::TenantPartition(args.tenant), Table::kGmState, ahead,
                         [&](absl::string_view, absl::string_view) {
                           ++count;
                           return true;
                         });
        if (!s.ok()) return s;
        self_rank =
            static_cast<int32_t>(std::min<int64_t>(count + 1, std::numeric_limits<int32_t>::max()));
      }
    }
  } else {
    absl::StatusOr<GmWeekRankings::Board> board =
        week_.Top(args.tenant, challenge_id, static_cast<size_t>(total_count),
                  with_self ? absl::string_view(args.uid) : absl::string_view());
    if (!board.ok()) return board.status();
    for (WindowRanking::Entry& e : board->top) {
      self_listed |= e.item == args.uid;
      uids.push_back(std::move(e.item));
      ranks.push_back(static_cast<int32_t>(uids.size()));
    }
    self_rank = static_cast<int32_t>(
        std::min<size_t>(board->self_rank, std::numeric_limits<int32_t>::max()));
  }
  if (with_self && !self_listed) {
    uids.push_back(args.uid);
    ranks.push_back(self_rank);
  }

  absl::StatusOr<std::vector<GmAchievement>> achievements =
      AchievementsOf(args.tenant, uids, *challenge);
  if (!achievements.ok()) return achievements.status();
  std::vector<GmTopUser> out;
  out.reserve(uids.size());
  for (size_t i = 0; i < uids.size(); ++i) {
    out.push_back(GmTopUser{uids[i], ranks[i], std::move((*achievements)[i])});
  }
  return out;
}

}  // namespace countd::logic
