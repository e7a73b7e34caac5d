// storage/redis_cluster/slots.h — Redis Cluster key hashing (CRC16 and hash tags) and the slot
// map parsed from a CLUSTER SLOTS reply.
#ifndef COUNTD_STORAGE_REDIS_CLUSTER_SLOTS_H_
#define COUNTD_STORAGE_REDIS_CLUSTER_SLOTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/redis_cluster/reply.h"

namespace countd::storage::redis {

inline constexpr int kNumSlots = 16384;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0, no reflection, no final xor), the
// checksum Redis Cluster hashes keys with. Crc16("123456789") == 0x31C3.
uint16_t Crc16(absl::string_view data);

// The part of `key` that is hashed: the text between the first '{' and the first '}' after it
// when that text is non-empty, otherwise the whole key (Redis Cluster spec, "hash tags").
absl::string_view HashTag(absl::string_view key);

// The cluster slot (0..16383) of `key`: Crc16(HashTag(key)) % 16384.
int KeyHashSlot(absl::string_view key);

// A cluster node as CLUSTER SLOTS names it.
struct NodeAddress {
  std::string host;
  int port = 0;
  std::string id;  // may be empty

  std::string HostPort() const;  // "host:port"
  friend bool operator==(const NodeAddress& a, const NodeAddress& b) {
    return a.host == b.host && a.port == b.port;
  }
};

// Parses "host:port". Errors: INVALID_ARGUMENT when the port is missing or not in 1..65535.
absl::StatusOr<NodeAddress> ParseHostPort(absl::string_view text);

// A contiguous range of slots served by one master (and its replicas).
struct SlotRange {
  int first = 0;
  int last = 0;  // inclusive
  NodeAddress master;
  std::vector<NodeAddress> replicas;
};

// Which master serves each slot. An immutable value once built; safe to read concurrently.
class SlotMap {
 public:
  SlotMap() = default;

  // Builds the map from a CLUSTER SLOTS reply. A node reported with an empty host (Redis does this
  // when it does not know its own address) gets `answering_host`, the host that was asked.
  // Errors: INTERNAL when the reply does not have the documented shape (not an array, a range
  // outside 0..16383 or reversed, a node without host and port, overlapping ranges).
  static absl::StatusOr<SlotMap> FromClusterSlots(const Reply& reply,
                                                  absl::string_view answering_host);

  // The range holding `slot`, or nullptr when no master serves it (the map is partial).
  const SlotRange* Find(int slot) const;

  // Each master once, in slot order.
  std::vector<NodeAddress> Masters() const;

  // True when every slot 0..16383 has a master.
  bool CoversAllSlots() const;

  const std::vector<SlotRange>& ranges() const { return ranges_; }  // sorted by `first`

 private:
  std::vector<SlotRange> ranges_;
};

}  // namespace countd::storage::redis

#endif  // COUNTD_STORAGE_REDIS_CLUSTER_SLOTS_H_
