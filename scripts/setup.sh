#!/usr/bin/env bash
# One-time (idempotent, quick when everything is present) set-up for building and testing colbert-wasm:
#   1. a Rust toolchain that builds wasm32-unknown-unknown (rustup, or Debian's rustc-web + build-std)
#   2. wasm-bindgen-cli at exactly the version in Cargo.lock
#   3. npm dev dependencies (playwright-core, binaryen's wasm-opt)
#   4. Chromium for the browser tests (Debian package; playwright's own download cannot work offline)
#   5. Qdrant Edge in .cache/venv-qdrant (the Qdrant hand-off's parity test)
#   6. the default model bundle in models/default (scripts/build-model.sh)
# Pass --no-browser to skip Chromium (e.g. for `npm start` or `npm run eval`).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
want_browser=1
[[ "${1:-}" == "--no-browser" ]] && want_browser=0

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[setup] %s\033[0m\n' "$*" >&2; exit 1; }
as_root() { if [[ $(id -u) == 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {
  command -v apt-get >/dev/null || return 1
  if [[ ! -f .cache/apt-updated ]]; then as_root apt-get update -qq && touch .cache/apt-updated; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# --- 1. Rust for wasm32 ---------------------------------------------------------------------------
toolchain_env=.cache/toolchain.env
if [[ ! -f $toolchain_env ]] || ! (source $toolchain_env && eval "$WASM_CARGO --version" >/dev/null 2>&1); then
  if command -v rustup >/dev/null && rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
    say "rust: rustup with the wasm32-unknown-unknown target"
    echo 'WASM_CARGO="cargo"; WASM_CARGO_ARGS=""' > $toolchain_env
  else
    say "rust: rustup cannot add wasm32; trying Debian's rustc-web + rust-web-src (build-std)"
    apt_install rustc-web cargo-web rust-web-src lld ||
      die "cannot get a Rust toolchain for wasm32: install rustup (https://rustup.rs) and run 'rustup target add wasm32-unknown-unknown'"
    cat > $toolchain_env <<'ENV'
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld
WASM_CARGO="/usr/bin/cargo"; WASM_CARGO_ARGS="-Z build-std=std,panic_abort"
ENV
  fi
fi
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"

# --- 2. wasm-bindgen-cli, same version as the crate ---------------------------------------------
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
[[ -n $bindgen_version ]] || die "Cargo.lock names no wasm-bindgen version"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
  say "installing wasm-bindgen-cli $bindgen_version (about 4 minutes, once)"
  cargo install -q wasm-bindgen-cli --version "$bindgen_version" --locked 2>/dev/null ||
    cargo install -q wasm-bindgen-cli --version "$bindgen_version" ||
    die "could not install wasm-bindgen-cli $bindgen_version"
fi

# --- 3. npm dev dependencies ----------------------------------------------------------------------
if [[ ! -d node_modules/playwright-core || ! -d node_modules/binaryen || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "npm dependencies"
  if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
fi

# --- 4. Chromium --------------------------------------------------------------------------------
if [[ $want_browser == 1 ]] && ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
  say "installing Mesa lavapipe (a Vulkan GPU in software) for the native GPU MaxSim tests"
  apt_install mesa-vulkan-drivers libvulkan1 || say "no lavapipe: the native GPU tests will fail under npm test"
fi
if [[ $want_browser == 1 ]] && ! command -v chromium >/dev/null && [[ -z "${CHROMIUM_PATH:-}" ]]; then
  say "installing Debian's chromium for the browser tests"
  apt_install chromium || die "no chromium: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH"
fi

# --- 5. Qdrant Edge (Qdrant's engine in-process) for the hand-off's parity test -------------------
if [[ $want_browser == 1 ]] && ! .cache/venv-qdrant/bin/python -c "import qdrant_edge" 2>/dev/null; then
  say "Qdrant Edge (qdrant-edge-py) for the Qdrant parity test"
  python3 -m venv .cache/venv-qdrant
  .cache/venv-qdrant/bin/pip install -q --disable-pip-version-check "qdrant-edge-py==0.9.0"
fi

# --- 6. default model bundle --------------------------------------------------------------------
bash scripts/build-model.sh
