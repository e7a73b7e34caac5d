// server/logic/striped_mutex.h — a fixed set of mutexes chosen by key hash, to serialize work on
// one key (a user, a request id) without a global lock or a mutex per key.
#ifndef COUNTD_SERVER_LOGIC_STRIPED_MUTEX_H_
#define COUNTD_SERVER_LOGIC_STRIPED_MUTEX_H_

#include <array>
#include <cstddef>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace countd::logic {

// Thread-safe. Keys that hash alike share a mutex; never hold two stripes of one StripedMutex
// at once (that could deadlock).
template <size_t kStripes = 1024>
class StripedMutex {
 public:
  absl::Mutex& For(absl::string_view key) {
    return stripes_[absl::Hash<absl::string_view>()(key) % kStripes];
  }

 private:
  std::array<absl::Mutex, kStripes> stripes_;
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_STRIPED_MUTEX_H_
