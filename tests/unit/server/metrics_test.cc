// Unit tests of server/metrics: registry, histogram buckets, exact exposition text, escaping,
// concurrency and the process collector.
#include "server/metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace countd::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(MetricsTest, CounterAndGaugeCount) {
  Counter c;
  c.Increment();
  c.Increment(41);
  EXPECT_EQ(c.value(), 42u);
  Gauge g;
  g.Add(3);
  g.Add(-5);
  EXPECT_EQ(g.value(), -2);
  g.Set(7);
  EXPECT_EQ(g.value(), 7);
}

TEST(MetricsTest, HistogramBucketsAreLessOrEqual) {
  Histogram h({1, 2, 5});
  for (double v : {0.5, 1.0, 1.5, 2.0, 5.0, 6.0, 100.0}) h.Observe(v);
  HistogramSnapshot s = h.Snapshot();
  EXPECT_THAT(s.upper_bounds, ElementsAre(1, 2, 5));
  EXPECT_THAT(s.counts, ElementsAre(2u, 2u, 1u, 2u));
  EXPECT_DOUBLE_EQ(s.sum, 116.0);
}

TEST(MetricsTest, RendersExactText) {
  Registry r;
  Family<Counter>* requests = r.AddCounter("demo_requests_total", "Requests.", {"method", "code"});
  requests->With({"/a.B/C", "OK"})->Increment(3);
  requests->With({"/a.B/C", "NOT_FOUND"})->Increment();
  r.AddGauge("demo_in_flight", "In flight.", {})->With({})->Set(2);
  Family<Histogram>* latency = r.AddHistogram("demo_seconds", "Latency.", {"route"}, {0.001, 0.25});
  latency->With({"x"})->Observe(0.0005);
  latency->With({"x"})->Observe(0.5);
  r.AddCounter("demo_empty_total", "No children yet.", {"a"});
  r.AddCollector([](ExpositionWriter& w) {
    w.Family("demo_scrape", "At scrape time.", MetricType::kGauge);
    w.Sample("demo_scrape", {{"table", "daily"}}, 1.5);
  });
  EXPECT_EQ(r.Render(),
            "# HELP demo_requests_total Requests.\n"
            "# TYPE demo_requests_total counter\n"
            "demo_requests_total{method=\"/a.B/C\",code=\"NOT_FOUND\"} 1\n"
            "demo_requests_total{method=\"/a.B/C\",code=\"OK\"} 3\n"
            "# HELP demo_in_flight In flight.\n"
            "# TYPE demo_in_flight gauge\n"
            "demo_in_flight 2\n"
            "# HELP demo_seconds Latency.\n"
            "# TYPE demo_seconds histogram\n"
            "demo_seconds_bucket{route=\"x\",le=\"0.001\"} 1\n"
            "demo_seconds_bucket{route=\"x\",le=\"0.25\"} 1\n"
            "demo_seconds_bucket{route=\"x\",le=\"+Inf\"} 2\n"
            "demo_seconds_sum{route=\"x\"} 0.5005\n"
            "demo_seconds_count{route=\"x\"} 2\n"
            "# HELP demo_empty_total No children yet.\n"
            "# TYPE demo_empty_total counter\n"
            "# HELP demo_scrape At scrape time.\n"
            "# TYPE demo_scrape gauge\n"
            "demo_scrape{table=\"daily\"} 1.5\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry r;
  r.AddCounter("demo_total", "Back\\slash and\nnewline.", {"v"})->With({"a\"b\\c\nd"})->Increment();
  EXPECT_EQ(r.Render(),
            "# HELP demo_total Back\\\\slash and\\nnewline.\n"
            "# TYPE demo_total counter\n"
            "demo_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsTest, FormatsLargeAndFractionalValues) {
  std::string out;
  ExpositionWriter w(&out);
  w.Sample("a", {}, 1234567890123.0);
  w.Sample("b", {}, 0.1);
  w.Sample("c", {}, 1e300);
  EXPECT_EQ(out, "a 1234567890123\nb 0.1\nc 1e+300\n");
}

TEST(MetricsTest, ConcurrentIncrementsSumExactly) {
  Registry r;
  Family<Counter>* counters = r.AddCounter("demo_total", "x", {"k"});
  Family<Histogram>* hist = r.AddHistogram("demo_seconds", "x", {}, LatencyBuckets());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counters->With({t % 2 == 0 ? "even" : "odd"})->Increment();
        hist->With({})->Observe(0.001);
        if (i % 1000 == 0) r.Render();  // rendering while others write is safe
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counters->With({"even"})->value(), uint64_t{kThreads / 2 * kPerThread});
  EXPECT_EQ(counters->With({"odd"})->value(), uint64_t{kThreads / 2 * kPerThread});
  HistogramSnapshot s = hist->With({})->Snapshot();
  uint64_t total = 0;
  for (uint64_t c : s.counts) total += c;
  EXPECT_EQ(total, uint64_t{kThreads * kPerThread});
  EXPECT_NEAR(s.sum, kThreads * kPerThread * 0.001, 1e-6);
  EXPECT_THAT(r.Render(),
              HasSubstr("demo_seconds_count " + std::to_string(kThreads * kPerThread) + "\n"));
}

TEST(MetricsTest, ProcessMetricsArePresentAndPlausible) {
  std::string out;
  ExpositionWriter w(&out);
  WriteProcessMetrics(w);
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_start_time_seconds"}) {
    EXPECT_THAT(out, HasSubstr(std::string("# TYPE ") + name)) << out;
    size_t at = out.find(std::string("\n") + name + " ");
    ASSERT_NE(at, std::string::npos) << name << "\n" << out;
    double v = std::stod(out.substr(at + std::string(name).size() + 2));
    if (absl::StrContains(name, "cpu")) {
      EXPECT_GE(v, 0) << name;
    } else {
      EXPECT_GT(v, 0) << name;
    }
    if (absl::StrContains(name, "start_time")) {
      EXPECT_GT(v, 1.5e9);  // after 2017
    }
  }
}

}  // namespace
}  // namespace countd::metrics
