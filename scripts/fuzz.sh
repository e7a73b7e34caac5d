#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz; clang-14, ASan + UBSan) in ./build-fuzz and runs each
# for a bounded time on a temporary copy of its seed corpus (the checkout stays clean).
#
#   scripts/fuzz.sh [seconds-per-target [target...]]     default: 60 seconds, every target
#
# Exits non-zero when a target finds a crash, a leak, a timeout (-timeout=10 per input) or an
# invariant violation; the reproducer is saved under $COUNTD_FUZZ_ARTIFACTS (default
# build-fuzz/artifacts/<target>/) and its path printed. Replay one: build-fuzz/tests/fuzz/<target>_fuzz <file>
# Environment: COUNTD_FUZZ_ARTIFACTS (crash directory), COUNTD_BUILD_JOBS (default 2),
# COUNTD_FUZZ_KEEP_CORPUS=1 (keep the grown corpora and print where they are).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
seconds="${1:-60}"
if [ $# -gt 0 ]; then shift; fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz.sh: seconds-per-target must be a positive whole number, got \"$seconds\"" >&2
  exit 2
fi

for tool in clang-14 clang++-14; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool not found (scripts/install-deps.sh)" >&2; exit 2; }
done
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Fuzz -DCOUNTD_FUZZ=ON -DCOUNTD_BUILD_TESTS=OFF)
if command -v ccache >/dev/null 2>&1; then
  cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
fi
if [ -x /usr/lib/llvm-14/bin/ld.lld ] || command -v ld.lld >/dev/null 2>&1; then
  cmake_args+=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld)  # links the big ASan binaries much faster
fi

build_start=$SECONDS
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz "${cmake_args[@]}" >/dev/null
cmake --build build-fuzz --target countd_fuzz_all -j "${COUNTD_BUILD_JOBS:-2}"
echo "fuzz.sh: build took $((SECONDS - build_start)) s"

targets=()
declare -A binary
while read -r name path; do
  [ -n "$name" ] || continue
  binary[$name]="$path"
  targets+=("$name")
done < build-fuzz/fuzz_targets.txt
if [ $# -gt 0 ]; then
  for t in "$@"; do
    [ -n "${binary[$t]:-}" ] || { echo "fuzz.sh: no target \"$t\" (have: ${targets[*]})" >&2; exit 2; }
  done
  targets=("$@")
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/countd-fuzz.XXXXXX")"
if [ "${COUNTD_FUZZ_KEEP_CORPUS:-0}" = 1 ]; then
  trap 'echo "fuzz.sh: corpora kept in $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
artifacts="${COUNTD_FUZZ_ARTIFACTS:-$root/build-fuzz/artifacts}"
symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer" UBSAN_SYMBOLIZER_PATH="$symbolizer"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$work/$t"
  mkdir -p "$corpus" "$artifacts/$t"
  if [ -d "tests/fuzz/corpus/$t" ]; then cp -R "tests/fuzz/corpus/$t/." "$corpus/"; fi
  flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536
         -print_final_stats=1 -artifact_prefix="$artifacts/$t/")
  [ -f "tests/fuzz/$t.dict" ] && flags+=(-dict="tests/fuzz/$t.dict")
  log="$work/$t.log"
  echo "fuzz.sh: $t for ${seconds}s ..."
  before="$(ls -1 "$artifacts/$t" 2>/dev/null | sort)"
  set +e
  "${binary[$t]}" "${flags[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$( (grep -o 'exec/s: [0-9]*' "$log" || true) | tail -1 | sed 's/exec\/s: //')"
  cov="$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 | sed 's/cov: //')"
  summary+=("$(printf '%-16s %10s runs %8s exec/s  cov %6s  corpus %5s files' "$t" "${execs:-?}" \
               "${rate:-?}" "${cov:-?}" "$(ls -1 "$corpus" | wc -l)")")
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    echo "fuzz.sh: $t FAILED (exit $rc); the end of its log:" >&2
    tail -n 60 "$log" >&2
    new="$(comm -13 <(echo "$before") <(ls -1 "$artifacts/$t" | sort) || true)"
    for f in $new; do
      echo "fuzz.sh: reproducer: $artifacts/$t/$f   (replay: ${binary[$t]} $artifacts/$t/$f)" >&2
    done
  fi
done

echo
echo "fuzz.sh: ${seconds}s per target"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]} (reproducers under $artifacts)" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets passed"
