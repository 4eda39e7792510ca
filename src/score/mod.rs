//! How well does each document match the query? MaxSim: for every query token, the best dot product
//! with any document token, summed over query tokens. One trait, one implementation per backend; the
//! scalar one is the reference every other backend is checked against (tests/score.rs), in every
//! storage precision. A binary index's first pass compares sign bits with sign bits (XOR and
//! popcount, no decoding) and its candidates are re-scored from the int8 tier.

mod backends;
pub mod bench;
mod gpu;
mod lanes;

pub use crate::error::GpuError;
pub use backends::{
    registry, size_class, BackendChoice, Backends, Measurement, SCALAR, SIMD, WEBGPU,
};
pub use gpu::{GpuMaxSim, PendingScores};

use std::ops::Range;

pub use lanes::LanesMaxSim;

use crate::index::{
    pack_signs, words_per_token, Int8Tokens, PackedTokens, StoredPassage, TokenStore,
};
use crate::model::TokenVectors;

/// A query made ready for every precision once per search.
pub struct QueryTokens {
    pub dim: usize,
    /// Row-major f32 vectors, `dim` per token.
    pub data: Vec<f32>,
    /// The same vectors quantised per token, for integer dot products against int8 documents.
    pub int8: Int8Tokens,
    /// The int8 codes widened to i16 once per search, for the wasm int8 kernel's dot products.
    pub int8_wide: Vec<i16>,
    /// Sign bits per token (`words_per_token(dim)` words each), for a binary index's first pass.
    pub signs: Vec<u32>,
}

impl QueryTokens {
    pub fn new(query: &TokenVectors) -> QueryTokens {
        let int8 = Int8Tokens::quantize(&query.data, query.dim);
        QueryTokens {
            dim: query.dim,
            data: query.data.clone(),
            int8_wide: int8.codes.iter().map(|c| i16::from(*c)).collect(),
            int8,
            signs: query
                .data
                .chunks_exact(query.dim.max(1))
                .flat_map(pack_signs)
                .collect(),
        }
    }

    pub fn n_tokens(&self) -> usize {
        self.int8.scales.len()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn int8_row(&self, i: usize) -> &[i8] {
        &self.int8.codes[i * self.dim..(i + 1) * self.dim]
    }

    pub fn sign_row(&self, i: usize) -> &[u32] {
        token_signs(&self.signs, self.dim, i)
    }
}

/// MaxSim's argmax for one query row against full-precision document rows: the row with the best
/// dot product and that product (the first on ties); `None` for a document without rows.
pub fn best_match(query_row: &[f32], doc: &TokenVectors) -> Option<(usize, f32)> {
    (0..doc.n_tokens())
        .map(|t| {
            (
                t,
                query_row
                    .iter()
                    .zip(doc.row(t))
                    .map(|(a, b)| a * b)
                    .sum::<f32>(),
            )
        })
        .fold(None, |best: Option<(usize, f32)>, (t, s)| match best {
            Some((_, top)) if s <= top => best,
            _ => Some((t, s)),
        })
}

pub trait MaxSim: Send + Sync {
    /// Short backend name reported with results ("scalar", "simd", "webgpu").
    fn name(&self) -> &'static str;
    /// One score per stored passage, in store order. For a binary store these are first-pass scores
    /// (see [`rerank`]).
    fn score_all(&self, query: &QueryTokens, store: &TokenStore) -> Vec<f32>;
}

/// Plain loops over one query token and one document token at a time: the reference.
pub struct ScalarMaxSim;

impl MaxSim for ScalarMaxSim {
    fn name(&self) -> &'static str {
        SCALAR
    }

    fn score_all(&self, query: &QueryTokens, store: &TokenStore) -> Vec<f32> {
        store
            .passages()
            .iter()
            .map(|p| {
                reference_maxsim(query, p.tokens.clone(), |qi, t| {
                    similarity(query, qi, store.tokens(), t)
                })
            })
            .collect()
    }
}

/// MaxSim over the document tokens `doc`, given a query-token x document-token similarity.
/// A document with no tokens scores 0.
fn reference_maxsim(
    query: &QueryTokens,
    doc: Range<usize>,
    sim: impl Fn(usize, usize) -> f32,
) -> f32 {
    if doc.is_empty() {
        return 0.0;
    }
    (0..query.n_tokens())
        .map(|qi| {
            doc.clone()
                .map(|t| sim(qi, t))
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .sum()
}

/// The similarity every backend must compute for query token `qi` and stored token `t`:
/// f32/f16 a float dot product, int8 an integer dot product of the quantised query and document
/// scaled by both scales, binary the dot product of the two ±1 sign vectors (`binary_score`).
fn similarity(query: &QueryTokens, qi: usize, tokens: &PackedTokens, t: usize) -> f32 {
    let dim = query.dim;
    match tokens {
        PackedTokens::Int8(doc) => int8_similarity(query, qi, doc, dim, t),
        PackedTokens::Binary { bits, .. } => {
            let differing: u32 = query
                .sign_row(qi)
                .iter()
                .zip(token_signs(bits, dim, t))
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            binary_score(dim, differing)
        }
        PackedTokens::F32(_) | PackedTokens::F16(_) => {
            let doc = tokens.decode(dim, t);
            query.row(qi).iter().zip(&doc).map(|(a, b)| a * b).sum()
        }
    }
}

/// The ±1 dot product of two sign vectors that differ in `differing` of `dim` places: an integer,
/// so every backend's sums agree to the bit.
#[inline(always)]
pub fn binary_score(dim: usize, differing: u32) -> f32 {
    (dim as i32 - 2 * differing as i32) as f32
}

fn int8_similarity(query: &QueryTokens, qi: usize, doc: &Int8Tokens, dim: usize, t: usize) -> f32 {
    let codes = &doc.codes[t * dim..(t + 1) * dim];
    let dot: i32 = query
        .int8_row(qi)
        .iter()
        .zip(codes)
        .map(|(a, b)| i32::from(*a) * i32::from(*b))
        .sum();
    int8_score(dot, query.int8.scales[qi], doc.scales[t])
}

/// One expression for every backend, so int8 scores agree to the bit.
#[inline(always)]
pub fn int8_score(dot: i32, query_scale: f32, doc_scale: f32) -> f32 {
    dot as f32 * (query_scale * doc_scale)
}

/// How many first-pass candidates a binary index re-scores exactly for a top-`k` search.
pub fn rerank_depth(k: usize) -> usize {
    (8 * k).max(256)
}

/// Passage scores for a search from a backend's scan (which may have run on the GPU): a binary index
/// re-scores its best `rerank_depth(k)` passages from the int8 tier and drops the rest (NaN, ranked
/// last by `top_k`); other precisions keep the scan's scores.
pub fn finish_first_pass(
    query: &QueryTokens,
    store: &TokenStore,
    first_pass: Vec<f32>,
    k: usize,
) -> Vec<f32> {
    match store.tokens() {
        PackedTokens::Binary { rerank: tier, .. } => {
            rerank(query, tier, store.passages(), &first_pass, rerank_depth(k))
        }
        _ => first_pass,
    }
}

/// Exact int8 scores for the `depth` best first-pass passages; NaN for the others.
pub fn rerank(
    query: &QueryTokens,
    tier: &Int8Tokens,
    passages: &[StoredPassage],
    first_pass: &[f32],
    depth: usize,
) -> Vec<f32> {
    let mut scores = vec![f32::NAN; first_pass.len()];
    // NaN first-pass scores (filtered out) stay out of the re-rank.
    for (slot, _) in top_k(first_pass, depth)
        .into_iter()
        .filter(|(_, s)| !s.is_nan())
    {
        scores[slot] = lanes::int8_maxsim(query, tier, passages[slot].tokens.clone());
    }
    scores
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

/// Sign-bit words of token `t` in a binary arena (or a query's signs).
pub(crate) fn token_signs(bits: &[u32], dim: usize, t: usize) -> &[u32] {
    let w = words_per_token(dim);
    &bits[t * w..(t + 1) * w]
}
