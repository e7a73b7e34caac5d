#include "server/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace countd::metrics {
namespace {

// Shortest text that reads back as the same double; integers without exponent or fraction.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {  // 2^53: exact integers
    return absl::StrCat(static_cast<int64_t>(v));
  }
  char buf[64];
  std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

// Label values escape backslash, double quote and newline.
void AppendLabelValue(std::string* out, absl::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// HELP text escapes backslash and newline.
std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void AppendLabels(std::string* out, const Labels& labels) {
  if (labels.empty()) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out->push_back(',');
    first = false;
    absl::StrAppend(out, name, "=\"");
    AppendLabelValue(out, value);
    out->push_back('"');
  }
  out->push_back('}');
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    ABSL_RAW_CHECK(std::isfinite(bounds_[i]), "histogram bounds must be finite");
    ABSL_RAW_CHECK(i == 0 || bounds_[i - 1] < bounds_[i], "histogram bounds must ascend");
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  // Buckets are "less than or equal": the first bound >= value.
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
  }
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot s;
  s.upper_bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

void ExpositionWriter::Family(absl::string_view name, absl::string_view help, MetricType type) {
  absl::StrAppend(out_, "# HELP ", name, " ", EscapeHelp(help), "\n");
  absl::StrAppend(out_, "# TYPE ", name, " ", TypeName(type), "\n");
}

void ExpositionWriter::Sample(absl::string_view name, const Labels& labels, double value) {
  out_->append(name.data(), name.size());
  AppendLabels(out_, labels);
  absl::StrAppend(out_, " ", FormatValue(value), "\n");
}

void ExpositionWriter::HistogramSamples(absl::string_view name, const Labels& labels,
                                        const HistogramSnapshot& snapshot) {
  std::string bucket = absl::StrCat(name, "_bucket");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < snapshot.counts.size(); ++i) {
    cumulative += snapshot.counts[i];
    Labels with_le = labels;
    with_le.emplace_back("le", i < snapshot.upper_bounds.size()
                                   ? FormatValue(snapshot.upper_bounds[i])
                                   : std::string("+Inf"));
    Sample(bucket, with_le, static_cast<double>(cumulative));
  }
  Sample(absl::StrCat(name, "_sum"), labels, snapshot.sum);
  Sample(absl::StrCat(name, "_count"), labels, static_cast<double>(cumulative));
}

struct Registry::Entry {
  std::string name;
  std::string help;
  MetricType type;
  std::unique_ptr<metrics::Family<Counter>> counters;
  std::unique_ptr<metrics::Family<Gauge>> gauges;
  std::unique_ptr<metrics::Family<Histogram>> histograms;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Family<Counter>* Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  auto e = std::make_unique<Entry>();
  e->name = std::move(name);
  e->help = std::move(help);
  e->type = MetricType::kCounter;
  e->counters = std::make_unique<metrics::Family<Counter>>(
      std::move(label_names), [] { return std::make_unique<Counter>(); });
  Family<Counter>* f = e->counters.get();
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(e));
  return f;
}

Family<Gauge>* Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  auto e = std::make_unique<Entry>();
  e->name = std::move(name);
  e->help = std::move(help);
  e->type = MetricType::kGauge;
  e->gauges = std::make_unique<metrics::Family<Gauge>>(std::move(label_names),
                                                       [] { return std::make_unique<Gauge>(); });
  Family<Gauge>* f = e->gauges.get();
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(e));
  return f;
}

Family<Histogram>* Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> upper_bounds) {
  auto e = std::make_unique<Entry>();
  e->name = std::move(name);
  e->help = std::move(help);
  e->type = MetricType::kHistogram;
  e->histograms = std::make_unique<metrics::Family<Histogram>>(
      std::move(label_names),
      [bounds = std::move(upper_bounds)] { return std::make_unique<Histogram>(bounds); });
  Family<Histogram>* f = e->histograms.get();
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(e));
  return f;
}

void Registry::AddCollector(std::function<void(ExpositionWriter&)> collect) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::Render() const {
  std::string out;
  ExpositionWriter w(&out);
  absl::ReaderMutexLock lock(&mu_);
  for (const std::unique_ptr<Entry>& e : entries_) {
    w.Family(e->name, e->help, e->type);
    switch (e->type) {
      case MetricType::kCounter:
        e->counters->ForEach([&](const Labels& labels, const Counter& c) {
          w.Sample(e->name, labels, static_cast<double>(c.value()));
        });
        break;
      case MetricType::kGauge:
        e->gauges->ForEach([&](const Labels& labels, const Gauge& g) {
          w.Sample(e->name, labels, static_cast<double>(g.value()));
        });
        break;
      case MetricType::kHistogram:
        e->histograms->ForEach([&](const Labels& labels, const Histogram& h) {
          w.HistogramSamples(e->name, labels, h.Snapshot());
        });
        break;
    }
  }
  for (const auto& collect : collectors_) collect(w);
  return out;
}

namespace {

bool ReadFile(const char* path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// Fields of /proc/self/stat after the command (which may hold spaces and parentheses):
// fields[0] is field 3 (state) of proc(5).
std::vector<std::string> StatFields() {
  std::string stat;
  if (!ReadFile("/proc/self/stat", &stat)) return {};
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  return absl::StrSplit(absl::string_view(stat).substr(close + 1), ' ', absl::SkipEmpty());
}

// System boot time (unix seconds) from /proc/stat "btime".
bool BootTime(int64_t* btime) {
  std::string stat;
  if (!ReadFile("/proc/stat", &stat)) return false;
  for (absl::string_view line : absl::StrSplit(stat, '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) return absl::SimpleAtoi(line, btime);
  }
  return false;
}

}  // namespace

void WriteProcessMetrics(ExpositionWriter& w) {
  rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    double cpu = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
                 (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    w.Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             MetricType::kCounter);
    w.Sample("process_cpu_seconds_total", {}, cpu);
  }
  long page = sysconf(_SC_PAGESIZE);
  std::string statm;
  if (ReadFile("/proc/self/statm", &statm)) {
    std::vector<absl::string_view> f = absl::StrSplit(statm, ' ', absl::SkipEmpty());
    int64_t pages = 0;
    if (f.size() >= 2 && absl::SimpleAtoi(f[1], &pages)) {
      w.Family("process_resident_memory_bytes", "Resident memory size in bytes.",
               MetricType::kGauge);
      w.Sample("process_resident_memory_bytes", {}, static_cast<double>(pages) * page);
    }
  }
  if (DIR* dir = opendir("/proc/self/fd")) {
    int64_t n = 0;
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(dir);
    --n;  // the descriptor of the directory listing itself
    w.Family("process_open_fds", "Number of open file descriptors.", MetricType::kGauge);
    w.Sample("process_open_fds", {}, static_cast<double>(n));
  }
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    w.Family("process_max_fds", "Maximum number of open file descriptors.", MetricType::kGauge);
    w.Sample("process_max_fds", {}, static_cast<double>(limit.rlim_cur));
  }
  std::vector<std::string> fields = StatFields();
  int64_t start_ticks = 0;
  int64_t btime = 0;
  long hz = sysconf(_SC_CLK_TCK);
  // proc(5) field 22 (starttime, clock ticks after boot) is fields[19].
  if (fields.size() > 19 && absl::SimpleAtoi(fields[19], &start_ticks) && hz > 0 &&
      BootTime(&btime)) {
    w.Family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
             MetricType::kGauge);
    w.Sample("process_start_time_seconds", {},
             static_cast<double>(btime) + static_cast<double>(start_ticks) / hz);
  }
}

}  // namespace countd::metrics
