#include "server/logic/window_ranking.h"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <iterator>
#include <limits>
#include <vector>

namespace countd::logic {
namespace {

// The first 8 bytes of `name` as a big-endian number, zero-padded: a < b for the prefixes of two
// names implies a < b for the names, and a > b implies a > b.
uint64_t NamePrefix(absl::string_view name) {
  uint64_t prefix = 0;
  for (size_t i = 0; i < 8; ++i) {
    prefix = (prefix << 8) | (i < name.size() ? static_cast<unsigned char>(name[i]) : 0);
  }
  return prefix;
}

}  // namespace

bool WindowRanking::Order::operator()(const RankKey& a, const RankKey& b) const {
  if (a.total != b.total) return a.total > b.total;
  if (a.prefix != b.prefix) return a.prefix < b.prefix;
  if (a.id == b.id) return false;
  return self->items_[a.id].name < self->items_[b.id].name;
}

WindowRanking::WindowRanking(size_t min_ranked)
    : index_(0, NameHash{this}, NameEq{this}),
      ranked_(Order{this}),
      min_ranked_(std::max<size_t>(min_ranked, 1)),
      horizon_(std::numeric_limits<int64_t>::min()) {}

WindowRanking::ItemId WindowRanking::Intern(absl::string_view item) {
  auto it = index_.find(item);
  if (it != index_.end()) return *it;
  ItemId id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
    items_[id] = Item{std::string(item), 0, NamePrefix(item), 0};
  } else {
    id = static_cast<ItemId>(items_.size());
    items_.push_back(Item{std::string(item), 0, NamePrefix(item), 0});
  }
  index_.insert(id);
  return id;
}

void WindowRanking::Release(ItemId id) {
  Item& item = items_[id];
  if (item.total >= floor_) {
    ranked_.erase(RankKey{item.total, item.prefix, id});
  } else if (item.total > 0) {
    --unranked_positive_;
  }
  index_.erase(id);  // before the name goes: the set hashes ids by their names
  item = Item{};
  free_ids_.push_back(id);
}

// Changes an item's total, keeping the head consistent: an item in it leaves its old place, and
// is placed again if its new total is still at least the floor. Below the floor, only counts.
void WindowRanking::Move(ItemId id, int64_t delta) {
  Item& item = items_[id];
  if (item.total >= floor_) {
    ranked_.erase(RankKey{item.total, item.prefix, id});
  } else if (item.total > 0) {
    --unranked_positive_;
  }
  item.total += delta;
  if (item.total >= floor_) {
    ranked_.insert(RankKey{item.total, item.prefix, id});
    ++head_inserts_;
  } else if (item.total > 0) {
    ++unranked_positive_;
  }
}

void WindowRanking::Rebalance() {
  const size_t target = Target();
  if (ranked_.size() < target) {
    if (unranked_positive_ > 0) LowerFloor(2 * target);
  } else if (ranked_.size() > 4 * target && head_inserts_ >= 2 * target) {
    // Tried at most once per 2 * target placements: a try walks 2 * target items, and ties at
    // the floor can make it fail (it then waits for the totals to spread).
    head_inserts_ = 0;
    RaiseFloor(2 * target);
  }
}

void WindowRanking::LowerFloor(size_t want) {
  if (unranked_positive_ == 0 || ranked_.size() >= want) return;
  const size_t need = want - ranked_.size();
  // The new floor: the need-th largest total below the current one (1 = every positive item).
  int64_t floor = 1;
  if (unranked_positive_ > need) {
    std::vector<int64_t> totals;
    totals.reserve(unranked_positive_);
    for (const Item& item : items_) {
      if (item.total > 0 && item.total < floor_) totals.push_back(item.total);
    }
    auto nth = totals.begin() + static_cast<std::ptrdiff_t>(need - 1);
    std::nth_element(totals.begin(), nth, totals.end(), std::greater<int64_t>());
    floor = *nth;
  }
  for (ItemId id = 0; id < items_.size(); ++id) {
    const Item& item = items_[id];
    if (item.total >= floor && item.total < floor_) {
      ranked_.insert(RankKey{item.total, item.prefix, id});
      --unranked_positive_;
    }
  }
  floor_ = floor;
}

void WindowRanking::RaiseFloor(size_t keep) {
  if (keep == 0 || ranked_.size() <= keep) return;
  auto kth = ranked_.begin();
  std::advance(kth, keep - 1);
  const int64_t floor = kth->total;
  if (floor <= floor_) return;  // ties down to the floor: nothing can leave
  const size_t before = ranked_.size();
  ranked_.erase(ranked_.lower_bound(Below{floor}), ranked_.end());
  unranked_positive_ += before - ranked_.size();
  floor_ = floor;
}

bool WindowRanking::Add(absl::string_view item, int64_t bucket_end, int64_t delta) {
  if (bucket_end <= horizon_ || delta == 0) return false;
  ItemId id = Intern(item);
  int64_t& cell = buckets_[bucket_end][id];
  bool was_empty = cell == 0;
  cell += delta;
  if (was_empty && cell != 0) {
    ++items_[id].live_buckets;
    ++cells_;
  } else if (!was_empty && cell == 0) {
    --items_[id].live_buckets;
    --cells_;
    buckets_[bucket_end].erase(id);
  }
  Move(id, delta);
  if (items_[id].live_buckets == 0) Release(id);
  Rebalance();
  return true;
}

void WindowRanking::ExpireBefore(int64_t horizon) {
  if (horizon <= horizon_) return;
  horizon_ = horizon;
  while (!buckets_.empty() && buckets_.begin()->first <= horizon) {
    for (const auto& [id, count] : buckets_.begin()->second) {
      Move(id, -count);
      --cells_;
      if (--items_[id].live_buckets == 0) Release(id);
    }
    buckets_.erase(buckets_.begin());
  }
  Rebalance();
}

int64_t WindowRanking::Total(absl::string_view item) const {
  auto it = index_.find(item);
  return it == index_.end() ? 0 : items_[*it].total;
}

std::vector<WindowRanking::Entry> WindowRanking::Top(size_t k) {
  asked_ = std::max(asked_, k);
  if (ranked_.size() < k) LowerFloor(2 * Target());
  std::vector<Entry> out;
  out.reserve(std::min(k, ranked_.size()));
  for (auto it = ranked_.begin(); it != ranked_.end() && out.size() < k; ++it) {
    out.push_back(Entry{items_[it->id].name, it->total});
  }
  return out;
}

size_t WindowRanking::RankOf(absl::string_view item) const {
  auto found = index_.find(item);
  if (found == index_.end()) return 0;
  const Item& self = items_[*found];
  if (self.total <= 0) return 0;
  size_t rank = 1;
  if (self.total >= floor_) {
    for (auto it = ranked_.begin(); it != ranked_.end() && it->id != *found; ++it) ++rank;
    return rank;
  }
  // Below the floor: after the whole head, and after the items below it that sort first in the
  // head's own order (totals, then 8-byte name prefixes, then names).
  rank += ranked_.size();
  const Order before{this};
  const RankKey key{self.total, self.prefix, *found};
  for (ItemId id = 0; id < items_.size(); ++id) {
    const Item& other = items_[id];
    if (other.total <= 0 || other.total >= floor_) continue;
    if (before(RankKey{other.total, other.prefix, id}, key)) ++rank;
  }
  return rank;
}

}  // namespace countd::logic
