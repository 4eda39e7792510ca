#!/usr/bin/env bash
# Every test: set up (idempotent), build the wasm package, then native core tests, Node tests against
# the built package, and headless-Chromium tests of the demo page.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
echo "== native core (cargo test), GPU kernel on Mesa lavapipe"
# Set-up installed lavapipe, so a missing GPU adapter is a failure here, not a silent skip.
COLBERT_REQUIRE_GPU=1 cargo test --profile native-test
echo "== wasm package in Node, demo page in Chromium (node --test)"
node --test tests/node/*.test.mjs tests/browser/*.test.mjs
