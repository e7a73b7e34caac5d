#include "server/logic/request_log.h"

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

uint64_t Fingerprint(absl::string_view bytes) {
  uint64_t h = 14695981039346656037ull;  // the FNV-64 offset basis
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

absl::StatusOr<std::string> RequestLog::BuildAndWrite(const BuildFn& build,
                                                      storage::WriteBatch* batch) {
  absl::StatusOr<std::string> answer = build(batch);
  if (!answer.ok()) return answer.status();
  if (!batch->empty()) {
    absl::Status s = store_->Write(*batch);
    if (!s.ok()) return s;
  }
  return answer;
}

absl::StatusOr<std::string> RequestLog::Apply(absl::string_view scope, absl::string_view tenant,
                                              absl::string_view request_id,
                                              absl::string_view canonical_request,
                                              const BuildFn& build) {
  storage::WriteBatch batch;
  if (request_id.empty()) return BuildAndWrite(build, &batch);
  absl::Status valid = CheckIdentifier("request_id", request_id);
  if (!valid.ok()) return valid;

  std::string key = storage::keys::RequestKey(scope, tenant, request_id);
  uint64_t fingerprint = Fingerprint(canonical_request);
  absl::MutexLock lock(&locks_.For(key));
  absl::StatusOr<std::string> previous = store_->Get(storage::Table::kRequests, key);
  if (previous.ok()) {
    if (previous->size() < 16 || static_cast<uint64_t>(GetBigEndian64(
                                     absl::string_view(*previous).substr(8))) != fingerprint) {
      return Refused("request_id", Quote(request_id) + " was already used for a different request");
    }
    return previous->substr(16);
  }
  if (!absl::IsNotFound(previous.status())) return previous.status();

  absl::StatusOr<std::string> answer = build(&batch);
  if (!answer.ok()) return answer.status();
  batch.Put(storage::Table::kRequests, key,
            EncodeRecord(clock_->Now() + kRequestIdLifetime, fingerprint, *answer));
  absl::Status s = store_->Write(batch);
  if (!s.ok()) return s;
  return answer;
}

}  // namespace countd::logic
