// tests/testing/failing_store.h — a storage::Store decorator that makes chosen calls fail with
// UNAVAILABLE on demand, to prove that storage errors reach callers and leave no partial state.
#ifndef COUNTD_TESTS_TESTING_FAILING_STORE_H_
#define COUNTD_TESTS_TESTING_FAILING_STORE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/store.h"

namespace countd::test {

// Forwards every call to a real Store, except that the next `n` calls of a chosen kind fail with
// UNAVAILABLE without reaching the real store (so a failed Write writes nothing). Thread-safe.
// The wrapped store must outlive this object.
class FailingStore : public storage::Store {
 public:
  enum class Op {
    kWrite,  // Write and Submit
    kGet,    // Get, GetCounter, MultiGet and MultiGetCounters (every key of the call fails)
    kScan,   // Scan, ScanAllPartitions and ReadRanking
  };

  explicit FailingStore(storage::Store* base) : base_(base) {}

  // The next `n` calls of kind `op` fail (added to failures already pending).
  void FailNext(Op op, int n = 1) {
    absl::MutexLock lock(&mu_);
    pending_[Index(op)] += n;
  }
  void FailNextWrite(int n = 1) { FailNext(Op::kWrite, n); }
  void FailNextGet(int n = 1) { FailNext(Op::kGet, n); }
  void FailNextScan(int n = 1) { FailNext(Op::kScan, n); }

  // Failures requested but not yet triggered.
  int pending(Op op) const {
    absl::MutexLock lock(&mu_);
    return pending_[Index(op)];
  }
  // Calls of kind `op` that were failed on purpose so far.
  int injected(Op op) const {
    absl::MutexLock lock(&mu_);
    return injected_[Index(op)];
  }
  // Calls of kind `op` that reached the real store.
  int forwarded(Op op) const {
    absl::MutexLock lock(&mu_);
    return forwarded_[Index(op)];
  }

  storage::StoreKind kind() const override { return base_->kind(); }

  absl::StatusOr<std::string> Get(const storage::Partition& partition, storage::Table table,
                                  absl::string_view key) override {
    if (Take(Op::kGet)) return Injected("get");
    return base_->Get(partition, table, key);
  }

  absl::StatusOr<storage::CounterCell> GetCounter(const storage::Partition& partition,
                                                  storage::Table table,
                                                  absl::string_view key) override {
    if (Take(Op::kGet)) return Injected("get counter");
    return base_->GetCounter(partition, table, key);
  }

  std::vector<absl::StatusOr<std::string>> MultiGet(const storage::Partition& partition,
                                                    storage::Table table,
                                                    const std::vector<std::string>& keys) override {
    if (Take(Op::kGet)) {
      return std::vector<absl::StatusOr<std::string>>(keys.size(), Injected("multiget"));
    }
    return base_->MultiGet(partition, table, keys);
  }

  std::vector<absl::StatusOr<storage::CounterCell>> MultiGetCounters(
      const storage::Partition& partition, storage::Table table,
      const std::vector<std::string>& keys) override {
    if (Take(Op::kGet)) {
      return std::vector<absl::StatusOr<storage::CounterCell>>(keys.size(), Injected("multiget"));
    }
    return base_->MultiGetCounters(partition, table, keys);
  }

  absl::Status Scan(const storage::Partition& partition, storage::Table table,
                    const storage::ScanRange& range, const storage::ScanVisitor& visit) override {
    if (Take(Op::kScan)) return Injected("scan");
    return base_->Scan(partition, table, range, visit);
  }

  absl::Status ScanAllPartitions(storage::Table table, const storage::ScanRange& range,
                                 const storage::ScanVisitor& visit) override {
    if (Take(Op::kScan)) return Injected("scan");
    return base_->ScanAllPartitions(table, range, visit);
  }

  absl::Status Write(const storage::WriteBatch& batch) override {
    if (Take(Op::kWrite)) return Injected("write");
    return base_->Write(batch);
  }

  // Counted as a Write.
  absl::Status Submit(storage::WriteBatch batch) override {
    if (Take(Op::kWrite)) return Injected("write");
    return base_->Submit(std::move(batch));
  }
  bool WalFlushPending() const override { return base_->WalFlushPending(); }
  absl::Status FlushWal() override { return base_->FlushWal(); }

  bool KeepsRankings() const override { return base_->KeepsRankings(); }
  absl::StatusOr<storage::RankingTop> ReadRanking(const storage::Partition& partition,
                                                  absl::string_view ranking, int64_t horizon,
                                                  int64_t window, size_t k,
                                                  absl::string_view self_item) override {
    if (Take(Op::kScan)) return Injected("read ranking");
    return base_->ReadRanking(partition, ranking, horizon, window, k, self_item);
  }

  absl::Status Flush() override { return base_->Flush(); }
  absl::StatusOr<storage::StoreStats> Stats() override { return base_->Stats(); }
  absl::Status Checkpoint(const std::string& dir) override { return base_->Checkpoint(dir); }

 private:
  static constexpr int kOps = 3;
  static int Index(Op op) { return static_cast<int>(op); }
  static absl::Status Injected(absl::string_view what) {
    return absl::UnavailableError(std::string("injected storage failure: ") + std::string(what));
  }

  // True when this call must fail; counts the call either way.
  bool Take(Op op) {
    absl::MutexLock lock(&mu_);
    int i = Index(op);
    if (pending_[i] > 0) {
      --pending_[i];
      ++injected_[i];
      return true;
    }
    ++forwarded_[i];
    return false;
  }

  storage::Store* const base_;
  mutable absl::Mutex mu_;
  int pending_[kOps] ABSL_GUARDED_BY(mu_) = {0, 0, 0};
  int injected_[kOps] ABSL_GUARDED_BY(mu_) = {0, 0, 0};
  int forwarded_[kOps] ABSL_GUARDED_BY(mu_) = {0, 0, 0};
};

}  // namespace countd::test

#endif  // COUNTD_TESTS_TESTING_FAILING_STORE_H_
