// server/logic/window_ranking.h — an exact in-memory ranking of items by their total over a
// sliding window of time buckets (Tally's top-K, GameMechanics' 7-day leaderboard).
#ifndef COUNTD_SERVER_LOGIC_WINDOW_RANKING_H_
#define COUNTD_SERVER_LOGIC_WINDOW_RANKING_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace countd::logic {

// Items carry counts in time buckets identified by their end time (any unit, e.g. unix seconds).
// An item's total is the sum over its buckets not yet expired; the ranking orders items by total
// descending, then by name ascending, and leaves out items whose total is <= 0.
//
// Only the head of the order is kept sorted: the items whose total is at least a floor, chosen so
// that a few thousand items are above it (at least `min_ranked`, and at least the largest k Top
// was asked for). Every other item's total is below every sorted one, so the head is exactly the
// first items of the whole order. With many items (Tally's top-K over 10^6 countables), most
// changes touch an item below the floor and cost a hash lookup, not two B-tree searches. Items
// tied at the floor all stay sorted: when most items share one total, most are in the head.
//
// Costs: Add is O(1) below the floor and O(log h) at or above it (h = items in the head: the item
// leaves its old place and is placed again, two searches of a B-tree whose keys carry the total
// and the first 8 bytes of the name, so most comparisons touch no item). When the head grows past
// 4x its target the floor rises (O(h)); when it shrinks below its target while items are below
// the floor (expiry, negative deltas, a larger k), the floor is lowered by one pass over all items
// (O(n)), which then lasts for at least as many drops as the target. ExpireBefore is O(1) or
// O(log h) per (item, bucket) cell it drops, each cell dropped once; Top(k) is O(k) (O(n) when it
// must lower the floor); memory is O(items + non-empty cells). Items with no bucket left are
// forgotten.
//
// Not thread-safe: the owner serializes all calls.
class WindowRanking {
 public:
  struct Entry {
    std::string item;
    int64_t total = 0;
  };

  // The head's target size when nobody asked for more (Top's k).
  static constexpr size_t kDefaultMinRanked = 1024;

  explicit WindowRanking(size_t min_ranked = kDefaultMinRanked);
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

  // Up to `k` entries with total > 0, by total descending then item ascending. Keeps at least
  // `k` items sorted from now on, so asking again for as many costs O(k).
  std::vector<Entry> Top(size_t k);

  // The 1-based rank of `item` among items with total > 0, or 0 when it has none.
  // O(rank) for an item in the sorted head, O(n) below it: meant for a caller's own row next to
  // a short leaderboard.
  size_t RankOf(absl::string_view item) const;

  // Items currently tracked (with at least one live bucket).
  size_t items() const { return index_.size(); }
  // Non-empty (item, bucket) cells held.
  size_t cells() const { return cells_; }
  // Items kept sorted now (the head); for tests.
  size_t sorted_items() const { return ranked_.size(); }

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
  // A search key that sorts after every RankKey with total >= `total` and before the others.
  struct Below {
    int64_t total;
  };
  struct Order {
    using is_transparent = void;
    const WindowRanking* self;
    bool operator()(const RankKey& a, const RankKey& b) const;
    bool operator()(const RankKey& a, const Below& b) const { return a.total >= b.total; }
    bool operator()(const Below& a, const RankKey& b) const { return b.total < a.total; }
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
  // The head's target size: min_ranked_, or the largest k Top was asked for.
  size_t Target() const { return std::max(min_ranked_, asked_); }
  // Lowers the floor when the head is below its target and items wait below the floor; raises
  // it when the head passed 4x its target.
  void Rebalance();
  // Moves the floor down so that the head holds at least `want` items (or every positive one).
  void LowerFloor(size_t want);
  // Moves the floor up to the total of the `keep`-th item and drops the items below it from the
  // head (ties at that total all stay).
  void RaiseFloor(size_t keep);

  std::vector<Item> items_;
  std::vector<ItemId> free_ids_;
  // Ids by name. The set holds ids only and reads their names in items_, so each name is stored
  // once; a lookup by name hashes the name, and ids stand for their (distinct) names.
  struct NameHash {
    using is_transparent = void;
    const WindowRanking* self;
    size_t operator()(absl::string_view name) const { return absl::HashOf(name); }
    size_t operator()(ItemId id) const { return (*this)(self->items_[id].name); }
  };
  struct NameEq {
    using is_transparent = void;
    const WindowRanking* self;
    bool operator()(ItemId a, ItemId b) const { return a == b; }
    bool operator()(ItemId a, absl::string_view b) const { return self->items_[a].name == b; }
    bool operator()(absl::string_view a, ItemId b) const { return a == self->items_[b].name; }
  };
  absl::flat_hash_set<ItemId, NameHash, NameEq> index_;
  // The head: the items whose total is >= floor_ (floor_ >= 1, so every total here is > 0).
  // Every other item's total is < floor_.
  RankedSet ranked_;
  int64_t floor_ = 1;
  size_t unranked_positive_ = 0;  // items with 0 < total < floor_
  const size_t min_ranked_;
  size_t asked_ = 0;         // the largest k Top was asked for
  size_t head_inserts_ = 0;  // items placed in the head since the floor last tried to rise
  std::map<int64_t, absl::flat_hash_map<ItemId, int64_t>> buckets_;  // by bucket end
  int64_t horizon_;
  size_t cells_ = 0;
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_WINDOW_RANKING_H_
