#!/usr/bin/env bash
# Installs dependencies, builds, and starts countd on the embedded RocksDB default (./data).
# Extra arguments are passed to countd, e.g. ./scripts/run.sh --sync=always
# Development quick start: authentication is OFF (--auth=off; countd logs a warning). To run
# with authentication, pass the flags, which win over the default here (docs/auth.md):
#   ./scripts/run.sh --auth=required --operator-token-file=FILE --secrets-key-file=FILE
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
exec ./build/server/countd --data-dir=./data --auth=off "$@"
