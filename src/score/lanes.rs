//! The SIMD CPU backend. Float dot products run in eight independent accumulator lanes, a shape LLVM
//! turns into `f32x4` multiply-adds under wasm `simd128` (and SSE/AVX natively) without per-architecture
//! code; int8 dot products use `i32x4.dot_i16x8_s` on wasm (`int8_dot`), autovectorised elsewhere.
//! Each document token is loaded (and decoded) once and compared with every query token.

use std::ops::Range;

use half::slice::HalfFloatSliceExt;

use super::{int8_score, sign_words, MaxSim, QueryTokens};
use crate::index::{Int8Tokens, PackedTokens, TokenStore};

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
                    PackedTokens::Binary { bits, .. } => fold_best(query, doc, |t, best| {
                        decode_signs(bits, t, &mut decoded);
                        best_dots(query, &decoded, best)
                    }),
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
        for (qi, slot) in best.iter_mut().enumerate() {
            let dot = int8_dot(query.int8_row(qi), d);
            *slot = slot.max(int8_score(dot, query.int8.scales[qi], tokens.scales[t]));
        }
    })
}

/// Writes token `t`'s signs as ±1.0 into `out`, so the f32 kernel scores it against every query token.
fn decode_signs(bits: &[u32], t: usize, out: &mut [f32]) {
    let words = sign_words(bits, out.len(), t);
    for (i, v) in out.iter_mut().enumerate() {
        *v = if words[i / 32] >> (i % 32) & 1 == 1 {
            1.0
        } else {
            -1.0
        };
    }
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
