// End-to-end tests of GET /metrics: the real countd binary, gRPC calls over loopback and HTTP
// calls with libcurl; the scraped text must parse as Prometheus text format 0.0.4 and its
// counters must move by exactly the calls made.
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "countd/v1/counters.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// One scrape: every sample keyed by its exact series text ("name{labels}"), plus family types.
struct Scrape {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;  // family name -> counter/gauge/histogram

  // The value of `series`, or -1 when absent.
  double Value(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  }
  bool Has(const std::string& series) const { return samples.count(series) > 0; }
};

// Parses the text line by line as the exposition format requires; any malformed line fails the
// test.
Scrape Parse(const std::string& text) {
  static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
  static const std::regex kType(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (\S+))");
  Scrape s;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the text must end with a newline";
  std::set<std::string> helped;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::string l(line);
    std::smatch m;
    if (std::regex_match(l, m, kHelp)) {
      EXPECT_TRUE(helped.insert(m[1]).second) << "second HELP for " << m[1];
      continue;
    }
    if (std::regex_match(l, m, kType)) {
      EXPECT_EQ(s.types.count(m[1]), 0u) << "second TYPE for " << m[1];
      s.types[m[1]] = m[2];
      continue;
    }
    if (!std::regex_match(l, m, kSample)) {
      ADD_FAILURE() << "not a valid exposition line: \"" << l << "\"";
      continue;
    }
    std::string name = m[1];
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (absl::EndsWith(name, suffix) &&
          s.types.count(name.substr(0, name.size() - strlen(suffix)))) {
        family = name.substr(0, name.size() - strlen(suffix));
      }
    }
    EXPECT_EQ(s.types.count(family), 1u) << "sample before its TYPE line: " << l;
    std::string value = m[m.size() - 1];
    double v = 0;
    if (value == "+Inf") {
      v = HUGE_VAL;
    } else {
      EXPECT_TRUE(absl::SimpleAtod(value, &v)) << l;
    }
    std::string series = l.substr(0, l.rfind(' '));
    EXPECT_EQ(s.samples.count(series), 0u) << "duplicate series " << series;
    s.samples[series] = v;
  }
  return s;
}

class MetricsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::ServerProcessOptions options;
    options.data_dir = dir_.Sub("data");
    absl::StatusOr<std::unique_ptr<test::ServerProcess>> server =
        test::ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::Counters::NewStub(NewChannel(server_->grpc_address()));
    http_ = std::make_unique<HttpClient>(server_->http_address());
  }

  Scrape ScrapeMetrics() {
    HttpResult r = http_->Get("/metrics");
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_THAT(r.HeaderOr("content-type"), StartsWith("text/plain; version=0.0.4")) << r;
    return Parse(r.body);
  }

  grpc::Status Incr(int64_t delta) {
    v1::IncrRequest req;
    req.set_tenant("site");
    req.set_visitor_id("v1");
    req.set_counter_name("clicks");
    req.set_delta(delta);
    v1::IncrResponse resp;
    return Rpc(stub_.get(), &v1::Counters::Stub::Incr, req, &resp);
  }

  // Checks a histogram child: cumulative buckets that never go down, +Inf equal to _count, and
  // a _sum line. Returns its count.
  double CheckHistogram(const Scrape& s, const std::string& name, const std::string& labels) {
    std::string prefix = labels.empty() ? "" : labels + ",";
    double last = 0;
    int buckets = 0;
    for (const auto& [series, v] : s.samples) {
      if (!absl::StartsWith(series, name + "_bucket{" + prefix + "le=")) continue;
      ++buckets;
      (void)v;
    }
    EXPECT_GT(buckets, 1) << name << "{" << labels << "}";
    // Walk the buckets in the order of their bounds.
    std::vector<std::pair<double, double>> by_bound;
    for (const auto& [series, v] : s.samples) {
      std::string head = name + "_bucket{" + prefix + "le=\"";
      if (!absl::StartsWith(series, head)) continue;
      std::string le = series.substr(head.size(), series.size() - head.size() - 2);
      double bound = HUGE_VAL;
      if (le != "+Inf") {
        EXPECT_TRUE(absl::SimpleAtod(le, &bound)) << series;
      }
      by_bound.emplace_back(bound, v);
    }
    std::sort(by_bound.begin(), by_bound.end());
    for (const auto& [bound, v] : by_bound) {
      EXPECT_GE(v, last) << name << " le=" << bound;
      last = v;
    }
    EXPECT_EQ(by_bound.back().first, HUGE_VAL) << name << ": no +Inf bucket";
    std::string suffix = labels.empty() ? "" : "{" + labels + "}";
    EXPECT_TRUE(s.Has(name + "_sum" + suffix)) << name;
    EXPECT_EQ(s.Value(name + "_count" + suffix), last) << name;
    return last;
  }

  test::ScopedTempDir dir_;
  std::unique_ptr<test::ServerProcess> server_;
  std::unique_ptr<v1::Counters::Stub> stub_;
  std::unique_ptr<HttpClient> http_;
};

constexpr char kIncr[] = "/countd.v1.Counters/Incr";

TEST_F(MetricsE2eTest, CountersMoveByExactlyTheCallsMade) {
  Scrape before = ScrapeMetrics();
  auto delta = [&](const Scrape& after, const std::string& series) {
    return after.Value(series) - std::max(0.0, before.Value(series));
  };

  EXPECT_TRUE(Incr(1).ok());
  EXPECT_EQ(Incr(0).error_code(), grpc::StatusCode::INVALID_ARGUMENT);  // delta must be >= 1
  HttpResult r = http_->Post("/stash/v1.1/count/incr/site/public/v2:views",
                             R"({"dimension":"date"})", {{"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(http_->Get("/healthz").status, 200);
  EXPECT_EQ(http_->Get("/no/such/route?apiKey=secret").status, 404);
  // An unknown Gigya method answers HTTP 200 unless the caller asks for HTTP status codes.
  EXPECT_EQ(http_->Get("/accounts.noSuchMethod?httpStatusCodes=true").status, 404);

  Scrape after = ScrapeMetrics();
  std::string grpc_ok =
      absl::StrCat("countd_grpc_requests_total{method=\"", kIncr, "\",code=\"OK\"}");
  std::string grpc_bad =
      absl::StrCat("countd_grpc_requests_total{method=\"", kIncr, "\",code=\"INVALID_ARGUMENT\"}");
  EXPECT_EQ(delta(after, grpc_ok), 1);
  EXPECT_EQ(delta(after, grpc_bad), 1);
  std::string incr_count =
      absl::StrCat("countd_grpc_request_duration_seconds_count{method=\"", kIncr, "\"}");
  EXPECT_EQ(delta(after, incr_count), 2);
  EXPECT_EQ(delta(after, R"(countd_http_requests_total{route="stash.incr",code="200"})"), 1);
  EXPECT_EQ(delta(after, R"(countd_http_requests_total{route="healthz",code="200"})"), 1);
  EXPECT_EQ(delta(after, R"(countd_http_requests_total{route="unknown",code="404"})"), 2);
  // The first scrape is counted once it has been answered.
  EXPECT_EQ(delta(after, R"(countd_http_requests_total{route="metrics",code="200"})"), 1);
  EXPECT_EQ(delta(after, R"(countd_http_request_duration_seconds_count{route="stash.incr"})"), 1);
  EXPECT_EQ(after.Value("countd_grpc_in_flight_requests"), 0);
  EXPECT_EQ(after.Value("countd_http_in_flight_requests"), 1);  // this scrape

  // No raw path, query or parameter value ever becomes a label.
  for (const auto& [series, v] : after.samples) {
    EXPECT_THAT(series, ::testing::Not(HasSubstr("secret"))) << series;
    EXPECT_THAT(series, ::testing::Not(HasSubstr("no/such"))) << series;
    EXPECT_THAT(series, ::testing::Not(HasSubstr("noSuchMethod"))) << series;
  }
}

TEST_F(MetricsE2eTest, FamiliesHaveTheirTypesAndHistogramLines) {
  ASSERT_TRUE(Incr(1).ok());
  ASSERT_EQ(http_
                ->Post("/stash/v1.1/count/incr/site/public/v2:views", R"({"dimension":"date"})",
                       {{"Content-Type", "application/json"}})
                .status,
            200);
  Scrape s = ScrapeMetrics();
  std::map<std::string, std::string> expected = {
      {"countd_grpc_requests_total", "counter"},
      {"countd_grpc_request_duration_seconds", "histogram"},
      {"countd_grpc_in_flight_requests", "gauge"},
      {"countd_http_requests_total", "counter"},
      {"countd_http_request_duration_seconds", "histogram"},
      {"countd_http_in_flight_requests", "gauge"},
      {"countd_http_tls_handshake_failures_total", "counter"},
      {"countd_rocksdb_memtable_bytes", "gauge"},
      {"countd_rocksdb_pending_compaction_bytes", "gauge"},
      {"countd_rocksdb_block_cache_usage_bytes", "gauge"},
      {"countd_rocksdb_block_cache_capacity_bytes", "gauge"},
      {"countd_rocksdb_estimated_keys", "gauge"},
      {"countd_rocksdb_write_duration_seconds", "histogram"},
      {"process_resident_memory_bytes", "gauge"},
      {"process_cpu_seconds_total", "counter"},
      {"process_open_fds", "gauge"},
      {"process_start_time_seconds", "gauge"},
  };
  for (const auto& [name, type] : expected) {
    auto it = s.types.find(name);
    ASSERT_NE(it, s.types.end()) << name;
    EXPECT_EQ(it->second, type) << name;
  }
  EXPECT_GE(CheckHistogram(s, "countd_grpc_request_duration_seconds",
                           absl::StrCat("method=\"", kIncr, "\"")),
            1);
  EXPECT_GE(CheckHistogram(s, "countd_http_request_duration_seconds", "route=\"stash.incr\""), 1);
  // Both increments and the stash write went through Store::Write (the WAL, not fsynced).
  EXPECT_GE(CheckHistogram(s, "countd_rocksdb_write_duration_seconds", "sync=\"none\""), 2);

  EXPECT_EQ(s.Value("countd_http_tls_handshake_failures_total"), 0);  // plaintext server
  EXPECT_GT(s.Value("countd_rocksdb_memtable_bytes"), 0);
  EXPECT_GE(s.Value("countd_rocksdb_pending_compaction_bytes"), 0);
  EXPECT_GE(s.Value("countd_rocksdb_block_cache_usage_bytes"), 0);
  EXPECT_EQ(s.Value("countd_rocksdb_block_cache_capacity_bytes"), 128.0 * 1024 * 1024);
  EXPECT_GT(s.Value(R"(countd_rocksdb_estimated_keys{table="stash"})"), 0);
  EXPECT_GE(s.Value(R"(countd_rocksdb_estimated_keys{table="daily"})"), 0);

  EXPECT_GT(s.Value("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(s.Value("process_cpu_seconds_total"), 0);
  EXPECT_GT(s.Value("process_open_fds"), 3);
  EXPECT_GT(s.Value("process_start_time_seconds"), 1.5e9);
  EXPECT_LE(s.Value("process_start_time_seconds"), absl::ToUnixSeconds(absl::Now()) + 1);
}

TEST_F(MetricsE2eTest, UnknownGrpcMethodsShareOneLabel) {
  absl::StatusOr<std::string> r =
      RawUnaryCall(NewChannel(server_->grpc_address()), "/countd.v1.Counters/NoSuchMethod", "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented) << r.status();
  Scrape s = ScrapeMetrics();
  for (const auto& [series, v] : s.samples) {
    EXPECT_THAT(series, ::testing::Not(HasSubstr("NoSuchMethod"))) << series;
  }
  EXPECT_EQ(s.Value(R"(countd_grpc_requests_total{method="unknown",code="UNIMPLEMENTED"})"), 1);
}

TEST_F(MetricsE2eTest, MetricsRefusesWrites) {
  HttpResult r = http_->Post("/metrics", "", {});
  EXPECT_EQ(r.status, 405) << r;
}

}  // namespace
}  // namespace countd::e2e
