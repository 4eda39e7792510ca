//! What does a MaxSim benchmark run on? Seeded synthetic unit vectors (no model needed, any size) and
//! a multiply-add loop that measures the machine's SIMD peak, shared by the native bench and the
//! wasm one (`npm run bench:maxsim`).

use crate::index::{whole_text_passage, Precision, StagedDocument, TokenStore};
use crate::model::TokenVectors;

/// `n` unit-length rows of `dim` values from a seeded LCG.
pub fn synthetic_vectors(n: usize, dim: usize, seed: &mut u64) -> TokenVectors {
    let mut data: Vec<f32> = (0..n * dim)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    for row in data.chunks_mut(dim.max(1)) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    TokenVectors {
        dim,
        data,
        offsets: vec![None; n],
    }
}

/// Distinct words the synthetic texts draw from.
const VOCABULARY: u64 = 30_000;

/// `n` words drawn from a Zipf-like distribution over `VOCABULARY` ("w0" most often), as text: gives
/// the lexical index a realistic spread of frequent and rare terms.
pub fn synthetic_text(n: usize, seed: &mut u64) -> String {
    let words: Vec<String> = (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((*seed >> 11) as f64 / (1u64 << 53) as f64).max(1e-12);
            // Rank ~ VOCABULARY^u: log-uniform ranks, a Zipf (exponent 1) frequency per rank.
            let rank = (VOCABULARY as f64).powf(u) as u64 - 1;
            format!("w{rank}")
        })
        .collect();
    words.join(" ")
}

/// Words per synthetic passage of `tokens` tokens (English runs ~1.3 tokens per word).
pub fn words_for_tokens(tokens: usize) -> usize {
    tokens * 3 / 4
}

/// Width of the synthetic passages' sentence vectors: the default bundle's (MiniLM's 384).
pub const SENTENCE_DIM: usize = 384;

/// `docs` one-passage documents of `tokens` synthetic tokens each (and as many words as such a
/// passage holds, and a sentence vector as the default bundle gives), stored in `precision`.
pub fn synthetic_store(
    docs: usize,
    tokens: usize,
    dim: usize,
    precision: Precision,
    seed: u64,
) -> crate::Result<TokenStore> {
    let mut seed = seed;
    let mut store = TokenStore::new(precision, dim);
    for i in 0..docs {
        let vectors = synthetic_vectors(tokens, dim, &mut seed);
        let text = synthetic_text(words_for_tokens(tokens), &mut seed);
        let mut passage = whole_text_passage(&text, vectors);
        passage.sentence = Some(synthetic_vectors(1, SENTENCE_DIM, &mut seed).data);
        // As a commit does: room first (an arena's growth past doubling's reach, see `reserve`).
        let mut staged = StagedDocument::new(precision, dim);
        staged.push(passage);
        store.try_reserve(&[&staged])?;
        store.upsert_staged(&i.to_string(), Default::default(), staged);
    }
    Ok(store)
}

/// Runs `iterations` x 8 independent f32x4 multiply-adds; returns a value to keep (so the loop is
/// not optimised away). Flops done: `iterations * 8 * 4 * 2`.
pub fn mul_add_peak(iterations: u32) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        let mul = f32x4_splat(0.999_999);
        let add = f32x4_splat(1e-7);
        let mut acc = [f32x4_splat(1.0); 8];
        for _ in 0..iterations {
            for a in acc.iter_mut() {
                *a = f32x4_add(f32x4_mul(*a, mul), add);
            }
        }
        acc.iter().map(|a| f32x4_extract_lane::<0>(*a)).sum()
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let mut acc = [[1.0f32; 4]; 8];
        for _ in 0..iterations {
            for a in acc.iter_mut() {
                for v in a.iter_mut() {
                    *v = *v * 0.999_999 + 1e-7;
                }
            }
            std::hint::black_box(&mut acc);
        }
        acc.iter().map(|a| a[0]).sum()
    }
}
