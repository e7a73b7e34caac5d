#include "server/api/rpc.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "server/api/admin_api.h"
#include "server/api/counters_api.h"
#include "server/api/gm_api.h"
#include "server/api/tally_api.h"

namespace countd::api {
namespace {

using AccessMap = absl::flat_hash_map<std::string, Access>;

template <typename Table>
void AddTable(const Table& table, AccessMap* out) {
  table.ForEach([&](const auto& row) {
    out->emplace(absl::StrCat(table.service, "/", row.name), row.access);
  });
}

const AccessMap& Accesses() {
  static const AccessMap* const map = [] {
    auto* m = new AccessMap();
    AddTable(kCountersMethods, m);
    AddTable(kTallyMethods, m);
    AddTable(kGmMethods, m);
    AddTable(kAdminMethods, m);
    return m;
  }();
  return *map;
}

}  // namespace

Access AccessOf(absl::string_view service, absl::string_view method) {
  auto it = Accesses().find(absl::StrCat(service, "/", method));
  return it == Accesses().end() ? Access::kWrite : it->second;
}

}  // namespace countd::api
