#!/usr/bin/env bash
# Builds the wasm package into www/pkg: cargo (wasm32, simd128) -> wasm-bindgen --target web -> wasm-opt.
# Incremental: each step is skipped when its output is newer than its input.
# WASM_PROFILE=small (npm run build:small): opt-level z + wasm-opt -Oz, about 30% smaller gzipped and
# about 16% slower at encoding; the default favours speed (see README, Benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f .cache/toolchain.env ]] || bash scripts/setup.sh --no-browser
source .cache/toolchain.env
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
say() { printf '\033[1m[build]\033[0m %s\n' "$*" >&2; }

profile=${WASM_PROFILE:-release}
case $profile in
  release) wasm_opt_level=-O3 ;;
  small) profile=wasm-small wasm_opt_level=-Oz ;;
  *) echo "WASM_PROFILE must be 'release' or 'small'" >&2; exit 2 ;;
esac
raw=target/wasm32-unknown-unknown/$profile/colbert_wasm.wasm
say "cargo build --profile $profile --target wasm32-unknown-unknown"
eval "$WASM_CARGO build --profile $profile --target wasm32-unknown-unknown $WASM_CARGO_ARGS"

out=www/pkg
if [[ ! -f $out/colbert_wasm_bg.wasm || $raw -nt $out/colbert_wasm_bg.wasm || "$(cat $out/.profile 2>/dev/null)" != "$profile" ]]; then
  say "wasm-bindgen --target web"
  rm -rf $out.tmp
  wasm-bindgen --target web --out-dir $out.tmp "$raw"
  say "wasm-opt $wasm_opt_level (npm binaryen)"
  # Features rustc enables by default for wasm32, plus simd128 from .cargo/config.toml.
  node_modules/.bin/wasm-opt $wasm_opt_level --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types \
    $out.tmp/colbert_wasm_bg.wasm -o $out.tmp/colbert_wasm_bg.opt.wasm
  mv $out.tmp/colbert_wasm_bg.opt.wasm $out.tmp/colbert_wasm_bg.wasm
  echo "$profile" > $out.tmp/.profile
  rm -rf $out && mv $out.tmp $out
fi
size=$(stat -c %s $out/colbert_wasm_bg.wasm)
gz=$(gzip -9 -c $out/colbert_wasm_bg.wasm | wc -c)
say "$out/colbert_wasm_bg.wasm: $((size / 1024)) KiB raw, $((gz / 1024)) KiB gzipped"
