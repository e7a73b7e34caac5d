// storage/signals_cell.h — one Signals counter as RocksDB stores it: its total and its monthly
// and daily buckets in one record, so that an increment is one memtable entry (one merge
// operand) instead of three. The logical tables kTotals, kMonthly and kDaily of the Store
// interface are views of these records (rocksdb_store.cc); other stores keep their own layout.
//
// A record is a list of entries, one per part: the total, or the bucket of a month or a day.
// Each entry is an edit of that part: add a CounterCell to it, set it to one, or remove it.
// Edits compose (ComposeSignalsCells), so a merge operand is a record too, and the value RocksDB
// folds from a base and its operands is the record of the counter's current state, in which an
// add or a set entry is a part that exists and a remove entry is one that does not.
#ifndef COUNTD_STORAGE_SIGNALS_CELL_H_
#define COUNTD_STORAGE_SIGNALS_CELL_H_

#include <cstdint>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "storage/counter_cell.h"
#include "storage/store.h"

namespace countd::storage {

// The part of a counter an entry is about; the order of the parts in a record.
enum class SignalsPart : uint8_t { kTotal = 0, kMonth = 1, kDay = 2 };

enum class SignalsEdit : uint8_t { kAdd = 0, kSet = 1, kRemove = 2 };

struct SignalsEntry {
  SignalsPart part = SignalsPart::kTotal;
  int32_t bucket = 0;  // the month or day index (keys.h); 0 for the total
  SignalsEdit edit = SignalsEdit::kAdd;
  CounterCell cell;  // zero for kRemove

  bool Exists() const { return edit != SignalsEdit::kRemove; }
};

// Entries sorted by part, then bucket as unsigned (the order of its key bytes), at most one per
// part. Inline room for a total, a month and a day: an increment's operand, and the record of a
// counter used on one day, allocate nothing.
struct SignalsCell {
  absl::InlinedVector<SignalsEntry, 3> entries;

  // The entry of (part, bucket), or nullptr.
  const SignalsEntry* Find(SignalsPart part, int32_t bucket) const;
};

// The logical table of a part and back: kTotals, kMonthly, kDaily. IsSignalsTable says which
// tables are views of SignalsCell records.
bool IsSignalsTable(Table table);
SignalsPart PartOfTable(Table table);
Table TableOfPart(SignalsPart part);

// Encoding: a tag byte, then per entry a byte of part and edit, the bucket (not for the total),
// and, unless it removes, the cell's count, value and update time: varints, the signed ones
// zigzagged (an increment's total, month and day: about 35 bytes, where three records of their
// own held 3 x 32 bytes of values under three keys). Its length is never kCounterCellSize (a
// record that would be 32 bytes long gets another tag and a padding byte), so the 32-byte
// values of older countd versions' totals stay readable where they are: one decodes as a record
// adding that cell to the total, which is right both for a stored total (a base: added to
// nothing) and for a delta not yet merged into it (a merge operand).
std::string EncodeSignalsCell(const SignalsCell& cell);
// The same into `out` (replacing what it held), so that a writer can reuse one buffer.
void EncodeSignalsCellTo(const SignalsCell& cell, std::string* out);
// Returns false when `bytes` is neither an encoded record nor an encoded CounterCell.
bool DecodeSignalsCell(absl::string_view bytes, SignalsCell* cell);

// The record of applying `older`'s edits and then `newer`'s: per part, a set or a remove in
// `newer` replaces what `older` had; an add adds to an add or a set of `older` (keeping its
// kind), becomes a set after a remove, and stays an add where `older` had no entry. Associative
// while no count saturates (AddCells stops at the int64 limits, where the grouping matters), so
// operands may be composed in any grouping: Signals never adds negative counts, and sums of
// non-negative counts saturate alike in every grouping.
SignalsCell ComposeSignalsCells(const SignalsCell& older, const SignalsCell& newer);

// ComposeSignalsCells(*cell, {edit}), in place.
void ApplySignalsEdit(SignalsCell* cell, const SignalsEntry& edit);

// Makes a record read whole from the store (a base with every operand composed) its own base:
// drops the parts it removes and turns every other edit into a set.
void SettleSignalsCell(SignalsCell* cell);

// The edit that one logical op makes: AddCounter / Put of a CounterCell / Delete of the part
// that the logical key of `table` names (keys.h: monthly and daily keys end with their bucket).
// `counter_key` receives the record's key (the logical key without its bucket).
SignalsEntry SignalsEntryOf(Table table, absl::string_view logical_key, SignalsEdit edit,
                            const CounterCell& cell, absl::string_view* counter_key);

// The logical key of `entry` of the record at `counter_key`.
std::string SignalsLogicalKey(absl::string_view counter_key, const SignalsEntry& entry);

}  // namespace countd::storage

#endif  // COUNTD_STORAGE_SIGNALS_CELL_H_
