#include "storage/signals_cell.h"

#include <algorithm>

#include "storage/keys.h"

namespace countd::storage {
namespace {

constexpr char kTag = '\xC5';
constexpr size_t kEntrySize = 1 + 4 + kCounterCellSize;

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
  out.reserve(1 + kEntrySize * cell.entries.size());
  out.push_back(kTag);
  for (const SignalsEntry& e : cell.entries) {
    out.push_back(
        static_cast<char>((static_cast<uint8_t>(e.part) << 4) | static_cast<uint8_t>(e.edit)));
    const uint32_t b = static_cast<uint32_t>(e.bucket);
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(b >> shift));
    AppendCounterCell(e.cell, &out);
  }
  return out;
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
  if (bytes.size() == kCounterCellSize) {  // an older countd's total
    SignalsEntry total;
    total.edit = SignalsEdit::kSet;
    if (!DecodeCounterCell(bytes, &total.cell)) return false;
    cell->entries.push_back(total);
    return true;
  }
  if (bytes.empty() || bytes[0] != kTag || (bytes.size() - 1) % kEntrySize != 0) return false;
  cell->entries.reserve((bytes.size() - 1) / kEntrySize);
  for (size_t at = 1; at < bytes.size(); at += kEntrySize) {
    const uint8_t head = static_cast<uint8_t>(bytes[at]);
    const uint8_t part = head >> 4;
    const uint8_t edit = head & 0x0F;
    if (part > static_cast<uint8_t>(SignalsPart::kDay) ||
        edit > static_cast<uint8_t>(SignalsEdit::kRemove)) {
      return false;
    }
    SignalsEntry e;
    e.part = static_cast<SignalsPart>(part);
    e.edit = static_cast<SignalsEdit>(edit);
    e.bucket = keys::BucketOf(bytes.substr(at + 1, 4));
    if (!DecodeCounterCell(bytes.substr(at + 5, kCounterCellSize), &e.cell)) return false;
    if (!cell->entries.empty() && !Less(cell->entries.back(), e)) return false;  // unsorted
    if (e.part == SignalsPart::kTotal && e.bucket != 0) return false;
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
