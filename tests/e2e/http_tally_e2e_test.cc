// End-to-end tests of the Tally routes of the JSON shim (/tally/...): the real countd binary,
// libcurl over loopback. Tally answers HTTP 200 always, the outcome in the body.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/shim_e2e_util.h"

namespace countd::e2e {
namespace {

using ::testing::Pointee;

constexpr char kSaved[] = R"({"status":"saved"})";
constexpr char kNotSaved[] = R"({"error":"not saved"})";

class HttpTallyE2eTest : public ShimE2eTest {
 protected:
  HttpResult Add(const std::string& op, const std::string& counter, const std::string& countable,
                 const std::string& window, const std::string& body = "") {
    return http_->PostJson(
        absl::StrCat("/tally/", tenant_, "/", op, "/", counter, "/", countable, "/", window), body);
  }
  HttpResult Count(const std::string& counter, const std::string& countable) {
    return http_->Get(absl::StrCat("/tally/", tenant_, "/ecount/", counter, "/", countable));
  }
  // `rest` follows the counter: "", "/", "?k=2", "/?k=2&metadata=true"...
  HttpResult Top(const std::string& counter, const std::string& rest) {
    return http_->Get(absl::StrCat("/tally/", tenant_, "/topk/", counter, rest));
  }
  std::string Key(const std::string& counter, const std::string& countable) {
    return absl::StrCat(tenant_, "::", counter, "::topk::", countable);
  }
  // Adds `n` to a TOPK countable with a 60-minute window, expecting each write saved.
  void AddTop(const std::string& counter, const std::string& countable, int n) {
    for (int i = 0; i < n; ++i) {
      HttpResult r = Add("topk", counter, countable, "60");
      ASSERT_EQ(r.status, 200) << r;
      ASSERT_THAT(r.body, JsonEq(kSaved)) << countable;
    }
  }
};

TEST_F(HttpTallyE2eTest, EcountWriteIsSavedAndReadBack) {
  HttpResult r = Add("ecount", "logins", "alice", "60");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(kSaved));
  EXPECT_THAT(r.Header("access-control-allow-origin"), Pointee(std::string("*")));
  EXPECT_THAT(Add("ecount", "logins", "alice", "60").body, JsonEq(kSaved));
  EXPECT_THAT(Add("ecount", "logins", "bob", "60").body, JsonEq(kSaved));

  HttpResult c = Count("logins", "alice");
  EXPECT_EQ(c.status, 200) << c;
  EXPECT_THAT(c.body, JsonEq(R"({"data":"2"})"));
  EXPECT_THAT(c.Header("access-control-allow-origin"), Pointee(std::string("*")));
  EXPECT_THAT(Count("logins", "bob").body, JsonEq(R"({"data":"1"})"));
}

TEST_F(HttpTallyE2eTest, EcountOfUnknownIs404InTheBody) {
  HttpResult r = Count("never", "seen");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(R"({"status":404})"));
  ASSERT_THAT(Add("ecount", "known", "a", "5").body, JsonEq(kSaved));
  EXPECT_THAT(Count("known", "b").body, JsonEq(R"({"status":404})"));
  // Another tenant sees nothing of this one.
  EXPECT_THAT(http_->Get(absl::StrCat("/tally/other-", tenant_, "/ecount/known/a")).body,
              JsonEq(R"({"status":404})"));
}

TEST_F(HttpTallyE2eTest, TopKRanksWithOrWithoutTrailingSlash) {
  AddTop("pages", "home", 3);
  AddTop("pages", "cart", 1);
  AddTop("pages", "about", 2);
  const std::string want =
      absl::StrCat(R"({"data":[[")", Key("pages", "home"), R"(","3.0"],[")", Key("pages", "about"),
                   R"(","2.0"],[")", Key("pages", "cart"), R"(","1.0"]]})");
  HttpResult r = Top("pages", "");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, JsonEq(want));
  EXPECT_THAT(r.Header("access-control-allow-origin"), Pointee(std::string("*")));
  EXPECT_THAT(Top("pages", "/").body, JsonEq(want));
  EXPECT_THAT(Top("pages", "?k=25").body, JsonEq(want));
}

TEST_F(HttpTallyE2eTest, TopKHonoursKAndBreaksTiesByName) {
  AddTop("ties", "b", 2);
  AddTop("ties", "a", 2);
  AddTop("ties", "c", 5);
  EXPECT_THAT(Top("ties", "/?k=2").body,
              JsonEq(absl::StrCat(R"({"data":[[")", Key("ties", "c"), R"(","5.0"],[")",
                                  Key("ties", "a"), R"(","2.0"]]})")));
  EXPECT_THAT(Top("ties", "?k=1").body,
              JsonEq(absl::StrCat(R"({"data":[[")", Key("ties", "c"), R"(","5.0"]]})")));
}

TEST_F(HttpTallyE2eTest, TopKWithMetadataAddsAThirdElement) {
  ASSERT_THAT(Add("topk", "songs", "s1", "60", R"({"metadata":"Song One"})").body, JsonEq(kSaved));
  ASSERT_THAT(Add("topk", "songs", "s1", "60").body, JsonEq(kSaved));  // keeps the metadata
  ASSERT_THAT(Add("topk", "songs", "s2", "60", R"({"metadata":"{\"artist\":\"X\"}"})").body,
              JsonEq(kSaved));

  rapidjson::Document doc = ParseJson(Top("songs", "/?k=2&metadata=true").body);
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("data") && doc["data"].IsArray());
  const rapidjson::Value& data = doc["data"];
  ASSERT_EQ(data.Size(), 2u) << ToJson(doc);
  ASSERT_EQ(data[0].Size(), 3u) << ToJson(doc);
  EXPECT_EQ(std::string(data[0][0].GetString()), Key("songs", "s1"));
  EXPECT_EQ(std::string(data[0][1].GetString()), "2.0");
  EXPECT_EQ(std::string(data[0][2].GetString()), "Song One");
  ASSERT_EQ(data[1].Size(), 3u) << ToJson(doc);
  EXPECT_EQ(std::string(data[1][0].GetString()), Key("songs", "s2"));
  EXPECT_EQ(std::string(data[1][1].GetString()), "1.0");
  EXPECT_EQ(std::string(data[1][2].GetString()), R"({"artist":"X"})");

  // An item without metadata has null as its third element.
  ASSERT_THAT(Add("topk", "songs", "s3", "60").body, JsonEq(kSaved));
  EXPECT_THAT(Top("songs", "?k=3&metadata=true").body,
              JsonEq(absl::StrCat(R"({"data":[[")", Key("songs", "s1"), R"(","2.0","Song One"],[")",
                                  Key("songs", "s2"), R"(","1.0","{\"artist\":\"X\"}"],[")",
                                  Key("songs", "s3"), R"(","1.0",null]]})")));

  // metadata=false (and no parameter) gives pairs.
  doc = ParseJson(Top("songs", "?metadata=false").body);
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("data") && doc["data"].IsArray());
  ASSERT_EQ(doc["data"].Size(), 3u);
  for (const auto& item : doc["data"].GetArray()) EXPECT_EQ(item.Size(), 2u);

  // The boolean in any case and as 1/0, as the Gigya routes take booleans.
  for (const char* yes : {"TRUE", "True", "1"}) {
    doc = ParseJson(Top("songs", absl::StrCat("?k=1&metadata=", yes)).body);
    ASSERT_TRUE(doc.IsObject() && doc.HasMember("data") && doc["data"].Size() == 1u) << yes;
    EXPECT_EQ(doc["data"][0].Size(), 3u) << yes;
  }
  for (const char* no : {"FALSE", "0"}) {
    doc = ParseJson(Top("songs", absl::StrCat("?k=1&metadata=", no)).body);
    ASSERT_TRUE(doc.IsObject() && doc.HasMember("data") && doc["data"].Size() == 1u) << no;
    EXPECT_EQ(doc["data"][0].Size(), 2u) << no;
  }

  // A write with metadata replaces it at once.
  ASSERT_THAT(Add("topk", "songs", "s1", "60", R"({"metadata":"Renamed"})").body, JsonEq(kSaved));
  doc = ParseJson(Top("songs", "?k=1&metadata=true").body);
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("data") && doc["data"].IsArray());
  ASSERT_EQ(doc["data"].Size(), 1u);
  EXPECT_EQ(std::string(doc["data"][0][1].GetString()), "3.0");
  EXPECT_EQ(std::string(doc["data"][0][2].GetString()), "Renamed");
}

TEST_F(HttpTallyE2eTest, MetadataAtTheLimitIsSavedOneMoreIsNot) {
  const std::string at_limit(16384, 'm');
  EXPECT_THAT(
      Add("topk", "meta", "ok", "60", absl::StrCat(R"({"metadata":")", at_limit, "\"}")).body,
      JsonEq(kSaved));
  const std::string over(16385, 'm');
  EXPECT_THAT(Add("topk", "meta", "big", "60", absl::StrCat(R"({"metadata":")", over, "\"}")).body,
              JsonEq(kNotSaved));
  // The refused write counted nothing and stored no metadata.
  EXPECT_THAT(Count("meta", "big").body, JsonEq(R"({"status":404})"));
  rapidjson::Document doc = ParseJson(Top("meta", "?metadata=true").body);
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("data") && doc["data"].IsArray()) << ToJson(doc);
  ASSERT_EQ(doc["data"].Size(), 1u) << ToJson(doc);
  EXPECT_EQ(std::string(doc["data"][0][0].GetString()), Key("meta", "ok"));
  EXPECT_EQ(doc["data"][0][2].GetStringLength(), 16384u);
}

TEST_F(HttpTallyE2eTest, BadWindowIsNotSavedAndWritesNothing) {
  for (const char* window : {"0", "43201", "-5", "abc", "1.5", "99999999999"}) {
    HttpResult r = Add("ecount", "win", "x", window);
    EXPECT_EQ(r.status, 200) << window << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(kNotSaved)) << window;
  }
  EXPECT_THAT(Count("win", "x").body, JsonEq(R"({"status":404})"));
  // The bounds themselves are fine.
  EXPECT_THAT(Add("ecount", "win", "x", "1").body, JsonEq(kSaved));
  EXPECT_THAT(Add("ecount", "win", "x", "43200").body, JsonEq(kSaved));
  EXPECT_THAT(Count("win", "x").body, JsonEq(R"({"data":"2"})"));
}

TEST_F(HttpTallyE2eTest, BackslashInANameIsNotSaved) {
  EXPECT_THAT(Add("topk", "c%5Cd", "x", "60").body, JsonEq(kNotSaved));
  EXPECT_THAT(Add("topk", "cnt", "x%5Cy", "60").body, JsonEq(kNotSaved));
  // An encoded '/' (%2F) cannot smuggle a separator in either.
  EXPECT_THAT(Add("topk", "cnt", "x%2Fy", "60").body, JsonEq(kNotSaved));
  EXPECT_THAT(Top("cnt", "").body, JsonEq(R"({"data":[]})"));
}

TEST_F(HttpTallyE2eTest, BadWriteBodiesAreNotSaved) {
  for (const char* body :
       {"not json", R"({"metadata":1})", R"({"meta":"x"})", "[]", R"({"metadata":"x")"}) {
    EXPECT_THAT(Add("topk", "bodies", "x", "60", body).body, JsonEq(kNotSaved)) << body;
  }
  EXPECT_THAT(Count("bodies", "x").body, JsonEq(R"({"status":404})"));
  // A bad op or a missing window is not a write either.
  EXPECT_THAT(http_->Post(absl::StrCat("/tally/", tenant_, "/ecount/bodies/x"), "").body,
              JsonEq(kNotSaved));
  EXPECT_THAT(http_->Post(absl::StrCat("/tally/", tenant_, "/sum/bodies/x/60"), "").body,
              JsonEq(kNotSaved));
  EXPECT_THAT(Count("bodies", "x").body, JsonEq(R"({"status":404})"));
}

TEST_F(HttpTallyE2eTest, BadTopKQueryIs400) {
  AddTop("q", "a", 1);
  for (const char* query : {"?k=0", "?k=1001", "?k=abc", "?k=-1", "?k=", "?k=2&bogus=1",
                            "?metadata=yes", "?metadata=2", "?k=%zz"}) {
    HttpResult r = Top("q", query);
    EXPECT_EQ(r.status, 200) << query << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(R"({"status":400})")) << query;
  }
  EXPECT_THAT(Top("q", "?k=1000").body,
              JsonEq(absl::StrCat(R"({"data":[[")", Key("q", "a"), R"(","1.0"]]})")));
}

TEST_F(HttpTallyE2eTest, TopKOfACounterWithNothingCountedIsAnEmptyList) {
  // Clients iterate `data`: a counter never counted ranks nothing.
  for (const char* rest : {"", "/", "/?k=10", "/10", "/10/", "?metadata=true"}) {
    HttpResult r = Top("nothing-here", rest);
    EXPECT_EQ(r.status, 200) << rest << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(R"({"data":[]})")) << rest;
    EXPECT_THAT(r.Header("access-control-allow-origin"), Pointee(std::string("*")));
  }
  // Another tenant's counter of that name counts nothing here.
  AddTop("elsewhere", "a", 1);
  EXPECT_THAT(http_->Get(absl::StrCat("/tally/other-", tenant_, "/topk/elsewhere")).body,
              JsonEq(R"({"data":[]})"));
  // Bad input is still 400.
  EXPECT_THAT(Top("nothing-here", "?k=0").body, JsonEq(R"({"status":400})"));
  EXPECT_THAT(Top("bad%5Cname", "").body, JsonEq(R"({"status":400})"));
}

TEST_F(HttpTallyE2eTest, TopKTakesKFromThePath) {
  AddTop("paths", "a", 3);
  AddTop("paths", "b", 2);
  AddTop("paths", "c", 1);
  const std::string two = absl::StrCat(R"({"data":[[")", Key("paths", "a"), R"(","3.0"],[")",
                                       Key("paths", "b"), R"(","2.0"]]})");
  // The documents' template: GET /tally/<tracking_id>/topk/<counter>/<k_value>.
  for (const char* rest : {"/2", "/2/", "/2?k=2", "/02", "/?k=2", "?k=2"}) {
    HttpResult r = Top("paths", rest);
    EXPECT_EQ(r.status, 200) << rest << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(two)) << rest;
  }
  EXPECT_THAT(Top("paths", "/1?metadata=true").body,
              JsonEq(absl::StrCat(R"({"data":[[")", Key("paths", "a"), R"(","3.0",null]]})")));
  EXPECT_THAT(
      Top("paths", "/1000").body,
      JsonEq(absl::StrCat(R"({"data":[[")", Key("paths", "a"), R"(","3.0"],[")", Key("paths", "b"),
                          R"(","2.0"],[")", Key("paths", "c"), R"(","1.0"]]})")));
  // A bad k in the path, or one the query contradicts, is the route's 400.
  for (const char* rest :
       {"/0", "/1001", "/abc", "/-1", "/1e2", "/2.0", "/%202", "/2?k=3", "/2?k=2&k=2", "//"}) {
    HttpResult r = Top("paths", rest);
    EXPECT_EQ(r.status, 200) << rest << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(R"({"status":400})")) << rest;
  }
  // More segments after k name no route.
  EXPECT_THAT(Top("paths", "/2/x").body, JsonEq(R"({"status":404})"));
}

// jQuery's $.ajax({cache: false}) adds "_=<ms>" to every GET: Tally reads ignore it (only it).
TEST_F(HttpTallyE2eTest, ReadsIgnoreJQueryCacheBuster) {
  AddTop("jq", "a", 2);
  ASSERT_THAT(Add("ecount", "jq", "a", "60").body, JsonEq(kSaved));
  EXPECT_THAT(Top("jq", "/?k=5&_=1733390000000").body,
              JsonEq(absl::StrCat(R"({"data":[[")", Key("jq", "a"), R"(","2.0"]]})")));
  EXPECT_THAT(Top("jq", "/5?_=1733390000000").body,
              JsonEq(absl::StrCat(R"({"data":[[")", Key("jq", "a"), R"(","2.0"]]})")));
  EXPECT_THAT(http_->Get(absl::StrCat("/tally/", tenant_, "/ecount/jq/a?_=1733390000000")).body,
              JsonEq(R"({"data":"1"})"));
  // Any other parameter is still refused.
  EXPECT_THAT(http_->Get(absl::StrCat("/tally/", tenant_, "/ecount/jq/a?x=1")).body,
              JsonEq(R"({"status":400})"));
  EXPECT_THAT(Top("jq", "/?_=1&_=2").body, JsonEq(R"({"status":400})"));
}

TEST_F(HttpTallyE2eTest, EcountReadWithTheWindowSegmentAnswersLikeWithout) {
  ASSERT_THAT(Add("ecount", "views", "p1", "60").body, JsonEq(kSaved));
  ASSERT_THAT(Add("ecount", "views", "p1", "60").body, JsonEq(kSaved));
  // /tally/<tracking_id>/ecount/<counter>/<countable>/<window_size>: the window belongs to the
  // counter (the latest write sets it), so any valid window reads the same count.
  for (const char* window : {"60", "60/", "1", "43200", ""}) {
    HttpResult r = http_->Get(absl::StrCat("/tally/", tenant_, "/ecount/views/p1/", window));
    EXPECT_EQ(r.status, 200) << window << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(R"({"data":"2"})")) << window;
    EXPECT_THAT(r.Header("access-control-allow-origin"), Pointee(std::string("*")));
  }
  EXPECT_THAT(http_->Get(absl::StrCat("/tally/", tenant_, "/ecount/views/never/60")).body,
              JsonEq(R"({"status":404})"));
  for (const char* window : {"0", "43201", "abc", "-5", "1.5", "60?x=1", "/"}) {
    HttpResult r = http_->Get(absl::StrCat("/tally/", tenant_, "/ecount/views/p1/", window));
    EXPECT_EQ(r.status, 200) << window << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(R"({"status":400})")) << window;
  }
  EXPECT_THAT(http_->Get(absl::StrCat("/tally/", tenant_, "/ecount/views/p1/60/x")).body,
              JsonEq(R"({"status":404})"));
  // Reads wrote nothing.
  EXPECT_THAT(Count("views", "p1").body, JsonEq(R"({"data":"2"})"));
}

TEST_F(HttpTallyE2eTest, MetadataTakesFormAndJsLiteralBodies) {
  const std::string path = absl::StrCat("/tally/", tenant_, "/topk/people/");
  constexpr char kForm[] = "application/x-www-form-urlencoded; charset=UTF-8";
  // jQuery's $.post(url, {metadata: '...'}).
  ASSERT_THAT(http_
                  ->Post(path + "p1/60", "metadata=%7B%22name%22%3A%22Ann+Lee%22%7D",
                         {{"Content-Type", kForm}})
                  .body,
              JsonEq(kSaved));
  // The documents' example body, as fetch() sends a string.
  ASSERT_THAT(http_
                  ->Post(path + "p2/60",
                         R"({
  metadata: '{\'id\':1,\'first_name\':\'Debra\',\'last_name\':\'Bell\'}'
})",
                         {{"Content-Type", "text/plain;charset=UTF-8"}})
                  .body,
              JsonEq(kSaved));
  ASSERT_THAT(http_->Post(path + "p2/60", "", {{"Content-Type", kForm}}).body, JsonEq(kSaved));
  EXPECT_THAT(
      Top("people", "?metadata=true").body,
      JsonEq(absl::StrCat(R"({"data":[[")", Key("people", "p2"),
                          R"(","2.0","{'id':1,'first_name':'Debra','last_name':'Bell'}"],[")",
                          Key("people", "p1"), R"(","1.0","{\"name\":\"Ann Lee\"}"]]})")));
  // Malformed bodies in either style save nothing.
  for (const char* body :
       {"metadata=a&metadata=b", "metadata=a&x=1", "meta=a", "metadata", "metadata=%zz",
        "metadata=%FF", "{ metadata: 1 }", "{ metadata: 'a' + 'b' }", "{ metadata: a }",
        "{ metadata: 'a', metadata: 'b' }", "{ metadata: 'a' } /* c */", "{ metadata: '\\x41' }"}) {
    HttpResult r = http_->Post(path + "bad/60", body, {{"Content-Type", kForm}});
    EXPECT_EQ(r.status, 200) << body << "\n" << r;
    EXPECT_THAT(r.body, JsonEq(kNotSaved)) << body;
  }
  EXPECT_THAT(Count("people", "bad").body, JsonEq(R"({"status":404})"));
  // The form's limit is the JSON one: 16384 characters.
  EXPECT_THAT(
      http_->Post(path + "big/60", "metadata=" + std::string(16385, 'm'), {{"Content-Type", kForm}})
          .body,
      JsonEq(kNotSaved));
  EXPECT_THAT(Count("people", "big").body, JsonEq(R"({"status":404})"));
  EXPECT_THAT(
      http_->Post(path + "p3/60", "metadata=" + std::string(16384, 'm'), {{"Content-Type", kForm}})
          .body,
      JsonEq(kSaved));
}

TEST_F(HttpTallyE2eTest, PreflightIsAnswered204) {
  HttpResult r =
      http_->Request("OPTIONS", absl::StrCat("/tally/", tenant_, "/topk/c/x/60"), nullptr,
                     {{"Origin", "https://a.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(r.status, 204) << r;
  EXPECT_THAT(r.Header("access-control-allow-origin"), Pointee(std::string("*")));
  ASSERT_NE(r.Header("access-control-allow-methods"), nullptr) << r;
  EXPECT_THAT(*r.Header("access-control-allow-methods"), ::testing::HasSubstr("POST"));
  EXPECT_THAT(Top("c", "").body, JsonEq(R"({"data":[]})"));  // nothing written
}

}  // namespace
}  // namespace countd::e2e
