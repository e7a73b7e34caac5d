// Fuzz target: the Signals counter record codec (storage/signals_cell.h). The input is treated as
// stored bytes (RocksDB values are untrusted on disk): the whole input, and the two pieces it
// splits into (byte 0 is the length of the first piece, the older record; the rest after it is
// the newer one).
//
// Checks, abort() with a message on violation:
//  - DecodeSignalsCell: a 32-byte input always decodes (a CounterCell of an older countd) to one
//    total entry holding that cell; a refused input leaves no entries. A decoded record's entries
//    are strictly sorted by (part, unsigned bucket), with known parts and edits, bucket 0 for the
//    total and a zero cell for a remove, and Find returns each entry (and nothing in between).
//  - EncodeSignalsCell of a decoded record decodes to the same entries, is never 32 bytes
//    (kCounterCellSize) long, and reproduces the input byte for byte unless the input was a
//    32-byte legacy value: the encoding is canonical (GetVarint refuses all but the shortest
//    varints, 0xC6 is accepted only where the encoder pads, and a remove carries no cell).
//  - SettleSignalsCell drops exactly the remove entries and turns every other entry into a set
//    of the same cell.
//  - For two decoded pieces a and b: ComposeSignalsCells(a, b) equals applying b's entries one by
//    one to a with ApplySignalsEdit, and an independent model of the header's rule per part; the
//    empty record is its identity; Compose(Compose(x, y), z) == Compose(x, Compose(y, z)) for
//    every x, y, z among a, b and the settled a.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "storage/counter_cell.h"
#include "storage/signals_cell.h"
#include "tests/fuzz/invariants.h"

namespace {

using countd::fuzz::Check;
using countd::storage::AddCells;
using countd::storage::ApplySignalsEdit;
using countd::storage::ComposeSignalsCells;
using countd::storage::CounterCell;
using countd::storage::DecodeCounterCell;
using countd::storage::DecodeSignalsCell;
using countd::storage::EncodeSignalsCell;
using countd::storage::kCounterCellSize;
using countd::storage::SettleSignalsCell;
using countd::storage::SignalsCell;
using countd::storage::SignalsEdit;
using countd::storage::SignalsEntry;
using countd::storage::SignalsPart;

// Beyond this many entries in the two pieces together the composition checks are skipped:
// applying b's entries one at a time inserts into a vector, quadratic in the worst case.
constexpr size_t kMaxComposeEntries = 4096;

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

std::string Int128(absl::int128 v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string Describe(const SignalsCell& cell) {
  std::string out = "{";
  for (const SignalsEntry& e : cell.entries) {
    absl::StrAppend(&out, " (part ", static_cast<int>(e.part), " bucket ",
                    static_cast<uint32_t>(e.bucket), " edit ", static_cast<int>(e.edit), " count ",
                    e.cell.count, " value ", Int128(e.cell.value_micros), " updated ",
                    e.cell.updated_ms, ")");
  }
  absl::StrAppend(&out, " }");
  return out;
}

bool SameEntry(const SignalsEntry& a, const SignalsEntry& b) {
  return a.part == b.part && a.bucket == b.bucket && a.edit == b.edit && a.cell == b.cell;
}

bool Same(const SignalsCell& a, const SignalsCell& b) {
  if (a.entries.size() != b.entries.size()) return false;
  for (size_t i = 0; i < a.entries.size(); ++i) {
    if (!SameEntry(a.entries[i], b.entries[i])) return false;
  }
  return true;
}

// The record order, written out independently of signals_cell.cc: part, then bucket unsigned.
std::pair<uint8_t, uint32_t> Key(const SignalsEntry& e) {
  return {static_cast<uint8_t>(e.part), static_cast<uint32_t>(e.bucket)};
}

// Well-formed entries in strictly increasing order, each found by Find, nothing found between
// neighbours.
void CheckShape(const SignalsCell& cell, absl::string_view what, const std::string& context) {
  const std::string ctx = absl::StrCat(what, ": ", Describe(cell), "\n", context);
  for (size_t i = 0; i < cell.entries.size(); ++i) {
    const SignalsEntry& e = cell.entries[i];
    Check(static_cast<uint8_t>(e.part) <= static_cast<uint8_t>(SignalsPart::kDay),
          "entry with an unknown part", ctx);
    Check(static_cast<uint8_t>(e.edit) <= static_cast<uint8_t>(SignalsEdit::kRemove),
          "entry with an unknown edit", ctx);
    Check(e.part != SignalsPart::kTotal || e.bucket == 0, "total entry with a bucket", ctx);
    Check(e.edit != SignalsEdit::kRemove || e.cell == CounterCell{}, "remove entry with a cell",
          ctx);
    Check(i == 0 || Key(cell.entries[i - 1]) < Key(e), "entries not strictly sorted", ctx);
    Check(cell.Find(e.part, e.bucket) == &e, "Find misses an entry", ctx);
    // The key right after e (same part, bucket + 1), unless that is the next entry's.
    const uint32_t next_bucket = static_cast<uint32_t>(e.bucket) + 1;
    if (e.part != SignalsPart::kTotal && next_bucket != 0 &&
        (i + 1 == cell.entries.size() ||
         Key(cell.entries[i + 1]) != std::make_pair(Key(e).first, next_bucket))) {
      Check(cell.Find(e.part, static_cast<int32_t>(next_bucket)) == nullptr,
            "Find returns an entry for an absent key", ctx);
    }
  }
}

// Encodes `cell` and checks the encoding: never 32 bytes, tag 0xC5, or 0xC6 only as 33 bytes with
// a 0 byte after it (the padded form of what would be 32), and decoding gives `cell` back.
std::string CheckEncoding(const SignalsCell& cell, absl::string_view what,
                          const std::string& context) {
  const std::string enc = EncodeSignalsCell(cell);
  const std::string ctx =
      absl::StrCat(what, ": ", Describe(cell), "\nencoded: ", Hex(enc), "\n", context);
  Check(enc.size() != kCounterCellSize, "a record encodes to kCounterCellSize bytes", ctx);
  Check(!enc.empty() && (enc[0] == '\xC5' || enc[0] == '\xC6'), "encoding has no record tag", ctx);
  Check(enc[0] != '\xC6' || (enc.size() == kCounterCellSize + 1 && enc[1] == '\0'),
        "padded tag but not 33 bytes with a 0 byte after it", ctx);
  SignalsCell again;
  Check(DecodeSignalsCell(enc, &again), "an encoded record does not decode", ctx);
  Check(Same(again, cell), "decode(encode(record)) differs from the record",
        absl::StrCat(ctx, "\nre-decoded: ", Describe(again)));
  return enc;
}

// SettleSignalsCell: the non-remove entries, in order, each a set of its cell.
void CheckSettle(const SignalsCell& cell, const std::string& context) {
  SignalsCell settled = cell;
  SettleSignalsCell(&settled);
  const std::string ctx =
      absl::StrCat("record: ", Describe(cell), "\nsettled: ", Describe(settled), "\n", context);
  size_t j = 0;
  for (const SignalsEntry& e : cell.entries) {
    if (e.edit == SignalsEdit::kRemove) continue;
    Check(j < settled.entries.size(), "settling dropped an entry that exists", ctx);
    const SignalsEntry& s = settled.entries[j++];
    Check(s.part == e.part && s.bucket == e.bucket && s.cell == e.cell,
          "settling changed or reordered an entry", ctx);
    Check(s.edit == SignalsEdit::kSet, "settling left an entry that is not a set", ctx);
  }
  Check(j == settled.entries.size(), "settling kept a remove entry (or added one)", ctx);
  CheckEncoding(settled, "settled record", context);
}

// Property 1 and 3 on one stored value. Returns whether it decoded.
bool CheckStored(absl::string_view bytes, SignalsCell* cell) {
  const std::string context = absl::StrCat("stored bytes: ", Hex(bytes));
  // Something to clear: a refusal must leave no entries behind.
  cell->entries.assign(1, SignalsEntry{SignalsPart::kDay, 7, SignalsEdit::kSet, {1, 1, 1}});
  if (!DecodeSignalsCell(bytes, cell)) {
    Check(bytes.size() != kCounterCellSize, "a 32-byte legacy value was refused", context);
    Check(cell->entries.empty(), "a refused decode left entries", context);
    return false;
  }
  CheckShape(*cell, "decoded", context);
  if (bytes.size() == kCounterCellSize) {
    CounterCell legacy;
    Check(DecodeCounterCell(bytes, &legacy), "DecodeCounterCell refuses 32 bytes", context);
    // Whether the legacy value reads as an add or a set of the total is the codec's choice (it
    // has been both); it is a total that exists and holds exactly the stored cell.
    Check(cell->entries.size() == 1 && cell->entries[0].part == SignalsPart::kTotal &&
              cell->entries[0].edit != SignalsEdit::kRemove && cell->entries[0].cell == legacy,
          "a 32-byte legacy value did not decode to its total", Describe(*cell) + "\n" + context);
  }
  const std::string enc = CheckEncoding(*cell, "decoded", context);
  if (bytes.size() != kCounterCellSize) {
    Check(enc == bytes, "re-encoding a decoded record changed its bytes (not canonical)",
          absl::StrCat("re-encoded: ", Hex(enc), "\n", Describe(*cell), "\n", context));
  }
  CheckSettle(*cell, context);
  return true;
}

// The header's rule for one part: `newer`'s set or remove replaces; an add adds to an add or a set
// (keeping its kind), becomes a set after a remove, stays an add where there was nothing.
SignalsEntry ModelCompose(const SignalsEntry& older, const SignalsEntry& newer) {
  if (newer.edit != SignalsEdit::kAdd) return newer;
  SignalsEntry out = newer;
  if (older.edit == SignalsEdit::kRemove) {
    out.edit = SignalsEdit::kSet;
  } else {
    out.edit = older.edit;
    out.cell = AddCells(older.cell, newer.cell);
  }
  return out;
}

SignalsCell ModelComposeCells(const SignalsCell& older, const SignalsCell& newer) {
  SignalsCell out;
  size_t i = 0, j = 0;
  while (i < older.entries.size() || j < newer.entries.size()) {
    if (j == newer.entries.size() ||
        (i < older.entries.size() && Key(older.entries[i]) < Key(newer.entries[j]))) {
      out.entries.push_back(older.entries[i++]);
    } else if (i == older.entries.size() || Key(newer.entries[j]) < Key(older.entries[i])) {
      out.entries.push_back(newer.entries[j++]);
    } else {
      out.entries.push_back(ModelCompose(older.entries[i++], newer.entries[j++]));
    }
  }
  return out;
}

// Whether every count is within [-limit, limit] and every value_micros within
// [-value_limit, value_limit].
bool Bounded(const SignalsCell& cell, int64_t limit, absl::int128 value_limit) {
  for (const SignalsEntry& e : cell.entries) {
    if (e.cell.count < -limit || e.cell.count > limit) return false;
    if (e.cell.value_micros < -value_limit || e.cell.value_micros > value_limit) return false;
  }
  return true;
}

// Property 2 on two decoded records, `a` older than `b`.
void CheckCompose(const SignalsCell& a, const SignalsCell& b, const std::string& context) {
  if (a.entries.size() + b.entries.size() > kMaxComposeEntries) return;
  // AddCells adds value_micros in plain (signed) int128 arithmetic: its comment bounds a value by
  // 1e21 per increment, but a decoded record may hold any int128, and two near 2^126 overflow
  // (undefined behaviour, which UBSan reports in AddCells). Composing up to three records of
  // values within 2^125 stays in range.
  const absl::int128 kNoOverflow = absl::int128(1) << 125;
  const int64_t kAnyCount = std::numeric_limits<int64_t>::max();
  if (!Bounded(a, kAnyCount, kNoOverflow) || !Bounded(b, kAnyCount, kNoOverflow)) return;

  const SignalsCell ab = ComposeSignalsCells(a, b);
  const std::string ctx = absl::StrCat("older: ", Describe(a), "\nnewer: ", Describe(b),
                                       "\ncomposed: ", Describe(ab), "\n", context);
  CheckShape(ab, "composed", ctx);
  CheckEncoding(ab, "composed", ctx);
  SignalsCell applied = a;
  for (const SignalsEntry& e : b.entries) ApplySignalsEdit(&applied, e);
  Check(Same(ab, applied), "ComposeSignalsCells(a, b) differs from applying b's edits to a",
        absl::StrCat(ctx, "\napplied: ", Describe(applied)));
  const SignalsCell model = ModelComposeCells(a, b);
  Check(Same(ab, model), "ComposeSignalsCells(a, b) differs from the header's rule",
        absl::StrCat(ctx, "\nmodel: ", Describe(model)));
  const SignalsCell empty;
  Check(Same(ComposeSignalsCells(a, empty), a) && Same(ComposeSignalsCells(empty, a), a),
        "the empty record is not the identity of composing", ctx);

  // Associativity holds only away from the limits of the arithmetic: AddCells saturates counts at
  // the int64 limits, so (MAX + 1) + -1 = MAX - 1 but MAX + (1 + -1) = MAX (the header's
  // "Associative" assumes no saturation), and value_micros must not overflow int128. So check it
  // only when every count is within [-2^40, 2^40] and every value_micros within [-2^100, 2^100]:
  // three of them add up far from either limit.
  const int64_t kCountLimit = int64_t{1} << 40;
  const absl::int128 kValueLimit = absl::int128(1) << 100;
  if (!Bounded(a, kCountLimit, kValueLimit) || !Bounded(b, kCountLimit, kValueLimit)) return;
  SignalsCell settled_a = a;
  SettleSignalsCell(&settled_a);
  const SignalsCell* operands[] = {&a, &b, &settled_a};
  for (const SignalsCell* x : operands) {
    for (const SignalsCell* y : operands) {
      for (const SignalsCell* z : operands) {
        const SignalsCell left = ComposeSignalsCells(ComposeSignalsCells(*x, *y), *z);
        const SignalsCell right = ComposeSignalsCells(*x, ComposeSignalsCells(*y, *z));
        Check(Same(left, right), "composing is not associative",
              absl::StrCat("x: ", Describe(*x), "\ny: ", Describe(*y), "\nz: ", Describe(*z),
                           "\n(x y) z: ", Describe(left), "\nx (y z): ", Describe(right), "\n",
                           context));
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  SignalsCell whole;
  CheckStored(input, &whole);
  if (size == 0) return 0;

  const absl::string_view rest = input.substr(1);
  const size_t split = std::min<size_t>(data[0], rest.size());
  const absl::string_view older_bytes = rest.substr(0, split);
  const absl::string_view newer_bytes = rest.substr(split);
  SignalsCell older, newer;
  const bool older_ok = CheckStored(older_bytes, &older);
  const bool newer_ok = CheckStored(newer_bytes, &newer);
  if (older_ok && newer_ok) {
    CheckCompose(
        older, newer,
        absl::StrCat("older bytes: ", Hex(older_bytes), "\nnewer bytes: ", Hex(newer_bytes)));
  }
  return 0;
}
