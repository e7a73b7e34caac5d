#include "server/logic/window_ranking.h"

#include <algorithm>
#include <limits>

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

WindowRanking::WindowRanking()
    : ranked_(Order{this}), horizon_(std::numeric_limits<int64_t>::min()) {}

WindowRanking::ItemId WindowRanking::Intern(absl::string_view item) {
  auto it = index_.find(item);
  if (it != index_.end()) return it->second;
  ItemId id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
    items_[id] = Item{std::string(item), 0, NamePrefix(item), 0};
  } else {
    id = static_cast<ItemId>(items_.size());
    items_.push_back(Item{std::string(item), 0, NamePrefix(item), 0});
  }
  index_.emplace(items_[id].name, id);
  return id;
}

void WindowRanking::Release(ItemId id) {
  Item& item = items_[id];
  if (item.total > 0) ranked_.erase(RankKey{item.total, item.prefix, id});
  index_.erase(item.name);
  item = Item{};
  free_ids_.push_back(id);
}

// Changes an item's total, keeping the ordered set consistent: the item leaves its old place
// and is inserted at its new one.
void WindowRanking::Move(ItemId id, int64_t delta) {
  Item& item = items_[id];
  if (item.total > 0) ranked_.erase(RankKey{item.total, item.prefix, id});
  item.total += delta;
  if (item.total > 0) ranked_.insert(RankKey{item.total, item.prefix, id});
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
}

int64_t WindowRanking::Total(absl::string_view item) const {
  auto it = index_.find(item);
  return it == index_.end() ? 0 : items_[it->second].total;
}

std::vector<WindowRanking::Entry> WindowRanking::Top(size_t k) const {
  std::vector<Entry> out;
  out.reserve(std::min(k, ranked_.size()));
  for (auto it = ranked_.begin(); it != ranked_.end() && out.size() < k; ++it) {
    out.push_back(Entry{items_[it->id].name, it->total});
  }
  return out;
}

size_t WindowRanking::RankOf(absl::string_view item) const {
  auto found = index_.find(item);
  if (found == index_.end() || items_[found->second].total <= 0) return 0;
  size_t rank = 1;
  for (auto it = ranked_.begin(); it != ranked_.end() && it->id != found->second; ++it) ++rank;
  return rank;
}

}  // namespace countd::logic
