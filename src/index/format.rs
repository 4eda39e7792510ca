//! How is an index saved? One self-checking file (export/import, and what IndexedDB holds):
//!
//! ```text
//! "CWIX" | u32 format version | u32 header length | header (JSON) | token arena | sha256 of all before
//! ```
//!
//! The header names the model (sha256) the vectors came from, the precision, the dimension, and every
//! document with its passages; the arena is the packed tokens in little-endian. Decoding checks the
//! checksum first, then every count and range, so altered or truncated bytes are an `Index` error,
//! never a panic or a silently wrong index.
//!
//! Version 2 adds each passage's words (BM25's terms and counts) to the header and, for a model
//! with a sentence output, the passages' sentence vectors after the token arena (f32, in passage
//! order, for the passages the header flags); version 1 files still read, their passages without
//! words (a caller holding the texts restores them) or sentence vectors.

use std::collections::HashMap;

use half::f16;
use serde::{Deserialize, Serialize};

use super::{
    words_per_token, DocInfo, Int8Tokens, Lexicon, PackedTokens, PassageTerms, Precision,
    StoredPassage, TokenStore,
};
use crate::error::{Error, Result};

pub const FORMAT_MAGIC: &[u8; 4] = b"CWIX";
pub const FORMAT_VERSION: u32 = 2;
/// The first version, without words; still read.
const FORMAT_VERSION_WITHOUT_WORDS: u32 = 1;
const CHECKSUM_BYTES: usize = 32;
const MAX_DIM: usize = 1 << 16;

#[derive(Serialize, Deserialize)]
struct Header {
    model_sha256: String,
    precision: String,
    dim: usize,
    tokens: usize,
    /// Width of the sentence vectors after the token arena (0: none).
    #[serde(default)]
    sentence_dim: usize,
    docs: Vec<DocHeader>,
}

#[derive(Serialize, Deserialize)]
struct DocHeader {
    id: String,
    #[serde(flatten)]
    info: DocInfo,
    /// Per passage: byte start, byte end, UTF-16 start, UTF-16 end, token count.
    passages: Vec<[usize; 5]>,
    /// Per passage (version 2): its terms, space-separated, each followed by `*count` when it occurs
    /// more than once ("dog*2 run"); `None` for a passage whose words are not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    words: Option<Vec<Option<String>>>,
    /// Per passage (version 2): whether its sentence vector follows the token arena.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sentences: Option<Vec<bool>>,
}

fn index_err(why: impl Into<String>) -> Error {
    Error::Index(why.into())
}

impl TokenStore {
    /// The store as one file, tagged with the model its vectors came from.
    pub fn to_bytes(&self, model_sha256: &str) -> Vec<u8> {
        let sentences: Vec<&[f32]> = self
            .passages
            .iter()
            .filter_map(|p| p.sentence.as_deref())
            .collect();
        let header = Header {
            model_sha256: model_sha256.to_owned(),
            precision: self.precision().name().to_owned(),
            dim: self.dim,
            tokens: self.token_count(),
            sentence_dim: sentences.first().map_or(0, |s| s.len()),
            docs: self.doc_headers(),
        };
        let header =
            serde_json::to_vec(&header).expect("a header of strings and numbers serialises");
        let mut out = Vec::with_capacity(12 + header.len() + self.token_count() * self.dim + 32);
        out.extend_from_slice(FORMAT_MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        write_arena(&self.tokens, &mut out);
        out.extend(
            sentences
                .iter()
                .flat_map(|s| s.iter().flat_map(|v| v.to_le_bytes())),
        );
        let checksum = crate::model::sha256_digest(&out);
        out.extend_from_slice(&checksum);
        out
    }

    /// Bytes the passages' words take in this store's file (each document's `"words"` entry).
    pub(super) fn word_bytes_in_file(&self) -> usize {
        let entry = r#","words":"#.len();
        self.doc_headers()
            .iter()
            .filter_map(|d| d.words.as_ref())
            .map(|w| entry + serde_json::to_string(w).map_or(0, |j| j.len()))
            .sum()
    }

    fn doc_headers(&self) -> Vec<DocHeader> {
        let mut docs: Vec<DocHeader> = Vec::new();
        for p in &self.passages {
            let passage = [
                p.range.start,
                p.range.end,
                p.range_utf16.start,
                p.range_utf16.end,
                p.tokens.len(),
            ];
            if docs.last().is_none_or(|doc| doc.id != p.doc_id) {
                docs.push(DocHeader {
                    id: p.doc_id.clone(),
                    info: self.docs.get(&p.doc_id).cloned().unwrap_or_default(),
                    passages: Vec::new(),
                    words: Some(Vec::new()),
                    sentences: Some(Vec::new()),
                });
            }
            let doc = docs.last_mut().expect("pushed above");
            doc.passages.push(passage);
            let words = self.terms_of(p).map(|t| write_terms(&t));
            doc.words.get_or_insert_with(Vec::new).push(words);
            let sentences = doc.sentences.get_or_insert_with(Vec::new);
            sentences.push(p.sentence.is_some());
        }
        // Documents with no passages cannot occur (an empty text is one empty passage), but keep any.
        for (id, info) in &self.docs {
            if !docs.iter().any(|d| &d.id == id) {
                docs.push(DocHeader {
                    id: id.clone(),
                    info: info.clone(),
                    passages: Vec::new(),
                    words: None,
                    sentences: None,
                });
            }
        }
        docs
    }

    /// Reads a file written by `to_bytes`; `expected_model` is the loaded model's sha256.
    pub fn from_bytes(bytes: &[u8], expected_model: &str) -> Result<TokenStore> {
        if bytes.len() < 12 + CHECKSUM_BYTES || &bytes[..4] != FORMAT_MAGIC {
            return Err(index_err(
                "not a colbert-wasm index file (bad magic or too short)",
            ));
        }
        let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
        if crate::model::sha256_digest(body).as_slice() != checksum {
            return Err(index_err(
                "index file failed its checksum: it is truncated or altered",
            ));
        }
        let version = read_u32(body, 4);
        if version != FORMAT_VERSION && version != FORMAT_VERSION_WITHOUT_WORDS {
            return Err(index_err(format!(
                "index format version {version}; this build reads version {FORMAT_VERSION}: re-index the documents"
            )));
        }
        let header_len = read_u32(body, 8) as usize;
        let header_bytes = body
            .get(12..12usize.saturating_add(header_len))
            .ok_or_else(|| index_err("header runs past the end of the file"))?;
        let header: Header = serde_json::from_slice(header_bytes)
            .map_err(|e| index_err(format!("unreadable header: {e}")))?;
        if header.model_sha256 != expected_model {
            return Err(index_err(format!(
                "index was built with model sha256 {}, but model {expected_model} is loaded: re-index the documents with this model",
                header.model_sha256
            )));
        }
        let precision: Precision = header
            .precision
            .parse()
            .map_err(|_| index_err(format!("unknown precision '{}'", header.precision)))?;
        if header.dim == 0 || header.dim > MAX_DIM {
            return Err(index_err(format!("impossible dimension {}", header.dim)));
        }
        let arena = &body[12 + header_len..];
        let token_bytes = arena_bytes(precision, header.dim, header.tokens)?.min(arena.len());
        let (arena, sentence_bytes) = arena.split_at(token_bytes);
        let tokens = read_arena(precision, header.dim, header.tokens, arena)?;
        let sentences = read_sentences(&header, sentence_bytes)?;
        build_store(header, tokens, sentences, version)
    }
}

fn write_terms(terms: &PassageTerms) -> String {
    let mut out = String::new();
    for (term, n) in &terms.counts {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(term);
        if *n > 1 {
            out.push_str(&format!("*{n}"));
        }
    }
    out
}

/// `write_terms` read back; terms must be distinct, in order, with positive counts.
fn read_terms(doc_id: &str, text: &str) -> Result<PassageTerms> {
    let bad = || index_err(format!("document '{doc_id}' has unreadable words"));
    let mut counts: Vec<(String, u32)> = Vec::new();
    for item in text.split(' ').filter(|s| !s.is_empty()) {
        let (term, n) = match item.rsplit_once('*') {
            Some((term, n)) => (term, n.parse::<u32>().map_err(|_| bad())?),
            None => (item, 1),
        };
        let in_order = counts.last().is_none_or(|(last, _)| last.as_str() < term);
        if term.is_empty() || n == 0 || !in_order {
            return Err(bad());
        }
        counts.push((term.to_owned(), n));
    }
    Ok(PassageTerms { counts })
}

/// Each passage's words as the header gives them: required in version 2, absent in version 1.
fn passage_words(doc: &DocHeader, version: u32) -> Result<Vec<Option<PassageTerms>>> {
    match (&doc.words, version) {
        (None, FORMAT_VERSION_WITHOUT_WORDS) => Ok(vec![None; doc.passages.len()]),
        (Some(words), FORMAT_VERSION) if words.len() == doc.passages.len() => words
            .iter()
            .map(|w| w.as_deref().map(|w| read_terms(&doc.id, w)).transpose())
            .collect(),
        _ => Err(index_err(format!(
            "document '{}' does not give words for each of its passages",
            doc.id
        ))),
    }
}

/// The sentence vectors after the token arena, one per passage the header flags, in order.
fn read_sentences(header: &Header, bytes: &[u8]) -> Result<Vec<Box<[f32]>>> {
    let flagged = header
        .docs
        .iter()
        .filter_map(|d| d.sentences.as_ref())
        .flatten()
        .filter(|has| **has)
        .count();
    let dim = header.sentence_dim;
    if dim > MAX_DIM || (flagged > 0) != (dim > 0) || bytes.len() != 4 * flagged * dim {
        return Err(index_err(format!(
            "{} bytes after the token data; {flagged} sentence vectors of width {dim} need {}",
            bytes.len(),
            4 * flagged * dim
        )));
    }
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(index_err("a sentence vector is not finite"));
    }
    Ok(values.chunks(dim.max(1)).map(Box::from).collect())
}

fn build_store(
    header: Header,
    tokens: PackedTokens,
    sentences: Vec<Box<[f32]>>,
    version: u32,
) -> Result<TokenStore> {
    let mut sentences = sentences.into_iter();
    let mut passages = Vec::new();
    let mut docs = HashMap::new();
    let mut next_token = 0usize;
    let mut lexicon = Lexicon::default();
    for doc in header.docs {
        if doc.id.is_empty() {
            return Err(index_err("a document has an empty id"));
        }
        let words = passage_words(&doc, version)?;
        let flags = match &doc.sentences {
            Some(flags) if flags.len() == doc.passages.len() => flags.clone(),
            None => vec![false; doc.passages.len()],
            Some(_) => {
                let why = format!(
                    "document '{}' flags sentence vectors for other passages",
                    doc.id
                );
                return Err(index_err(why));
            }
        };
        for (([start, end, start16, end16, n], terms), has_sentence) in
            doc.passages.into_iter().zip(words).zip(flags)
        {
            if start > end || start16 > end16 {
                return Err(index_err(format!(
                    "document '{}' has a reversed passage range",
                    doc.id
                )));
            }
            let token_end = next_token
                .checked_add(n)
                .filter(|&e| e <= header.tokens)
                .ok_or_else(|| index_err("passages claim more tokens than the file holds"))?;
            passages.push(StoredPassage {
                doc_id: doc.id.clone(),
                range: start..end,
                range_utf16: start16..end16,
                tokens: next_token..token_end,
                words: terms.map(|t| lexicon.add(&t)),
                sentence: if has_sentence { sentences.next() } else { None },
            });
            next_token = token_end;
        }
        if docs.insert(doc.id.clone(), doc.info).is_some() {
            return Err(index_err(format!("document '{}' appears twice", doc.id)));
        }
    }
    if next_token != header.tokens {
        return Err(index_err("passages cover fewer tokens than the file holds"));
    }
    Ok(TokenStore {
        dim: header.dim,
        passage_ids: super::fresh_passage_ids(passages.len()),
        passages,
        tokens,
        docs,
        generation: super::next_generation(),
        lexicon,
    })
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn write_arena(tokens: &PackedTokens, out: &mut Vec<u8>) {
    let int8 = |t: &Int8Tokens, out: &mut Vec<u8>| {
        out.extend(t.codes.iter().map(|c| *c as u8));
        out.extend(t.scales.iter().flat_map(|s| s.to_le_bytes()));
    };
    match tokens {
        PackedTokens::F32(data) => out.extend(data.iter().flat_map(|v| v.to_le_bytes())),
        PackedTokens::F16(data) => out.extend(data.iter().flat_map(|v| v.to_bits().to_le_bytes())),
        PackedTokens::Int8(t) => int8(t, out),
        PackedTokens::Binary { bits, rerank } => {
            out.extend(bits.iter().flat_map(|w| w.to_le_bytes()));
            int8(rerank, out);
        }
    }
}

/// The token arena's exact size for the header's counts.
fn arena_bytes(precision: Precision, dim: usize, tokens: usize) -> Result<usize> {
    let values = tokens
        .checked_mul(dim)
        .ok_or_else(|| index_err("token count overflows"))?;
    let int8_len = values
        .checked_add(tokens.saturating_mul(4))
        .ok_or_else(|| index_err("token count overflows"))?;
    let bits = words_per_token(dim)
        .saturating_mul(4)
        .saturating_mul(tokens);
    Ok(match precision {
        Precision::F32 => values.saturating_mul(4),
        Precision::F16 => values.saturating_mul(2),
        Precision::Int8 => int8_len,
        Precision::Binary => bits.saturating_add(int8_len),
    })
}

/// Exact arena size for the header's counts, then the values; scales must be finite and positive.
fn read_arena(
    precision: Precision,
    dim: usize,
    tokens: usize,
    arena: &[u8],
) -> Result<PackedTokens> {
    let values = tokens
        .checked_mul(dim)
        .ok_or_else(|| index_err("token count overflows"))?;
    let expected = arena_bytes(precision, dim, tokens)?;
    if arena.len() != expected {
        return Err(index_err(format!(
            "token data is {} bytes; {tokens} {} tokens of dim {dim} need {expected}",
            arena.len(),
            precision.name()
        )));
    }
    let words = |b: &[u8]| -> Vec<u32> {
        b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let int8 = |b: &[u8]| -> Result<Int8Tokens> {
        let (codes, scales) = b.split_at(values);
        let scales: Vec<f32> = words(scales).into_iter().map(f32::from_bits).collect();
        if scales.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(index_err("an int8 scale is not a positive number"));
        }
        Ok(Int8Tokens {
            codes: codes.iter().map(|c| *c as i8).collect(),
            scales,
        })
    };
    Ok(match precision {
        Precision::F32 => PackedTokens::F32(words(arena).into_iter().map(f32::from_bits).collect()),
        Precision::F16 => PackedTokens::F16(
            arena
                .chunks_exact(2)
                .map(|c| f16::from_bits(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        Precision::Int8 => PackedTokens::Int8(int8(arena)?),
        Precision::Binary => {
            let (bits, rest) = arena.split_at(4 * words_per_token(dim) * tokens);
            PackedTokens::Binary {
                bits: words(bits),
                rerank: int8(rest)?,
            }
        }
    })
}
