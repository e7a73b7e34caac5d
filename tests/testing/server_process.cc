#include "tests/testing/server_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

extern char** environ;

namespace countd::test {
namespace {

constexpr absl::string_view kGrpcLine = "grpc listening on ";
constexpr absl::string_view kHttpLine = "http listening on ";
// How often WaitForExit looks at the child; bounded by the caller's timeout.
constexpr absl::Duration kPollInterval = absl::Milliseconds(5);

ExitStatus Decode(int status) {
  ExitStatus e;
  if (WIFEXITED(status)) {
    e.exited = true;
    e.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
  }
  return e;
}

// Whether the test chose the authentication mode itself: an --auth flag among the extra
// arguments (either spelling), or COUNTD_AUTH in the child's environment.
bool ChoosesAuth(const ServerProcessOptions& options) {
  for (const std::string& arg : options.extra_args) {
    if (absl::StartsWith(arg, "--auth=") || absl::StartsWith(arg, "-auth=") || arg == "--auth" ||
        arg == "-auth") {
      return true;
    }
  }
  for (const auto& [name, value] : options.env) {
    if (name == "COUNTD_AUTH") return true;
  }
  return false;
}

std::string TempBase() {
  std::string base = ::testing::TempDir();
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return base;
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (exited) return absl::StrCat("exit code ", code);
  if (signal == 0) return "unknown end (waitpid failed)";
  return absl::StrCat("killed by signal ", signal, " (", strsignal(signal), ")");
}

namespace {

// With a Redis Cluster directory (ServerProcessOptions::redis_cluster_dir, else the environment
// variable COUNTD_E2E_REDIS_CLUSTER_DIR: a cluster started by scripts/redis-cluster.sh, which
// leaves <dir>/baseport and, when it set one, <dir>/password), the server runs on that Redis
// Cluster instead of RocksDB: the same e2e tests then check the cluster store end to end. The key
// prefix is options.redis_key_prefix, or else derives from the data dir, so each test has its own
// keys and a restart of one test's server sees its data again.
absl::Status AddRedisClusterArgs(const ServerProcessOptions& options,
                                 std::vector<std::string>* args) {
  std::string dir = options.redis_cluster_dir;
  if (dir.empty()) {
    const char* env = std::getenv("COUNTD_E2E_REDIS_CLUSTER_DIR");
    if (env != nullptr) dir = env;
  }
  if (dir.empty()) return absl::OkStatus();
  for (const std::string& a : options.extra_args) {
    if (absl::StartsWith(a, "--store=")) return absl::OkStatus();  // the test chose
  }
  std::ifstream in(absl::StrCat(dir, "/baseport"));
  int base = 0;
  if (!(in >> base) || base <= 0) {
    return absl::FailedPreconditionError(absl::StrCat("no Redis Cluster in ", dir));
  }
  args->push_back("--store=redis-cluster");
  // Every node is a seed, so the server starts (and finds the slot map again) whichever nodes
  // a fault test has killed.
  std::string nodes;
  for (int i = 0; i < 6; ++i) absl::StrAppend(&nodes, i == 0 ? "" : ",", "127.0.0.1:", base + i);
  args->push_back("--redis-nodes=" + nodes);
  args->push_back(absl::StrCat(
      "--redis-key-prefix=",
      !options.redis_key_prefix.empty()
          ? options.redis_key_prefix
          : absl::StrCat("e2e", absl::Hex(std::hash<std::string>()(options.data_dir)))));
  // The script leaves the cluster's password there when it set one.
  const std::string password_file = absl::StrCat(dir, "/password");
  if (std::ifstream(password_file).good())
    args->push_back("--redis-password-file=" + password_file);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const ServerProcessOptions& options) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> process = Launch(options);
  if (!process.ok()) return process.status();
  absl::Status s = (*process)->WaitUntilListening(options.startup_timeout);
  if (!s.ok()) return s;  // the destructor kills and reaps the child
  return process;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Launch(
    const ServerProcessOptions& options) {
  std::string binary = options.binary;
  if (binary.empty()) {
    const char* env = std::getenv("COUNTD_BINARY");
    if (env == nullptr || *env == '\0') {
      return absl::FailedPreconditionError(
          "COUNTD_BINARY is not set; run the test through ctest (countd_test() sets it)");
    }
    binary = env;
  }
  if (access(binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("countd binary ", binary, " is not executable: ", strerror(errno)));
  }
  if (options.countd_args && options.data_dir.empty()) {
    return absl::FailedPreconditionError("ServerProcessOptions.data_dir is required");
  }

  // Everything the child needs is built before fork(): between fork and exec only
  // async-signal-safe calls are allowed (the test process has gRPC threads).
  std::vector<std::string> args = {binary};
  if (options.countd_args) {
    args.insert(args.end(), {"--data-dir=" + options.data_dir, "--grpc-addr=127.0.0.1:0",
                             "--http-addr=127.0.0.1:0"});
    if (!ChoosesAuth(options)) args.push_back("--auth=off");
    absl::Status on_redis = AddRedisClusterArgs(options, &args);
    if (!on_redis.ok()) return on_redis;
  }
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "COUNTD_")) env.emplace_back(*e);
  }
  for (const auto& [name, value] : options.env) env.push_back(absl::StrCat(name, "=", value));
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  std::string stderr_path = TempBase() + "/countd_stderr_XXXXXX";
  int err_fd = mkostemp(stderr_path.data(), O_CLOEXEC);
  if (err_fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("mkostemp(", stderr_path, "): ", strerror(errno)));
  }
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    int err = errno;
    close(err_fd);
    unlink(stderr_path.c_str());
    return absl::FailedPreconditionError(absl::StrCat("pipe2: ", strerror(err)));
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(err_fd);
    close(out[0]);
    close(out[1]);
    unlink(stderr_path.c_str());
    return absl::FailedPreconditionError(absl::StrCat("fork: ", strerror(err)));
  }
  if (pid == 0) {
    // Child. If the test binary dies, take the server with it instead of leaking it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(out[1], 1);
    dup2(err_fd, 2);
    execve(argv[0], argv.data(), envp.data());
    const char msg[] = "ServerProcess: execve failed\n";
    ssize_t ignored = write(2, msg, sizeof(msg) - 1);
    (void)ignored;
    _exit(127);
  }
  close(out[1]);
  close(err_fd);
  return std::unique_ptr<ServerProcess>(
      new ServerProcess(pid, out[0], std::move(stderr_path), options.wait_for_http));
}

ServerProcess::ServerProcess(pid_t pid, int stdout_fd, std::string stderr_path, bool wait_for_http)
    : pid_(pid),
      stdout_fd_(stdout_fd),
      stderr_path_(std::move(stderr_path)),
      wait_for_http_(wait_for_http) {
  reader_ = std::thread([this] { ReadStdout(); });
}

ServerProcess::~ServerProcess() {
  Kill();
  {
    absl::MutexLock lock(&mu_);
    stop_reading_ = true;
  }
  reader_.join();
  close(stdout_fd_);
  unlink(stderr_path_.c_str());
}

void ServerProcess::ReadStdout() {
  char buf[4096];
  for (;;) {
    pollfd p{stdout_fd_, POLLIN, 0};
    int ready = poll(&p, 1, /*timeout_ms=*/100);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      // Nothing to read. Only stop when asked, so output written before the child died is
      // still collected.
      absl::MutexLock lock(&mu_);
      if (stop_reading_) {
        stdout_closed_ = true;
        return;
      }
      continue;
    }
    ssize_t n = ready < 0 ? -1 : read(stdout_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    absl::MutexLock lock(&mu_);
    if (n <= 0) {
      stdout_closed_ = true;
      return;
    }
    stdout_.append(buf, static_cast<size_t>(n));
    ParseLines();
  }
}

void ServerProcess::ParseLines() {
  for (;;) {
    size_t end = stdout_.find('\n', parsed_);
    if (end == std::string::npos) return;
    absl::string_view line(stdout_.data() + parsed_, end - parsed_);
    parsed_ = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (absl::StartsWith(line, kGrpcLine) && grpc_address_.empty()) {
      grpc_address_ = std::string(line.substr(kGrpcLine.size()));
    } else if (absl::StartsWith(line, kHttpLine) && http_address_.empty()) {
      http_address_ = std::string(line.substr(kHttpLine.size()));
    }
  }
}

absl::Status ServerProcess::WaitUntilListening(absl::Duration timeout) {
  {
    absl::MutexLock lock(&mu_);
    auto listening = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !grpc_address_.empty() && (!wait_for_http_ || !http_address_.empty());
    };
    auto done = [this, &listening]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return listening() || stdout_closed_; };
    mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
    if (listening()) return absl::OkStatus();
    if (!stdout_closed_) {
      return absl::DeadlineExceededError(absl::StrCat(
          "countd (pid ", pid_, ") printed no \"", wait_for_http_ ? "grpc/http" : "grpc",
          " listening on\" line within ", absl::FormatDuration(timeout), "; stdout:\n", stdout_,
          "\nstderr:\n", stderr_text()));
    }
  }
  // stdout closed: the child is exiting or gone.
  std::optional<ExitStatus> exit = WaitForExit(absl::Seconds(10));
  return absl::FailedPreconditionError(
      absl::StrCat("countd (pid ", pid_, ") closed stdout before listening (",
                   exit.has_value() ? exit->ToString() : "still running", "); stdout:\n",
                   stdout_text(), "\nstderr:\n", stderr_text()));
}

std::string ServerProcess::grpc_address() const {
  absl::MutexLock lock(&mu_);
  return grpc_address_;
}

std::string ServerProcess::http_address() const {
  absl::MutexLock lock(&mu_);
  return http_address_;
}

absl::Status ServerProcess::Signal(int sig) {
  absl::MutexLock lock(&wait_mu_);
  // Never signal a reaped pid: the number may belong to another process by now.
  if (exit_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("countd (pid ", pid_, ") already ended: ", exit_->ToString()));
  }
  if (kill(pid_, sig) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("kill(", pid_, "): ", strerror(errno)));
  }
  return absl::OkStatus();
}

std::optional<ExitStatus> ServerProcess::Reap(bool block) {
  absl::MutexLock lock(&wait_mu_);
  if (exit_.has_value()) return exit_;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_ = Decode(status);
  } else if (r < 0) {
    exit_ = ExitStatus{};  // ECHILD: reaped elsewhere; how it ended is unknown
  }
  return exit_;
}

std::optional<ExitStatus> ServerProcess::WaitForExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    std::optional<ExitStatus> e = Reap(/*block=*/false);
    if (e.has_value()) AwaitStdoutEnd();
    if (e.has_value() || absl::Now() >= deadline) return e;
    absl::SleepFor(kPollInterval);  // bounded polling; waitpid has no timeout
  }
}

ExitStatus ServerProcess::Kill() {
  {
    absl::MutexLock lock(&wait_mu_);
    if (!exit_.has_value()) kill(pid_, SIGKILL);
  }
  ExitStatus exit = *Reap(/*block=*/true);
  AwaitStdoutEnd();
  return exit;
}

void ServerProcess::AwaitStdoutEnd() {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stdout_closed_), absl::Seconds(5));
}

std::string ServerProcess::stdout_text() const {
  absl::MutexLock lock(&mu_);
  return stdout_;
}

std::string ServerProcess::stderr_text() const {
  std::ifstream in(stderr_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace countd::test
