// The Store over Redis Cluster (redis_store.h). Layout, scripts and bounds are described there and
// in docs/storage.md; this file explains the why of each step.
#include "storage/redis_cluster/redis_store.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "storage/expiry.h"
#include "storage/keys.h"
#include "storage/write_durations.h"

namespace countd::storage::redis {
namespace {

// Expiry instants are stored as ZSET scores (doubles) and compared in Lua (doubles): keep them
// well inside the 2^53 range where doubles are exact integers.
constexpr int64_t kMaxExpiryMs = int64_t{1} << 52;

// Rankings (WriteBatch::AddRanked, Store::ReadRanking). A ranking with base key B is:
//   B:a  ZSET  item -> total over the buckets ending after the applied horizon (the aggregate)
//   B:i  ZSET  bucket end -> bucket end (the buckets kept)
//   B:m  HASH  h: applied horizon, w: window identity, x: "1" once a count left the exact range
//   B:b:<end>  ZSET  item -> count in that bucket; expires at the bucket's keep_until
// Sliding: moving the horizon subtracts from B:a each bucket that left the window (once: the
// horizon only moves forward), so a read costs O(log n + k) plus the work the horizon owes, and
// each bucket is subtracted once. A new window identity (or a bucket found missing) rebuilds
// B:a from the kept buckets. Scores are doubles: exact for integers below 2^53, so any count or
// total reaching it sets x, and reads then answer 'inexact' (the caller counts from its exact
// records instead). B:a, B:i and B:m expire with the latest bucket plus the slack.
constexpr char kRankingLua[] = R"lua(
local RK_EXACT = 9007199254740992
local function rk_exact_check(base, v)
  local n = tonumber(v)
  if n >= RK_EXACT or n <= -RK_EXACT then redis.call('HSET', base .. ':m', 'x', '1') end
end
-- Gives B:a and B:m the expiry of B:i (after they were recreated).
local function rk_same_ttl(base)
  local t = redis.call('EXPIRETIME', base .. ':i')
  if t > 0 then
    redis.call('EXPIREAT', base .. ':a', t)
    redis.call('EXPIREAT', base .. ':m', t)
  end
end
local function rk_add_bucket(base, e)
  local cells = redis.call('ZRANGE', base .. ':b:' .. e, 0, -1, 'WITHSCORES')
  for j = 1, #cells, 2 do
    local t = redis.call('ZINCRBY', base .. ':a', cells[j + 1], cells[j])
    rk_exact_check(base, t)
  end
end
-- Brings B:a to `horizon` (never back) for window `w`.
local function rk_advance(base, horizon, w)
  local a, i, m = base .. ':a', base .. ':i', base .. ':m'
  local st = redis.call('HMGET', m, 'h', 'w')
  local h = st[1] and tonumber(st[1]) or nil
  local rebuild = (h == nil) or (st[2] ~= w)
  if not rebuild and horizon <= h then return end
  if not rebuild then
    local ends = redis.call('ZRANGEBYSCORE', i, '(' .. st[1], horizon)
    for _, e in ipairs(ends) do
      local b = base .. ':b:' .. e
      if redis.call('EXISTS', b) == 0 then
        rebuild = true
        break
      end
      local cells = redis.call('ZRANGE', b, 0, -1, 'WITHSCORES')
      for j = 1, #cells, 2 do
        local t = redis.call('ZINCRBY', a, -tonumber(cells[j + 1]), cells[j])
        if tonumber(t) == 0 then redis.call('ZREM', a, cells[j]) end
      end
    end
  end
  if rebuild then
    redis.call('DEL', a)
    for _, e in ipairs(redis.call('ZRANGEBYSCORE', i, '(' .. horizon, '+inf')) do
      if redis.call('EXISTS', base .. ':b:' .. e) == 0 then
        redis.call('ZREM', i, e)
      else
        rk_add_bucket(base, e)
      end
    end
    redis.call('ZREMRANGEBYSCORE', a, 0, 0)
  end
  -- Forget buckets that expired on their own (bounded per call).
  for _, e in ipairs(redis.call('ZRANGEBYSCORE', i, '-inf', horizon, 'LIMIT', 0, 8)) do
    if redis.call('EXISTS', base .. ':b:' .. e) == 0 then redis.call('ZREM', i, e) end
  end
  redis.call('HSET', m, 'h', horizon, 'w', w)
  rk_same_ttl(base)
end
local function rk_expire_at_least(key, at)
  local t = redis.call('EXPIRETIME', key)
  if t == -1 or t < at then redis.call('EXPIREAT', key, at) end
end
local function rk_add(base, item, e, keep, horizon, w, delta, slack_s, now_s)
  rk_advance(base, horizon, w)
  -- A bucket already past its keep_until is gone: adding to it would count what no longer is.
  if keep <= now_s then return end
  local b = base .. ':b:' .. e
  rk_exact_check(base, delta)
  rk_exact_check(base, redis.call('ZINCRBY', b, delta, item))
  redis.call('ZADD', base .. ':i', e, e)
  rk_expire_at_least(b, keep)
  if tonumber(e) > tonumber(redis.call('HGET', base .. ':m', 'h')) then
    local t = redis.call('ZINCRBY', base .. ':a', delta, item)
    rk_exact_check(base, t)
    if tonumber(t) == 0 then redis.call('ZREM', base .. ':a', item) end
  end
  rk_expire_at_least(base .. ':i', keep + slack_s)
  rk_same_ttl(base)
end
local function rk_reset(base)
  for _, e in ipairs(redis.call('ZRANGE', base .. ':i', 0, -1)) do
    redis.call('DEL', base .. ':b:' .. e)
  end
  redis.call('DEL', base .. ':a', base .. ':i', base .. ':m')
end
)lua";

// The writes of one batch, all in the slot of the batch's partition. Arguments (see the
// C++ caller, RedisStore::Write):
//   KEYS: for each group g (a table the batch names) its hash, index and expiry index
//         (KEYS[3g-2], KEYS[3g-1], KEYS[3g]).
//         then one base key per ranking the batch names (KEYS[3 * groups + r]).
//   ARGV: now_ms, now (8-byte big-endian unix seconds), groups, preconditions, ops, prune limit,
//         TTL slack (ms), ranking ops, one "1"/"0" per group (does the table expire), then per
//         precondition (group, key, mode, want, value), per op (type, group, key, value, expiry
//         ms) and per ranking op (type "a"/"r", ranking, item, bucket end, keep until, horizon,
//         window, delta).
//   Precondition mode: "x" the record is expired by its key (the caller judged it with the same
//   clock), "r" expired when its value's leading 8-byte expiry <= now (kRequests), "n" live.
// Returns {"ok", 0}, {"aborted", precondition index} or {"dataloss", op index}; in the two
// latter cases nothing was written (every check happens before the first write, because Redis
// does not roll a script back).
// CounterCells are added byte by byte on their 32-byte little-endian encoding, because Lua
// numbers are doubles: count is a 64-bit two's complement add saturating at the int64 limits
// (as AddCells), value_micros a 128-bit add, updated_ms the signed maximum.
constexpr char kWriteScript[] = R"lua(
local now_ms = tonumber(ARGV[1])
local now_be = ARGV[2]
local ngroups = tonumber(ARGV[3])
local npre = tonumber(ARGV[4])
local nops = tonumber(ARGV[5])
local prune_limit = tonumber(ARGV[6])
local slack_ms = tonumber(ARGV[7])
local nrank = tonumber(ARGV[8])
local a = 9
local expires = {}
for g = 1, ngroups do
  expires[g] = (ARGV[a] == '1')
  a = a + 1
end

local function be64_le(x, y)
  for j = 1, 8 do
    local p, q = string.byte(x, j), string.byte(y, j)
    if j == 1 then
      p = (p + 128) % 256
      q = (q + 128) % 256
    end
    if p ~= q then return p < q end
  end
  return true
end

local function add_cells(x, y)
  local out = {}
  local carry = 0
  for j = 1, 8 do
    local s = string.byte(x, j) + string.byte(y, j) + carry
    out[j] = s % 256
    carry = (s - out[j]) / 256
  end
  local sx, sy, so = string.byte(x, 8) >= 128, string.byte(y, 8) >= 128, out[8] >= 128
  if sx == sy and so ~= sx then
    if sy then
      for j = 1, 7 do out[j] = 0 end
      out[8] = 128
    else
      for j = 1, 7 do out[j] = 255 end
      out[8] = 127
    end
  end
  carry = 0
  for j = 9, 24 do
    local s = string.byte(x, j) + string.byte(y, j) + carry
    out[j] = s % 256
    carry = (s - out[j]) / 256
  end
  local src = x
  for j = 32, 25, -1 do
    local p, q = string.byte(x, j), string.byte(y, j)
    if j == 32 then
      p = (p + 128) % 256
      q = (q + 128) % 256
    end
    if p ~= q then
      if q > p then src = y end
      break
    end
  end
  for j = 25, 32 do out[j] = string.byte(src, j) end
  return string.char(unpack(out))
end

for p = 1, npre do
  local g, key, mode, want, val = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  a = a + 5
  local live = redis.call('HGET', KEYS[3 * g - 2], key)
  if live and (mode == 'x' or (mode == 'r' and (#live < 8 or be64_le(live, now_be)))) then
    live = false
  end
  local holds
  if want == '1' then holds = (live == val) else holds = (live == false) end
  if not holds then return {'aborted', p} end
end

local order = {}
local final = {}
for o = 1, nops do
  local t, g, key, v, exp = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  a = a + 5
  local id = g .. ':' .. key
  local cur = final[id]
  if t == 'a' then
    local base
    if cur ~= nil then base = cur.v else base = redis.call('HGET', KEYS[3 * g - 2], key) end
    if base then
      if #base ~= 32 then return {'dataloss', o} end
      v = add_cells(base, v)
    end
  elseif t == 'd' then
    v = false
  end
  if cur == nil then order[#order + 1] = id end
  final[id] = {g = g, k = key, v = v, e = exp}
end

local touched = {}
for _, id in ipairs(order) do
  local f = final[id]
  local h, z, e = KEYS[3 * f.g - 2], KEYS[3 * f.g - 1], KEYS[3 * f.g]
  if f.v then
    redis.call('HSET', h, f.k, f.v)
    redis.call('ZADD', z, 0, f.k)
    if expires[f.g] then redis.call('ZADD', e, f.e, f.k) end
  else
    redis.call('HDEL', h, f.k)
    redis.call('ZREM', z, f.k)
    if expires[f.g] then redis.call('ZREM', e, f.k) end
  end
  touched[f.g] = true
end

for g = 1, ngroups do
  if touched[g] and expires[g] then
    local h, z, e = KEYS[3 * g - 2], KEYS[3 * g - 1], KEYS[3 * g]
    local old = redis.call('ZRANGEBYSCORE', e, '-inf', ARGV[1], 'LIMIT', 0, prune_limit)
    if #old > 0 then
      redis.call('HDEL', h, unpack(old))
      redis.call('ZREM', z, unpack(old))
      redis.call('ZREM', e, unpack(old))
    end
    local top = redis.call('ZRANGE', e, -1, -1, 'WITHSCORES')
    if #top == 2 then
      local ttl = tonumber(top[2]) - now_ms + slack_ms
      if ttl <= 0 then
        redis.call('DEL', h, z, e)
      else
        if ttl > 1e13 then ttl = 1e13 end
        local s = string.format('%d', ttl)
        redis.call('PEXPIRE', h, s)
        redis.call('PEXPIRE', z, s)
        redis.call('PEXPIRE', e, s)
      end
    end
  end
end

for r = 1, nrank do
  local t, base = ARGV[a], KEYS[3 * ngroups + tonumber(ARGV[a + 1])]
  if t == 'r' then
    rk_reset(base)
  else
    rk_add(base, ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]),
           ARGV[a + 6], ARGV[a + 7], math.floor(slack_ms / 1000), math.floor(now_ms / 1000))
  end
  a = a + 8
end
return {'ok', 0}
)lua";

// One ranking read: KEYS = base; ARGV = horizon, window, k, self item. Returns {"inexact"} or
// {"ok", {item, score, ...} (the top, unordered within equal scores), self score or "", self
// rank}. The k-th score's ties are taken in ascending item order (ZRANGEBYSCORE orders equal
// scores bytewise), so the caller's sort gives exactly the first k of (total desc, item asc).
constexpr char kReadRankingScript[] = R"lua(
local base = KEYS[1]
local a = base .. ':a'
if redis.call('EXISTS', base .. ':m') == 0 then return {'ok', {}, '', 0} end
rk_advance(base, tonumber(ARGV[1]), ARGV[2])
if redis.call('HGET', base .. ':m', 'x') == '1' then return {'inexact'} end
local k = tonumber(ARGV[3])
local top = redis.call('ZREVRANGEBYSCORE', a, '+inf', '(0', 'WITHSCORES', 'LIMIT', 0, k)
if k > 0 and #top == 2 * k then
  local sk = top[2 * k]
  top = redis.call('ZREVRANGEBYSCORE', a, '+inf', '(' .. sk, 'WITHSCORES')
  local ties = redis.call('ZRANGEBYSCORE', a, sk, sk, 'WITHSCORES', 'LIMIT', 0, k - #top / 2)
  for _, v in ipairs(ties) do top[#top + 1] = v end
end
local score, rank = '', 0
if ARGV[4] ~= '' then
  local s = redis.call('ZSCORE', a, ARGV[4])
  if s then score = s end
  if s and tonumber(s) > 0 then
    rank = redis.call('ZCOUNT', a, '(' .. s, '+inf') +
           (redis.call('ZRANK', a, ARGV[4]) - redis.call('ZCOUNT', a, '-inf', '(' .. s)) + 1
  end
end
return {'ok', top, score, rank}
)lua";

// One page of a scan: KEYS = hash, index; ARGV = lex min, lex max, limit, "1" for reverse.
// Returns {keys, values} read in one atomic step.
constexpr char kScanScript[] = R"lua(
local m
if ARGV[4] == '1' then
  m = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[2], ARGV[1], 'LIMIT', 0, ARGV[3])
else
  m = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3])
end
if #m == 0 then return {{}, {}} end
return {m, redis.call('HMGET', KEYS[1], unpack(m))}
)lua";

std::string BigEndian8(int64_t v) {
  std::string out;
  keys::PutBigEndian64(&out, v);
  return out;
}

// A ranking score as Redis prints it: an integer below 2^53 (the scripts refuse to answer
// otherwise), possibly in exponent form.
bool ParseScore(absl::string_view text, int64_t* out) {
  if (absl::SimpleAtoi(text, out)) return true;
  double d = 0;
  if (!absl::SimpleAtod(text, &d) || !(d > -9007199254740992.0 && d < 9007199254740992.0)) {
    return false;
  }
  *out = static_cast<int64_t>(d);
  return static_cast<double>(*out) == d;
}

int64_t ClampedUnixMillis(absl::Time t) {
  if (t >= absl::FromUnixMillis(kMaxExpiryMs)) return kMaxExpiryMs;
  if (t <= absl::FromUnixMillis(-kMaxExpiryMs)) return -kMaxExpiryMs;
  return absl::ToUnixMillis(t);
}

// Error replies that mean the cluster cannot take the command now, not that countd sent a bad
// one.
bool IsTransientErrorReply(const Reply& r) {
  for (absl::string_view p : {"OOM", "READONLY", "MASTERDOWN", "LOADING", "BUSY", "NOREPLICAS",
                              "CLUSTERDOWN", "TRYAGAIN"}) {
    if (absl::StartsWith(r.str, p)) return true;
  }
  return false;
}

// Status messages name the operation and the table, never keys, values or credentials.
absl::Status FromClient(absl::string_view what, const absl::Status& s) {
  std::string msg = absl::StrCat("storage: redis ", what, ": ", s.message());
  if (absl::IsDeadlineExceeded(s)) return absl::DeadlineExceededError(msg);
  return absl::UnavailableError(msg);
}

absl::Status FromErrorReply(absl::string_view what, const Reply& r) {
  // Redis error texts carry the command and script positions, never argument values.
  std::string msg =
      absl::StrCat("storage: redis ", what, ": ", absl::string_view(r.str).substr(0, 200));
  return IsTransientErrorReply(r) ? absl::UnavailableError(msg) : absl::InternalError(msg);
}

absl::Status Unexpected(absl::string_view what) {
  return absl::InternalError(absl::StrCat("storage: redis ", what, ": unexpected reply shape"));
}

class RedisStore : public Store {
 public:
  RedisStore(const RedisStoreOptions& options, std::unique_ptr<ClusterClient> client)
      : options_(options),
        clock_(options.clock != nullptr ? options.clock : RealClock()),
        client_(std::move(client)),
        write_script_(absl::StrCat(kRankingLua, kWriteScript)),
        scan_script_(kScanScript),
        read_ranking_script_(absl::StrCat(kRankingLua, kReadRankingScript)) {}

  StoreKind kind() const override { return StoreKind::kRedisCluster; }

  absl::StatusOr<std::string> Get(const Partition& partition, Table table,
                                  absl::string_view key) override {
    std::string what = absl::StrCat("get (table ", TableName(table), ")");
    absl::StatusOr<Reply> r =
        client_->Run(Command({"HGET", Key(partition, table, 'h'), std::string(key)}, {1}));
    if (!r.ok()) return FromClient(what, r.status());
    if (r->is_error()) return FromErrorReply(what, *r);
    if (r->is_nil()) return absl::NotFoundError("not found");
    if (r->type != Reply::Type::kString) return Unexpected(what);
    if (IsExpired(table, key, r->str, options_.retention, clock_->Now())) {
      return absl::NotFoundError("expired");
    }
    return std::move(r->str);
  }

  absl::StatusOr<CounterCell> GetCounter(const Partition& partition, Table table,
                                         absl::string_view key) override {
    absl::StatusOr<std::string> raw = Get(partition, table, key);
    if (!raw.ok()) return raw.status();
    return DecodeCounterCellOrDataLoss(*raw);
  }

  std::vector<absl::StatusOr<std::string>> MultiGet(const Partition& partition, Table table,
                                                    const std::vector<std::string>& keys) override {
    std::vector<absl::StatusOr<std::string>> out;
    if (keys.empty()) return out;
    out.reserve(keys.size());
    std::string what = absl::StrCat("multiget (table ", TableName(table), ")");
    std::vector<std::string> args = {"HMGET", Key(partition, table, 'h')};
    args.insert(args.end(), keys.begin(), keys.end());
    absl::StatusOr<Reply> r = client_->Run(Command(std::move(args), {1}));
    absl::Status failed;
    if (!r.ok()) {
      failed = FromClient(what, r.status());
    } else if (r->is_error()) {
      failed = FromErrorReply(what, *r);
    } else if (r->type != Reply::Type::kArray || r->elements.size() != keys.size()) {
      failed = Unexpected(what);
    }
    if (!failed.ok()) {
      out.assign(keys.size(), failed);
      return out;
    }
    absl::Time now = clock_->Now();
    for (size_t i = 0; i < keys.size(); ++i) {
      Reply& e = r->elements[i];
      if (e.type != Reply::Type::kString ||
          IsExpired(table, keys[i], e.str, options_.retention, now)) {
        out.push_back(absl::NotFoundError("not found"));
      } else {
        out.push_back(std::move(e.str));
      }
    }
    return out;
  }

  std::vector<absl::StatusOr<CounterCell>> MultiGetCounters(
      const Partition& partition, Table table, const std::vector<std::string>& keys) override {
    std::vector<absl::StatusOr<CounterCell>> out;
    out.reserve(keys.size());
    for (absl::StatusOr<std::string>& raw : MultiGet(partition, table, keys)) {
      out.push_back(raw.ok() ? DecodeCounterCellOrDataLoss(*raw) : raw.status());
    }
    return out;
  }

  absl::Status Scan(const Partition& partition, Table table, const ScanRange& range,
                    const ScanVisitor& visit) override {
    std::string what = absl::StrCat("scan (table ", TableName(table), ")");
    const std::vector<std::string> keys = {Key(partition, table, 'h'), Key(partition, table, 'z')};
    // Lex bounds: "[x" includes x, "(x" excludes it, "+" is the top.
    std::string lo = "[" + range.begin;
    std::string hi = range.end.empty() ? std::string("+") : "(" + range.end;
    const std::string page = absl::StrCat(kRedisScanPage);
    const bool expires = TableExpires(table);
    while (true) {
      absl::StatusOr<Reply> r =
          client_->Eval(scan_script_, keys, {lo, hi, page, range.reverse ? "1" : "0"});
      if (!r.ok()) return FromClient(what, r.status());
      if (r->is_error()) return FromErrorReply(what, *r);
      if (r->type != Reply::Type::kArray || r->elements.size() != 2 ||
          r->elements[0].type != Reply::Type::kArray ||
          r->elements[1].type != Reply::Type::kArray ||
          r->elements[0].elements.size() != r->elements[1].elements.size()) {
        return Unexpected(what);
      }
      const std::vector<Reply>& ks = r->elements[0].elements;
      const std::vector<Reply>& vs = r->elements[1].elements;
      // One clock reading per page: the page is one atomic read.
      absl::Time now = clock_->Now();
      for (size_t i = 0; i < ks.size(); ++i) {
        // A missing value cannot happen (hash and index change together); skip it if it does.
        if (vs[i].type != Reply::Type::kString) continue;
        if (expires && IsExpired(table, ks[i].str, vs[i].str, options_.retention, now)) continue;
        if (!visit(ks[i].str, vs[i].str)) return absl::OkStatus();
      }
      if (ks.size() < static_cast<size_t>(kRedisScanPage)) return absl::OkStatus();
      (range.reverse ? hi : lo) = "(" + ks.back().str;
    }
  }

  absl::Status ScanAllPartitions(Table, const ScanRange&, const ScanVisitor&) override {
    return absl::UnimplementedError(
        "storage: Redis Cluster has no ordered key space across partitions; ScanAllPartitions "
        "is RocksDB-only");
  }

  absl::Status Write(const WriteBatch& batch) override {
    if (batch.empty() && batch.preconditions().empty()) return absl::OkStatus();
    if (absl::Status valid = CheckBatchOps(batch); !valid.ok()) return valid;
    // kTotals, kMonthly and kDaily are hashes of their own here.
    const std::vector<WriteBatch::Op> ops = ExpandedOps(batch);
    const Partition& partition = batch.partition();
    const absl::Time now = clock_->Now();
    const int64_t now_ms = absl::ToUnixMillis(now);

    // Groups: the tables the batch names, in order of first use.
    std::vector<Table> groups;
    auto group_of = [&](Table t) {
      auto it = std::find(groups.begin(), groups.end(), t);
      if (it != groups.end()) return static_cast<size_t>(it - groups.begin()) + 1;
      groups.push_back(t);
      return groups.size();
    };
    std::vector<std::string> pre_args;
    for (const WriteBatch::Precondition& p : batch.preconditions()) {
      pre_args.push_back(absl::StrCat(group_of(p.table)));
      pre_args.push_back(p.key);
      if (!TableExpires(p.table)) {
        pre_args.push_back("n");
      } else if (ExpiryDependsOnValue(p.table)) {
        pre_args.push_back("r");
      } else {
        pre_args.push_back(IsExpired(p.table, p.key, "", options_.retention, now) ? "x" : "n");
      }
      pre_args.push_back(p.value.has_value() ? "1" : "0");
      pre_args.push_back(p.value.value_or(""));
    }
    std::vector<std::string> op_args;
    for (const WriteBatch::Op& op : ops) {
      switch (op.type) {
        case WriteBatch::OpType::kPut: op_args.push_back("p"); break;
        case WriteBatch::OpType::kDelete: op_args.push_back("d"); break;
        case WriteBatch::OpType::kAddCounter: op_args.push_back("a"); break;
        case WriteBatch::OpType::kAddSignals:  // ExpandedOps replaced it
          return absl::InternalError("storage: a Signals add left unexpanded");
      }
      op_args.push_back(absl::StrCat(group_of(op.table)));
      op_args.push_back(op.key);
      op_args.push_back(op.value);
      std::optional<absl::Time> at =
          op.type == WriteBatch::OpType::kDelete
              ? std::nullopt
              : ExpiresAt(op.table, op.key, op.value, options_.retention);
      op_args.push_back(at.has_value() ? absl::StrCat(ClampedUnixMillis(*at)) : "");
    }

    // Rankings: one key per ranking named, in order of first use.
    std::vector<std::string> rankings;
    std::vector<std::string> rank_args;
    for (const WriteBatch::RankingOp& op : batch.ranking_ops()) {
      auto it = std::find(rankings.begin(), rankings.end(), op.ranking);
      size_t r = static_cast<size_t>(it - rankings.begin()) + 1;
      if (it == rankings.end()) rankings.push_back(op.ranking);
      const bool add = op.type == WriteBatch::RankingOpType::kAdd;
      rank_args.push_back(add ? "a" : "r");
      rank_args.push_back(absl::StrCat(r));
      rank_args.push_back(op.item);
      rank_args.push_back(absl::StrCat(op.bucket_end));
      rank_args.push_back(absl::StrCat(op.keep_until));
      rank_args.push_back(absl::StrCat(op.horizon));
      rank_args.push_back(absl::StrCat(op.window));
      rank_args.push_back(absl::StrCat(op.delta));
    }

    std::vector<std::string> keys;
    std::vector<std::string> args = {absl::StrCat(now_ms),
                                     BigEndian8(absl::ToUnixSeconds(now)),
                                     absl::StrCat(groups.size()),
                                     absl::StrCat(batch.preconditions().size()),
                                     absl::StrCat(ops.size()),
                                     absl::StrCat(kRedisPruneLimit),
                                     absl::StrCat(absl::ToInt64Milliseconds(kRedisExpirySlack)),
                                     absl::StrCat(batch.ranking_ops().size())};
    std::string tables;
    for (Table t : groups) {
      keys.push_back(Key(partition, t, 'h'));
      keys.push_back(Key(partition, t, 'z'));
      keys.push_back(Key(partition, t, 'e'));
      args.push_back(TableExpires(t) ? "1" : "0");
      absl::StrAppend(&tables, tables.empty() ? "" : ",", TableName(t));
    }
    for (const std::string& ranking : rankings) {
      keys.push_back(RedisRankingKey(options_.key_prefix, partition, ranking));
      absl::StrAppend(&tables, tables.empty() ? "" : ",", "ranking");
    }
    args.insert(args.end(), pre_args.begin(), pre_args.end());
    args.insert(args.end(), op_args.begin(), op_args.end());
    args.insert(args.end(), rank_args.begin(), rank_args.end());
    const std::string what = absl::StrCat("write (tables ", tables, ")");

    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<Reply> result;
    absl::StatusOr<Reply> waited;
    if (options_.wait_replicas <= 0) {
      result = client_->Eval(write_script_, keys, args);
    } else {
      // EVALSHA and WAIT in one pipeline to the slot's master: WAIT then covers this write.
      // (If the slot moves between the two, the client resends only the script and WAIT was
      // answered by the former owner: a resharding-time blind spot, documented.)
      Command wait({"WAIT", absl::StrCat(options_.wait_replicas),
                    absl::StrCat(absl::ToInt64Milliseconds(options_.wait_timeout))},
                   {});
      absl::StatusOr<std::vector<Reply>> replies =
          client_->RunBatch({EvalCommand("EVALSHA", write_script_.sha1(), keys, args), wait});
      if (replies.ok() && (*replies)[0].is_error() &&
          absl::StartsWith((*replies)[0].str, "NOSCRIPT")) {
        // The script did not run; EVAL also caches it on that node.
        replies = client_->RunBatch({EvalCommand("EVAL", write_script_.body(), keys, args), wait});
      }
      if (replies.ok()) {
        result = std::move((*replies)[0]);
        waited = std::move((*replies)[1]);
      } else {
        result = replies.status();
      }
    }
    write_durations_.Observe(std::chrono::steady_clock::now() - start);

    if (!result.ok()) return FromClient(what, result.status());
    if (result->is_error()) return FromErrorReply(what, *result);
    if (result->type != Reply::Type::kArray || result->elements.size() != 2 ||
        result->elements[1].type != Reply::Type::kInteger) {
      return Unexpected(what);
    }
    const std::string& verdict = result->elements[0].str;
    const int64_t index = result->elements[1].integer;
    if (verdict == "aborted") {
      Table t = index >= 1 && static_cast<size_t>(index) <= batch.preconditions().size()
                    ? batch.preconditions()[index - 1].table
                    : Table::kMeta;
      return absl::AbortedError(
          absl::StrCat("storage: a record of table ", TableName(t), " changed meanwhile"));
    }
    if (verdict == "dataloss") {
      Table t = index >= 1 && static_cast<size_t>(index) <= ops.size() ? ops[index - 1].table
                                                                       : Table::kMeta;
      return absl::DataLossError(absl::StrCat("storage: counter add on a stored value of table ",
                                              TableName(t), " that is not a counter cell"));
    }
    if (verdict != "ok") return Unexpected(what);
    if (options_.wait_replicas > 0) {
      // The write is applied on the master; only its replication is in doubt: DEADLINE_EXCEEDED,
      // which Store::Write documents as "may or may not have been applied" (UNAVAILABLE would
      // promise that nothing was). A retry with a request_id or preconditions is safe.
      if (!waited.ok() || waited->type != Reply::Type::kInteger ||
          waited->integer < options_.wait_replicas) {
        int64_t acked = waited.ok() && waited->type == Reply::Type::kInteger ? waited->integer : 0;
        return absl::DeadlineExceededError(
            absl::StrCat("storage: redis ", what, ": applied on the master but acknowledged by ",
                         acked, " of ", options_.wait_replicas, " replicas within ",
                         absl::FormatDuration(options_.wait_timeout),
                         "; the write may exist on the master only and be lost if it fails before "
                         "replicating"));
      }
    }
    return absl::OkStatus();
  }

  bool KeepsRankings() const override { return true; }

  absl::StatusOr<RankingTop> ReadRanking(const Partition& partition, absl::string_view ranking,
                                         int64_t horizon, int64_t window, size_t k,
                                         absl::string_view self_item) override {
    const std::string what = "read ranking";
    absl::StatusOr<Reply> r = client_->Eval(
        read_ranking_script_, {RedisRankingKey(options_.key_prefix, partition, ranking)},
        {absl::StrCat(horizon), absl::StrCat(window), absl::StrCat(k), std::string(self_item)});
    if (!r.ok()) return FromClient(what, r.status());
    if (r->is_error()) return FromErrorReply(what, *r);
    if (r->type != Reply::Type::kArray || r->elements.empty()) return Unexpected(what);
    if (r->elements[0].str == "inexact") {
      return absl::OutOfRangeError(
          "storage: a count of this ranking reached 2^53, past which Redis scores are not exact");
    }
    if (r->elements[0].str != "ok" || r->elements.size() != 4 ||
        r->elements[1].type != Reply::Type::kArray || r->elements[1].elements.size() % 2 != 0 ||
        r->elements[3].type != Reply::Type::kInteger) {
      return Unexpected(what);
    }
    RankingTop out;
    const std::vector<Reply>& flat = r->elements[1].elements;
    for (size_t i = 0; i + 1 < flat.size(); i += 2) {
      int64_t total = 0;
      if (!ParseScore(flat[i + 1].str, &total)) return Unexpected(what);
      out.top.push_back({flat[i].str, total});
    }
    std::sort(out.top.begin(), out.top.end(), [](const auto& a, const auto& b) {
      return a.total != b.total ? a.total > b.total : a.item < b.item;
    });
    if (out.top.size() > k) out.top.resize(k);
    if (!r->elements[2].str.empty()) {
      if (!ParseScore(r->elements[2].str, &out.self_total)) return Unexpected(what);
      out.self_rank = static_cast<size_t>(r->elements[3].integer);
    }
    return out;
  }

  // Every master of the slot map answers PING and the map covers every slot.
  absl::Status Probe() override { return client_->Ping(); }

  // Nothing is buffered on this side: every returned Write is on its master.
  absl::Status Flush() override { return absl::OkStatus(); }

  absl::StatusOr<StoreStats> Stats() override {
    StoreStats stats;
    stats.estimated_keys.assign(kNumTables, 0);  // not counted: a cluster-wide SCAN is too dear
    stats.sync = SyncMode::kAlways;              // the deployment contract (appendfsync always)
    stats.write_duration = write_durations_.Snapshot();
    return stats;
  }

  absl::Status Checkpoint(const std::string&) override {
    return absl::FailedPreconditionError(
        "storage: Checkpoint is RocksDB-only; on Redis Cluster use Redis persistence: "
        "BGSAVE/AOF on every master");
  }

  ClusterClientStats ClientStats() const { return client_->Stats(); }

 private:
  std::string Key(const Partition& partition, Table table, char kind) const {
    return RedisGroupKey(options_.key_prefix, partition, table, kind);
  }

  const RedisStoreOptions options_;
  const Clock* const clock_;
  const std::unique_ptr<ClusterClient> client_;
  const Script write_script_;
  const Script scan_script_;
  const Script read_ranking_script_;
  WriteDurations write_durations_;
};

}  // namespace

std::string RedisGroupKey(absl::string_view key_prefix, const Partition& partition, Table table,
                          char kind) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t h = keys::Fnv1a64(partition.id());
  std::string tag(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) tag[i] = kHex[h & 0xf];
  return absl::StrCat(key_prefix, "{", tag, "}", absl::string_view(&kind, 1), ":", TableName(table),
                      ":", partition.id());
}

std::string RedisRankingKey(absl::string_view key_prefix, const Partition& partition,
                            absl::string_view ranking) {
  // The group key's tag and layout, kind 'r'; the ranking's length keeps names unambiguous.
  std::string group = RedisGroupKey(key_prefix, partition, Table::kMeta, 'r');
  return absl::StrCat(group, ":", ranking.size(), ":", ranking);
}

absl::StatusOr<std::unique_ptr<Store>> OpenRedisClusterStore(const RedisStoreOptions& options) {
  if (options.key_prefix.find_first_of("{}") != std::string::npos) {
    return absl::InvalidArgumentError("storage: redis key_prefix must not contain '{' or '}'");
  }
  if (options.wait_replicas < 0) {
    return absl::InvalidArgumentError("storage: redis wait_replicas must not be negative");
  }
  if (options.wait_replicas > 0 && (options.wait_timeout <= absl::ZeroDuration() ||
                                    options.wait_timeout >= options.client.command_timeout)) {
    return absl::InvalidArgumentError(
        "storage: redis wait_timeout must be positive and below the command timeout");
  }
  absl::StatusOr<std::unique_ptr<ClusterClient>> client = ClusterClient::Connect(options.client);
  if (!client.ok()) return client.status();
  return std::unique_ptr<Store>(std::make_unique<RedisStore>(options, *std::move(client)));
}

absl::StatusOr<ClusterClientStats> RedisClientStats(const Store& store) {
  const auto* redis = dynamic_cast<const RedisStore*>(&store);
  if (redis == nullptr) return absl::InvalidArgumentError("storage: not a Redis Cluster store");
  return redis->ClientStats();
}

}  // namespace countd::storage::redis
