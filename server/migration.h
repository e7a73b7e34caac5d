// server/migration.h — moving a node's data into a Redis Cluster: copies every live record of a
// RocksDB store (a stopped node's data dir, or a backup) into a store that keeps rankings,
// rebuilds the cluster's Tally top-K and GameMechanics 7-day rankings from the copied buckets,
// resumes where an interrupted run stopped, and verifies that everything arrived.
#ifndef COUNTD_SERVER_MIGRATION_H_
#define COUNTD_SERVER_MIGRATION_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd {

// Store writes one copy step carries at most (records plus ranking ops).
inline constexpr size_t kMigrationBatchOps = 500;
// Tally top-K and 7-day leaderboard entries compared per ranking by the verification (the most
// a client can ask for).
inline constexpr size_t kMigrationRankingTop = 1000;

struct MigrationOptions {
  // What the copy is of (e.g. the absolute data dir), kept with the progress in the target: a
  // run resumes only a copy of the same source.
  std::string source_name;
  // Start over: forget the progress recorded in the target (records already there are
  // overwritten; Puts are idempotent and each partition's rankings are rebuilt).
  bool restart = false;
  // Stop after copying this many partitions (0: no limit), recording the progress, so that a
  // later run continues: for moving data in steps, and for tests of resuming. A partition here
  // is one partition's records in one table.
  int64_t max_partitions = 0;
  // Partitions written at once (each a single write; bigger partitions are written alone, in
  // order). 1: one write at a time.
  int parallel_writes = 8;
  // Time source for the rankings and the verification; nullptr = RealClock().
  const storage::Clock* clock = nullptr;
  // Progress lines for the operator (none when empty).
  std::function<void(const std::string&)> log;
  // Test hook: called after each write of copied records with that write; returning false ends
  // the copy at once (kCancelled), without recording progress, as a killed process would.
  std::function<bool(const storage::WriteBatch&)> after_write_for_test;
};

// Figures per table (indexed by static_cast<int>(storage::Table)).
struct MigrationTableCounts {
  int64_t records = 0;  // copied, or checked
  // Request_id records from before partitions (keys::LegacyRequestKey): not copied, since the
  // cluster never reads them (they only guard retries for 24 h after the upgrade that ended
  // them).
  int64_t skipped = 0;
  int64_t mismatches = 0;  // verification only
};

struct CopyReport {
  std::array<MigrationTableCounts, storage::kNumTables> tables;  // this run
  std::array<int64_t, storage::kNumTables> total_records{};      // every run since the last restart
  int64_t partitions = 0;        // partitions copied by this run (one partition per table counted)
  int64_t writes = 0;            // store writes of copied records by this run
  int64_t tally_rankings = 0;    // Tally top-K counters whose ranking this run rebuilt
  int64_t gm_week_rankings = 0;  // GameMechanics challenges (per tenant) whose ranking it rebuilt
  bool resumed = false;          // continued a copy an earlier run left unfinished
  bool was_complete = false;     // an earlier run had already finished: nothing copied
  bool complete = false;         // every record is in the target now
};

// One difference the verification found, without key bytes (keys may hold personal data such
// as uids): its table, the partition's hash (the Redis hash tag "{<hex>}" of its keys) and what
// differs.
struct Mismatch {
  storage::Table table;
  std::string partition_hash;
  std::string what;
};

struct VerifyReport {
  std::array<MigrationTableCounts, storage::kNumTables> tables;
  int64_t rankings = 0;            // rankings compared (Tally top-K counters and GM challenges)
  int64_t ranking_mismatches = 0;  // ... that differ
  int64_t mismatches = 0;          // records and rankings that differ
  std::vector<Mismatch> first_mismatches;  // the first 20
  bool copy_complete = false;              // the target's progress says a copy finished
  bool ok() const { return mismatches == 0; }
};

// Copies every live record of `source` into `target` (see the file comment), continuing the
// copy whose progress `target` holds unless options.restart. Records are written as stored
// (counters with their merged cells), one partition per write, at most kMigrationBatchOps ops
// per write; expired records are not copied. The first write of a Tally top-K counter's buckets
// and of a tenant's daily points resets the rankings they feed, so that a partition copied
// again (after an interruption) is ranked exactly once. Progress (the last partition finished)
// is recorded in `target` at least every second, at a stop and at the end; a run that is killed
// redoes at most the partitions after it. `source` must be a RocksDB store (ScanAllPartitions);
// it is only read. `target` must keep rankings.
// Errors: kInvalidArgument when a store is of the wrong kind; kFailedPrecondition when the
// target's progress is of another source (use restart), or the source holds Tally records of
// the layout an older countd shared between ops (start this countd on it once); kDataLoss naming
// the table for a record of no known layout or an unreadable counter; those of the stores.
absl::StatusOr<CopyReport> CopyToCluster(storage::Store& source, storage::Store& target,
                                         const MigrationOptions& options);

// Checks every live record of `source` against `target` (same bytes; counters compared as
// decoded cells) and every Tally top-K and GameMechanics 7-day leaderboard: the top
// kMigrationRankingTop as countd answers it on `source` (ranked in memory from the buckets)
// and on `target` (the store's rankings), at one instant. Differences are counted in the
// report, not errors. Records the target has and the source lacks are not looked for.
// Errors: as CopyToCluster (but never about progress); those of the stores.
absl::StatusOr<VerifyReport> VerifyCopy(storage::Store& source, storage::Store& target,
                                        const MigrationOptions& options);

// Operator summaries: a table of figures per table, then totals (and for the verification the
// first mismatches). No key bytes.
std::string FormatCopyReport(const CopyReport& report);
std::string FormatVerifyReport(const VerifyReport& report);

}  // namespace countd

#endif  // COUNTD_SERVER_MIGRATION_H_
