//! How do a store's tokens sit on the device? Each token padded to whole vec4s of u32 words (f32
//! bits, f16 pairs, int8 quads, sign bits), passages cut into segments of a bounded number of token
//! values, and tokens lane-interleaved within their segment so neighbouring lanes read neighbouring
//! memory. Fixed for a resident copy; the shader is specialised to it through override constants.

use std::ops::Range;

use super::contract::{storage_code, TILE, WORKGROUP_BYTES_BESIDES_TILE};
use crate::index::{words_per_token, PackedTokens, Precision, StoredPassage, TokenStore};

/// Token values one segment may hold: short loops per invocation (see the shader's header).
const SEGMENT_VALUES: usize = 16_384;
const MAX_SEGMENT_TOKENS: usize = 4_096;

/// The stored passages `slots` of `store` laid out for one chunk: token words (and int8 scales)
/// from the passages' first token, segments relative to it, and each passage's segment range.
pub struct ChunkData {
    pub words: Vec<u32>,
    pub scales: Vec<f32>,
    pub segments: Vec<u32>,
    pub passage_segments: Vec<u32>,
    pub tokens: usize,
}

/// Splits each passage into segments of at most `segment_tokens` tokens: the segments' token ranges
/// (relative to `base`) and each passage's segment range, both as flat (start, end) pairs.
fn segment(passages: &[StoredPassage], base: usize, segment_tokens: usize) -> (Vec<u32>, Vec<u32>) {
    let (mut segments, mut passage_segments) = (Vec::new(), Vec::new());
    for p in passages {
        let first = segments.len() / 2;
        let mut start = p.tokens.start;
        while start < p.tokens.end {
            let end = (start + segment_tokens).min(p.tokens.end);
            segments.extend([(start - base) as u32, (end - base) as u32]);
            start = end;
        }
        passage_segments.extend([first as u32, (segments.len() / 2) as u32]);
    }
    (segments, passage_segments)
}

/// How a store's tokens sit on the device (fixed for a resident copy).
pub struct Layout {
    pub precision: Precision,
    pub dim: usize,
    /// vec4<u32>s per token on the device: its words padded to a multiple of four.
    pub token_vec4s: usize,
    pub segment_tokens: usize,
    /// Query tokens the `partial` buffers have room for.
    pub query_tokens: usize,
    /// Whether tokens carry an int8 scale.
    pub scaled: bool,
}

impl Layout {
    /// How this store's tokens are laid out on the device.
    pub fn of(store: &TokenStore, query_capacity: usize) -> Layout {
        let segment_tokens = (SEGMENT_VALUES / store.dim().max(1)).clamp(1, MAX_SEGMENT_TOKENS);
        Layout {
            precision: store.precision(),
            dim: store.dim(),
            token_vec4s: words_per_stored_token(store.precision(), store.dim()).div_ceil(4),
            segment_tokens,
            query_tokens: query_capacity / store.dim().max(1),
            scaled: matches!(store.tokens(), PackedTokens::Int8(_)),
        }
    }

    pub fn token_bytes(&self) -> usize {
        16 * self.token_vec4s
    }

    /// vec4s per query token in the tile: f16 tokens hold eight values per vec4; the query tile keeps
    /// f32 values, four per vec4.
    pub fn query_vec4s(&self) -> usize {
        self.token_vec4s
            * if self.precision == Precision::F16 {
                2
            } else {
                1
            }
    }

    /// The shader's override constants for this layout (see its header).
    pub fn pipeline_constants(&self) -> Vec<(&'static str, f64)> {
        let query_vec4s = self.query_vec4s();
        vec![
            ("STORAGE", f64::from(storage_code(self.precision))),
            ("TOKEN_VEC4S", self.token_vec4s as f64),
            ("QUERY_VEC4S", query_vec4s as f64),
            ("TILE_ROOM", (TILE * query_vec4s) as f64),
        ]
    }

    pub fn workgroup_bytes(&self) -> usize {
        16 * TILE * self.query_vec4s() + WORKGROUP_BYTES_BESIDES_TILE
    }
}

/// `passages`' data for a chunk whose segments so far number `first_segment`.
pub fn chunk_data(
    store: &TokenStore,
    passages: &[StoredPassage],
    layout: &Layout,
    first_segment: usize,
) -> ChunkData {
    let Some(first) = passages.first() else {
        return ChunkData {
            words: Vec::new(),
            scales: Vec::new(),
            segments: Vec::new(),
            passage_segments: Vec::new(),
            tokens: 0,
        };
    };
    let tokens = first.tokens.start..passages[passages.len() - 1].tokens.end;
    let (segments, mut passage_segments) = segment(passages, tokens.start, layout.segment_tokens);
    passage_segments
        .iter_mut()
        .for_each(|s| *s += first_segment as u32);
    let scales = match store.tokens() {
        PackedTokens::Int8(t) => t.scales[tokens.clone()].to_vec(),
        _ => Vec::new(),
    };
    let words = token_words(store.tokens(), layout, tokens.clone());
    ChunkData {
        words: interleave(&words, &segments, layout.token_vec4s),
        scales,
        segments,
        passage_segments,
        tokens: tokens.len(),
    }
}

/// Token words (`token_vec4s` vec4s per token) reordered segment by segment so that vec4 `v` of a
/// segment's token `t` sits at `segment start * token_vec4s + v * segment length + t`: neighbouring
/// lanes, taking neighbouring tokens, then read neighbouring memory (see the shader's header).
fn interleave(words: &[u32], segments: &[u32], token_vec4s: usize) -> Vec<u32> {
    let vec4s: &[[u32; 4]] = bytemuck::cast_slice(words);
    let mut out: Vec<[u32; 4]> = Vec::with_capacity(vec4s.len());
    for segment in segments.chunks_exact(2) {
        let tokens = segment[0] as usize..segment[1] as usize;
        for v in 0..token_vec4s {
            out.extend(tokens.clone().map(|t| vec4s[t * token_vec4s + v]));
        }
    }
    bytemuck::cast_vec(out)
}

/// u32 words per token on the GPU: every token starts on a word boundary.
pub fn words_per_stored_token(precision: Precision, dim: usize) -> usize {
    match precision {
        Precision::F32 => dim,
        Precision::F16 => dim.div_ceil(2),
        Precision::Int8 => dim.div_ceil(4),
        Precision::Binary => words_per_token(dim),
    }
}

/// The scanned tier of arena tokens `range`, repacked as whole vec4s of words per token (zeros after
/// the token's own words: they add nothing to any precision's similarity).
fn token_words(tokens: &PackedTokens, layout: &Layout, range: Range<usize>) -> Vec<u32> {
    let words = words_per_stored_token(layout.precision, layout.dim);
    let padded = 4 * layout.token_vec4s;
    let unpadded = unpadded_token_words(tokens, layout.dim, range);
    if padded == words {
        return unpadded;
    }
    unpadded
        .chunks_exact(words.max(1))
        .flat_map(|token| {
            token
                .iter()
                .copied()
                .chain(std::iter::repeat_n(0, padded - words))
        })
        .collect()
}

fn unpadded_token_words(tokens: &PackedTokens, dim: usize, range: Range<usize>) -> Vec<u32> {
    let values = range.start * dim..range.end * dim;
    match tokens {
        PackedTokens::F32(data) => data[values].iter().map(|v| v.to_bits()).collect(),
        PackedTokens::F16(data) => data[values]
            .chunks_exact(dim)
            .flat_map(|row| {
                row.chunks(2)
                    .map(|p| pack_halves(p[0].to_bits(), p.get(1).map_or(0, |h| h.to_bits())))
            })
            .collect(),
        PackedTokens::Int8(t) => t.codes[values]
            .chunks_exact(dim)
            .flat_map(|row| {
                row.chunks(4).map(|quad| {
                    quad.iter()
                        .enumerate()
                        .fold(0u32, |w, (i, c)| w | u32::from(*c as u8) << (8 * i))
                })
            })
            .collect(),
        PackedTokens::Binary { bits, .. } => {
            let w = words_per_token(dim);
            bits[range.start * w..range.end * w].to_vec()
        }
    }
}

/// Two f16 bit patterns in one word, first in the low half (what `unpack2x16float` reads as `[0]`).
fn pack_halves(first: u16, second: u16) -> u32 {
    u32::from(first) | u32::from(second) << 16
}
