#include "storage/redis_cluster/cluster_client.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"

namespace countd::storage::redis {

Command::Command(std::vector<std::string> args, std::vector<size_t> key_positions)
    : args_(std::move(args)), key_positions_(std::move(key_positions)) {}

Script::Script(std::string body) : body_(std::move(body)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(body_.data()), body_.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char b : digest) {
    sha1_.push_back(kHex[b >> 4]);
    sha1_.push_back(kHex[b & 0xf]);
  }
}

namespace {

Reply Convert(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING: return Reply::String(std::string(r->str, r->len));
    case REDIS_REPLY_STATUS: return Reply::Status(std::string(r->str, r->len));
    case REDIS_REPLY_ERROR: return Reply::Error(std::string(r->str, r->len));
    case REDIS_REPLY_INTEGER: return Reply::Integer(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::vector<Reply> elements;
      elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) elements.push_back(Convert(r->element[i]));
      return Reply::Array(std::move(elements));
    }
    default: return Reply::Nil();
  }
}

// hiredis reports a socket timeout (SO_RCVTIMEO/SO_SNDTIMEO, connect timeout) as an I/O error
// whose text is strerror(EAGAIN) or strerror(ETIMEDOUT); there is no distinct error code.
bool IsTimeout(const redisContext* c) {
  return c->err == REDIS_ERR_IO && (std::strstr(c->errstr, "temporarily unavailable") != nullptr ||
                                    std::strstr(c->errstr, "timed out") != nullptr);
}

absl::Status TransportError(const NodeAddress& node, const redisContext* c,
                            absl::string_view what) {
  std::string msg = absl::StrCat("redis ", node.HostPort(), ": ", what, ": ",
                                 c != nullptr ? c->errstr : "out of memory");
  if (c == nullptr) return absl::UnavailableError(msg);
  if (IsTimeout(c)) return absl::DeadlineExceededError(msg);
  if (c->err == REDIS_ERR_PROTOCOL) return absl::InternalError(msg);
  return absl::UnavailableError(msg);
}

bool IsAuthError(const Reply& r) {
  return r.is_error() &&
         (absl::StartsWith(r.str, "NOAUTH") || absl::StartsWith(r.str, "WRONGPASS") ||
          absl::StartsWith(r.str, "ERR invalid password"));
}

// The result of one pipelined exchange with a node.
struct Exchange {
  absl::Status status;
  // True when the failure happened after the request started to go out: the commands may have
  // run, so they must not be resent.
  bool maybe_sent = false;
  std::vector<Reply> replies;
};

}  // namespace

// One connection to one node. Thread-safe: a mutex serializes exchanges on the socket.
class NodeConnection {
 public:
  NodeConnection(NodeAddress node, const ClusterClientOptions* options,
                 std::atomic<int64_t>* commands, std::atomic<int64_t>* opened)
      : node_(std::move(node)), options_(options), commands_(commands), opened_(opened) {}
  ~NodeConnection() {
    absl::MutexLock lock(&mu_);
    if (ctx_ != nullptr) redisFree(ctx_);
  }

  const NodeAddress& node() const { return node_; }

  // Writes `cmds` (each preceded by ASKING when `asking`) in one pipeline and reads one reply per
  // command in order. Opens the connection (and AUTHs) first if needed.
  Exchange Send(const std::vector<const std::vector<std::string>*>& cmds, bool asking) {
    Exchange ex;
    absl::MutexLock lock(&mu_);
    if (ex.status = EnsureConnected(); !ex.status.ok()) return ex;
    for (const std::vector<std::string>* args : cmds) {
      if (asking) Append({"ASKING"});
      Append(*args);
    }
    ex.maybe_sent = true;
    int done = 0;
    while (!done) {
      if (redisBufferWrite(ctx_, &done) != REDIS_OK) return Fail(&ex, "write");
    }
    commands_->fetch_add(static_cast<int64_t>(cmds.size() * (asking ? 2 : 1)),
                         std::memory_order_relaxed);
    ex.replies.reserve(cmds.size());
    for (size_t i = 0; i < cmds.size(); ++i) {
      if (asking) {
        if (!ReadOne(&ex)) return ex;
        ex.replies.pop_back();  // ASKING's +OK; an error here shows again on the command itself
      }
      if (!ReadOne(&ex)) return ex;
    }
    return ex;
  }

 private:
  absl::Status EnsureConnected() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ctx_ != nullptr && ctx_->err == 0 && !PeerClosed()) return absl::OkStatus();
    Drop();
    ctx_ = redisConnectWithTimeout(node_.host.c_str(), node_.port,
                                   absl::ToTimeval(options_->connect_timeout));
    if (ctx_ == nullptr || ctx_->err != 0) {
      absl::Status s = TransportError(node_, ctx_, "connect");
      Drop();
      return s;
    }
    opened_->fetch_add(1, std::memory_order_relaxed);
    if (redisSetTimeout(ctx_, absl::ToTimeval(options_->command_timeout)) != REDIS_OK) {
      absl::Status s = TransportError(node_, ctx_, "set timeout");
      Drop();
      return s;
    }
    if (!options_->password.empty()) {
      // The password goes on the wire only; messages quote Redis's reply, never the argument.
      std::vector<std::string> auth = {"AUTH"};
      if (!options_->username.empty()) auth.push_back(options_->username);
      auth.push_back(options_->password);
      Append(auth);
      Exchange ex;
      if (!ReadOne(&ex)) return ex.status;
      if (ex.replies[0].is_error()) {
        Drop();
        return absl::UnauthenticatedError(
            absl::StrCat("redis ", node_.HostPort(), ": AUTH refused: ", ex.replies[0].str));
      }
    }
    return absl::OkStatus();
  }

  // An idle RESP2 connection never has data to read, so readability means the server closed it
  // (idle timeout, restart). Detecting that before writing lets a call reconnect instead of
  // failing with an outcome it cannot know.
  bool PeerClosed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    pollfd p{};
    p.fd = ctx_->fd;
    p.events = POLLIN;
    return poll(&p, 1, 0) != 0;
  }

  void Append(const std::vector<std::string>& args) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<const char*> argv;
    std::vector<size_t> argvlen;
    argv.reserve(args.size());
    argvlen.reserve(args.size());
    for (const std::string& a : args) {
      argv.push_back(a.data());
      argvlen.push_back(a.size());
    }
    // Only fails on out-of-memory, which then surfaces as a write error.
    redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), argvlen.data());
  }

  // Reads one reply into ex->replies; on failure sets ex->status, drops the connection and
  // returns false.
  bool ReadOne(Exchange* ex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      Fail(ex, "read");
      return false;
    }
    ex->replies.push_back(Convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
    return true;
  }

  Exchange& Fail(Exchange* ex, absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ex->status = TransportError(node_, ctx_, what);
    Drop();  // a half-read pipeline cannot be resumed: replies would be misattributed
    return *ex;
  }

  void Drop() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
  }

  const NodeAddress node_;
  const ClusterClientOptions* const options_;
  std::atomic<int64_t>* const commands_;
  std::atomic<int64_t>* const opened_;
  absl::Mutex mu_;
  redisContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
};

class ClusterClient::Impl {
 public:
  Impl(ClusterClientOptions options, std::vector<NodeAddress> seeds)
      : options_(std::move(options)), seeds_(std::move(seeds)) {}

  absl::Status Refresh(const absl::optional<NodeAddress>& hint) ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<NodeAddress> candidates;
    if (hint.has_value()) candidates.push_back(*hint);
    {
      absl::MutexLock lock(&mu_);
      for (NodeAddress& m : map_.Masters()) candidates.push_back(std::move(m));
    }
    candidates.insert(candidates.end(), seeds_.begin(), seeds_.end());
    absl::Status last = absl::UnavailableError("redis: no node to ask for CLUSTER SLOTS");
    std::vector<std::string> cluster_slots = {"CLUSTER", "SLOTS"};
    for (const NodeAddress& node : candidates) {
      Exchange ex = Conn(node)->Send({&cluster_slots}, /*asking=*/false);
      if (!ex.status.ok()) {
        if (ex.status.code() == absl::StatusCode::kUnauthenticated) return ex.status;
        last = ex.status;
        continue;
      }
      const Reply& reply = ex.replies[0];
      if (IsAuthError(reply)) {
        return absl::UnauthenticatedError(absl::StrCat("redis ", node.HostPort(), ": ", reply.str));
      }
      if (reply.is_error()) {
        last = absl::UnavailableError(
            absl::StrCat("redis ", node.HostPort(), ": CLUSTER SLOTS: ", reply.str));
        continue;
      }
      absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(reply, node.host);
      if (!map.ok()) {
        last = absl::Status(map.status().code(),
                            absl::StrCat("redis ", node.HostPort(), ": ", map.status().message()));
        continue;
      }
      if (map->ranges().empty()) {
        last = absl::UnavailableError(absl::StrCat("redis ", node.HostPort(), ": serves no slots"));
        continue;
      }
      absl::MutexLock lock(&mu_);
      map_ = *std::move(map);
      moved_.clear();
      return absl::OkStatus();
    }
    return last;
  }

  // Runs `cmds` (all in `slot`, or keyless when slot < 0) with redirects and retries.
  absl::StatusOr<std::vector<Reply>> Execute(int slot, const std::vector<const Command*>& cmds) {
    std::vector<Reply> results(cmds.size());
    std::vector<size_t> pending(cmds.size());
    for (size_t i = 0; i < cmds.size(); ++i) pending[i] = i;
    int redirects = 0, retries = 0;
    absl::optional<NodeAddress> ask_target;
    while (!pending.empty()) {
      NodeAddress node;
      bool asking = ask_target.has_value();
      if (asking) {
        node = *std::move(ask_target);
        ask_target.reset();
      } else {
        absl::StatusOr<NodeAddress> routed = Route(slot);
        if (!routed.ok()) return routed.status();
        node = *std::move(routed);
      }
      std::vector<const std::vector<std::string>*> args;
      for (size_t i : pending) args.push_back(&cmds[i]->args());
      Exchange ex = Conn(node)->Send(args, asking);
      if (!ex.status.ok()) {
        if (ex.maybe_sent || ex.status.code() != absl::StatusCode::kUnavailable ||
            retries >= options_.max_retries) {
          return ex.status;
        }
        // Nothing was sent (connect refused: the node may have failed over): reload the map.
        Backoff(retries++);
        Refresh(absl::nullopt).IgnoreError();  // the next Route or Send reports what matters
        continue;
      }
      std::vector<size_t> next;
      bool moved = false, busy = false;
      absl::optional<NodeAddress> moved_to;
      std::string busy_message;
      for (size_t k = 0; k < pending.size(); ++k) {
        Reply& r = ex.replies[k];
        if (r.is_error()) {
          std::vector<absl::string_view> parts = absl::StrSplit(r.str, ' ');
          if ((parts[0] == "MOVED" || parts[0] == "ASK") && parts.size() == 3) {
            absl::StatusOr<NodeAddress> target = ParseHostPort(parts[2]);
            if (!target.ok()) {
              return absl::InternalError(
                  absl::StrCat("redis ", node.HostPort(), ": unparsable redirect: ", r.str));
            }
            if (target->host.empty()) target->host = node.host;
            if (parts[0] == "MOVED") {
              moved = true;
              moved_to = *target;
            } else {
              ask_target = *target;
            }
            next.push_back(pending[k]);
            continue;
          }
          if (parts[0] == "TRYAGAIN" || parts[0] == "CLUSTERDOWN") {
            busy = true;
            busy_message = r.str;
            next.push_back(pending[k]);
            continue;
          }
          if (IsAuthError(r)) {
            return absl::UnauthenticatedError(absl::StrCat("redis ", node.HostPort(), ": ", r.str));
          }
          error_replies_.fetch_add(1, std::memory_order_relaxed);
        }
        results[pending[k]] = std::move(r);
      }
      pending = std::move(next);
      if (pending.empty()) break;
      if (moved || ask_target.has_value()) {
        (moved ? moved_count_ : ask_count_).fetch_add(1, std::memory_order_relaxed);
        if (++redirects > options_.max_redirects) {
          return absl::UnavailableError(absl::StrCat("redis: more than ", options_.max_redirects,
                                                     " redirects for slot ", slot));
        }
        if (moved) {
          ask_target.reset();  // the owner changed: route afresh, ASK again if still migrating
          if (Refresh(moved_to).ok()) refreshes_.fetch_add(1, std::memory_order_relaxed);
          absl::MutexLock lock(&mu_);
          if (slot >= 0) moved_[slot] = *moved_to;  // authoritative even if the map lags
        }
      } else if (busy) {
        if (retries >= options_.max_retries) {
          return absl::UnavailableError(
              absl::StrCat("redis ", node.HostPort(), ": ", busy_message));
        }
        Backoff(retries++);
      }
    }
    return results;
  }

  absl::StatusOr<NodeAddress> Route(int slot) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (slot < 0) {
      if (map_.ranges().empty()) return absl::UnavailableError("redis: no master known");
      return map_.ranges()[0].master;
    }
    auto it = moved_.find(slot);
    if (it != moved_.end()) return it->second;
    const SlotRange* range = map_.Find(slot);
    if (range == nullptr) {
      return absl::UnavailableError(absl::StrCat("redis: slot ", slot, " has no master"));
    }
    return range->master;
  }

  std::shared_ptr<NodeConnection> Conn(const NodeAddress& node) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<NodeConnection>& c = conns_[node.HostPort()];
    if (c == nullptr) {
      c = std::make_shared<NodeConnection>(node, &options_, &commands_, &opened_);
    }
    return c;
  }

  void Backoff(int attempt) {
    retries_.fetch_add(1, std::memory_order_relaxed);
    absl::SleepFor(options_.retry_backoff * (1 << std::min(attempt, 10)));
  }

  void Record(const absl::Status& s, absl::Time start) {
    calls_.fetch_add(1, std::memory_order_relaxed);
    if (!s.ok()) {
      switch (s.code()) {
        case absl::StatusCode::kUnavailable: errors_unavailable_.fetch_add(1); break;
        case absl::StatusCode::kDeadlineExceeded: errors_timeout_.fetch_add(1); break;
        default: errors_other_.fetch_add(1); break;
      }
    }
    int64_t us = absl::ToInt64Microseconds(absl::Now() - start);
    latency_sum_us_.fetch_add(us, std::memory_order_relaxed);
    size_t b = 0;
    while (b < ClusterClientStats::kLatencyBoundsUs.size() &&
           us > ClusterClientStats::kLatencyBoundsUs[b]) {
      ++b;
    }
    latency_[b].fetch_add(1, std::memory_order_relaxed);
  }

  ClusterClientStats Stats() const {
    ClusterClientStats s;
    s.calls = calls_.load();
    s.commands = commands_.load();
    s.error_replies = error_replies_.load();
    s.errors_unavailable = errors_unavailable_.load();
    s.errors_timeout = errors_timeout_.load();
    s.errors_other = errors_other_.load();
    s.redirects_moved = moved_count_.load();
    s.redirects_ask = ask_count_.load();
    s.retries = retries_.load();
    s.slot_map_refreshes = refreshes_.load();
    s.connections_opened = opened_.load();
    for (size_t i = 0; i < latency_.size(); ++i) s.latency_buckets[i] = latency_[i].load();
    s.latency_sum_us = latency_sum_us_.load();
    return s;
  }

  SlotMap map() const {
    absl::MutexLock lock(&mu_);
    return map_;
  }

  const ClusterClientOptions options_;
  const std::vector<NodeAddress> seeds_;

  mutable absl::Mutex mu_;
  SlotMap map_ ABSL_GUARDED_BY(mu_);
  // Slot owners learned from MOVED since the last map reload; they win over map_.
  absl::flat_hash_map<int, NodeAddress> moved_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<NodeConnection>> conns_ ABSL_GUARDED_BY(mu_);

  std::atomic<int64_t> calls_{0}, commands_{0}, error_replies_{0}, errors_unavailable_{0},
      errors_timeout_{0}, errors_other_{0}, moved_count_{0}, ask_count_{0}, retries_{0},
      refreshes_{0}, opened_{0}, latency_sum_us_{0};
  std::array<std::atomic<int64_t>, ClusterClientStats::kLatencyBoundsUs.size() + 1> latency_{};
};

namespace {

// The slot shared by every key of `cmds`, -1 when they have no keys.
// Errors: INVALID_ARGUMENT for an empty command, a key position out of range, or keys in
// different slots.
absl::StatusOr<int> SlotOf(const std::vector<const Command*>& cmds) {
  int slot = -1;
  for (const Command* c : cmds) {
    if (c->args().empty()) return absl::InvalidArgumentError("redis: empty command");
    for (size_t pos : c->key_positions()) {
      if (pos == 0 || pos >= c->args().size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("redis: ", c->args()[0], ": key position ", pos, " out of range"));
      }
      int s = KeyHashSlot(c->args()[pos]);
      if (slot >= 0 && s != slot) {
        return absl::InvalidArgumentError(absl::StrCat("redis: keys span slots ", slot, " and ", s,
                                                       " (use a {hash tag}); nothing sent"));
      }
      slot = s;
    }
  }
  return slot;
}

}  // namespace

ClusterClient::ClusterClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClusterClient::~ClusterClient() = default;

absl::StatusOr<std::unique_ptr<ClusterClient>> ClusterClient::Connect(
    const ClusterClientOptions& options) {
  if (options.max_redirects < 0 || options.max_retries < 0 ||
      options.connect_timeout <= absl::ZeroDuration() ||
      options.command_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "redis: timeouts must be positive and redirect/retry limits not negative");
  }
  std::vector<NodeAddress> seeds;
  for (absl::string_view part : absl::StrSplit(options.seeds, ',', absl::SkipWhitespace())) {
    absl::StatusOr<NodeAddress> a = ParseHostPort(absl::StripAsciiWhitespace(part));
    if (!a.ok())
      return absl::InvalidArgumentError(absl::StrCat("redis seeds: ", a.status().message()));
    seeds.push_back(*std::move(a));
  }
  if (seeds.empty()) return absl::InvalidArgumentError("redis seeds: none given");
  auto impl = std::make_unique<Impl>(options, std::move(seeds));
  if (absl::Status s = impl->Refresh(absl::nullopt); !s.ok()) return s;
  return std::unique_ptr<ClusterClient>(new ClusterClient(std::move(impl)));
}

absl::StatusOr<Reply> ClusterClient::Run(const Command& cmd) {
  absl::StatusOr<std::vector<Reply>> r = RunBatch(absl::MakeConstSpan(&cmd, 1));
  if (!r.ok()) return r.status();
  return std::move((*r)[0]);
}

absl::StatusOr<std::vector<Reply>> ClusterClient::RunBatch(absl::Span<const Command> cmds) {
  absl::Time start = absl::Now();
  std::vector<const Command*> ptrs;
  ptrs.reserve(cmds.size());
  for (const Command& c : cmds) ptrs.push_back(&c);
  absl::StatusOr<std::vector<Reply>> result;
  absl::StatusOr<int> slot = SlotOf(ptrs);
  if (!slot.ok()) {
    result = slot.status();
  } else if (ptrs.empty()) {
    result = std::vector<Reply>();
  } else {
    result = impl_->Execute(*slot, ptrs);
  }
  impl_->Record(result.status(), start);
  return result;
}

Command EvalCommand(absl::string_view verb, absl::string_view body_or_sha,
                    const std::vector<std::string>& keys, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {std::string(verb), std::string(body_or_sha),
                                   absl::StrCat(keys.size())};
  std::vector<size_t> positions;
  for (const std::string& k : keys) {
    positions.push_back(argv.size());
    argv.push_back(k);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return Command(std::move(argv), std::move(positions));
}

absl::StatusOr<Reply> ClusterClient::Eval(const Script& script,
                                          const std::vector<std::string>& keys,
                                          const std::vector<std::string>& args) {
  auto make = [&](absl::string_view verb, absl::string_view body_or_sha) {
    return EvalCommand(verb, body_or_sha, keys, args);
  };
  absl::StatusOr<Reply> r = Run(make("EVALSHA", script.sha1()));
  if (r.ok() && r->is_error() && absl::StartsWith(r->str, "NOSCRIPT")) {
    // Each node has its own script cache; EVAL loads the script there too.
    r = Run(make("EVAL", script.body()));
  }
  return r;
}

absl::Status ClusterClient::Ping() {
  absl::Time start = absl::Now();
  absl::Status status;
  SlotMap map = impl_->map();
  std::vector<std::string> ping = {"PING"};
  for (const NodeAddress& node : map.Masters()) {
    Exchange ex = impl_->Conn(node)->Send({&ping}, /*asking=*/false);
    if (!ex.status.ok()) {
      status = ex.status;
    } else if (ex.replies[0].str != "PONG") {
      status = IsAuthError(ex.replies[0])
                   ? absl::UnauthenticatedError(
                         absl::StrCat("redis ", node.HostPort(), ": ", ex.replies[0].str))
                   : absl::UnavailableError(absl::StrCat("redis ", node.HostPort(),
                                                         ": PING answered ", ex.replies[0].str));
    }
    if (!status.ok()) break;
  }
  if (status.ok() && !map.CoversAllSlots()) {
    status = absl::UnavailableError("redis: the slot map does not cover all 16384 slots");
  }
  impl_->Record(status, start);
  return status;
}

absl::Status ClusterClient::RefreshSlotMap() {
  absl::Status s = impl_->Refresh(absl::nullopt);
  if (s.ok()) impl_->refreshes_.fetch_add(1, std::memory_order_relaxed);
  return s;
}

ClusterClientStats ClusterClient::Stats() const { return impl_->Stats(); }
SlotMap ClusterClient::slot_map() const { return impl_->map(); }

}  // namespace countd::storage::redis
