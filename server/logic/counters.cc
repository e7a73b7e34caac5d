#include "server/logic/counters.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/logic/decimal.h"
#include "server/logic/matcher.h"
#include "server/logic/periods.h"
#include "server/logic/status_util.h"
#include "server/logic/validate.h"
#include "storage/keys.h"

namespace countd::logic {
namespace {

namespace keys = storage::keys;
using storage::CounterCell;
using storage::Table;

constexpr absl::string_view kTotal = "total";
constexpr absl::string_view kLast7Days = "last7Days";

std::string PairKey(absl::string_view cls, absl::string_view path) {
  return absl::StrCat(cls, absl::string_view("\0", 1), path);
}

std::string Indexed(absl::string_view list, size_t i, absl::string_view field) {
  return absl::StrCat(list, "[", i, "].", field);
}

bool SegmentChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

// The user key prefix of `user`, after checking exactly one of uid / reg_token is given.
// Where one user's counters live: the key prefix and the partition.
struct UserKeys {
  std::string prefix;
  storage::Partition partition;
};

UserKeys KeysOf(const std::string& tenant, char kind, const std::string& id) {
  return {keys::SignalsUserPrefix(tenant, kind, id), keys::SignalsUserPartition(tenant, kind, id)};
}

absl::StatusOr<UserKeys> UserOf(const std::string& tenant, const CounterUser& user) {
  if (user.uid.has_value() && user.reg_token.has_value()) {
    return BadValue("uid", "give either uid or reg_token, not both");
  }
  if (user.uid.has_value()) {
    absl::Status s = CheckIdentifier("uid", *user.uid);
    if (!s.ok()) return s;
    return KeysOf(tenant, 'u', *user.uid);
  }
  if (user.reg_token.has_value()) {
    absl::Status s = CheckIdentifier("reg_token", *user.reg_token);
    if (!s.ok()) return s;
    return KeysOf(tenant, 'r', *user.reg_token);
  }
  return MissingField("uid");
}

absl::Status CheckPair(absl::string_view list, size_t i, const CounterPath& p) {
  // This runs for every counter of every call: the indexed field names are built only to
  // report an error, by checking again with them.
  if (CheckIdentifier("class", p.cls).ok() && PathDepth("path", p.path).ok()) {
    return absl::OkStatus();
  }
  absl::Status s = CheckIdentifier(Indexed(list, i, "class"), p.cls);
  if (!s.ok()) return s;
  return PathDepth(Indexed(list, i, "path"), p.path).status();
}

absl::Status CheckPairList(absl::string_view list, const std::vector<CounterPath>& paths) {
  if (paths.empty()) return MissingField(list);
  if (paths.size() > kMaxRegisteredPerTenant) {
    return BadValue(
        list, absl::StrCat(paths.size(), " pairs; at most ", kMaxRegisteredPerTenant, " per call"));
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    absl::Status s = CheckPair(list, i, paths[i]);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// What one GetCounters filter selects.
struct Filter {
  enum class Period { kTotal, kMonth, kDay, kLast7Days, kRegex };
  Matcher cls;
  Matcher path;
  Period period = Period::kTotal;
  int32_t bucket = 0;  // kMonth / kDay
  Matcher period_regex;

  bool Selects(absl::string_view c, absl::string_view p) const {
    return cls.Matches(c) && path.Matches(p);
  }
  bool WantsTotal() const {
    return period == Period::kTotal || (period == Period::kRegex && period_regex.Matches(kTotal));
  }
  bool WantsMonth(int32_t month) const {
    return (period == Period::kMonth && bucket == month) ||
           (period == Period::kRegex && period_regex.Matches(MonthPeriodName(month)));
  }
  bool WantsDay(int32_t day) const {
    return (period == Period::kDay && bucket == day) ||
           (period == Period::kRegex && period_regex.Matches(DayPeriodName(day)));
  }
  bool WantsLast7Days() const {
    return period == Period::kLast7Days ||
           (period == Period::kRegex && period_regex.Matches(kLast7Days));
  }
};

absl::StatusOr<Filter> ParseFilter(size_t i, const CounterQuery& q) {
  Filter f;
  std::string cls_field = Indexed("counters", i, "class");
  std::string path_field = Indexed("counters", i, "path");
  std::string period_field = Indexed("counters", i, "period");
  absl::StatusOr<Matcher> cls = Matcher::Parse(cls_field, q.cls);
  if (!cls.ok()) return cls.status();
  if (cls->exact().has_value()) {
    absl::Status s = CheckIdentifier(cls_field, *cls->exact());
    if (!s.ok()) return s;
  }
  absl::StatusOr<Matcher> path = Matcher::Parse(path_field, q.path);
  if (!path.ok()) return path.status();
  if (path->exact().has_value()) {
    absl::Status s = PathDepth(path_field, *path->exact()).status();
    if (!s.ok()) return s;
  }
  f.cls = *std::move(cls);
  f.path = *std::move(path);

  absl::string_view period = q.period;
  if (period.empty() || period == kTotal) {
    f.period = Filter::Period::kTotal;
  } else if (period == kLast7Days) {
    f.period = Filter::Period::kLast7Days;
  } else if (absl::optional<int32_t> m = ParseMonthPeriodName(period); m.has_value()) {
    f.period = Filter::Period::kMonth;
    f.bucket = *m;
  } else if (absl::optional<int32_t> d = ParseDayPeriodName(period); d.has_value()) {
    f.period = Filter::Period::kDay;
    f.bucket = *d;
  } else if (RegexPattern(period).has_value()) {
    absl::StatusOr<Matcher> re = Matcher::Parse(period_field, period);
    if (!re.ok()) return re.status();
    f.period = Filter::Period::kRegex;
    f.period_regex = *std::move(re);
  } else {
    return BadValue(
        period_field,
        absl::StrCat(Quote(period), " is not total, last7Days, YYMM, YYMMDD or regex('...')"));
  }
  return f;
}

// The narrowest key prefix under `user_prefix` that holds every entry the filters can select.
std::string ScanPrefix(const std::string& user_prefix, const std::vector<Filter>& filters) {
  if (filters.size() != 1 || !filters[0].cls.exact().has_value()) return user_prefix;
  const Filter& f = filters[0];
  if (!f.path.exact().has_value()) return user_prefix + keys::Join({*f.cls.exact()});
  return keys::SignalsCounterKey(user_prefix, *f.cls.exact(), *f.path.exact());
}

using ResultKey = std::tuple<std::string, std::string, std::string>;

}  // namespace

absl::StatusOr<int> PathDepth(absl::string_view field, absl::string_view path) {
  absl::Status s = CheckIdentifier(field, path);
  if (!s.ok()) return s;
  if (path[0] != '/') return BadFormat(field, absl::StrCat(Quote(path), " must start with '/'"));
  if (path == "/") return 0;
  if (path.back() == '/') {
    return BadFormat(field, absl::StrCat(Quote(path), " must not end with '/'"));
  }
  int depth = 0;
  for (absl::string_view seg : absl::StrSplit(path.substr(1), '/')) {
    ++depth;
    if (seg.empty()) return BadFormat(field, absl::StrCat(Quote(path), " has an empty segment"));
    for (char c : seg) {
      if (!SegmentChar(c)) {
        return BadFormat(field,
                         absl::StrCat(Quote(path), " segments may only hold [A-Za-z0-9_.-]"));
      }
    }
  }
  if (depth > kMaxPathDepthLimit) {
    return BadValue(field, absl::StrCat(Quote(path), " is ", depth, " levels deep; at most ",
                                        kMaxPathDepthLimit));
  }
  return depth;
}

namespace {

// Where the registry of `tenant` and its version record live.
ConfigUnit RegistryUnit(const std::string& tenant) {
  return ConfigUnit{keys::TenantPartition(tenant), keys::ConfigVersionKey("reg", tenant),
                    absl::StrCat("the Signals registry of tenant ", Quote(tenant))};
}

}  // namespace

Counters::Counters(storage::Store* store, const storage::Clock* clock, RequestLog* requests,
                   CountersOptions options)
    : store_(store),
      clock_(clock),
      requests_(requests),
      options_(options),
      cache_(store, ConfigCacheOptions{clock, options.config_cache_ttl}, RegistryUnit,
             [this](const std::string& tenant, const Registry*) { return LoadRegistry(tenant); }) {}

absl::StatusOr<std::shared_ptr<const Counters::Registry>> Counters::LoadRegistry(
    const std::string& tenant) {
  auto registry = std::make_shared<Registry>();
  const storage::Partition partition = keys::TenantPartition(tenant);
  absl::Status s =
      store_->Scan(partition, Table::kMeta, storage::PrefixRange(keys::RegistryPrefix(tenant)),
                   [&](absl::string_view key, absl::string_view) {
                     std::vector<absl::string_view> parts = keys::Split(key);
                     if (parts.size() == 4) registry->pairs.insert(PairKey(parts[2], parts[3]));
                     return true;
                   });
  if (!s.ok()) return s;
  absl::StatusOr<std::string> depth =
      store_->Get(partition, Table::kMeta, keys::CounterSettingsKey(tenant));
  if (depth.ok()) {
    int d = 0;
    if (absl::SimpleAtoi(*depth, &d) && d >= 1 && d <= kMaxPathDepthLimit) {
      registry->settings.max_path_depth = d;
    } else {
      return absl::DataLossError(
          absl::StrCat("stored settings of tenant ", Quote(tenant), " are unreadable"));
    }
  } else if (!absl::IsNotFound(depth.status())) {
    return depth.status();
  }
  return std::shared_ptr<const Registry>(std::move(registry));
}

absl::StatusOr<std::shared_ptr<const Counters::Registry>> Counters::GetRegistry(
    const std::string& tenant) {
  return cache_.Get(tenant);
}

absl::Status Counters::UpdateRegistry(const std::string& tenant, const RegistryChange& change) {
  return cache_.Update(
      tenant,
      [&](const Registry& current,
          storage::WriteBatch* batch) -> absl::StatusOr<std::shared_ptr<const Registry>> {
        auto next = std::make_shared<Registry>(current);
        absl::Status s = change(next.get(), batch);
        if (!s.ok()) return s;
        return std::shared_ptr<const Registry>(std::move(next));
      });
}

absl::Status Counters::ChangeRegistry(const std::string& tenant,
                                      const std::vector<CounterPath>& paths,
                                      const RegistryChange& change) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (!s.ok()) return s;
  s = CheckPairList("counters", paths);
  if (!s.ok()) return s;

  return UpdateRegistry(tenant, change);
}

absl::Status Counters::RegisterCounters(const std::string& tenant,
                                        const std::vector<CounterPath>& paths) {
  return ChangeRegistry(tenant, paths, [&](Registry* next, storage::WriteBatch* batch) {
    for (size_t i = 0; i < paths.size(); ++i) {
      const CounterPath& p = paths[i];
      // Re-registering is a no-op success, also for a pair deeper than a max_path_depth lowered
      // after it was registered (lowering the depth refuses new pairs only).
      if (next->pairs.contains(PairKey(p.cls, p.path))) continue;
      int depth = *PathDepth("path", p.path);  // checked by ChangeRegistry
      if (depth > next->settings.max_path_depth) {
        return BadValue(Indexed("counters", i, "path"),
                        absl::StrCat(Quote(p.path), " is ", depth,
                                     " levels deep; the tenant's max_path_depth is ",
                                     next->settings.max_path_depth));
      }
      if (next->pairs.insert(PairKey(p.cls, p.path)).second) {
        batch->Put(Table::kMeta, keys::RegistryKey(tenant, p.cls, p.path), "");
      }
    }
    if (next->pairs.size() > kMaxRegisteredPerTenant) {
      return Refused("counters",
                     absl::StrCat("the tenant would have ", next->pairs.size(),
                                  " registered counters; the limit is ", kMaxRegisteredPerTenant));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<CounterPath>> Counters::GetRegisteredCounters(
    const std::string& tenant) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (!s.ok()) return s;
  absl::StatusOr<std::shared_ptr<const Registry>> registry = GetRegistry(tenant);
  if (!registry.ok()) return registry.status();
  std::vector<CounterPath> out;
  out.reserve((*registry)->pairs.size());
  for (const std::string& pair : (*registry)->pairs) {
    size_t sep = pair.find('\0');
    out.push_back({pair.substr(0, sep), pair.substr(sep + 1)});
  }
  std::sort(out.begin(), out.end(), [](const CounterPath& a, const CounterPath& b) {
    return std::tie(a.cls, a.path) < std::tie(b.cls, b.path);
  });
  return out;
}

absl::Status Counters::UnregisterCounters(const std::string& tenant,
                                          const std::vector<CounterPath>& paths) {
  return ChangeRegistry(tenant, paths, [&](Registry* next, storage::WriteBatch* batch) {
    for (const CounterPath& p : paths) {
      if (next->pairs.erase(PairKey(p.cls, p.path)) > 0) {
        batch->Delete(Table::kMeta, keys::RegistryKey(tenant, p.cls, p.path));
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<CounterSettings> Counters::SetCounterSettings(const std::string& tenant,
                                                             const CounterSettings& settings) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (!s.ok()) return s;
  if (settings.max_path_depth < 1 || settings.max_path_depth > kMaxPathDepthLimit) {
    return BadValue("settings.max_path_depth",
                    absl::StrCat(settings.max_path_depth, " is outside 1..", kMaxPathDepthLimit));
  }
  s = UpdateRegistry(tenant, [&](Registry* next, storage::WriteBatch* batch) {
    batch->Put(Table::kMeta, keys::CounterSettingsKey(tenant),
               absl::StrCat(settings.max_path_depth));
    next->settings = settings;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return settings;
}

absl::StatusOr<CounterSettings> Counters::GetCounterSettings(const std::string& tenant) {
  absl::Status s = CheckIdentifier("tenant", tenant);
  if (!s.ok()) return s;
  absl::StatusOr<std::shared_ptr<const Registry>> registry = GetRegistry(tenant);
  if (!registry.ok()) return registry.status();
  return (*registry)->settings;
}

absl::Status Counters::IncrementCounters(const IncrementCountersArgs& args) {
  absl::Status s = CheckIdentifier("tenant", args.tenant);
  if (!s.ok()) return s;
  absl::StatusOr<UserKeys> who = UserOf(args.tenant, args.user);
  if (!who.ok()) return who.status();
  if (args.counters.empty()) return MissingField("counters");
  if (args.counters.size() > kMaxCountersPerCall) {
    return BadValue("counters", absl::StrCat(args.counters.size(), " counters; at most ",
                                             kMaxCountersPerCall, " per call"));
  }
  absl::StatusOr<std::shared_ptr<const Registry>> registry = GetRegistry(args.tenant);
  if (!registry.ok()) return registry.status();

  // Validate everything before writing anything; build the deltas and a canonical form of the
  // request (for request_id) on the way.
  struct Delta {
    absl::string_view cls;
    absl::string_view path;
    CounterCell cell;
  };
  std::vector<Delta> deltas;
  deltas.reserve(args.counters.size());
  absl::StatusOr<absl::Time> when = ResolveEventTime("event_time_ms", args.event_time_ms,
                                                     clock_->Now(), options_.daily_retention_days);
  if (!when.ok()) return when.status();
  // The request as a request_id's fingerprint sees it; built only when there is one.
  const bool with_request_id = !args.request_id.empty();
  std::string canonical;
  if (with_request_id) {
    canonical = who->prefix;
    absl::StrAppend(&canonical, "|", args.event_time_ms.value_or(-1));
  }
  // The first pair that is not registered (now). It is refused only when the request is not a
  // repeat: a request that succeeded and is retried after its pair was unregistered gets its
  // first answer (request_id), so its refusal waits for RequestLog::Apply's build step. Errors
  // of the request itself come in counter order as always.
  absl::Status unregistered;
  auto first_error = [&unregistered](absl::Status error) {
    return unregistered.ok() ? error : unregistered;
  };
  for (size_t i = 0; i < args.counters.size(); ++i) {
    const CounterIncrement& c = args.counters[i];
    s = CheckPair("counters", i, {c.cls, c.path});
    if (!s.ok()) return first_error(s);
    int64_t count = c.count.value_or(1);
    if (count < 0) {
      return first_error(
          BadValue(Indexed("counters", i, "count"), absl::StrCat(count, " is negative")));
    }
    absl::StatusOr<absl::int128> micros = ToMicros("value", c.value.value_or(0.0));
    if (!micros.ok()) {  // again with the field's full name (built only for the error)
      return first_error(ToMicros(Indexed("counters", i, "value"), c.value.value_or(0.0)).status());
    }
    if (unregistered.ok() && c.path != "/" &&
        !(*registry)->pairs.contains(PairKey(c.cls, c.path))) {
      unregistered = Refused(
          Indexed("counters", i, "path"),
          absl::StrCat("class ", Quote(c.cls), " path ", Quote(c.path), " is not registered"));
    }
    Delta d;
    d.cls = c.cls;
    d.path = c.path;
    d.cell.count = count;
    d.cell.value_micros = *micros;
    d.cell.updated_ms = absl::ToUnixMillis(*when);
    if (with_request_id) {
      absl::StrAppend(&canonical, "|", c.cls, "\t", c.path, "\t", count, "\t",
                      FormatMicros(*micros));
    }
    deltas.push_back(std::move(d));
  }

  int32_t day = DayOf(*when);
  int32_t month = MonthOf(*when);
  absl::StatusOr<std::string> answer =
      requests_->Apply("IncrementCounters", who->partition, args.tenant, args.request_id, canonical,
                       [&](storage::WriteBatch* batch) -> absl::StatusOr<std::string> {
                         if (!unregistered.ok()) return unregistered;
                         batch->AllowDeferredApply();  // counters are read back from the store only
                         batch->Reserve(deltas.size());
                         // Total, month and day: kTotals, kMonthly and kDaily.
                         for (const Delta& d : deltas) {
                           batch->AddSignals(keys::SignalsCounterKey(who->prefix, d.cls, d.path),
                                             month, day, d.cell);
                         }
                         return std::string();
                       });
  return answer.status();
}

absl::StatusOr<std::vector<CounterValue>> Counters::GetCounters(const GetCountersArgs& args) {
  absl::Status s = CheckIdentifier("tenant", args.tenant);
  if (!s.ok()) return s;
  absl::StatusOr<UserKeys> who = UserOf(args.tenant, args.user);
  if (!who.ok()) return who.status();
  if (args.counters.size() > kMaxQueriesPerCall) {
    return BadValue("counters", absl::StrCat(args.counters.size(), " filters; at most ",
                                             kMaxQueriesPerCall, " per call"));
  }
  std::vector<Filter> filters;
  if (args.counters.empty()) {
    filters.emplace_back();  // every counter, period total
  }
  for (size_t i = 0; i < args.counters.size(); ++i) {
    absl::StatusOr<Filter> f = ParseFilter(i, args.counters[i]);
    if (!f.ok()) return f.status();
    filters.push_back(*std::move(f));
  }

  bool want_totals = false, want_monthly = false, want_daily = false;
  for (const Filter& f : filters) {
    want_totals |= f.period == Filter::Period::kTotal || f.period == Filter::Period::kRegex;
    want_monthly |= f.period == Filter::Period::kMonth || f.period == Filter::Period::kRegex;
    want_daily |= f.period == Filter::Period::kDay || f.period == Filter::Period::kLast7Days ||
                  f.period == Filter::Period::kRegex;
  }

  std::map<ResultKey, CounterValue> results;
  bool too_many = false;
  auto emit = [&](absl::string_view cls, absl::string_view path, std::string period,
                  const CounterCell& cell) {
    ResultKey key(std::string(cls), std::string(path), std::move(period));
    if (results.count(key) > 0) return;
    if (results.size() >= kMaxCountersPerAnswer) {
      too_many = true;
      return;
    }
    CounterValue v;
    v.cls = std::get<0>(key);
    v.path = std::get<1>(key);
    v.period = std::get<2>(key);
    v.count = cell.count;
    v.value_micros = cell.value_micros;
    v.last_updated = absl::FromUnixMillis(cell.updated_ms);
    results.emplace(std::move(key), std::move(v));
  };

  const std::string prefix = ScanPrefix(who->prefix, filters);
  const size_t user_len = who->prefix.size();
  // Visits entries of `table` under the prefix, handing (class, path, bucket, cell) to `fn`.
  auto scan = [&](Table table, bool bucketed, auto fn) -> absl::Status {
    absl::Status corrupt;
    absl::Status st =
        store_->Scan(who->partition, table, storage::PrefixRange(prefix),
                     [&](absl::string_view key, absl::string_view raw) {
                       absl::string_view rest = key.substr(user_len);
                       int32_t bucket = bucketed ? keys::BucketOf(rest) : 0;
                       if (bucketed) rest = keys::WithoutBucket(rest);
                       std::vector<absl::string_view> parts = keys::Split(rest);
                       CounterCell cell;
                       if (parts.size() != 2 || !storage::DecodeCounterCell(raw, &cell)) {
                         corrupt = absl::DataLossError("storage: unreadable counter entry");
                         return false;
                       }
                       fn(parts[0], parts[1], bucket, cell);
                       return !too_many;
                     });
    return st.ok() ? corrupt : st;
  };

  if (want_totals) {
    s = scan(Table::kTotals, false,
             [&](absl::string_view c, absl::string_view p, int32_t, const CounterCell& cell) {
               for (const Filter& f : filters) {
                 if (f.WantsTotal() && f.Selects(c, p)) {
                   emit(c, p, std::string(kTotal), cell);
                   break;
                 }
               }
             });
    if (!s.ok()) return s;
  }
  if (want_monthly) {
    s = scan(Table::kMonthly, true,
             [&](absl::string_view c, absl::string_view p, int32_t month, const CounterCell& cell) {
               for (const Filter& f : filters) {
                 if (f.WantsMonth(month) && f.Selects(c, p)) {
                   emit(c, p, MonthPeriodName(month), cell);
                   break;
                 }
               }
             });
    if (!s.ok()) return s;
  }
  if (want_daily) {
    const int32_t today = DayOf(clock_->Now());
    std::map<std::pair<std::string, std::string>, CounterCell> last7;
    s = scan(Table::kDaily, true,
             [&](absl::string_view c, absl::string_view p, int32_t day, const CounterCell& cell) {
               bool in_last7 = day > today - 7 && day <= today;
               bool counted7 = false;
               bool emitted = false;
               for (const Filter& f : filters) {
                 if (!f.Selects(c, p)) continue;
                 if (!emitted && f.WantsDay(day)) {
                   emit(c, p, DayPeriodName(day), cell);
                   emitted = true;
                 }
                 if (in_last7 && !counted7 && f.WantsLast7Days()) {
                   CounterCell& sum = last7[{std::string(c), std::string(p)}];
                   sum = storage::AddCells(sum, cell);
                   counted7 = true;
                 }
               }
             });
    if (!s.ok()) return s;
    for (const auto& [pair, cell] : last7)
      emit(pair.first, pair.second, std::string(kLast7Days), cell);
  }
  if (too_many) {
    return BadValue("counters", absl::StrCat("the filters match more than ", kMaxCountersPerAnswer,
                                             " entries; narrow them"));
  }
  std::vector<CounterValue> out;
  out.reserve(results.size());
  for (auto& [key, value] : results) out.push_back(std::move(value));
  return out;
}

}  // namespace countd::logic
