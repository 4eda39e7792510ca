#!/usr/bin/env bash
# `npm run test:vendor`: the tests our patches to vendored crates (patches/README.md) added or touch,
# natively and as wasm32-wasip1 with simd128 under Node's WASI (scripts/wasi-run.mjs), where the
# wasm kernels themselves run. Not part of `npm test`: a first run compiles tract-linalg's test
# build twice (~8 minutes on 2 cores); incremental after that (target/vendor-tests).
# The vendored crates are not workspace members, so each is tested from a copy outside the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
rustup target add wasm32-wasip1 >/dev/null 2>&1 || { echo "test-vendor needs rustup's wasm32-wasip1 target" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# in_wasm CRATE FEATURES FILTER: the crate's tests matching FILTER, built for wasm32-wasip1 with
# FEATURES and run under Node's WASI (its own target dir per feature set: switching rebuilds nothing).
in_wasm() {
  local crate=$1 features=$2 filter=$3
  echo "[test-vendor] $crate: $filter (wasm32-wasip1 $features, Node)" >&2
  (cd "$scratch/$crate" && CARGO_TARGET_DIR="$root/target/vendor-tests/$crate$features" \
    CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings --experimental-wasm-relaxed-simd $root/scripts/wasi-run.mjs" \
    RUSTFLAGS="-C target-feature=$features" cargo test -q --target wasm32-wasip1 --lib "$filter")
}

# native CRATE FILTER: the same natively.
native() {
  echo "[test-vendor] $1: $2 (native)" >&2
  (cd "$scratch/$1" && CARGO_TARGET_DIR="$root/target/vendor-tests/$1" cargo test -q --lib "$2")
}

cp -r vendor/tract-data vendor/tract-linalg "$scratch/"
native tract-data activation_casts
in_wasm tract-data +simd128 activation_casts
native tract-linalg i16_k2
# Both int8 tiles' kernel suites (packings, fused ops, odd k), the packer, and the tile the int8
# dispatch picks, in the plain-SIMD build and the relaxed one. Node 20's relaxed SIMD (behind a flag)
# computes the relaxed dot product wrongly, so the relaxed build runs the dispatch test alone: it
# picks a kernel, it does not multiply.
for filter in wasm_i32 i16_k2 int8_gate; do in_wasm tract-linalg +simd128 $filter; done
in_wasm tract-linalg +simd128,+relaxed-simd int8_gate
