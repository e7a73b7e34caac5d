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

// Applies writes at most once per (scope, tenant, request_id) within kRequestIdLifetime, and
// answers repeats with the first answer. The record commits in the same atomic write as the
// change it guards, so a crash never separates them. Thread-safe.
class RequestLog {
 public:
  // Fills `batch` with the writes of a request and returns its answer (bytes the caller can
  // decode again), or an error, in which case nothing is written.
  using BuildFn = std::function<absl::StatusOr<std::string>(storage::WriteBatch* batch)>;

  // `store` and `clock` must outlive this object.
  RequestLog(storage::Store* store, const storage::Clock* clock) : store_(store), clock_(clock) {}

  // With an empty `request_id`: runs `build` and writes its batch. Otherwise, under a lock on
  // the id: when the id was recorded for the same `canonical_request`, returns the recorded
  // answer without writing; when recorded for another request, FAILED_PRECONDITION naming
  // "request_id"; else runs `build`, adds the record to its batch and writes it.
  // Errors: those of `build`; UNAVAILABLE when storage fails.
  absl::StatusOr<std::string> Apply(absl::string_view scope, absl::string_view tenant,
                                    absl::string_view request_id,
                                    absl::string_view canonical_request, const BuildFn& build);

 private:
  absl::StatusOr<std::string> BuildAndWrite(const BuildFn& build, storage::WriteBatch* batch);

  storage::Store* store_;
  const storage::Clock* clock_;
  StripedMutex<> locks_;
};

// 64-bit FNV-1a of `bytes`: a stable fingerprint (the same across processes and restarts).
uint64_t Fingerprint(absl::string_view bytes);

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_REQUEST_LOG_H_
