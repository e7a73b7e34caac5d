// server/logic/window_ranking.h — an exact in-memory ranking of items by their total over a
// sliding window of time buckets (Tally's top-K, GameMechanics' 7-day leaderboard).
#ifndef COUNTD_SERVER_LOGIC_WINDOW_RANKING_H_
#define COUNTD_SERVER_LOGIC_WINDOW_RANKING_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace countd::logic {

// Items carry counts in time buckets identified by their end time (any unit, e.g. unix seconds).
// An item's total is the sum over its buckets not yet expired; the ranking orders items by total
// descending, then by name ascending, and leaves out items whose total is <= 0.
//
// Costs: Add is O(log n) (an item leaves its old place and is placed again, two searches of a
// B-tree whose keys carry the total and the first 8 bytes of the name, so most comparisons touch
// no item); ExpireBefore is O(log n) per (item, bucket) cell it drops, each cell dropped once;
// Top(k) is O(k); memory is O(items + non-empty cells). Items with no bucket left are forgotten.
//
// Not thread-safe: the owner serializes all calls.
class WindowRanking {
 public:
  struct Entry {
    std::string item;
    int64_t total = 0;
  };

  WindowRanking();
  WindowRanking(const WindowRanking&) = delete;
  WindowRanking& operator=(const WindowRanking&) = delete;

  // Adds `delta` (any sign) to `item` in the bucket ending at `bucket_end`. A bucket at or before
  // the last ExpireBefore horizon is ignored (it would be expired at once); returns whether the
  // add was kept.
  bool Add(absl::string_view item, int64_t bucket_end, int64_t delta);

  // Drops every bucket whose end is <= `horizon`. Horizons only move forward: a smaller one than
  // before is a no-op.
  void ExpireBefore(int64_t horizon);

  // The total of `item` over live buckets (0 when unknown).
  int64_t Total(absl::string_view item) const;

  // Up to `k` entries with total > 0, by total descending then item ascending.
  std::vector<Entry> Top(size_t k) const;

  // The 1-based rank of `item` among items with total > 0, or 0 when it has none.
  // O(rank): meant for a caller's own row next to a short leaderboard.
  size_t RankOf(absl::string_view item) const;

  // Items currently tracked (with at least one live bucket).
  size_t items() const { return index_.size(); }
  // Non-empty (item, bucket) cells held.
  size_t cells() const { return cells_; }

 private:
  using ItemId = uint32_t;
  // An item's place in the ranking. `prefix` is the name's first 8 bytes, big-endian and
  // zero-padded, so comparing prefixes orders names as comparing the names would, except that
  // equal prefixes need the names themselves.
  struct RankKey {
    int64_t total;
    uint64_t prefix;
    ItemId id;
  };
  struct Order {
    const WindowRanking* self;
    bool operator()(const RankKey& a, const RankKey& b) const;
  };
  using RankedSet = absl::btree_set<RankKey, Order>;
  struct Item {
    std::string name;
    int64_t total = 0;
    uint64_t prefix = 0;        // RankKey::prefix of name
    uint32_t live_buckets = 0;  // buckets with a non-zero cell for this item
  };

  ItemId Intern(absl::string_view item);
  void Release(ItemId id);
  void Move(ItemId id, int64_t delta);

  std::vector<Item> items_;
  std::vector<ItemId> free_ids_;
  absl::flat_hash_map<std::string, ItemId> index_;
  RankedSet ranked_;                                                 // items with total > 0
  std::map<int64_t, absl::flat_hash_map<ItemId, int64_t>> buckets_;  // by bucket end
  int64_t horizon_;
  size_t cells_ = 0;
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_WINDOW_RANKING_H_
