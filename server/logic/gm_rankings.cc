#include "server/logic/gm_rankings.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <utility>

#include "storage/keys.h"

namespace countd::logic {
namespace {

namespace keys = storage::keys;
using storage::Table;

constexpr int64_t kSecondsPerDay = 86400;

// A day's bucket in a WindowRanking ends when the next UTC day begins.
int64_t BucketEnd(int32_t day) { return (int64_t{day} + 1) * kSecondsPerDay; }

// Buckets ending at or before this are older than the 7 days ending today.
int64_t Horizon(absl::Time now) {
  return (int64_t{keys::DayIndex(now)} - (kGmWeekDays - 1)) * kSecondsPerDay;
}

// Leaderboard order: total descending, then uid ascending.
bool Before(const WindowRanking::Entry& a, const WindowRanking::Entry& b) {
  if (a.total != b.total) return a.total > b.total;
  return a.item < b.item;
}

// Reads one kGmDaily entry under a challenge prefix: the uid, day and granted points.
bool ParseDaily(absl::string_view rest, absl::string_view raw, absl::string_view* uid, int32_t* day,
                int64_t* points) {
  if (rest.size() < keys::kBucketSuffixSize) return false;
  std::vector<absl::string_view> parts = keys::Split(keys::WithoutBucket(rest));
  storage::CounterCell cell;
  if (parts.size() != 1 || !storage::DecodeCounterCell(raw, &cell)) return false;
  *uid = parts[0];
  *day = keys::BucketOf(rest);
  *points = cell.count;
  return true;
}

// Visits the stored daily grants of one challenge (grouped by uid, days ascending) as
// (uid, day, points); `visit` returns false to stop. Errors: those of the scan; DATA_LOSS for an
// unreadable entry.
absl::Status ScanDaily(storage::Store* store, const std::string& tenant,
                       const std::string& challenge_id,
                       const std::function<bool(absl::string_view, int32_t, int64_t)>& visit) {
  const std::string prefix = keys::GmDailyChallengePrefix(tenant, challenge_id);
  absl::Status corrupt;
  absl::Status s =
      store->Scan(keys::TenantPartition(tenant), Table::kGmDaily, storage::PrefixRange(prefix),
                  [&](absl::string_view key, absl::string_view raw) {
                    absl::string_view uid;
                    int32_t day = 0;
                    int64_t points = 0;
                    if (!ParseDaily(key.substr(prefix.size()), raw, &uid, &day, &points)) {
                      corrupt = absl::DataLossError("storage: unreadable gm daily bucket");
                      return false;
                    }
                    return visit(uid, day, points);
                  });
  return s.ok() ? corrupt : s;
}

}  // namespace

std::string GmWeekRankingName(absl::string_view challenge_id) {
  return keys::Join({"week", challenge_id});
}

void AddGmWeekRanked(storage::WriteBatch* batch, absl::string_view challenge_id,
                     absl::string_view uid, int32_t day, int64_t points, absl::Time now) {
  // A day counts for 7 days from its start; keep its bucket that long after its end.
  batch->AddRanked(GmWeekRankingName(challenge_id), uid, BucketEnd(day),
                   BucketEnd(day) + kGmWeekDays * kSecondsPerDay, Horizon(now), kGmWeekDays,
                   points);
}

// One (tenant, challenge): its ranking when warm, and the bookkeeping that keeps a build from
// missing or double-counting writes.
struct GmWeekRankings::Entry {
  std::string tenant;
  std::string challenge_id;
  std::atomic<uint64_t> last_used{0};

  // Guarded by the owner's mu_ (an annotation cannot name it from here).
  bool loading = false;  // a build from disk is running; new writers wait
  int inflight = 0;      // writes between BeginWrite and the end of their Writer

  absl::Mutex mu;
  std::unique_ptr<WindowRanking> ranking ABSL_GUARDED_BY(mu);
  size_t counted_users ABSL_GUARDED_BY(mu) = 0;  // ranking users included in held_users_
  // The day a build found more users than the budget: read from disk until the day changes.
  int32_t oversized_day ABSL_GUARDED_BY(mu) = -1;
};

GmWeekRankings::Writer::Writer(GmWeekRankings* owner, std::vector<std::shared_ptr<Entry>> entries)
    : owner_(owner), entries_(std::move(entries)) {}

GmWeekRankings::Writer::Writer(Writer&& other) noexcept
    : owner_(other.owner_), entries_(std::move(other.entries_)) {
  other.owner_ = nullptr;
}

GmWeekRankings::Writer::~Writer() {
  if (owner_ != nullptr) owner_->EndWrite(entries_);
}

void GmWeekRankings::Writer::Commit(absl::string_view uid, const std::vector<Change>& changes,
                                    absl::Time now) {
  if (owner_ == nullptr) return;
  const int64_t horizon = Horizon(now);
  for (const Change& change : changes) {
    if (change.delta == 0) continue;
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const auto& e) { return e->challenge_id == change.challenge_id; });
    if (it == entries_.end()) continue;  // not announced: the caller broke the contract
    Entry* entry = it->get();
    absl::MutexLock lock(&entry->mu);
    if (entry->ranking == nullptr) continue;  // a later build reads this write from disk
    entry->ranking->ExpireBefore(horizon);
    entry->ranking->Add(uid, BucketEnd(change.day), change.delta);
    owner_->NoteUsers(entry);
  }
  if (owner_->held_users_.load() > owner_->options_.max_users) owner_->EvictOverBudget(nullptr);
}

GmWeekRankings::GmWeekRankings(storage::Store* store, const storage::Clock* clock,
                               GmWeekRankingsOptions options)
    : store_(store), clock_(clock), options_(options), shared_(store->KeepsRankings()) {
  options_.max_rankings = std::max<size_t>(options_.max_rankings, 1);
}

GmWeekRankings::~GmWeekRankings() = default;

size_t GmWeekRankings::EntriesForTest() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

void GmWeekRankings::NoteUsers(Entry* entry) {
  size_t now_users = entry->ranking != nullptr ? entry->ranking->items() : 0;
  held_users_ += now_users;
  held_users_ -= entry->counted_users;
  entry->counted_users = now_users;
}

std::shared_ptr<GmWeekRankings::Entry> GmWeekRankings::Find(absl::string_view tenant,
                                                            absl::string_view challenge_id) {
  std::string key = keys::Join({tenant, challenge_id});
  auto it = entries_.find(key);
  if (it != entries_.end()) return it->second;
  if (entries_.size() >= options_.max_rankings) {
    // Forget the least recently used idle entries (nobody holds them, no write or build runs),
    // down to 7/8 of the limit so that this sort is rare.
    std::vector<std::pair<uint64_t, std::string>> idle;
    for (const auto& [k, e] : entries_) {
      if (e.use_count() == 1 && e->inflight == 0 && !e->loading) {
        idle.emplace_back(e->last_used.load(), k);
      }
    }
    std::sort(idle.begin(), idle.end());
    size_t target = options_.max_rankings - options_.max_rankings / 8 - 1;
    for (const auto& [used, k] : idle) {
      if (entries_.size() <= target) break;
      auto victim = entries_.find(k);
      {
        absl::MutexLock lock(&victim->second->mu);
        victim->second->ranking.reset();
        NoteUsers(victim->second.get());
      }
      entries_.erase(victim);
    }
  }
  auto entry = std::make_shared<Entry>();
  entry->tenant = std::string(tenant);
  entry->challenge_id = std::string(challenge_id);
  entries_.emplace(std::move(key), entry);
  return entry;
}

void GmWeekRankings::AddToBatch(storage::WriteBatch* batch, absl::string_view uid,
                                const Change& change, absl::Time now) const {
  if (shared_ && change.delta != 0) {
    AddGmWeekRanked(batch, change.challenge_id, uid, change.day, change.delta, now);
  }
}

GmWeekRankings::Writer GmWeekRankings::BeginWrite(absl::string_view tenant,
                                                  const std::vector<std::string>& challenge_ids) {
  std::vector<std::shared_ptr<Entry>> held;
  // The store ranks the write itself (AddToBatch): nothing to announce.
  if (shared_) return Writer(this, std::move(held));
  absl::MutexLock lock(&mu_);
  // Announce all challenges at once, only when none is being built: a writer never waits while
  // it holds some (a builder waits for those), so builders and writers cannot deadlock.
  while (true) {
    held.clear();
    bool building = false;
    for (const std::string& id : challenge_ids) {
      std::shared_ptr<Entry> entry = Find(tenant, id);
      building |= entry->loading;
      held.push_back(std::move(entry));
    }
    if (!building) break;
    changed_.Wait(&mu_);
  }
  for (const std::shared_ptr<Entry>& entry : held) {
    ++entry->inflight;
    entry->last_used = ++use_clock_;
  }
  return Writer(this, std::move(held));
}

void GmWeekRankings::EndWrite(const std::vector<std::shared_ptr<Entry>>& entries) {
  absl::MutexLock lock(&mu_);
  for (const std::shared_ptr<Entry>& entry : entries) --entry->inflight;
  changed_.SignalAll();
}

absl::StatusOr<bool> GmWeekRankings::EnsureRanking(Entry* entry, absl::Time now) {
  const int32_t today = keys::DayIndex(now);
  {
    absl::MutexLock lock(&mu_);
    while (entry->loading) changed_.Wait(&mu_);
    {
      absl::MutexLock entry_lock(&entry->mu);
      if (entry->ranking != nullptr) return true;
      if (entry->oversized_day == today) return false;
    }
    entry->loading = true;
    if (entry->inflight > 0) {
      ++builds_waiting_;
      while (entry->inflight > 0) changed_.Wait(&mu_);
      --builds_waiting_;
    }
  }
  // No write of this challenge is between BeginWrite and its end, and new ones wait for
  // `loading` to clear: the scan sees each stored grant, and no Commit adds it again.
  auto ranking = std::make_unique<WindowRanking>();
  ranking->ExpireBefore(Horizon(now));
  bool oversized = false;
  absl::Status s = ScanDaily(store_, entry->tenant, entry->challenge_id,
                             [&](absl::string_view uid, int32_t day, int64_t points) {
                               ranking->Add(uid, BucketEnd(day), points);
                               if (ranking->items() > options_.max_users) {
                                 oversized = true;
                                 return false;
                               }
                               return true;
                             });

  bool held = false;
  {
    absl::MutexLock entry_lock(&entry->mu);
    if (s.ok() && !oversized) {
      entry->ranking = std::move(ranking);
      entry->oversized_day = -1;
      NoteUsers(entry);
      held = true;
    } else if (s.ok()) {
      entry->oversized_day = today;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    entry->loading = false;
    changed_.SignalAll();
  }
  if (!s.ok()) return s;
  if (held) EvictOverBudget(entry);
  return held;
}

void GmWeekRankings::EvictOverBudget(const Entry* keep) {
  if (held_users_.load() <= options_.max_users) return;
  std::vector<std::shared_ptr<Entry>> entries;
  {
    absl::MutexLock lock(&mu_);
    entries.reserve(entries_.size());
    for (const auto& [key, entry] : entries_) {
      if (entry.get() != keep) entries.push_back(entry);
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a->last_used.load() < b->last_used.load(); });
  for (const std::shared_ptr<Entry>& entry : entries) {
    if (held_users_.load() <= options_.max_users) return;
    // Dropping a ranking is safe at any time: writers skip an absent ranking and the next
    // build reads their writes from disk.
    absl::MutexLock lock(&entry->mu);
    entry->ranking.reset();
    NoteUsers(entry.get());
  }
}

absl::StatusOr<GmWeekRankings::Board> GmWeekRankings::Top(absl::string_view tenant,
                                                          absl::string_view challenge_id, size_t k,
                                                          absl::string_view self_uid) {
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    entry = Find(tenant, challenge_id);
  }
  entry->last_used = ++use_clock_;
  const absl::Time now = clock_->Now();
  if (shared_) {
    absl::StatusOr<storage::RankingTop> top =
        store_->ReadRanking(keys::TenantPartition(tenant), GmWeekRankingName(challenge_id),
                            Horizon(now), kGmWeekDays, k, self_uid);
    if (top.ok()) {
      Board board;
      for (storage::RankingTop::Entry& e : top->top) {
        board.top.push_back(WindowRanking::Entry{std::move(e.item), e.total});
      }
      board.self_rank = top->self_rank;
      board.self_total = top->self_total;
      return board;
    }
    if (!absl::IsOutOfRange(top.status())) return top.status();
    // A total passed what the store ranks exactly: count from the daily buckets.
    return TopFromDisk(*entry, k, self_uid, now);
  }
  absl::StatusOr<bool> held = EnsureRanking(entry.get(), now);
  if (!held.ok()) return held.status();
  if (*held) {
    absl::MutexLock lock(&entry->mu);
    if (entry->ranking != nullptr) {
      Board board;
      entry->ranking->ExpireBefore(Horizon(now));
      board.top = entry->ranking->Top(k);
      if (!self_uid.empty()) {
        board.self_total = entry->ranking->Total(self_uid);
        board.self_rank = entry->ranking->RankOf(self_uid);
      }
      NoteUsers(entry.get());
      return board;
    }
  }
  // Too many users to hold (or evicted just now): rank from disk.
  return TopFromDisk(*entry, k, self_uid, now);
}

absl::StatusOr<GmWeekRankings::Board> GmWeekRankings::TopFromDisk(const Entry& entry, size_t k,
                                                                  absl::string_view self_uid,
                                                                  absl::Time now) {
  const int32_t today = keys::DayIndex(now);
  Board board;
  if (!self_uid.empty()) {
    std::vector<std::string> self_keys;
    for (int32_t d = today - (kGmWeekDays - 1); d <= today; ++d) {
      self_keys.push_back(keys::GmDailyKey(entry.tenant, entry.challenge_id, self_uid, d));
    }
    for (absl::StatusOr<storage::CounterCell>& cell : store_->MultiGetCounters(
             keys::TenantPartition(entry.tenant), Table::kGmDaily, self_keys)) {
      if (cell.ok()) {
        board.self_total += cell->count;
      } else if (!absl::IsNotFound(cell.status())) {
        return cell.status();
      }
    }
  }
  // Keys come grouped by uid; a bounded heap keeps the k best (the worst on top), and users
  // ahead of self are counted on the way.
  auto worse_on_top = [](const WindowRanking::Entry& a, const WindowRanking::Entry& b) {
    return Before(a, b);
  };
  std::priority_queue<WindowRanking::Entry, std::vector<WindowRanking::Entry>,
                      decltype(worse_on_top)>
      best(worse_on_top);
  size_t ahead = 0;
  const WindowRanking::Entry self{std::string(self_uid), board.self_total};
  WindowRanking::Entry current;
  bool has_current = false;
  auto flush = [&] {
    if (!has_current || current.total <= 0) return;
    if (!self_uid.empty() && Before(current, self)) ++ahead;
    best.push(std::move(current));
    if (best.size() > k) best.pop();
  };
  absl::Status s = ScanDaily(store_, entry.tenant, entry.challenge_id,
                             [&](absl::string_view uid, int32_t day, int64_t points) {
                               if (!has_current || uid != current.item) {
                                 flush();
                                 current = WindowRanking::Entry{std::string(uid), 0};
                                 has_current = true;
                               }
                               if (day > today - kGmWeekDays && day <= today) {
                                 current.total += points;
                               }
                               return true;
                             });
  if (!s.ok()) return s;
  flush();
  board.top.reserve(best.size());
  while (!best.empty()) {
    board.top.push_back(best.top());
    best.pop();
  }
  std::sort(board.top.begin(), board.top.end(), Before);
  board.self_rank = board.self_total > 0 ? ahead + 1 : 0;
  return board;
}

}  // namespace countd::logic
