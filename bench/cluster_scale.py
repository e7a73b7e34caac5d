#!/usr/bin/env python3
"""Measurements and report of bench/cluster_scale (run by it; not meant to be run alone).

  cluster_scale.py snap OUT REDIS_DIR CLIENT_ACCT [NAME=ACCT_DIR,CPU_DIR,HTTP_ADDR ...]
      Writes one JSON snapshot of the CPU counters to OUT: each countd's cgroup (cpuacct.usage,
      cpu.stat throttling) and its served gRPC requests (from its /metrics), each Redis node's
      CPU (/proc/PID/stat) and EVALSHA statistics (INFO commandstats), the load generator's cgroup,
      and the whole machine (/proc/stat).
  cluster_scale.py record OUT_JSONL META_JSON BEFORE AFTER BENCH_JSON
      Appends one record (a run: the differences between two snapshots plus the load generator's
      figures) to OUT_JSONL.
  cluster_scale.py report RECORDS_JSONL
      Prints the markdown tables: medians over the runs of each configuration.
"""

import json
import os
import re
import socket
import statistics
import sys
import time
import urllib.request

HZ = os.sysconf("SC_CLK_TCK")


def read(path):
    with open(path) as f:
        return f.read()


def proc_ticks(pid):
    """utime + stime of every thread of `pid`, in clock ticks."""
    stat = read(f"/proc/{pid}/stat")
    fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
    return int(fields[11]) + int(fields[12])


def machine_busy():
    """(busy, total) jiffies of all CPUs: busy excludes idle and iowait."""
    values = [int(v) for v in read("/proc/stat").splitlines()[0].split()[1:9]]
    total = sum(values)
    return total - values[3] - values[4], total


def cpu_stat(cpu_dir):
    out = {}
    for line in read(os.path.join(cpu_dir, "cpu.stat")).splitlines():
        name, value = line.split()
        out[name] = int(value)
    return out


def countd_metrics(http_addr):
    """(gRPC calls answered, any method and code; calls to Redis) of the countd at `http_addr`."""
    with urllib.request.urlopen(f"http://{http_addr}/metrics", timeout=10) as r:
        text = r.read().decode()
    requests = redis_calls = 0
    for line in text.splitlines():
        if line.startswith("countd_grpc_requests_total{"):
            requests += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("countd_redis_calls_total "):
            redis_calls = int(float(line.rsplit(" ", 1)[1]))
    return requests, redis_calls


def redis_info(port, sections):
    """The INFO text of each of `sections` from the node at `port`, over one connection (a
    redis-cli process per call would cost more CPU than the snapshot should)."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        reader = conn.makefile("rb")
        for section in sections:
            conn.sendall(f"INFO {section}\r\n".encode())
            header = reader.readline()
            if not header.startswith(b"$"):
                raise RuntimeError(f"redis {port}: unexpected reply {header!r}")
            out.append(reader.read(int(header[1:]) + 2)[:-2].decode())
    return out


def redis_node(port):
    """(role, EVALSHA + EVAL calls, their usec) of the node at `port`."""
    replication, commandstats = redis_info(port, ["replication", "commandstats"])
    calls = usec = 0
    for line in commandstats.splitlines():
        if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")):
            fields = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
            calls += int(fields["calls"])
            usec += int(fields["usec"])
    role = "master" if "role:master" in replication else "replica"
    return role, calls, usec


def snap(out, redis_dir, client_acct, countd_specs):
    # The load runs between two snapshots; the CPU counters of the processes do not move while
    # a snapshot is taken (nothing is sent then), but the machine's and the clock do: those are
    # read at both ends, and a run's window is from the end of one to the start of the next.
    doc = {"t_start": time.monotonic(), "machine_start": machine_busy(), "countd": {}, "redis": {}}
    for spec in countd_specs:
        name, dirs = spec.split("=", 1)
        acct_dir, cpu_dir, http_addr = dirs.split(",")
        requests, redis_calls = countd_metrics(http_addr)
        doc["countd"][name] = {
            "cpu_ns": int(read(os.path.join(acct_dir, "cpuacct.usage"))),
            "stat": cpu_stat(cpu_dir),
            "requests": requests,
            "redis_calls": redis_calls,
        }
    base = int(read(os.path.join(redis_dir, "baseport")).strip())
    for i in range(6):
        pid = int(read(os.path.join(redis_dir, f"node-{i}", "redis.pid")).strip())
        role, calls, usec = redis_node(base + i)
        doc["redis"][str(base + i)] = {
            "role": role, "ticks": proc_ticks(pid), "eval_calls": calls, "eval_usec": usec}
    doc["client_ns"] = int(read(os.path.join(client_acct, "cpuacct.usage")))
    doc["loadavg"] = read("/proc/loadavg").split()[0]
    doc["machine_end"] = machine_busy()
    doc["t_end"] = time.monotonic()
    with open(out, "w") as f:
        json.dump(doc, f)


def record(out_jsonl, meta_json, before_path, after_path, bench_path):
    meta = json.loads(meta_json)
    a = json.loads(read(before_path))
    b = json.loads(read(after_path))
    bench = json.loads(read(bench_path))
    rec = dict(meta)
    # Rates (cores) are over the load itself: the warmup plus the measured time. The window
    # between the snapshots is a little longer (the load generator's start and connect, the
    # next snapshot's start), and everything counted in it is idle outside the load; per-request
    # figures do not depend on this choice.
    rec["window_s"] = b["t_start"] - a["t_end"]
    wall = duration_s(meta["warmup"]) + bench["elapsed_s"]
    rec["wall_s"] = wall
    countd_s = sum((b["countd"][n]["cpu_ns"] - a["countd"][n]["cpu_ns"]) / 1e9 for n in b["countd"])
    served = sum(b["countd"][n]["requests"] - a["countd"][n]["requests"] for n in b["countd"])
    redis_calls = sum(b["countd"][n]["redis_calls"] - a["countd"][n]["redis_calls"]
                      for n in b["countd"])
    periods = sum(b["countd"][n]["stat"]["nr_periods"] - a["countd"][n]["stat"]["nr_periods"]
                  for n in b["countd"])
    throttled = sum(b["countd"][n]["stat"]["nr_throttled"] - a["countd"][n]["stat"]["nr_throttled"]
                    for n in b["countd"])
    rec["per_process_cores"] = sorted(
        (b["countd"][n]["cpu_ns"] - a["countd"][n]["cpu_ns"]) / 1e9 / wall for n in b["countd"])
    redis = {"master": 0.0, "replica": 0.0}
    hottest = 0.0
    eval_calls = eval_usec = 0
    for port, node in b["redis"].items():
        s = (node["ticks"] - a["redis"][port]["ticks"]) / HZ
        redis[node["role"]] += s
        hottest = max(hottest, s / wall)
        eval_calls += node["eval_calls"] - a["redis"][port]["eval_calls"]
        eval_usec += node["eval_usec"] - a["redis"][port]["eval_usec"]
    client_s = (b["client_ns"] - a["client_ns"]) / 1e9
    busy = (b["machine_start"][0] - a["machine_end"][0]) / HZ
    busy_cores = busy / rec["window_s"]
    rec.update({
        "served": served,
        "redis_calls_per_request": redis_calls / served if served else 0.0,
        "countd_s": countd_s,
        "redis_master_s": redis["master"],
        "redis_replica_s": redis["replica"],
        "redis_hottest_cores": hottest,
        "eval_calls": eval_calls,
        "eval_us_per_call": eval_usec / eval_calls if eval_calls else 0.0,
        "client_s": client_s,
        "machine_busy_cores": busy_cores,
        "other_cores": busy_cores - (countd_s + redis["master"] + redis["replica"] + client_s) /
        rec["window_s"],
        "throttled_share": throttled / periods if periods else 0.0,
        "loadavg_before": a["loadavg"],
        "rps": bench["throughput_rps"],
        "items_per_s": bench.get("items_per_s", bench["throughput_rps"]),
        "p50_us": bench["latency_us"]["p50"],
        "p99_us": bench["latency_us"]["p99"],
        "errors": bench["errors"],
        "first_error": bench["first_error"],
        "bench_elapsed_s": bench["elapsed_s"],
        "per_target_rps": sorted(t["throughput_rps"] for t in bench.get("targets", {}).values())
        or [bench["throughput_rps"]],
    })
    with open(out_jsonl, "a") as f:
        f.write(json.dumps(rec) + "\n")


def duration_s(text):
    """Seconds in a countd-bench duration: 500ms, 1s, 1.5s, 1m."""
    m = re.fullmatch(r"([0-9.]+)(ms|s|m)", text)
    if not m:
        raise ValueError(f"bad duration {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


def us_per_request(seconds, served):
    return seconds / served * 1e6 if served else float("nan")


def report(records_path):
    recs = [json.loads(line) for line in read(records_path).splitlines() if line.strip()]
    groups = {}
    for r in recs:
        groups.setdefault((r["store"], r["quota"], r["op"], r["processes"]), []).append(r)

    def med(rs, f):
        return statistics.median(f(r) for r in rs)

    def row_costs(rs):
        return {
            "countd": med(rs, lambda r: us_per_request(r["countd_s"], r["served"])),
            "redis": med(rs, lambda r: us_per_request(r["redis_master_s"] + r["redis_replica_s"],
                                                      r["served"])),
            "masters": med(rs, lambda r: us_per_request(r["redis_master_s"], r["served"])),
            "client": med(rs, lambda r: us_per_request(r["client_s"], r["served"])),
        }

    invalid = [r for r in recs if r["errors"] > 0]
    ops = []
    for r in recs:
        if r["op"] not in ops:
            ops.append(r["op"])

    # Scaling: the cluster with quotas, 1..N processes, and without quotas when measured.
    print("### Scaling on the cluster: 1, 2, 3 countd processes\n")
    print("| op | quota per countd | countd processes | req/s, median (min-max) | per process | "
          "vs 1 process | countd CPU (cores, each) | Redis CPU (cores): masters + replicas, "
          "hottest node | load generator CPU (cores) | machine busy of 2 cores (other processes) | "
          "quota periods throttled | CPU per request (us): countd / Redis | Redis calls per request | "
          "p50 / p99 (ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for op in ops:
        for quota in sorted({k[1] for k in groups if k[0] == "cluster" and k[2] == op},
                            key=lambda q: (q == "none", q)):
            base = None
            for n in sorted(k[3] for k in groups if k[:3] == ("cluster", quota, op)):
                rs = groups[("cluster", quota, op, n)]
                rps = med(rs, lambda r: r["rps"])
                items = med(rs, lambda r: r["items_per_s"])
                if base is None:
                    base = rps
                lo, hi = min(r["rps"] for r in rs), max(r["rps"] for r in rs)
                per_proc = med(rs, lambda r: statistics.median(r["per_target_rps"]))
                each = [statistics.median(r["per_process_cores"][i] for r in rs)
                        for i in range(n)]
                masters = med(rs, lambda r: r["redis_master_s"] / r["wall_s"])
                replicas = med(rs, lambda r: r["redis_replica_s"] / r["wall_s"])
                hottest = med(rs, lambda r: r["redis_hottest_cores"])
                costs = row_costs(rs)
                unit = f" ({items:,.0f} incr/s)" if op == "increment-counters" else ""
                print(f"| {op} | {quota} | {n} | {rps:,.0f}{unit} ({lo:,.0f}-{hi:,.0f}) | "
                      f"{per_proc:,.0f} | {rps / base:.2f} | "
                      f"{' + '.join(f'{c:.2f}' for c in each)} | "
                      f"{masters:.2f} + {replicas:.2f}, {hottest:.2f} | "
                      f"{med(rs, lambda r: r['client_s'] / r['wall_s']):.2f} | "
                      f"{med(rs, lambda r: r['machine_busy_cores']):.2f} "
                      f"({med(rs, lambda r: r['other_cores']):.2f}) | "
                      f"{med(rs, lambda r: r['throttled_share']) * 100:.0f}% | "
                      f"{costs['countd']:,.0f} / {costs['redis']:,.0f} | "
                      f"{med(rs, lambda r: r['redis_calls_per_request']):.2f} | "
                      f"{med(rs, lambda r: r['p50_us']) / 1000:.1f} / "
                      f"{med(rs, lambda r: r['p99_us']) / 1000:.1f} |")

    print("\n### CPU per request: one countd on the cluster vs one countd on RocksDB\n")
    print("CPU microseconds per request (= CPU milliseconds per 1000 requests), counted from the "
          "requests countd served (its /metrics) over the same window as the CPU counters.\n")
    print("| op | store | quota | req/s (median) | countd | Redis (all 6 nodes) | of which masters "
          "| Redis script time per call (masters, INFO commandstats) | load generator | total |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for op in ops:
        for store in ("cluster", "rocksdb"):
            for quota in sorted({k[1] for k in groups if k[0] == store and k[2] == op},
                                key=lambda q: (q != "none", q)):
                rs = groups.get((store, quota, op, 1))
                if not rs:
                    continue
                c = row_costs(rs)
                total = c["countd"] + c["redis"] + c["client"]
                script = med(rs, lambda r: r["eval_us_per_call"])
                redis_cols = (f"{c['redis']:,.0f} | {c['masters']:,.0f} | {script:,.0f} us"
                              if store == "cluster" else "- | - | -")
                print(f"| {op} | {store} | {quota} | {med(rs, lambda r: r['rps']):,.0f} | "
                      f"{c['countd']:,.0f} | {redis_cols} | {c['client']:,.0f} | {total:,.0f} |")

    runs = {len(rs) for rs in groups.values()}
    walls = [r["window_s"] for r in recs]
    loads = sorted({r["loadavg_before"] for r in recs}, key=float)
    print(f"\n- Runs per configuration: {', '.join(map(str, sorted(runs)))}; each run "
          f"{min(walls):.1f}-{max(walls):.1f} s between CPU snapshots (warmup and connect included); "
          "cores are CPU-seconds over warmup + measured time, machine busy over the whole window.")
    print(f"- 1-minute load average at the start of the runs: {loads[0]} to {loads[-1]}.")
    if invalid:
        for r in invalid:
            print(f"- INVALID: {r['store']} {r['quota']} {r['op']} x{r['processes']}: "
                  f"{r['errors']:.0f} failed calls, first: {r['first_error']}")
    return 1 if invalid else 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "snap":
        snap(argv[2], argv[3], argv[4], argv[5:])
        return 0
    if len(argv) == 7 and argv[1] == "record":
        record(*argv[2:])
        return 0
    if len(argv) == 3 and argv[1] == "report":
        return report(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
