// ClusterClient against a real 6-node Redis Cluster (3 masters, 3 replicas) on loopback, started
// with a password by the CTest fixture redis_cluster (scripts/redis-cluster.sh).
#include "storage/redis_cluster/cluster_client.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace countd::storage::redis {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

int BasePort() {
  std::ifstream in(std::string(REDIS_CLUSTER_DIR) + "/baseport");
  int port = 0;
  in >> port;
  return port;
}

std::string Seeds() { return absl::StrCat("127.0.0.1:", BasePort()); }

ClusterClientOptions Options() {
  ClusterClientOptions o;
  o.seeds = Seeds();
  o.password = REDIS_CLUSTER_PASSWORD;
  return o;
}

Command Cmd(std::vector<std::string> args, std::vector<size_t> keys) {
  return Command(std::move(args), std::move(keys));
}
Command Set(const std::string& k, const std::string& v) { return Cmd({"SET", k, v}, {1}); }
Command Get(const std::string& k) { return Cmd({"GET", k}, {1}); }

// A command straight to one node, bypassing the client (to set up migrations).
std::string Raw(int port, const std::vector<std::string>& args) {
  redisContext* c = redisConnect("127.0.0.1", port);
  EXPECT_TRUE(c != nullptr && c->err == 0);
  redisReply* auth = static_cast<redisReply*>(redisCommand(c, "AUTH %s", REDIS_CLUSTER_PASSWORD));
  freeReplyObject(auth);
  std::vector<const char*> argv;
  std::vector<size_t> len;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    len.push_back(a.size());
  }
  redisReply* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), len.data()));
  std::string out;
  if (r == nullptr) {
    out = "<transport error>";
  } else if (r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; ++i) {
      out += std::string(r->element[i]->str, r->element[i]->len) + "\n";
    }
  } else if (r->type == REDIS_REPLY_INTEGER) {
    out = absl::StrCat(r->integer);
  } else if (r->str != nullptr) {
    out = std::string(r->str, r->len);
  }
  freeReplyObject(r);
  redisFree(c);
  return out;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t n = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  close(fd);
  return ntohs(a.sin_port);
}

class ClusterClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(BasePort(), 0) << "no cluster: run through ctest (fixture redis_cluster)";
    absl::StatusOr<std::unique_ptr<ClusterClient>> c = ClusterClient::Connect(Options());
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
  }

  // Moves `slot` from its master to another master the way redis-cli --cluster reshard does.
  // When `finish` is false the slot is left MIGRATING/IMPORTING after moving `keys_to_move`.
  void Migrate(int slot, const std::vector<std::string>& keys_to_move, bool finish) {
    ASSERT_TRUE(client_->RefreshSlotMap().ok());
    SlotMap map = client_->slot_map();
    NodeAddress from = map.Find(slot)->master;
    NodeAddress to;
    for (const NodeAddress& m : map.Masters()) {
      if (!(m == from)) to = m;
    }
    ASSERT_EQ(Raw(to.port, {"CLUSTER", "SETSLOT", absl::StrCat(slot), "IMPORTING", from.id}), "OK");
    ASSERT_EQ(Raw(from.port, {"CLUSTER", "SETSLOT", absl::StrCat(slot), "MIGRATING", to.id}), "OK");
    for (const std::string& k : keys_to_move) {
      ASSERT_EQ(Raw(from.port, {"MIGRATE", "127.0.0.1", absl::StrCat(to.port), k, "0", "5000",
                                "AUTH", REDIS_CLUSTER_PASSWORD}),
                "OK");
    }
    if (!finish) return;
    // Every other key of the slot too (other tests write one key into every slot).
    for (absl::string_view k :
         absl::StrSplit(Raw(from.port, {"CLUSTER", "GETKEYSINSLOT", absl::StrCat(slot), "100000"}),
                        '\n', absl::SkipEmpty())) {
      ASSERT_EQ(Raw(from.port, {"MIGRATE", "127.0.0.1", absl::StrCat(to.port), std::string(k), "0",
                                "5000", "AUTH", REDIS_CLUSTER_PASSWORD}),
                "OK");
    }
    for (const NodeAddress& m : {to, from}) {
      ASSERT_EQ(Raw(m.port, {"CLUSTER", "SETSLOT", absl::StrCat(slot), "NODE", to.id}), "OK");
    }
    for (const NodeAddress& m : map.Masters()) {
      if (!(m == to) && !(m == from)) {
        Raw(m.port, {"CLUSTER", "SETSLOT", absl::StrCat(slot), "NODE", to.id});
      }
    }
  }

  std::unique_ptr<ClusterClient> client_;
};

TEST_F(ClusterClientTest, LoadsAFullMapOfThreeMasters) {
  SlotMap map = client_->slot_map();
  EXPECT_TRUE(map.CoversAllSlots());
  EXPECT_EQ(map.Masters().size(), 3u);
  EXPECT_TRUE(client_->Ping().ok());
}

TEST_F(ClusterClientTest, RoutesEverySlotToItsMasterAndReadsBackWrites) {
  // One key per slot. Every slot is read (a wrong route would show as a MOVED redirect); every
  // 16th is also written and read back (writes fsync: appendfsync always). The two slots that
  // the redirect tests move (maybe at the same time, under ctest -j) are left out.
  std::vector<std::string> key_of_slot(kNumSlots);
  int found = 0;
  for (int i = 0; found < kNumSlots; ++i) {
    std::string k = absl::StrCat("every:", i);
    std::string& slot_key = key_of_slot[KeyHashSlot(k)];
    if (slot_key.empty()) {
      slot_key = k;
      ++found;
    }
  }
  int reached = 0;
  for (int slot = 0; slot < kNumSlots; ++slot) {
    if (slot == KeyHashSlot("{moved}") || slot == KeyHashSlot("{ask}")) continue;
    ++reached;
    const std::string& k = key_of_slot[slot];
    if (slot % 16 == 0) {
      absl::StatusOr<std::vector<Reply>> r =
          client_->RunBatch({Set(k, absl::StrCat("v", slot)), Get(k)});
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ((*r)[0].str, "OK");
      ASSERT_EQ((*r)[1].str, absl::StrCat("v", slot));
    } else {
      absl::StatusOr<Reply> r = client_->Run(Cmd({"EXISTS", k}, {1}));
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->type, Reply::Type::kInteger) << r->str;
    }
  }
  ClusterClientStats s = client_->Stats();
  EXPECT_EQ(s.calls, reached);
  EXPECT_EQ(s.redirects_moved + s.redirects_ask, 0);
  EXPECT_EQ(s.connections_opened, 3);
  EXPECT_EQ(s.errors_unavailable + s.errors_timeout + s.errors_other + s.error_replies, 0);
  int64_t histogram = 0;
  for (int64_t b : s.latency_buckets) histogram += b;
  EXPECT_EQ(histogram, reached);
  EXPECT_GT(s.latency_sum_us, 0);
}

TEST_F(ClusterClientTest, BatchInOneSlotIsOnePipelineWithRepliesInOrder) {
  std::vector<Command> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(Cmd({"INCRBY", "{pipe}.n", "1"}, {1}));
  batch.push_back(Get("{pipe}.other"));
  ASSERT_TRUE(client_->Run(Cmd({"DEL", "{pipe}.n"}, {1})).ok());
  ClusterClientStats before = client_->Stats();
  absl::StatusOr<std::vector<Reply>> r = client_->RunBatch(batch);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 101u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ((*r)[i].integer, i + 1);
  EXPECT_TRUE((*r)[100].is_nil());
  ClusterClientStats after = client_->Stats();
  EXPECT_EQ(after.calls - before.calls, 1);
  EXPECT_EQ(after.commands - before.commands, 101);
}

TEST_F(ClusterClientTest, BatchAcrossSlotsIsRefusedAndNothingSent) {
  ASSERT_NE(KeyHashSlot("cross-a"), KeyHashSlot("cross-b"));
  ClusterClientStats before = client_->Stats();
  absl::StatusOr<std::vector<Reply>> r =
      client_->RunBatch({Set("cross-a", "1"), Set("cross-b", "2")});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Stats().commands, before.commands);
  EXPECT_EQ(client_->Stats().errors_other, before.errors_other + 1);
  absl::StatusOr<Reply> a = client_->Run(Get("cross-a"));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->is_nil());
}

TEST_F(ClusterClientTest, MultiKeyCommandAcrossSlotsIsRefused) {
  absl::StatusOr<Reply> r = client_->Run(Cmd({"MSET", "cross-a", "1", "cross-b", "2"}, {1, 3}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("hash tag"));
}

TEST_F(ClusterClientTest, MalformedCommandsAreInvalidArgument) {
  EXPECT_EQ(client_->Run(Cmd({}, {})).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Run(Cmd({"GET"}, {1})).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ClusterClientTest, RedisErrorRepliesAreValues) {
  ASSERT_TRUE(client_->Run(Set("wrongtype", "x")).ok());
  absl::StatusOr<Reply> r = client_->Run(Cmd({"LPUSH", "wrongtype", "y"}, {1}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->is_error());
  EXPECT_THAT(r->str, HasSubstr("WRONGTYPE"));
  EXPECT_EQ(client_->Stats().error_replies, 1);
}

TEST_F(ClusterClientTest, KeylessCommandsGoToAMaster) {
  absl::StatusOr<Reply> r = client_->Run(Cmd({"PING"}, {}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->str, "PONG");
}

TEST_F(ClusterClientTest, EvalShaFallsBackToEvalOnNoScript) {
  for (const NodeAddress& m : client_->slot_map().Masters()) {
    ASSERT_EQ(Raw(m.port, {"SCRIPT", "FLUSH"}), "OK");
  }
  Script script("return redis.call('INCRBY', KEYS[1], ARGV[1]) + redis.call('INCRBY', KEYS[2], 0)");
  std::vector<std::string> keys = {"{lua}.a", "{lua}.b"};
  ASSERT_TRUE(client_->Run(Cmd({"DEL", keys[0], keys[1]}, {1, 2})).ok());
  ASSERT_TRUE(client_->Run(Set(keys[1], "100")).ok());

  ClusterClientStats before = client_->Stats();
  absl::StatusOr<Reply> r = client_->Eval(script, keys, {"5"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->integer, 105);
  EXPECT_EQ(client_->Stats().commands - before.commands, 2);  // EVALSHA (NOSCRIPT), EVAL

  before = client_->Stats();
  r = client_->Eval(script, keys, {"5"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->integer, 110);
  EXPECT_EQ(client_->Stats().commands - before.commands, 1);  // EVALSHA only: now cached
}

TEST_F(ClusterClientTest, EvalRefusesKeysInDifferentSlots) {
  Script script("return 1");
  EXPECT_EQ(client_->Eval(script, {"cross-a", "cross-b"}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ClusterClientTest, ScriptShaIsSha1OfTheBody) {
  // redis-cli SCRIPT LOAD "return 1"
  EXPECT_EQ(Script("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST_F(ClusterClientTest, FollowsMovedAfterASlotMoves) {
  const std::string key = "{moved}.k";
  const int slot = KeyHashSlot(key);
  ASSERT_TRUE(client_->Run(Set(key, "before")).ok());
  NodeAddress old_owner = client_->slot_map().Find(slot)->master;

  // Another client moves the slot; this client's map is now stale.
  ASSERT_NO_FATAL_FAILURE(Migrate(slot, {key}, /*finish=*/true));

  ClusterClientStats before = client_->Stats();
  absl::StatusOr<Reply> r = client_->Run(Get(key));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->str, "before");
  ClusterClientStats after = client_->Stats();
  EXPECT_EQ(after.redirects_moved - before.redirects_moved, 1);
  EXPECT_FALSE(client_->slot_map().Find(slot)->master == old_owner);

  // The map learned: no second redirect.
  ASSERT_TRUE(client_->Run(Set(key, "after")).ok());
  EXPECT_EQ(client_->Stats().redirects_moved, after.redirects_moved);
  EXPECT_EQ(client_->Run(Get(key))->str, "after");
}

TEST_F(ClusterClientTest, FollowsAskDuringAMigration) {
  const std::string moved_key = "{ask}.moved", staying_key = "{ask}.staying";
  const int slot = KeyHashSlot(moved_key);
  ASSERT_TRUE(client_->RunBatch({Set(moved_key, "m"), Set(staying_key, "s")}).ok());

  ASSERT_NO_FATAL_FAILURE(
      Migrate(slot, {moved_key}, /*finish=*/false));  // slot MIGRATING, one key already moved

  ClusterClientStats before = client_->Stats();
  absl::StatusOr<std::vector<Reply>> r = client_->RunBatch({Get(moved_key), Get(staying_key)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].str, "m");
  EXPECT_EQ((*r)[1].str, "s");
  ClusterClientStats after = client_->Stats();
  EXPECT_EQ(after.redirects_ask - before.redirects_ask, 1);
  EXPECT_EQ(after.redirects_moved, before.redirects_moved);  // ASK does not change the map

  // A multi-key command whose keys are split by the migration gets TRYAGAIN: retried with
  // backoff, then UNAVAILABLE naming the reply.
  absl::StatusOr<Reply> split = client_->Run(Cmd({"MGET", moved_key, staying_key}, {1, 2}));
  EXPECT_EQ(split.status().code(), absl::StatusCode::kUnavailable) << split.status();
  EXPECT_THAT(split.status().message(), HasSubstr("TRYAGAIN"));
  EXPECT_EQ(client_->Stats().retries - after.retries, Options().max_retries);

  ASSERT_NO_FATAL_FAILURE(
      Migrate(slot, {staying_key}, /*finish=*/true));  // completes the move: finish it for others
  EXPECT_EQ(client_->Run(Get(staying_key))->str, "s");
}

TEST_F(ClusterClientTest, BlockedCommandTimesOutAsDeadlineExceeded) {
  ClusterClientOptions o = Options();
  o.command_timeout = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<ClusterClient>> c = ClusterClient::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<Reply> r = (*c)->Run(Cmd({"BLPOP", "{timeout}.empty", "5"}, {1}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_EQ((*c)->Stats().errors_timeout, 1);
  // The connection is reopened for the next call.
  absl::StatusOr<Reply> next = (*c)->Run(Get("{timeout}.empty"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(next->is_nil());
}

TEST_F(ClusterClientTest, ReconnectsWhenTheServerClosedAnIdleConnection) {
  // Keyless commands go to the master of the first slot range: name our connection there, then
  // kill exactly that connection (other tests may be using the same master under ctest -j).
  int port = client_->slot_map().ranges()[0].master.port;
  ASSERT_EQ(client_->Run(Cmd({"CLIENT", "SETNAME", "countd-idle-test"}, {}))->str, "OK");
  int64_t opened = client_->Stats().connections_opened;
  std::string id;
  for (absl::string_view line : absl::StrSplit(Raw(port, {"CLIENT", "LIST"}), '\n')) {
    if (!absl::StrContains(line, " name=countd-idle-test ")) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    id = std::string(absl::StripPrefix(fields[0], "id="));
  }
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(Raw(port, {"CLIENT", "KILL", "ID", id}), "1");
  absl::SleepFor(absl::Milliseconds(50));  // the FIN reaches our socket
  absl::StatusOr<Reply> r = client_->Run(Cmd({"PING"}, {}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->str, "PONG");
  EXPECT_EQ(client_->Stats().connections_opened, opened + 1);
}

TEST_F(ClusterClientTest, WrongPasswordIsUnauthenticatedWithoutThePassword) {
  ClusterClientOptions o = Options();
  o.password = "hunter2-wrong";
  absl::StatusOr<std::unique_ptr<ClusterClient>> c = ClusterClient::Connect(o);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnauthenticated) << c.status();
  EXPECT_THAT(c.status().message(), Not(HasSubstr("hunter2")));
}

TEST_F(ClusterClientTest, MissingPasswordIsUnauthenticated) {
  ClusterClientOptions o = Options();
  o.password.clear();
  absl::StatusOr<std::unique_ptr<ClusterClient>> c = ClusterClient::Connect(o);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnauthenticated) << c.status();
}

TEST_F(ClusterClientTest, DefaultUserWithAclAuthWorks) {
  ClusterClientOptions o = Options();
  o.username = "default";
  absl::StatusOr<std::unique_ptr<ClusterClient>> c = ClusterClient::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE((*c)->Ping().ok());
}

TEST_F(ClusterClientTest, RefusedSeedIsUnavailable) {
  ClusterClientOptions o = Options();
  o.seeds = absl::StrCat("127.0.0.1:", FreePort());
  absl::StatusOr<std::unique_ptr<ClusterClient>> c = ClusterClient::Connect(o);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
}

TEST_F(ClusterClientTest, OneReachableSeedIsEnough) {
  ClusterClientOptions o = Options();
  o.seeds = absl::StrCat("127.0.0.1:", FreePort(), ",", Seeds());
  absl::StatusOr<std::unique_ptr<ClusterClient>> c = ClusterClient::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->slot_map().Masters().size(), 3u);
}

TEST_F(ClusterClientTest, MalformedOptionsAreInvalidArgument) {
  ClusterClientOptions o = Options();
  o.seeds = "localhost";
  EXPECT_EQ(ClusterClient::Connect(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.seeds = "";
  EXPECT_EQ(ClusterClient::Connect(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Options();
  o.command_timeout = absl::ZeroDuration();
  EXPECT_EQ(ClusterClient::Connect(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ClusterClientTest, ConcurrentCallersShareConnections) {
  ASSERT_TRUE(client_->Run(Cmd({"DEL", "{conc}.n"}, {1})).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < 200; ++i) {
        absl::StatusOr<Reply> r = client_->Run(Cmd({"INCR", "{conc}.n"}, {1}));
        EXPECT_TRUE(r.ok()) << r.status();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(client_->Run(Get("{conc}.n"))->str, "1600");
  EXPECT_LE(client_->Stats().connections_opened, 3);
}

}  // namespace
}  // namespace countd::storage::redis
