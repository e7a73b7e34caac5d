#!/usr/bin/env bash
# Installs every Debian 12 package countd needs to build, test and benchmark.
# Run as root or with sudo. Skips apt entirely when everything is already installed.
# Then installs the node modules of the manifest tests (tests/deploy) unless they are current.
# COUNTD_SKIP_NODE=1 leaves node, npm and the node modules out, COUNTD_SKIP_FUZZ=1 the fuzzing
# toolchain (the container build sets both).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # the stack
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev librocksdb-dev libre2-dev libspdlog-dev libfmt-dev
  # Redis protocol client for --store=redis-cluster (the cluster logic is countd's)
  libhiredis-dev
  # JSON shim: HTTP server and JSON for legacy envelopes; OpenSSL for TLS on both ports
  libboost1.81-dev rapidjson-dev libssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev curl
  redis-server redis-tools wrk nghttp2-client
  # bench/auth_overhead makes a throw-away TLS certificate with the openssl command
  openssl
  # bench/migrate_speed times the migration with GNU time (wall clock, CPU, peak RSS)
  time
)
# Fuzzing (scripts/fuzz.sh, run by scripts/test.sh): clang with libFuzzer and the sanitizer
# runtimes, lld for fast links of the instrumented binaries, llvm-14 for llvm-symbolizer (readable
# crash stacks). COUNTD_SKIP_FUZZ=1 leaves them out (the container build sets it).
if [ "${COUNTD_SKIP_FUZZ:-0}" != 1 ]; then
  packages+=(clang-14 libclang-rt-14-dev lld-14 llvm-14)
fi
# Manifest tests (tests/deploy) run on node. A node and npm already on the PATH (Debian's or,
# e.g., NodeSource's, whose nodejs package bundles npm and conflicts with Debian's npm) are used
# as they are; otherwise Debian's nodejs and npm are installed.
if [ "${COUNTD_SKIP_NODE:-0}" != 1 ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node modules of tests/deploy, pinned by its package-lock.json. npm ci records the installed
# tree in node_modules/.package-lock.json: skip when that is newer than the lockfile.
if [ "${COUNTD_SKIP_NODE:-0}" != 1 ]; then
  if [ -f tests/deploy/node_modules/.package-lock.json ] &&
     [ tests/deploy/node_modules/.package-lock.json -nt tests/deploy/package-lock.json ]; then
    echo "install-deps: tests/deploy node modules up to date"
  else
    echo "install-deps: npm ci --prefix tests/deploy"
    npm ci --prefix tests/deploy --no-audit --no-fund --loglevel=error
  fi
  # promtool checks and unit-tests the alerts of deploy/k8s/monitoring (deploy.monitoring). It is
  # taken out of Debian's prometheus package into tests/deploy/.tools (git-ignored) rather than
  # installing the package, whose scripts would start a Prometheus server on this machine.
  promtool=tests/deploy/.tools/promtool
  if [ -x "$promtool" ]; then
    echo "install-deps: promtool present"
  else
    echo "install-deps: promtool from Debian's prometheus package"
    debdir="$(mktemp -d)"
    chmod 0777 "$debdir"  # apt's download sandbox user must be able to write there
    if ! (cd "$debdir" && apt-get download -qq prometheus); then
      $SUDO apt-get update -qq
      (cd "$debdir" && apt-get download -qq prometheus)
    fi
    dpkg-deb --fsys-tarfile "$debdir"/prometheus_*.deb | tar -x -C "$debdir" ./usr/bin/promtool
    mkdir -p tests/deploy/.tools
    mv "$debdir/usr/bin/promtool" "$promtool"
    rm -rf "$debdir"
  fi
fi
