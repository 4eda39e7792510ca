#!/usr/bin/env bash
# Every test: set up (idempotent), build the wasm package, then native core tests, Node tests against
# the built package, and headless-Chromium tests of the demo page.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The native test build and the two wasm builds each spend minutes in single-threaded stretches (fat
# LTO, linking, wasm-opt): building them side by side keeps both cores busy on a fresh machine.
mkdir -p .cache
cargo test --profile native-test --no-run > .cache/native-test-build.log 2>&1 &
native_build=$!
trap 'kill $native_build 2>/dev/null || true' EXIT
bash scripts/build.sh
if ! wait $native_build; then
  cat .cache/native-test-build.log >&2
  exit 1
fi
echo "== native core (cargo test), GPU kernel on Mesa lavapipe"
# Set-up installed lavapipe, so a missing GPU adapter is a failure here, not a silent skip.
COLBERT_REQUIRE_GPU=1 cargo test --profile native-test
echo "== wasm package in Node, demo page in Chromium (node --test)"
node --test tests/node/*.test.mjs tests/browser/*.test.mjs
