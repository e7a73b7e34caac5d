// server/logic/request_log.h — idempotent retries keyed by a caller's request_id.
#ifndef COUNTD_SERVER_LOGIC_REQUEST_LOG_H_
#define COUNTD_SERVER_LOGIC_REQUEST_LOG_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/logic/striped_mutex.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace countd::logic {

// How long a request_id is remembered.
inline constexpr absl::Duration kRequestIdLifetime = absl::Hours(24);

// How often Apply builds and writes a request whose write keeps failing ABORTED (another
// process changed what it read) before it gives up with ABORTED.
inline constexpr int kMaxWriteAttempts = 16;

// Applies writes at most once per (scope, partition, request_id) within kRequestIdLifetime, and
// answers repeats with the first answer. The record lives in the partition of the data it guards
// and commits in the same atomic write as the change, so a crash never separates them, and it is
// written with the precondition "absent", so two processes sharing a store (Redis Cluster) never
// both apply one request_id. Apply is also the optimistic-concurrency loop of every
// read-modify-write: when a write fails ABORTED it builds again from fresh reads. Thread-safe.
class RequestLog {
 public:
  // Fills `batch` with the writes of a request and returns its answer (bytes the caller can
  // decode again), or an error, in which case nothing is written. May run more than once per
  // Apply (after ABORTED); each run starts with an empty batch and must read afresh. Values it
  // read and relies on go into the batch as preconditions (WriteBatch::Expect).
  using BuildFn = std::function<absl::StatusOr<std::string>(storage::WriteBatch* batch)>;

  // `store` and `clock` must outlive this object.
  RequestLog(storage::Store* store, const storage::Clock* clock) : store_(store), clock_(clock) {}

  // Writes go to `partition`. With an empty `request_id`: runs `build` and writes its batch.
  // Otherwise, under a lock on the id: when the id was recorded for the same
  // `canonical_request`, writes the record again unchanged (expected unchanged, so the repeat is
  // acknowledged under the same durability rule as a first write, e.g. WAIT on Redis Cluster) and
  // returns the recorded answer, without running `build`; when recorded for another request,
  // FAILED_PRECONDITION naming "request_id"; else runs `build`, adds the record to its batch
  // (expected absent) and writes it. A write that fails ABORTED is retried (a concurrent process
  // may have recorded the id meanwhile: then its answer is returned).
  // Errors: those of `build`; those of Store::Write (UNAVAILABLE when storage fails,
  // DEADLINE_EXCEEDED when it may have been applied), for a repeat too; ABORTED after
  // kMaxWriteAttempts.
  absl::StatusOr<std::string> Apply(absl::string_view scope, const storage::Partition& partition,
                                    absl::string_view tenant, absl::string_view request_id,
                                    absl::string_view canonical_request, const BuildFn& build);

 private:
  struct Record {
    std::string stored;   // the stored value: expiry, fingerprint, answer
    bool legacy = false;  // found at the legacy key (RocksDB, before partitions)
  };
  // The record of `key` (also at `legacy_key` on RocksDB), NOT_FOUND when there is none,
  // FAILED_PRECONDITION when it was recorded for another request.
  absl::StatusOr<Record> Recorded(const storage::Partition& partition, const std::string& key,
                                  const std::string& legacy_key, absl::string_view request_id,
                                  uint64_t fingerprint);

  storage::Store* store_;
  const storage::Clock* clock_;
  StripedMutex<> locks_;
};

// 64-bit FNV-1a of `bytes`: a stable fingerprint (the same across processes and restarts).
uint64_t Fingerprint(absl::string_view bytes);

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_REQUEST_LOG_H_
