#!/usr/bin/env bash
# Starts and stops a throw-away 6-node Redis Cluster (3 masters + 3 replicas) on loopback, for the
# tests of storage/redis_cluster (CTest fixture redis_cluster, tests/integration/redis_cluster).
#
#   scripts/redis-cluster.sh start DIR [BASEPORT]   # BASEPORT omitted: the first free block from 20001
#   scripts/redis-cluster.sh stop DIR
#   scripts/redis-cluster.sh start-node DIR I       # restart node I (0..5) of a started cluster
#
# start writes DIR/baseport (the 6 nodes listen on BASEPORT..BASEPORT+5, cluster bus +10000) and
# returns once every node reports cluster_state:ok and every replica has synced. With
# REDIS_CLUSTER_PASSWORD set, the nodes require it (requirepass, masterauth). stop kills each node by its pidfile and waits for it.
# start-node starts one node again after it died (fault tests kill nodes with kill -9), with the
# same settings and its own data directory (nodes.conf and AOF kept), and returns once it answers
# PING: it rejoins the cluster by itself, as a replica if its slots failed over meanwhile.
# Durability settings of every node: appendonly yes, appendfsync always (docs/storage.md).
# REDIS_CLUSTER_NODE_TIMEOUT (ms, default 5000) sets cluster-node-timeout, the time before a
# silent master is failed over.
# Only 127.0.0.1; never port 6379; never a system service. Every wait is bounded.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start DIR [BASEPORT] | stop DIR | start-node DIR I" >&2
  exit 2
fi

port_free() {  # nothing listens on 127.0.0.1:$1
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

block_free() {  # ports $1..$1+5 and their cluster bus ports are free
  local p
  for p in $(seq "$1" $(($1 + 5))); do
    port_free "$p" && port_free $((p + 10000)) || return 1
  done
}

stop() {  # TERM to every node at once, then wait for each (bounded), then KILL
  local pidfile pid i pids=()
  for pidfile in "$dir"/node-*/redis.pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if kill "$pid" 2>/dev/null; then pids+=("$pid"); fi
    rm -f "$pidfile"
  done
  for pid in "${pids[@]}"; do
    for i in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "redis-cluster: $pid did not stop in 10 s, killing it" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}

# redis-cli reads the password from REDISCLI_AUTH (never from argv, where ps would show it). Set
# only when there is a password: an empty REDISCLI_AUTH still makes redis-cli send AUTH, which a
# node without a password refuses.
if [ -n "${REDIS_CLUSTER_PASSWORD:-}" ]; then
  export REDISCLI_AUTH="$REDIS_CLUSTER_PASSWORD"
else
  unset REDISCLI_AUTH
fi

cli() {  # cli PORT ARGS...
  local port="$1"
  shift
  redis-cli -h 127.0.0.1 -p "$port" "$@"
}

auth_args() {  # fills the array `auth` from REDIS_CLUSTER_PASSWORD or DIR/password
  auth=()
  local password="${REDIS_CLUSTER_PASSWORD:-}"
  if [ -z "$password" ] && [ -f "$dir/password" ]; then password="$(cat "$dir/password")"; fi
  if [ -n "$password" ]; then
    REDIS_CLUSTER_PASSWORD="$password"
    auth=(--requirepass "$password" --masterauth "$password")
  fi
}

start_node() {  # start_node I: node I on port base+I, data in DIR/node-I (kept if present)
  local i="$1" port=$((base + $1)) node_dir="$dir/node-$1"
  mkdir -p "$node_dir"
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode no \
    --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout "${REDIS_CLUSTER_NODE_TIMEOUT:-5000}" \
    --dir "$node_dir" --daemonize yes --pidfile "$node_dir/redis.pid" \
    --logfile "$node_dir/redis.log" --appendonly yes --appendfsync always --save "" \
    --repl-diskless-sync-delay 0 "${auth[@]}"
}

case "$cmd" in
  stop)
    stop
    echo "redis-cluster: stopped ($dir)"
    ;;
  start)
    mkdir -p "$dir"
    stop  # leftovers of an interrupted run in the same DIR
    base="${3:-}"
    if [ -z "$base" ]; then
      # Node ports 20001..21496, cluster bus ports (+10000) 30001..31496: both below Linux's
      # ephemeral range (32768..60999 by default), so no client connection of a busy machine can
      # hold one of them between the check and redis-server's bind.
      for candidate in $(seq 20001 10 21491); do
        if block_free "$candidate"; then base="$candidate"; break; fi
      done
      [ -n "$base" ] || { echo "redis-cluster: no free block of 6 ports in 20001..21496" >&2; exit 1; }
    elif ! block_free "$base"; then
      echo "redis-cluster: ports $base..$((base + 5)) (or +10000) are in use" >&2
      exit 1
    fi
    rm -f "$dir/password"  # a password of an earlier run in DIR is not this run's
    auth_args
    nodes=()
    for i in 0 1 2 3 4 5; do
      rm -rf "$dir/node-$i"
      start_node "$i"
      nodes+=("127.0.0.1:$((base + i))")
    done
    for i in 0 1 2 3 4 5; do
      for _ in $(seq 100); do
        [ "$(cli $((base + i)) ping 2>/dev/null)" = PONG ] && break
        sleep 0.1
      done
    done
    timeout 60 redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 ||
      { cat "$dir/create.log" >&2; stop; exit 1; }
    for i in 0 1 2 3 4 5; do
      ok=""
      for _ in $(seq 300); do
        if cli $((base + i)) cluster info 2>/dev/null | grep -q '^cluster_state:ok'; then
          ok=1
          break
        fi
        sleep 0.1
      done
      [ -n "$ok" ] || { echo "redis-cluster: node $((base + i)) not ok after 30 s" >&2; stop; exit 1; }
    done
    # cluster_state:ok can come before every node has the same slot configuration (epochs still
    # propagating); tests that move slots need them to agree.
    agreed=""
    for _ in $(seq 300); do
      if redis-cli --cluster check "127.0.0.1:$base" \
           >"$dir/check.log" 2>&1 &&
         grep -q 'All nodes agree about slots configuration' "$dir/check.log" &&
         grep -q 'All 16384 slots covered' "$dir/check.log"; then
        agreed=1
        break
      fi
      sleep 0.1
    done
    [ -n "$agreed" ] || { cat "$dir/check.log" >&2; stop; exit 1; }
    # Every replica has finished its first sync: before that a WAIT never counts it, and a
    # replica that never synced refuses to take over its master's slots.
    for i in 0 1 2 3 4 5; do
      synced=""
      for _ in $(seq 300); do
        info="$(cli $((base + i)) info replication 2>/dev/null || true)"
        if echo "$info" | grep -q '^role:master' ||
           echo "$info" | grep -q '^master_link_status:up'; then
          synced=1
          break
        fi
        sleep 0.1
      done
      [ -n "$synced" ] || { echo "redis-cluster: replica $((base + i)) not synced after 30 s" >&2; stop; exit 1; }
    done
    echo "$base" >"$dir/baseport"
    # For test clients (tests/testing/server_process.cc): the password of this throwaway cluster.
    if [ -n "${REDIS_CLUSTER_PASSWORD:-}" ]; then
      (umask 077 && printf '%s\n' "$REDIS_CLUSTER_PASSWORD" >"$dir/password")
    fi
    echo "redis-cluster: 6 nodes on 127.0.0.1:$base..$((base + 5)) ($dir)"
    ;;
  start-node)
    i="${3:-}"
    case "$i" in
      [0-5]) ;;
      *) echo "usage: $0 start-node DIR I (I in 0..5)" >&2; exit 2 ;;
    esac
    [ -f "$dir/baseport" ] || { echo "redis-cluster: no cluster in $dir (no baseport)" >&2; exit 1; }
    base="$(cat "$dir/baseport")"
    pidfile="$dir/node-$i/redis.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "redis-cluster: node $i already runs (pid $(cat "$pidfile"))" >&2
      exit 1
    fi
    rm -f "$pidfile"
    port_free $((base + i)) || { echo "redis-cluster: port $((base + i)) is in use" >&2; exit 1; }
    auth_args
    start_node "$i"
    for _ in $(seq 100); do
      [ "$(cli $((base + i)) ping 2>/dev/null)" = PONG ] && break
      sleep 0.1
    done
    [ "$(cli $((base + i)) ping 2>/dev/null)" = PONG ] ||
      { echo "redis-cluster: node $i did not answer PING in 10 s" >&2; exit 1; }
    echo "redis-cluster: node $i on 127.0.0.1:$((base + i)) started again ($dir)"
    ;;
  *)
    echo "usage: $0 start DIR [BASEPORT] | stop DIR | start-node DIR I" >&2
    exit 2
    ;;
esac
