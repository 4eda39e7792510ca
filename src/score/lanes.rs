//! The SIMD CPU backend. Dot products run in eight independent accumulator lanes, a shape LLVM turns
//! into `f32x4` multiply-adds under wasm `simd128` (and SSE/AVX natively) without `unsafe` or
//! per-architecture code; each document token is loaded once and compared with every query token.

use super::MaxSim;
use crate::index::TokenStore;
use crate::model::TokenVectors;

const LANES: usize = 8;

pub struct LanesMaxSim;

impl MaxSim for LanesMaxSim {
    fn name(&self) -> &'static str {
        "simd"
    }

    fn score_all(&self, query: &TokenVectors, store: &TokenStore) -> Vec<f32> {
        let mut best = vec![f32::NEG_INFINITY; query.n_tokens()];
        store
            .passages()
            .iter()
            .map(|p| maxsim_lanes(query, &p.vectors, &mut best))
            .collect()
    }
}

/// MaxSim of one document; `best` is scratch space of one slot per query token.
fn maxsim_lanes(query: &TokenVectors, doc: &TokenVectors, best: &mut [f32]) -> f32 {
    if doc.n_tokens() == 0 {
        return 0.0;
    }
    best.fill(f32::NEG_INFINITY);
    for d in doc.data.chunks_exact(doc.dim) {
        for (slot, q) in best.iter_mut().zip(query.data.chunks_exact(query.dim)) {
            *slot = slot.max(dot(q, d));
        }
    }
    best.iter().sum()
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for lane in 0..LANES {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}
