// countd-bench: a gRPC load generator for countd built on the generated stubs.
//
// Closed loop (default): --concurrency slots each keep one RPC outstanding and start the next one
// as the previous one completes, so no thread is spent per request. Open loop (--rate N): the
// main thread issues RPCs on a fixed schedule of N/s, still bounded by --concurrency outstanding.
// --api=cq (default) drives the calls through the stubs' completion-queue API, polled by
// --cq-threads threads; --api=callback through the callback API (gRPC's own threads run the
// completions). Both send the same calls; on 2 shared cores the completion-queue client needs less
// CPU, which leaves more to the server (bench/RESULTS.md).
// Calls are spread over --channels channels that do not share a connection. With --targets
// (several countd processes) the slots are dealt round-robin over the targets, each target gets
// --channels channels of its own, and the figures are given per target as well. Requests sent
// during --warmup are excluded from the figures. Output: requests, errors, throughput and latency
// percentiles, as text or (--json) one JSON object. Exit status 1 when any call failed unless
// --allow-errors; 2 for usage errors.
//
// Connection: plaintext unless --tls or another --tls-* flag is given; --bearer, --bearer-file or
// COUNTD_BEARER (`<tenant>:<secret>`) is sent on every call. Same flags and rules as countctl
// (client/connection.h).
//
// What each --op sends (key = a number drawn from --keys by --dist):
//   incr                Counters.Incr{tenant, visitor_id "v<key>", counter_name "c"}
//   increment-counters  Counters.IncrementCounters{uid "u<key>", --batch x {class "_bench",
//                       path "/", count 1}}; throughput also in items (increments) per second
//   get                 Counters.Get{visitor_id "v<key>", counter_name "c", date today (UTC)};
//                       NOT_FOUND counts as success
//   get-counters        Counters.GetCounters{uid "u<key>"}: every counter's total of the user
//                       (what increment-counters wrote); a user without counters answers empty
//   tally-ecount        Tally.Increment{op OP_ECOUNT, counter "c", countable "i<key>", window 60}
//   tally-topk-incr     the same with OP_TOPK
//   tally-topk-get      Tally.GetTopK{counter "c", k 25}; NOT_FOUND counts as success
//   tally-topk-mix      9 tally-topk-incr : 1 tally-topk-get, with figures per kind as well
//   gm-notify           GameMechanics.NotifyAction{uid "u<key>", action_id --action}

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/status.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/connection.h"
#include "countd/v1/counters.grpc.pb.h"
#include "countd/v1/gm.grpc.pb.h"
#include "countd/v1/tally.grpc.pb.h"

ABSL_FLAG(std::string, addr, "", "countd gRPC address (default 127.0.0.1:50051)");
ABSL_FLAG(std::string, targets, "",
          "instead of --addr: comma list of countd gRPC addresses; the --concurrency slots are "
          "dealt round-robin over them, each gets --channels channels, and the figures are also "
          "given per target");
ABSL_FLAG(std::string, op, "incr",
          "incr | increment-counters | get | get-counters | tally-ecount | tally-topk-incr | "
          "tally-topk-get | tally-topk-mix (9:1 incr:get) | gm-notify");
ABSL_FLAG(int, concurrency, 50, "outstanding requests");
ABSL_FLAG(int, c, 0, "short for --concurrency");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "measured time after the warmup");
ABSL_FLAG(int64_t, requests, 0, "measured request count; replaces --duration when > 0");
ABSL_FLAG(int64_t, keys, 100000, "distinct keys (visitors, uids or countables)");
ABSL_FLAG(std::string, dist, "uniform",
          "key distribution: uniform | zipf (s = 1.0) | sequential (0, 1, 2, ... wrapping at "
          "--keys: --requests=N --keys=N touches every key once, e.g. to prefill)");
ABSL_FLAG(int, batch, 0, "counters per IncrementCounters call (default 100; other ops: 1)");
ABSL_FLAG(
    int, classes, 1,
    "distinct classes in one IncrementCounters batch: 1 = all \"_bench\", N = _bench0.._benchN-1 "
    "cycled over the batch");
ABSL_FLAG(int, channels, 4, "gRPC channels (separate connections) per target");
ABSL_FLAG(std::string, api, "cq",
          "client API: cq (completion queues polled by --cq-threads threads) | callback (gRPC's "
          "callback API, completions on gRPC's own threads)");
ABSL_FLAG(int, cq_threads, 1, "with --api=cq: completion queues, one polling thread each (1-64)");
ABSL_FLAG(std::string, tenant, "bench", "tenant of every request");
ABSL_FLAG(std::string, action, "bench", "action_id for gm-notify (must be configured)");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1), "time before measuring starts");
ABSL_FLAG(double, rate, 0, "open-loop target rate in requests/s (0 = closed loop)");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(10), "deadline of each call");
ABSL_FLAG(uint64_t, seed, 1, "random seed");
ABSL_FLAG(bool, json, false, "print one JSON object instead of text");
ABSL_FLAG(bool, allow_errors, false, "exit 0 even when calls failed");
// Connection, as countctl's: countd runs --auth=required by default.
ABSL_FLAG(std::string, bearer, "",
          "credential sent as 'authorization: Bearer VALUE' on every call: <tenant>:<secret> of "
          "--tenant (also read from COUNTD_BEARER)");
ABSL_FLAG(std::string, bearer_file, "", "read --bearer from this file (trimmed)");
ABSL_FLAG(bool, tls, false, "speak TLS (implied by any other --tls-* flag)");
ABSL_FLAG(std::string, tls_ca_file, "", "PEM roots to verify the server with (default: system)");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM client certificate for mutual TLS");
ABSL_FLAG(std::string, tls_key_file, "", "unencrypted PEM private key of --tls-cert-file");
ABSL_FLAG(std::string, tls_server_name, "", "name the server certificate must carry");

namespace countd::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Everything the flags configure.
struct Config {
  std::vector<std::string> targets;  // At least one; --addr is the only one when given.
  std::string addr;                  // The targets joined by ",", for the output.
  std::string op;
  int concurrency;
  absl::Duration duration;
  int64_t requests;
  int64_t keys;
  std::string dist;
  int batch;
  int classes;
  int channels;
  bool cq_api;     // --api=cq
  int cq_threads;  // with cq_api
  std::string tenant;
  std::string action;
  absl::Duration warmup;
  double rate;
  absl::Duration deadline;
  uint64_t seed;
  std::string bearer;  // empty: no authorization header
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  grpc::ChannelArguments channel_args;  // TLS name override, when given
};

// Draws key numbers in [0, n): uniform, Zipf(s) with key 0 the most frequent, or sequential.
// The Zipf CDF is tabulated once (8 bytes per key) and sampled by binary search. Thread-safe.
class KeySampler {
 public:
  static KeySampler Uniform(int64_t n) { return KeySampler(n, {}); }
  static KeySampler Sequential(int64_t n) {
    KeySampler s(n, {});
    s.sequential_ = true;
    return s;
  }
  static KeySampler Zipf(int64_t n, double s) {
    std::vector<double> cdf(n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
      cdf[i] = sum;
    }
    for (double& c : cdf) c /= sum;
    return KeySampler(n, std::move(cdf));
  }

  int64_t Next(absl::InsecureBitGen& gen) const {
    if (sequential_) return static_cast<int64_t>(next_->fetch_add(1) % static_cast<uint64_t>(n_));
    if (cdf_.empty()) return absl::Uniform<int64_t>(gen, 0, n_);
    double u = absl::Uniform<double>(gen, 0.0, 1.0);
    auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return std::min<int64_t>(it - cdf_.begin(), n_ - 1);
  }

 private:
  KeySampler(int64_t n, std::vector<double> cdf)
      : n_(n), cdf_(std::move(cdf)), next_(std::make_shared<std::atomic<uint64_t>>(0)) {}
  int64_t n_;
  std::vector<double> cdf_;
  bool sequential_ = false;
  std::shared_ptr<std::atomic<uint64_t>> next_;  // sequential: the next key
};

using DoneCallback = std::function<void(grpc::Status)>;

// Issues one kind of RPC for one slot, reusing its request and response messages. A slot has at
// most one call outstanding, so a Caller is never used by two threads at once.
class Caller {
 public:
  virtual ~Caller() = default;
  // Callback API: starts one RPC about `key` on `ctx`; `done` runs once, on a gRPC thread, when
  // it completes.
  virtual void Start(grpc::ClientContext* ctx, int64_t key, DoneCallback done) = 0;
  // Completion-queue API: starts one RPC about `key` on `ctx`; when it completes, `*status` is
  // set and `tag` comes out of `cq`.
  virtual void StartOn(grpc::CompletionQueue* cq, grpc::ClientContext* ctx, int64_t key,
                       grpc::Status* status, void* tag) = 0;
};

// A Caller for one unary method: `fill` writes the key into the request; `invoke` starts the
// call through a stub's callback API and `prepare` through its completion-queue API (the lambdas
// own the stub).
template <typename Req, typename Resp>
class UnaryCaller final : public Caller {
 public:
  using Fill = std::function<void(int64_t key, Req* req)>;
  using Invoke = std::function<void(grpc::ClientContext*, const Req*, Resp*, DoneCallback)>;
  using Reader = std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>>;
  using Prepare = std::function<Reader(grpc::ClientContext*, const Req&, grpc::CompletionQueue*)>;

  UnaryCaller(Req base, Fill fill, Invoke invoke, Prepare prepare)
      : req_(std::move(base)),
        fill_(std::move(fill)),
        invoke_(std::move(invoke)),
        prepare_(std::move(prepare)) {}

  void Start(grpc::ClientContext* ctx, int64_t key, DoneCallback done) override {
    fill_(key, &req_);
    resp_.Clear();
    invoke_(ctx, &req_, &resp_, std::move(done));
  }

  void StartOn(grpc::CompletionQueue* cq, grpc::ClientContext* ctx, int64_t key,
               grpc::Status* status, void* tag) override {
    fill_(key, &req_);
    resp_.Clear();
    reader_ = prepare_(ctx, req_, cq);
    reader_->StartCall();
    reader_->Finish(&resp_, status, tag);
  }

 private:
  Req req_;
  Resp resp_;
  Fill fill_;
  Invoke invoke_;
  Prepare prepare_;
  Reader reader_;  // The call in flight (--api=cq).
};

template <typename Req, typename Resp>
std::unique_ptr<Caller> MakeUnary(Req base, typename UnaryCaller<Req, Resp>::Fill fill,
                                  typename UnaryCaller<Req, Resp>::Invoke invoke,
                                  typename UnaryCaller<Req, Resp>::Prepare prepare) {
  return std::make_unique<UnaryCaller<Req, Resp>>(std::move(base), std::move(fill),
                                                  std::move(invoke), std::move(prepare));
}

using CallerFactory = std::function<std::unique_ptr<Caller>(const std::shared_ptr<grpc::Channel>&)>;

// One kind of RPC an op issues, and its share of the op's calls.
struct Kind {
  std::string name;
  int weight;         // Share of the op's calls, e.g. 9 and 1 for a 9:1 mix.
  int items;          // Increments carried by one call (the batch size).
  bool not_found_ok;  // Reads of data that may not exist yet count NOT_FOUND as success.
  CallerFactory make;
};

// Each factory below returns a function that builds the Caller of one kind of RPC on a channel.
// The fixed request fields are set once; per call only the key field changes.

CallerFactory IncrFactory(const Config& cfg) {
  return [cfg](const std::shared_ptr<grpc::Channel>& channel) {
    std::shared_ptr<v1::Counters::Stub> stub = v1::Counters::NewStub(channel);
    v1::IncrRequest base;
    base.set_tenant(cfg.tenant);
    base.set_counter_name("c");
    return MakeUnary<v1::IncrRequest, v1::IncrResponse>(
        std::move(base),
        [](int64_t key, v1::IncrRequest* req) { req->set_visitor_id(absl::StrCat("v", key)); },
        [stub](auto* ctx, auto* req, auto* resp, DoneCallback done) {
          stub->async()->Incr(ctx, req, resp, std::move(done));
        },
        [stub](auto* ctx, const auto& req, grpc::CompletionQueue* cq) {
          return stub->PrepareAsyncIncr(ctx, req, cq);
        });
  };
}

CallerFactory IncrementCountersFactory(const Config& cfg) {
  return [cfg](const std::shared_ptr<grpc::Channel>& channel) {
    std::shared_ptr<v1::Counters::Stub> stub = v1::Counters::NewStub(channel);
    v1::IncrementCountersRequest base;
    base.set_tenant(cfg.tenant);
    for (int i = 0; i < cfg.batch; ++i) {
      v1::CounterIncrement* counter = base.add_counters();
      counter->set_class_(cfg.classes <= 1 ? std::string("_bench")
                                           : absl::StrCat("_bench", i % cfg.classes));
      counter->set_path("/");
      counter->set_count(1);
    }
    return MakeUnary<v1::IncrementCountersRequest, v1::IncrementCountersResponse>(
        std::move(base),
        [](int64_t key, v1::IncrementCountersRequest* req) {
          req->set_uid(absl::StrCat("u", key));
        },
        [stub](auto* ctx, auto* req, auto* resp, DoneCallback done) {
          stub->async()->IncrementCounters(ctx, req, resp, std::move(done));
        },
        [stub](auto* ctx, const auto& req, grpc::CompletionQueue* cq) {
          return stub->PrepareAsyncIncrementCounters(ctx, req, cq);
        });
  };
}

CallerFactory GetCountersFactory(const Config& cfg) {
  return [cfg](const std::shared_ptr<grpc::Channel>& channel) {
    std::shared_ptr<v1::Counters::Stub> stub = v1::Counters::NewStub(channel);
    v1::GetCountersRequest base;
    base.set_tenant(cfg.tenant);
    return MakeUnary<v1::GetCountersRequest, v1::GetCountersResponse>(
        std::move(base),
        [](int64_t key, v1::GetCountersRequest* req) { req->set_uid(absl::StrCat("u", key)); },
        [stub](auto* ctx, auto* req, auto* resp, DoneCallback done) {
          stub->async()->GetCounters(ctx, req, resp, std::move(done));
        },
        [stub](auto* ctx, const auto& req, grpc::CompletionQueue* cq) {
          return stub->PrepareAsyncGetCounters(ctx, req, cq);
        });
  };
}

CallerFactory GetFactory(const Config& cfg) {
  std::string today = absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone());
  return [cfg, today](const std::shared_ptr<grpc::Channel>& channel) {
    std::shared_ptr<v1::Counters::Stub> stub = v1::Counters::NewStub(channel);
    v1::GetRequest base;
    base.set_tenant(cfg.tenant);
    base.set_counter_name("c");
    base.set_date(today);
    return MakeUnary<v1::GetRequest, v1::GetResponse>(
        std::move(base),
        [](int64_t key, v1::GetRequest* req) { req->set_visitor_id(absl::StrCat("v", key)); },
        [stub](auto* ctx, auto* req, auto* resp, DoneCallback done) {
          stub->async()->Get(ctx, req, resp, std::move(done));
        },
        [stub](auto* ctx, const auto& req, grpc::CompletionQueue* cq) {
          return stub->PrepareAsyncGet(ctx, req, cq);
        });
  };
}

CallerFactory TallyIncrementFactory(const Config& cfg, v1::TallyOp op) {
  return [cfg, op](const std::shared_ptr<grpc::Channel>& channel) {
    std::shared_ptr<v1::Tally::Stub> stub = v1::Tally::NewStub(channel);
    v1::TallyIncrementRequest base;
    base.set_tenant(cfg.tenant);
    base.set_op(op);
    base.set_counter("c");
    base.set_window_minutes(60);
    return MakeUnary<v1::TallyIncrementRequest, v1::TallyIncrementResponse>(
        std::move(base),
        [](int64_t key, v1::TallyIncrementRequest* req) {
          req->set_countable(absl::StrCat("i", key));
        },
        [stub](auto* ctx, auto* req, auto* resp, DoneCallback done) {
          stub->async()->Increment(ctx, req, resp, std::move(done));
        },
        [stub](auto* ctx, const auto& req, grpc::CompletionQueue* cq) {
          return stub->PrepareAsyncIncrement(ctx, req, cq);
        });
  };
}

CallerFactory TallyTopKFactory(const Config& cfg) {
  return [cfg](const std::shared_ptr<grpc::Channel>& channel) {
    std::shared_ptr<v1::Tally::Stub> stub = v1::Tally::NewStub(channel);
    v1::GetTopKRequest base;
    base.set_tenant(cfg.tenant);
    base.set_counter("c");
    base.set_k(25);
    return MakeUnary<v1::GetTopKRequest, v1::GetTopKResponse>(
        std::move(base), [](int64_t, v1::GetTopKRequest*) {},
        [stub](auto* ctx, auto* req, auto* resp, DoneCallback done) {
          stub->async()->GetTopK(ctx, req, resp, std::move(done));
        },
        [stub](auto* ctx, const auto& req, grpc::CompletionQueue* cq) {
          return stub->PrepareAsyncGetTopK(ctx, req, cq);
        });
  };
}

CallerFactory NotifyActionFactory(const Config& cfg) {
  return [cfg](const std::shared_ptr<grpc::Channel>& channel) {
    std::shared_ptr<v1::GameMechanics::Stub> stub = v1::GameMechanics::NewStub(channel);
    v1::NotifyActionRequest base;
    base.set_tenant(cfg.tenant);
    base.set_action_id(cfg.action);
    return MakeUnary<v1::NotifyActionRequest, v1::NotifyActionResponse>(
        std::move(base),
        [](int64_t key, v1::NotifyActionRequest* req) { req->set_uid(absl::StrCat("u", key)); },
        [stub](auto* ctx, auto* req, auto* resp, DoneCallback done) {
          stub->async()->NotifyAction(ctx, req, resp, std::move(done));
        },
        [stub](auto* ctx, const auto& req, grpc::CompletionQueue* cq) {
          return stub->PrepareAsyncNotifyAction(ctx, req, cq);
        });
  };
}

// The kinds of RPC `cfg.op` issues. Errors: kInvalidArgument for an unknown op.
absl::StatusOr<std::vector<Kind>> KindsForOp(const Config& cfg) {
  const std::string& op = cfg.op;
  if (op == "incr") return std::vector<Kind>{{op, 1, 1, false, IncrFactory(cfg)}};
  if (op == "increment-counters") {
    return std::vector<Kind>{{op, 1, cfg.batch, false, IncrementCountersFactory(cfg)}};
  }
  if (op == "get") return std::vector<Kind>{{op, 1, 1, true, GetFactory(cfg)}};
  if (op == "get-counters") {
    return std::vector<Kind>{{op, 1, 1, false, GetCountersFactory(cfg)}};
  }
  if (op == "tally-ecount") {
    return std::vector<Kind>{{op, 1, 1, false, TallyIncrementFactory(cfg, v1::OP_ECOUNT)}};
  }
  if (op == "tally-topk-incr") {
    return std::vector<Kind>{{op, 1, 1, false, TallyIncrementFactory(cfg, v1::OP_TOPK)}};
  }
  if (op == "tally-topk-get") return std::vector<Kind>{{op, 1, 1, true, TallyTopKFactory(cfg)}};
  if (op == "tally-topk-mix") {
    return std::vector<Kind>{
        {"tally-topk-incr", 9, 1, false, TallyIncrementFactory(cfg, v1::OP_TOPK)},
        {"tally-topk-get", 1, 1, true, TallyTopKFactory(cfg)}};
  }
  if (op == "gm-notify") return std::vector<Kind>{{op, 1, 1, false, NotifyActionFactory(cfg)}};
  return absl::InvalidArgumentError(absl::StrCat("unknown --op '", op, "'"));
}

// What one slot observed for one kind during the measured interval.
struct KindStats {
  std::vector<int64_t> latencies_ns;
  int64_t ok = 0;
  int64_t not_found = 0;
  int64_t errors = 0;
  std::string first_error;
  Clock::time_point first_error_at;
};

// One outstanding-call slot. Only the thread running the slot's current call (or the thread
// that starts it) touches it; completions order successive calls.
struct Slot {
  int target = 0;                                // Index into Config::targets.
  grpc::CompletionQueue* cq = nullptr;           // --api=cq: the queue its calls complete on.
  grpc::Status status;                           // --api=cq: the status of the call in flight.
  std::vector<std::unique_ptr<Caller>> callers;  // One per kind.
  std::vector<KindStats> stats;                  // One per kind.
  absl::InsecureBitGen rng;
  uint64_t seq = 0;  // Calls started so far; picks the kind.
  std::unique_ptr<grpc::ClientContext> ctx;
  int kind = 0;
  bool measured = false;
  Clock::time_point sent;
  Clock::time_point last_done;  // Completion time of the latest measured call.
};

// Runs the load and keeps the slots. Thread-safe as used: Run() on one thread, completions on
// the polling threads (--api=cq) or gRPC's threads (--api=callback).
class Runner {
 public:
  Runner(Config cfg, std::vector<Kind> kinds, KeySampler sampler)
      : cfg_(std::move(cfg)), kinds_(std::move(kinds)), sampler_(std::move(sampler)) {
    for (size_t k = 0; k < kinds_.size(); ++k) {
      for (int w = 0; w < kinds_[k].weight; ++w) pattern_.push_back(static_cast<int>(k));
    }
  }

  // Opens --channels channels to each target and waits until each is connected.
  // Errors: kUnavailable naming the target when a channel does not connect within 5 s.
  absl::Status Connect() {
    for (const std::string& target : cfg_.targets) {
      std::vector<std::shared_ptr<grpc::Channel>>& channels = channels_.emplace_back();
      for (int i = 0; i < cfg_.channels; ++i) {
        grpc::ChannelArguments args = cfg_.channel_args;
        // A distinct argument gives each channel its own subchannel, hence its own connection.
        args.SetInt("countd.bench.channel", i);
        auto channel = grpc::CreateCustomChannel(target, cfg_.credentials, args);
        if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(5)))) {
          return absl::UnavailableError(absl::StrCat("cannot connect to ", target));
        }
        channels.push_back(std::move(channel));
      }
    }
    return absl::OkStatus();
  }

  // Runs warmup plus the measured interval; returns when every slot is idle.
  void Run() {
    std::seed_seq seed{cfg_.seed};
    std::mt19937_64 seeder(seed);
    const int num_targets = static_cast<int>(channels_.size());
    for (int i = 0; i < cfg_.concurrency; ++i) {
      auto slot = std::make_unique<Slot>();
      // Slot i goes to target i % T, and over that target's channels in turn.
      slot->target = i % num_targets;
      const auto& channels = channels_[slot->target];
      const auto& channel = channels[(i / num_targets) % channels.size()];
      for (const Kind& kind : kinds_) slot->callers.push_back(kind.make(channel));
      slot->stats.resize(kinds_.size());
      std::seed_seq slot_seed{seeder(), seeder()};
      slot->rng = absl::InsecureBitGen(slot_seed);
      slot->seq = static_cast<uint64_t>(i);  // Staggers the mix across slots.
      slots_.push_back(std::move(slot));
    }
    // --api=cq: the slots are dealt over the queues, each polled by a thread of its own.
    std::vector<std::unique_ptr<grpc::CompletionQueue>> queues;
    std::vector<std::thread> pollers;
    if (cfg_.cq_api) {
      for (int q = 0; q < cfg_.cq_threads; ++q) {
        queues.push_back(std::make_unique<grpc::CompletionQueue>());
      }
      for (size_t i = 0; i < slots_.size(); ++i) slots_[i]->cq = queues[i % queues.size()].get();
      for (auto& queue : queues) pollers.emplace_back([this, cq = queue.get()] { Poll(cq); });
    }
    start_ = Clock::now();
    measure_start_ = start_ + absl::ToChronoNanoseconds(cfg_.warmup);
    stop_ = measure_start_ + absl::ToChronoNanoseconds(cfg_.duration);
    if (cfg_.rate > 0) {
      RunOpenLoop();
    } else {
      for (auto& slot : slots_) NextClosedLoop(slot.get());
    }
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Runner::AllIdle));
    }
    for (auto& queue : queues) queue->Shutdown();
    for (std::thread& poller : pollers) poller.join();
  }

  const std::vector<std::unique_ptr<Slot>>& slots() const { return slots_; }
  const std::vector<Kind>& kinds() const { return kinds_; }
  Clock::time_point measure_start() const { return measure_start_; }

 private:
  // Whether a call sent at `t` should still be sent; claims a ticket in --requests mode.
  bool ShouldSend(Clock::time_point t) {
    if (t < measure_start_) return true;
    if (cfg_.requests > 0) return sent_.fetch_add(1, std::memory_order_relaxed) < cfg_.requests;
    return t < stop_;
  }

  // --api=cq: runs the completions of `cq` until it is shut down and drained. Every tag is the
  // Slot whose call completed (unary Finish always reports ok).
  void Poll(grpc::CompletionQueue* cq) {
    void* tag;
    bool ok;
    while (cq->Next(&tag, &ok)) {
      Slot* slot = static_cast<Slot*>(tag);
      OnDone(slot, slot->status);
    }
  }

  // Closed loop: starts the slot's next call, or parks the slot when the run is over.
  void NextClosedLoop(Slot* slot) {
    Clock::time_point now = Clock::now();
    if (!ShouldSend(now)) {
      Park(slot);
      return;
    }
    Send(slot, now);
  }

  // Open loop: sends on a fixed schedule from this thread, waiting for a free slot if all
  // --concurrency are busy (then the schedule slips, and the output warns that the achieved rate
  // fell short).
  void RunOpenLoop() {
    {
      absl::MutexLock lock(&mu_);
      for (auto& slot : slots_) idle_.push_back(slot.get());
    }
    const auto interval =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / cfg_.rate));
    // In --duration mode the run also ends on the wall clock, so an overloaded schedule that
    // has fallen behind does not run on past --duration.
    auto over = [this] { return cfg_.requests <= 0 && Clock::now() >= stop_; };
    for (Clock::time_point next = start_; ShouldSend(next) && !over(); next += interval) {
      Clock::time_point now = Clock::now();
      if (next > now) absl::SleepFor(absl::FromChrono(next - now));
      Slot* slot;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](std::vector<Slot*>* idle) { return !idle->empty(); }, &idle_));
        slot = idle_.back();
        idle_.pop_back();
      }
      Send(slot, Clock::now());
    }
  }

  // Starts one call on `slot`; latency is measured from `now`.
  void Send(Slot* slot, Clock::time_point now) {
    slot->kind = pattern_[slot->seq++ % pattern_.size()];
    slot->measured = now >= measure_start_;
    slot->sent = now;
    slot->ctx = std::make_unique<grpc::ClientContext>();
    slot->ctx->set_deadline(absl::ToChronoTime(absl::Now() + cfg_.deadline));
    if (!authorization_.empty()) slot->ctx->AddMetadata("authorization", authorization_);
    int64_t key = sampler_.Next(slot->rng);
    Caller& caller = *slot->callers[slot->kind];
    if (slot->cq != nullptr) {
      caller.StartOn(slot->cq, slot->ctx.get(), key, &slot->status, slot);
    } else {
      caller.Start(slot->ctx.get(), key,
                   [this, slot](grpc::Status status) { OnDone(slot, status); });
    }
  }

  // Records the finished call, then continues the slot (closed loop) or frees it (open loop).
  void OnDone(Slot* slot, const grpc::Status& status) {
    Clock::time_point now = Clock::now();
    if (slot->measured) Record(slot, status, now);
    if (cfg_.rate > 0) {
      Park(slot);
    } else {
      NextClosedLoop(slot);
    }
  }

  void Record(Slot* slot, const grpc::Status& status, Clock::time_point now) {
    KindStats& stats = slot->stats[slot->kind];
    stats.latencies_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - slot->sent).count());
    slot->last_done = now;
    if (status.ok()) {
      ++stats.ok;
    } else if (status.error_code() == grpc::StatusCode::NOT_FOUND &&
               kinds_[slot->kind].not_found_ok) {
      ++stats.not_found;
    } else if (stats.errors++ == 0) {
      stats.first_error =
          absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                       ": ", status.error_message());
      stats.first_error_at = now;
    }
  }

  bool AllIdle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return idle_.size() == slots_.size(); }

  void Park(Slot* slot) {
    absl::MutexLock lock(&mu_);
    idle_.push_back(slot);
  }

  const Config cfg_;
  const std::string authorization_ = cfg_.bearer.empty() ? "" : "Bearer " + cfg_.bearer;
  const std::vector<Kind> kinds_;
  const KeySampler sampler_;
  std::vector<int> pattern_;  // Kind of the n-th call of a slot, by n % size.
  std::vector<std::vector<std::shared_ptr<grpc::Channel>>> channels_;  // [target][channel]
  std::vector<std::unique_ptr<Slot>> slots_;
  Clock::time_point start_, measure_start_, stop_;
  std::atomic<int64_t> sent_{0};  // Measured calls claimed in --requests mode.
  absl::Mutex mu_;
  std::vector<Slot*> idle_ ABSL_GUARDED_BY(mu_);
};

// Merged figures of a set of calls.
struct Summary {
  int64_t calls = 0, ok = 0, not_found = 0, errors = 0, items = 0;
  std::string first_error;
  Clock::time_point first_error_at = Clock::time_point::max();
  std::vector<int64_t> latencies_ns;  // Sorted.

  void Add(const KindStats& s, int items_per_call) {
    calls += s.ok + s.not_found + s.errors;
    ok += s.ok;
    not_found += s.not_found;
    errors += s.errors;
    items += (s.ok + s.not_found) * items_per_call;
    latencies_ns.insert(latencies_ns.end(), s.latencies_ns.begin(), s.latencies_ns.end());
    if (s.errors > 0 && s.first_error_at < first_error_at) {
      first_error = s.first_error;
      first_error_at = s.first_error_at;
    }
  }

  // The q-quantile latency in microseconds (nearest rank), 0 when there are no calls.
  double QuantileUs(double q) const {
    if (latencies_ns.empty()) return 0;
    size_t rank = static_cast<size_t>(std::ceil(q * latencies_ns.size()));
    return latencies_ns[std::min(latencies_ns.size() - 1, rank == 0 ? 0 : rank - 1)] / 1e3;
  }
};

// The figures of the calls of one kind and/or one target (nullopt: all of them).
Summary Summarize(const Runner& runner, absl::optional<int> only_kind,
                  absl::optional<int> only_target = absl::nullopt) {
  Summary sum;
  for (const auto& slot : runner.slots()) {
    if (only_target.has_value() && slot->target != *only_target) continue;
    for (size_t k = 0; k < slot->stats.size(); ++k) {
      if (only_kind.has_value() && static_cast<int>(k) != *only_kind) continue;
      sum.Add(slot->stats[k], runner.kinds()[k].items);
    }
  }
  std::sort(sum.latencies_ns.begin(), sum.latencies_ns.end());
  return sum;
}

// Seconds from the end of the warmup to the last measured completion.
double ElapsedSeconds(const Runner& runner) {
  Clock::time_point last = runner.measure_start();
  for (const auto& slot : runner.slots()) last = std::max(last, slot->last_done);
  return std::chrono::duration<double>(last - runner.measure_start()).count();
}

google::protobuf::Value Number(double v) {
  google::protobuf::Value value;
  value.set_number_value(v);
  return value;
}

// The figures of `sum` as JSON-ready fields (latencies in microseconds).
google::protobuf::Struct SummaryStruct(const Summary& sum, double elapsed_s, bool batched) {
  google::protobuf::Struct out;
  auto& f = *out.mutable_fields();
  f["requests"] = Number(sum.calls);
  f["ok"] = Number(sum.ok);
  f["not_found"] = Number(sum.not_found);
  f["errors"] = Number(sum.errors);
  f["first_error"].set_string_value(sum.first_error);
  f["throughput_rps"] = Number(elapsed_s > 0 ? sum.calls / elapsed_s : 0);
  if (batched) f["items_per_s"] = Number(elapsed_s > 0 ? sum.items / elapsed_s : 0);
  auto& lat = *f["latency_us"].mutable_struct_value()->mutable_fields();
  lat["p50"] = Number(sum.QuantileUs(0.50));
  lat["p90"] = Number(sum.QuantileUs(0.90));
  lat["p99"] = Number(sum.QuantileUs(0.99));
  lat["p999"] = Number(sum.QuantileUs(0.999));
  lat["max"] = Number(sum.latencies_ns.empty() ? 0 : sum.latencies_ns.back() / 1e3);
  return out;
}

// Prints the run as one JSON object.
void PrintJson(const Config& cfg, const Runner& runner, const Summary& all, double elapsed_s) {
  bool batched = cfg.batch > 1;
  google::protobuf::Struct out = SummaryStruct(all, elapsed_s, batched);
  auto& f = *out.mutable_fields();
  f["op"].set_string_value(cfg.op);
  f["addr"].set_string_value(cfg.addr);
  f["concurrency"] = Number(cfg.concurrency);
  f["channels"] = Number(cfg.channels);
  f["api"].set_string_value(cfg.cq_api ? absl::StrCat("cq/", cfg.cq_threads) : "callback");
  f["keys"] = Number(cfg.keys);
  f["dist"].set_string_value(cfg.dist);
  f["batch"] = Number(cfg.batch);
  f["rate_target"] = Number(cfg.rate);
  f["elapsed_s"] = Number(elapsed_s);
  if (runner.kinds().size() > 1) {
    auto& kinds = *f["kinds"].mutable_struct_value()->mutable_fields();
    for (size_t k = 0; k < runner.kinds().size(); ++k) {
      *kinds[runner.kinds()[k].name].mutable_struct_value() =
          SummaryStruct(Summarize(runner, k), elapsed_s, batched);
    }
  }
  if (cfg.targets.size() > 1) {
    auto& targets = *f["targets"].mutable_struct_value()->mutable_fields();
    for (size_t t = 0; t < cfg.targets.size(); ++t) {
      *targets[cfg.targets[t]].mutable_struct_value() =
          SummaryStruct(Summarize(runner, absl::nullopt, static_cast<int>(t)), elapsed_s, batched);
    }
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  google::protobuf::util::Status printed =
      google::protobuf::util::MessageToJsonString(out, &json, options);
  if (!printed.ok()) json = absl::StrCat("{\"error\":\"", printed.ToString(), "\"}");
  std::printf("%s\n", json.c_str());
}

void PrintTextLine(absl::string_view label, const Summary& sum, double elapsed_s, bool batched) {
  std::printf("%-16s requests %lld  errors %lld  not_found %lld  %.0f req/s",
              std::string(label).c_str(), static_cast<long long>(sum.calls),
              static_cast<long long>(sum.errors), static_cast<long long>(sum.not_found),
              elapsed_s > 0 ? sum.calls / elapsed_s : 0.0);
  if (batched) std::printf("  %.0f items/s", elapsed_s > 0 ? sum.items / elapsed_s : 0.0);
  std::printf("\n%-16s latency us: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f\n", "",
              sum.QuantileUs(0.5), sum.QuantileUs(0.9), sum.QuantileUs(0.99), sum.QuantileUs(0.999),
              sum.latencies_ns.empty() ? 0.0 : sum.latencies_ns.back() / 1e3);
}

// Prints the run as text.
void PrintText(const Config& cfg, const Runner& runner, const Summary& all, double elapsed_s) {
  bool batched = cfg.batch > 1;
  std::printf(
      "countd-bench op=%s addr=%s concurrency=%d channels=%d api=%s keys=%lld dist=%s batch=%d",
      cfg.op.c_str(), cfg.addr.c_str(), cfg.concurrency, cfg.channels,
      cfg.cq_api ? absl::StrCat("cq/", cfg.cq_threads).c_str() : "callback",
      static_cast<long long>(cfg.keys), cfg.dist.c_str(), cfg.batch);
  if (cfg.rate > 0) std::printf(" rate=%.0f/s", cfg.rate);
  std::printf("\nelapsed %.2f s (after %s warmup)\n", elapsed_s,
              absl::FormatDuration(cfg.warmup).c_str());
  PrintTextLine("all", all, elapsed_s, batched);
  if (runner.kinds().size() > 1) {
    for (size_t k = 0; k < runner.kinds().size(); ++k) {
      PrintTextLine(runner.kinds()[k].name, Summarize(runner, k), elapsed_s, batched);
    }
  }
  if (cfg.targets.size() > 1) {
    for (size_t t = 0; t < cfg.targets.size(); ++t) {
      PrintTextLine(cfg.targets[t], Summarize(runner, absl::nullopt, static_cast<int>(t)),
                    elapsed_s, batched);
    }
  }
  if (all.errors > 0) std::printf("first error: %s\n", all.first_error.c_str());
  if (cfg.rate > 0 && elapsed_s > 0 && all.calls / elapsed_s < 0.95 * cfg.rate) {
    std::printf("warning: achieved %.0f req/s, below the target %.0f req/s\n",
                all.calls / elapsed_s, cfg.rate);
  }
}

// The targets from --addr or --targets (comma list; entries trimmed).
// Errors: kInvalidArgument when both are given, or an entry of --targets is empty or repeated.
absl::StatusOr<std::vector<std::string>> ReadTargets() {
  const std::string addr = absl::GetFlag(FLAGS_addr);
  const std::string list = absl::GetFlag(FLAGS_targets);
  if (!addr.empty() && !list.empty()) {
    return absl::InvalidArgumentError("give --addr or --targets, not both");
  }
  if (list.empty()) return std::vector<std::string>{addr.empty() ? "127.0.0.1:50051" : addr};
  std::vector<std::string> targets;
  for (absl::string_view entry : absl::StrSplit(list, ',')) {
    std::string target(absl::StripAsciiWhitespace(entry));
    if (target.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--targets has an empty entry: '", list, "'"));
    }
    if (std::find(targets.begin(), targets.end(), target) != targets.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--targets lists '", target, "' twice"));
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

// Reads and checks the flags. Errors: kInvalidArgument naming the bad flag.
absl::StatusOr<Config> ReadConfig() {
  Config cfg;
  absl::StatusOr<std::vector<std::string>> targets = ReadTargets();
  if (!targets.ok()) return targets.status();
  cfg.targets = *std::move(targets);
  cfg.addr = absl::StrJoin(cfg.targets, ",");
  cfg.op = absl::GetFlag(FLAGS_op);
  cfg.concurrency =
      absl::GetFlag(FLAGS_c) > 0 ? absl::GetFlag(FLAGS_c) : absl::GetFlag(FLAGS_concurrency);
  cfg.duration = absl::GetFlag(FLAGS_duration);
  cfg.requests = absl::GetFlag(FLAGS_requests);
  cfg.keys = absl::GetFlag(FLAGS_keys);
  cfg.dist = absl::GetFlag(FLAGS_dist);
  cfg.batch = absl::GetFlag(FLAGS_batch);
  cfg.classes = absl::GetFlag(FLAGS_classes);
  cfg.channels = absl::GetFlag(FLAGS_channels);
  const std::string api = absl::GetFlag(FLAGS_api);
  cfg.cq_api = api == "cq";
  cfg.cq_threads = absl::GetFlag(FLAGS_cq_threads);
  cfg.tenant = absl::GetFlag(FLAGS_tenant);
  cfg.action = absl::GetFlag(FLAGS_action);
  cfg.warmup = absl::GetFlag(FLAGS_warmup);
  cfg.rate = absl::GetFlag(FLAGS_rate);
  cfg.deadline = absl::GetFlag(FLAGS_deadline);
  cfg.seed = absl::GetFlag(FLAGS_seed);
  client::ConnectionFlags connection;
  auto given = [](const std::string& v) {
    return v.empty() ? absl::optional<std::string>() : absl::optional<std::string>(v);
  };
  connection.bearer = given(absl::GetFlag(FLAGS_bearer));
  connection.bearer_file = given(absl::GetFlag(FLAGS_bearer_file));
  if (absl::GetFlag(FLAGS_tls)) connection.tls = true;
  connection.tls_ca_file = given(absl::GetFlag(FLAGS_tls_ca_file));
  connection.tls_cert_file = given(absl::GetFlag(FLAGS_tls_cert_file));
  connection.tls_key_file = given(absl::GetFlag(FLAGS_tls_key_file));
  connection.tls_server_name = given(absl::GetFlag(FLAGS_tls_server_name));
  absl::StatusOr<std::string> bearer = client::ResolveBearer(connection);
  if (!bearer.ok()) return bearer.status();
  cfg.bearer = *std::move(bearer);
  absl::StatusOr<client::Transport> transport = client::ResolveTransport(connection);
  if (!transport.ok()) return transport.status();
  cfg.credentials = transport->credentials;
  cfg.channel_args = transport->args;
  bool batched_op = cfg.op == "increment-counters";
  if (cfg.batch == 0) cfg.batch = batched_op ? 100 : 1;
  if (cfg.concurrency < 1) return absl::InvalidArgumentError("--concurrency must be >= 1");
  if (cfg.concurrency < static_cast<int>(cfg.targets.size())) {
    return absl::InvalidArgumentError(
        "--concurrency must be >= the number of --targets (each target needs a slot)");
  }
  if (cfg.channels < 1) return absl::InvalidArgumentError("--channels must be >= 1");
  if (api != "cq" && api != "callback") {
    return absl::InvalidArgumentError("--api must be cq or callback");
  }
  if (cfg.cq_threads < 1 || cfg.cq_threads > 64) {
    return absl::InvalidArgumentError("--cq-threads must be 1-64");
  }
  if (cfg.keys < 1) return absl::InvalidArgumentError("--keys must be >= 1");
  if (cfg.dist != "uniform" && cfg.dist != "zipf" && cfg.dist != "sequential") {
    return absl::InvalidArgumentError("--dist must be uniform, zipf or sequential");
  }
  if (cfg.batch < 1 || (!batched_op && cfg.batch != 1)) {
    return absl::InvalidArgumentError("--batch must be >= 1, and 1 unless --op=increment-counters");
  }
  if (cfg.classes < 1) return absl::InvalidArgumentError("--classes must be >= 1");
  if (cfg.requests <= 0 && cfg.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--duration must be > 0 (or give --requests)");
  }
  if (cfg.warmup < absl::ZeroDuration() || cfg.rate < 0 || cfg.deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--warmup, --rate and --deadline must not be negative");
  }
  return cfg;
}

// Lets flags be spelled with dashes (--allow-errors) as well as absl's underscores
// (--allow_errors): rewrites the name part of each "--flag[=value]" argument in place.
void AcceptDashedFlagNames(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.substr(0, 2) != "--") continue;
    for (char* p = argv[i] + 2; *p != '\0' && *p != '='; ++p) {
      if (*p == '-') *p = '_';
    }
  }
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "gRPC load generator for countd.\n"
      "  countd-bench --addr=127.0.0.1:50051 --op=incr --concurrency=50 --duration=10s\n"
      "  countd-bench --targets=127.0.0.1:50051,127.0.0.1:50052 --op=incr  # spread over both");
  // Debian builds Abseil with Mutex deadlock detection on; gRPC creates and destroys a Mutex per
  // call (in ClientContext), and forgetting it in the global cycle graph cost ~5% of the client's
  // CPU in profiles. The bench has no lock-order bugs to find.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  AcceptDashedFlagNames(argc, argv);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "countd-bench: unexpected argument '%s'\n", rest[1]);
    return 2;
  }
  absl::StatusOr<Config> cfg = ReadConfig();
  absl::StatusOr<std::vector<Kind>> kinds =
      cfg.ok() ? KindsForOp(*cfg) : absl::StatusOr<std::vector<Kind>>(cfg.status());
  if (!kinds.ok()) {
    std::fprintf(stderr, "countd-bench: %s\n", std::string(kinds.status().message()).c_str());
    return 2;
  }
  KeySampler sampler = cfg->dist == "zipf"         ? KeySampler::Zipf(cfg->keys, 1.0)
                       : cfg->dist == "sequential" ? KeySampler::Sequential(cfg->keys)
                                                   : KeySampler::Uniform(cfg->keys);
  Runner runner(*cfg, *std::move(kinds), std::move(sampler));
  if (absl::Status s = runner.Connect(); !s.ok()) {
    std::fprintf(stderr, "countd-bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  runner.Run();
  Summary all = Summarize(runner, absl::nullopt);
  double elapsed_s = ElapsedSeconds(runner);
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(*cfg, runner, all, elapsed_s);
  } else {
    PrintText(*cfg, runner, all, elapsed_s);
  }
  if (all.calls == 0) {
    std::fprintf(stderr, "countd-bench: no call completed in the measured interval\n");
    return 1;
  }
  if (all.errors > 0 && !absl::GetFlag(FLAGS_allow_errors)) {
    std::fprintf(stderr, "countd-bench: %lld calls failed; first: %s\n",
                 static_cast<long long>(all.errors), all.first_error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace countd::bench

int main(int argc, char** argv) { return countd::bench::Main(argc, argv); }
