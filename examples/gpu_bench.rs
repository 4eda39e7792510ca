//! GPU MaxSim throughput: `cargo run --release --example gpu_bench [docs...]` (default 10000 100000;
//! `GPU_BENCH_PRECISION=int8 ... gpu_bench 1000000` for a million documents in int8 alone). Synthetic unit vectors, 128 tokens x 128 dims per
//! document, a 32-token query, every storage precision. For each: the adapter, the upload time, ms per
//! search, docs/s, GFLOP/s (mul+add = 2, counted as f32 work in every precision), and the ratio to the
//! SIMD CPU kernel (one thread) measured in the same run (skipped at 1M documents: over a minute of
//! CPU). Earlier kernels are compared by running this example as built from their commits on the same
//! adapter (`scripts/gpu-bench-device.sh`).
//! Also: time to the first search and bytes uploaded after adding 8 documents to, and removing one
//! from, a resident 100k-passage index (only the change is uploaded), next to a steady-state search.
//! `GPU_BENCH_QUICK=1` times the GPU alone (no CPU kernel, no residency lines): for kernel variants.

use std::time::Instant;

use colbert_wasm::index::{whole_text_passage, Precision, TokenStore};
use colbert_wasm::model::TokenVectors;
use colbert_wasm::score::bench::synthetic_vectors;
use colbert_wasm::score::{GpuMaxSim, LanesMaxSim, MaxSim, QueryTokens};

const DIM: usize = 128;
const DOC_TOKENS: usize = 128;
const QUERY_TOKENS: usize = 32;

/// `docs` documents cycling through `distinct` generated ones (generation dominates otherwise).
fn store(distinct: &[TokenVectors], docs: usize, precision: Precision) -> TokenStore {
    let mut store = TokenStore::new(precision, DIM);
    for i in 0..docs {
        store.upsert(
            &i.to_string(),
            vec![whole_text_passage("", distinct[i % distinct.len()].clone())],
        );
    }
    store
}

/// Upload + first search ms, ms per search one at a time over `runs`, ms per search with `runs` in
/// flight at once (what the GPU sustains once a search's fixed latency, submission to read-back, is
/// overlapped), and the first search's scores.
fn time_gpu(
    gpu: &GpuMaxSim,
    query: &QueryTokens,
    store: &TokenStore,
    runs: usize,
) -> (f64, f64, f64, Vec<f32>) {
    let search = || gpu.dispatch(query, store).expect("GPU dispatch");
    let started = Instant::now();
    let first = search().wait().expect("GPU search");
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    // Back-to-back searches for a moment first: an idle GPU runs at a fraction of its clock.
    let warming = Instant::now();
    while warming.elapsed().as_millis() < 300 {
        search().wait().expect("GPU search");
    }
    let per_search = |started: Instant| started.elapsed().as_secs_f64() * 1e3 / runs as f64;
    let started = Instant::now();
    for _ in 0..runs {
        search().wait().expect("GPU search");
    }
    let one_at_a_time = per_search(started);
    let started = Instant::now();
    let pending: Vec<_> = (0..runs).map(|_| search()).collect();
    for p in pending {
        p.wait().expect("GPU search");
    }
    (first_ms, one_at_a_time, per_search(started), first)
}

fn main() {
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = vec![10_000, 100_000];
    }
    // A variant of the kernel (same interface) from a file, for trying one on a lent GPU without
    // rebuilding.
    let new = match std::env::var("GPU_BENCH_SHADER") {
        Ok(path) => {
            let shader = std::fs::read_to_string(&path).expect("GPU_BENCH_SHADER file");
            println!("kernel: {path}");
            pollster::block_on(GpuMaxSim::with_shader(true, None, &shader))
        }
        Err(_) => GpuMaxSim::new_blocking(true, None),
    }
    .expect("a GPU adapter");
    println!("adapter: {}", new.adapter_name);
    let mut seed = 7;
    let distinct: Vec<TokenVectors> = (0..512)
        .map(|_| synthetic_vectors(DOC_TOKENS, DIM, &mut seed))
        .collect();
    let query = QueryTokens::new(&synthetic_vectors(QUERY_TOKENS, DIM, &mut seed));
    println!("| docs | precision | upload+first ms | ms/search | docs/s | GFLOP/s | x SIMD CPU | docs/s, searches in flight | max |score diff| |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let quick = std::env::var("GPU_BENCH_QUICK").is_ok();
    // `GPU_BENCH_PRECISION=int8` (say) times one precision: a million f32 documents need 65 GB.
    let only = std::env::var("GPU_BENCH_PRECISION").ok();
    let precisions: Vec<Precision> = Precision::ALL
        .into_iter()
        .filter(|p| only.as_deref().is_none_or(|name| name == p.name()))
        .collect();
    let cases: Vec<(usize, Precision)> = sizes
        .iter()
        .flat_map(|&d| precisions.iter().map(move |&p| (d, p)))
        .collect();
    for (docs, precision) in cases {
        let store = store(&distinct, docs, precision);
        let runs = if docs >= 1_000_000 { 3 } else { 10 };
        let (first_ms, ms, in_flight_ms, scores) = time_gpu(&new, &query, &store, runs);
        let (cpu_ratio, diff) = if docs < 1_000_000 && !quick {
            let started = Instant::now();
            let cpu = LanesMaxSim.score_all(&query, &store);
            let cpu_ms = started.elapsed().as_secs_f64() * 1e3;
            let diff = scores
                .iter()
                .zip(&cpu)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            (format!("{:.1}", cpu_ms / ms), format!("{diff:.2e}"))
        } else {
            ("—".into(), "—".into())
        };
        let flops = 2.0 * (docs * DOC_TOKENS * QUERY_TOKENS * DIM) as f64;
        println!(
            "| {docs} | {} | {first_ms:.1} | {ms:.3} | {:.0} | {:.0} | {cpu_ratio} | {:.0} | {diff} |",
            precision.name(),
            docs as f64 / (ms / 1e3),
            flops / (ms / 1e3) / 1e9,
            docs as f64 / (in_flight_ms / 1e3),
        );
        drop(store);
    }
    if quick {
        return;
    }
    // Residency: adding 8 documents to a resident 100k-passage index, then searching; then removing one.
    let mut big = store(&distinct, 100_000, Precision::Int8);
    let (upload_ms, steady_ms, _, _) = time_gpu(&new, &query, &big, 3);
    let after_change = |what: &str, big: &TokenStore| {
        let before = new.uploaded_bytes();
        let started = Instant::now();
        new.dispatch(&query, big)
            .and_then(|p| p.wait())
            .expect("GPU search");
        println!(
            "resident 100k-passage int8 index, first search after {what}: {:.1} ms, {} KB uploaded (first upload + search {upload_ms:.0} ms; steady search {steady_ms:.1} ms)",
            started.elapsed().as_secs_f64() * 1e3,
            (new.uploaded_bytes() - before) / 1024
        );
    };
    for i in 0..8 {
        big.upsert(
            &format!("new{i}"),
            vec![whole_text_passage("", distinct[i].clone())],
        );
    }
    after_change("adding 8 documents", &big);
    big.remove("17");
    after_change("removing 1 document", &big);
}
