#!/usr/bin/env bash
# Installs dependencies, builds, and starts countd on the embedded RocksDB default (./data).
# Extra arguments are passed to countd, e.g. ./scripts/run.sh --sync=always
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
exec ./build/server/countd --data-dir=./data "$@"
