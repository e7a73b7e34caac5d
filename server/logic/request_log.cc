#include "server/logic/request_log.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"

#include "server/logic/status_util.h"
#include "server/logic/validate.h"
#include "storage/keys.h"

namespace countd::logic {
namespace {

using storage::keys::GetBigEndian64;
using storage::keys::PutBigEndian64;

// Record value: expiry (8, big-endian unix s; read by the store's expiry), fingerprint (8), answer.
std::string EncodeRecord(absl::Time expiry, uint64_t fingerprint, absl::string_view answer) {
  std::string out;
  out.reserve(16 + answer.size());
  // Rounded up: the store drops the record once its expiry second has begun, so rounding down
  // would forget the id up to a second before kRequestIdLifetime is over.
  PutBigEndian64(&out,
                 absl::ToInt64Seconds(absl::Ceil(expiry - absl::UnixEpoch(), absl::Seconds(1))));
  PutBigEndian64(&out, static_cast<int64_t>(fingerprint));
  out.append(answer.data(), answer.size());
  return out;
}

}  // namespace

uint64_t Fingerprint(absl::string_view bytes) { return storage::keys::Fnv1a64(bytes); }

absl::StatusOr<RequestLog::Record> RequestLog::Recorded(const storage::Partition& partition,
                                                        const std::string& key,
                                                        const std::string& legacy_key,
                                                        absl::string_view request_id,
                                                        uint64_t fingerprint) {
  Record record;
  absl::StatusOr<std::string> previous = store_->Get(partition, storage::Table::kRequests, key);
  if (absl::IsNotFound(previous.status()) && store_->kind() == storage::StoreKind::kRocksDb) {
    // A record written before partitions; only RocksDB can hold one (until it expires).
    previous = store_->Get(partition, storage::Table::kRequests, legacy_key);
    record.legacy = true;
  }
  if (!previous.ok()) return previous.status();
  if (previous->size() < 16 || static_cast<uint64_t>(GetBigEndian64(
                                   absl::string_view(*previous).substr(8))) != fingerprint) {
    return Refused("request_id", Quote(request_id) + " was already used for a different request");
  }
  record.stored = *std::move(previous);
  return record;
}

absl::StatusOr<std::string> RequestLog::Apply(
    absl::string_view scope, const storage::Partition& partition, absl::string_view tenant,
    absl::string_view request_id, absl::string_view canonical_request, const BuildFn& build) {
  std::string key;
  std::string legacy_key;
  uint64_t fingerprint = 0;
  absl::optional<absl::MutexLock> lock;
  if (!request_id.empty()) {
    absl::Status valid = CheckIdentifier("request_id", request_id);
    if (!valid.ok()) return valid;
    key = storage::keys::RequestKey(scope, partition, request_id);
    legacy_key = storage::keys::LegacyRequestKey(scope, tenant, request_id);
    fingerprint = Fingerprint(canonical_request);
    lock.emplace(&locks_.For(key));
  }
  absl::Status last;
  for (int attempt = 0; attempt < kMaxWriteAttempts; ++attempt) {
    if (!key.empty()) {
      absl::StatusOr<Record> recorded =
          Recorded(partition, key, legacy_key, request_id, fingerprint);
      if (recorded.ok() && recorded->legacy) return recorded->stored.substr(16);
      if (recorded.ok()) {
        // A repeat is answered only once its record has been written again, unchanged. The
        // first attempt may have been applied without being acknowledged (Redis Cluster: on the
        // master, but a replica did not confirm it within the WAIT bound); answering the repeat
        // from a mere read would acknowledge data that a failover can still lose. The rewrite is
        // acknowledged under the store's own rule (WAIT included), and a replica that has it has
        // everything its master wrote before, the first attempt included.
        storage::WriteBatch again(partition);
        again.Expect(storage::Table::kRequests, key, recorded->stored);
        again.Put(storage::Table::kRequests, key, recorded->stored);
        last = store_->Write(again);
        if (last.ok()) return recorded->stored.substr(16);
        if (!absl::IsAborted(last)) return last;
        continue;  // the record changed or expired meanwhile: look again
      }
      if (!absl::IsNotFound(recorded.status())) return recorded.status();
    }
    storage::WriteBatch batch(partition);
    absl::StatusOr<std::string> answer = build(&batch);
    if (!answer.ok()) return answer.status();
    if (!key.empty()) {
      batch.Expect(storage::Table::kRequests, key, std::nullopt);
      batch.Put(storage::Table::kRequests, key,
                EncodeRecord(clock_->Now() + kRequestIdLifetime, fingerprint, *answer));
    }
    if (batch.empty()) return answer;
    last = store_->Submit(std::move(batch));
    if (last.ok()) return answer;
    if (!absl::IsAborted(last)) return last;
  }
  return absl::AbortedError(
      absl::StrCat("the data changed concurrently ", kMaxWriteAttempts, " times; try again"));
}

}  // namespace countd::logic
