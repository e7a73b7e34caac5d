#include "server/logic/config_cache.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/request_log.h"
#include "storage/keys.h"

namespace countd::logic {
namespace {

// Loads of a unit whose version moved while it was read, before the value is served marked
// "check again at once" (a scan of a shared store is not one snapshot).
constexpr int kMaxLoadAttempts = 3;

std::string EncodeVersion(uint64_t version) {
  std::string out;
  storage::keys::PutBigEndian64(&out, static_cast<int64_t>(version));
  return out;
}

}  // namespace

ConfigVersionCache::ConfigVersionCache(storage::Store* store, const ConfigCacheOptions& options,
                                       Locate locate, Loader load)
    : store_(store),
      options_(options),
      locate_(std::move(locate)),
      load_(std::move(load)),
      // One process owns a RocksDB database: every change goes through this cache.
      revalidate_(store->kind() != storage::StoreKind::kRocksDb) {}

absl::StatusOr<uint64_t> ConfigVersionCache::ReadVersion(const ConfigUnit& unit) {
  absl::StatusOr<std::string> raw =
      store_->Get(unit.partition, storage::Table::kMeta, unit.version_key);
  if (absl::IsNotFound(raw.status())) return 0;
  if (!raw.ok()) return raw.status();
  if (raw->size() != 8) {
    return absl::DataLossError(absl::StrCat("storage: unreadable version record of ", unit.what));
  }
  return static_cast<uint64_t>(storage::keys::GetBigEndian64(*raw));
}

absl::optional<ConfigVersionCache::Entry> ConfigVersionCache::Cached(
    const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return absl::nullopt;
  return it->second;
}

void ConfigVersionCache::Put(const std::string& name, Entry entry) {
  absl::MutexLock lock(&mu_);
  // A bounded cache: forgetting everything is cheap, units reload on demand.
  if (entries_.size() >= options_.max_units && !entries_.contains(name)) entries_.clear();
  entries_[name] = std::move(entry);
}

void ConfigVersionCache::Drop(const std::string& name) {
  absl::MutexLock lock(&mu_);
  entries_.erase(name);
}

absl::StatusOr<ConfigVersionCache::Entry> ConfigVersionCache::LoadLocked(const std::string& name,
                                                                         const ConfigUnit& unit,
                                                                         const Value& previous) {
  Entry entry;
  for (int attempt = 0; attempt < kMaxLoadAttempts; ++attempt) {
    // The version is read before the records: whatever changed before `start` is in both.
    const absl::Time start = options_.clock->Now();
    absl::StatusOr<uint64_t> before = ReadVersion(unit);
    if (!before.ok()) return before.status();
    absl::StatusOr<Value> value = load_(name, previous);
    if (!value.ok()) return value.status();
    entry = Entry{*std::move(value), *before, start};
    // RocksDB: no other writer, and this process's changes hold change_mu_.
    if (!revalidate_) break;
    absl::StatusOr<uint64_t> after = ReadVersion(unit);
    if (!after.ok()) return after.status();
    if (*after == *before) break;
    // A change landed while the records were read: they may mix two versions. The last attempt
    // is served once and checked again by the next read.
    entry.checked = absl::InfinitePast();
  }
  Put(name, entry);
  return entry;
}

absl::StatusOr<ConfigVersionCache::Entry> ConfigVersionCache::FreshLocked(const std::string& name,
                                                                          const ConfigUnit& unit) {
  absl::optional<Entry> cached = Cached(name);
  if (!cached.has_value()) return LoadLocked(name, unit, nullptr);
  if (!revalidate_) return *std::move(cached);
  const absl::Time start = options_.clock->Now();
  absl::StatusOr<uint64_t> version = ReadVersion(unit);
  if (!version.ok()) return version.status();
  if (*version != cached->version) return LoadLocked(name, unit, cached->value);
  cached->checked = std::max(cached->checked, start);
  Put(name, *cached);
  return *std::move(cached);
}

absl::StatusOr<ConfigVersionCache::Value> ConfigVersionCache::Get(absl::string_view name) {
  absl::optional<absl::Time> start;
  if (revalidate_) start = options_.clock->Now();
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = entries_.find(name);
    if (it != entries_.end() && (!revalidate_ || *start - it->second.checked < options_.ttl)) {
      return it->second.value;
    }
  }
  return GetSlow(std::string(name), start.value_or(absl::InfinitePast()));
}

absl::StatusOr<ConfigVersionCache::Value> ConfigVersionCache::GetSlow(const std::string& name,
                                                                      absl::Time start) {
  const ConfigUnit unit = locate_(name);
  absl::optional<Entry> cached = Cached(name);
  absl::optional<uint64_t> observed;  // the version read, when it moved
  if (cached.has_value()) {
    if (!revalidate_ || start - cached->checked < options_.ttl) return cached->value;
    // Due: one point read of the version record, outside every lock.
    absl::StatusOr<uint64_t> version = ReadVersion(unit);
    if (!version.ok()) return version.status();
    if (*version == cached->version) {
      absl::MutexLock lock(&mu_);
      auto it = entries_.find(name);
      if (it != entries_.end() && it->second.version == *version && it->second.checked < start) {
        it->second.checked = start;
      }
      return cached->value;
    }
    observed = *version;
  }
  absl::MutexLock change(&change_mu_);
  // Another caller may have loaded the unit (or changed it) while this one waited: its value
  // serves if it has the version read above, or (on a miss) is as fresh as the bound asks.
  absl::optional<Entry> now = Cached(name);
  if (now.has_value() &&
      (!revalidate_ ||
       (observed.has_value() ? now->version == *observed : start - now->checked < options_.ttl))) {
    return now->value;
  }
  absl::StatusOr<Entry> loaded = LoadLocked(name, unit, now.has_value() ? now->value : nullptr);
  if (!loaded.ok()) return loaded.status();
  return loaded->value;
}

absl::Status ConfigVersionCache::Update(absl::string_view name_view, const Change& change) {
  const std::string name(name_view);
  const ConfigUnit unit = locate_(name);
  absl::MutexLock lock(&change_mu_);
  for (int attempt = 0; attempt < kMaxWriteAttempts; ++attempt) {
    absl::StatusOr<Entry> base = FreshLocked(name, unit);
    if (!base.ok()) return base.status();
    storage::WriteBatch batch(unit.partition);
    absl::StatusOr<Value> next = change(base->value, &batch);
    if (!next.ok()) return next.status();
    if (batch.empty()) return absl::OkStatus();
    batch.Expect(storage::Table::kMeta, unit.version_key,
                 base->version == 0 ? std::nullopt
                                    : std::optional<std::string>(EncodeVersion(base->version)));
    batch.Put(storage::Table::kMeta, unit.version_key, EncodeVersion(base->version + 1));
    const absl::Time start = options_.clock->Now();
    absl::Status s = store_->Write(batch);
    if (s.ok()) {
      Put(name, Entry{*std::move(next), base->version + 1, start});
      return absl::OkStatus();
    }
    // ABORTED: another process changed the unit; reload and compute again. Anything but
    // UNAVAILABLE (which writes nothing) may have landed: reload on next use.
    if (!absl::IsUnavailable(s)) Drop(name);
    if (!absl::IsAborted(s)) return s;
  }
  return absl::AbortedError(absl::StrCat(unit.what, " was changed by another process ",
                                         kMaxWriteAttempts, " times during this change; retry"));
}

}  // namespace countd::logic
