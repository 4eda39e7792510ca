//! GPU MaxSim throughput: `cargo run --release --example gpu_bench [docs...]` (default 10000 100000;
//! `GPU_BENCH_1M=1` adds 1,000,000 documents in int8). Synthetic unit vectors, 128 tokens x 128 dims per
//! document, a 32-token query, every storage precision. For each: the adapter, the upload time, ms per
//! search, docs/s, GFLOP/s (mul+add = 2, counted as f32 work in every precision), and ratios to the
//! SIMD CPU kernel (one thread) and to the earlier kernel (examples/shaders/maxsim_v1.wgsl) measured in
//! the same run on the same adapter (its binary path still scores the f32 query against the signs).
//! Also: time to the first search and bytes uploaded after adding 8 documents to, and removing one
//! from, a resident 100k-passage index (only the change is uploaded), next to a steady-state search.

use std::time::Instant;

use colbert_wasm::index::{whole_text_passage, Precision, TokenStore};
use colbert_wasm::model::TokenVectors;
use colbert_wasm::score::bench::synthetic_vectors;
use colbert_wasm::score::{GpuMaxSim, LanesMaxSim, MaxSim, QueryTokens};

const DIM: usize = 128;
const DOC_TOKENS: usize = 128;
const QUERY_TOKENS: usize = 32;
const V1_SHADER: &str = include_str!("shaders/maxsim_v1.wgsl");

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

/// (upload + first search ms, ms per search over `runs`).
fn time_gpu(
    gpu: &GpuMaxSim,
    query: &QueryTokens,
    store: &TokenStore,
    runs: usize,
) -> (f64, f64, Vec<f32>) {
    let started = Instant::now();
    let first = gpu
        .dispatch(query, store)
        .and_then(|p| p.wait())
        .expect("GPU search");
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    for _ in 0..runs {
        gpu.dispatch(query, store)
            .and_then(|p| p.wait())
            .expect("GPU search");
    }
    (
        first_ms,
        started.elapsed().as_secs_f64() * 1e3 / runs as f64,
        first,
    )
}

fn main() {
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = vec![10_000, 100_000];
    }
    let new = GpuMaxSim::new_blocking(true, None).expect("a GPU adapter");
    let old = pollster::block_on(GpuMaxSim::with_shader(true, None, V1_SHADER))
        .expect("the earlier kernel");
    println!("adapter: {}", new.adapter_name);
    let mut seed = 7;
    let distinct: Vec<TokenVectors> = (0..512)
        .map(|_| synthetic_vectors(DOC_TOKENS, DIM, &mut seed))
        .collect();
    let query = QueryTokens::new(&synthetic_vectors(QUERY_TOKENS, DIM, &mut seed));
    println!("| docs | precision | upload+first ms | ms/search | docs/s | GFLOP/s | x SIMD CPU | x earlier kernel | max |score diff| |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut cases: Vec<(usize, Precision)> = sizes
        .iter()
        .flat_map(|&d| Precision::ALL.iter().map(move |&p| (d, p)))
        .collect();
    if std::env::var("GPU_BENCH_1M").is_ok() {
        cases.push((1_000_000, Precision::Int8));
    }
    for (docs, precision) in cases {
        let store = store(&distinct, docs, precision);
        let runs = if docs >= 1_000_000 { 3 } else { 10 };
        let (first_ms, ms, scores) = time_gpu(&new, &query, &store, runs);
        let (_, old_ms, _) = time_gpu(&old, &query, &store, runs.min(3));
        let started = Instant::now();
        let cpu = LanesMaxSim.score_all(&query, &store);
        let cpu_ms = started.elapsed().as_secs_f64() * 1e3;
        let diff = scores
            .iter()
            .zip(&cpu)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        let flops = 2.0 * (docs * DOC_TOKENS * QUERY_TOKENS * DIM) as f64;
        println!(
            "| {docs} | {} | {first_ms:.1} | {ms:.3} | {:.0} | {:.0} | {:.1} | {:.1} | {diff:.2e} |",
            precision.name(),
            docs as f64 / (ms / 1e3),
            flops / (ms / 1e3) / 1e9,
            cpu_ms / ms,
            old_ms / ms,
        );
        drop(store);
    }
    // Residency: adding 8 documents to a resident 100k-passage index, then searching; then removing one.
    let mut big = store(&distinct, 100_000, Precision::Int8);
    let (upload_ms, steady_ms, _) = time_gpu(&new, &query, &big, 3);
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
