// Tests of storage/signals_cell.h: the record codec, edit composition and logical keys.
#include "storage/signals_cell.h"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
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

// Bytes from their values, for encodings written out by hand.
std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

// `n` bytes of value `byte`.
std::string Repeat(int byte, size_t n) { return std::string(n, static_cast<char>(byte)); }

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
SignalsCell ValidRecord() {
  return Record({
      Entry(kTotal, 0, kAdd, Cell(1, 2, 3)),
      Entry(kMonth, 600, kSet, Cell(4, 5, 6)),
      Entry(kMonth, 601, kAdd, Cell(7, 8, 9)),
  });
}

std::string ValidEncoding() { return EncodeSignalsCell(ValidRecord()); }

// ValidEncoding() written out from the rules of the encoding. Every count, value and update time
// in it zigzags below 0x80, one byte each; the buckets take two (600 = 0x58 + 4 << 7).
//   the tag                    C5
//   total add (1, 2, 3)        head 00, count 02, value 04, updated 06
//   month 600 set (4, 5, 6)    head 11, bucket D8 04, count 08, value 0A, updated 0C
//   month 601 add (7, 8, 9)    head 10, bucket D9 04, count 0E, value 10, updated 12
std::string ValidBytes() {
  return Bytes({0xC5, 0x00, 0x02, 0x04, 0x06, 0x11, 0xD8, 0x04, 0x08, 0x0A, 0x0C, 0x10, 0xD9, 0x04,
                0x0E, 0x10, 0x12});
}

// Offset of the head byte of entry `i` of ValidBytes(); EntryAt(3) is its end.
size_t EntryAt(size_t i) {
  static constexpr size_t kAt[] = {1, 5, 11, 17};
  return kAt[i];
}

// The bytes of entry `i` of ValidBytes().
std::string EntryOf(const std::string& bytes, size_t i) {
  return bytes.substr(EntryAt(i), EntryAt(i + 1) - EntryAt(i));
}

// A record whose encoding, but for the padding, would be kCounterCellSize long: the tag, the
// head, count 10 bytes, value 19 bytes, updated 1 byte.
SignalsCell ThirtyTwoByteRecord() {
  return Record({Entry(kTotal, 0, kSet, Cell(INT64_MAX, absl::Int128Max(), 0))});
}

// Its encoding without the padding, written out: the tag; head 01; count zigzag(INT64_MAX) =
// 2^64 - 2: FE, eight FF, 01; value zigzag(Int128Max) = 2^128 - 2: FE, seventeen FF, 03;
// updated 00.
std::string ThirtyTwoByteRecordUnpadded() {
  return Bytes({0xC5, 0x01, 0xFE}) + Repeat(0xFF, 8) + Bytes({0x01, 0xFE}) + Repeat(0xFF, 17) +
         Bytes({0x03, 0x00});
}

// A record of one total add whose count, value and update time are the given varint bytes.
std::string TotalAddBytes(const std::string& count, const std::string& value,
                          const std::string& updated) {
  return Bytes({0xC5, 0x00}) + count + value + updated;
}

bool Decodes(absl::string_view bytes) {
  SignalsCell c;
  return DecodeSignalsCell(bytes, &c);
}

// --- Encoding ---

TEST(SignalsCellCodecTest, RoundTripsEveryPartAndEdit) {
  const SignalsCell in = FiveEntryRecord();
  const std::string bytes = EncodeSignalsCell(in);
  EXPECT_EQ(bytes[0], '\xC5');
  EXPECT_NE(bytes.size(), kCounterCellSize);

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

TEST(SignalsCellCodecTest, RoundTripsVarintEdgeValues) {
  // Around every sign change, 7-bit group boundary and limit of the zigzagged fields, in a total
  // and in a day whose bucket crosses the same boundaries of its uint32.
  const int64_t kInt64s[] = {INT64_MIN, INT64_MIN + 1, -65,           -64,      -1, 0, 1, 63, 64,
                             8191,      1700000000000, INT64_MAX - 1, INT64_MAX};
  const absl::int128 kValues[] = {
      absl::Int128Min(),      absl::Int128Min() + 1, absl::MakeInt128(-1, 0), -1, 0, 1,
      absl::MakeInt128(1, 0), absl::Int128Max() - 1, absl::Int128Max()};
  const int32_t kBuckets[] = {INT32_MIN, -1, 0, 1, 127, 128, 20000, INT32_MAX};
  for (int64_t count : kInt64s) {
    for (absl::int128 value : kValues) {
      for (int64_t updated : kInt64s) {
        for (int32_t bucket : kBuckets) {
          const SignalsCell in = Record({Entry(kTotal, 0, kSet, Cell(count, value, updated)),
                                         Entry(kDay, bucket, kAdd, Cell(updated, value, count))});
          const std::string bytes = EncodeSignalsCell(in);
          ASSERT_NE(bytes.size(), kCounterCellSize) << Describe(in);
          SignalsCell out;
          ASSERT_TRUE(DecodeSignalsCell(bytes, &out)) << Describe(in);
          ASSERT_TRUE(SameCells(out, in));
        }
      }
    }
  }
}

TEST(SignalsCellCodecTest, EncodingLayout) {
  // A total add and a day set, written out from the rules. The tag; the total's head (part
  // kTotal in the high nibble, edit kAdd in the low), no bucket, count zigzag(1) = 2, value
  // zigzag(0) = 0, updated zigzag(5) = 10; the day's head (kDay, kSet), bucket 20000 = 0x20 +
  // 0x1C << 7 + 1 << 14, count zigzag(-2) = 3, value zigzag(300) = 600 = 0x58 + 4 << 7, updated
  // zigzag(70000) = 140000 = 0x60 + 0x45 << 7 + 8 << 14.
  EXPECT_EQ(EncodeSignalsCell(Record({Entry(kTotal, 0, kAdd, Cell(1, 0, 5)),
                                      Entry(kDay, 20000, kSet, Cell(-2, 300, 70000))})),
            Bytes({0xC5, 0x00, 0x02, 0x00, 0x0A, 0x21, 0xA0, 0x9C, 0x01, 0x03, 0xD8, 0x04, 0xE0,
                   0xC5, 0x08}));
  // A remove is its head and bucket alone, whatever its cell; a bucket is its uint32 (-1: five
  // bytes; 0x01020304 = 0x04 + 6 << 7 + 8 << 14 + 8 << 21).
  EXPECT_EQ(EncodeSignalsCell(
                Record({Entry(kTotal, 0, kRemove, Cell(9, 9, 9)), Entry(kMonth, -1, kRemove),
                        Entry(kDay, 0x01020304, kSet, Cell(7, 8, 9))})),
            Bytes({0xC5, 0x02, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x21, 0x84, 0x86, 0x88, 0x08,
                   0x0E, 0x10, 0x12}));
  EXPECT_EQ(ValidEncoding(), ValidBytes());
}

TEST(SignalsCellCodecTest, SignedFieldsAreZigzaggedShortestVarints) {
  // Each number with its varint: zigzagged, then 7 bits a byte, low groups first.
  const std::pair<int64_t, std::string> kInt64s[] = {
      {0, Bytes({0x00})},
      {-1, Bytes({0x01})},
      {1, Bytes({0x02})},
      {63, Bytes({0x7E})},
      {-64, Bytes({0x7F})},
      {64, Bytes({0x80, 0x01})},
      {-65, Bytes({0x81, 0x01})},
      {8191, Bytes({0xFE, 0x7F})},
      {8192, Bytes({0x80, 0x80, 0x01})},
      {INT64_MAX, Bytes({0xFE}) + Repeat(0xFF, 8) + Bytes({0x01})},
      {INT64_MIN, Repeat(0xFF, 9) + Bytes({0x01})},
  };
  for (const auto& [n, varint] : kInt64s) {
    EXPECT_EQ(EncodeSignalsCell(Record({Entry(kTotal, 0, kSet, Cell(n, 0, 0))})),
              Bytes({0xC5, 0x01}) + varint + Bytes({0x00, 0x00}))
        << "count " << n;
    EXPECT_EQ(EncodeSignalsCell(Record({Entry(kTotal, 0, kSet, Cell(0, 0, n))})),
              Bytes({0xC5, 0x01, 0x00, 0x00}) + varint)
        << "updated_ms " << n;
  }
  const std::pair<absl::int128, std::string> kValues[] = {
      {0, Bytes({0x00})},
      {-1, Bytes({0x01})},
      {1, Bytes({0x02})},
      {absl::MakeInt128(1, 0), Repeat(0x80, 9) + Bytes({0x04})},  // 2^64: zigzag 2^65
      {absl::MakeInt128(-1, 0), Repeat(0xFF, 9) + Bytes({0x03})},
      {absl::Int128Max(), Bytes({0xFE}) + Repeat(0xFF, 17) + Bytes({0x03})},
      {absl::Int128Min(), Repeat(0xFF, 18) + Bytes({0x03})},
  };
  for (const auto& [v, varint] : kValues) {
    EXPECT_EQ(EncodeSignalsCell(Record({Entry(kTotal, 0, kSet, Cell(0, v, 0))})),
              Bytes({0xC5, 0x01, 0x00}) + varint + Bytes({0x00}))
        << "value_micros " << v;
  }
}

TEST(SignalsCellCodecTest, RemoveEntriesDecodeWithAZeroCell) {
  const SignalsCell in = Record({
      Entry(kTotal, 0, kRemove, Cell(9, 99, 999)),
      Entry(kDay, 3, kRemove, Cell(-1, 1, -1)),
  });
  const std::string bytes = EncodeSignalsCell(in);
  EXPECT_EQ(bytes, EncodeSignalsCell(Record({Entry(kTotal, 0, kRemove), Entry(kDay, 3, kRemove)})));
  SignalsCell out;
  ASSERT_TRUE(DecodeSignalsCell(bytes, &out));
  EXPECT_TRUE(SameCells(out, Record({
                                 Entry(kTotal, 0, kRemove, Cell(0, 0, 0)),
                                 Entry(kDay, 3, kRemove, Cell(0, 0, 0)),
                             })));
}

TEST(SignalsCellCodecTest, PrefixesOfARecordRoundTripAndAreNever32BytesLong) {
  const SignalsCell five = FiveEntryRecord();
  for (size_t n = 0; n <= 5; ++n) {
    SignalsCell c = Record({five.entries.begin(), five.entries.begin() + n});
    const std::string bytes = EncodeSignalsCell(c);
    EXPECT_NE(bytes.size(), kCounterCellSize) << n << " entries";
    SignalsCell out;
    ASSERT_TRUE(DecodeSignalsCell(bytes, &out)) << n << " entries";
    EXPECT_TRUE(SameCells(out, c));
  }
}

TEST(SignalsCellCodecTest, RecordThatWouldBe32BytesLongIsPadded) {
  // Unpadded, its bytes would read as an older countd's total: not the record.
  const std::string unpadded = ThirtyTwoByteRecordUnpadded();
  ASSERT_EQ(unpadded.size(), kCounterCellSize);
  CounterCell legacy;
  ASSERT_TRUE(DecodeCounterCell(unpadded, &legacy));
  SignalsCell misread;
  ASSERT_TRUE(DecodeSignalsCell(unpadded, &misread));
  EXPECT_TRUE(SameCells(misread, Record({Entry(kTotal, 0, kAdd, legacy)})));
  EXPECT_FALSE(SameCells(misread, ThirtyTwoByteRecord()));

  // So it takes the other tag and a 0 byte after it, 33 bytes, and reads back as itself.
  const std::string bytes = EncodeSignalsCell(ThirtyTwoByteRecord());
  EXPECT_EQ(bytes, Bytes({0xC6, 0x00}) + unpadded.substr(1));
  EXPECT_EQ(bytes.size(), kCounterCellSize + 1);
  SignalsCell out;
  ASSERT_TRUE(DecodeSignalsCell(bytes, &out));
  EXPECT_TRUE(SameCells(out, ThirtyTwoByteRecord()));

  // One byte shorter or longer, a record keeps the plain tag: count 2^62 - 1 zigzags to 63 bits,
  // 9 bytes; updated 64 to 128, 2 bytes.
  const std::pair<SignalsCell, size_t> kNear[] = {
      {Record({Entry(kTotal, 0, kSet, Cell((int64_t{1} << 62) - 1, absl::Int128Max(), 0))}),
       kCounterCellSize - 1},
      {Record({Entry(kTotal, 0, kSet, Cell(INT64_MAX, absl::Int128Max(), 64))}),
       kCounterCellSize + 1},
  };
  for (const auto& [c, size] : kNear) {
    const std::string near = EncodeSignalsCell(c);
    EXPECT_EQ(near.size(), size) << Describe(c);
    EXPECT_EQ(near[0], '\xC5') << Describe(c);
    SignalsCell back;
    ASSERT_TRUE(DecodeSignalsCell(near, &back));
    EXPECT_TRUE(SameCells(back, c));
  }
}

// The writer encodes every record of a group into one reused buffer: what it held before never
// shows, including the padding of a 32-byte record and a longer record's tail.
TEST(SignalsCellCodecTest, EncodeToReplacesWhatTheBufferHeld) {
  const SignalsCell kRecords[] = {
      Record({Entry(kTotal, 0, kAdd, Cell(1, 2, 3)), Entry(kMonth, 670, kAdd, Cell(1, 2, 3)),
              Entry(kDay, 20400, kSet, Cell(7, -9, 1700000000000))}),
      ThirtyTwoByteRecord(),
      Record({Entry(kDay, 20401, kRemove, CounterCell())}),
      SignalsCell(),
  };
  std::string buffer = "left over from before, longer than any record here";
  for (const SignalsCell& c : kRecords) {
    EncodeSignalsCellTo(c, &buffer);
    EXPECT_EQ(buffer, EncodeSignalsCell(c)) << Describe(c);
  }
}

TEST(SignalsCellCodecTest, EmptyRecordRoundTrips) {
  const std::string bytes = EncodeSignalsCell(SignalsCell());
  EXPECT_EQ(bytes, std::string("\xC5"));
  SignalsCell out = Record({Entry(kTotal, 0, kAdd, Cell(1))});
  ASSERT_TRUE(DecodeSignalsCell(bytes, &out));
  EXPECT_TRUE(out.entries.empty());
}

// Older totals are bases and merge operands alike: both add to what lies below them.
TEST(SignalsCellCodecTest, LegacyCounterCellDecodesAsAddToTotal) {
  const CounterCell legacy = Cell(7, -3000001, 1700000000999);
  const std::string bytes = EncodeCounterCell(legacy);
  ASSERT_EQ(bytes.size(), kCounterCellSize);
  SignalsCell out = Record({Entry(kMonth, 3, kAdd, Cell(1)), Entry(kDay, 4, kAdd, Cell(2))});
  ASSERT_TRUE(DecodeSignalsCell(bytes, &out));
  EXPECT_TRUE(SameCells(out, Record({Entry(kTotal, 0, kAdd, legacy)})));
}

TEST(SignalsCellCodecTest, LegacyZeroCellDecodesAsAddOfZeroToTotal) {
  SignalsCell out;
  ASSERT_TRUE(DecodeSignalsCell(std::string(kCounterCellSize, '\0'), &out));
  EXPECT_TRUE(SameCells(out, Record({Entry(kTotal, 0, kAdd, Cell(0))})));
}

// --- Decoding rejects what is not a record ---

TEST(SignalsCellDecodeTest, ValidBaseDecodes) {
  // The base of the mutations below is itself valid, so each rejection is the mutation's; and it
  // is the bytes written out in ValidBytes(), so the offsets of EntryAt are its entries'.
  ASSERT_EQ(ValidEncoding(), ValidBytes());
  SignalsCell out;
  ASSERT_TRUE(DecodeSignalsCell(ValidEncoding(), &out));
  EXPECT_EQ(out.entries.size(), 3u);
  EXPECT_TRUE(SameCells(out, ValidRecord()));
}

TEST(SignalsCellDecodeTest, RejectsEmptyString) { EXPECT_FALSE(Decodes("")); }

TEST(SignalsCellDecodeTest, RejectsWrongTag) {
  for (int tag : {0x00, 0x01, 0xC4, 0xC6, 0xC7, 0xFF, 0x78}) {
    std::string bytes = ValidEncoding();
    bytes[0] = static_cast<char>(tag);
    EXPECT_FALSE(Decodes(bytes)) << "tag " << tag;
    EXPECT_FALSE(Decodes(bytes.substr(0, 1))) << "tag " << tag << " alone";
  }
}

TEST(SignalsCellDecodeTest, RejectsPaddedTagWithoutItsPaddingOrLength) {
  const std::string padded = EncodeSignalsCell(ThirtyTwoByteRecord());
  ASSERT_EQ(padded.size(), kCounterCellSize + 1);
  ASSERT_TRUE(Decodes(padded));
  for (int pad : {0x01, 0x80, 0xFF}) {
    std::string bytes = padded;
    bytes[1] = static_cast<char>(pad);
    EXPECT_FALSE(Decodes(bytes)) << "pad " << pad;
  }
  EXPECT_FALSE(Decodes(Bytes({0xC6})));
  EXPECT_FALSE(Decodes(Bytes({0xC6, 0x00})));

  // Records that decode under the plain tag, given the padded one and its 0 byte: 18, 34 and 35
  // bytes long.
  const std::string natural33 =
      EncodeSignalsCell(Record({Entry(kTotal, 0, kSet, Cell(INT64_MAX, absl::Int128Max(), 64))}));
  ASSERT_EQ(natural33.size(), kCounterCellSize + 1);
  ASSERT_EQ(natural33[0], '\xC5');
  ASSERT_TRUE(Decodes(natural33));
  const std::string month_remove = Bytes({0x12, 0x01});
  ASSERT_TRUE(Decodes(Bytes({0xC5}) + padded.substr(2) + month_remove));
  EXPECT_FALSE(Decodes(Bytes({0xC6, 0x00}) + ValidEncoding().substr(1)));
  EXPECT_FALSE(Decodes(Bytes({0xC6, 0x00}) + natural33.substr(1)));
  EXPECT_FALSE(Decodes(padded + month_remove));
  // A 33-byte record under the padded tag but without the 0 byte.
  EXPECT_FALSE(Decodes(Bytes({0xC6}) + natural33.substr(1)));
}

TEST(SignalsCellDecodeTest, RejectsRecordsCutInsideAnEntry) {
  const std::string valid = ValidEncoding();
  // Every prefix that ends between two entries decodes; any other ends inside one. (None is the
  // legacy 32 bytes long.)
  for (size_t n = 0; n <= valid.size(); ++n) {
    const bool whole = n == EntryAt(0) || n == EntryAt(1) || n == EntryAt(2) || n == EntryAt(3);
    EXPECT_EQ(Decodes(valid.substr(0, n)), whole) << "length " << n;
  }
  EXPECT_FALSE(Decodes(valid + '\0'));  // the head of a total add, nothing after it
  // A day add after them, bucket 5 and count 1 but no value or update time.
  ASSERT_TRUE(Decodes(valid + Bytes({0x20, 0x05, 0x02, 0x00, 0x00})));
  EXPECT_FALSE(Decodes(valid + Bytes({0x20, 0x05, 0x02, 0x00})));
  EXPECT_FALSE(Decodes(valid + Bytes({0x20, 0x05, 0x02})));
  EXPECT_FALSE(Decodes(valid + Bytes({0x20, 0x05})));
  EXPECT_FALSE(Decodes(valid + Bytes({0x20})));
  EXPECT_FALSE(Decodes(std::string("\xC5") + EncodeCounterCell(Cell(1))));  // 33 bytes
}

TEST(SignalsCellDecodeTest, RejectsTruncatedFinalVarint) {
  // The record of EncodingLayout: its last varint, updated_ms, is E0 C5 08.
  const std::string bytes = EncodeSignalsCell(Record(
      {Entry(kTotal, 0, kAdd, Cell(1, 0, 5)), Entry(kDay, 20000, kSet, Cell(-2, 300, 70000))}));
  ASSERT_TRUE(Decodes(bytes));
  ASSERT_EQ(bytes.substr(bytes.size() - 3), Bytes({0xE0, 0xC5, 0x08}));
  EXPECT_FALSE(Decodes(bytes.substr(0, bytes.size() - 1)));
  EXPECT_FALSE(Decodes(bytes.substr(0, bytes.size() - 2)));
  // The last byte of ValidEncoding() with the high bit set: its varint runs on past the end.
  std::string valid = ValidEncoding();
  valid.back() = static_cast<char>(valid.back() | 0x80);
  EXPECT_FALSE(Decodes(valid));
  // A bucket cut short.
  ASSERT_TRUE(Decodes(Bytes({0xC5, 0x12, 0x80, 0x01})));
  EXPECT_FALSE(Decodes(Bytes({0xC5, 0x12, 0x80})));
}

TEST(SignalsCellDecodeTest, RejectsVarintsLongerThanTheirField) {
  const std::string zero = Bytes({0x00});
  SignalsCell out;
  // 64 bits: ten bytes, the tenth holding one bit; 2^64 - 1 is zigzag(INT64_MIN).
  const std::string max64 = Repeat(0xFF, 9) + Bytes({0x01});
  ASSERT_TRUE(DecodeSignalsCell(TotalAddBytes(max64, zero, max64), &out));
  EXPECT_TRUE(SameCells(out, Record({Entry(kTotal, 0, kAdd, Cell(INT64_MIN, 0, INT64_MIN))})));
  for (const std::string& bad : {
           Repeat(0xFF, 9) + Bytes({0x02}),  // bit 64
           Repeat(0xFF, 9) + Bytes({0x7F}),
           Repeat(0x80, 10) + Bytes({0x01}),  // eleven bytes
           Repeat(0xFF, 10) + Bytes({0x01}),
       }) {
    EXPECT_FALSE(Decodes(TotalAddBytes(bad, zero, zero))) << "count of " << bad.size() << " bytes";
    EXPECT_FALSE(Decodes(TotalAddBytes(zero, zero, bad))) << "updated of " << bad.size();
  }
  // 128 bits: nineteen bytes, the last holding two bits; 2^128 - 1 is zigzag(Int128Min).
  ASSERT_TRUE(DecodeSignalsCell(TotalAddBytes(zero, Repeat(0xFF, 18) + Bytes({0x03}), zero), &out));
  EXPECT_TRUE(SameCells(out, Record({Entry(kTotal, 0, kAdd, Cell(0, absl::Int128Min(), 0))})));
  for (const std::string& bad : {
           Repeat(0xFF, 18) + Bytes({0x04}),                                    // bit 128
           Repeat(0xFF, 18) + Bytes({0x7F}), Repeat(0x80, 19) + Bytes({0x01}),  // twenty bytes
       }) {
    EXPECT_FALSE(Decodes(TotalAddBytes(zero, bad, zero))) << "value of " << bad.size() << " bytes";
  }
  // 32 bits: five bytes, the fifth holding four bits; 2^32 - 1 is bucket -1.
  ASSERT_TRUE(DecodeSignalsCell(Bytes({0xC5, 0x22, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F}), &out));
  EXPECT_TRUE(SameCells(out, Record({Entry(kDay, -1, kRemove)})));
  for (const std::string& bad : {
           Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x10}),  // bit 32
           Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x1F}),
           Bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x01}),  // six bytes
       }) {
    EXPECT_FALSE(Decodes(Bytes({0xC5, 0x22}) + bad)) << "bucket of " << bad.size() << " bytes";
  }
}

TEST(SignalsCellDecodeTest, RejectsVarintsNotInTheirShortestForm) {
  const std::string zero = Bytes({0x00});
  SignalsCell out;
  ASSERT_TRUE(DecodeSignalsCell(TotalAddBytes(Bytes({0x82, 0x01}), zero, zero), &out));
  EXPECT_TRUE(SameCells(out, Record({Entry(kTotal, 0, kAdd, Cell(65, 0, 0))})));
  // A last group of 0 adds a byte and nothing else.
  for (const std::string& bad : {
           Bytes({0x80, 0x00}),
           Bytes({0x82, 0x00}),
           Bytes({0x82, 0x81, 0x00}),
           Repeat(0xFF, 9) + Bytes({0x00}),
       }) {
    EXPECT_FALSE(Decodes(TotalAddBytes(bad, zero, zero))) << "count of " << bad.size() << " bytes";
    EXPECT_FALSE(Decodes(TotalAddBytes(zero, bad, zero))) << "value of " << bad.size();
    EXPECT_FALSE(Decodes(TotalAddBytes(zero, zero, bad))) << "updated of " << bad.size();
    EXPECT_FALSE(Decodes(Bytes({0xC5, 0x12}) + bad)) << "bucket of " << bad.size();
  }
  EXPECT_FALSE(Decodes(TotalAddBytes(zero, Repeat(0xFF, 18) + Bytes({0x00}), zero)));
  ASSERT_TRUE(Decodes(Bytes({0xC5, 0x12, 0x05})));
  EXPECT_FALSE(Decodes(Bytes({0xC5, 0x12, 0x85, 0x00})));
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
  // The counterpart of RejectsUnknownEdit: the low nibble 0..2 is accepted. A remove has no
  // cell, so the month made one loses the three bytes of its cell, after its head and bucket.
  const std::string valid = ValidEncoding();
  for (int edit = 0; edit <= 2; ++edit) {
    std::string bytes = valid;
    bytes[EntryAt(1)] = static_cast<char>(0x10 | edit);
    if (edit == 2) bytes.erase(EntryAt(1) + 3, 3);
    SignalsCell out;
    ASSERT_TRUE(DecodeSignalsCell(bytes, &out)) << "edit " << edit;
    ASSERT_EQ(out.entries.size(), 3u);
    EXPECT_EQ(out.entries[1].edit, static_cast<SignalsEdit>(edit));
    EXPECT_EQ(out.entries[1].bucket, 600);
    EXPECT_EQ(out.entries[1].cell, edit == 2 ? Cell(0, 0, 0) : Cell(4, 5, 6)) << "edit " << edit;
    EXPECT_TRUE(SameEntry(out.entries[2], ValidRecord().entries[2])) << Describe(out.entries[2]);
  }
  // A remove that keeps its cell's bytes: they read as an entry of edit 8.
  std::string bytes = valid;
  bytes[EntryAt(1)] = '\x12';
  EXPECT_FALSE(Decodes(bytes));
}

TEST(SignalsCellDecodeTest, RejectsUnsortedEntries) {
  const std::string valid = ValidEncoding();
  const std::string tag = valid.substr(0, 1);
  const std::string total = EntryOf(valid, 0);
  const std::string month600 = EntryOf(valid, 1);
  const std::string month601 = EntryOf(valid, 2);
  ASSERT_EQ(tag + total + month600 + month601, valid);
  EXPECT_FALSE(Decodes(tag + total + month601 + month600));  // the two months swapped
  EXPECT_FALSE(Decodes(tag + month600 + total + month601));  // a month before the total
  {  // the second month's bucket lowered to 599: D9 04 becomes D7 04
    std::string bytes = valid;
    bytes[EntryAt(2) + 1] = '\xD7';
    EXPECT_FALSE(Decodes(bytes));
    bytes[EntryAt(2) + 1] = '\xDA';  // and raised to 602
    EXPECT_TRUE(Decodes(bytes));
  }
  {  // the first month turned into a day, before the month of bucket 601
    std::string bytes = valid;
    bytes[EntryAt(1)] = static_cast<char>((2 << 4) | (bytes[EntryAt(1)] & 0x0F));
    EXPECT_FALSE(Decodes(bytes));
  }
  // Buckets are in the order of their uint32: bucket -1 comes after bucket 1.
  EXPECT_TRUE(Decodes(Bytes({0xC5, 0x12, 0x01, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F})));
  EXPECT_FALSE(Decodes(Bytes({0xC5, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x12, 0x01})));
}

TEST(SignalsCellDecodeTest, RejectsDuplicateEntries) {
  const std::string valid = ValidEncoding();
  const std::string tag = valid.substr(0, 1);
  const std::string total = EntryOf(valid, 0);
  const std::string month600 = EntryOf(valid, 1);
  const std::string month601 = EntryOf(valid, 2);
  {  // the second month's bucket set to the first's, 600: D9 04 becomes D8 04
    std::string bytes = valid;
    bytes[EntryAt(2) + 1] = '\xD8';
    EXPECT_FALSE(Decodes(bytes));
  }
  EXPECT_FALSE(
      Decodes(tag + total + month600 + month600));  // the first month copied over the second
  {  // the first month turned into a second total: its part cleared, its bucket dropped
    std::string second_total = month600;
    second_total[0] = static_cast<char>(second_total[0] & 0x0F);
    second_total.erase(1, 2);
    ASSERT_TRUE(Decodes(tag + second_total + month601));
    EXPECT_FALSE(Decodes(tag + total + second_total + month601));
  }
  {  // same (part, bucket), different edits: an add, or a remove without its cell
    std::string add = month600;
    add[0] = '\x10';
    EXPECT_FALSE(Decodes(tag + total + month600 + add));
    EXPECT_FALSE(Decodes(tag + total + month600 + Bytes({0x12, 0xD8, 0x04})));
    EXPECT_TRUE(Decodes(tag + total + month600 + Bytes({0x12, 0xD9, 0x04})));  // bucket 601
  }
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

TEST(SignalsCellCodecTest, RandomRecordsAreNever32BytesLong) {
  // Random records range over about 1 to 40 bytes: some would be 32 bytes long, and are padded.
  RandomRecords random(32);
  int padded = 0;
  for (int i = 0; i < 20000; ++i) {
    const SignalsCell a = random.Record();
    const std::string bytes = EncodeSignalsCell(a);
    ASSERT_NE(bytes.size(), kCounterCellSize) << Describe(a);
    if (bytes[0] == '\xC6') {
      ASSERT_EQ(bytes.size(), kCounterCellSize + 1) << Describe(a);
      ASSERT_EQ(bytes[1], '\0') << Describe(a);
      ++padded;
    } else {
      ASSERT_EQ(bytes[0], '\xC5') << Describe(a);
    }
    SignalsCell out;
    ASSERT_TRUE(DecodeSignalsCell(bytes, &out)) << Describe(a);
    ASSERT_TRUE(SameCells(out, a));
  }
  EXPECT_GT(padded, 0);
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
