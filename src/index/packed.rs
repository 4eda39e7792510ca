//! How compactly is each token vector held? One flat arena per index, in one of four precisions, so a
//! backend streams contiguous memory (and the GPU gets it in one upload).

use std::ops::Range;
use std::str::FromStr;

use half::f16;

use crate::error::Error;

/// Storage precision of document token vectors, chosen per index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    F32,
    F16,
    /// Symmetric int8 with one f32 scale per token: 4x smaller than f32, scored with integer dot products.
    #[default]
    Int8,
    /// Sign bits per dimension, scanned against the f32 query; the top candidates are re-scored exactly
    /// from an int8 copy (the re-rank tier).
    Binary,
}

impl Precision {
    pub const ALL: [Precision; 4] = [
        Precision::F32,
        Precision::F16,
        Precision::Int8,
        Precision::Binary,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
            Precision::Binary => "binary",
        }
    }

    /// Bytes each stored token costs in the tier that every search scans.
    pub fn scanned_bytes_per_token(self, dim: usize) -> usize {
        match self {
            Precision::F32 => 4 * dim,
            Precision::F16 => 2 * dim,
            Precision::Int8 => dim + 4,
            Precision::Binary => 4 * words_per_token(dim),
        }
    }

    /// Bytes each stored token costs in all, re-rank tier included.
    pub fn total_bytes_per_token(self, dim: usize) -> usize {
        match self {
            Precision::Binary => {
                self.scanned_bytes_per_token(dim) + Precision::Int8.scanned_bytes_per_token(dim)
            }
            other => other.scanned_bytes_per_token(dim),
        }
    }
}

impl FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Precision, Error> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown precision '{s}' (expected f32, f16, int8 or binary)"
                ))
            })
    }
}

/// u32 words holding one token's sign bits.
pub fn words_per_token(dim: usize) -> usize {
    dim.div_ceil(32)
}

/// Int8 codes with a per-token scale: `value ≈ code * scale`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Int8Tokens {
    pub codes: Vec<i8>,
    pub scales: Vec<f32>,
}

impl Int8Tokens {
    /// Quantises `rows` (row-major, `dim` wide) symmetrically per row.
    pub fn quantize(rows: &[f32], dim: usize) -> Int8Tokens {
        let mut out = Int8Tokens::default();
        for row in rows.chunks_exact(dim) {
            out.push_row(row);
        }
        out
    }

    fn push_row(&mut self, row: &[f32]) {
        let max_abs = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max_abs > 0.0 { max_abs / 127.0 } else { 1.0 };
        self.codes.extend(
            row.iter()
                .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8),
        );
        self.scales.push(scale);
    }

    fn try_reserve(
        &mut self,
        tokens: usize,
        values: usize,
    ) -> Result<(), std::collections::TryReserveError> {
        reserve(&mut self.codes, values)?;
        reserve(&mut self.scales, tokens)
    }

    fn append(&mut self, other: &Int8Tokens) {
        self.codes.extend_from_slice(&other.codes);
        self.scales.extend_from_slice(&other.scales);
    }

    fn gathered(&self, dim: usize, keep: &[Range<usize>]) -> Int8Tokens {
        Int8Tokens {
            codes: gather(&self.codes, dim, keep),
            scales: gather(&self.scales, 1, keep),
        }
    }
}

/// All document token vectors of an index, row-major, `dim` values per token.
#[derive(Debug, Clone, PartialEq)]
pub enum PackedTokens {
    F32(Vec<f32>),
    F16(Vec<f16>),
    Int8(Int8Tokens),
    Binary {
        /// `words_per_token(dim)` words per token; bit `i % 32` of word `i / 32` is set when value `i` ≥ 0.
        bits: Vec<u32>,
        rerank: Int8Tokens,
    },
}

impl PackedTokens {
    /// Bytes the packed values take (what the index file's arena holds).
    pub fn byte_len(&self) -> usize {
        let int8 = |t: &Int8Tokens| t.codes.len() + 4 * t.scales.len();
        match self {
            PackedTokens::F32(data) => 4 * data.len(),
            PackedTokens::F16(data) => 2 * data.len(),
            PackedTokens::Int8(t) => int8(t),
            PackedTokens::Binary { bits, rerank } => 4 * bits.len() + int8(rerank),
        }
    }

    pub fn new(precision: Precision) -> PackedTokens {
        match precision {
            Precision::F32 => PackedTokens::F32(Vec::new()),
            Precision::F16 => PackedTokens::F16(Vec::new()),
            Precision::Int8 => PackedTokens::Int8(Int8Tokens::default()),
            Precision::Binary => PackedTokens::Binary {
                bits: Vec::new(),
                rerank: Int8Tokens::default(),
            },
        }
    }

    pub fn precision(&self) -> Precision {
        match self {
            PackedTokens::F32(_) => Precision::F32,
            PackedTokens::F16(_) => Precision::F16,
            PackedTokens::Int8(_) => Precision::Int8,
            PackedTokens::Binary { .. } => Precision::Binary,
        }
    }

    /// Appends tokens given as f32 rows.
    pub fn push(&mut self, rows: &[f32], dim: usize) {
        match self {
            PackedTokens::F32(data) => data.extend_from_slice(rows),
            PackedTokens::F16(data) => data.extend(rows.iter().map(|v| f16::from_f32(*v))),
            PackedTokens::Int8(tokens) => rows.chunks_exact(dim).for_each(|r| tokens.push_row(r)),
            PackedTokens::Binary { bits, rerank } => {
                for row in rows.chunks_exact(dim) {
                    bits.extend(pack_signs(row));
                    rerank.push_row(row);
                }
            }
        }
    }

    /// Appends every token of `other` (same precision; a different one is re-packed from its
    /// decoded rows).
    pub fn append(&mut self, other: &PackedTokens, dim: usize) {
        match (self, other) {
            (PackedTokens::F32(a), PackedTokens::F32(b)) => a.extend_from_slice(b),
            (PackedTokens::F16(a), PackedTokens::F16(b)) => a.extend_from_slice(b),
            (PackedTokens::Int8(a), PackedTokens::Int8(b)) => a.append(b),
            (
                PackedTokens::Binary {
                    bits: a,
                    rerank: ra,
                },
                PackedTokens::Binary {
                    bits: b,
                    rerank: rb,
                },
            ) => {
                a.extend_from_slice(b);
                ra.append(rb);
            }
            (this, other) => {
                for t in 0..other.token_count(dim) {
                    this.push(&other.decode(dim, t), dim);
                }
            }
        }
    }

    /// Makes room for `tokens` more tokens, or fails without changing anything.
    pub fn try_reserve(
        &mut self,
        tokens: usize,
        dim: usize,
    ) -> Result<(), std::collections::TryReserveError> {
        let values = tokens.saturating_mul(dim);
        match self {
            PackedTokens::F32(data) => reserve(data, values),
            PackedTokens::F16(data) => reserve(data, values),
            PackedTokens::Int8(t) => t.try_reserve(tokens, values),
            PackedTokens::Binary { bits, rerank } => {
                reserve(bits, tokens.saturating_mul(words_per_token(dim)))?;
                rerank.try_reserve(tokens, values)
            }
        }
    }

    /// Number of tokens held.
    pub fn token_count(&self, dim: usize) -> usize {
        match self {
            PackedTokens::F32(data) => data.len() / dim.max(1),
            PackedTokens::F16(data) => data.len() / dim.max(1),
            PackedTokens::Int8(tokens) | PackedTokens::Binary { rerank: tokens, .. } => {
                tokens.scales.len()
            }
        }
    }

    /// Keeps only the tokens in `keep` (ascending, disjoint), in order.
    pub fn keep(&mut self, dim: usize, keep: &[Range<usize>]) {
        *self = self.gathered(dim, keep);
    }

    /// A copy of the tokens in `keep` (ascending, disjoint), in order.
    pub fn gathered(&self, dim: usize, keep: &[Range<usize>]) -> PackedTokens {
        match self {
            PackedTokens::F32(data) => PackedTokens::F32(gather(data, dim, keep)),
            PackedTokens::F16(data) => PackedTokens::F16(gather(data, dim, keep)),
            PackedTokens::Int8(tokens) => PackedTokens::Int8(tokens.gathered(dim, keep)),
            PackedTokens::Binary { bits, rerank } => PackedTokens::Binary {
                bits: gather(bits, words_per_token(dim), keep),
                rerank: rerank.gathered(dim, keep),
            },
        }
    }

    /// Token `t` decoded to f32, as every backend must read it (the binary tier decodes to ±1).
    pub fn decode(&self, dim: usize, t: usize) -> Vec<f32> {
        let row = t * dim..(t + 1) * dim;
        match self {
            PackedTokens::F32(data) => data[row].to_vec(),
            PackedTokens::F16(data) => data[row].iter().map(|v| v.to_f32()).collect(),
            PackedTokens::Int8(tokens) => {
                let scale = tokens.scales[t];
                tokens.codes[row]
                    .iter()
                    .map(|c| f32::from(*c) * scale)
                    .collect()
            }
            PackedTokens::Binary { bits, .. } => {
                let words = &bits[t * words_per_token(dim)..(t + 1) * words_per_token(dim)];
                (0..dim)
                    .map(|i| {
                        if words[i / 32] >> (i % 32) & 1 == 1 {
                            1.0
                        } else {
                            -1.0
                        }
                    })
                    .collect()
            }
        }
    }
}

/// Sign bits of one row (set for values ≥ 0), packed little-endian into u32 words; bits past the
/// row's end stay clear, so XOR-ing two tokens' words counts only real differences.
pub fn pack_signs(row: &[f32]) -> Vec<u32> {
    row.chunks(32)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .filter(|(_, v)| **v >= 0.0)
                .fold(0u32, |word, (i, _)| word | 1 << i)
        })
        .collect()
}

/// Room for `additional` more values. Doubling first (amortised O(1) appends), but a doubling that
/// would pass `isize::MAX` bytes is refused outright (capacity overflow): on wasm32 that stopped every
/// arena at 1 GiB, a quarter of the address space. Past that, grow by an eighth, then by exactly
/// what is asked, so an arena fills up to the 2 GiB one allocation can hold.
fn reserve<T>(data: &mut Vec<T>, additional: usize) -> Result<(), std::collections::TryReserveError> {
    data.try_reserve(additional)
        .or_else(|_| data.try_reserve_exact(additional.max(data.len() / 8)))
        .or_else(|_| data.try_reserve_exact(additional))
}

/// The rows (each `width` long) inside `keep`, concatenated.
fn gather<T: Copy>(data: &[T], width: usize, keep: &[Range<usize>]) -> Vec<T> {
    keep.iter()
        .flat_map(|r| &data[r.start * width..r.end * width])
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_round_trip_error_is_within_half_a_step() {
        let row = [0.5f32, -0.25, 0.125, -1.0, 0.0];
        let q = Int8Tokens::quantize(&row, 5);
        assert_eq!(q.codes[3], -127);
        for (i, v) in row.iter().enumerate() {
            let back = f32::from(q.codes[i]) * q.scales[0];
            assert!((back - v).abs() <= q.scales[0] / 2.0 + 1e-7);
        }
    }

    #[test]
    fn an_all_zero_row_quantises_to_zero_codes() {
        let q = Int8Tokens::quantize(&[0.0; 4], 4);
        assert_eq!(q.codes, vec![0; 4]);
        assert!(q.scales[0] > 0.0);
    }

    #[test]
    fn sign_bits_cover_dimensions_beyond_one_word() {
        let mut row = vec![-1.0f32; 33];
        row[0] = 1.0;
        row[32] = 0.0;
        assert_eq!(pack_signs(&row), vec![1, 1]);
        let mut packed = PackedTokens::new(Precision::Binary);
        packed.push(&row, 33);
        let back = packed.decode(33, 0);
        assert_eq!((back[0], back[1], back[32]), (1.0, -1.0, 1.0));
    }

    #[test]
    fn keep_removes_tokens_in_every_precision() {
        let dim = 3;
        let rows: Vec<f32> = (0..12).map(|i| i as f32 - 6.0).collect(); // 4 tokens
        for precision in Precision::ALL {
            let mut packed = PackedTokens::new(precision);
            packed.push(&rows, dim);
            let expected = [packed.decode(dim, 0), packed.decode(dim, 3)];
            packed.keep(dim, &[0..1, 3..4]);
            assert_eq!([packed.decode(dim, 0), packed.decode(dim, 1)], expected);
        }
    }

    #[test]
    fn precision_names_round_trip() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
        }
        assert!("int4".parse::<Precision>().is_err());
    }
}
