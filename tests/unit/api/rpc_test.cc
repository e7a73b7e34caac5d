// Tests of the method tables (server/api/rpc.h): every RPC of every countd.v1 service has exactly
// one row, with the request and response types of the .proto, and the access the auth checks read.
#include "server/api/rpc.h"

#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "server/api/admin_api.h"
#include "server/api/counters_api.h"
#include "server/api/gm_api.h"
#include "server/api/tally_api.h"

namespace countd::api {
namespace {

const google::protobuf::ServiceDescriptor* Service(absl::string_view name) {
  return google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      absl::StrCat("countd.v1.", name));
}

// Checks `table` against the service descriptor of the same name; returns the rows' names.
template <typename Table>
std::set<std::string> CheckTable(const Table& table) {
  const google::protobuf::ServiceDescriptor* service = Service(table.service);
  std::set<std::string> names;
  if (service == nullptr) {
    ADD_FAILURE() << "no service countd.v1." << table.service;
    return names;
  }
  table.ForEach([&](const auto& row) {
    using Row = std::decay_t<decltype(row)>;
    EXPECT_TRUE(names.insert(std::string(row.name)).second) << "two rows for " << row.name;
    const google::protobuf::MethodDescriptor* method =
        service->FindMethodByName(std::string(row.name));
    if (method == nullptr) {
      ADD_FAILURE() << table.service << " has no RPC " << row.name;
      return;
    }
    EXPECT_EQ(method->input_type(), Row::Request::descriptor()) << row.name;
    EXPECT_EQ(method->output_type(), Row::Response::descriptor()) << row.name;
  });
  for (int i = 0; i < service->method_count(); ++i) {
    EXPECT_EQ(names.count(service->method(i)->name()), 1u)
        << table.service << "." << service->method(i)->name() << " has no row";
  }
  return names;
}

TEST(MethodTableTest, EveryRpcOfEveryServiceHasOneRowOfItsTypes) {
  EXPECT_EQ(CheckTable(kCountersMethods).size(), 11u);
  EXPECT_EQ(CheckTable(kTallyMethods).size(), 3u);
  EXPECT_EQ(CheckTable(kGmMethods).size(), 12u);
  EXPECT_EQ(CheckTable(kAdminMethods).size(), 8u);
}

// Reads (Get*) are kRead, everything else a tenant calls is kWrite; Admin is the operator's.
TEST(MethodTableTest, AccessFollowsWhatTheRpcDoes) {
  int reads = 0;
  auto check = [&](const auto& table) {
    table.ForEach([&](const auto& row) {
      const bool read = absl::StartsWith(row.name, "Get");
      EXPECT_EQ(AccessOf(table.service, row.name), read ? Access::kRead : Access::kWrite)
          << table.service << "." << row.name;
      EXPECT_EQ(row.access, AccessOf(table.service, row.name));
      reads += read;
    });
  };
  check(kCountersMethods);
  check(kTallyMethods);
  check(kGmMethods);
  EXPECT_EQ(reads, 12);
  kAdminMethods.ForEach([](const auto& row) {
    EXPECT_EQ(AccessOf("Admin", row.name), Access::kOperator) << row.name;
  });
}

// Every request of a tenant service names its tenant in field 1, which the auth checks compare.
TEST(MethodTableTest, EveryTenantRequestHasItsTenantInField1) {
  for (const char* name : {"Counters", "Tally", "GameMechanics"}) {
    const google::protobuf::ServiceDescriptor* service = Service(name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::FieldDescriptor* tenant = service->method(i)->input_type()->field(0);
      EXPECT_EQ(tenant->name(), "tenant") << name << "." << service->method(i)->name();
      EXPECT_EQ(tenant->number(), 1) << name << "." << service->method(i)->name();
    }
  }
}

// The table knows names, not prefixes: anything it does not hold is a write (fail closed).
TEST(MethodTableTest, UnknownNamesAreWrites) {
  EXPECT_EQ(AccessOf("Counters", "GetEverything"), Access::kWrite);
  EXPECT_EQ(AccessOf("Counters", "NoSuchMethod"), Access::kWrite);
  EXPECT_EQ(AccessOf("Nope", "Get"), Access::kWrite);
  EXPECT_EQ(AccessOf("Tally", "GetCounters"), Access::kWrite);  // a Counters name under Tally
  EXPECT_EQ(AccessOf("countd.v1.Counters", "Get"), Access::kWrite);
  EXPECT_EQ(AccessOf("", ""), Access::kWrite);
}

}  // namespace
}  // namespace countd::api
