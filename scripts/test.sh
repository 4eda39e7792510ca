#!/usr/bin/env bash
# Every test: set up (idempotent), build the wasm package (the test profile: WASM_PROFILE=test, see
# Cargo.toml), then native core tests, Node tests against the built package, and headless-Chromium
# tests of the demo page. On a 2-core machine the suites overlap where one of them leaves a core idle:
# the native tests build and run while the Node suite (one core) runs; Chromium's suite comes last.
# TEST_PROFILE=release tests the release build (what `npm run build` ships) the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
phase() { printf '\033[1m[test]\033[0m %s (%d s so far)\n' "$*" $((SECONDS - started)); }
bash scripts/setup.sh
phase "set-up done"
WASM_PROFILE=${TEST_PROFILE:-test} bash scripts/build.sh
phase "wasm package built"

native_log=$(mktemp)
# Set-up installed lavapipe, so a missing GPU adapter is a failure here, not a silent skip.
(COLBERT_REQUIRE_GPU=1 cargo test --profile native-test > "$native_log" 2>&1) &
native=$!
echo "== wasm package in Node (native core tests building and running beside it)"
node_status=0
node --test tests/node/*.test.mjs || node_status=$?
phase "Node suite done"
native_status=0
wait $native || native_status=$?
echo "== native core (cargo test), GPU kernel on Mesa lavapipe"
grep -vE '^\s+(Compiling|Running|Doc-tests)|^running 0 tests|^test result: ok. 0 passed' "$native_log" || true
rm -f "$native_log"
phase "native suite done"
echo "== demo page and package in Chromium"
browser_status=0
node --test tests/browser/*.test.mjs || browser_status=$?
phase "Chromium suite done"
if ((node_status || native_status || browser_status)); then
  echo "failed: node=$node_status native=$native_status chromium=$browser_status" >&2
  exit 1
fi
