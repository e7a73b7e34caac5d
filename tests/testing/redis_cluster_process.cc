#include "tests/testing/redis_cluster_process.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

extern char** environ;

namespace countd::test {
namespace {

// The script's own waits are bounded (30 s each); this bounds the whole run.
constexpr absl::Duration kScriptTimeout = absl::Minutes(2);
constexpr absl::Duration kPoll = absl::Milliseconds(100);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs scripts/redis-cluster.sh with `args`, the test's environment plus the cluster's password
// and node timeout (the password goes through the environment, never the command line); its
// output goes to <dir>/script.log. OK when it exits 0 within kScriptTimeout.
absl::Status RunScript(const std::string& dir, const std::string& password,
                       absl::Duration node_timeout, const std::vector<std::string>& args) {
  std::vector<std::string> argv_s = {COUNTD_REDIS_CLUSTER_SCRIPT};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "REDIS_CLUSTER_")) env_s.emplace_back(*e);
  }
  env_s.push_back("REDIS_CLUSTER_PASSWORD=" + password);
  env_s.push_back(
      absl::StrCat("REDIS_CLUSTER_NODE_TIMEOUT=", absl::ToInt64Milliseconds(node_timeout)));
  std::vector<char*> argv, envp;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string log = dir + "/script.log";
  int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat("open(", log, "): ", strerror(errno)));
  }
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(log_fd);
    return absl::FailedPreconditionError(absl::StrCat("fork: ", strerror(err)));
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec (the test process has threads).
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(log_fd);
  const absl::Time deadline = absl::Now() + kScriptTimeout;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      return absl::FailedPreconditionError(absl::StrCat("waitpid: ", strerror(errno)));
    }
    if (absl::Now() >= deadline) {
      kill(pid, SIGKILL);  // the script we started, by its pid
      waitpid(pid, &status, 0);
      return absl::FailedPreconditionError(
          absl::StrCat("redis-cluster.sh ", absl::StrJoin(args, " "), " took more than ",
                       absl::FormatDuration(kScriptTimeout), "; output:\n", ReadFile(log)));
    }
    absl::SleepFor(kPoll);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("redis-cluster.sh ", absl::StrJoin(args, " "),
                                                      " failed (status ", status, "); output:\n",
                                                      ReadFile(log)));
  }
  return absl::OkStatus();
}

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

std::string ReplyText(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_INTEGER: return absl::StrCat(r->integer);
    case REDIS_REPLY_NIL: return "";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < r->elements; ++i) {
        absl::StrAppend(&out, i == 0 ? "" : "\n", ReplyText(r->element[i]));
      }
      return out;
    }
    default: return r->str != nullptr ? std::string(r->str, r->len) : "";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisClusterProcess>> RedisClusterProcess::Start(
    const std::string& dir, const std::string& password, absl::Duration node_timeout) {
  if (password.empty()) return absl::FailedPreconditionError("a cluster password is required");
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(absl::StrCat("mkdir(", dir, "): ", strerror(errno)));
  }
  absl::Status started = RunScript(dir, password, node_timeout, {"start", dir});
  int base = 0;
  if (started.ok() &&
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(dir + "/baseport")), &base)) {
    started = absl::FailedPreconditionError(absl::StrCat("no base port in ", dir, "/baseport"));
  }
  if (!started.ok()) {
    RunScript(dir, password, node_timeout, {"stop", dir}).IgnoreError();  // what did start
    return started;
  }
  return std::unique_ptr<RedisClusterProcess>(
      new RedisClusterProcess(dir, password, node_timeout, base));
}

RedisClusterProcess::~RedisClusterProcess() {
  absl::Status s = RunScript(dir_, password_, node_timeout_, {"stop", dir_});
  if (!s.ok()) fprintf(stderr, "RedisClusterProcess: %s\n", s.ToString().c_str());
}

absl::Status RedisClusterProcess::KillNode(int node) {
  const std::string pidfile = absl::StrCat(dir_, "/node-", node, "/redis.pid");
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(pidfile)), &pid) || pid <= 0) {
    return absl::FailedPreconditionError(absl::StrCat("node ", node, ": no pid in ", pidfile));
  }
  if (kill(pid, SIGKILL) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", node, ": kill(", pid, "): ", strerror(errno)));
  }
  // Not our child (the node daemonized): wait until the pid is gone.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (kill(pid, 0) == 0) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("node ", node, " (pid ", pid, ") still runs 10 s after SIGKILL"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  unlink(pidfile.c_str());  // a dead node's pidfile would name a pid that may be reused
  return absl::OkStatus();
}

absl::Status RedisClusterProcess::RestartNode(int node) {
  return RunScript(dir_, password_, node_timeout_, {"start-node", dir_, absl::StrCat(node)});
}

absl::StatusOr<std::string> RedisClusterProcess::Command(int node,
                                                         const std::vector<std::string>& args) {
  timeval connect_tv{1, 0};
  std::unique_ptr<redisContext, ContextFree> c(
      redisConnectWithTimeout("127.0.0.1", port(node), connect_tv));
  const std::string where = absl::StrCat("redis node ", node, " (port ", port(node), ")");
  if (c == nullptr || c->err != 0) {
    return absl::UnavailableError(
        absl::StrCat(where, ": ", c == nullptr ? "cannot allocate" : c->errstr));
  }
  timeval reply_tv{2, 0};
  redisSetTimeout(c.get(), reply_tv);
  auto run = [&](const std::vector<std::string>& a) -> absl::StatusOr<std::string> {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& s : a) {
      argv.push_back(s.data());
      lens.push_back(s.size());
    }
    std::unique_ptr<redisReply, ReplyFree> r(static_cast<redisReply*>(
        redisCommandArgv(c.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (r == nullptr) return absl::UnavailableError(absl::StrCat(where, ": ", c->errstr));
    if (r->type == REDIS_REPLY_ERROR) {
      return absl::FailedPreconditionError(absl::StrCat(where, ": ", ReplyText(r.get())));
    }
    return ReplyText(r.get());
  };
  if (absl::StatusOr<std::string> auth = run({"AUTH", password_}); !auth.ok()) {
    return auth.status();
  }
  return run(args);
}

absl::StatusOr<std::string> RedisClusterProcess::Role(int node) {
  absl::StatusOr<std::string> role = Command(node, {"ROLE"});
  if (!role.ok()) return role.status();
  std::vector<std::string> lines = absl::StrSplit(*role, '\n');
  return lines[0];
}

absl::StatusOr<int> RedisClusterProcess::ReplicaOf(int node) {
  absl::StatusOr<std::string> info = Command(node, {"INFO", "replication"});
  if (!info.ok()) return info.status();
  // "slave0:ip=127.0.0.1,port=30004,state=online,offset=...,lag=0"
  for (absl::string_view line : absl::StrSplit(*info, '\n')) {
    if (!absl::StartsWith(line, "slave0:")) continue;
    for (absl::string_view field : absl::StrSplit(line.substr(7), ',')) {
      int p = 0;
      if (absl::ConsumePrefix(&field, "port=") &&
          absl::SimpleAtoi(absl::StripAsciiWhitespace(field), &p)) {
        return p - base_port_;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("node ", node, " has no replica:\n", *info));
}

absl::Status RedisClusterProcess::AwaitState(const std::vector<int>& up, int masters,
                                             absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string missing;
  for (;;) {
    missing.clear();
    int seen_masters = 0;
    for (int node : up) {
      absl::StatusOr<std::string> info = Command(node, {"CLUSTER", "INFO"});
      if (!info.ok() || !absl::StrContains(*info, "cluster_state:ok")) {
        absl::StrAppend(&missing, " node ", node, " not cluster_state:ok;");
        continue;
      }
      absl::StatusOr<std::string> role = Role(node);
      if (role.ok() && *role == "master") {
        ++seen_masters;
        continue;
      }
      absl::StatusOr<std::string> repl = Command(node, {"INFO", "replication"});
      if (!repl.ok() || !absl::StrContains(*repl, "master_link_status:up")) {
        absl::StrAppend(&missing, " replica ", node, " not linked;");
      }
    }
    if (seen_masters != masters) {
      absl::StrAppend(&missing, " ", seen_masters, " masters of ", masters, ";");
    }
    if (missing.empty()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("cluster not settled after ", absl::FormatDuration(timeout), ":", missing));
    }
    absl::SleepFor(kPoll);
  }
}

}  // namespace countd::test
