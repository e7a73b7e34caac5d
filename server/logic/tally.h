// server/logic/tally.h — counts over a per-counter sliding window and exact top-K rankings.
#ifndef COUNTD_SERVER_LOGIC_TALLY_H_
#define COUNTD_SERVER_LOGIC_TALLY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"
#include "server/logic/window_ranking.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd::logic {

inline constexpr int kMaxWindowMinutes = 43200;  // 30 days
inline constexpr size_t kMaxMetadataChars = 16384;
inline constexpr int kDefaultTopK = 25;
inline constexpr int kMaxTopK = 1000;

// What a Tally counter keeps. The two ops of one counter name are separate counters: their
// counts, windows, metadata and rankings never mix (as in the original service, whose top-K keys
// carried the op: "<tid>::<counter>::topk::<countable>").
enum class TallyOp { kUnspecified, kECount, kTopK };

struct TallyIncrementArgs {
  std::string tenant;
  TallyOp op = TallyOp::kUnspecified;
  std::string counter;
  std::string countable;
  int32_t window_minutes = 0;
  absl::optional<std::string> metadata;  // present: replaces the stored metadata
  absl::optional<int64_t> delta;         // default 1, >= 1
};

struct TallyItem {
  std::string countable;
  int64_t count = 0;
  absl::optional<std::string> metadata;
};

struct TallyOptions {
  // Items (countables with a count in the window) held by all in-memory rankings together;
  // past it the least recently used rankings are dropped and rebuilt from disk on demand.
  size_t max_ranked_items = 2'000'000;
};

// Sub-bucket width of a window: max(1 s, window / 60), i.e. `window_minutes` seconds.
inline int64_t TallyBucketSeconds(int32_t window_minutes) { return window_minutes; }

// On a store that keeps rankings (Store::KeepsRankings: Redis Cluster, shared by several
// processes) the ranking of a TOPK counter is the store's ranking of this name in the counter's
// partition, written with every bucket; otherwise each process ranks in memory.
inline constexpr char kTallyRanking[] = "topk";

// Adds to `batch` the ranking op that goes with `delta` stored in the TOPK bucket ending at
// `bucket_end` (kept until `keep_until`, unix s) of a counter whose window is `window_minutes`,
// written at `now_s`. Used by Tally::Increment and by the move of a node's data into a cluster.
void AddTallyRanked(storage::WriteBatch* batch, absl::string_view countable, int64_t bucket_end,
                    int64_t keep_until, int32_t window_minutes, int64_t now_s, int64_t delta);

// The Tally service logic. Thread-safe: increments of different counters run in parallel;
// increments of one counter run their durable writes in parallel and serialize only the
// in-memory ranking update.
class Tally {
 public:
  // `store` and `clock` must outlive this object.
  Tally(storage::Store* store, const storage::Clock* clock, TallyOptions options);
  ~Tally();

  // Adds delta to countable in the window of (args.op, counter); sets that counter's window;
  // replaces the countable's metadata in that counter when given.
  // Errors: INVALID_ARGUMENT naming the field; UNAVAILABLE.
  absl::Status Increment(const TallyIncrementArgs& args);

  // Count of `countable` in the current window of (op, counter); kUnspecified reads kECount.
  // Errors: INVALID_ARGUMENT; NOT_FOUND when the countable has no stored count in that counter
  // (never seen, or every bucket of it expired); UNAVAILABLE.
  absl::StatusOr<int64_t> GetCount(const std::string& tenant, TallyOp op,
                                   const std::string& counter, const std::string& countable);

  // Up to k (default 25, 1..1000) items of the TOPK counter `counter`, by count descending, ties
  // by countable ascending.
  // Errors: INVALID_ARGUMENT; NOT_FOUND for a counter never incremented; UNAVAILABLE.
  absl::StatusOr<std::vector<TallyItem>> GetTopK(const std::string& tenant,
                                                 const std::string& counter,
                                                 absl::optional<int32_t> k, bool with_metadata);

  // Moves the records written before the two ops were separate (one set of counts, window and
  // metadata per counter name, read by both ops) into both ops, so that each op reads exactly
  // what it read before. Call once at start, before serving. Each step moves up to 1000 records
  // in one atomic write (copies in, originals out), so an interrupted run resumes where it
  // stopped. Returns the number of legacy records moved (0 once done).
  // Errors: UNAVAILABLE (records not yet moved stay in place, and are still moved by a later run).
  absl::StatusOr<int64_t> SplitLegacyCounters();

  // Items held by in-memory rankings (for tests and metrics).
  size_t RankedItemsForTest() const { return ranked_items_.load(); }

 private:
  struct CounterState;

  absl::StatusOr<std::shared_ptr<CounterState>> State(char op, const std::string& tenant,
                                                      const std::string& counter);
  // The stored window of (op, counter), 0 when never incremented. Errors: DATA_LOSS; those of
  // the store.
  absl::StatusOr<int32_t> ReadWindow(char op, const std::string& tenant,
                                     const std::string& counter);
  // Reads the window of `state` from the store again when other processes may have changed it
  // (a shared store); otherwise it is the one cached.
  absl::StatusOr<int32_t> CurrentWindow(CounterState* state);
  // Makes `state` hold a current ranking (building it from disk when absent) unless the counter
  // is too large for memory. Returns whether a ranking is held.
  absl::StatusOr<bool> EnsureRanking(CounterState* state, absl::Time now);
  // Visits every stored sub-bucket of a counter in key order (grouped by countable) with its
  // countable, bucket end (unix s) and count; the visitor returns false to stop.
  // Errors: UNAVAILABLE; DATA_LOSS for an unreadable entry.
  using BucketVisitor =
      std::function<bool(absl::string_view countable, int64_t bucket_end, int64_t count)>;
  absl::Status ScanBuckets(const CounterState& state, const BucketVisitor& visit);
  absl::StatusOr<std::vector<TallyItem>> TopFromDisk(CounterState* state, size_t k, absl::Time now);
  // Requires state->mu held.
  void NoteItems(CounterState* state);
  void EvictOverBudget(const CounterState* keep);

  storage::Store* store_;
  const storage::Clock* clock_;
  TallyOptions options_;
  // The store keeps the rankings (shared by processes): no in-memory ranking, no cached window.
  const bool shared_;
  std::atomic<size_t> ranked_items_{0};
  std::atomic<uint64_t> use_clock_{0};

  absl::Mutex states_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<CounterState>> states_
      ABSL_GUARDED_BY(states_mu_);
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_TALLY_H_
