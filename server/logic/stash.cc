#include "server/logic/stash.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/logic/periods.h"
#include "server/logic/status_util.h"
#include "server/logic/validate.h"
#include "storage/keys.h"

namespace countd::logic {
namespace {

absl::Status CheckNames(absl::string_view visitor_field, absl::string_view visitor,
                        absl::string_view name_field, absl::string_view name) {
  absl::Status s = CheckUrlSafe(visitor_field, visitor);
  if (!s.ok()) return s;
  return CheckUrlSafe(name_field, name);
}

absl::StatusOr<int32_t> ParseDate(absl::string_view field, absl::string_view date) {
  if (date.empty()) return MissingField(field);
  absl::optional<int32_t> day = ParseIsoDate(date);
  if (!day.has_value()) {
    return BadFormat(field, absl::StrCat(Quote(date), " is not a calendar date YYYY-MM-DD"));
  }
  return *day;
}

}  // namespace

absl::StatusOr<std::string> Stash::Add(const StashAddArgs& args, bool negate) {
  absl::Status s = CheckIdentifier("tenant", args.tenant);
  if (!s.ok()) return s;
  s = CheckNames("visitor_id", args.visitor_id, "counter_name", args.counter_name);
  if (!s.ok()) return s;
  int64_t delta = args.delta.value_or(1);
  if (delta < 1) return BadValue("delta", absl::StrCat(delta, " is not >= 1"));
  absl::StatusOr<absl::Time> when =
      ResolveEventTime("event_time_ms", args.event_time_ms, clock_->Now(), options_.retention_days);
  if (!when.ok()) return when.status();

  int32_t day = DayOf(*when);
  storage::CounterCell cell;
  cell.count = negate ? -delta : delta;
  cell.updated_ms = absl::ToUnixMillis(*when);
  storage::WriteBatch batch(storage::keys::StashPartition(args.tenant, args.visitor_id));
  batch.AddCounter(storage::Table::kStash,
                   storage::keys::StashKey(args.tenant, args.visitor_id, args.counter_name, day),
                   cell);
  batch.AllowDeferredApply();  // counters are read back from the store only
  s = store_->Submit(std::move(batch));
  if (!s.ok()) return s;
  return absl::StrCat(args.tenant, ":", args.counter_name, ":", IsoDate(day));
}

absl::StatusOr<int64_t> Stash::Get(const std::string& tenant, const std::string& visitor_id,
                                   const std::string& counter_name, const std::string& date) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (!s.ok()) return s;
  s = CheckNames("visitor_id", visitor_id, "counter_name", counter_name);
  if (!s.ok()) return s;
  absl::StatusOr<int32_t> day = ParseDate("date", date);
  if (!day.ok()) return day.status();
  absl::StatusOr<storage::CounterCell> cell =
      store_->GetCounter(storage::keys::StashPartition(tenant, visitor_id), storage::Table::kStash,
                         storage::keys::StashKey(tenant, visitor_id, counter_name, *day));
  if (absl::IsNotFound(cell.status())) {
    return NotFound(
        "date", absl::StrCat("no bucket ", Quote(visitor_id), ":", Quote(counter_name), ":", date));
  }
  if (!cell.ok()) return cell.status();
  return cell->count;
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> Stash::GetBatch(
    const std::string& tenant, const std::vector<std::string>& keys) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (!s.ok()) return s;
  if (keys.empty()) return MissingField("keys");
  if (keys.size() > kMaxBatchKeys) {
    return BadValue("keys", absl::StrCat(keys.size(), " keys; at most ", kMaxBatchKeys));
  }
  // Each visitor is its own partition: one read per visitor, for all of its keys.
  std::vector<std::string> visitors;  // per key
  std::vector<std::string> storage_keys;
  storage_keys.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string field = absl::StrCat("keys[", i, "]");
    std::vector<absl::string_view> parts = absl::StrSplit(keys[i], ':');
    if (parts.size() != 3) {
      return BadFormat(
          field, absl::StrCat(Quote(keys[i]), " is not <visitor_id>:<counter_name>:<YYYY-MM-DD>"));
    }
    s = CheckNames(field, parts[0], field, parts[1]);
    if (!s.ok()) return s;
    absl::StatusOr<int32_t> day = ParseDate(field, parts[2]);
    if (!day.ok()) return day.status();
    storage_keys.push_back(storage::keys::StashKey(tenant, parts[0], parts[1], *day));
    visitors.emplace_back(parts[0]);
  }
  std::vector<absl::StatusOr<storage::CounterCell>> cells(keys.size(),
                                                          absl::NotFoundError("not read"));
  absl::flat_hash_set<std::string> read;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!read.insert(visitors[i]).second) continue;
    std::vector<size_t> indexes;
    std::vector<std::string> group;
    for (size_t j = i; j < keys.size(); ++j) {
      if (visitors[j] != visitors[i]) continue;
      indexes.push_back(j);
      group.push_back(storage_keys[j]);
    }
    std::vector<absl::StatusOr<storage::CounterCell>> got = store_->MultiGetCounters(
        storage::keys::StashPartition(tenant, visitors[i]), storage::Table::kStash, group);
    for (size_t k = 0; k < indexes.size(); ++k) cells[indexes[k]] = std::move(got[k]);
  }
  std::vector<std::pair<std::string, int64_t>> out;
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (absl::IsNotFound(cells[i].status())) continue;
    if (!cells[i].ok()) return cells[i].status();
    if (seen.insert(keys[i]).second) out.emplace_back(keys[i], cells[i]->count);
  }
  return out;
}

}  // namespace countd::logic
