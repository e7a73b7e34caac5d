// countd: the counters service process. Parses flags, starts the server, prints the listening
// addresses, and shuts down in order on SIGTERM/SIGINT (a second signal exits at once).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "server/flags.h"
#include "server/migrate_command.h"
#include "server/server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace {

// Waits for the next SIGTERM/SIGINT, up to `timeout`; returns it or 0.
int WaitForSignal(const sigset_t& signals, absl::Duration timeout) {
  timespec ts = absl::ToTimespec(timeout);
  int sig = sigtimedwait(&signals, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

// countd's flags live in server/flags.cc, not in this file, so Abseil's default --help (flags of
// the file holding main) would list none: --help and --helpshort list server/flags.cc's flags.
bool IsCountdFlagFile(absl::string_view file) { return absl::EndsWith(file, "server/flags.cc"); }

constexpr char kMigrateCommand[] = "migrate-to-redis";

// `countd migrate-to-redis`: a one-shot run, no server. Logs go to stderr, the reports to stdout.
int Migrate() {
  absl::StatusOr<countd::MigrateConfig> config = countd::MigrateConfigFromFlags();
  if (!config.ok()) {
    std::fprintf(stderr, "countd %s: %s\n", kMigrateCommand,
                 std::string(config.status().message()).c_str());
    return 2;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("migrate"));
  spdlog::set_level(spdlog::level::from_str(countd::LogLevelFlag()));
  return countd::RunMigrateToRedis(*config);
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = IsCountdFlagFile;
  usage_config.contains_helpshort_flags = IsCountdFlagFile;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "counters, tallies and points over gRPC and a JSON shim, on RocksDB.\n"
      "Every flag can also be set by the environment variable COUNTD_<FLAG> "
      "(e.g. COUNTD_DATA_DIR); the command line wins. Dashes and underscores are the same in "
      "flag names (--data-dir = --data_dir).\nUsage: countd [flags]\n"
      "       countd migrate-to-redis --data-dir=DIR --redis-nodes=HOST:PORT,... [--redis-*] "
      "[--restart | --verify-only] [--max-partitions=N]\n"
      "         moves a stopped node's data dir (or a backup) into a Redis Cluster and verifies "
      "it (docs/storage.md)");
  std::vector<std::string> args = countd::ArgsWithEnvironment(argc, argv);
  std::vector<char*> arg_ptrs;
  for (std::string& a : args) arg_ptrs.push_back(a.data());
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  const bool migrate = positional.size() > 1 && absl::string_view(positional[1]) == kMigrateCommand;
  if (positional.size() > (migrate ? 2 : 1)) {
    std::fprintf(stderr,
                 "countd: unexpected argument \"%s\" (flags are --name=value; the one command "
                 "is %s)\n",
                 positional[migrate ? 2 : 1], kMigrateCommand);
    return 2;
  }
  if (migrate) return Migrate();
  absl::StatusOr<countd::ServerConfig> config = countd::ConfigFromFlags();
  if (!config.ok()) {
    std::fprintf(stderr, "countd: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(countd::LogLevelFlag()));
  // Lock-order graphs cost ~5% of CPU on the request path; lock order is fixed by design
  // (see the class comments) and exercised by the concurrency tests.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Signals are taken by sigtimedwait on this thread only; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Logged before Start so a refused start still shows what it was given.
  spdlog::info("configuration: {}", countd::EffectiveFlags());
  absl::StatusOr<std::unique_ptr<countd::CountdServer>> server =
      countd::CountdServer::Start(*config);
  if (!server.ok()) {
    std::fprintf(stderr, "countd: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  const char* tls = config->tls.cert_file.empty()        ? "off"
                    : config->tls.client_ca_file.empty() ? "on"
                                                         : "mutual";
  spdlog::info("countd started: grpc={} http={} tls={}", (*server)->grpc_address(),
               (*server)->http_address(), tls);
  // The listening lines come last: scripts and tests take them to mean startup is over, so every
  // startup log line is already out. They stay "grpc/http listening on" with TLS too.
  std::printf("grpc listening on %s\n", (*server)->grpc_address().c_str());
  if (!(*server)->http_address().empty()) {
    std::printf("http listening on %s\n", (*server)->http_address().c_str());
  }
  std::fflush(stdout);

  int sig = 0;
  while (sig == 0) sig = WaitForSignal(signals, absl::Seconds(1));
  spdlog::info("signal {}: draining for up to {}", sig, absl::FormatDuration(config->grace_period));

  std::atomic<bool> done{false};
  std::thread stopper([&] {
    (*server)->Shutdown(config->grace_period);
    done = true;
  });
  while (!done) {
    if (WaitForSignal(signals, absl::Milliseconds(50)) != 0) {
      // Every acknowledged write is already in the WAL, so leaving now loses nothing.
      spdlog::warn("second signal: exiting at once");
      std::fflush(stdout);
      _exit(1);
    }
  }
  stopper.join();
  server->reset();
  spdlog::info("countd stopped cleanly");
  return 0;
}
