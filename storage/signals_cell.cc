#include "storage/signals_cell.h"

#include <algorithm>

#include "storage/keys.h"

namespace countd::storage {
namespace {

constexpr char kTag = '\xC5';
constexpr char kPaddedTag = '\xC6';  // one 0 byte follows, then the entries

// Varints: 7 bits a byte, low groups first, the high bit set on every byte but the last.
template <typename U>
void PutVarint(U v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(static_cast<uint8_t>(v) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(static_cast<uint8_t>(v)));
}

// Reads a varint of at most sizeof(U) * 8 bits off the front of `in`; false when it is cut
// short, longer than U holds, or not in its shortest form.
template <typename U>
bool GetVarint(absl::string_view* in, U* v) {
  constexpr int kBits = sizeof(U) * 8;
  U out = 0;
  for (int shift = 0; shift < kBits; shift += 7) {
    if (in->empty()) return false;
    const uint8_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    const U group = static_cast<U>(byte & 0x7F);
    if (shift > 0 && byte == 0) return false;  // not the shortest form
    if (shift + 7 > kBits && (group >> (kBits - shift)) != 0) return false;  // too large
    out |= group << shift;
    if ((byte & 0x80) == 0) {
      *v = out;
      return true;
    }
  }
  return false;
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
absl::uint128 ZigZag(absl::int128 v) {
  return (static_cast<absl::uint128>(v) << 1) ^ static_cast<absl::uint128>(v >> 127);
}
template <typename S, typename U>
S UnZigZag(U u) {
  return static_cast<S>((u >> 1) ^ (~(u & 1) + 1));
}

// Buckets compare as their keys do (keys::WithBucket: unsigned big-endian), so a record's
// entries of one part are in the order of their logical keys.
bool Less(const SignalsEntry& a, const SignalsEntry& b) {
  if (a.part != b.part) return a.part < b.part;
  return static_cast<uint32_t>(a.bucket) < static_cast<uint32_t>(b.bucket);
}

// `newer`'s edit of a part applied after `older`'s.
SignalsEntry Compose(const SignalsEntry& older, const SignalsEntry& newer) {
  if (newer.edit != SignalsEdit::kAdd) return newer;
  SignalsEntry out = newer;
  switch (older.edit) {
    case SignalsEdit::kAdd:
    case SignalsEdit::kSet:
      out.edit = older.edit;
      out.cell = AddCells(older.cell, newer.cell);
      break;
    case SignalsEdit::kRemove: out.edit = SignalsEdit::kSet; break;
  }
  return out;
}

// DecodeSignalsCell, which empties `cell` when this fails.
bool DecodeSignalsEntries(absl::string_view bytes, SignalsCell* cell);

}  // namespace

const SignalsEntry* SignalsCell::Find(SignalsPart part, int32_t bucket) const {
  SignalsEntry probe;
  probe.part = part;
  probe.bucket = bucket;
  auto it = std::lower_bound(entries.begin(), entries.end(), probe, Less);
  if (it == entries.end() || it->part != part || it->bucket != bucket) return nullptr;
  return &*it;
}

bool IsSignalsTable(Table table) {
  return table == Table::kTotals || table == Table::kMonthly || table == Table::kDaily;
}

SignalsPart PartOfTable(Table table) {
  switch (table) {
    case Table::kMonthly: return SignalsPart::kMonth;
    case Table::kDaily: return SignalsPart::kDay;
    default: return SignalsPart::kTotal;
  }
}

Table TableOfPart(SignalsPart part) {
  switch (part) {
    case SignalsPart::kMonth: return Table::kMonthly;
    case SignalsPart::kDay: return Table::kDaily;
    default: return Table::kTotals;
  }
}

std::string EncodeSignalsCell(const SignalsCell& cell) {
  std::string out;
  EncodeSignalsCellTo(cell, &out);
  return out;
}

void EncodeSignalsCellTo(const SignalsCell& cell, std::string* out) {
  out->clear();
  out->reserve(1 + 20 * cell.entries.size());
  out->push_back(kTag);
  for (const SignalsEntry& e : cell.entries) {
    out->push_back(
        static_cast<char>((static_cast<uint8_t>(e.part) << 4) | static_cast<uint8_t>(e.edit)));
    if (e.part != SignalsPart::kTotal) PutVarint(static_cast<uint32_t>(e.bucket), out);
    if (e.edit == SignalsEdit::kRemove) continue;
    PutVarint(ZigZag(e.cell.count), out);
    PutVarint(ZigZag(e.cell.value_micros), out);
    PutVarint(ZigZag(e.cell.updated_ms), out);
  }
  // An older countd's totals are 32 bytes long: a record never is.
  if (out->size() == kCounterCellSize) {
    (*out)[0] = kPaddedTag;
    out->insert(1, 1, '\0');
  }
}

bool DecodeSignalsCell(absl::string_view bytes, SignalsCell* cell) {
  cell->entries.clear();
  if (!DecodeSignalsEntries(bytes, cell)) {
    cell->entries.clear();
    return false;
  }
  return true;
}

namespace {

bool DecodeSignalsEntries(absl::string_view bytes, SignalsCell* cell) {
  if (bytes.size() == kCounterCellSize) {  // an older countd's total, or a delta of one
    SignalsEntry total;
    total.edit = SignalsEdit::kAdd;
    if (!DecodeCounterCell(bytes, &total.cell)) return false;
    cell->entries.push_back(total);
    return true;
  }
  if (bytes.empty()) return false;
  if (bytes[0] == kPaddedTag) {
    if (bytes.size() != kCounterCellSize + 1 || bytes[1] != '\0') return false;
    bytes.remove_prefix(2);
  } else if (bytes[0] == kTag) {
    bytes.remove_prefix(1);
  } else {
    return false;
  }
  while (!bytes.empty()) {
    const uint8_t head = static_cast<uint8_t>(bytes[0]);
    bytes.remove_prefix(1);
    const uint8_t part = head >> 4;
    const uint8_t edit = head & 0x0F;
    if (part > static_cast<uint8_t>(SignalsPart::kDay) ||
        edit > static_cast<uint8_t>(SignalsEdit::kRemove)) {
      return false;
    }
    SignalsEntry e;
    e.part = static_cast<SignalsPart>(part);
    e.edit = static_cast<SignalsEdit>(edit);
    if (e.part != SignalsPart::kTotal) {
      uint32_t bucket;
      if (!GetVarint(&bytes, &bucket)) return false;
      e.bucket = static_cast<int32_t>(bucket);
    }
    if (e.edit != SignalsEdit::kRemove) {
      uint64_t count, updated;
      absl::uint128 value;
      if (!GetVarint(&bytes, &count) || !GetVarint(&bytes, &value) ||
          !GetVarint(&bytes, &updated)) {
        return false;
      }
      e.cell.count = UnZigZag<int64_t>(count);
      e.cell.value_micros = UnZigZag<absl::int128>(value);
      e.cell.updated_ms = UnZigZag<int64_t>(updated);
    }
    if (!cell->entries.empty() && !Less(cell->entries.back(), e)) return false;  // unsorted
    cell->entries.push_back(e);
  }
  return true;
}
}  // namespace

SignalsCell ComposeSignalsCells(const SignalsCell& older, const SignalsCell& newer) {
  SignalsCell out;
  out.entries.reserve(older.entries.size() + newer.entries.size());
  auto a = older.entries.begin();
  auto b = newer.entries.begin();
  while (a != older.entries.end() || b != newer.entries.end()) {
    if (b == newer.entries.end() || (a != older.entries.end() && Less(*a, *b))) {
      out.entries.push_back(*a++);
    } else if (a == older.entries.end() || Less(*b, *a)) {
      out.entries.push_back(*b++);
    } else {
      out.entries.push_back(Compose(*a++, *b++));
    }
  }
  return out;
}

void ApplySignalsEdit(SignalsCell* cell, const SignalsEntry& edit) {
  auto it = std::lower_bound(cell->entries.begin(), cell->entries.end(), edit, Less);
  if (it != cell->entries.end() && !Less(edit, *it)) {
    *it = Compose(*it, edit);
  } else {
    cell->entries.insert(it, edit);
  }
}

void SettleSignalsCell(SignalsCell* cell) {
  cell->entries.erase(std::remove_if(cell->entries.begin(), cell->entries.end(),
                                     [](const SignalsEntry& e) { return !e.Exists(); }),
                      cell->entries.end());
  for (SignalsEntry& e : cell->entries) e.edit = SignalsEdit::kSet;
}

SignalsEntry SignalsEntryOf(Table table, absl::string_view logical_key, SignalsEdit edit,
                            const CounterCell& cell, absl::string_view* counter_key) {
  SignalsEntry e;
  e.part = PartOfTable(table);
  e.edit = edit;
  if (edit != SignalsEdit::kRemove) e.cell = cell;
  if (e.part == SignalsPart::kTotal) {
    *counter_key = logical_key;
  } else {
    e.bucket = keys::BucketOf(logical_key);
    *counter_key = keys::WithoutBucket(logical_key);
  }
  return e;
}

std::string SignalsLogicalKey(absl::string_view counter_key, const SignalsEntry& entry) {
  if (entry.part == SignalsPart::kTotal) return std::string(counter_key);
  return keys::WithBucket(counter_key, entry.bucket);
}

}  // namespace countd::storage
