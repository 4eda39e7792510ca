//! The SIMD CPU backend. Float dot products run in eight independent accumulator lanes, a shape LLVM
//! turns into `f32x4` multiply-adds under wasm `simd128` (and SSE/AVX natively) without per-architecture
//! code; on wasm, f32 and int8 are register-blocked by hand (four query tokens per loaded document
//! chunk; int8 through `i32x4.dot_i16x8_s`). Binary compares sign words by XOR and popcount.
//! Each document token is loaded (and decoded) once and compared with every query token.

use std::ops::Range;

use half::slice::HalfFloatSliceExt;

use super::{binary_score, int8_score, MaxSim, QueryTokens};
use crate::index::{words_per_token, Int8Tokens, PackedTokens, TokenStore};

const LANES: usize = 8;

pub struct LanesMaxSim;

impl MaxSim for LanesMaxSim {
    fn name(&self) -> &'static str {
        super::SIMD
    }

    fn score_all(&self, query: &QueryTokens, store: &TokenStore) -> Vec<f32> {
        let dim = query.dim;
        let mut decoded = vec![0f32; dim];
        store
            .passages()
            .iter()
            .map(|p| {
                let doc = p.tokens.clone();
                match store.tokens() {
                    PackedTokens::F32(data) => fold_best(query, doc, |t, best| {
                        best_dots(query, &data[t * dim..(t + 1) * dim], best)
                    }),
                    PackedTokens::F16(data) => fold_best(query, doc, |t, best| {
                        data[t * dim..(t + 1) * dim].convert_to_f32_slice(&mut decoded);
                        best_dots(query, &decoded, best)
                    }),
                    PackedTokens::Int8(tokens) => int8_maxsim(query, tokens, doc),
                    PackedTokens::Binary { bits, .. } => binary_maxsim(query, bits, doc),
                }
            })
            .collect()
    }
}

/// Sums over query tokens of the best similarity, given each query token's similarities to one
/// document token at a time (`for_token` raises `best`).
fn fold_best(
    query: &QueryTokens,
    doc: Range<usize>,
    mut for_token: impl FnMut(usize, &mut [f32]),
) -> f32 {
    if doc.is_empty() {
        return 0.0;
    }
    let mut best = vec![f32::NEG_INFINITY; query.n_tokens()];
    for t in doc {
        for_token(t, &mut best);
    }
    best.iter().sum()
}

/// Raises each query token's best so far with its dot product against document token `d`.
fn best_dots(query: &QueryTokens, d: &[f32], best: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if query.dim % 8 == 0 {
        return wasm_best_dots(query, d, best);
    }
    for (slot, q) in best.iter_mut().zip(query.data.chunks_exact(query.dim)) {
        *slot = slot.max(dot(q, d));
    }
}

/// Four query tokens at a time against one document token: each document chunk is loaded once for
/// four products, and two accumulators per query token (eight chains) hide the add latency.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn wasm_best_dots(query: &QueryTokens, d: &[f32], best: &mut [f32]) {
    use core::arch::wasm32::*;
    let dim = query.dim;
    let hsum = |v: v128| {
        f32x4_extract_lane::<0>(v)
            + f32x4_extract_lane::<1>(v)
            + f32x4_extract_lane::<2>(v)
            + f32x4_extract_lane::<3>(v)
    };
    let mut blocks = best.chunks_exact_mut(4);
    let mut qi = 0;
    for slots in &mut blocks {
        let rows: [&[f32]; 4] = std::array::from_fn(|i| query.row(qi + i));
        let mut acc = [f32x4_splat(0.0); 8];
        for c in (0..dim).step_by(8) {
            // SAFETY: c + 8 <= dim (dim is a multiple of 8) and every row and `d` are `dim` long.
            unsafe {
                let d0 = v128_load(d.as_ptr().add(c).cast());
                let d1 = v128_load(d.as_ptr().add(c + 4).cast());
                for (i, row) in rows.iter().enumerate() {
                    let q0 = v128_load(row.as_ptr().add(c).cast());
                    let q1 = v128_load(row.as_ptr().add(c + 4).cast());
                    acc[2 * i] = f32x4_add(acc[2 * i], f32x4_mul(q0, d0));
                    acc[2 * i + 1] = f32x4_add(acc[2 * i + 1], f32x4_mul(q1, d1));
                }
            }
        }
        for (i, slot) in slots.iter_mut().enumerate() {
            *slot = slot.max(hsum(f32x4_add(acc[2 * i], acc[2 * i + 1])));
        }
        qi += 4;
    }
    for slot in blocks.into_remainder() {
        *slot = slot.max(dot(query.row(qi), d));
        qi += 1;
    }
}

/// MaxSim of the int8 query against int8 document tokens `doc` (also the binary index's re-rank).
pub(crate) fn int8_maxsim(query: &QueryTokens, tokens: &Int8Tokens, doc: Range<usize>) -> f32 {
    let dim = query.dim;
    fold_best(query, doc, |t, best| {
        let d = &tokens.codes[t * dim..(t + 1) * dim];
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if dim % 16 == 0 {
            return wasm_int8_best(query, d, tokens.scales[t], best);
        }
        for (qi, slot) in best.iter_mut().enumerate() {
            let dot = int8_dot(query.int8_row(qi), d);
            *slot = slot.max(int8_score(dot, query.int8.scales[qi], tokens.scales[t]));
        }
    })
}

/// Four query tokens at a time against one int8 document token: the document's 16 codes are
/// loaded and widened once for four `i32x4.dot_i16x8_s` pairs (the query is widened once per
/// search), and the four sums come out together as one vector, scaled and maxed four at a time.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn wasm_int8_best(query: &QueryTokens, d: &[i8], doc_scale: f32, best: &mut [f32]) {
    use core::arch::wasm32::*;
    let dim = query.dim;
    let wide = &query.int8_wide;
    let blocks = best.len() / 4;
    for b in 0..blocks {
        let mut acc = [i32x4_splat(0); 4];
        for c in (0..dim).step_by(16) {
            // SAFETY: c + 16 <= dim (a multiple of 16); `d` is `dim` codes and each widened query
            // row is `dim` i16 values starting at (4b + i) * dim.
            unsafe {
                let codes = v128_load(d.as_ptr().add(c).cast());
                let (low, high) = (
                    i16x8_extend_low_i8x16(codes),
                    i16x8_extend_high_i8x16(codes),
                );
                for (i, a) in acc.iter_mut().enumerate() {
                    let row = wide.as_ptr().add((4 * b + i) * dim + c);
                    let q_low = v128_load(row.cast());
                    let q_high = v128_load(row.add(8).cast());
                    *a = i32x4_add(
                        *a,
                        i32x4_add(i32x4_dot_i16x8(q_low, low), i32x4_dot_i16x8(q_high, high)),
                    );
                }
            }
        }
        let dots = f32x4_convert_i32x4(transpose_sum(acc));
        // SAFETY: 4b + 4 <= best.len() == the query's token count == its scales' length.
        unsafe {
            let scales = v128_load(query.int8.scales.as_ptr().add(4 * b).cast());
            let slot = best.as_mut_ptr().add(4 * b);
            let scores = f32x4_mul(dots, f32x4_mul(scales, f32x4_splat(doc_scale)));
            v128_store(slot.cast(), f32x4_max(v128_load(slot.cast()), scores));
        }
    }
    for qi in 4 * blocks..best.len() {
        let dot = int8_dot(query.int8_row(qi), d);
        best[qi] = best[qi].max(int8_score(dot, query.int8.scales[qi], doc_scale));
    }
}

/// The lane sums of four i32x4 vectors, as one vector (lane i = the sum of `v[i]`'s lanes).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn transpose_sum(v: [core::arch::wasm32::v128; 4]) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    let ab = i32x4_add(
        i32x4_shuffle::<0, 4, 1, 5>(v[0], v[1]),
        i32x4_shuffle::<2, 6, 3, 7>(v[0], v[1]),
    );
    let cd = i32x4_add(
        i32x4_shuffle::<0, 4, 1, 5>(v[2], v[3]),
        i32x4_shuffle::<2, 6, 3, 7>(v[2], v[3]),
    );
    i32x4_add(
        i32x4_shuffle::<0, 1, 4, 5>(ab, cd),
        i32x4_shuffle::<2, 3, 6, 7>(ab, cd),
    )
}

/// First-pass MaxSim of a binary index: per query token the fewest sign bits that differ from any
/// document token (XOR and popcount over whole words, nothing decoded), as ±1 dot products.
fn binary_maxsim(query: &QueryTokens, bits: &[u32], doc: Range<usize>) -> f32 {
    let dim = query.dim;
    if doc.is_empty() {
        return 0.0;
    }
    let w = words_per_token(dim);
    let doc_bits = &bits[doc.start * w..doc.end * w];
    let fewest = match w {
        // The common widths get the word count as a constant: the loops unroll and every word of a
        // block of query tokens stays in a register while the document streams past.
        1 => fewest_differing::<1>(&query.signs, doc_bits),
        2 => fewest_differing::<2>(&query.signs, doc_bits),
        3 => fewest_differing::<3>(&query.signs, doc_bits),
        4 => fewest_differing::<4>(&query.signs, doc_bits),
        _ => query
            .signs
            .chunks_exact(w)
            .map(|q| {
                doc_bits
                    .chunks_exact(w)
                    .map(|d| differing_bits(q, d))
                    .min()
                    .unwrap_or(0)
            })
            .collect(),
    };
    fewest.iter().map(|n| binary_score(dim, *n)).sum()
}

/// For each query token (`W` sign words each), the fewest bits in which it differs from any document
/// token; four query tokens at a time.
fn fewest_differing<const W: usize>(query: &[u32], doc: &[u32]) -> Vec<u32> {
    let (query, _) = query.as_chunks::<W>();
    let (doc, _) = doc.as_chunks::<W>();
    let mut fewest = vec![u32::MAX; query.len()];
    let mut blocks = query.chunks_exact(4);
    for (b, block) in (&mut blocks).enumerate() {
        let mut low = [u32::MAX; 4];
        for d in doc {
            for (slot, q) in low.iter_mut().zip(block) {
                *slot = (*slot).min(differing_bits(q, d));
            }
        }
        fewest[4 * b..4 * b + 4].copy_from_slice(&low);
    }
    let done = query.len() - blocks.remainder().len();
    for (slot, q) in fewest[done..].iter_mut().zip(blocks.remainder()) {
        *slot = doc
            .iter()
            .map(|d| differing_bits(q, d))
            .min()
            .unwrap_or(u32::MAX);
    }
    fewest
}

#[inline(always)]
fn differing_bits(a: &[u32], b: &[u32]) -> u32 {
    // Word pairs as u64 (one load and one popcount each where the target has 64-bit ones).
    let (pairs_a, rest_a) = a.as_chunks::<2>();
    let (pairs_b, rest_b) = b.as_chunks::<2>();
    let wide = |w: &[u32; 2]| u64::from(w[0]) | u64::from(w[1]) << 32;
    let pairs: u32 = pairs_a
        .iter()
        .zip(pairs_b)
        .map(|(x, y)| (wide(x) ^ wide(y)).count_ones())
        .sum();
    pairs
        + rest_a
            .iter()
            .zip(rest_b)
            .map(|(x, y)| (x ^ y).count_ones())
            .sum::<u32>()
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

/// Exact integer dot product of two equal-length int8 rows.
#[inline(always)]
fn int8_dot(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        wasm_int8_dot(a, b)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let mut acc = [0i32; 16];
        let (mut ca, mut cb) = (a.chunks_exact(16), b.chunks_exact(16));
        for (x, y) in (&mut ca).zip(&mut cb) {
            for lane in 0..16 {
                acc[lane] += i32::from(x[lane]) * i32::from(y[lane]);
            }
        }
        acc.iter().sum::<i32>() + int8_tail(ca.remainder(), cb.remainder())
    }
}

fn int8_tail(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum()
}

/// 16 int8 pairs per step: sign-extend to i16, then `i32x4.dot_i16x8_s` (8 multiply-adds each).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn wasm_int8_dot(a: &[i8], b: &[i8]) -> i32 {
    use core::arch::wasm32::*;
    let mut acc = i32x4_splat(0);
    let (mut ca, mut cb) = (a.chunks_exact(16), b.chunks_exact(16));
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: both chunks are exactly 16 bytes; v128_load has no alignment requirement.
        let (x, y) = unsafe { (v128_load(x.as_ptr().cast()), v128_load(y.as_ptr().cast())) };
        let low = i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y));
        let high = i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y));
        acc = i32x4_add(acc, i32x4_add(low, high));
    }
    let lanes = i32x4_extract_lane::<0>(acc)
        + i32x4_extract_lane::<1>(acc)
        + i32x4_extract_lane::<2>(acc)
        + i32x4_extract_lane::<3>(acc);
    lanes + int8_tail(ca.remainder(), cb.remainder())
}
