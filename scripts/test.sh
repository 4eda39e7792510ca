#!/usr/bin/env bash
# Every test: set up (idempotent), build the wasm package (the test profile: WASM_PROFILE=test, see
# Cargo.toml), then native core tests, Node tests against the built package, and headless-Chromium
# tests of the demo page. On a 2-core machine the work overlaps so no core waits: the relaxed-simd wasm
# compiles beside the Node suite; the native suite compiles from the start at the lowest priority (at
# normal priority beside the wasm builds it measured 1052 s against 953 s: the builds slowed each other)
# and runs beside the Chromium suite; the tests that run the native indexer binary go last, side by side. Each suite's failure is reported;
# any fails the run.
# TEST_PROFILE=release tests the release build (what `npm run build` ships) the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
phase() { printf '\033[1m[test]\033[0m %s (%d s so far)\n' "$*" $((SECONDS - started)); }
bash scripts/setup.sh
phase "set-up done"

# The native suite compiles from the start at the lowest CPU priority, so it only takes what the wasm
# builds leave idle (their longest units run on one core for minutes), and runs its tests beside the
# Chromium suite once a file says so.
native_log=$(mktemp)
native_go=$(mktemp -u)
(
  nice -n 19 cargo test --profile native-test --no-run > "$native_log" 2>&1 || true
  while [[ ! -e "$native_go" ]]; do sleep 1; done
  # Set-up installed lavapipe, so a missing GPU adapter is a failure here, not a silent skip.
  COLBERT_REQUIRE_GPU=1 cargo test --profile native-test >> "$native_log" 2>&1
) &
native=$!
trap 'kill $native 2>/dev/null || true; rm -f "$native_go"' EXIT

export WASM_PROFILE=${TEST_PROFILE:-test}
# The simd128 package first (Node runs it), then the relaxed-simd build compiles beside the Node suite.
WASM_RELAXED=0 bash scripts/build.sh
phase "simd128 package built"
relaxed_log=$(mktemp)
(bash scripts/build.sh --compile-only > "$relaxed_log" 2>&1) &
relaxed=$!
# Tests that run the native indexer binary wait for the native suite, which builds it.
after_native="tests/node/indexer.test.mjs tests/node/qdrant.test.mjs tests/node/qdrant-edge.test.mjs tests/browser/pool.test.mjs"
without_after_native() { ls "$@" | grep -vxF -e ${after_native// / -e }; }
echo "== wasm package in Node (the relaxed-simd build compiles beside it)"
node_status=0
node --test $(without_after_native tests/node/*.test.mjs) || node_status=$?
phase "Node suite done"
wait $relaxed || { cat "$relaxed_log"; exit 1; }
rm -f "$relaxed_log"
bash scripts/build.sh
phase "package with both wasm builds"

touch "$native_go"
echo "== demo page and package in Chromium (the native core tests run beside it)"
browser_status=0
node --test $(without_after_native tests/browser/*.test.mjs) || browser_status=$?
phase "Chromium suite done"
native_status=0
wait $native || native_status=$?
echo "== native core (cargo test), GPU kernel on Mesa lavapipe"
grep -vE '^\s+(Compiling|Running|Doc-tests)|^running 0 tests|^test result: ok. 0 passed' "$native_log" || true
rm -f "$native_log"
phase "native suite done"
echo "== the native indexer's file and Qdrant upload, in Node and in Chromium"
node --test --test-concurrency=3 $after_native || node_status=$?
phase "all done"
if ((node_status || native_status || browser_status)); then
  echo "failed: node=$node_status native=$native_status chromium=$browser_status" >&2
  exit 1
fi
