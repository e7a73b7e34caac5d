#!/usr/bin/env python3
"""bench.smoke (CTest): runs the Google Benchmark programs on their small cases, briefly.

Usage: smoke.py PROGRAM FILTER [PROGRAM FILTER ...]

Fails when a program exits non-zero, when a filter matches no benchmark, or when a benchmark
reports an error (SkipWithError): a benchmark that no longer measures anything must break the
build, not leave a gap in bench/RESULTS.md. Timings are not looked at.
"""
import json
import subprocess
import sys


def run(program, benchmark_filter):
    """Returns the problems found running `program` on `benchmark_filter`."""
    args = [program, "--benchmark_filter=" + benchmark_filter, "--benchmark_min_time=0.01",
            "--benchmark_format=json"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=240, check=False)
    except subprocess.TimeoutExpired:
        return [f"{program}: still running after 240 s"]
    if done.returncode != 0:
        return [f"{program}: exit status {done.returncode}\n{done.stderr[-2000:]}"]
    try:
        benchmarks = json.loads(done.stdout)["benchmarks"]
    except (ValueError, KeyError) as e:
        return [f"{program}: unreadable JSON output ({e})"]
    if not benchmarks:
        return [f"{program}: no benchmark matches {benchmark_filter!r}"]
    problems = []
    for b in benchmarks:
        if b.get("error_occurred"):
            problems.append(f"{program}: {b['name']}: {b.get('error_message', 'error')}")
        else:
            print(f"ok {b['name']}")
    return problems


def main(argv):
    if len(argv) < 3 or len(argv) % 2 == 0:
        sys.exit(__doc__)
    problems = []
    for program, benchmark_filter in zip(argv[1::2], argv[2::2]):
        problems += run(program, benchmark_filter)
    for p in problems:
        print("FAIL " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
