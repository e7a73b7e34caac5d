// storage/redis_cluster/cluster_client.h — a small Redis Cluster client over hiredis: slot map
// from CLUSTER SLOTS, MOVED/ASK/TRYAGAIN/CLUSTERDOWN handling, one pipelined connection per node,
// AUTH, timeouts, and counters for monitoring.
#ifndef COUNTD_STORAGE_REDIS_CLUSTER_CLUSTER_CLIENT_H_
#define COUNTD_STORAGE_REDIS_CLUSTER_CLUSTER_CLIENT_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "storage/redis_cluster/reply.h"
#include "storage/redis_cluster/slots.h"

namespace countd::storage::redis {

// A command with its arguments, which declares the positions of its keys so that the slot is
// computed, never guessed. A value type.
class Command {
 public:
  // `args[0]` is the command name; `key_positions` index into `args` (never 0).
  Command(std::vector<std::string> args, std::vector<size_t> key_positions);

  const std::vector<std::string>& args() const { return args_; }
  const std::vector<size_t>& key_positions() const { return key_positions_; }

 private:
  std::vector<std::string> args_;
  std::vector<size_t> key_positions_;
};

// EVAL or EVALSHA (`verb`) of a script body or SHA1 with `keys` (declared as key positions, so
// the slot is computed) and `args`.
Command EvalCommand(absl::string_view verb, absl::string_view body_or_sha,
                    const std::vector<std::string>& keys, const std::vector<std::string>& args);

// A Lua script identified by the SHA1 of its body (computed once, here).
class Script {
 public:
  explicit Script(std::string body);
  const std::string& body() const { return body_; }
  const std::string& sha1() const { return sha1_; }  // 40 lowercase hex digits

 private:
  std::string body_;
  std::string sha1_;
};

struct ClusterClientOptions {
  // Nodes asked for the slot map at Connect, "host:port,host:port". Any one reachable node is
  // enough; the rest of the cluster is learned from CLUSTER SLOTS.
  std::string seeds;
  // AUTH on every new connection when `password` is not empty: AUTH <username> <password>
  // (Redis 6 ACL) when `username` is set, otherwise AUTH <password>. Never logged or put in a
  // status message.
  std::string username;
  std::string password;
  absl::Duration connect_timeout = absl::Seconds(1);
  // Bounds each socket read and write; a command that waits longer fails DEADLINE_EXCEEDED.
  absl::Duration command_timeout = absl::Seconds(1);
  // MOVED and ASK redirects followed by one call before it fails UNAVAILABLE.
  int max_redirects = 5;
  // TRYAGAIN / CLUSTERDOWN replies and failed connects retried by one call, sleeping
  // retry_backoff, then twice that, and so on.
  int max_retries = 3;
  absl::Duration retry_backoff = absl::Milliseconds(20);
};

// Counters since Connect, as plain numbers for the server to export.
struct ClusterClientStats {
  // Upper bounds (microseconds) of the latency buckets; the last bucket is everything above.
  static constexpr std::array<int64_t, 12> kLatencyBoundsUs = {
      100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 500000, 1000000};

  int64_t calls = 0;               // Run, RunBatch, Eval and Ping calls (an Eval that falls
                                   // back to EVAL counts two)
  int64_t commands = 0;            // commands written to sockets, retries and ASKING included
  int64_t error_replies = 0;       // Redis error replies handed to callers (e.g. WRONGTYPE)
  int64_t errors_unavailable = 0;  // calls failing UNAVAILABLE (transport, cluster down)
  int64_t errors_timeout = 0;      // calls failing DEADLINE_EXCEEDED
  int64_t errors_other = 0;        // calls failing otherwise (INVALID_ARGUMENT, INTERNAL, auth)
  int64_t redirects_moved = 0;
  int64_t redirects_ask = 0;
  int64_t retries = 0;             // after TRYAGAIN, CLUSTERDOWN or a failed connect
  int64_t slot_map_refreshes = 0;  // successful CLUSTER SLOTS reloads after Connect
  int64_t connections_opened = 0;
  // latency_buckets[i] counts calls that took at most kLatencyBoundsUs[i] (and more than the
  // previous bound); the last element counts the rest.
  std::array<int64_t, kLatencyBoundsUs.size() + 1> latency_buckets{};
  int64_t latency_sum_us = 0;
};

// A Redis Cluster client. Thread-safe: any number of threads may call every method concurrently.
//
// Connections: one per node, opened on first use and reopened after a transport error. A call
// holds its node's connection for the time of one pipelined exchange (all its commands written
// in one write, then all replies read in order); concurrent calls to the same node wait for each
// other. Calls to different nodes run in parallel.
//
// Redirects: MOVED updates the slot map (reloaded from CLUSTER SLOTS) and retries on the new
// owner; ASK sends ASKING plus the command to the named node once, without a map update;
// TRYAGAIN and CLUSTERDOWN are retried with backoff. A command whose request may have reached a
// server (the connection failed after the write started) is NOT retried, as it may have run:
// the call fails UNAVAILABLE and the connection is reopened next time. (A connection the server
// closed while idle is noticed before writing and reopened without failing the call.)
class ClusterClient {
 public:
  // Connects to the first reachable seed and loads the slot map. Does not open connections to
  // the other masters yet (Ping does).
  // Errors: INVALID_ARGUMENT for malformed options; UNAVAILABLE when no seed answers or the
  // cluster serves no slots; UNAUTHENTICATED when AUTH is refused or required and not given;
  // DEADLINE_EXCEEDED on timeouts; INTERNAL for an unexpected CLUSTER SLOTS reply.
  static absl::StatusOr<std::unique_ptr<ClusterClient>> Connect(
      const ClusterClientOptions& options);

  ~ClusterClient();
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  // Runs one command on the master of its keys' slot (any master when it has no keys). Redis
  // error replies (other than redirects) are returned as a Reply of type kError.
  // Errors: INVALID_ARGUMENT when the command is empty or its keys span slots; UNAVAILABLE for
  // transport failures, a slot without master, CLUSTERDOWN/TRYAGAIN after all retries or too
  // many redirects; DEADLINE_EXCEEDED on timeouts; UNAUTHENTICATED as in Connect; INTERNAL for
  // protocol surprises.
  absl::StatusOr<Reply> Run(const Command& cmd);

  // Runs the commands in order as one pipeline on one node and returns their replies in order.
  // Every key of every command must hash to the same slot: otherwise INVALID_ARGUMENT and
  // nothing is sent. Redirected commands are resent (only those). Errors as for Run.
  absl::StatusOr<std::vector<Reply>> RunBatch(absl::Span<const Command> cmds);

  // EVALSHA of `script` with `keys` and `args`, falling back to EVAL when the node answers
  // NOSCRIPT (which also caches it there). All keys must share a slot. Errors as for Run.
  absl::StatusOr<Reply> Eval(const Script& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args);

  // OK when every master of the slot map answers PING within the timeouts, and the map covers
  // all slots. Errors: UNAVAILABLE naming the first failing node (or the uncovered slots);
  // DEADLINE_EXCEEDED; UNAUTHENTICATED.
  absl::Status Ping();

  // Reloads the slot map from CLUSTER SLOTS (known masters first, then the seeds).
  // Errors: as Connect.
  absl::Status RefreshSlotMap();

  ClusterClientStats Stats() const;
  SlotMap slot_map() const;  // a copy of the current map

 private:
  class Impl;
  explicit ClusterClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace countd::storage::redis

#endif  // COUNTD_STORAGE_REDIS_CLUSTER_CLUSTER_CLIENT_H_
