// server/shim/internal/gigya/methods.h — the tables of Gigya-style methods (internal to the
// shim).
#ifndef COUNTD_SERVER_SHIM_INTERNAL_GIGYA_METHODS_H_
#define COUNTD_SERVER_SHIM_INTERNAL_GIGYA_METHODS_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "server/api/counters_api.h"
#include "server/api/gm_api.h"
#include "server/shim/internal/gigya/params.h"

namespace countd::shim {

// "accounts.getCounters" -> method. The methods' `parse` steps never touch the API, so a table
// built with null APIs can still parse (for tests and fuzzing).
using GigyaMethodTable = absl::flat_hash_map<std::string, GigyaMethod>;

// One element of the `counters` parameter of the accounts.* methods.
struct GigyaCounter {
  std::string class_name;  // "" when absent
  std::string path;
  std::string period;
  absl::optional<double> value;
  absl::optional<int64_t> count;
};

// Parses a `counters` parameter: a JSON array of objects whose members are among `allowed`, each
// a string, or a number for "value" and a whole number for "count". Numbers are lenient as
// clients write them: a string holding a number ("200") is that number, and a count written
// with a zero fraction (2.0, Python's json.dumps of a float) is that whole number. Pure and
// thread-safe.
// Errors: INVALID_ARGUMENT "format" (400004) naming "counters" or "counters[i].<member>" for bad
// syntax or types; a bad value (400006) naming "counters[i].<member>" for a member not allowed.
absl::StatusOr<std::vector<GigyaCounter>> ParseGigyaCounters(
    absl::string_view text, std::initializer_list<absl::string_view> allowed);

// Adds accounts.{register,unregister,getRegistered,increment,get}Counters.
void AddAccountsMethods(api::CountersApi* api, GigyaMethodTable* table);

// gm.getActionsLog without paging parameters answers every action of the time frame (Gigya's
// contract), reading the log in pages of kGigyaActionsLogPageSize; a time frame holding more than
// kGigyaActionsLogMaxActions actions is refused (400006, FAILED_PRECONDITION), never truncated:
// the message names the limit and the paging parameters. With pageSize (1..1000) or pageToken
// the method answers one page (pageSize default kGigyaActionsLogPageSize) and nextPageToken.
inline constexpr int32_t kGigyaActionsLogPageSize = 1000;
inline constexpr int64_t kGigyaActionsLogMaxActions = 10000;

// Adds the gm.* Game Mechanics methods.
void AddGmMethods(api::GmApi* api, GigyaMethodTable* table);

}  // namespace countd::shim

#endif  // COUNTD_SERVER_SHIM_INTERNAL_GIGYA_METHODS_H_
