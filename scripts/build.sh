#!/usr/bin/env bash
# Builds the wasm package into www/pkg: cargo (wasm32) -> wasm-bindgen --target web -> wasm-opt, twice:
#   colbert_wasm_bg.wasm          simd128 (every browser with WebAssembly SIMD, Node 20)
#   colbert_wasm_relaxed_bg.wasm  simd128 + relaxed-simd, which tract's int8 matmul and activation
#                                 kernels use: about 2x faster encoding where the engine supports it
#                                 (Chromium-based browsers 114+, Node 22+). engine.js picks one at
#                                 load time by feature detection. WASM_RELAXED=0 skips it (quicker
#                                 local builds; the package then always loads the simd128 file).
# Both come from the same source, so wasm-bindgen's JS glue must be byte-identical: checked here.
# Incremental: each step is skipped when its output is newer than its input. `--compile-only`: only
# the cargo builds.
# Default: cargo profile wasm-release (tract-linalg at opt-level 3, the rest at "s") + wasm-opt -Oz:
# ~2.7 MiB gzipped at opt-level 3's encode speed (Cargo.toml says what was measured).
# WASM_PROFILE=small (npm run build:small): opt-level z + wasm-opt -Oz, ~2.3 MiB gzipped, query
# encodes ~15% slower in Node (see README, Benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f .cache/toolchain.env ]] || bash scripts/setup.sh --no-browser
source .cache/toolchain.env
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
say() { printf '\033[1m[build]\033[0m %s\n' "$*" >&2; }

profile=${WASM_PROFILE:-release}
case $profile in
  release) profile=wasm-release wasm_opt_level=-Oz ;;
  small) profile=wasm-small wasm_opt_level=-Oz ;;
  # The test command's build (scripts/test.sh): the same code at opt-level 3 without fat LTO and
  # without wasm-opt, whose passes change size, not results; minutes instead of a quarter of an hour.
  test) profile=wasm-test wasm_opt_level="" ;;
  *) echo "WASM_PROFILE must be 'release', 'small' or 'test'" >&2; exit 2 ;;
esac
out=www/pkg
stamp="$profile relaxed=${WASM_RELAXED:-1}"

# cargo_build TARGET_DIR RUSTFLAGS: builds into TARGET_DIR (a separate one per flag set, so switching
# never rebuilds from scratch) and prints the raw module's path. Empty RUSTFLAGS: .cargo/config.toml's.
cargo_build() {
  local target_dir=$1 flags=$2
  say "cargo build --profile $profile --target wasm32-unknown-unknown (${flags:-.cargo/config.toml flags})"
  (
    export CARGO_TARGET_DIR=$target_dir
    [[ -z $flags ]] || export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$flags"
    eval "$WASM_CARGO build --lib --profile $profile --target wasm32-unknown-unknown $WASM_CARGO_ARGS" >&2
  )
  echo "$target_dir/wasm32-unknown-unknown/$profile/colbert_wasm.wasm"
}

# bindgen_and_opt RAW DIR EXTRA_FEATURES: wasm-bindgen into DIR, then wasm-opt in place.
bindgen_and_opt() {
  local raw=$1 dir=$2 extra=$3
  wasm-bindgen --target web --out-dir "$dir" "$raw"
  [[ -n $wasm_opt_level ]] || return 0
  say "wasm-opt $wasm_opt_level $extra (npm binaryen)"
  # Features rustc enables by default for wasm32, plus simd128 from .cargo/config.toml.
  node_modules/.bin/wasm-opt $wasm_opt_level --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types $extra \
    "$dir/colbert_wasm_bg.wasm" -o "$dir/colbert_wasm_bg.opt.wasm"
  mv "$dir/colbert_wasm_bg.opt.wasm" "$dir/colbert_wasm_bg.wasm"
}

# Not target/ itself: cargo locks a target directory, so a native build there can run meanwhile.
# One after the other: side by side they took longer on 2 cores (530 s against 2 x 235 s, measured).
raw=$(cargo_build target/wasm-simd128 "")
relaxed_raw=""
if [[ ${WASM_RELAXED:-1} != 0 ]]; then
  # .cargo/config.toml's flags plus relaxed-simd.
  relaxed_raw=$(cargo_build target/relaxed-simd "-C target-feature=+simd128,+relaxed-simd --cfg getrandom_backend=\"wasm_js\"")
fi
# --compile-only: the cargo builds alone, www/pkg untouched (scripts/test.sh compiles the relaxed
# build while the Node suite reads the simd128 package).
[[ "${1:-}" != "--compile-only" ]] || exit 0

stale() { [[ ! -f $out/colbert_wasm_bg.wasm || "$(cat $out/.stamp 2>/dev/null)" != "$stamp" ]] || { [[ -n $1 ]] && [[ $1 -nt $out/colbert_wasm_bg.wasm ]]; }; }
if stale "$raw" || stale "$relaxed_raw"; then
  say "wasm-bindgen --target web"
  rm -rf $out.tmp $out.relaxed.tmp
  bindgen_and_opt "$raw" $out.tmp ""
  if [[ -n $relaxed_raw ]]; then
    bindgen_and_opt "$relaxed_raw" $out.relaxed.tmp --enable-relaxed-simd
    if ! cmp -s $out.tmp/colbert_wasm.js $out.relaxed.tmp/colbert_wasm.js; then
      echo "the relaxed-simd build's JS glue differs from the simd128 build's: one glue cannot load both" >&2
      exit 1
    fi
    mv $out.relaxed.tmp/colbert_wasm_bg.wasm $out.tmp/colbert_wasm_relaxed_bg.wasm
    rm -rf $out.relaxed.tmp
  fi
  echo "$stamp" > $out.tmp/.stamp
  rm -rf $out && mv $out.tmp $out
fi
for wasm in $out/*.wasm; do
  size=$(stat -c %s "$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  say "$wasm: $((size / 1024)) KiB raw, $((gz / 1024)) KiB gzipped"
done
