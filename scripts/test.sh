#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite through CTest, then every libFuzzer
# target for a short bounded time (scripts/fuzz.sh; COUNTD_FUZZ_SECONDS per target, default 15,
# 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
ctest --test-dir build --output-on-failure -j "${COUNTD_TEST_JOBS:-2}" --timeout 300
fuzz_seconds="${COUNTD_FUZZ_SECONDS:-15}"
if [ "$fuzz_seconds" != 0 ]; then
  ./scripts/fuzz.sh "$fuzz_seconds"
fi
