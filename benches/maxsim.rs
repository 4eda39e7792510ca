//! Native MaxSim throughput per CPU backend and storage precision: `cargo bench --bench maxsim`.
//! Documents × 128 tokens × 128 dims against a 32-token query; prints docs/s and GFLOP/s (mul+add = 2,
//! counted for every precision as if it were f32, so the figures compare work done per second).

use std::time::Instant;

use colbert_wasm::index::{whole_text_passage, Precision, TokenStore};
use colbert_wasm::model::TokenVectors;
use colbert_wasm::score::bench::synthetic_vectors;
use colbert_wasm::score::{registry, QueryTokens};

fn main() {
    let (dim, doc_tokens, query_tokens) = (128, 128, 32);
    let mut seed = 7;
    for docs in [1_000, 10_000] {
        let all: Vec<TokenVectors> = (0..docs)
            .map(|_| synthetic_vectors(doc_tokens, dim, &mut seed))
            .collect();
        let query = QueryTokens::new(&synthetic_vectors(query_tokens, dim, &mut seed));
        let flops = 2.0 * (docs * doc_tokens * query_tokens * dim) as f64;
        let mut reference = None;
        for precision in Precision::ALL {
            let mut store = TokenStore::new(precision, dim);
            for (i, d) in all.iter().enumerate() {
                store.upsert(&format!("d{i}"), vec![whole_text_passage("", d.clone())]);
            }
            for backend in registry(None) {
                backend.score_all(&query, &store); // warm-up
                let runs = 3;
                let started = Instant::now();
                let mut scores = Vec::new();
                for _ in 0..runs {
                    scores = backend.score_all(&query, &store);
                }
                let secs = started.elapsed().as_secs_f64() / runs as f64;
                let base = *reference.get_or_insert(secs);
                println!(
                    "{docs:>6} docs  {:<7} {:<6} {:>9.0} docs/s  {:>6.2} GFLOP/s  {:>5.2}x scalar f32  (checksum {:.3})",
                    backend.name(),
                    precision.name(),
                    docs as f64 / secs,
                    flops / secs / 1e9,
                    base / secs,
                    scores.iter().sum::<f32>()
                );
            }
        }
    }
}
