// tests/testing/server_process.h — runs the real countd binary as a child process for end-to-end
// tests: a process handle that waits for the listening lines and can signal, wait for and kill it.
// Temporary data directories come from tests/testing/temp_dir.h.
#ifndef COUNTD_TESTS_TESTING_SERVER_PROCESS_H_
#define COUNTD_TESTS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace countd::test {

// How a child process ended, decoded from waitpid's status.
struct ExitStatus {
  bool exited = false;  // true: returned from main / called exit; `code` is valid
  int code = 0;
  int signal = 0;  // when !exited: the signal that killed it
  bool Success() const { return exited && code == 0; }
  std::string ToString() const;
};

struct ServerProcessOptions {
  // Passed as --data-dir. Required unless !countd_args.
  std::string data_dir;
  // false: the binary is another program that prints "grpc listening on HOST:PORT" (e.g.
  // bench/grpc-ceiling): its arguments are extra_args alone, without countd's defaults (no
  // --data-dir, addresses, --auth or Redis Cluster flags). Pair with wait_for_http = false.
  bool countd_args = true;
  // Appended after the defaults (--data-dir, --grpc-addr=127.0.0.1:0, --http-addr=127.0.0.1:0,
  // and --auth=off); a later flag wins, so these may override the defaults.
  // Authentication: unless these hold an --auth=... flag (or `env` sets COUNTD_AUTH), the child
  // runs with --auth=off, so tests that are not about authentication need no credentials. Tests
  // of authentication pass --auth=required with --operator-token-file and --secrets-key-file.
  std::vector<std::string> extra_args;
  // Environment of the child: the test's environment without any COUNTD_* variable (so a
  // developer's settings cannot leak into a test), plus these NAME=value pairs.
  std::vector<std::pair<std::string, std::string>> env;
  // The binary; empty = the environment variable COUNTD_BINARY (set by countd_test()).
  std::string binary;
  // Start() gives up after this long without the listening line(s).
  absl::Duration startup_timeout = absl::Seconds(30);
  // Also wait for "http listening on HOST:PORT" (countd prints it right after the grpc line).
  // false: only the grpc line is awaited, and http_address() may still be empty after Start().
  bool wait_for_http = true;
  // Redis Cluster mode. The child runs with --store=redis-cluster (unless extra_args choose a
  // --store) on the cluster that scripts/redis-cluster.sh started in this directory (it reads
  // <dir>/baseport and <dir>/password); empty = the directory named by the environment variable
  // COUNTD_E2E_REDIS_CLUSTER_DIR, and neither set = the default store (RocksDB).
  std::string redis_cluster_dir;
  // --redis-key-prefix in Redis Cluster mode; empty = one derived from data_dir, so each test
  // (and each data directory) has its own keys and a restart on the same data_dir sees them
  // again. Processes that must share data (several countd on one cluster) pass the same prefix.
  std::string redis_key_prefix;
};

// A running countd child. Its stdout is read by a background thread for the whole life of the
// process (so the child never blocks on a full pipe); its stderr goes to a file. The destructor
// SIGKILLs and reaps the child if it still runs. All methods are thread-safe.
class ServerProcess {
 public:
  // Launches the binary and waits until it prints "grpc listening on HOST:PORT" (and the http
  // line, see ServerProcessOptions::wait_for_http). The child is tied to the calling thread
  // (PR_SET_PDEATHSIG): call from a thread that outlives the returned handle, e.g. the test's.
  // Errors: FAILED_PRECONDITION when the binary is not found or the child exits first (the
  // message holds its exit status and stderr); DEADLINE_EXCEEDED after
  // options.startup_timeout. The child is killed and reaped on any error.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(const ServerProcessOptions& options);

  // Launches the binary without waiting for it: for tests of startup failures. Pair with
  // WaitUntilListening() or WaitForExit(). Same thread rule as Start(). Errors:
  // FAILED_PRECONDITION when the binary cannot be found or the process cannot be created.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Launch(const ServerProcessOptions& options);

  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Waits until the child has printed its grpc listening line (and its http line when
  // options.wait_for_http). Errors: FAILED_PRECONDITION when
  // stdout closed (the child exited) first; DEADLINE_EXCEEDED after `timeout`.
  absl::Status WaitUntilListening(absl::Duration timeout);

  // "HOST:PORT" from "grpc listening on HOST:PORT"; empty before it was printed.
  std::string grpc_address() const;
  // "HOST:PORT" from "http listening on HOST:PORT"; empty when not (yet) printed.
  std::string http_address() const;
  pid_t pid() const { return pid_; }

  // Sends `sig` to the child. Errors: FAILED_PRECONDITION when it was already reaped.
  absl::Status Signal(int sig);

  // Waits up to `timeout` for the child to exit and reaps it; nullopt if it still runs. Once
  // reaped, every later call returns the same status at once. After an exit, stdout_text()
  // holds everything the child wrote (the pipe is read to its end first, for up to 5 s).
  std::optional<ExitStatus> WaitForExit(absl::Duration timeout);

  // SIGKILLs the child and reaps it; returns how it ended (it may have exited on its own first).
  // Like WaitForExit, stdout is read to its end before this returns.
  ExitStatus Kill();

  // Everything the child wrote to stdout so far / to stderr so far.
  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  ServerProcess(pid_t pid, int stdout_fd, std::string stderr_path, bool wait_for_http);
  void ReadStdout();
  // Parses the complete lines in stdout_ that were not parsed yet.
  void ParseLines() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reaps the child if it has exited (or, with `block`, once it exits).
  std::optional<ExitStatus> Reap(bool block);
  // After the child ended: waits (bounded) until the reader thread has seen end-of-file, so the
  // output checks that follow an exit see all of it.
  void AwaitStdoutEnd();

  const pid_t pid_;
  const int stdout_fd_;
  const std::string stderr_path_;
  const bool wait_for_http_;
  std::thread reader_;

  mutable absl::Mutex mu_;
  std::string stdout_ ABSL_GUARDED_BY(mu_);
  size_t parsed_ ABSL_GUARDED_BY(mu_) = 0;
  bool stdout_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_reading_ ABSL_GUARDED_BY(mu_) = false;
  std::string grpc_address_ ABSL_GUARDED_BY(mu_);
  std::string http_address_ ABSL_GUARDED_BY(mu_);

  absl::Mutex wait_mu_;
  std::optional<ExitStatus> exit_ ABSL_GUARDED_BY(wait_mu_);
};

}  // namespace countd::test

#endif  // COUNTD_TESTS_TESTING_SERVER_PROCESS_H_
