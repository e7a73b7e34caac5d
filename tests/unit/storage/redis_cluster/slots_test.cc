#include "storage/redis_cluster/slots.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace countd::storage::redis {
namespace {

TEST(Crc16Test, MatchesTheXmodemCheckValue) { EXPECT_EQ(Crc16("123456789"), 0x31C3); }

TEST(Crc16Test, EmptyInputIsZero) { EXPECT_EQ(Crc16(""), 0); }

TEST(KeyHashSlotTest, MatchesSlotsRedisReports) {
  // Values from CLUSTER KEYSLOT on redis 7.0.
  EXPECT_EQ(KeyHashSlot("foo"), 12182);
  EXPECT_EQ(KeyHashSlot("bar"), 5061);
  EXPECT_EQ(KeyHashSlot(""), 0);
}

TEST(KeyHashSlotTest, KeysWithTheSameHashTagShareASlot) {
  EXPECT_EQ(KeyHashSlot("{user1000}.following"), KeyHashSlot("{user1000}.followers"));
  EXPECT_EQ(KeyHashSlot("{user1000}.following"), KeyHashSlot("user1000"));
}

TEST(KeyHashSlotTest, EmptyTagHashesTheWholeKey) {
  EXPECT_EQ(HashTag("foo{}{bar}"), "foo{}{bar}");
  EXPECT_EQ(KeyHashSlot("foo{}{bar}"), Crc16("foo{}{bar}") % kNumSlots);
}

TEST(KeyHashSlotTest, TagEndsAtTheFirstCloseBraceAfterTheFirstOpenBrace) {
  EXPECT_EQ(HashTag("foo{{bar}}zap"), "{bar");
  EXPECT_EQ(KeyHashSlot("foo{{bar}}zap"), KeyHashSlot("{bar"));
}

TEST(KeyHashSlotTest, OnlyTheFirstTagCounts) {
  EXPECT_EQ(HashTag("foo{bar}{zap}"), "bar");
  EXPECT_EQ(KeyHashSlot("foo{bar}{zap}"), KeyHashSlot("bar"));
}

TEST(KeyHashSlotTest, UnclosedBraceHashesTheWholeKey) {
  EXPECT_EQ(HashTag("foo{bar"), "foo{bar");
  EXPECT_EQ(HashTag("foo}bar{"), "foo}bar{");
}

TEST(KeyHashSlotTest, BinaryKeysHash) {
  std::string key("a\0b", 3);
  EXPECT_EQ(KeyHashSlot(key), Crc16(key) % kNumSlots);
  EXPECT_NE(KeyHashSlot(key), KeyHashSlot("a"));
}

TEST(ParseHostPortTest, ParsesHostAndPort) {
  absl::StatusOr<NodeAddress> a = ParseHostPort("127.0.0.1:30001");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 30001);
  EXPECT_EQ(a->HostPort(), "127.0.0.1:30001");
}

TEST(ParseHostPortTest, RejectsMissingOrBadPorts) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":80", "h:0", "h:65536", "h:x"}) {
    EXPECT_EQ(ParseHostPort(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

Reply Node(const std::string& host, int64_t port, const std::string& id) {
  return Reply::Array({Reply::String(host), Reply::Integer(port), Reply::String(id)});
}

Reply Range(int64_t first, int64_t last, std::vector<Reply> nodes) {
  std::vector<Reply> e = {Reply::Integer(first), Reply::Integer(last)};
  for (Reply& n : nodes) e.push_back(std::move(n));
  return Reply::Array(std::move(e));
}

Reply ThreeMasters() {
  // Out of order, as Redis may send them.
  return Reply::Array({
      Range(10923, 16383, {Node("10.0.0.3", 7002, "c"), Node("10.0.0.6", 7005, "f")}),
      Range(0, 5460, {Node("10.0.0.1", 7000, "a"), Node("10.0.0.4", 7003, "d")}),
      Range(5461, 10922, {Node("10.0.0.2", 7001, "b"), Node("10.0.0.5", 7004, "e")}),
  });
}

TEST(SlotMapTest, FindsTheMasterOfEverySlot) {
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(ThreeMasters(), "seed");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_TRUE(map->CoversAllSlots());
  ASSERT_NE(map->Find(0), nullptr);
  EXPECT_EQ(map->Find(0)->master.port, 7000);
  EXPECT_EQ(map->Find(5460)->master.port, 7000);
  EXPECT_EQ(map->Find(5461)->master.port, 7001);
  EXPECT_EQ(map->Find(10922)->master.id, "b");
  EXPECT_EQ(map->Find(10923)->master.host, "10.0.0.3");
  EXPECT_EQ(map->Find(16383)->master.port, 7002);
  EXPECT_EQ(map->Find(16384), nullptr);
  EXPECT_EQ(map->Find(-1), nullptr);
}

TEST(SlotMapTest, KeepsReplicas) {
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(ThreeMasters(), "seed");
  ASSERT_TRUE(map.ok());
  const SlotRange* r = map->Find(6000);
  ASSERT_EQ(r->replicas.size(), 1u);
  EXPECT_EQ(r->replicas[0].HostPort(), "10.0.0.5:7004");
  EXPECT_EQ(r->replicas[0].id, "e");
}

TEST(SlotMapTest, ListsEachMasterOnceInSlotOrder) {
  Reply reply = Reply::Array({
      Range(0, 99, {Node("h", 1, "a")}),
      Range(100, 199, {Node("h", 2, "b")}),
      Range(200, 16383, {Node("h", 1, "a")}),
  });
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(reply, "seed");
  ASSERT_TRUE(map.ok());
  std::vector<NodeAddress> masters = map->Masters();
  ASSERT_EQ(masters.size(), 2u);
  EXPECT_EQ(masters[0].port, 1);
  EXPECT_EQ(masters[1].port, 2);
  EXPECT_EQ(map->Find(150)->master.port, 2);
  EXPECT_EQ(map->Find(150)->first, 100);
  EXPECT_EQ(map->Find(150)->last, 199);
}

TEST(SlotMapTest, PartialMapLeavesHoles) {
  Reply reply =
      Reply::Array({Range(0, 99, {Node("h", 1, "a")}), Range(200, 300, {Node("h", 2, "")})});
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(reply, "seed");
  ASSERT_TRUE(map.ok());
  EXPECT_FALSE(map->CoversAllSlots());
  EXPECT_EQ(map->Find(150), nullptr);
  EXPECT_EQ(map->Find(301), nullptr);
  EXPECT_EQ(map->Find(200)->master.id, "");
}

TEST(SlotMapTest, EmptyHostMeansTheAnsweringNode) {
  Reply reply = Reply::Array({Range(0, 16383, {Node("", 7000, "a")})});
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(reply, "127.0.0.1");
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(map->Find(1)->master.HostPort(), "127.0.0.1:7000");
}

TEST(SlotMapTest, AcceptsNodesWithoutIdOrWithMetadata) {
  // Redis 7 adds a fourth element (a map of hostname etc.) to each node.
  Reply with_meta =
      Reply::Array({Reply::String("h"), Reply::Integer(1), Reply::String("a"), Reply::Array({})});
  Reply reply = Reply::Array(
      {Range(0, 16383, {with_meta, Reply::Array({Reply::String("r"), Reply::Integer(2)})})});
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(reply, "seed");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->Find(0)->master.id, "a");
  EXPECT_EQ(map->Find(0)->replicas[0].id, "");
}

TEST(SlotMapTest, EmptyReplyIsAnEmptyMap) {
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(Reply::Array({}), "seed");
  ASSERT_TRUE(map.ok());
  EXPECT_TRUE(map->ranges().empty());
  EXPECT_FALSE(map->CoversAllSlots());
  EXPECT_TRUE(map->Masters().empty());
}

TEST(SlotMapTest, RejectsMalformedReplies) {
  std::vector<std::pair<const char*, Reply>> cases = {
      {"not an array", Reply::Error("ERR This instance has cluster support disabled")},
      {"entry not an array", Reply::Array({Reply::Integer(1)})},
      {"entry too short", Reply::Array({Reply::Array({Reply::Integer(0), Reply::Integer(1)})})},
      {"slot not integer",
       Reply::Array({Reply::Array({Reply::String("0"), Reply::Integer(1), Node("h", 1, "a")})})},
      {"reversed range", Reply::Array({Range(10, 5, {Node("h", 1, "a")})})},
      {"slot too high", Reply::Array({Range(0, 16384, {Node("h", 1, "a")})})},
      {"negative slot", Reply::Array({Range(-1, 5, {Node("h", 1, "a")})})},
      {"node not array", Reply::Array({Range(0, 5, {Reply::String("h:1")})})},
      {"port not integer",
       Reply::Array({Range(0, 5, {Reply::Array({Reply::String("h"), Reply::String("1")})})})},
      {"port zero", Reply::Array({Range(0, 5, {Node("h", 0, "a")})})},
      {"bad replica", Reply::Array({Range(0, 5, {Node("h", 1, "a"), Reply::Nil()})})},
      {"overlap",
       Reply::Array({Range(0, 100, {Node("h", 1, "a")}), Range(100, 200, {Node("h", 2, "b")})})},
  };
  for (const auto& [name, reply] : cases) {
    absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(reply, "seed");
    EXPECT_EQ(map.status().code(), absl::StatusCode::kInternal) << name;
  }
}

}  // namespace
}  // namespace countd::storage::redis
