#include "storage/redis_cluster/slots.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace countd::storage::redis {

uint16_t Crc16(absl::string_view data) {
  // Bitwise rather than table-driven: keys are short and this stays obviously correct.
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc ^= static_cast<uint16_t>(c) << 8;
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

absl::string_view HashTag(absl::string_view key) {
  size_t open = key.find('{');
  if (open == absl::string_view::npos) return key;
  size_t close = key.find('}', open + 1);
  if (close == absl::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

int KeyHashSlot(absl::string_view key) { return Crc16(HashTag(key)) & (kNumSlots - 1); }

std::string NodeAddress::HostPort() const { return absl::StrCat(host, ":", port); }

absl::StatusOr<NodeAddress> ParseHostPort(absl::string_view text) {
  size_t colon = text.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(text.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("want host:port with a port in 1..65535, got \"", text, "\""));
  }
  NodeAddress a;
  a.host = std::string(text.substr(0, colon));
  a.port = port;
  return a;
}

namespace {

absl::Status Malformed(absl::string_view why) {
  return absl::InternalError(absl::StrCat("malformed CLUSTER SLOTS reply: ", why));
}

absl::StatusOr<NodeAddress> ParseNode(const Reply& r, absl::string_view answering_host) {
  if (r.type != Reply::Type::kArray || r.elements.size() < 2 ||
      r.elements[0].type != Reply::Type::kString || r.elements[1].type != Reply::Type::kInteger) {
    return Malformed("a node is not [host, port, ...]");
  }
  NodeAddress a;
  a.host = r.elements[0].str.empty() ? std::string(answering_host) : r.elements[0].str;
  if (r.elements[1].integer < 1 || r.elements[1].integer > 65535) return Malformed("bad port");
  a.port = static_cast<int>(r.elements[1].integer);
  if (r.elements.size() >= 3 && r.elements[2].type == Reply::Type::kString) {
    a.id = r.elements[2].str;
  }
  return a;
}

}  // namespace

absl::StatusOr<SlotMap> SlotMap::FromClusterSlots(const Reply& reply,
                                                  absl::string_view answering_host) {
  if (reply.type != Reply::Type::kArray) return Malformed("not an array");
  SlotMap map;
  for (const Reply& entry : reply.elements) {
    if (entry.type != Reply::Type::kArray || entry.elements.size() < 3 ||
        entry.elements[0].type != Reply::Type::kInteger ||
        entry.elements[1].type != Reply::Type::kInteger) {
      return Malformed("an entry is not [first, last, master, replicas...]");
    }
    SlotRange range;
    int64_t first = entry.elements[0].integer, last = entry.elements[1].integer;
    if (first < 0 || last >= kNumSlots || first > last) {
      return Malformed(absl::StrCat("slot range ", first, "-", last));
    }
    range.first = static_cast<int>(first);
    range.last = static_cast<int>(last);
    absl::StatusOr<NodeAddress> master = ParseNode(entry.elements[2], answering_host);
    if (!master.ok()) return master.status();
    range.master = *std::move(master);
    for (size_t i = 3; i < entry.elements.size(); ++i) {
      absl::StatusOr<NodeAddress> replica = ParseNode(entry.elements[i], answering_host);
      if (!replica.ok()) return replica.status();
      range.replicas.push_back(*std::move(replica));
    }
    map.ranges_.push_back(std::move(range));
  }
  std::sort(map.ranges_.begin(), map.ranges_.end(),
            [](const SlotRange& a, const SlotRange& b) { return a.first < b.first; });
  for (size_t i = 1; i < map.ranges_.size(); ++i) {
    if (map.ranges_[i].first <= map.ranges_[i - 1].last) {
      return Malformed(absl::StrCat("ranges overlap at slot ", map.ranges_[i].first));
    }
  }
  return map;
}

const SlotRange* SlotMap::Find(int slot) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), slot,
                             [](int s, const SlotRange& r) { return s < r.first; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  return slot <= it->last ? &*it : nullptr;
}

std::vector<NodeAddress> SlotMap::Masters() const {
  std::vector<NodeAddress> out;
  for (const SlotRange& r : ranges_) {
    if (std::find(out.begin(), out.end(), r.master) == out.end()) out.push_back(r.master);
  }
  return out;
}

bool SlotMap::CoversAllSlots() const {
  int next = 0;
  for (const SlotRange& r : ranges_) {
    if (r.first != next) return false;
    next = r.last + 1;
  }
  return next == kNumSlots;
}

}  // namespace countd::storage::redis
