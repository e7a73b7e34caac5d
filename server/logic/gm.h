// server/logic/gm.h — GameMechanics: actions that grant points in challenges, per-user balances
// that never go below 0, levels, an action log, and all-time and 7-day leaderboards.
#ifndef COUNTD_SERVER_LOGIC_GM_H_
#define COUNTD_SERVER_LOGIC_GM_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "server/logic/config_cache.h"
#include "server/logic/gm_config.h"
#include "server/logic/gm_rankings.h"
#include "server/logic/request_log.h"
#include "server/logic/striped_mutex.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd::logic {

inline constexpr int32_t kDefaultGmLogPageSize = 100;
inline constexpr int32_t kMaxGmLogPageSize = 1000;
inline constexpr int32_t kDefaultGmTopUsers = 12;
inline constexpr int32_t kMaxGmTopUsers = 100;
// Latest unix second accepted as a log range bound (9999-12-31T23:59:59Z).
inline constexpr int64_t kMaxGmUnixSeconds = 253402300799;

// A user's standing in one challenge.
struct GmAchievement {
  std::string challenge_id;
  int32_t level = 0;
  std::string level_title;
  std::string level_description;
  std::string badge_url;
  int64_t points_total = 0;   // the balance, >= 0
  int64_t points_7days = 0;   // granted points of today (UTC) and the 6 days before
  bool is_new_level = false;  // a higher level was reached since the last ResetLevelStatus
};

enum class GmOperation { kGrant, kRedeem };

struct GmLogEntry {
  absl::Time time;
  std::string action_id;
  int64_t points = 0;
  std::string ip;
  std::string challenge_id;
  GmOperation operation = GmOperation::kGrant;
};

struct NotifyActionArgs {
  std::string tenant;
  std::string uid;
  std::string action_id;
  std::string ip;          // optional, logged
  std::string request_id;  // optional idempotency key
};

struct RedeemPointsArgs {
  std::string tenant;
  std::string uid;
  std::string challenge_id;  // empty = "_default"
  int64_t points = 0;        // > 0
  std::string request_id;    // optional idempotency key
};

struct GetActionsLogArgs {
  std::string tenant;
  std::string uid;
  absl::optional<int64_t> start_time;  // unix s, inclusive; absent = from the beginning
  absl::optional<int64_t> end_time;    // unix s, inclusive; absent = up to now
  int32_t page_size = 0;               // 0 = kDefaultGmLogPageSize
  std::string page_token;              // from a previous page; empty = the first page
};

struct GmLogPage {
  std::vector<GmLogEntry> entries;  // newest first
  std::string next_page_token;      // empty on the last page
};

enum class GmPeriod { kAll, kDays7 };

struct GetTopUsersArgs {
  std::string tenant;
  std::string challenge_id;             // empty = "_default"
  absl::optional<int32_t> total_count;  // default kDefaultGmTopUsers
  GmPeriod period = GmPeriod::kDays7;
  std::string uid;                    // optional: the caller
  absl::optional<bool> include_self;  // default true
};

struct GmTopUser {
  std::string uid;
  int32_t rank = 0;  // 1-based; 0 for a caller's own row without points in the period
  GmAchievement achievement;
};

struct GameMechanicsOptions {
  GmWeekRankingsOptions week_rankings;
  // When processes share the store: how stale a cached configuration may be
  // (ConfigCacheOptions).
  absl::Duration config_cache_ttl = kDefaultConfigCacheTtl;
};

// The GameMechanics service logic. Thread-safe. Writes of one user are serialized (a striped
// lock held from reading the balance until the write is durable); writes of different users
// run in parallel; configuration changes are serialized per process and conditional on the
// configuration's version record, so changes from processes sharing a store never lose one
// another. Each process caches configurations: when the store is shared, a change made through
// one process is seen by the others at most `config_cache_ttl` after it returned (at once by the
// process that made it); the changes themselves always start from the stored configuration.
class GameMechanics {
 public:
  // `store`, `clock` and `requests` must outlive this object.
  GameMechanics(storage::Store* store, const storage::Clock* clock, RequestLog* requests,
                GameMechanicsOptions options);
  ~GameMechanics();

  // --- Configuration ---
  // Creates or replaces an action. Errors: INVALID_ARGUMENT naming the field ("action.…");
  // FAILED_PRECONDITION when the tenant would have more than kMaxGmActions; UNAVAILABLE.
  absl::Status SetActionConfig(const std::string& tenant, const GmAction& action);
  // Actions whose id matches include ("*" or a comma list; empty = "*") and not exclude, by id.
  // Errors: INVALID_ARGUMENT naming tenant / include / exclude; UNAVAILABLE.
  absl::StatusOr<std::vector<GmAction>> GetActionConfig(const std::string& tenant,
                                                        const std::string& include,
                                                        const std::string& exclude);
  // Errors: INVALID_ARGUMENT; NOT_FOUND naming action_id when it is not configured;
  // UNAVAILABLE. The log keeps the action's entries.
  absl::Status DeleteAction(const std::string& tenant, const std::string& action_id);

  // Creates or replaces a challenge (levels sorted by level). Errors: INVALID_ARGUMENT naming the
  // field ("challenge.levels[2].points_required", "challenge.enabled" to disable "_default");
  // FAILED_PRECONDITION past kMaxGmChallenges; UNAVAILABLE.
  absl::Status SetChallengeConfig(const std::string& tenant, const GmChallenge& challenge);
  // Challenges matching the filters, by id; disabled ones only with include_disabled.
  // "_default" is always there. Errors: INVALID_ARGUMENT; UNAVAILABLE.
  absl::StatusOr<std::vector<GmChallenge>> GetChallengeConfig(const std::string& tenant,
                                                              const std::string& include,
                                                              const std::string& exclude,
                                                              bool include_disabled);
  // Removes a challenge's configuration; users' balances in it stay stored (and reappear if it
  // is configured again). Errors: INVALID_ARGUMENT naming challenge_id for "_default";
  // NOT_FOUND when not configured; UNAVAILABLE.
  absl::Status DeleteChallenge(const std::string& tenant, const std::string& challenge_id);

  // --- Users ---
  // Grants the action's points in every enabled challenge holding it, in one atomic write (log
  // entries, balances, levels, daily buckets, leaderboard index). Returns the user's standing
  // in each of those challenges, by challenge id. A request_id repeated within 24 h is applied
  // once and answered as the first time. Errors: INVALID_ARGUMENT naming the field (unknown
  // action: "action_id"); FAILED_PRECONDITION for a request_id reused for another request;
  // UNAVAILABLE.
  absl::StatusOr<std::vector<GmAchievement>> NotifyAction(const NotifyActionArgs& args);

  // Deducts points from the user's balance in a challenge and logs -points (REDEEM).
  // Errors: INVALID_ARGUMENT naming the field (unknown challenge: "challenge_id"; points <= 0:
  // "points"); FAILED_PRECONDITION naming "points" when points > balance, naming
  // "challenge_id" when the challenge is disabled, or for a reused request_id; UNAVAILABLE.
  absl::StatusOr<GmAchievement> RedeemPoints(const RedeemPointsArgs& args);

  // One page of the user's log entries in [start_time, end_time], newest first.
  // Errors: INVALID_ARGUMENT naming the field (page_size outside 1..1000, a malformed
  // page_token, start_time > end_time); UNAVAILABLE.
  absl::StatusOr<GmLogPage> GetActionsLog(const GetActionsLogArgs& args);

  // The user's standing in every enabled challenge matching the filters, by challenge id. A
  // user without data gets level-0 rows (the level reached with 0 points) with zero points.
  // Errors: INVALID_ARGUMENT; UNAVAILABLE.
  absl::StatusOr<std::vector<GmAchievement>> GetChallengeStatus(const std::string& tenant,
                                                                const std::string& uid,
                                                                const std::string& include,
                                                                const std::string& exclude);

  // Clears is_new_level of one challenge for the user. Errors: INVALID_ARGUMENT naming the field
  // (unknown challenge: "challenge_id"); UNAVAILABLE.
  absl::Status ResetLevelStatus(const std::string& tenant, const std::string& uid,
                                const std::string& challenge_id);

  // The challenge's leaderboard: users with points in the period (balance for kAll, 7-day
  // grants for kDays7), best first, ties by uid ascending; with include_self (default true) and
  // a uid, the caller's row is appended when not in the list (rank 0 without points).
  // Errors: INVALID_ARGUMENT naming the field (total_count outside 1..100, unknown
  // challenge_id); UNAVAILABLE.
  absl::StatusOr<std::vector<GmTopUser>> GetTopUsers(const GetTopUsersArgs& args);

 private:
  struct Standing;

  absl::StatusOr<std::shared_ptr<const GmConfig>> GetConfig(const std::string& tenant);
  absl::StatusOr<std::shared_ptr<const GmConfig>> LoadConfig(const std::string& tenant);
  // Lets `change` edit a copy of the tenant's current configuration and fill a batch; writes it
  // (with the version bump) and publishes the copy when the batch is not empty.
  using ConfigChange = std::function<absl::Status(GmConfig* next, storage::WriteBatch* batch)>;
  absl::Status UpdateConfig(const std::string& tenant, const ConfigChange& change);

  // Reads the user's balance and is_new_level in each challenge (absent = zero).
  absl::StatusOr<std::vector<Standing>> ReadStandings(
      const std::string& tenant, const std::string& uid,
      const std::vector<const GmChallenge*>& challenges);
  // Sums of the granted points of each (uid, challenge) pair over the last 7 days.
  absl::StatusOr<std::vector<int64_t>> Read7Days(
      const std::string& tenant, const std::vector<std::pair<std::string, std::string>>& pairs,
      absl::Time now);
  // The next free log sequence number of the user at `time_ms` (call under the user lock).
  absl::StatusOr<int64_t> NextLogSeq(const std::string& tenant, const std::string& log_prefix,
                                     int64_t time_ms);
  // Achievements of `uids` in one challenge.
  absl::StatusOr<std::vector<GmAchievement>> AchievementsOf(const std::string& tenant,
                                                            const std::vector<std::string>& uids,
                                                            const GmChallenge& challenge);
  absl::Mutex& UserLock(const std::string& tenant, const std::string& uid);

  storage::Store* store_;
  const storage::Clock* clock_;
  RequestLog* requests_;
  GmWeekRankings week_;

  // Serializes writers of one user: taken inside RequestLog::Apply's build step (after its
  // request-id stripe) and held until the write is durable; never held while taking a
  // request-id stripe.
  StripedMutex<> user_locks_;

  ConfigCache<GmConfig> configs_;
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_GM_H_
