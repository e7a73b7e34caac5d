// Tests of storage/signals_cell.h: the record codec, edit composition and logical keys.
#include "storage/signals_cell.h"

#include <cstdint>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "storage/counter_cell.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/testing/counter_cells.h"

namespace countd::storage {
namespace {

using test::Cell;

constexpr SignalsPart kTotal = SignalsPart::kTotal;
constexpr SignalsPart kMonth = SignalsPart::kMonth;
constexpr SignalsPart kDay = SignalsPart::kDay;
constexpr SignalsEdit kAdd = SignalsEdit::kAdd;
constexpr SignalsEdit kSet = SignalsEdit::kSet;
constexpr SignalsEdit kRemove = SignalsEdit::kRemove;

// The size of one encoded entry: head byte, 4-byte bucket, CounterCell.
constexpr size_t kEntryBytes = 37;

SignalsEntry Entry(SignalsPart part, int32_t bucket, SignalsEdit edit,
                   const CounterCell& cell = CounterCell()) {
  SignalsEntry e;
  e.part = part;
  e.bucket = bucket;
  e.edit = edit;
  e.cell = cell;
  return e;
}

SignalsCell Record(std::vector<SignalsEntry> entries) {
  SignalsCell c;
  c.entries.assign(entries.begin(), entries.end());
  return c;
}

// SignalsEntry has no operator==: every field, the cell's three included.
bool SameEntry(const SignalsEntry& a, const SignalsEntry& b) {
  return a.part == b.part && a.bucket == b.bucket && a.edit == b.edit && a.cell == b.cell;
}

std::string Describe(const SignalsEntry& e) {
  std::ostringstream out;
  out << "{part " << static_cast<int>(e.part) << ", bucket " << e.bucket << ", edit "
      << static_cast<int>(e.edit) << ", cell (" << e.cell.count << ", " << e.cell.value_micros
      << ", " << e.cell.updated_ms << ")}";
  return out.str();
}

std::string Describe(const SignalsCell& c) {
  std::string out = "[";
  for (const SignalsEntry& e : c.entries) {
    if (out.size() > 1) out += ", ";
    out += Describe(e);
  }
  return out + "]";
}

// Entry by entry equality of two records.
::testing::AssertionResult SameCells(const SignalsCell& a, const SignalsCell& b) {
  bool same = a.entries.size() == b.entries.size();
  for (size_t i = 0; same && i < a.entries.size(); ++i) {
    same = SameEntry(a.entries[i], b.entries[i]);
  }
  if (same) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << Describe(a) << "\n  differs from\n" << Describe(b);
}

// Whether the entries are strictly increasing by (part, bucket).
bool SortedAndUnique(const SignalsCell& c) {
  for (size_t i = 1; i < c.entries.size(); ++i) {
    const SignalsEntry& p = c.entries[i - 1];
    const SignalsEntry& q = c.entries[i];
    if (p.part > q.part || (p.part == q.part && p.bucket >= q.bucket)) return false;
  }
  return true;
}

// Offset of the head byte of entry `i` in an encoded record.
size_t EntryAt(size_t i) { return 1 + kEntryBytes * i; }

// A record with a total, two months and two days, using every edit kind.
SignalsCell FiveEntryRecord() {
  return Record({
      Entry(kTotal, 0, kAdd, Cell(5, 1500000, 1700000000123)),
      Entry(kMonth, 660, kSet, Cell(-2, -250, 1700000000000)),
      Entry(kMonth, 661, kRemove),
      Entry(kDay, 20100, kRemove),
      Entry(kDay, 20101, kAdd, Cell(1, absl::MakeInt128(3, 7), 42)),
  });
}

// A valid record of three entries whose bytes the rejection tests mutate.
std::string ValidEncoding() {
  return EncodeSignalsCell(Record({
      Entry(kTotal, 0, kAdd, Cell(1, 2, 3)),
      Entry(kMonth, 600, kSet, Cell(4, 5, 6)),
      Entry(kMonth, 601, kAdd, Cell(7, 8, 9)),
  }));
}

bool Decodes(absl::string_view bytes) {
  SignalsCell c;
  return DecodeSignalsCell(bytes, &c);
}

// --- Encoding ---

TEST(SignalsCellCodecTest, RoundTripsEveryPartAndEdit) {
  const SignalsCell in = FiveEntryRecord();
  const std::string bytes = EncodeSignalsCell(in);
  EXPECT_EQ(bytes.size(), 1 + kEntryBytes * 5);

  SignalsCell out = Record({Entry(kDay, 9, kAdd, Cell(9, 9, 9))});  // decoding must replace it
  ASSERT_TRUE(DecodeSignalsCell(bytes, &out));
  ASSERT_EQ(out.entries.size(), 5u);
  EXPECT_TRUE(SameEntry(out.entries[0], Entry(kTotal, 0, kAdd, Cell(5, 1500000, 1700000000123))))
      << Describe(out.entries[0]);
  EXPECT_TRUE(SameEntry(out.entries[1], Entry(kMonth, 660, kSet, Cell(-2, -250, 1700000000000))))
      << Describe(out.entries[1]);
  EXPECT_TRUE(SameEntry(out.entries[2], Entry(kMonth, 661, kRemove, Cell(0, 0, 0))))
      << Describe(out.entries[2]);
  EXPECT_TRUE(SameEntry(out.entries[3], Entry(kDay, 20100, kRemove, Cell(0, 0, 0))))
      << Describe(out.entries[3]);
  EXPECT_TRUE(
      SameEntry(out.entries[4], Entry(kDay, 20101, kAdd, Cell(1, absl::MakeInt128(3, 7), 42))))
      << Describe(out.entries[4]);
  EXPECT_FALSE(out.entries[2].Exists());
  EXPECT_TRUE(out.entries[1].Exists());
  EXPECT_TRUE(out.entries[4].Exists());
}

TEST(SignalsCellCodecTest, RoundTripsExtremeBucketsAndCells) {
  const SignalsCell in = Record({
      Entry(kTotal, 0, kSet, Cell(INT64_MAX, absl::Int128Max(), INT64_MAX)),
      Entry(kMonth, -1, kAdd, Cell(INT64_MIN, absl::Int128Min(), INT64_MIN)),
      Entry(kDay, 0x01020304, kSet, Cell(2)),
      Entry(kDay, 0x7fffffff, kAdd, Cell(3)),
  });
  SignalsCell out;
  ASSERT_TRUE(DecodeSignalsCell(EncodeSignalsCell(in), &out));
  EXPECT_TRUE(SameCells(out, in));
}

TEST(SignalsCellCodecTest, EncodingLayout) {
  const std::string bytes = EncodeSignalsCell(
      Record({Entry(kTotal, 0, kRemove), Entry(kDay, 0x01020304, kSet, Cell(7, 8, 9))}));
  ASSERT_EQ(bytes.size(), 1 + 2 * kEntryBytes);
  EXPECT_EQ(bytes[0], '\xC5');  // the tag
  // Entry 0: part kTotal (high nibble), edit kRemove (low nibble), bucket 0, a zero cell.
  EXPECT_EQ(bytes[EntryAt(0)], '\x02');
  EXPECT_EQ(bytes.substr(EntryAt(0) + 1, 4), std::string(4, '\0'));
  EXPECT_EQ(bytes.substr(EntryAt(0) + 5, kCounterCellSize), std::string(kCounterCellSize, '\0'));
  // Entry 1: part kDay, edit kSet, bucket big-endian, the CounterCell encoding.
  EXPECT_EQ(bytes[EntryAt(1)], '\x21');
  EXPECT_EQ(bytes.substr(EntryAt(1) + 1, 4), std::string("\x01\x02\x03\x04"));
  EXPECT_EQ(bytes.substr(EntryAt(1) + 5), EncodeCounterCell(Cell(7, 8, 9)));
}

TEST(SignalsCellCodecTest, SizeIsOnePlus37PerEntryAndNeverACounterCell) {
  const SignalsCell five = FiveEntryRecord();
  for (size_t n = 0; n <= 5; ++n) {
    SignalsCell c = Record({five.entries.begin(), five.entries.begin() + n});
    const std::string bytes = EncodeSignalsCell(c);
    EXPECT_EQ(bytes.size(), 1 + kEntryBytes * n) << n << " entries";
    EXPECT_NE(bytes.size(), kCounterCellSize) << n << " entries";
    SignalsCell out;
    ASSERT_TRUE(DecodeSignalsCell(bytes, &out)) << n << " entries";
    EXPECT_TRUE(SameCells(out, c));
  }
}

TEST(SignalsCellCodecTest, EmptyRecordRoundTrips) {
  const std::string bytes = EncodeSignalsCell(SignalsCell());
  EXPECT_EQ(bytes, std::string("\xC5"));
  SignalsCell out = Record({Entry(kTotal, 0, kAdd, Cell(1))});
  ASSERT_TRUE(DecodeSignalsCell(bytes, &out));
  EXPECT_TRUE(out.entries.empty());
}

TEST(SignalsCellCodecTest, LegacyCounterCellDecodesAsSetOfTotal) {
  const CounterCell legacy = Cell(7, -3000001, 1700000000999);
  const std::string bytes = EncodeCounterCell(legacy);
  ASSERT_EQ(bytes.size(), kCounterCellSize);
  SignalsCell out = Record({Entry(kMonth, 3, kAdd, Cell(1)), Entry(kDay, 4, kAdd, Cell(2))});
  ASSERT_TRUE(DecodeSignalsCell(bytes, &out));
  EXPECT_TRUE(SameCells(out, Record({Entry(kTotal, 0, kSet, legacy)})));
}

TEST(SignalsCellCodecTest, LegacyZeroCellDecodesAsSetOfZeroTotal) {
  SignalsCell out;
  ASSERT_TRUE(DecodeSignalsCell(std::string(kCounterCellSize, '\0'), &out));
  EXPECT_TRUE(SameCells(out, Record({Entry(kTotal, 0, kSet, Cell(0))})));
}

// --- Decoding rejects what is not a record ---

TEST(SignalsCellDecodeTest, ValidBaseDecodes) {
  // The base of the mutations below is itself valid, so each rejection is the mutation's.
  SignalsCell out;
  ASSERT_TRUE(DecodeSignalsCell(ValidEncoding(), &out));
  EXPECT_EQ(out.entries.size(), 3u);
}

TEST(SignalsCellDecodeTest, RejectsEmptyString) { EXPECT_FALSE(Decodes("")); }

TEST(SignalsCellDecodeTest, RejectsWrongTag) {
  for (int tag : {0x00, 0x01, 0xC4, 0xC6, 0xFF, 0x78}) {
    std::string bytes = ValidEncoding();
    bytes[0] = static_cast<char>(tag);
    EXPECT_FALSE(Decodes(bytes)) << "tag " << tag;
    EXPECT_FALSE(Decodes(bytes.substr(0, 1))) << "tag " << tag << " alone";
  }
}

TEST(SignalsCellDecodeTest, RejectsLengthNotOnePlus37PerEntry) {
  const std::string valid = ValidEncoding();
  // Every prefix: a record of whole entries, or the legacy 32-byte size, decodes; nothing else.
  for (size_t n = 0; n <= valid.size(); ++n) {
    const bool whole = n >= 1 && (n - 1) % kEntryBytes == 0;
    EXPECT_EQ(Decodes(valid.substr(0, n)), whole || n == kCounterCellSize) << "length " << n;
  }
  EXPECT_FALSE(Decodes(valid + '\0'));
  EXPECT_FALSE(Decodes(valid + std::string(kEntryBytes - 1, '\0')));
  EXPECT_FALSE(Decodes(valid.substr(0, valid.size() - 1)));
  EXPECT_FALSE(Decodes(std::string("\xC5") + EncodeCounterCell(Cell(1))));  // 33 bytes
}

TEST(SignalsCellDecodeTest, RejectsUnknownPart) {
  for (size_t entry = 0; entry < 3; ++entry) {
    for (int part = 3; part <= 15; ++part) {
      std::string bytes = ValidEncoding();
      const uint8_t head = static_cast<uint8_t>(bytes[EntryAt(entry)]);
      bytes[EntryAt(entry)] = static_cast<char>((part << 4) | (head & 0x0F));
      EXPECT_FALSE(Decodes(bytes)) << "entry " << entry << " part " << part;
    }
  }
}

TEST(SignalsCellDecodeTest, RejectsUnknownEdit) {
  for (size_t entry = 0; entry < 3; ++entry) {
    for (int edit = 3; edit <= 15; ++edit) {
      std::string bytes = ValidEncoding();
      const uint8_t head = static_cast<uint8_t>(bytes[EntryAt(entry)]);
      bytes[EntryAt(entry)] = static_cast<char>((head & 0xF0) | edit);
      EXPECT_FALSE(Decodes(bytes)) << "entry " << entry << " edit " << edit;
    }
  }
}

TEST(SignalsCellDecodeTest, KnownEditsOfTheSameEntryDecode) {
  // The counterpart of RejectsUnknownEdit: the low nibble 0..2 is accepted.
  for (int edit = 0; edit <= 2; ++edit) {
    std::string bytes = ValidEncoding();
    bytes[EntryAt(1)] = static_cast<char>(0x10 | edit);
    SignalsCell out;
    ASSERT_TRUE(DecodeSignalsCell(bytes, &out)) << "edit " << edit;
    EXPECT_EQ(out.entries[1].edit, static_cast<SignalsEdit>(edit));
  }
}

TEST(SignalsCellDecodeTest, RejectsUnsortedEntries) {
  const std::string valid = ValidEncoding();
  {  // the two months swapped: buckets 601, 600
    std::string bytes = valid;
    bytes.replace(EntryAt(1), kEntryBytes, valid, EntryAt(2), kEntryBytes);
    bytes.replace(EntryAt(2), kEntryBytes, valid, EntryAt(1), kEntryBytes);
    EXPECT_FALSE(Decodes(bytes));
  }
  {  // the second month's bucket lowered to 599
    std::string bytes = valid;
    bytes[EntryAt(2) + 4] = static_cast<char>(599 & 0xFF);
    bytes[EntryAt(2) + 3] = static_cast<char>(599 >> 8);
    EXPECT_FALSE(Decodes(bytes));
  }
  {  // a month before the total
    std::string bytes = valid;
    bytes.replace(EntryAt(0), kEntryBytes, valid, EntryAt(1), kEntryBytes);
    bytes.replace(EntryAt(1), kEntryBytes, valid, EntryAt(0), kEntryBytes);
    EXPECT_FALSE(Decodes(bytes));
  }
  {  // the first month turned into a day, before the month of bucket 601
    std::string bytes = valid;
    bytes[EntryAt(1)] = static_cast<char>((2 << 4) | (bytes[EntryAt(1)] & 0x0F));
    EXPECT_FALSE(Decodes(bytes));
  }
}

TEST(SignalsCellDecodeTest, RejectsDuplicateEntries) {
  const std::string valid = ValidEncoding();
  {  // the second month's bucket set to the first's, 600
    std::string bytes = valid;
    bytes[EntryAt(2) + 4] = static_cast<char>(600 & 0xFF);
    EXPECT_FALSE(Decodes(bytes));
  }
  {  // the first month copied over the second, whole
    std::string bytes = valid;
    bytes.replace(EntryAt(2), kEntryBytes, valid, EntryAt(1), kEntryBytes);
    EXPECT_FALSE(Decodes(bytes));
  }
  {  // the first month turned into a second total
    std::string bytes = valid;
    bytes[EntryAt(1)] = static_cast<char>(bytes[EntryAt(1)] & 0x0F);
    for (size_t i = 1; i <= 4; ++i) bytes[EntryAt(1) + i] = '\0';
    EXPECT_FALSE(Decodes(bytes));
  }
  {  // same (part, bucket), different edits
    std::string bytes = valid;
    bytes.replace(EntryAt(2), kEntryBytes, valid, EntryAt(1), kEntryBytes);
    bytes[EntryAt(2)] = static_cast<char>(0x12);
    EXPECT_FALSE(Decodes(bytes));
  }
}

TEST(SignalsCellDecodeTest, RejectsTotalWithBucket) {
  for (size_t byte = 1; byte <= 4; ++byte) {
    std::string bytes = ValidEncoding();
    bytes[EntryAt(0) + byte] = '\x01';
    EXPECT_FALSE(Decodes(bytes)) << "bucket byte " << byte;
  }
  // Also when the total is the only entry, and with a negative bucket.
  std::string alone = EncodeSignalsCell(Record({Entry(kTotal, 0, kSet, Cell(1))}));
  for (size_t i = 1; i <= 4; ++i) alone[EntryAt(0) + i] = '\xFF';
  EXPECT_FALSE(Decodes(alone));
}

// --- Composition ---

TEST(SignalsComposeTest, AddThenAddSumsAndStaysAdd) {
  const SignalsCell out = ComposeSignalsCells(Record({Entry(kMonth, 5, kAdd, Cell(2, 100, 30))}),
                                              Record({Entry(kMonth, 5, kAdd, Cell(3, -40, 10))}));
  EXPECT_TRUE(SameCells(out, Record({Entry(kMonth, 5, kAdd, Cell(5, 60, 30))})));
}

TEST(SignalsComposeTest, SetThenAddIsSetOfTheSum) {
  const SignalsCell out = ComposeSignalsCells(Record({Entry(kTotal, 0, kSet, Cell(10, 1000, 5))}),
                                              Record({Entry(kTotal, 0, kAdd, Cell(1, 1, 50))}));
  EXPECT_TRUE(SameCells(out, Record({Entry(kTotal, 0, kSet, Cell(11, 1001, 50))})));
}

TEST(SignalsComposeTest, AddCountsSaturateAsAddCells) {
  const SignalsCell out =
      ComposeSignalsCells(Record({Entry(kDay, 1, kAdd, Cell(INT64_MAX - 1, 0, 0))}),
                          Record({Entry(kDay, 1, kAdd, Cell(5, 0, 0))}));
  EXPECT_TRUE(SameCells(out, Record({Entry(kDay, 1, kAdd, Cell(INT64_MAX, 0, 0))})));
}

TEST(SignalsComposeTest, SetReplacesWhatWasThere) {
  for (SignalsEdit older : {kAdd, kSet, kRemove}) {
    const CounterCell before = older == kRemove ? Cell(0) : Cell(9, 99, 999);
    const SignalsCell out = ComposeSignalsCells(Record({Entry(kDay, 7, older, before)}),
                                                Record({Entry(kDay, 7, kSet, Cell(1, 2, 3))}));
    EXPECT_TRUE(SameCells(out, Record({Entry(kDay, 7, kSet, Cell(1, 2, 3))})))
        << "older edit " << static_cast<int>(older);
  }
}

TEST(SignalsComposeTest, RemoveReplacesWhatWasThere) {
  for (SignalsEdit older : {kAdd, kSet, kRemove}) {
    const CounterCell before = older == kRemove ? Cell(0) : Cell(9, 99, 999);
    const SignalsCell out = ComposeSignalsCells(Record({Entry(kMonth, 7, older, before)}),
                                                Record({Entry(kMonth, 7, kRemove)}));
    EXPECT_TRUE(SameCells(out, Record({Entry(kMonth, 7, kRemove, Cell(0))})))
        << "older edit " << static_cast<int>(older);
  }
}

TEST(SignalsComposeTest, RemoveThenAddIsSetOfTheAdd) {
  const SignalsCell out = ComposeSignalsCells(Record({Entry(kTotal, 0, kRemove)}),
                                              Record({Entry(kTotal, 0, kAdd, Cell(4, 40, 400))}));
  EXPECT_TRUE(SameCells(out, Record({Entry(kTotal, 0, kSet, Cell(4, 40, 400))})));
}

TEST(SignalsComposeTest, OneSidedEntriesPassThroughSorted) {
  const SignalsCell older = Record({
      Entry(kMonth, 5, kSet, Cell(1, 1, 1)),
      Entry(kDay, 9, kRemove),
      Entry(kDay, 12, kAdd, Cell(2, 2, 2)),
  });
  const SignalsCell newer = Record({
      Entry(kTotal, 0, kAdd, Cell(3, 3, 3)),
      Entry(kMonth, 4, kRemove),
      Entry(kDay, 10, kAdd, Cell(4, 4, 4)),
      Entry(kDay, 12, kAdd, Cell(5, 5, 1)),
      Entry(kDay, 13, kSet, Cell(6, 6, 6)),
  });
  const SignalsCell out = ComposeSignalsCells(older, newer);
  EXPECT_TRUE(SameCells(out, Record({
                                 Entry(kTotal, 0, kAdd, Cell(3, 3, 3)),
                                 Entry(kMonth, 4, kRemove),
                                 Entry(kMonth, 5, kSet, Cell(1, 1, 1)),
                                 Entry(kDay, 9, kRemove),
                                 Entry(kDay, 10, kAdd, Cell(4, 4, 4)),
                                 Entry(kDay, 12, kAdd, Cell(7, 7, 2)),
                                 Entry(kDay, 13, kSet, Cell(6, 6, 6)),
                             })));
  EXPECT_TRUE(SortedAndUnique(out));
}

TEST(SignalsComposeTest, EmptyIsIdentity) {
  const SignalsCell c = FiveEntryRecord();
  EXPECT_TRUE(SameCells(ComposeSignalsCells(c, SignalsCell()), c));
  EXPECT_TRUE(SameCells(ComposeSignalsCells(SignalsCell(), c), c));
  EXPECT_TRUE(ComposeSignalsCells(SignalsCell(), SignalsCell()).entries.empty());
}

// Random records over a few (part, bucket) slots, with small cells.
class RandomRecords {
 public:
  explicit RandomRecords(uint32_t seed) : rng_(seed) {}

  SignalsEntry Entry() {
    static constexpr std::pair<SignalsPart, int32_t> kSlots[] = {
        {SignalsPart::kTotal, 0}, {SignalsPart::kMonth, 1}, {SignalsPart::kMonth, 2},
        {SignalsPart::kDay, 1},   {SignalsPart::kDay, 2},   {SignalsPart::kDay, 3},
    };
    const auto& slot = kSlots[Uniform(0, 5)];
    return EntryAt(slot.first, slot.second);
  }

  SignalsCell Record() {
    SignalsCell c;
    for (SignalsPart part : {kTotal, kMonth, kDay}) {
      const int buckets = part == kTotal ? 1 : 3;
      for (int b = 0; b < buckets; ++b) {
        if (Uniform(0, 1) == 0) continue;
        c.entries.push_back(EntryAt(part, part == kTotal ? 0 : b + 1));
      }
    }
    return c;
  }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  SignalsEntry EntryAt(SignalsPart part, int32_t bucket) {
    SignalsEntry e;
    e.part = part;
    e.bucket = bucket;
    e.edit = static_cast<SignalsEdit>(Uniform(0, 2));
    if (e.edit != kRemove) e.cell = Cell(Uniform(-3, 5), Uniform(-1000, 1000), Uniform(0, 100));
    return e;
  }

  std::mt19937 rng_;
};

TEST(SignalsComposeTest, IsAssociative) {
  RandomRecords random(20240601);
  for (int i = 0; i < 5000; ++i) {
    const SignalsCell a = random.Record();
    const SignalsCell b = random.Record();
    const SignalsCell c = random.Record();
    const SignalsCell left = ComposeSignalsCells(ComposeSignalsCells(a, b), c);
    const SignalsCell right = ComposeSignalsCells(a, ComposeSignalsCells(b, c));
    ASSERT_TRUE(SameCells(left, right)) << "case " << i << "\na = " << Describe(a)
                                        << "\nb = " << Describe(b) << "\nc = " << Describe(c);
    ASSERT_TRUE(SortedAndUnique(left)) << Describe(left);
  }
}

TEST(SignalsComposeTest, RandomRecordsRoundTripThroughTheCodec) {
  RandomRecords random(7);
  for (int i = 0; i < 1000; ++i) {
    const SignalsCell a = random.Record();
    SignalsCell out;
    ASSERT_TRUE(DecodeSignalsCell(EncodeSignalsCell(a), &out)) << Describe(a);
    ASSERT_TRUE(SameCells(out, a));
  }
}

TEST(SignalsComposeTest, ApplyEditEqualsComposeWithOneEntry) {
  RandomRecords random(99);
  for (int i = 0; i < 5000; ++i) {
    const SignalsCell base = random.Record();
    const SignalsEntry edit = random.Entry();
    SignalsCell applied = base;
    ApplySignalsEdit(&applied, edit);
    const SignalsCell composed = ComposeSignalsCells(base, Record({edit}));
    ASSERT_TRUE(SameCells(applied, composed))
        << "case " << i << "\nbase = " << Describe(base) << "\nedit = " << Describe(edit);
    ASSERT_TRUE(SortedAndUnique(applied)) << Describe(applied);
  }
}

TEST(SignalsComposeTest, ApplyEditToEmptyRecordInsertsIt) {
  SignalsCell c;
  ApplySignalsEdit(&c, Entry(kDay, 3, kAdd, Cell(1, 2, 3)));
  ApplySignalsEdit(&c, Entry(kTotal, 0, kRemove));
  ApplySignalsEdit(&c, Entry(kMonth, 8, kSet, Cell(4)));
  ApplySignalsEdit(&c, Entry(kDay, 3, kAdd, Cell(1, 2, 1)));
  ApplySignalsEdit(&c, Entry(kTotal, 0, kAdd, Cell(6, 0, 9)));
  EXPECT_TRUE(SameCells(c, Record({
                               Entry(kTotal, 0, kSet, Cell(6, 0, 9)),
                               Entry(kMonth, 8, kSet, Cell(4)),
                               Entry(kDay, 3, kAdd, Cell(2, 4, 3)),
                           })));
}

// --- Settling ---

TEST(SignalsSettleTest, DropsRemovesAndTurnsTheRestIntoSets) {
  SignalsCell c = Record({
      Entry(kTotal, 0, kAdd, Cell(1, 10, 100)),
      Entry(kMonth, 1, kRemove),
      Entry(kMonth, 2, kSet, Cell(2, 20, 200)),
      Entry(kDay, 3, kAdd, Cell(3, 30, 300)),
      Entry(kDay, 4, kRemove),
  });
  SettleSignalsCell(&c);
  EXPECT_TRUE(SameCells(c, Record({
                               Entry(kTotal, 0, kSet, Cell(1, 10, 100)),
                               Entry(kMonth, 2, kSet, Cell(2, 20, 200)),
                               Entry(kDay, 3, kSet, Cell(3, 30, 300)),
                           })));
}

TEST(SignalsSettleTest, AllRemovedOrEmptyBecomesEmpty) {
  SignalsCell removed = Record({Entry(kTotal, 0, kRemove), Entry(kDay, 4, kRemove)});
  SettleSignalsCell(&removed);
  EXPECT_TRUE(removed.entries.empty());
  SignalsCell empty;
  SettleSignalsCell(&empty);
  EXPECT_TRUE(empty.entries.empty());
}

TEST(SignalsSettleTest, SettledRecordComposesLikeTheUnsettledOne) {
  // A settled base is the same state: an operand on top of it reads the same once settled.
  RandomRecords random(3);
  for (int i = 0; i < 2000; ++i) {
    const SignalsCell base = random.Record();
    const SignalsCell operand = random.Record();
    SignalsCell settled = base;
    SettleSignalsCell(&settled);
    SignalsCell a = ComposeSignalsCells(base, operand);
    SignalsCell b = ComposeSignalsCells(settled, operand);
    SettleSignalsCell(&a);
    SettleSignalsCell(&b);
    ASSERT_TRUE(SameCells(a, b)) << "base = " << Describe(base)
                                 << "\noperand = " << Describe(operand);
  }
}

// --- Logical keys and tables ---

TEST(SignalsTablesTest, IsSignalsTableOnlyForTotalsMonthlyDaily) {
  for (int t = 0; t < kNumTables; ++t) {
    const Table table = static_cast<Table>(t);
    const bool expected =
        table == Table::kTotals || table == Table::kMonthly || table == Table::kDaily;
    EXPECT_EQ(IsSignalsTable(table), expected) << "table " << t;
  }
}

TEST(SignalsTablesTest, PartOfTableAndTableOfPartAreInverse) {
  EXPECT_EQ(PartOfTable(Table::kTotals), kTotal);
  EXPECT_EQ(PartOfTable(Table::kMonthly), kMonth);
  EXPECT_EQ(PartOfTable(Table::kDaily), kDay);
  EXPECT_EQ(TableOfPart(kTotal), Table::kTotals);
  EXPECT_EQ(TableOfPart(kMonth), Table::kMonthly);
  EXPECT_EQ(TableOfPart(kDay), Table::kDaily);
  for (Table table : {Table::kTotals, Table::kMonthly, Table::kDaily}) {
    EXPECT_EQ(TableOfPart(PartOfTable(table)), table);
  }
  for (SignalsPart part : {kTotal, kMonth, kDay}) {
    EXPECT_EQ(PartOfTable(TableOfPart(part)), part);
  }
}

std::string CounterKey() {
  return keys::SignalsCounterKey(keys::SignalsUserPrefix("tenant", 'u', "alice"), "clicks", "/a/b");
}

TEST(SignalsEntryOfTest, TotalsKeyIsTheWholeKeyWithBucketZero) {
  const std::string key = CounterKey();
  ASSERT_NE(keys::BucketOf(key), 0);  // the key's tail is no bucket to read
  absl::string_view counter_key = "unset";
  const SignalsEntry e = SignalsEntryOf(Table::kTotals, key, kAdd, Cell(3, 30, 300), &counter_key);
  EXPECT_TRUE(SameEntry(e, Entry(kTotal, 0, kAdd, Cell(3, 30, 300)))) << Describe(e);
  EXPECT_EQ(counter_key, key);
  EXPECT_EQ(SignalsLogicalKey(counter_key, e), key);
}

TEST(SignalsEntryOfTest, BucketedKeysSplitIntoCounterKeyAndBucket) {
  const std::string counter = CounterKey();
  for (const auto& [table, part, bucket] :
       {std::tuple<Table, SignalsPart, int32_t>{Table::kMonthly, kMonth, 660},
        {Table::kDaily, kDay, 20100},
        {Table::kDaily, kDay, 0x01020304},
        {Table::kMonthly, kMonth, 0}}) {
    const std::string key = keys::WithBucket(counter, bucket);
    absl::string_view counter_key = "unset";
    const SignalsEntry e = SignalsEntryOf(table, key, kSet, Cell(1, 2, 3), &counter_key);
    EXPECT_TRUE(SameEntry(e, Entry(part, bucket, kSet, Cell(1, 2, 3)))) << Describe(e);
    EXPECT_EQ(e.bucket, keys::BucketOf(key));
    EXPECT_EQ(counter_key, keys::WithoutBucket(key));
    EXPECT_EQ(counter_key, counter);
    EXPECT_EQ(SignalsLogicalKey(counter_key, e), key);
  }
}

TEST(SignalsEntryOfTest, EditKindIsKeptAndRemoveHasAZeroCell) {
  const std::string counter = CounterKey();
  for (Table table : {Table::kTotals, Table::kMonthly, Table::kDaily}) {
    const std::string key = table == Table::kTotals ? counter : keys::WithBucket(counter, 42);
    for (SignalsEdit edit : {kAdd, kSet, kRemove}) {
      absl::string_view counter_key;
      const SignalsEntry e = SignalsEntryOf(table, key, edit, Cell(5, 6, 7), &counter_key);
      EXPECT_EQ(e.part, PartOfTable(table));
      EXPECT_EQ(e.edit, edit);
      EXPECT_EQ(e.cell, edit == kRemove ? Cell(0, 0, 0) : Cell(5, 6, 7))
          << "table " << static_cast<int>(table) << " edit " << static_cast<int>(edit);
      EXPECT_EQ(e.Exists(), edit != kRemove);
      EXPECT_EQ(counter_key, counter);
      EXPECT_EQ(SignalsLogicalKey(counter_key, e), key);
    }
  }
}

TEST(SignalsEntryOfTest, LogicalKeyOfEntriesOfOneRecord) {
  const std::string counter = CounterKey();
  EXPECT_EQ(SignalsLogicalKey(counter, Entry(kTotal, 0, kSet)), counter);
  EXPECT_EQ(SignalsLogicalKey(counter, Entry(kMonth, 660, kAdd)), keys::WithBucket(counter, 660));
  EXPECT_EQ(SignalsLogicalKey(counter, Entry(kDay, 20100, kRemove)),
            keys::WithBucket(counter, 20100));
}

// --- Find ---

TEST(SignalsCellFindTest, FindsPresentEntriesOnly) {
  const SignalsCell c = Record({
      Entry(kTotal, 0, kAdd, Cell(1)),
      Entry(kMonth, 5, kSet, Cell(2)),
      Entry(kMonth, 7, kRemove),
      Entry(kDay, 5, kAdd, Cell(4)),
  });
  EXPECT_EQ(c.Find(kTotal, 0), &c.entries[0]);
  EXPECT_EQ(c.Find(kMonth, 5), &c.entries[1]);
  EXPECT_EQ(c.Find(kMonth, 7), &c.entries[2]);  // a remove entry is still an entry
  EXPECT_EQ(c.Find(kDay, 5), &c.entries[3]);
  EXPECT_EQ(c.Find(kMonth, 6), nullptr);
  EXPECT_EQ(c.Find(kMonth, 8), nullptr);
  EXPECT_EQ(c.Find(kMonth, 0), nullptr);
  EXPECT_EQ(c.Find(kDay, 7), nullptr);
  EXPECT_EQ(c.Find(kDay, 4), nullptr);
  EXPECT_EQ(c.Find(kDay, 6), nullptr);
  EXPECT_EQ(c.Find(kTotal, 5), nullptr);
  EXPECT_EQ(SignalsCell().Find(kTotal, 0), nullptr);
  const SignalsCell only_days = Record({Entry(kDay, 1, kAdd, Cell(1))});
  EXPECT_EQ(only_days.Find(kTotal, 0), nullptr);
  EXPECT_EQ(only_days.Find(kMonth, 1), nullptr);
  EXPECT_EQ(only_days.Find(kDay, 1), &only_days.entries[0]);
}

}  // namespace
}  // namespace countd::storage
