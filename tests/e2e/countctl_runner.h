// tests/e2e/countctl_runner.h — runs the client binaries (countctl, found through
// COUNTCTL_BINARY, which countd_test() sets; countd-bench) for e2e tests and captures their exit
// status and output.
#ifndef COUNTD_TESTS_E2E_COUNTCTL_RUNNER_H_
#define COUNTD_TESTS_E2E_COUNTCTL_RUNNER_H_

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace countd::e2e {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

// Runs the client binary `bin` with `args` (each single-quoted for the shell: they must hold no
// quote) and, when not empty, COUNTD_BEARER=`bearer_env` in its environment (never the test's
// own COUNTD_BEARER). Records a test failure and returns exit_code -1 when it cannot be run.
inline CommandResult RunClient(const std::string& bin, const std::vector<std::string>& args,
                               const std::string& bearer_env = "") {
  CommandResult r;
  // The environment variable is set on the shell command line (base64 secrets hold no quote),
  // not with setenv(): this process has gRPC threads.
  std::string cmd = absl::StrCat(
      "env -u COUNTD_BEARER ",
      bearer_env.empty() ? "" : absl::StrCat("COUNTD_BEARER='", bearer_env, "' "), "'", bin, "'");
  for (const std::string& a : args) absl::StrAppend(&cmd, " '", a, "'");
  absl::StrAppend(&cmd, " 2>&1");
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) {
    ADD_FAILURE() << "cannot run " << cmd;
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, n);
  int status = pclose(f);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// RunClient on countctl (found through COUNTCTL_BINARY).
inline CommandResult Countctl(const std::vector<std::string>& args,
                              const std::string& bearer_env = "") {
  const char* bin = std::getenv("COUNTCTL_BINARY");
  if (bin == nullptr) {
    ADD_FAILURE() << "COUNTCTL_BINARY is not set (run through ctest)";
    return CommandResult{};
  }
  return RunClient(bin, args, bearer_env);
}

}  // namespace countd::e2e

#endif  // COUNTD_TESTS_E2E_COUNTCTL_RUNNER_H_
