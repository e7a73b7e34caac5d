// server/logic/gm_config.h — GameMechanics site configuration: actions, challenges and their
// levels; their validation, storage encoding and the include/exclude id filters.
#ifndef COUNTD_SERVER_LOGIC_GM_CONFIG_H_
#define COUNTD_SERVER_LOGIC_GM_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace countd::logic {

// The challenge every site has; it holds every action and cannot be deleted or disabled.
inline constexpr absl::string_view kDefaultChallengeId = "_default";
inline constexpr absl::string_view kDefaultChallengeTitle = "Overall Rank";
// The action_id of REDEEM log entries: no configured action may take it.
inline constexpr absl::string_view kRedeemActionId = "_redeem";

inline constexpr size_t kMaxGmActions = 1000;    // per tenant
inline constexpr size_t kMaxGmChallenges = 100;  // per tenant, _default included
inline constexpr size_t kMaxGmLevels = 100;      // per challenge
inline constexpr size_t kMaxGmTextBytes = 4096;  // titles, descriptions, badge URLs

struct GmLevel {
  int32_t level = 0;
  std::string title;
  std::string description;
  std::string badge_url;
  int64_t points_required = 0;
};

struct GmAction {
  std::string action_id;
  std::string title;
  std::string description;
  int64_t points = 0;                   // may be negative
  std::vector<std::string> challenges;  // empty = every challenge
};

struct GmChallenge {
  std::string challenge_id;
  std::string title;
  std::string description;
  absl::optional<bool> enabled;  // absent = true
  std::vector<GmLevel> levels;   // after Normalize: by level ascending

  bool IsEnabled() const { return enabled.value_or(true); }
};

// Checks an action; fields are named "action.<field>" (e.g. "action.challenges[1]").
// Returns it with duplicate challenge ids removed. Errors: INVALID_ARGUMENT.
absl::StatusOr<GmAction> NormalizeAction(const GmAction& action);

// Checks a challenge: id, text sizes, and levels (level >= 0 and unique, points_required >= 0
// and strictly increasing with level). Fields are named "challenge.<field>", e.g.
// "challenge.levels[2].points_required" (the index as sent). "_default" may not be disabled
// ("challenge.enabled"). Returns it with levels sorted by level. Errors: INVALID_ARGUMENT.
absl::StatusOr<GmChallenge> NormalizeChallenge(const GmChallenge& challenge);

// The level definition reached with `balance`: the highest level whose points_required <=
// balance; nullptr when none is (the user is at level 0 without a definition).
const GmLevel* LevelFor(const GmChallenge& challenge, int64_t balance);
// The level number reached with `balance` (0 when LevelFor is nullptr).
int32_t LevelNumber(const GmChallenge& challenge, int64_t balance);

// The challenge a site has before anyone configured "_default".
GmChallenge DefaultChallenge();

// Storage encoding of configuration records.
std::string EncodeAction(const GmAction& action);
bool DecodeAction(absl::string_view bytes, GmAction* action);
std::string EncodeChallenge(const GmChallenge& challenge);
bool DecodeChallenge(absl::string_view bytes, GmChallenge* challenge);

// Which ids an include/exclude pair selects: include is "*" (also when empty) or a comma list;
// exclude is empty, "*" or a comma list. Spaces around list items are ignored. Immutable after
// Parse; thread-safe.
class IdFilter {
 public:
  // Errors: INVALID_ARGUMENT naming `include_field` / `exclude_field` for an empty list item or
  // an item that is not an identifier.
  static absl::StatusOr<IdFilter> Parse(absl::string_view include_field, absl::string_view include,
                                        absl::string_view exclude_field, absl::string_view exclude);

  bool Matches(absl::string_view id) const;

 private:
  bool include_all_ = true;
  bool exclude_all_ = false;
  absl::flat_hash_set<std::string> include_;
  absl::flat_hash_set<std::string> exclude_;
};

// One tenant's configuration as read from storage: every action and challenge by id. Always
// holds "_default". Immutable once built; thread-safe to share.
struct GmConfig {
  std::map<std::string, GmAction> actions;
  std::map<std::string, GmChallenge> challenges;

  const GmAction* FindAction(absl::string_view id) const;
  const GmChallenge* FindChallenge(absl::string_view id) const;
  // The enabled challenges that count `action`, by id: all when its list is empty, else the
  // listed ones that exist, plus "_default".
  std::vector<const GmChallenge*> ChallengesOf(const GmAction& action) const;
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_GM_CONFIG_H_
