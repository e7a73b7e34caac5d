// End-to-end tests of countd.v1.GameMechanics through the real countd binary: a child process
// on 127.0.0.1:0 with a fresh data directory, the generated stub over a real channel, a deadline
// on every call; every method, and a graceful and a hard restart on the same data directory.
#include <signal.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "countd/v1/gm.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Stub = v1::GameMechanics::Stub;
using Code = grpc::StatusCode;

// "uid rank points" rows of a leaderboard.
using TopRow = std::tuple<std::string, int32_t, int64_t>;

v1::Level MakeLevel(int32_t level, int64_t points_required, const std::string& title) {
  v1::Level l;
  l.set_level(level);
  l.set_points_required(points_required);
  l.set_title(title);
  l.set_description(absl::StrCat("reach ", points_required));
  l.set_badge_url(absl::StrCat("https://badges.example/", level, ".png"));
  return l;
}

class GmE2eTest : public ::testing::Test {
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
    stub_ = v1::GameMechanics::NewStub(NewChannel(server_->grpc_address()));
  }

  // On failure, show what the server said.
  void TearDown() override {
    if (!HasFailure() || server_ == nullptr) return;
    ADD_FAILURE() << "countd stderr:\n" << server_->stderr_text();
  }

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                    const Req& req, Resp* resp) {
    return Rpc(stub_.get(), method, req, resp);
  }

  grpc::Status SetAction(const std::string& id, int64_t points,
                         std::vector<std::string> challenges = {}) {
    v1::SetActionConfigRequest req;
    req.set_tenant("site");
    v1::Action* a = req.mutable_action();
    a->set_action_id(id);
    a->set_title("Title " + id);
    a->set_description("About " + id);
    a->set_points(points);
    for (const std::string& c : challenges) a->add_challenges(c);
    v1::SetActionConfigResponse resp;
    return Call(&Stub::SetActionConfig, req, &resp);
  }

  grpc::Status SetChallenge(const std::string& id, std::vector<v1::Level> levels,
                            std::optional<bool> enabled = std::nullopt) {
    v1::SetChallengeConfigRequest req;
    req.set_tenant("site");
    v1::Challenge* c = req.mutable_challenge();
    c->set_challenge_id(id);
    c->set_title("Title " + id);
    if (enabled.has_value()) c->set_enabled(*enabled);
    for (const v1::Level& l : levels) *c->add_levels() = l;
    v1::SetChallengeConfigResponse resp;
    return Call(&Stub::SetChallengeConfig, req, &resp);
  }

  grpc::Status Notify(const std::string& uid, const std::string& action,
                      v1::NotifyActionResponse* resp, const std::string& request_id = "",
                      const std::string& ip = "") {
    v1::NotifyActionRequest req;
    req.set_tenant("site");
    req.set_uid(uid);
    req.set_action_id(action);
    req.set_ip(ip);
    req.set_request_id(request_id);
    return Call(&Stub::NotifyAction, req, resp);
  }

  grpc::Status Notify(const std::string& uid, const std::string& action) {
    v1::NotifyActionResponse resp;
    return Notify(uid, action, &resp);
  }

  grpc::Status Redeem(const std::string& uid, int64_t points, v1::RedeemPointsResponse* resp,
                      const std::string& challenge = "") {
    v1::RedeemPointsRequest req;
    req.set_tenant("site");
    req.set_uid(uid);
    req.set_challenge_id(challenge);
    req.set_points(points);
    return Call(&Stub::RedeemPoints, req, resp);
  }

  v1::Achievement StatusOf(const std::string& uid, const std::string& challenge) {
    v1::GetChallengeStatusRequest req;
    req.set_tenant("site");
    req.set_uid(uid);
    req.set_include(challenge);
    v1::GetChallengeStatusResponse resp;
    grpc::Status s = Call(&Stub::GetChallengeStatus, req, &resp);
    EXPECT_THAT(s, IsOk());
    EXPECT_EQ(resp.achievements_size(), 1);
    return resp.achievements_size() == 1 ? resp.achievements(0) : v1::Achievement();
  }

  // Every log entry as "challenge action points op ip", newest first, through pages of `size`.
  std::vector<std::string> LogRows(const std::string& uid, int size = 2) {
    std::vector<std::string> out;
    std::string token;
    for (int round = 0; round < 100; ++round) {
      v1::GetActionsLogRequest req;
      req.set_tenant("site");
      req.set_uid(uid);
      req.set_page_size(size);
      req.set_page_token(token);
      v1::GetActionsLogResponse resp;
      grpc::Status s = Call(&Stub::GetActionsLog, req, &resp);
      EXPECT_THAT(s, IsOk());
      if (!s.ok()) break;
      for (const v1::ActionLogEntry& e : resp.actions()) {
        out.push_back(absl::StrCat(e.challenge_id(), " ", e.action_id(), " ", e.points(), " ",
                                   v1::Operation_Name(e.operation()), " ", e.ip()));
      }
      token = resp.next_page_token();
      if (token.empty()) break;
    }
    return out;
  }

  std::vector<TopRow> Top(v1::Period period, const std::string& challenge = "", int32_t count = 10,
                          const std::string& uid = "") {
    v1::GetTopUsersRequest req;
    req.set_tenant("site");
    req.set_challenge_id(challenge);
    req.set_total_count(count);
    req.set_period(period);
    req.set_uid(uid);
    v1::GetTopUsersResponse resp;
    grpc::Status s = Call(&Stub::GetTopUsers, req, &resp);
    EXPECT_THAT(s, IsOk());
    std::vector<TopRow> out;
    for (const v1::TopUser& u : resp.users()) {
      EXPECT_EQ(u.achievements_size(), 1);
      if (u.achievements_size() != 1) continue;
      const v1::Achievement& a = u.achievements(0);
      out.emplace_back(u.uid(), u.rank(),
                       period == v1::PERIOD_ALL ? a.points_total() : a.points_7days());
    }
    return out;
  }

  test::ScopedTempDir dir_;
  std::unique_ptr<test::ServerProcess> server_;
  std::unique_ptr<Stub> stub_;
};

TEST_F(GmE2eTest, ConfigurationCanBeSetListedAndDeleted) {
  ASSERT_THAT(SetChallenge("quiz", {MakeLevel(2, 30, "Silver"), MakeLevel(1, 10, "Bronze")}),
              IsOk());
  ASSERT_THAT(SetChallenge("old", {}, false), IsOk());
  ASSERT_THAT(SetAction("share", 5, {"quiz"}), IsOk());
  ASSERT_THAT(SetAction("spam", -3), IsOk());

  v1::GetChallengeConfigRequest creq;
  creq.set_tenant("site");
  v1::GetChallengeConfigResponse cresp;
  ASSERT_THAT(Call(&Stub::GetChallengeConfig, creq, &cresp), IsOk());
  ASSERT_EQ(cresp.challenges_size(), 2);  // the disabled one is left out
  EXPECT_EQ(cresp.challenges(0).challenge_id(), "_default");
  const v1::Challenge& quiz = cresp.challenges(1);
  EXPECT_EQ(quiz.challenge_id(), "quiz");
  EXPECT_TRUE(quiz.has_enabled());
  EXPECT_TRUE(quiz.enabled());
  ASSERT_EQ(quiz.levels_size(), 2);
  EXPECT_EQ(quiz.levels(0).title(), "Bronze");  // sorted by level
  EXPECT_EQ(quiz.levels(1).badge_url(), "https://badges.example/2.png");
  creq.set_include_disabled(true);
  creq.set_exclude("_default");
  ASSERT_THAT(Call(&Stub::GetChallengeConfig, creq, &cresp), IsOk());
  ASSERT_EQ(cresp.challenges_size(), 2);
  EXPECT_EQ(cresp.challenges(0).challenge_id(), "old");
  EXPECT_FALSE(cresp.challenges(0).enabled());

  v1::GetActionConfigRequest areq;
  areq.set_tenant("site");
  areq.set_include("share,spam,other");
  areq.set_exclude("spam");
  v1::GetActionConfigResponse aresp;
  ASSERT_THAT(Call(&Stub::GetActionConfig, areq, &aresp), IsOk());
  ASSERT_EQ(aresp.actions_size(), 1);
  EXPECT_EQ(aresp.actions(0).action_id(), "share");
  EXPECT_EQ(aresp.actions(0).title(), "Title share");
  EXPECT_EQ(aresp.actions(0).points(), 5);
  EXPECT_THAT(aresp.actions(0).challenges(), ElementsAre("quiz"));

  v1::DeleteActionRequest dareq;
  dareq.set_tenant("site");
  dareq.set_action_id("spam");
  v1::DeleteActionResponse daresp;
  ASSERT_THAT(Call(&Stub::DeleteAction, dareq, &daresp), IsOk());
  EXPECT_THAT(Call(&Stub::DeleteAction, dareq, &daresp), IsError(Code::NOT_FOUND, "action_id"));
  v1::DeleteChallengeRequest dcreq;
  dcreq.set_tenant("site");
  dcreq.set_challenge_id("old");
  v1::DeleteChallengeResponse dcresp;
  ASSERT_THAT(Call(&Stub::DeleteChallenge, dcreq, &dcresp), IsOk());
  EXPECT_THAT(Call(&Stub::DeleteChallenge, dcreq, &dcresp),
              IsError(Code::NOT_FOUND, "challenge_id"));
  dcreq.set_challenge_id("_default");
  EXPECT_THAT(Call(&Stub::DeleteChallenge, dcreq, &dcresp),
              IsError(Code::INVALID_ARGUMENT, "challenge_id"));
  areq.clear_include();
  areq.clear_exclude();
  ASSERT_THAT(Call(&Stub::GetActionConfig, areq, &aresp), IsOk());
  ASSERT_EQ(aresp.actions_size(), 1);
}

TEST_F(GmE2eTest, BadConfigurationIsInvalidArgumentNamingTheField) {
  EXPECT_THAT(SetChallenge("quiz", {MakeLevel(1, 10, "a"), MakeLevel(2, 10, "b")}),
              IsError(Code::INVALID_ARGUMENT, "challenge.levels[1].points_required"));
  EXPECT_THAT(SetChallenge("_default", {}, false),
              IsError(Code::INVALID_ARGUMENT, "challenge.enabled"));
  EXPECT_THAT(SetAction("", 1), IsError(Code::INVALID_ARGUMENT, "action.action_id"));
  v1::GetActionConfigRequest req;
  req.set_tenant("site");
  req.set_include("a,,b");
  v1::GetActionConfigResponse resp;
  EXPECT_THAT(Call(&Stub::GetActionConfig, req, &resp), IsError(Code::INVALID_ARGUMENT, "include"));
}

TEST_F(GmE2eTest, PointsLevelsLogAndRedeem) {
  ASSERT_THAT(SetChallenge("_default", {MakeLevel(1, 10, "Bronze"), MakeLevel(2, 20, "Silver")}),
              IsOk());
  ASSERT_THAT(SetAction("earn", 15), IsOk());
  ASSERT_THAT(SetAction("lose", -100), IsOk());

  v1::NotifyActionResponse nresp;
  ASSERT_THAT(Notify("u", "earn", &nresp, "", "198.51.100.7"), IsOk());
  ASSERT_EQ(nresp.achievements_size(), 1);
  EXPECT_EQ(nresp.achievements(0).challenge_id(), "_default");
  EXPECT_EQ(nresp.achievements(0).points_total(), 15);
  EXPECT_EQ(nresp.achievements(0).points_7days(), 15);
  EXPECT_EQ(nresp.achievements(0).level(), 1);
  EXPECT_EQ(nresp.achievements(0).level_title(), "Bronze");
  EXPECT_TRUE(nresp.achievements(0).is_new_level());
  EXPECT_THAT(Notify("u", "nope"), IsError(Code::INVALID_ARGUMENT, "action_id"));

  v1::ResetLevelStatusRequest rreq;
  rreq.set_tenant("site");
  rreq.set_uid("u");
  rreq.set_challenge_id("_default");
  v1::ResetLevelStatusResponse rresp;
  ASSERT_THAT(Call(&Stub::ResetLevelStatus, rreq, &rresp), IsOk());
  EXPECT_FALSE(StatusOf("u", "_default").is_new_level());
  rreq.set_challenge_id("nope");
  EXPECT_THAT(Call(&Stub::ResetLevelStatus, rreq, &rresp),
              IsError(Code::INVALID_ARGUMENT, "challenge_id"));

  v1::RedeemPointsResponse redeem;
  EXPECT_THAT(Redeem("u", 16, &redeem), IsError(Code::FAILED_PRECONDITION, "points"));
  EXPECT_THAT(Redeem("u", 0, &redeem), IsError(Code::INVALID_ARGUMENT, "points"));
  EXPECT_THAT(Redeem("u", 1, &redeem, "nope"), IsError(Code::INVALID_ARGUMENT, "challenge_id"));
  ASSERT_THAT(Redeem("u", 6, &redeem), IsOk());
  EXPECT_EQ(redeem.achievement().points_total(), 9);
  EXPECT_EQ(redeem.achievement().level(), 0);
  ASSERT_THAT(Notify("u", "lose"), IsOk());  // the balance stops at 0
  ASSERT_THAT(Notify("u", "earn"), IsOk());
  v1::Achievement a = StatusOf("u", "_default");
  EXPECT_EQ(a.points_total(), 15);
  EXPECT_EQ(a.points_7days(), 15 - 100 + 15);  // grants only, negative ones included
  EXPECT_EQ(a.level(), 1);

  EXPECT_THAT(LogRows("u"), ElementsAre("_default earn 15 OPERATION_GRANT ",
                                        "_default lose -100 OPERATION_GRANT ",
                                        "_default _redeem -6 OPERATION_REDEEM ",
                                        "_default earn 15 OPERATION_GRANT 198.51.100.7"));

  // Time bounds: everything was logged within the last minute.
  v1::GetActionsLogRequest lreq;
  lreq.set_tenant("site");
  lreq.set_uid("u");
  int64_t now = absl::ToUnixSeconds(absl::Now());
  lreq.set_start_time(now - 60);
  lreq.set_end_time(now + 60);
  v1::GetActionsLogResponse lresp;
  ASSERT_THAT(Call(&Stub::GetActionsLog, lreq, &lresp), IsOk());
  EXPECT_EQ(lresp.actions_size(), 4);
  EXPECT_NEAR(lresp.actions(0).time().seconds(), now, 60);
  lreq.set_end_time(now - 120);
  EXPECT_THAT(Call(&Stub::GetActionsLog, lreq, &lresp),
              IsError(Code::INVALID_ARGUMENT, "start_time"));
  lreq.clear_end_time();
  lreq.set_page_token("garbage!");
  EXPECT_THAT(Call(&Stub::GetActionsLog, lreq, &lresp),
              IsError(Code::INVALID_ARGUMENT, "page_token"));
}

TEST_F(GmE2eTest, RepeatedRequestIdIsAppliedOnce) {
  ASSERT_THAT(SetAction("earn", 7), IsOk());
  v1::NotifyActionResponse first, again;
  ASSERT_THAT(Notify("u", "earn", &first, "order-1"), IsOk());
  ASSERT_THAT(Notify("u", "earn", &again, "order-1"), IsOk());
  EXPECT_EQ(first.SerializeAsString(), again.SerializeAsString());
  EXPECT_EQ(StatusOf("u", "_default").points_total(), 7);
  EXPECT_THAT(LogRows("u"), ElementsAre("_default earn 7 OPERATION_GRANT "));
}

TEST_F(GmE2eTest, LeaderboardsRankByPeriodWithTiesAndSelf) {
  ASSERT_THAT(SetAction("one", 1), IsOk());
  ASSERT_THAT(SetAction("five", 5), IsOk());
  for (const char* uid : {"carol", "alice", "bob"}) ASSERT_THAT(Notify(uid, "five"), IsOk());
  ASSERT_THAT(Notify("bob", "one"), IsOk());
  ASSERT_THAT(Notify("dave", "one"), IsOk());
  v1::RedeemPointsResponse redeem;
  ASSERT_THAT(Redeem("bob", 6, &redeem), IsOk());  // all-time 0; 7-day grants stay 6

  EXPECT_THAT(Top(v1::PERIOD_ALL),
              ElementsAre(TopRow("alice", 1, 5), TopRow("carol", 2, 5), TopRow("dave", 3, 1)));
  const std::vector<TopRow> week = {TopRow("bob", 1, 6), TopRow("alice", 2, 5),
                                    TopRow("carol", 3, 5), TopRow("dave", 4, 1)};
  EXPECT_EQ(Top(v1::PERIOD_DAYS7), week);
  EXPECT_EQ(Top(v1::PERIOD_UNSPECIFIED), week);  // the default period
  EXPECT_THAT(Top(v1::PERIOD_ALL, "_default", 1, "dave"),
              ElementsAre(TopRow("alice", 1, 5), TopRow("dave", 3, 1)));
  EXPECT_THAT(Top(v1::PERIOD_ALL, "_default", 1, "bob"),
              ElementsAre(TopRow("alice", 1, 5), TopRow("bob", 0, 0)));

  v1::GetTopUsersRequest req;
  req.set_tenant("site");
  req.set_total_count(101);
  v1::GetTopUsersResponse resp;
  EXPECT_THAT(Call(&Stub::GetTopUsers, req, &resp), IsError(Code::INVALID_ARGUMENT, "total_count"));
  req.clear_total_count();  // default 12
  req.set_uid("dave");
  req.set_include_self(false);
  ASSERT_THAT(Call(&Stub::GetTopUsers, req, &resp), IsOk());
  EXPECT_EQ(resp.users_size(), 4);
  req.set_period(static_cast<v1::Period>(7));
  EXPECT_THAT(Call(&Stub::GetTopUsers, req, &resp), IsError(Code::INVALID_ARGUMENT, "period"));
  req.set_period(v1::PERIOD_ALL);
  req.set_challenge_id("nope");
  EXPECT_THAT(Call(&Stub::GetTopUsers, req, &resp),
              IsError(Code::INVALID_ARGUMENT, "challenge_id"));
}

TEST_F(GmE2eTest, StateSurvivesGracefulAndHardRestarts) {
  ASSERT_THAT(SetChallenge("quiz", {MakeLevel(1, 8, "Whiz")}), IsOk());
  ASSERT_THAT(SetAction("answer", 4, {"quiz"}), IsOk());
  ASSERT_THAT(SetAction("visit", 1), IsOk());
  for (int i = 0; i < 3; ++i) ASSERT_THAT(Notify("ann", "answer"), IsOk());
  ASSERT_THAT(Notify("ben", "answer"), IsOk());
  ASSERT_THAT(Notify("ben", "visit"), IsOk());
  v1::RedeemPointsResponse redeem;
  ASSERT_THAT(Redeem("ann", 2, &redeem, "quiz"), IsOk());

  auto snapshot = [&] {
    v1::Achievement ann = StatusOf("ann", "quiz");
    return std::make_tuple(LogRows("ann"), LogRows("ben"), ann.points_total(), ann.level(),
                           ann.is_new_level(), Top(v1::PERIOD_ALL, "quiz"),
                           Top(v1::PERIOD_DAYS7, "quiz"), Top(v1::PERIOD_DAYS7, "_default"));
  };
  const auto before = snapshot();
  EXPECT_EQ(std::get<2>(before), 10);
  EXPECT_EQ(std::get<3>(before), 1);
  EXPECT_TRUE(std::get<4>(before));
  EXPECT_THAT(std::get<5>(before), ElementsAre(TopRow("ann", 1, 10), TopRow("ben", 2, 5)));
  EXPECT_THAT(std::get<6>(before), ElementsAre(TopRow("ann", 1, 12), TopRow("ben", 2, 5)));
  EXPECT_THAT(std::get<7>(before), ElementsAre(TopRow("ann", 1, 12), TopRow("ben", 2, 5)));
  EXPECT_EQ(std::get<0>(before).size(), 7u);  // 3 x 2 grants + 1 redeem

  ASSERT_TRUE(server_->Signal(SIGTERM).ok());
  std::optional<test::ExitStatus> exit = server_->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->Success()) << exit->ToString();
  StartServer();
  EXPECT_EQ(snapshot(), before);

  // A write after the restart, then kill -9: the acknowledged write is in the WAL.
  ASSERT_THAT(Notify("ben", "answer"), IsOk());
  const auto after_write = snapshot();
  EXPECT_THAT(std::get<6>(after_write), ElementsAre(TopRow("ann", 1, 12), TopRow("ben", 2, 9)));
  server_->Kill();
  StartServer();
  EXPECT_EQ(snapshot(), after_write);
  v1::GetChallengeConfigRequest creq;
  creq.set_tenant("site");
  creq.set_include("quiz");
  v1::GetChallengeConfigResponse cresp;
  ASSERT_THAT(Call(&Stub::GetChallengeConfig, creq, &cresp), IsOk());
  ASSERT_EQ(cresp.challenges_size(), 1);
  EXPECT_EQ(cresp.challenges(0).levels(0).title(), "Whiz");
}

TEST_F(GmE2eTest, UserWithoutDataReadsEmptyResults) {
  v1::GetChallengeStatusRequest req;
  req.set_tenant("site");
  req.set_uid("ghost");
  v1::GetChallengeStatusResponse resp;
  ASSERT_THAT(Call(&Stub::GetChallengeStatus, req, &resp), IsOk());
  ASSERT_EQ(resp.achievements_size(), 1);
  EXPECT_EQ(resp.achievements(0).level(), 0);
  EXPECT_EQ(resp.achievements(0).points_total(), 0);
  EXPECT_THAT(LogRows("ghost"), IsEmpty());
  EXPECT_THAT(Top(v1::PERIOD_ALL), IsEmpty());
  req.set_uid("");
  EXPECT_THAT(Call(&Stub::GetChallengeStatus, req, &resp), IsError(Code::INVALID_ARGUMENT, "uid"));
}

}  // namespace
}  // namespace countd::e2e
