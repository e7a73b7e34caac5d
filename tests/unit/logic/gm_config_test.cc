// Tests of the GameMechanics configuration helpers (server/logic/gm_config.h): validation,
// storage encoding, levels and id filters.
#include "server/logic/gm_config.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"

namespace countd::logic {
namespace {

using ::testing::ElementsAre;

GmLevel Level(int32_t level, int64_t points) {
  GmLevel l;
  l.level = level;
  l.points_required = points;
  l.title = "t" + std::to_string(level);
  return l;
}

TEST(GmConfigTest, ActionRoundTripsThroughTheEncoding) {
  GmAction a;
  a.action_id = "share";
  a.title = "Share";
  a.description = std::string("with\0zero", 9);
  a.points = -42;
  a.challenges = {"x", "y"};
  GmAction b;
  ASSERT_TRUE(DecodeAction(EncodeAction(a), &b));
  EXPECT_EQ(b.action_id, a.action_id);
  EXPECT_EQ(b.title, a.title);
  EXPECT_EQ(b.description, a.description);
  EXPECT_EQ(b.points, -42);
  EXPECT_THAT(b.challenges, ElementsAre("x", "y"));
}

TEST(GmConfigTest, ChallengeRoundTripsWithEnabledStates) {
  for (absl::optional<bool> enabled :
       {absl::optional<bool>(), absl::optional<bool>(true), absl::optional<bool>(false)}) {
    GmChallenge c;
    c.challenge_id = "quiz";
    c.title = "Quiz";
    c.enabled = enabled;
    c.levels = {Level(0, 0), Level(3, 99)};
    c.levels[1].badge_url = "https://b/3.png";
    GmChallenge d;
    ASSERT_TRUE(DecodeChallenge(EncodeChallenge(c), &d));
    EXPECT_EQ(d.enabled, enabled);
    ASSERT_EQ(d.levels.size(), 2u);
    EXPECT_EQ(d.levels[1].level, 3);
    EXPECT_EQ(d.levels[1].points_required, 99);
    EXPECT_EQ(d.levels[1].badge_url, "https://b/3.png");
  }
}

TEST(GmConfigTest, DecodingRejectsTruncatedOrForeignBytes) {
  GmAction a;
  a.action_id = "share";
  std::string bytes = EncodeAction(a);
  GmAction out;
  EXPECT_FALSE(DecodeAction(bytes.substr(0, bytes.size() - 1), &out));
  EXPECT_FALSE(DecodeAction(bytes + "x", &out));
  EXPECT_FALSE(DecodeAction("", &out));
  GmChallenge c;
  EXPECT_FALSE(DecodeChallenge(bytes, &c));  // an action is not a challenge
}

// Ids the comma lists (include/exclude filters, Gigya's challenges) could never name are
// refused, and so is the action id the log reserves for redeems; the message names the field.
TEST(GmConfigTest, IdsMustBeNameableInACommaListAndNotReserved) {
  for (const char* bad : {"a,b", ",", "*", " a", "a ", "_redeem"}) {
    SCOPED_TRACE(bad);
    GmAction action;
    action.action_id = bad;
    absl::StatusOr<GmAction> a = NormalizeAction(action);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(FieldOf(a.status()), "action.action_id");
  }
  for (const char* bad : {"c,d", "*", " c"}) {
    SCOPED_TRACE(bad);
    GmChallenge challenge;
    challenge.challenge_id = bad;
    absl::StatusOr<GmChallenge> c = NormalizeChallenge(challenge);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(FieldOf(c.status()), "challenge.challenge_id");

    GmAction action;
    action.action_id = "ok";
    action.challenges = {"fine", bad};
    absl::StatusOr<GmAction> a = NormalizeAction(action);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(FieldOf(a.status()), "action.challenges[1]");
  }
  // What they may hold: any other printable ASCII, inner blanks and a leading '_' included.
  GmAction fine;
  fine.action_id = "_my action.v2";
  EXPECT_TRUE(NormalizeAction(fine).ok());
  GmChallenge redeem_named;
  redeem_named.challenge_id = "_redeem";  // reserved for actions only
  EXPECT_TRUE(NormalizeChallenge(redeem_named).ok());
}

TEST(GmConfigTest, LevelIsTheHighestReached) {
  absl::StatusOr<GmChallenge> c = [] {
    GmChallenge raw;
    raw.challenge_id = "c";
    raw.levels = {Level(5, 100), Level(1, 10), Level(2, 20)};
    return NormalizeChallenge(raw);
  }();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(LevelNumber(*c, 0), 0);
  EXPECT_EQ(LevelFor(*c, 9), nullptr);
  EXPECT_EQ(LevelNumber(*c, 10), 1);
  EXPECT_EQ(LevelNumber(*c, 99), 2);
  EXPECT_EQ(LevelNumber(*c, 100), 5);
  EXPECT_EQ(LevelFor(*c, 1000)->title, "t5");
}

TEST(GmConfigTest, FiltersSelectIds) {
  absl::StatusOr<IdFilter> all = IdFilter::Parse("include", "", "exclude", "");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Matches("anything"));
  absl::StatusOr<IdFilter> some = IdFilter::Parse("include", " a , b", "exclude", "b");
  ASSERT_TRUE(some.ok());
  EXPECT_TRUE(some->Matches("a"));
  EXPECT_FALSE(some->Matches("b"));
  EXPECT_FALSE(some->Matches("c"));
  absl::StatusOr<IdFilter> none = IdFilter::Parse("include", "*", "exclude", "*");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->Matches("a"));
  absl::StatusOr<IdFilter> bad = IdFilter::Parse("inc", "a,", "exc", "");
  EXPECT_EQ(FieldOf(bad.status()), "inc");
  bad = IdFilter::Parse("inc", "a", "exc", std::string(257, 'x'));
  EXPECT_EQ(FieldOf(bad.status()), "exc");
}

TEST(GmConfigTest, ActionsCountInEnabledChallengesTheyListPlusDefault) {
  GmConfig config;
  config.challenges["_default"] = DefaultChallenge();
  for (const char* id : {"a", "b", "off"}) {
    GmChallenge c;
    c.challenge_id = id;
    if (std::string(id) == "off") c.enabled = false;
    config.challenges[id] = c;
  }
  auto ids = [&](std::vector<std::string> listed) {
    GmAction action;
    action.action_id = "x";
    action.challenges = std::move(listed);
    std::vector<std::string> out;
    for (const GmChallenge* c : config.ChallengesOf(action)) out.push_back(c->challenge_id);
    return out;
  };
  EXPECT_THAT(ids({}), ElementsAre("_default", "a", "b"));
  EXPECT_THAT(ids({"b", "off", "missing"}), ElementsAre("_default", "b"));
  EXPECT_THAT(ids({"_default"}), ElementsAre("_default"));
}

}  // namespace
}  // namespace countd::logic
