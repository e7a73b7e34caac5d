// tests/testing/redis_cluster_process.h — a private 6-node Redis Cluster (3 masters, 3 replicas)
// for fault tests: started by scripts/redis-cluster.sh in a directory of the test's, its nodes
// killed (kill -9) and started again by the test, stopped with the object. Tests that do not
// harm the cluster use the shared one of the CTest fixture redis_cluster instead.
#ifndef COUNTD_TESTS_TESTING_REDIS_CLUSTER_PROCESS_H_
#define COUNTD_TESTS_TESTING_REDIS_CLUSTER_PROCESS_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace countd::test {

// Nodes of a cluster started by scripts/redis-cluster.sh; node i listens on base port + i.
inline constexpr int kRedisClusterNodes = 6;

// A running cluster. The nodes are daemons (not children of the test): the destructor stops
// them by their pidfiles. Not thread-safe: use it from the test's thread.
class RedisClusterProcess {
 public:
  // Runs `scripts/redis-cluster.sh start dir` (a free block of ports from 20001; it returns once
  // every node reports cluster_state:ok and every replica has synced). The nodes require
  // `password` (non-empty) and fail a silent master over after `node_timeout`
  // (cluster-node-timeout). Errors: FAILED_PRECONDITION when the script fails or takes more than
  // 2 minutes (the message holds its output).
  static absl::StatusOr<std::unique_ptr<RedisClusterProcess>> Start(const std::string& dir,
                                                                    const std::string& password,
                                                                    absl::Duration node_timeout);
  ~RedisClusterProcess();
  RedisClusterProcess(const RedisClusterProcess&) = delete;
  RedisClusterProcess& operator=(const RedisClusterProcess&) = delete;

  // The directory given to Start: ServerProcessOptions::redis_cluster_dir points a countd here.
  const std::string& dir() const { return dir_; }
  int port(int node) const { return base_port_ + node; }

  // SIGKILLs node `node` (by its pidfile) and waits until that process is gone. Errors:
  // FAILED_PRECONDITION when it does not run; DEADLINE_EXCEEDED when it outlives 10 s.
  absl::Status KillNode(int node);
  // Starts a killed node again with its data directory (nodes.conf, AOF): `redis-cluster.sh
  // start-node`. It rejoins by itself. Errors: FAILED_PRECONDITION with the script's output.
  absl::Status RestartNode(int node);

  // Runs one command on node `node` and returns the reply as text: a string or status as is, an
  // integer in decimal, an array as its elements one per line. Errors: UNAVAILABLE when the node
  // does not answer (1 s to connect, 2 s per reply); FAILED_PRECONDITION for an error reply.
  absl::StatusOr<std::string> Command(int node, const std::vector<std::string>& args);

  // "master" or "slave" (the first line of ROLE). Errors: as Command.
  absl::StatusOr<std::string> Role(int node);
  // The node replicating master `node` (from its INFO replication). Errors: as Command;
  // NOT_FOUND when it has no replica.
  absl::StatusOr<int> ReplicaOf(int node);

  // Waits until every node in `up` reports cluster_state:ok, `masters` of them are masters and
  // every other one is a replica whose link to its master is up. Errors: DEADLINE_EXCEEDED after
  // `timeout`, naming what was still missing.
  absl::Status AwaitState(const std::vector<int>& up, int masters, absl::Duration timeout);

 private:
  RedisClusterProcess(std::string dir, std::string password, absl::Duration node_timeout,
                      int base_port)
      : dir_(std::move(dir)),
        password_(std::move(password)),
        node_timeout_(node_timeout),
        base_port_(base_port) {}
  std::string dir_;
  std::string password_;
  absl::Duration node_timeout_;
  int base_port_ = 0;
};

}  // namespace countd::test

#endif  // COUNTD_TESTS_TESTING_REDIS_CLUSTER_PROCESS_H_
