// server/logic/gm_rankings.h — the GameMechanics 7-day leaderboards: per (tenant, challenge) an
// exact in-memory WindowRanking of users by the points granted in the last 7 UTC days, built
// from the kGmDaily buckets on first use and kept current by the writes that follow.
#ifndef COUNTD_SERVER_LOGIC_GM_RANKINGS_H_
#define COUNTD_SERVER_LOGIC_GM_RANKINGS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/logic/window_ranking.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd::logic {

// Days a 7-day total covers: today (UTC) and the 6 days before.
inline constexpr int32_t kGmWeekDays = 7;

// On a store that keeps rankings (Store::KeepsRankings: Redis Cluster, shared by several
// processes) a challenge's 7-day leaderboard is the store's ranking of this name in the tenant's
// partition, written with every grant; otherwise each process ranks in memory.
std::string GmWeekRankingName(absl::string_view challenge_id);

// Adds to `batch` (of the tenant's partition) the ranking op that goes with `points` stored in
// `uid`'s kGmDaily bucket of `day` for `challenge_id`, written at `now`. Used by NotifyAction
// (through GmWeekRankings::AddToBatch) and by the move of a node's data into a cluster.
void AddGmWeekRanked(storage::WriteBatch* batch, absl::string_view challenge_id,
                     absl::string_view uid, int32_t day, int64_t points, absl::Time now);

struct GmWeekRankingsOptions {
  // (tenant, challenge) entries tracked at once; idle ones beyond it are forgotten, least
  // recently used first, and rebuilt from disk when asked for again.
  size_t max_rankings = 1024;
  // Users held by all in-memory rankings together; past it the least recently used rankings
  // are dropped. A single challenge with more users than this is ranked from disk per request.
  size_t max_users = 1'000'000;
};

// The 7-day leaderboards of every tenant's challenges. Thread-safe: writes of different users
// update one ranking under its own mutex; rankings of different challenges are independent.
//
// Writers bracket each durable write with BeginWrite (before) and Writer::Commit (after it
// succeeded); a ranking being built waits for the writes in progress and holds new ones back,
// so every stored grant is counted exactly once.
class GmWeekRankings {
 private:
  struct Entry;

 public:
  struct Change {
    std::string challenge_id;
    int32_t day = 0;  // day index (storage/keys.h DayIndex)
    int64_t delta = 0;
  };

  // One write in progress. Destroying it ends the write (without changes unless Commit ran).
  // Not thread-safe; use it on one thread.
  class Writer {
   public:
    Writer(Writer&& other) noexcept;
    Writer& operator=(Writer&&) = delete;
    ~Writer();

    // Applies the changes the durable write stored for `uid` (their challenges must have been
    // named to BeginWrite). Call at most once, only after the write succeeded.
    void Commit(absl::string_view uid, const std::vector<Change>& changes, absl::Time now);

   private:
    friend class GmWeekRankings;
    Writer(GmWeekRankings* owner, std::vector<std::shared_ptr<Entry>> entries);
    GmWeekRankings* owner_;
    std::vector<std::shared_ptr<Entry>> entries_;
  };

  // One leaderboard read.
  struct Board {
    std::vector<WindowRanking::Entry> top;  // by total descending, then uid ascending
    size_t self_rank = 0;                   // 1-based; 0 when self has no points (or not asked)
    int64_t self_total = 0;
  };

  // `store` and `clock` must outlive this object.
  GmWeekRankings(storage::Store* store, const storage::Clock* clock, GmWeekRankingsOptions options);
  ~GmWeekRankings();
  GmWeekRankings(const GmWeekRankings&) = delete;
  GmWeekRankings& operator=(const GmWeekRankings&) = delete;

  // Announces a write that changes 7-day totals of `challenge_ids` of `tenant`. May wait while
  // one of those rankings is being built, so call it before taking any lock: a build waits for
  // announced writes, and those may need the caller's locks to finish.
  Writer BeginWrite(absl::string_view tenant, const std::vector<std::string>& challenge_ids);

  // On a store that keeps rankings, adds the ranking op of `change` for `uid` to the durable
  // write itself (Writer::Commit then has nothing to do); otherwise nothing.
  void AddToBatch(storage::WriteBatch* batch, absl::string_view uid, const Change& change,
                  absl::Time now) const;

  // Up to `k` users with a positive 7-day total in the challenge, and the rank and total of
  // `self_uid` when not empty. Errors: UNAVAILABLE / DATA_LOSS when the rebuild from disk fails.
  absl::StatusOr<Board> Top(absl::string_view tenant, absl::string_view challenge_id, size_t k,
                            absl::string_view self_uid);

  // Users held in memory by all rankings / (tenant, challenge) entries tracked. For tests.
  size_t HeldUsersForTest() const { return held_users_.load(); }
  size_t EntriesForTest() const;
  // Builds currently waiting for writes in flight to end. For tests.
  size_t BuildsWaitingForTest() const { return builds_waiting_.load(); }

 private:
  // Finds or creates the entry of (tenant, challenge); forgets idle entries beyond the limit.
  std::shared_ptr<Entry> Find(absl::string_view tenant, absl::string_view challenge_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes `entry` hold a ranking unless it is too big; returns whether it holds one.
  absl::StatusOr<bool> EnsureRanking(Entry* entry, absl::Time now);
  absl::StatusOr<Board> TopFromDisk(const Entry& entry, size_t k, absl::string_view self_uid,
                                    absl::Time now);
  void EndWrite(const std::vector<std::shared_ptr<Entry>>& entries);
  // Requires entry->mu held: brings held_users_ up to date for it.
  void NoteUsers(Entry* entry);
  void EvictOverBudget(const Entry* keep);

  storage::Store* store_;
  const storage::Clock* clock_;
  GmWeekRankingsOptions options_;
  // The store keeps the rankings (shared by processes): nothing is ranked in memory.
  const bool shared_;
  std::atomic<size_t> held_users_{0};
  std::atomic<uint64_t> use_clock_{0};
  std::atomic<size_t> builds_waiting_{0};

  // Guards the entry map and every entry's `loading` / `inflight` bookkeeping, so a writer
  // announces all its challenges at once and never waits while holding some of them.
  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // signalled when a build ends or writes end
  absl::flat_hash_map<std::string, std::shared_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_GM_RANKINGS_H_
