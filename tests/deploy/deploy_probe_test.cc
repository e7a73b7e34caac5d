// tests/deploy/deploy_probe_test.cc — runs countd exactly as the Kubernetes manifests do and
// probes it as the kubelet would (CTest deploy.probes.<dir>).
//
// pod_spec.js renders the kustomization directory named by COUNTD_DEPLOY_K8S_DIR and prints the
// container's args, its environment (from the ConfigMap) and its probes. The test starts the
// real binary (COUNTD_BINARY) with those args and that environment, changing only
// - the data directory (a temporary one; with --store=redis-cluster it must stay empty),
// - the listen addresses (127.0.0.1:0, i.e. free loopback ports),
// - the mount points of the Secrets: arg values under /etc/countd/ point into a temporary
//   directory instead, where the test writes what the Secret would hold (operator-token: a random
//   48-character token; secrets-key: base64 of 32 random bytes, both made at run time; password:
//   the Redis password of the test cluster),
// - with --store=redis-cluster: the seeds of --redis-nodes become the nodes of the test cluster
//   of the CTest fixture redis_cluster (COUNTD_DEPLOY_REDIS_CLUSTER_DIR, written by
//   scripts/redis-cluster.sh), one per seed, and --redis-key-prefix is set to one of this run's
//   own so that the test's keys cannot meet another test's on the shared cluster,
// then: startup and liveness probes = HTTP GET answering 200 within the probe's timeoutSeconds;
// readiness = grpc.health.v1.Health/Check(service "") answering SERVING, or HTTP GET answering
// 200, within timeoutSeconds; SIGTERM = exit status 0 within terminationGracePeriodSeconds less
// the preStop sleep (which the kubelet runs before it sends SIGTERM).
#include <curl/curl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace countd::deploy {
namespace {

struct Probe {
  std::string kind;  // startup, liveness, readiness
  std::string type;  // http, grpc
  int port = 0;      // the container port it targets
  std::string path;  // http only
  int timeout_s = 1, period_s = 10, failures = 3;
};

struct PodSpec {
  int grace_s = 30;
  int prestop_s = 0;  // a preStop sleep before SIGTERM
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<Probe> probes;
  const Probe* Find(const std::string& kind) const {
    for (const Probe& p : probes) {
      if (p.kind == kind) return &p;
    }
    return nullptr;
  }
};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// Runs pod_spec.js and parses its lines.
absl::StatusOr<PodSpec> LoadPodSpec() {
  const std::string cmd =
      absl::StrCat("'", Env("COUNTD_DEPLOY_NODE"), "' '", Env("COUNTD_DEPLOY_POD_SPEC"), "' '",
                   Env("COUNTD_DEPLOY_K8S_DIR"), "'");
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot run ", cmd));
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  if (int rc = pclose(f); rc != 0) {
    return absl::FailedPreconditionError(absl::StrCat(cmd, " failed (status ", rc,
                                                      "); is tests/deploy/node_modules installed "
                                                      "(scripts/install-deps.sh)?\n",
                                                      out));
  }
  PodSpec spec;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (kv.first == "grace") {
      if (!absl::SimpleAtoi(kv.second, &spec.grace_s))
        return absl::InternalError(std::string(line));
    } else if (kv.first == "prestop") {
      if (!absl::SimpleAtoi(kv.second, &spec.prestop_s))
        return absl::InternalError(std::string(line));
    } else if (kv.first == "arg") {
      spec.args.push_back(kv.second);
    } else if (kv.first == "env") {
      std::pair<std::string, std::string> e = absl::StrSplit(kv.second, absl::MaxSplits('=', 1));
      spec.env.push_back(e);
    } else if (kv.first == "probe") {
      std::vector<std::string> w = absl::StrSplit(kv.second, ' ');
      Probe p;
      if (w.size() != 7 || !absl::SimpleAtoi(w[2], &p.port) ||
          !absl::SimpleAtoi(w[4], &p.timeout_s) || !absl::SimpleAtoi(w[5], &p.period_s) ||
          !absl::SimpleAtoi(w[6], &p.failures)) {
        return absl::InternalError(absl::StrCat("bad line: ", line));
      }
      p.kind = w[0];
      p.type = w[1];
      p.path = w[3];
      spec.probes.push_back(p);
    } else {
      return absl::InternalError(absl::StrCat("unknown line: ", line));
    }
  }
  return spec;
}

// "--grpc-addr" / "--grpc_addr" -> "grpc_addr"; "" for a non-flag.
std::string FlagName(const std::string& arg) {
  if (!absl::StartsWith(arg, "--")) return "";
  std::string name =
      arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2);
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

int PortOf(const std::string& host_port) {
  int port = 0;
  (void)absl::SimpleAtoi(host_port.substr(host_port.rfind(':') + 1), &port);
  return port;
}

// Where the manifests mount Secrets: countd-credentials in credentials/, the Redis Cluster's
// password (redis-cluster-auth) in redis/.
constexpr absl::string_view kSecretsMount = "/etc/countd/";

// The test cluster of the CTest fixture redis_cluster, or "" when the test runs without it.
std::string RedisClusterDir() { return Env("COUNTD_DEPLOY_REDIS_CLUSTER_DIR"); }

std::string Urandom(size_t n) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string out(n, '\0');
  in.read(out.data(), static_cast<std::streamsize>(n));
  return out;
}

// Writes at `path` the Secret file named `name` (its last path component), as an operator would
// create it (docs/auth.md, docs/operations.md). Errors: an item the test does not know; a Redis
// password without the test cluster.
absl::Status WriteCredential(const std::string& path, absl::string_view name) {
  std::string text;
  if (name == "operator-token") {
    text = absl::Base64Escape(Urandom(36));
  } else if (name == "secrets-key") {
    text = absl::Base64Escape(Urandom(32));
  } else if (name == "password") {
    std::ifstream in(absl::StrCat(RedisClusterDir(), "/password"));
    if (RedisClusterDir().empty() || !std::getline(in, text)) {
      return absl::FailedPreconditionError(
          "the manifests mount a Redis password but COUNTD_DEPLOY_REDIS_CLUSTER_DIR holds no "
          "password file (run through ctest: the fixture redis_cluster starts the cluster)");
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("the manifests name a credential file \"", name, "\" this test cannot make"));
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text << "\n";
  return out.good() ? absl::OkStatus() : absl::InternalError("cannot write a credential file");
}

// --redis-nodes=<seeds> -> as many nodes of the test cluster (up to its 6), in order.
absl::StatusOr<std::string> TestClusterSeeds(const std::string& seeds) {
  std::ifstream in(absl::StrCat(RedisClusterDir(), "/baseport"));
  int base = 0;
  if (RedisClusterDir().empty() || !(in >> base) || base <= 0) {
    return absl::FailedPreconditionError(
        "the manifests run --store=redis-cluster but COUNTD_DEPLOY_REDIS_CLUSTER_DIR names no "
        "running test cluster (run through ctest: the fixture redis_cluster starts it)");
  }
  std::vector<std::string> out;
  const std::vector<std::string> names = absl::StrSplit(seeds, ',');
  for (size_t i = 0; i < names.size() && i < 6; ++i) {
    out.push_back(absl::StrCat("127.0.0.1:", base + static_cast<int>(i)));
  }
  return absl::StrJoin(out, ",");
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// GET http://<host_port><path> as the kubelet does; the status, or 0 on a transport error or
// when no answer came within `timeout_s`.
long KubeletHttpGet(const std::string& host_port, const std::string& path, int timeout_s) {
  CURL* curl = curl_easy_init();
  const std::string url = absl::StrCat("http://", host_port, path);
  curl_slist* headers = curl_slist_append(nullptr, "User-Agent: kube-probe/1.30");
  headers = curl_slist_append(headers, "Accept: */*");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_s) * 1000);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return status;
}

// grpc.health.v1.Health/Check with service "" (what the kubelet's grpc probe sends), with a
// deadline of `timeout_s`. Returns the status enum of the answer (1 = SERVING) or the error.
// The Debian packages ship no generated health stubs: HealthCheckRequest{} encodes to no
// bytes, and the answer is field 1 (status) as a varint.
absl::StatusOr<int> KubeletGrpcCheck(const std::string& host_port, int timeout_s) {
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(host_port, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  grpc::ByteBuffer req;  // empty message
  grpc::Slice empty("");
  req = grpc::ByteBuffer(&empty, 1);
  grpc::ByteBuffer resp;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req, &resp,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();  // the deadline ends the call
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  std::vector<grpc::Slice> slices;
  if (!resp.Dump(&slices).ok()) return absl::InternalError("cannot read the answer");
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (bytes.empty()) return 0;  // status UNKNOWN (0) is the default and encodes to nothing
  if (bytes.size() != 2 || bytes[0] != '\x08') return absl::InternalError("unexpected answer");
  return static_cast<int>(bytes[1]);
}

TEST(DeployProbeTest, ProbesPassAndSigtermExitsWithinGracePeriod) {
  absl::StatusOr<PodSpec> spec = LoadPodSpec();
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Probe* startup = spec->Find("startup");
  const Probe* liveness = spec->Find("liveness");
  const Probe* readiness = spec->Find("readiness");
  ASSERT_NE(startup, nullptr);
  ASSERT_NE(liveness, nullptr);
  ASSERT_NE(readiness, nullptr);

  // The container's args with the data directory and addresses swapped for test ones; the ports
  // they named tell which listener each probe targets.
  test::ScopedTempDir dir;
  test::ScopedTempDir credentials;              // stands in for the mounted Secret
  std::map<int, std::string> listener_of_port;  // container port -> "grpc" / "http"
  test::ServerProcessOptions options;
  options.data_dir = dir.path();
  bool on_redis = false;
  for (const std::string& arg : spec->args) {
    const std::string name = FlagName(arg);
    const std::string value =
        arg.find('=') == std::string::npos ? "" : arg.substr(arg.find('=') + 1);
    if (name == "store" && value == "redis-cluster") on_redis = true;
    if (name == "data_dir") {
      options.extra_args.push_back(absl::StrCat("--data-dir=", dir.path()));
    } else if (name == "grpc_addr" || name == "http_addr") {
      listener_of_port[PortOf(value)] = name.substr(0, 4);
      options.extra_args.push_back(absl::StrCat("--", name, "=127.0.0.1:0"));
    } else if (name == "redis_nodes") {
      absl::StatusOr<std::string> seeds = TestClusterSeeds(value);
      ASSERT_TRUE(seeds.ok()) << seeds.status();
      options.extra_args.push_back(absl::StrCat("--redis-nodes=", *seeds));
    } else if (name == "redis_key_prefix") {
      // replaced below
    } else if (absl::StartsWith(value, kSecretsMount)) {
      const std::string rel = value.substr(kSecretsMount.size());
      const std::string path = absl::StrCat(credentials.path(), "/", rel);
      absl::Status written = WriteCredential(path, rel.substr(rel.rfind('/') + 1));
      ASSERT_TRUE(written.ok()) << written;
      options.extra_args.push_back(absl::StrCat(arg.substr(0, arg.find('=') + 1), path));
    } else {
      options.extra_args.push_back(arg);
    }
  }
  if (on_redis) {
    options.extra_args.push_back(absl::StrCat("--redis-key-prefix=deployprobe", getpid()));
  }
  options.env = spec->env;
  // The kubelet waits up to period x failureThreshold for the startup probe.
  options.startup_timeout = absl::Seconds(startup->period_s * startup->failures);
  absl::StatusOr<std::unique_ptr<test::ServerProcess>> server = test::ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  test::ServerProcess& s = **server;

  auto address_for = [&](const Probe& p) -> std::string {
    auto it = listener_of_port.find(p.port);
    if (it == listener_of_port.end()) return "";
    return it->second == "grpc" ? s.grpc_address() : s.http_address();
  };
  ASSERT_EQ(startup->type, "http");
  ASSERT_EQ(liveness->type, "http");
  const std::string startup_addr = address_for(*startup);
  const std::string liveness_addr = address_for(*liveness);
  const std::string readiness_addr = address_for(*readiness);
  ASSERT_EQ(listener_of_port[startup->port], "http") << "startup probe port " << startup->port;
  ASSERT_EQ(listener_of_port[liveness->port], "http") << "liveness probe port " << liveness->port;
  ASSERT_EQ(listener_of_port[readiness->port], readiness->type)
      << "readiness probe port " << readiness->port << " (" << readiness->type << " probe)";

  // Startup: probed every period until it passes; must pass within period x failureThreshold.
  const absl::Time startup_deadline =
      absl::Now() + absl::Seconds(startup->period_s * startup->failures);
  long status = 0;
  while ((status = KubeletHttpGet(startup_addr, startup->path, startup->timeout_s)) != 200 &&
         absl::Now() < startup_deadline) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(status, 200) << "startup probe GET " << startup->path << "\nstderr:\n"
                         << s.stderr_text();

  EXPECT_EQ(KubeletHttpGet(liveness_addr, liveness->path, liveness->timeout_s), 200)
      << "liveness probe GET " << liveness->path;

  // The manifests ask for authentication; the probes must pass without credentials anyway.
  for (const std::string& arg : spec->args) {
    if (arg == "--auth=required") {
      EXPECT_TRUE(absl::StrContains(s.stdout_text(), "authentication: required"))
          << "countd did not run with --auth=required:\n"
          << s.stdout_text();
    }
  }

  if (readiness->type == "grpc") {
    absl::StatusOr<int> ready = KubeletGrpcCheck(readiness_addr, readiness->timeout_s);
    ASSERT_TRUE(ready.ok()) << "readiness probe: " << ready.status();
    EXPECT_EQ(*ready, 1) << "readiness probe: want SERVING (1)";
  } else {
    ASSERT_EQ(readiness->type, "http");
    // On Redis Cluster /readyz writes a probe record (waiting for --redis-wait-replicas) and
    // pings every master. The kubelet probes every period until it passes; a cluster just
    // created may still be syncing its replicas, so allow up to 30 s.
    const absl::Time ready_deadline = absl::Now() + absl::Seconds(30);
    long ready_status = 0;
    while ((ready_status = KubeletHttpGet(readiness_addr, readiness->path, readiness->timeout_s)) !=
               200 &&
           absl::Now() < ready_deadline) {
      absl::SleepFor(absl::Seconds(readiness->period_s) / 5);
    }
    EXPECT_EQ(ready_status, 200) << "readiness probe GET " << readiness->path << "\nstderr:\n"
                                 << s.stderr_text();
  }

  // SIGTERM as the kubelet sends it on pod deletion, after the preStop sleep: readiness fails
  // while draining (or the port closes), and countd exits 0 before the kubelet's SIGKILL.
  const int grace_after_prestop = spec->grace_s - spec->prestop_s;
  ASSERT_GT(grace_after_prestop, 0) << "preStop sleeps through the whole grace period";
  const absl::Time term = absl::Now();
  ASSERT_TRUE(s.Signal(SIGTERM).ok());
  std::optional<test::ExitStatus> exit = s.WaitForExit(absl::Seconds(grace_after_prestop));
  ASSERT_TRUE(exit.has_value()) << "countd still runs " << grace_after_prestop
                                << " s (terminationGracePeriodSeconds less preStop) after SIGTERM";
  EXPECT_TRUE(exit->Success()) << exit->ToString() << "\nstderr:\n" << s.stderr_text();
  if (readiness->type == "grpc") {
    absl::StatusOr<int> after = KubeletGrpcCheck(readiness_addr, 1);
    EXPECT_FALSE(after.ok() && *after == 1) << "still SERVING after exit";
  } else {
    EXPECT_NE(KubeletHttpGet(readiness_addr, readiness->path, 1), 200) << "still ready after exit";
  }
  std::printf("countd exited %s %.2f s after SIGTERM (grace %d s, preStop %d s)\n",
              exit->ToString().c_str(), absl::ToDoubleSeconds(absl::Now() - term), spec->grace_s,
              spec->prestop_s);

  // Stateless: with the data in the Redis Cluster nothing may land on the pod's disk.
  if (on_redis) {
    std::error_code ec;
    EXPECT_TRUE(std::filesystem::is_empty(dir.path(), ec) && !ec)
        << "countd --store=redis-cluster wrote into " << dir.path();
  }
}

}  // namespace
}  // namespace countd::deploy
