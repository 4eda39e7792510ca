//! How well does each document match the query? MaxSim: for every query token, the best dot product
//! with any document token, summed over query tokens. One trait, one implementation per backend; the
//! scalar one is the reference every other backend is checked against (tests/score.rs).

mod lanes;

pub use lanes::LanesMaxSim;

use crate::index::TokenStore;
use crate::model::TokenVectors;

pub trait MaxSim: Send + Sync {
    /// Short backend name reported with results ("scalar", "simd", "webgpu").
    fn name(&self) -> &'static str;
    /// One score per stored passage, in store order.
    fn score_all(&self, query: &TokenVectors, store: &TokenStore) -> Vec<f32>;
}

/// Every CPU backend, reference first: what the conformance suite runs.
pub fn cpu_backends() -> Vec<Box<dyn MaxSim>> {
    vec![Box::new(ScalarMaxSim), Box::new(LanesMaxSim)]
}

/// Plain loops, no tricks: the reference.
pub struct ScalarMaxSim;

impl MaxSim for ScalarMaxSim {
    fn name(&self) -> &'static str {
        "scalar"
    }

    fn score_all(&self, query: &TokenVectors, store: &TokenStore) -> Vec<f32> {
        store
            .passages()
            .iter()
            .map(|p| maxsim(query, &p.vectors))
            .collect()
    }
}

/// MaxSim of one query against one document. A document with no tokens scores 0.
pub fn maxsim(query: &TokenVectors, doc: &TokenVectors) -> f32 {
    if doc.n_tokens() == 0 {
        return 0.0;
    }
    (0..query.n_tokens())
        .map(|qi| {
            let q = query.row(qi);
            (0..doc.n_tokens())
                .map(|di| dot(q, doc.row(di)))
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .sum()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Indices of the `k` highest scores, best first; equal scores keep store order. NaN ranks last.
pub fn top_k(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
    let by_score_desc = |a: &(usize, f32), b: &(usize, f32)| {
        let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
        key(b.1).total_cmp(&key(a.1)).then(a.0.cmp(&b.0))
    };
    if k < ranked.len() {
        ranked.select_nth_unstable_by(k, by_score_desc);
        ranked.truncate(k);
    }
    ranked.sort_by(by_score_desc);
    ranked
}
