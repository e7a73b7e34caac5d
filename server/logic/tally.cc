#include "server/logic/tally.h"

#include <algorithm>
#include <optional>
#include <queue>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/logic/status_util.h"
#include "server/logic/validate.h"
#include "storage/keys.h"

namespace countd::logic {
namespace {

namespace keys = storage::keys;
using storage::Table;

constexpr size_t kMaxCounterStates = 100'000;
// A bucket stays stored for this many windows after its end: one to count it, one more so a
// countable that left the window reads 0 (not NOT_FOUND) for a while, and so a widened window
// still finds recent buckets.
constexpr int64_t kStoredWindows = 2;

size_t Utf8Chars(absl::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

absl::Status CheckNames(const std::string& tenant, const std::string& counter) {
  absl::Status s = CheckNoSlash("tenant", tenant);
  if (!s.ok()) return s;
  return CheckNoSlash("counter", counter);
}

// The storage tag of an op (kUnspecified reads as kECount).
char OpTag(TallyOp op) { return op == TallyOp::kTopK ? keys::kTallyTopK : keys::kTallyECount; }

// Ranking order: count descending, then countable ascending.
bool Before(const TallyItem& a, const TallyItem& b) {
  if (a.count != b.count) return a.count > b.count;
  return a.countable < b.countable;
}

}  // namespace

// One counter's window and, when warm, its in-memory ranking.
struct Tally::CounterState {
  char op;  // keys::kTallyECount or keys::kTallyTopK
  std::string tenant;
  std::string counter;
  std::atomic<uint64_t> last_used{0};

  absl::Mutex mu;
  bool settings_loaded ABSL_GUARDED_BY(mu) = false;
  int32_t window_minutes ABSL_GUARDED_BY(mu) = 0;  // 0: never incremented
  std::unique_ptr<WindowRanking> ranking ABSL_GUARDED_BY(mu);
  size_t counted_items ABSL_GUARDED_BY(mu) = 0;  // ranking items included in ranked_items_
  // A ranking is being built from disk; writers wait so none is counted twice or missed.
  bool loading ABSL_GUARDED_BY(mu) = false;
  // Writes between their window check and their ranking update.
  int inflight ABSL_GUARDED_BY(mu) = 0;
  // The counter holds more items than the memory budget: GetTopK reads from disk.
  bool oversized ABSL_GUARDED_BY(mu) = false;

  bool NotLoading() const ABSL_SHARED_LOCKS_REQUIRED(mu) { return !loading; }
  bool Quiet() const ABSL_SHARED_LOCKS_REQUIRED(mu) { return inflight == 0; }
};

void AddTallyRanked(storage::WriteBatch* batch, absl::string_view countable, int64_t bucket_end,
                    int64_t keep_until, int32_t window_minutes, int64_t now_s, int64_t delta) {
  const int64_t window_s = int64_t{window_minutes} * 60;
  batch->AddRanked(kTallyRanking, countable, bucket_end, keep_until, now_s - window_s, window_s,
                   delta);
}

Tally::Tally(storage::Store* store, const storage::Clock* clock, TallyOptions options)
    : store_(store), clock_(clock), options_(options), shared_(store->KeepsRankings()) {}

Tally::~Tally() = default;

void Tally::NoteItems(CounterState* state) {
  size_t now_items = state->ranking != nullptr ? state->ranking->items() : 0;
  ranked_items_ += now_items;
  ranked_items_ -= state->counted_items;
  state->counted_items = now_items;
}

absl::StatusOr<std::shared_ptr<Tally::CounterState>> Tally::State(char op,
                                                                  const std::string& tenant,
                                                                  const std::string& counter) {
  std::shared_ptr<CounterState> state;
  {
    absl::MutexLock lock(&states_mu_);
    std::string key = keys::Join({absl::string_view(&op, 1), tenant, counter});
    auto it = states_.find(key);
    if (it == states_.end()) {
      if (states_.size() >= kMaxCounterStates) {
        // Forget idle counters without a ranking; their settings reload from disk.
        for (auto i = states_.begin(); i != states_.end();) {
          auto next = std::next(i);
          if (i->second.use_count() == 1) {
            CounterState* idle = i->second.get();
            absl::MutexLock idle_lock(&idle->mu);
            idle->ranking.reset();
            NoteItems(idle);
          }
          if (i->second.use_count() == 1) states_.erase(i);
          i = next;
        }
      }
      auto fresh = std::make_shared<CounterState>();
      fresh->op = op;
      fresh->tenant = tenant;
      fresh->counter = counter;
      it = states_.emplace(std::move(key), std::move(fresh)).first;
    }
    state = it->second;
  }
  state->last_used = ++use_clock_;
  absl::MutexLock lock(&state->mu);
  if (!state->settings_loaded) {
    absl::StatusOr<int32_t> window = ReadWindow(op, tenant, counter);
    if (!window.ok()) return window.status();
    state->window_minutes = *window;
    state->settings_loaded = true;
  }
  return state;
}

absl::StatusOr<int32_t> Tally::ReadWindow(char op, const std::string& tenant,
                                          const std::string& counter) {
  absl::StatusOr<std::string> raw =
      store_->Get(keys::TallyPartition(tenant, counter), Table::kTallyMeta,
                  keys::TallySettingsKey(op, tenant, counter));
  int32_t window = 0;
  if (raw.ok()) {
    if (!absl::SimpleAtoi(*raw, &window) || window < 1 || window > kMaxWindowMinutes) {
      return absl::DataLossError(
          absl::StrCat("stored window of counter ", Quote(counter), " is unreadable"));
    }
  } else if (!absl::IsNotFound(raw.status())) {
    return raw.status();
  }
  return window;
}

absl::StatusOr<int32_t> Tally::CurrentWindow(CounterState* st) {
  if (shared_) {
    absl::StatusOr<int32_t> window = ReadWindow(st->op, st->tenant, st->counter);
    if (!window.ok()) return window.status();
    absl::MutexLock lock(&st->mu);
    st->window_minutes = *window;
    return *window;
  }
  absl::MutexLock lock(&st->mu);
  return st->window_minutes;
}

absl::Status Tally::Increment(const TallyIncrementArgs& args) {
  absl::Status s = CheckNames(args.tenant, args.counter);
  if (!s.ok()) return s;
  s = CheckNoSlash("countable", args.countable);
  if (!s.ok()) return s;
  if (args.op != TallyOp::kECount && args.op != TallyOp::kTopK) {
    return BadValue("op", "OP_UNSPECIFIED (unset): must be OP_ECOUNT or OP_TOPK");
  }
  if (args.window_minutes < 1 || args.window_minutes > kMaxWindowMinutes) {
    return BadValue("window_minutes",
                    absl::StrCat(args.window_minutes, " is outside 1..", kMaxWindowMinutes));
  }
  if (args.metadata.has_value()) {
    // Answered in countd.v1 strings, which must be UTF-8 (a gRPC client refuses anything else).
    s = CheckUtf8("metadata", *args.metadata);
    if (!s.ok()) return s;
  }
  if (args.metadata.has_value() && Utf8Chars(*args.metadata) > kMaxMetadataChars) {
    return BadValue("metadata", absl::StrCat("has ", Utf8Chars(*args.metadata),
                                             " characters; at most ", kMaxMetadataChars));
  }
  int64_t delta = args.delta.value_or(1);
  if (delta < 1) return BadValue("delta", absl::StrCat(delta, " is not >= 1"));

  absl::StatusOr<std::shared_ptr<CounterState>> state =
      State(OpTag(args.op), args.tenant, args.counter);
  if (!state.ok()) return state.status();
  CounterState* st = state->get();

  absl::Time now = clock_->Now();
  const int64_t now_s = absl::ToUnixSeconds(now);
  const int64_t width = TallyBucketSeconds(args.window_minutes);
  const int64_t window_s = int64_t{args.window_minutes} * 60;
  const int64_t bucket_end = (now_s / width + 1) * width;

  bool window_changed;
  {
    absl::MutexLock lock(&st->mu);
    st->mu.Await(absl::Condition(st, &CounterState::NotLoading));
    // On a shared store another process may have set another window meanwhile: every write
    // stores its window (one more field in the same write), so the last write's window holds.
    window_changed = shared_ || st->window_minutes != args.window_minutes;
    if (window_changed) {
      // Stored buckets keep their own width and expiry; a ranking built for the old window
      // is dropped and rebuilt for the new one on demand.
      st->window_minutes = args.window_minutes;
      st->ranking.reset();
      st->oversized = false;
      NoteItems(st);
    }
    ++st->inflight;
  }

  storage::WriteBatch batch(keys::TallyPartition(args.tenant, args.counter));
  storage::CounterCell cell;
  cell.count = delta;
  cell.updated_ms = absl::ToUnixMillis(now);
  const int64_t keep_until = bucket_end + kStoredWindows * window_s;
  batch.AddCounter(Table::kTally,
                   keys::TallyBucketKey(keys::TallyCountablePrefix(st->op, args.tenant,
                                                                   args.counter, args.countable),
                                        bucket_end, keep_until),
                   cell);
  if (shared_ && args.op == TallyOp::kTopK) {
    AddTallyRanked(&batch, args.countable, bucket_end, keep_until, args.window_minutes, now_s,
                   delta);
  }
  if (args.metadata.has_value()) {
    batch.Put(Table::kTallyMeta,
              keys::TallyMetadataKey(st->op, args.tenant, args.counter, args.countable),
              *args.metadata);
  }
  if (window_changed) {
    batch.Put(Table::kTallyMeta, keys::TallySettingsKey(st->op, args.tenant, args.counter),
              absl::StrCat(args.window_minutes));
  }
  s = store_->Write(batch);

  bool over_budget = false;
  {
    absl::MutexLock lock(&st->mu);
    --st->inflight;
    if (!s.ok()) {
      // The stored window may differ from ours now: reread it on next use.
      if (window_changed) st->settings_loaded = false;
    } else if (st->ranking != nullptr) {
      st->ranking->ExpireBefore(now_s - int64_t{st->window_minutes} * 60);
      st->ranking->Add(args.countable, bucket_end, delta);
      if (st->ranking->items() > options_.max_ranked_items) {
        // This counter alone outgrew the budget: rank it from disk from now on.
        st->ranking.reset();
        st->oversized = true;
      }
      NoteItems(st);
      over_budget = ranked_items_.load() > options_.max_ranked_items;
    }
  }
  if (!s.ok()) return s;
  if (over_budget) EvictOverBudget(st);
  if (args.op == TallyOp::kTopK && !shared_) {
    // Keep the ranking of a top-K counter warm; a failure here only delays it to the next read.
    EnsureRanking(st, now).IgnoreError();
  }
  return absl::OkStatus();
}

absl::Status Tally::ScanBuckets(const CounterState& st, const BucketVisitor& visit) {
  absl::Status corrupt;
  absl::Status s =
      store_->Scan(keys::TallyPartition(st.tenant, st.counter), Table::kTally,
                   storage::PrefixRange(keys::TallyCounterPrefix(st.op, st.tenant, st.counter)),
                   [&](absl::string_view key, absl::string_view raw) {
                     std::vector<absl::string_view> parts =
                         keys::Split(key.substr(0, key.size() - keys::kTallySuffixSize));
                     storage::CounterCell cell;
                     if (parts.size() != 4 || !storage::DecodeCounterCell(raw, &cell)) {
                       corrupt = absl::DataLossError("storage: unreadable tally bucket");
                       return false;
                     }
                     return visit(parts[3], keys::TallyBucketEnd(key), cell.count);
                   });
  return s.ok() ? corrupt : s;
}

absl::StatusOr<bool> Tally::EnsureRanking(CounterState* st, absl::Time now) {
  int32_t window_minutes;
  {
    absl::MutexLock lock(&st->mu);
    st->mu.Await(absl::Condition(st, &CounterState::NotLoading));
    if (st->ranking != nullptr) return true;
    if (shared_ || st->oversized || st->window_minutes == 0) return false;
    st->loading = true;
    st->mu.Await(absl::Condition(st, &CounterState::Quiet));
    window_minutes = st->window_minutes;
  }
  // No write of this counter is between its disk write and its ranking update now, and new
  // ones wait for `loading` to clear: the scan sees each stored increment exactly once.
  const int64_t horizon = absl::ToUnixSeconds(now) - int64_t{window_minutes} * 60;
  auto ranking = std::make_unique<WindowRanking>();
  ranking->ExpireBefore(horizon);
  bool oversized = false;
  absl::Status s = ScanBuckets(*st, [&](absl::string_view countable, int64_t end, int64_t count) {
    ranking->Add(countable, end, count);
    oversized = ranking->items() > options_.max_ranked_items;
    return !oversized;
  });

  bool held = false;
  {
    absl::MutexLock lock(&st->mu);
    st->loading = false;
    if (s.ok() && !oversized) {
      st->ranking = std::move(ranking);
      NoteItems(st);
      held = true;
    }
    st->oversized = oversized;
  }
  if (!s.ok()) return s;
  if (held) EvictOverBudget(st);
  return held;
}

void Tally::EvictOverBudget(const CounterState* keep) {
  if (ranked_items_.load() <= options_.max_ranked_items) return;
  std::vector<std::shared_ptr<CounterState>> states;
  {
    absl::MutexLock lock(&states_mu_);
    states.reserve(states_.size());
    for (const auto& [key, state] : states_) {
      if (state.get() != keep) states.push_back(state);
    }
  }
  std::sort(states.begin(), states.end(),
            [](const auto& a, const auto& b) { return a->last_used.load() < b->last_used.load(); });
  for (const std::shared_ptr<CounterState>& st : states) {
    if (ranked_items_.load() <= options_.max_ranked_items) return;
    absl::MutexLock lock(&st->mu);
    if (st->loading || st->ranking == nullptr) continue;
    st->ranking.reset();
    NoteItems(st.get());
  }
}

absl::StatusOr<int64_t> Tally::GetCount(const std::string& tenant, TallyOp op,
                                        const std::string& counter, const std::string& countable) {
  absl::Status s = CheckNames(tenant, counter);
  if (!s.ok()) return s;
  s = CheckNoSlash("countable", countable);
  if (!s.ok()) return s;
  absl::StatusOr<std::shared_ptr<CounterState>> state = State(OpTag(op), tenant, counter);
  if (!state.ok()) return state.status();
  absl::StatusOr<int32_t> window = CurrentWindow(state->get());
  if (!window.ok()) return window.status();
  const int32_t window_minutes = *window;
  if (window_minutes == 0)
    return NotFound("counter", absl::StrCat(Quote(counter), " was never incremented"));

  const int64_t horizon = absl::ToUnixSeconds(clock_->Now()) - int64_t{window_minutes} * 60;
  int64_t count = 0;
  bool seen = false;
  absl::Status corrupt;
  s = store_->Scan(
      keys::TallyPartition(tenant, counter), Table::kTally,
      storage::PrefixRange(keys::TallyCountablePrefix((*state)->op, tenant, counter, countable)),
      [&](absl::string_view key, absl::string_view raw) {
        storage::CounterCell cell;
        if (!storage::DecodeCounterCell(raw, &cell)) {
          corrupt = absl::DataLossError("storage: unreadable tally bucket");
          return false;
        }
        seen = true;
        if (keys::TallyBucketEnd(key) > horizon) count += cell.count;
        return true;
      });
  if (s.ok()) s = corrupt;
  if (!s.ok()) return s;
  if (!seen) {
    return NotFound("countable",
                    absl::StrCat(Quote(countable), " has no count in counter ", Quote(counter)));
  }
  return count;
}

absl::StatusOr<std::vector<TallyItem>> Tally::TopFromDisk(CounterState* st, size_t k,
                                                          absl::Time now) {
  int32_t window_minutes;
  {
    absl::MutexLock lock(&st->mu);
    window_minutes = st->window_minutes;
  }
  const int64_t horizon = absl::ToUnixSeconds(now) - int64_t{window_minutes} * 60;
  // Keys come grouped by countable; a bounded heap keeps the k best (worst on top).
  auto worse_on_top = [](const TallyItem& a, const TallyItem& b) { return Before(a, b); };
  std::priority_queue<TallyItem, std::vector<TallyItem>, decltype(worse_on_top)> best(worse_on_top);
  TallyItem current;
  auto flush = [&] {
    if (current.count <= 0) return;
    best.push(std::move(current));
    if (best.size() > k) best.pop();
  };
  absl::Status s = ScanBuckets(*st, [&](absl::string_view countable, int64_t end, int64_t count) {
    if (countable != current.countable) {
      flush();
      current = TallyItem{std::string(countable), 0, absl::nullopt};
    }
    if (end > horizon) current.count += count;
    return true;
  });
  if (!s.ok()) return s;
  flush();
  std::vector<TallyItem> out;
  out.reserve(best.size());
  while (!best.empty()) {
    out.push_back(best.top());
    best.pop();
  }
  std::sort(out.begin(), out.end(), Before);
  return out;
}

absl::StatusOr<std::vector<TallyItem>> Tally::GetTopK(const std::string& tenant,
                                                      const std::string& counter,
                                                      absl::optional<int32_t> k,
                                                      bool with_metadata) {
  absl::Status s = CheckNames(tenant, counter);
  if (!s.ok()) return s;
  int32_t limit = k.value_or(kDefaultTopK);
  if (limit < 1 || limit > kMaxTopK) {
    return BadValue("k", absl::StrCat(limit, " is outside 1..", kMaxTopK));
  }
  absl::StatusOr<std::shared_ptr<CounterState>> state = State(keys::kTallyTopK, tenant, counter);
  if (!state.ok()) return state.status();
  CounterState* st = state->get();
  absl::StatusOr<int32_t> window = CurrentWindow(st);
  if (!window.ok()) return window.status();
  if (*window == 0) {
    return NotFound("counter", absl::StrCat(Quote(counter), " was never incremented"));
  }
  absl::Time now = clock_->Now();
  absl::StatusOr<bool> held = EnsureRanking(st, now);
  if (!held.ok()) return held.status();

  std::vector<TallyItem> items;
  bool ranked = false;
  if (shared_) {
    const int64_t window_s = int64_t{*window} * 60;
    absl::StatusOr<storage::RankingTop> top = store_->ReadRanking(
        keys::TallyPartition(tenant, counter), kTallyRanking, absl::ToUnixSeconds(now) - window_s,
        window_s, static_cast<size_t>(limit), "");
    if (top.ok()) {
      for (storage::RankingTop::Entry& e : top->top) {
        items.push_back(TallyItem{std::move(e.item), e.total, absl::nullopt});
      }
      ranked = true;
    } else if (!absl::IsOutOfRange(top.status())) {
      return top.status();
    }
    // OUT_OF_RANGE: a count passed what the store ranks exactly; count from the buckets.
  } else if (*held) {
    absl::MutexLock lock(&st->mu);
    if (st->ranking != nullptr) {
      st->ranking->ExpireBefore(absl::ToUnixSeconds(now) - int64_t{st->window_minutes} * 60);
      for (WindowRanking::Entry& e : st->ranking->Top(static_cast<size_t>(limit))) {
        items.push_back(TallyItem{std::move(e.item), e.total, absl::nullopt});
      }
      NoteItems(st);
      ranked = true;
    }
  }
  if (!ranked) {
    absl::StatusOr<std::vector<TallyItem>> disk = TopFromDisk(st, limit, now);
    if (!disk.ok()) return disk.status();
    items = *std::move(disk);
  }

  if (with_metadata && !items.empty()) {
    std::vector<std::string> md_keys;
    md_keys.reserve(items.size());
    for (const TallyItem& item : items) {
      md_keys.push_back(keys::TallyMetadataKey(st->op, tenant, counter, item.countable));
    }
    std::vector<absl::StatusOr<std::string>> md =
        store_->MultiGet(keys::TallyPartition(tenant, counter), Table::kTallyMeta, md_keys);
    for (size_t i = 0; i < items.size(); ++i) {
      if (md[i].ok()) {
        items[i].metadata = *std::move(md[i]);
      } else if (!absl::IsNotFound(md[i].status())) {
        return md[i].status();
      }
    }
  }
  return items;
}

absl::StatusOr<int64_t> Tally::SplitLegacyCounters() {
  constexpr size_t kRecordsPerWrite = 1000;
  int64_t moved = 0;
  // The shared layout predates Redis Cluster support: only a RocksDB data dir can hold it.
  if (store_->kind() != storage::StoreKind::kRocksDb) return moved;
  for (Table table : {Table::kTally, Table::kTallyMeta}) {
    for (const std::string& prefix : keys::TallyLegacyPrefixes(table)) {
      while (true) {
        // Each round reads the first records still under the legacy prefix: the previous
        // round's write removed the ones it moved.
        // One write holds records of one counter (one partition): a round stops at the first
        // record of the next counter.
        std::optional<storage::WriteBatch> batch;
        size_t records = 0;
        absl::Status corrupt;
        absl::Status s = store_->ScanAllPartitions(
            table, storage::PrefixRange(prefix), [&](absl::string_view key, absl::string_view raw) {
              std::vector<absl::string_view> parts = keys::Split(key);
              if (parts.size() < 3) {
                corrupt = absl::DataLossError("storage: unreadable tally record of the old layout");
                return false;
              }
              storage::Partition partition = keys::TallyPartition(parts[1], parts[2]);
              if (!batch.has_value()) {
                batch.emplace(std::move(partition));
              } else if (batch->partition() != partition) {
                return false;
              }
              // A plain Put of the stored value: Scan returns the merged counter cell, and
              // writing it again over a copy left by an earlier run is harmless.
              batch->Put(table, keys::TallyLegacyKeyAs(key, keys::kTallyECount), raw);
              batch->Put(table, keys::TallyLegacyKeyAs(key, keys::kTallyTopK), raw);
              batch->Delete(table, key);
              return ++records < kRecordsPerWrite;
            });
        if (!s.ok()) return s;
        if (!corrupt.ok()) return corrupt;
        if (records == 0) break;
        s = store_->Write(*batch);
        if (!s.ok()) return s;
        moved += static_cast<int64_t>(records);
      }
    }
  }
  return moved;
}

}  // namespace countd::logic
