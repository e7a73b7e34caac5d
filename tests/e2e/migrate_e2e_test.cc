// End-to-end tests of `countd migrate-to-redis` on the real 6-node cluster of the redis_cluster
// fixture: a countd on RocksDB (authentication required) is filled over gRPC with every kind of
// data (tenants and their secrets, Signals counters with request_ids, Stash, Tally ecount and
// top-K with metadata, GameMechanics configuration, grants, redemptions, level resets), stopped,
// and moved into the cluster under a fresh key prefix; then a countd on the cluster must answer
// every read as the RocksDB countd did. Also: runs again (idempotent), runs in steps
// (--max-partitions) and after a kill -9, the data dir left byte-identical, the verification
// catching a tampered record and ranking, and refused invocations.

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "countd/v1/admin.grpc.pb.h"
#include "countd/v1/counters.grpc.pb.h"
#include "countd/v1/gm.grpc.pb.h"
#include "countd/v1/tally.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/logic/gm_rankings.h"
#include "storage/counter_cell.h"
#include "storage/keys.h"
#include "storage/redis_cluster/redis_store.h"
#include "storage/store.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using test::ExitStatus;
using test::ServerProcess;
using test::ServerProcessOptions;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kRunTimeout = absl::Seconds(120);
// Sizes that make the big partitions take several writes (kMigrationBatchOps = 500 ops each).
constexpr int kGmUsers = 300;
constexpr int kTopKItems = 300;
constexpr int kSignalsUsers = 40;
constexpr int kVisitors = 20;

std::string Urandom(size_t n) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string out(n, '\0');
  in.read(out.data(), static_cast<std::streamsize>(n));
  return out;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// Every file under `dir` (relative name -> contents).
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    files[std::filesystem::relative(entry.path(), dir).string()] =
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  return files;
}

// The cluster of the redis_cluster fixture.
struct Cluster {
  int base_port = 0;
  std::string password_file;
  std::string Nodes() const {
    return absl::StrCat("127.0.0.1:", base_port, ",127.0.0.1:", base_port + 1);
  }
};

Cluster FixtureCluster() {
  Cluster c;
  std::ifstream in(absl::StrCat(REDIS_CLUSTER_DIR, "/baseport"));
  in >> c.base_port;
  c.password_file = absl::StrCat(REDIS_CLUSTER_DIR, "/password");
  return c;
}

// A key prefix no other run used: each test moves its data into a cluster space of its own.
std::string FreshPrefix(absl::string_view name) {
  return absl::StrCat("mig-", name, "-", getpid(), "-", absl::BytesToHexString(Urandom(4)));
}

// How one `countd migrate-to-redis` run ended.
struct RunResult {
  int code = -1;
  std::string out;  // the reports
  std::string err;  // progress and errors
};

std::string Describe(const RunResult& r) {
  return absl::StrCat("exit ", r.code, "\nstdout:\n", r.out, "\nstderr:\n", r.err);
}

// The credential metadata of a call.
using Credential = std::vector<std::pair<std::string, std::string>>;

Credential Bearer(const std::string& value) {
  return {{"authorization", absl::StrCat("Bearer ", value)}};
}

template <typename Stub, typename Req, typename Resp>
grpc::Status Call(Stub* stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                  const Credential& cred, const Req& req, Resp* resp) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  for (const auto& [k, v] : cred) ctx.AddMetadata(k, v);
  return (stub->*method)(&ctx, req, resp);
}

// One countd and its stubs.
struct Server {
  std::unique_ptr<ServerProcess> process;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Admin::Stub> admin;
  std::unique_ptr<v1::Counters::Stub> counters;
  std::unique_ptr<v1::Tally::Stub> tally;
  std::unique_ptr<v1::GameMechanics::Stub> gm;
};

class MigrateE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = FixtureCluster();
    ASSERT_GT(cluster_.base_port, 0) << "no cluster in " << REDIS_CLUSTER_DIR;
    token_ = absl::Base64Escape(Urandom(36));
    token_file_ = dir_.Sub("operator-token");
    key_file_ = dir_.Sub("secrets-key");
    WriteFile(token_file_, token_ + "\n");
    WriteFile(key_file_, absl::Base64Escape(Urandom(32)) + "\n");
    data_dir_ = dir_.Sub("data");
  }

  std::vector<std::string> AuthArgs() const {
    return {"--auth=required", "--operator-token-file=" + token_file_,
            "--secrets-key-file=" + key_file_};
  }

  // Starts countd on RocksDB (`prefix` empty) or on the cluster under `prefix`.
  void Start(Server* s, const std::string& prefix = "") {
    ServerProcessOptions options;
    options.data_dir = data_dir_;
    options.extra_args = AuthArgs();
    if (!prefix.empty()) {
      options.data_dir = dir_.Sub("unused-" + prefix);
      for (const std::string& a : RedisArgs(prefix)) options.extra_args.push_back(a);
      options.extra_args.push_back("--store=redis-cluster");
    }
    absl::StatusOr<std::unique_ptr<ServerProcess>> process = ServerProcess::Start(options);
    ASSERT_TRUE(process.ok()) << process.status();
    s->process = *std::move(process);
    s->channel = NewChannel(s->process->grpc_address());
    s->admin = v1::Admin::NewStub(s->channel);
    s->counters = v1::Counters::NewStub(s->channel);
    s->tally = v1::Tally::NewStub(s->channel);
    s->gm = v1::GameMechanics::NewStub(s->channel);
  }

  void Stop(Server* s) {
    ASSERT_TRUE(s->process->Signal(SIGTERM).ok());
    std::optional<ExitStatus> exit = s->process->WaitForExit(kRunTimeout);
    ASSERT_TRUE(exit.has_value());
    EXPECT_TRUE(exit->Success()) << exit->ToString() << s->process->stderr_text();
    s->process.reset();
  }

  std::vector<std::string> RedisArgs(const std::string& prefix) const {
    return {"--redis-nodes=" + cluster_.Nodes(), "--redis-password-file=" + cluster_.password_file,
            "--redis-key-prefix=" + prefix};
  }

  // Runs `countd migrate-to-redis` on the data dir into `prefix` with `extra` flags.
  RunResult Migrate(const std::string& prefix, const std::vector<std::string>& extra = {},
                    bool with_redis = true) {
    ServerProcessOptions options;
    options.data_dir = data_dir_;
    options.wait_for_http = false;
    options.extra_args = {"migrate-to-redis"};
    if (with_redis) {
      for (const std::string& a : RedisArgs(prefix)) options.extra_args.push_back(a);
    }
    options.extra_args.insert(options.extra_args.end(), extra.begin(), extra.end());
    RunResult r;
    absl::StatusOr<std::unique_ptr<ServerProcess>> p = ServerProcess::Launch(options);
    if (!p.ok()) {
      ADD_FAILURE() << p.status();
      return r;
    }
    std::optional<ExitStatus> exit = (*p)->WaitForExit(kRunTimeout);
    if (!exit.has_value()) {
      ADD_FAILURE() << "migrate-to-redis still runs after " << kRunTimeout;
      (*p)->Kill();
      return r;
    }
    r.code = exit->exited ? exit->code : -exit->signal;
    r.out = (*p)->stdout_text();
    r.err = (*p)->stderr_text();
    return r;
  }

  Credential Operator() const { return Bearer(token_); }
  Credential Tenant(const std::string& tenant) const {
    return Bearer(absl::StrCat(tenant, ":", secrets_.at(tenant)));
  }

  // Fills the RocksDB countd `s` over gRPC with every kind of data.
  void Fill(Server* s) {
    // Tenants: acme, and beta whose first secret is revoked for a second one.
    for (const std::string tenant : {"acme", "beta"}) {
      v1::CreateTenantRequest req;
      req.set_tenant(tenant);
      req.mutable_settings()->add_allowed_origins("https://www.example.com");
      v1::CreateTenantResponse resp;
      ASSERT_THAT(Call(s->admin.get(), &v1::Admin::Stub::CreateTenant, Operator(), req, &resp),
                  IsOk());
      secrets_[tenant] = resp.secret().secret();
    }
    {
      v1::AddSecretRequest add;
      add.set_tenant("beta");
      v1::AddSecretResponse added;
      ASSERT_THAT(Call(s->admin.get(), &v1::Admin::Stub::AddSecret, Operator(), add, &added),
                  IsOk());
      revoked_beta_secret_ = secrets_["beta"];
      secrets_["beta"] = added.secret().secret();
      v1::RevokeSecretRequest revoke;
      revoke.set_tenant("beta");
      revoke.set_secret_id("s1");
      v1::RevokeSecretResponse revoked;
      ASSERT_THAT(
          Call(s->admin.get(), &v1::Admin::Stub::RevokeSecret, Operator(), revoke, &revoked),
          IsOk());
    }
    const Credential acme = Tenant("acme");

    // Signals: a registry, settings, counters of uids (with request_ids) and of a reg_token.
    {
      v1::RegisterCountersRequest req;
      req.set_tenant("acme");
      for (const auto& [cls, path] :
           {std::pair<const char*, const char*>{"c", "/a"}, {"c", "/b"}, {"d", "/x/y"}}) {
        v1::CounterPath* p = req.add_counters();
        p->set_class_(cls);
        p->set_path(path);
      }
      v1::RegisterCountersResponse resp;
      ASSERT_THAT(Call(s->counters.get(), &v1::Counters::Stub::RegisterCounters, acme, req, &resp),
                  IsOk());
      v1::SetCounterSettingsRequest settings;
      settings.set_tenant("acme");
      settings.mutable_settings()->set_max_path_depth(3);
      v1::SetCounterSettingsResponse settings_resp;
      ASSERT_THAT(Call(s->counters.get(), &v1::Counters::Stub::SetCounterSettings, acme, settings,
                       &settings_resp),
                  IsOk());
    }
    for (int i = 0; i < kSignalsUsers; ++i) {
      ASSERT_THAT(IncrementSignals(s, absl::StrCat("u", i), absl::StrCat("r-", i), i), IsOk());
    }
    {
      v1::IncrementCountersRequest req;
      req.set_tenant("acme");
      req.set_reg_token("token-1");
      v1::CounterIncrement* c = req.add_counters();
      c->set_class_("d");
      c->set_path("/x/y");
      c->set_count(4);
      v1::IncrementCountersResponse resp;
      ASSERT_THAT(Call(s->counters.get(), &v1::Counters::Stub::IncrementCounters, acme, req, &resp),
                  IsOk());
    }

    // Stash: visitors' daily counters, some decremented.
    for (int i = 0; i < kVisitors; ++i) {
      v1::IncrRequest req;
      req.set_tenant("acme");
      req.set_visitor_id(absl::StrCat("v", i));
      req.set_counter_name("views");
      req.set_delta(i + 1);
      v1::IncrResponse resp;
      ASSERT_THAT(Call(s->counters.get(), &v1::Counters::Stub::Incr, acme, req, &resp), IsOk());
      stash_day_ = resp.key().substr(resp.key().rfind(':') + 1);
      if (i % 3 == 0) {
        v1::DecrRequest dec;
        dec.set_tenant("acme");
        dec.set_visitor_id(absl::StrCat("v", i));
        dec.set_counter_name("views");
        v1::DecrResponse dec_resp;
        ASSERT_THAT(Call(s->counters.get(), &v1::Counters::Stub::Decr, acme, dec, &dec_resp),
                    IsOk());
      }
    }

    // Tally: a big top-K counter with metadata and ties, a small one, and an ecount counter of
    // the same name as the big one.
    for (int j = 0; j < kTopKItems; ++j) {
      ASSERT_THAT(TallyIncrement(s, v1::OP_TOPK, "pages", absl::StrCat("item", j), 60, j % 17 + 1,
                                 absl::StrCat("meta ", j)),
                  IsOk());
    }
    for (int j = 0; j < 5; ++j) {
      ASSERT_THAT(TallyIncrement(s, v1::OP_TOPK, "small", absl::StrCat("s", j), 30, j + 1, ""),
                  IsOk());
      ASSERT_THAT(TallyIncrement(s, v1::OP_ECOUNT, "pages", absl::StrCat("item", j), 30, 2, ""),
                  IsOk());
    }

    // GameMechanics: two challenges, two actions, grants to many users (with request_ids),
    // redemptions and level resets.
    ASSERT_THAT(SetChallenge(s, "_default"), IsOk());
    ASSERT_THAT(SetChallenge(s, "ch2"), IsOk());
    ASSERT_THAT(SetAction(s, "login", 10, {"_default", "ch2"}), IsOk());
    ASSERT_THAT(SetAction(s, "post", 3, {"ch2"}), IsOk());
    for (int i = 0; i < kGmUsers; ++i) {
      ASSERT_THAT(Notify(s, absl::StrCat("g", i), "login", absl::StrCat("n-", i)), IsOk());
      if (i < 50) {
        for (int k = 0; k < i % 3; ++k)
          ASSERT_THAT(Notify(s, absl::StrCat("g", i), "post", ""), IsOk());
      }
    }
    for (int i = 0; i < 10; ++i) {
      v1::RedeemPointsRequest req;
      req.set_tenant("acme");
      req.set_uid(absl::StrCat("g", i));
      req.set_challenge_id("_default");
      req.set_points(4);
      req.set_request_id(absl::StrCat("redeem-", i));
      v1::RedeemPointsResponse resp;
      ASSERT_THAT(Call(s->gm.get(), &v1::GameMechanics::Stub::RedeemPoints, acme, req, &resp),
                  IsOk());
    }
    for (int i = 0; i < 5; ++i) {
      v1::ResetLevelStatusRequest req;
      req.set_tenant("acme");
      req.set_uid(absl::StrCat("g", i));
      req.set_challenge_id("_default");
      v1::ResetLevelStatusResponse resp;
      ASSERT_THAT(Call(s->gm.get(), &v1::GameMechanics::Stub::ResetLevelStatus, acme, req, &resp),
                  IsOk());
    }
  }

  grpc::Status IncrementSignals(Server* s, const std::string& uid, const std::string& request_id,
                                int i) {
    v1::IncrementCountersRequest req;
    req.set_tenant("acme");
    req.set_uid(uid);
    req.set_request_id(request_id);
    v1::CounterIncrement* a = req.add_counters();
    a->set_class_("c");
    a->set_path("/a");
    a->set_value(1.25 * (i + 1));
    v1::CounterIncrement* b = req.add_counters();
    b->set_class_("c");
    b->set_path("/b");
    b->set_count(i % 5 + 1);
    v1::IncrementCountersResponse resp;
    return Call(s->counters.get(), &v1::Counters::Stub::IncrementCounters, Tenant("acme"), req,
                &resp);
  }

  grpc::Status TallyIncrement(Server* s, v1::TallyOp op, const std::string& counter,
                              const std::string& countable, int window, int64_t delta,
                              const std::string& metadata) {
    v1::TallyIncrementRequest req;
    req.set_tenant("acme");
    req.set_op(op);
    req.set_counter(counter);
    req.set_countable(countable);
    req.set_window_minutes(window);
    req.set_delta(delta);
    if (!metadata.empty()) req.set_metadata(metadata);
    v1::TallyIncrementResponse resp;
    return Call(s->tally.get(), &v1::Tally::Stub::Increment, Tenant("acme"), req, &resp);
  }

  grpc::Status SetChallenge(Server* s, const std::string& id) {
    v1::SetChallengeConfigRequest req;
    req.set_tenant("acme");
    v1::Challenge* c = req.mutable_challenge();
    c->set_challenge_id(id);
    c->set_title("Challenge " + id);
    c->set_enabled(true);
    for (int level = 1; level <= 3; ++level) {
      v1::Level* l = c->add_levels();
      l->set_level(level);
      l->set_points_required((level - 1) * 10);
      l->set_title(absl::StrCat("Level ", level));
    }
    v1::SetChallengeConfigResponse resp;
    return Call(s->gm.get(), &v1::GameMechanics::Stub::SetChallengeConfig, Tenant("acme"), req,
                &resp);
  }

  grpc::Status SetAction(Server* s, const std::string& id, int64_t points,
                         const std::vector<std::string>& challenges) {
    v1::SetActionConfigRequest req;
    req.set_tenant("acme");
    v1::Action* a = req.mutable_action();
    a->set_action_id(id);
    a->set_title("Action " + id);
    a->set_points(points);
    for (const std::string& c : challenges) a->add_challenges(c);
    v1::SetActionConfigResponse resp;
    return Call(s->gm.get(), &v1::GameMechanics::Stub::SetActionConfig, Tenant("acme"), req, &resp);
  }

  grpc::Status Notify(Server* s, const std::string& uid, const std::string& action,
                      const std::string& request_id, v1::NotifyActionResponse* out = nullptr) {
    v1::NotifyActionRequest req;
    req.set_tenant("acme");
    req.set_uid(uid);
    req.set_action_id(action);
    req.set_ip("192.0.2.7");
    req.set_request_id(request_id);
    v1::NotifyActionResponse resp;
    return Call(s->gm.get(), &v1::GameMechanics::Stub::NotifyAction, Tenant("acme"), req,
                out != nullptr ? out : &resp);
  }

  // Every read of the data Fill wrote, as "<call>: <response JSON or error code>", in order.
  std::vector<std::string> Answers(Server* s) {
    std::vector<std::string> out;
    auto note = [&](const std::string& what, const grpc::Status& status,
                    const google::protobuf::Message& resp) {
      std::string json;
      if (status.ok()) {
        google::protobuf::util::JsonPrintOptions o;
        o.always_print_primitive_fields = true;
        (void)google::protobuf::util::MessageToJsonString(resp, &json, o);
      } else {
        json = CodeName(status.error_code());
      }
      out.push_back(absl::StrCat(what, ": ", json));
    };
    const Credential acme = Tenant("acme");
    {
      v1::ListTenantsRequest req;
      v1::ListTenantsResponse resp;
      note("ListTenants",
           Call(s->admin.get(), &v1::Admin::Stub::ListTenants, Operator(), req, &resp), resp);
    }
    {
      v1::GetRegisteredCountersRequest req;
      req.set_tenant("acme");
      v1::GetRegisteredCountersResponse resp;
      note("GetRegisteredCounters",
           Call(s->counters.get(), &v1::Counters::Stub::GetRegisteredCounters, acme, req, &resp),
           resp);
      v1::GetCounterSettingsRequest sreq;
      sreq.set_tenant("acme");
      v1::GetCounterSettingsResponse sresp;
      note("GetCounterSettings",
           Call(s->counters.get(), &v1::Counters::Stub::GetCounterSettings, acme, sreq, &sresp),
           sresp);
    }
    for (int i = 0; i <= kSignalsUsers; ++i) {
      v1::GetCountersRequest req;
      req.set_tenant("acme");
      if (i < kSignalsUsers) {
        req.set_uid(absl::StrCat("u", i));
      } else {
        req.set_reg_token("token-1");
      }
      for (const char* period : {"total", "last7Days", "regex('.*')"}) {
        v1::CounterQuery* q = req.add_counters();
        q->set_period(period);
      }
      v1::GetCountersResponse resp;
      note(absl::StrCat("GetCounters ", i),
           Call(s->counters.get(), &v1::Counters::Stub::GetCounters, acme, req, &resp), resp);
    }
    for (int i = 0; i < kVisitors; ++i) {
      v1::GetRequest req;
      req.set_tenant("acme");
      req.set_visitor_id(absl::StrCat("v", i));
      req.set_counter_name("views");
      req.set_date(stash_day_);
      v1::GetResponse resp;
      note(absl::StrCat("Get v", i),
           Call(s->counters.get(), &v1::Counters::Stub::Get, acme, req, &resp), resp);
    }
    for (const char* counter : {"pages", "small"}) {
      v1::GetTopKRequest req;
      req.set_tenant("acme");
      req.set_counter(counter);
      req.set_k(1000);
      req.set_with_metadata(true);
      v1::GetTopKResponse resp;
      note(absl::StrCat("GetTopK ", counter),
           Call(s->tally.get(), &v1::Tally::Stub::GetTopK, acme, req, &resp), resp);
    }
    for (int j = 0; j < 6; ++j) {
      for (v1::TallyOp op : {v1::OP_ECOUNT, v1::OP_TOPK}) {
        v1::GetCountRequest req;
        req.set_tenant("acme");
        req.set_counter("pages");
        req.set_countable(absl::StrCat("item", j));
        req.set_op(op);
        v1::GetCountResponse resp;
        note(absl::StrCat("GetCount item", j, " op ", op),
             Call(s->tally.get(), &v1::Tally::Stub::GetCount, acme, req, &resp), resp);
      }
    }
    {
      v1::GetActionConfigRequest req;
      req.set_tenant("acme");
      v1::GetActionConfigResponse resp;
      note("GetActionConfig",
           Call(s->gm.get(), &v1::GameMechanics::Stub::GetActionConfig, acme, req, &resp), resp);
      v1::GetChallengeConfigRequest creq;
      creq.set_tenant("acme");
      creq.set_include_disabled(true);
      v1::GetChallengeConfigResponse cresp;
      note("GetChallengeConfig",
           Call(s->gm.get(), &v1::GameMechanics::Stub::GetChallengeConfig, acme, creq, &cresp),
           cresp);
    }
    for (int i = 0; i < 60; i += 3) {
      v1::GetChallengeStatusRequest req;
      req.set_tenant("acme");
      req.set_uid(absl::StrCat("g", i));
      v1::GetChallengeStatusResponse resp;
      note(absl::StrCat("GetChallengeStatus g", i),
           Call(s->gm.get(), &v1::GameMechanics::Stub::GetChallengeStatus, acme, req, &resp), resp);
      v1::GetActionsLogRequest lreq;
      lreq.set_tenant("acme");
      lreq.set_uid(absl::StrCat("g", i));
      lreq.set_page_size(100);
      v1::GetActionsLogResponse lresp;
      note(absl::StrCat("GetActionsLog g", i),
           Call(s->gm.get(), &v1::GameMechanics::Stub::GetActionsLog, acme, lreq, &lresp), lresp);
    }
    for (const char* challenge : {"_default", "ch2"}) {
      for (v1::Period period : {v1::PERIOD_ALL, v1::PERIOD_DAYS7}) {
        v1::GetTopUsersRequest req;
        req.set_tenant("acme");
        req.set_challenge_id(challenge);
        req.set_total_count(100);
        req.set_period(period);
        req.set_uid("g299");
        v1::GetTopUsersResponse resp;
        note(absl::StrCat("GetTopUsers ", challenge, " ", period),
             Call(s->gm.get(), &v1::GameMechanics::Stub::GetTopUsers, acme, req, &resp), resp);
      }
    }
    // Authentication with the tenants' secrets as stored (sealed with the secrets key).
    for (const auto& [what, cred] :
         {std::pair<std::string, Credential>{"acme", acme},
          {"beta", Tenant("beta")},
          {"beta revoked", Bearer(absl::StrCat("beta:", revoked_beta_secret_))},
          {"acme wrong", Bearer("acme:not-the-secret-of-acme-at-all-000000000000")},
          {"acme as beta", Bearer(absl::StrCat("beta:", secrets_.at("acme")))}}) {
      v1::GetRegisteredCountersRequest req;
      req.set_tenant(what == "acme as beta" ? "beta" : what.substr(0, 4));
      v1::GetRegisteredCountersResponse resp;
      note(absl::StrCat("auth ", what),
           Call(s->counters.get(), &v1::Counters::Stub::GetRegisteredCounters, cred, req, &resp),
           resp);
    }
    return out;
  }

  void ExpectSameAnswers(const std::vector<std::string>& want,
                         const std::vector<std::string>& got) {
    ASSERT_EQ(want.size(), got.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "answer " << i;
  }

  // Fills a RocksDB countd, restarts it and records its answers (as read from its data: a
  // tenant's times are kept in microseconds, and the registry that created it still holds
  // nanoseconds until a restart), leaving it running in `rocks`.
  void FillAndRestart(Server* rocks) {
    ASSERT_NO_FATAL_FAILURE(Start(rocks));
    ASSERT_NO_FATAL_FAILURE(Fill(rocks));
    ASSERT_NO_FATAL_FAILURE(Stop(rocks));
    ASSERT_NO_FATAL_FAILURE(Start(rocks));
    rocks_answers_ = Answers(rocks);
  }

  void FillAndStop() {
    Server rocks;
    ASSERT_NO_FATAL_FAILURE(FillAndRestart(&rocks));
    ASSERT_NO_FATAL_FAILURE(Stop(&rocks));
  }

  test::ScopedTempDir dir_;
  Cluster cluster_;
  std::string token_, token_file_, key_file_, data_dir_;
  std::map<std::string, std::string> secrets_;
  std::string revoked_beta_secret_;
  std::string stash_day_;
  std::vector<std::string> rocks_answers_;
};

// The report line of `table` in a report: "<table> <n> <n> <n>".
MATCHER_P2(ReportsTable, table, first_column,
           absl::StrCat("reports ", first_column, " records of table ", table)) {
  for (absl::string_view line : absl::StrSplit(arg, '\n')) {
    std::vector<absl::string_view> cols = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (cols.size() == 4 && cols[0] == table) return cols[1] == absl::StrCat(first_column);
  }
  return false;
}

TEST_F(MigrateE2eTest, MovesANodeIntoTheClusterWhichAnswersEveryReadAlike) {
  Server rocks;
  ASSERT_NO_FATAL_FAILURE(FillAndRestart(&rocks));
  const std::string prefix = FreshPrefix("main");

  // Refused while a countd has the data dir open: its data would change under the copy.
  RunResult busy = Migrate(prefix);
  EXPECT_EQ(busy.code, 1) << Describe(busy);
  EXPECT_THAT(busy.err, HasSubstr("is open in another process")) << Describe(busy);
  ASSERT_NO_FATAL_FAILURE(Stop(&rocks));
  const std::map<std::string, std::string> before = Snapshot(data_dir_);

  RunResult first = Migrate(prefix);
  ASSERT_EQ(first.code, 0) << Describe(first);
  EXPECT_THAT(first.out, HasSubstr("copy: complete;")) << first.out;
  EXPECT_THAT(first.out, HasSubstr("verify: OK")) << first.out;
  // Every top-K counter and 7-day leaderboard was rebuilt and compared.
  EXPECT_THAT(first.out, HasSubstr("rankings rebuilt: 2 Tally top-K counters, 2 GameMechanics"))
      << first.out;
  EXPECT_THAT(first.out, HasSubstr("rankings: 4 checked")) << first.out;
  EXPECT_THAT(first.out, ReportsTable("stash", kVisitors)) << first.out;
  EXPECT_THAT(first.out, ReportsTable("gm_daily", kGmUsers * 2)) << first.out;
  EXPECT_THAT(first.out, ReportsTable("totals", kSignalsUsers * 2 + 1)) << first.out;
  // No key bytes (uids, visitor ids) in anything it printed.
  EXPECT_THAT(first.out + first.err, Not(HasSubstr("item1")));
  EXPECT_THAT(first.out + first.err, Not(HasSubstr("token-1")));

  // Again: complete already, verified again.
  RunResult again = Migrate(prefix);
  ASSERT_EQ(again.code, 0) << Describe(again);
  EXPECT_THAT(again.out, HasSubstr("complete already")) << again.out;
  EXPECT_THAT(again.out, HasSubstr("verify: OK")) << again.out;
  // And over again from the start: the same data (Puts are idempotent, rankings rebuilt).
  RunResult restarted = Migrate(prefix, {"--restart"});
  ASSERT_EQ(restarted.code, 0) << Describe(restarted);
  EXPECT_THAT(restarted.out, HasSubstr("copy: complete;")) << restarted.out;
  EXPECT_THAT(restarted.out, HasSubstr("verify: OK")) << restarted.out;
  RunResult verified = Migrate(prefix, {"--verify-only"});
  ASSERT_EQ(verified.code, 0) << Describe(verified);
  EXPECT_THAT(verified.out, Not(HasSubstr("copy:")));

  // The source was only read.
  EXPECT_EQ(Snapshot(data_dir_), before);

  Server on_cluster;
  ASSERT_NO_FATAL_FAILURE(Start(&on_cluster, prefix));
  ExpectSameAnswers(rocks_answers_, Answers(&on_cluster));

  // The request_ids came along: retries are answered without being applied again.
  for (int i : {0, 7, kSignalsUsers - 1}) {
    EXPECT_THAT(IncrementSignals(&on_cluster, absl::StrCat("u", i), absl::StrCat("r-", i), i),
                IsOk());
  }
  v1::NotifyActionResponse retried;
  EXPECT_THAT(Notify(&on_cluster, "g5", "login", "n-5", &retried), IsOk());
  ExpectSameAnswers(rocks_answers_, Answers(&on_cluster));
  // ... while new writes are applied on the cluster.
  EXPECT_THAT(Notify(&on_cluster, "g5", "login", "n-new"), IsOk());
  EXPECT_NE(Answers(&on_cluster), rocks_answers_);
  ASSERT_NO_FATAL_FAILURE(Stop(&on_cluster));
}

TEST_F(MigrateE2eTest, ResumesARunStoppedInStepsOrKilledAndEndsWithTheSameData) {
  ASSERT_NO_FATAL_FAILURE(FillAndStop());

  // In steps of 7 partitions: every run but the last stops with exit code 3 and continues.
  const std::string stepped = FreshPrefix("steps");
  int runs = 0;
  RunResult r;
  do {
    r = Migrate(stepped, {"--max-partitions=7"});
    ++runs;
    if (r.code == 3) {
      EXPECT_THAT(r.out, HasSubstr("copy: stopped before the end")) << r.out;
      EXPECT_THAT(r.err, HasSubstr("run again to continue")) << r.err;
      EXPECT_THAT(r.out, Not(HasSubstr("verify:"))) << r.out;
    }
    if (runs > 1 && r.code != -1) {
      EXPECT_THAT(r.out, HasSubstr("(resumed an earlier run)")) << r.out;
    }
  } while (r.code == 3 && runs < 100);
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_GT(runs, 5);
  EXPECT_THAT(r.out, HasSubstr("verify: OK")) << r.out;
  // The totals over all runs count every record once.
  EXPECT_THAT(r.out, ::testing::ContainsRegex("gm_daily +[0-9]+ +0 +600\n")) << r.out;

  // Killed at some point of the copy (wherever the kill lands), then run again.
  const std::string killed = FreshPrefix("killed");
  {
    ServerProcessOptions options;
    options.data_dir = data_dir_;
    options.wait_for_http = false;
    options.extra_args = {"migrate-to-redis"};
    for (const std::string& a : RedisArgs(killed)) options.extra_args.push_back(a);
    absl::StatusOr<std::unique_ptr<ServerProcess>> p = ServerProcess::Launch(options);
    ASSERT_TRUE(p.ok()) << p.status();
    // Wait until it copied its first tables, then kill it.
    const absl::Time deadline = absl::Now() + kRunTimeout;
    while (!absl::StrContains((*p)->stderr_text(), "table daily:") && absl::Now() < deadline &&
           !(*p)->WaitForExit(absl::Milliseconds(5)).has_value()) {
    }
    (*p)->Kill();
  }
  RunResult resumed = Migrate(killed);
  ASSERT_EQ(resumed.code, 0) << Describe(resumed);
  EXPECT_THAT(resumed.out, HasSubstr("verify: OK")) << resumed.out;

  for (const std::string& prefix : {stepped, killed}) {
    Server on_cluster;
    ASSERT_NO_FATAL_FAILURE(Start(&on_cluster, prefix));
    ExpectSameAnswers(rocks_answers_, Answers(&on_cluster));
    ASSERT_NO_FATAL_FAILURE(Stop(&on_cluster));
  }
}

TEST_F(MigrateE2eTest, VerificationFailsNamingTheTableOfATamperedRecordOrRanking) {
  ASSERT_NO_FATAL_FAILURE(FillAndStop());
  const std::string prefix = FreshPrefix("tamper");
  RunResult first = Migrate(prefix);
  ASSERT_EQ(first.code, 0) << Describe(first);

  storage::redis::RedisStoreOptions options;
  options.client.seeds = cluster_.Nodes();
  std::ifstream pw(cluster_.password_file);
  std::getline(pw, options.client.password);
  options.key_prefix = prefix;
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::redis::OpenRedisClusterStore(options);
  ASSERT_TRUE(store.ok()) << store.status();

  // One Signals total changed.
  const storage::Partition user = storage::keys::SignalsUserPartition("acme", 'u', "u7");
  storage::WriteBatch record(user);
  storage::CounterCell cell;
  cell.count = 999;
  record.Put(storage::Table::kTotals,
             storage::keys::SignalsCounterKey(storage::keys::SignalsUserPrefix("acme", 'u', "u7"),
                                              "c", "/b"),
             storage::EncodeCounterCell(cell));
  ASSERT_TRUE((*store)->Write(record).ok());
  RunResult tampered = Migrate(prefix, {"--verify-only"});
  EXPECT_EQ(tampered.code, 1) << Describe(tampered);
  const std::string hash =
      absl::StrCat("{", absl::Hex(storage::keys::Fnv1a64(user.id()), absl::kZeroPad16), "}");
  EXPECT_THAT(tampered.out, HasSubstr(absl::StrCat("mismatch: table totals, partition ", hash,
                                                   ": the counter differs")))
      << tampered.out;
  EXPECT_THAT(tampered.out, HasSubstr("verify: FAILED, 1 mismatches")) << tampered.out;
  EXPECT_THAT(tampered.out,
              ::testing::ContainsRegex(absl::StrCat("totals +", kSignalsUsers * 2 + 1, " +0 +1\n")))
      << tampered.out;
  EXPECT_THAT(tampered.out, Not(HasSubstr("u7")));

  // Copying again (the progress says complete: --restart) mends it; then one 7-day
  // leaderboard gets points no daily bucket holds.
  RunResult mended = Migrate(prefix, {"--restart"});
  ASSERT_EQ(mended.code, 0) << Describe(mended);
  storage::WriteBatch ranked(storage::keys::TenantPartition("acme"));
  logic::AddGmWeekRanked(&ranked, "ch2", "g3", storage::keys::DayIndex(absl::Now()), 1000,
                         absl::Now());
  ASSERT_TRUE((*store)->Write(ranked).ok());
  RunResult ranking = Migrate(prefix, {"--verify-only"});
  EXPECT_EQ(ranking.code, 1) << Describe(ranking);
  EXPECT_THAT(ranking.out, HasSubstr("mismatch: table gm_daily, partition {")) << ranking.out;
  EXPECT_THAT(ranking.out, HasSubstr("a GameMechanics 7-day leaderboard differs from entry 1 on"))
      << ranking.out;
  EXPECT_THAT(ranking.out, HasSubstr("rankings: 4 checked")) << ranking.out;
  EXPECT_THAT(ranking.out, HasSubstr(", 1 differ")) << ranking.out;
}

TEST_F(MigrateE2eTest, RefusesBadInvocationsClearly) {
  ASSERT_NO_FATAL_FAILURE(FillAndStop());
  const std::string prefix = FreshPrefix("refuse");

  RunResult no_nodes = Migrate(prefix, {}, /*with_redis=*/false);
  EXPECT_EQ(no_nodes.code, 2) << Describe(no_nodes);
  EXPECT_THAT(no_nodes.err, HasSubstr("--redis-nodes: is required")) << no_nodes.err;

  RunResult both = Migrate(prefix, {"--verify-only", "--restart"});
  EXPECT_EQ(both.code, 2) << Describe(both);
  EXPECT_THAT(both.err, HasSubstr("--verify-only")) << both.err;

  RunResult negative = Migrate(prefix, {"--max-partitions=-1"});
  EXPECT_EQ(negative.code, 2) << Describe(negative);

  RunResult extra = Migrate(prefix, {"now"});
  EXPECT_EQ(extra.code, 2) << Describe(extra);
  EXPECT_THAT(extra.err, HasSubstr("unexpected argument \"now\"")) << extra.err;

  RunResult missing = Migrate(prefix, {"--data-dir=" + dir_.Sub("no-such-dir")});
  EXPECT_EQ(missing.code, 1) << Describe(missing);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("no-such-dir")));

  // The server refuses the command's flags.
  ServerProcessOptions server;
  server.data_dir = data_dir_;
  server.extra_args = {"--max-partitions=3"};
  EXPECT_THAT(ExpectRefusedStart(server), HasSubstr("--max-partitions: is a flag of"));

  // A cluster prefix holding another source's progress is not resumed from this one.
  RunResult partial = Migrate(prefix, {"--max-partitions=1"});
  ASSERT_EQ(partial.code, 3) << Describe(partial);
  const std::string copy = dir_.Sub("copy");
  std::filesystem::copy(data_dir_, copy, std::filesystem::copy_options::recursive);
  RunResult other = Migrate(prefix, {"--data-dir=" + copy});
  EXPECT_EQ(other.code, 1) << Describe(other);
  EXPECT_THAT(other.err, HasSubstr("use --restart")) << other.err;
  RunResult restarted = Migrate(prefix, {"--data-dir=" + copy, "--restart"});
  EXPECT_EQ(restarted.code, 0) << Describe(restarted);
}

}  // namespace
}  // namespace countd::e2e
