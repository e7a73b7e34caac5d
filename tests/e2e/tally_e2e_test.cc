// End-to-end tests of countd.v1.Tally: the real countd binary, generated stubs over loopback.
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "countd/v1/tally.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

class TallyE2eTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }

  void StartServer() {
    stub_.reset();
    server_.reset();
    test::ServerProcessOptions options;
    options.data_dir = dir_.Sub("data");
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
        test::ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::Tally::NewStub(NewChannel(server_->grpc_address()));
  }

  grpc::Status Incr(const std::string& counter, const std::string& countable, int window,
                    v1::TallyOp op = v1::OP_TOPK, int64_t delta = 1, const char* metadata = nullptr,
                    const std::string& tenant = "site") {
    v1::TallyIncrementRequest req;
    req.set_tenant(tenant);
    req.set_op(op);
    req.set_counter(counter);
    req.set_countable(countable);
    req.set_window_minutes(window);
    req.set_delta(delta);
    if (metadata != nullptr) req.set_metadata(metadata);
    v1::TallyIncrementResponse resp;
    return Rpc(stub_.get(), &v1::Tally::Stub::Increment, req, &resp);
  }

  std::vector<std::pair<std::string, int64_t>> Top(const std::string& counter, int k = 25) {
    v1::GetTopKRequest req;
    req.set_tenant("site");
    req.set_counter(counter);
    req.set_k(k);
    v1::GetTopKResponse resp;
    grpc::Status s = Rpc(stub_.get(), &v1::Tally::Stub::GetTopK, req, &resp);
    EXPECT_TRUE(s.ok()) << Describe(s);
    std::vector<std::pair<std::string, int64_t>> out;
    for (const v1::TopKItem& item : resp.items()) out.emplace_back(item.countable(), item.count());
    return out;
  }

  // Reads the OP_TOPK counter (the op Incr writes by default) unless `op` says otherwise.
  grpc::Status Count(const std::string& counter, const std::string& countable, int64_t* count,
                     const std::string& tenant = "site", v1::TallyOp op = v1::OP_TOPK) {
    v1::GetCountRequest req;
    req.set_tenant(tenant);
    req.set_counter(counter);
    req.set_countable(countable);
    req.set_op(op);
    v1::GetCountResponse resp;
    grpc::Status s = Rpc(stub_.get(), &v1::Tally::Stub::GetCount, req, &resp);
    *count = resp.count();
    return s;
  }

  test::ScopedTempDir dir_;
  std::unique_ptr<test::ServerProcess> server_;
  std::unique_ptr<v1::Tally::Stub> stub_;
};

TEST_F(TallyE2eTest, IncrementIsVisibleToTheNextReadAndRanks) {
  ASSERT_THAT(Incr("views", "p1", 60, v1::OP_TOPK, 3), IsOk());
  ASSERT_THAT(Incr("views", "p2", 60, v1::OP_TOPK, 5), IsOk());
  ASSERT_THAT(Incr("views", "p0", 60, v1::OP_TOPK, 3), IsOk());
  int64_t count = 0;
  ASSERT_THAT(Count("views", "p2", &count), IsOk());
  EXPECT_EQ(count, 5);
  EXPECT_THAT(Top("views"), ElementsAre(Pair("p2", 5), Pair("p0", 3), Pair("p1", 3)));
  EXPECT_THAT(Top("views", 1), ElementsAre(Pair("p2", 5)));
}

TEST_F(TallyE2eTest, MetadataIsReturnedWhenAsked) {
  ASSERT_THAT(Incr("c", "a", 10, v1::OP_TOPK, 1, "{\"name\":\"A\"}"), IsOk());
  ASSERT_THAT(Incr("c", "a", 10), IsOk());  // no metadata: the stored one stays
  v1::GetTopKRequest req;
  req.set_tenant("site");
  req.set_counter("c");
  req.set_with_metadata(true);
  v1::GetTopKResponse resp;
  ASSERT_THAT(Rpc(stub_.get(), &v1::Tally::Stub::GetTopK, req, &resp), IsOk());
  ASSERT_EQ(resp.items_size(), 1);
  EXPECT_EQ(resp.items(0).count(), 2);
  EXPECT_TRUE(resp.items(0).has_metadata());
  EXPECT_EQ(resp.items(0).metadata(), "{\"name\":\"A\"}");
  req.set_with_metadata(false);
  ASSERT_THAT(Rpc(stub_.get(), &v1::Tally::Stub::GetTopK, req, &resp), IsOk());
  EXPECT_FALSE(resp.items(0).has_metadata());
}

TEST_F(TallyE2eTest, BadInputIsInvalidArgumentNamingTheField) {
  EXPECT_THAT(Incr("c", "a", 0), IsError(grpc::StatusCode::INVALID_ARGUMENT, "window_minutes"));
  EXPECT_THAT(Incr("c", "a", 43201), IsError(grpc::StatusCode::INVALID_ARGUMENT, "window_minutes"));
  EXPECT_THAT(Incr("c/d", "a", 5), IsError(grpc::StatusCode::INVALID_ARGUMENT, "counter"));
  EXPECT_THAT(Incr("c", "a\\b", 5), IsError(grpc::StatusCode::INVALID_ARGUMENT, "countable"));
  EXPECT_THAT(Incr("c", "a", 5, v1::OP_UNSPECIFIED),
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "op"));
  std::string long_md(16385, 'x');
  EXPECT_THAT(Incr("c", "a", 5, v1::OP_TOPK, 1, long_md.c_str()),
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "metadata"));
  v1::GetTopKRequest req;
  req.set_tenant("site");
  req.set_counter("c");
  req.set_k(1001);
  v1::GetTopKResponse resp;
  EXPECT_THAT(Rpc(stub_.get(), &v1::Tally::Stub::GetTopK, req, &resp),
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "k"));
  // An op number that names no TallyOp (a newer or broken client) is refused, naming the value.
  const auto no_such_op = static_cast<v1::TallyOp>(99);
  EXPECT_THAT(Incr("c", "a", 5, no_such_op),
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "op: 99 is not a TallyOp"));
  // Nothing of the refused writes exists.
  int64_t count = 0;
  EXPECT_THAT(Count("c", "a", &count), IsError(grpc::StatusCode::NOT_FOUND, "counter"));

  // GetCount reads the OP_ECOUNT counter when op is unset, and refuses an op that is no TallyOp
  // (it used to read the OP_ECOUNT counter then too).
  ASSERT_THAT(Incr("e", "a", 5, v1::OP_ECOUNT, 7), IsOk());
  EXPECT_THAT(Count("e", "a", &count, "site", v1::OP_UNSPECIFIED), IsOk());
  EXPECT_EQ(count, 7);
  EXPECT_THAT(Count("e", "a", &count, "site", no_such_op),
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "op: 99 is not a TallyOp"));
  EXPECT_THAT(Count("e", "a", &count, "site", static_cast<v1::TallyOp>(-1)),
              IsError(grpc::StatusCode::INVALID_ARGUMENT, "op: -1 is not a TallyOp"));
}

TEST_F(TallyE2eTest, EcountAndTopkCountersOfOneNameAreSeparate) {
  ASSERT_THAT(Incr("views", "p1", 60, v1::OP_ECOUNT, 2, "ecount metadata"), IsOk());
  ASSERT_THAT(Incr("views", "p1", 1440, v1::OP_TOPK, 7, "topk metadata"), IsOk());
  ASSERT_THAT(Incr("views", "p2", 60, v1::OP_ECOUNT, 1), IsOk());
  int64_t count = 0;
  ASSERT_THAT(Count("views", "p1", &count, "site", v1::OP_ECOUNT), IsOk());
  EXPECT_EQ(count, 2);
  ASSERT_THAT(Count("views", "p1", &count, "site", v1::OP_UNSPECIFIED), IsOk());  // default
  EXPECT_EQ(count, 2);
  ASSERT_THAT(Count("views", "p1", &count, "site", v1::OP_TOPK), IsOk());
  EXPECT_EQ(count, 7);
  EXPECT_THAT(Count("views", "p2", &count, "site", v1::OP_TOPK),
              IsError(grpc::StatusCode::NOT_FOUND, "countable"));
  EXPECT_THAT(Top("views"), ElementsAre(Pair("p1", 7)));
  v1::GetTopKRequest req;
  req.set_tenant("site");
  req.set_counter("views");
  req.set_with_metadata(true);
  v1::GetTopKResponse resp;
  ASSERT_THAT(Rpc(stub_.get(), &v1::Tally::Stub::GetTopK, req, &resp), IsOk());
  ASSERT_EQ(resp.items_size(), 1);
  EXPECT_EQ(resp.items(0).metadata(), "topk metadata");
  // An ECOUNT counter alone has no ranking.
  ASSERT_THAT(Incr("logins", "u1", 60, v1::OP_ECOUNT), IsOk());
  req.set_counter("logins");
  EXPECT_THAT(Rpc(stub_.get(), &v1::Tally::Stub::GetTopK, req, &resp),
              IsError(grpc::StatusCode::NOT_FOUND, "counter"));
}

TEST_F(TallyE2eTest, TenantsAreIsolated) {
  ASSERT_THAT(Incr("c", "a", 5, v1::OP_TOPK, 1, nullptr, "t1"), IsOk());
  int64_t count = 0;
  EXPECT_THAT(Count("c", "a", &count, "t2"), IsError(grpc::StatusCode::NOT_FOUND, "counter"));
  EXPECT_THAT(Count("c", "a", &count, "t1"), IsOk());
  EXPECT_EQ(count, 1);
}

TEST_F(TallyE2eTest, CountsAndRankingsSurviveGracefulAndHardRestarts) {
  for (int i = 0; i < 40; ++i) {
    ASSERT_THAT(Incr("pop", absl::StrCat("item", i % 6), 120, v1::OP_TOPK, 1 + i % 4), IsOk());
  }
  auto before = Top("pop", 10);
  ASSERT_EQ(before.size(), 6u);

  ASSERT_TRUE(server_->Signal(SIGTERM).ok());
  std::optional<test::ExitStatus> exit = server_->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->Success()) << exit->ToString();
  StartServer();
  EXPECT_EQ(Top("pop", 10), before);

  ASSERT_THAT(Incr("pop", "item5", 120, v1::OP_TOPK, 100), IsOk());
  auto after_write = Top("pop", 10);
  server_->Kill();  // kill -9: the acknowledged write is in the WAL
  StartServer();
  EXPECT_EQ(Top("pop", 10), after_write);
  EXPECT_EQ(after_write.front().first, "item5");
}

}  // namespace
}  // namespace countd::e2e
