#!/usr/bin/env bash
# The GPU benchmark on a lent GPU machine (the `device` tool), which has a GPU driver but no Vulkan
# loader, no Rust and no network. Two steps:
#   here:    bash scripts/gpu-bench-device.sh prepare [COMMIT...]
#            builds examples/gpu_bench (release, stripped) from the working tree into .devbench/, one
#            more per COMMIT (an earlier kernel, timed on the same adapter), and downloads the Vulkan
#            loader packages into .gl/ (both folders git-ignored through .git/info/exclude);
#   there:   run `bash scripts/gpu-bench-device.sh run [DOCS...]` with carry [".gl", ".devbench"].
# A million int8 documents take ~2 minutes to generate and upload before the first search:
# GPU_BENCH_1M=1 adds that run (give the call timeout_s 600).
set -euo pipefail
cd "$(dirname "$0")/.."

prepare() {
    mkdir -p .devbench
    for ignored in /.devbench/ /.gl/; do
        grep -qx "$ignored" .git/info/exclude || echo "$ignored" >>.git/info/exclude
    done
    cargo build --release --example gpu_bench
    strip -o .devbench/gpu_bench target/release/examples/gpu_bench
    for commit in "$@"; do
        local tree=target/gpu-bench-$commit
        rm -rf "$tree" && git worktree add -f --detach "$tree" "$commit"
        (cd "$tree" && CARGO_TARGET_DIR="$PWD/../../target" cargo build --release --example gpu_bench)
        strip -o ".devbench/gpu_bench_$commit" target/release/examples/gpu_bench
        git worktree remove --force "$tree"
    done
    # The worktree builds overwrote the example binary: leave the working tree's in target/.
    cargo build --release --example gpu_bench
    if ! ls .gl/*.deb >/dev/null 2>&1; then
        mkdir -p .gl /tmp/amd64/partial
        local o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
        apt-get "${o[@]}" update
        (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
    fi
}

run() {
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
    export XDG_RUNTIME_DIR=/tmp
    nvidia-smi -L || true
    local out=${OUT:-/tmp}
    for bench in .devbench/gpu_bench*; do
        echo "== $bench"
        timeout 240 "$bench" "$@" 2>&1 | tee "$out/$(basename "$bench").txt"
    done
    if [ -n "${GPU_BENCH_1M:-}" ]; then
        echo "== .devbench/gpu_bench, 1M int8"
        GPU_BENCH_QUICK=1 GPU_BENCH_PRECISION=int8 timeout 300 .devbench/gpu_bench 1000000 2>&1 |
            tee "$out/gpu_bench_1m.txt"
    fi
}

"$@"
