//! What does a document look like on its way into the store? Its passages' vectors as encoded
//! (`NewPassage`), packed in the store's precision one passage at a time (`StagedDocument`), so a
//! long document never holds all its f32 vectors at once.

use std::ops::Range;

use super::{PackedTokens, PassageTerms, Precision};
use crate::model::TokenVectors;
use crate::offsets::utf16_len;

/// A passage's vectors on their way into the store.
pub struct NewPassage {
    /// Byte range of the passage in the document's text.
    pub range: Range<usize>,
    /// The same range in UTF-16 code units, as JavaScript strings index.
    pub range_utf16: Range<usize>,
    pub vectors: TokenVectors,
    /// Its words for BM25 (`None`: not known, e.g. read from a version-1 file without its text).
    pub terms: Option<PassageTerms>,
    /// The encoder's sentence vector of the passage (L2-normalised), when the model has one.
    pub sentence: Option<Vec<f32>>,
}

/// A passage of a staged document: ranges, token count, words.
pub(super) struct StagedPassage {
    pub range: Range<usize>,
    pub range_utf16: Range<usize>,
    pub tokens: usize,
    pub terms: Option<PassageTerms>,
    pub sentence: Option<Box<[f32]>>,
}

/// A document's passages packed in the store's precision as they are encoded, so a long document
/// never holds all its f32 vectors at once; [`TokenStore::upsert_staged`] moves it into the store.
pub struct StagedDocument {
    pub(super) dim: usize,
    pub(super) passages: Vec<StagedPassage>,
    pub(super) tokens: PackedTokens,
}

impl StagedDocument {
    pub fn new(precision: Precision, dim: usize) -> StagedDocument {
        StagedDocument {
            dim,
            passages: Vec::new(),
            tokens: PackedTokens::new(precision),
        }
    }

    pub fn push(&mut self, passage: NewPassage) {
        debug_assert_eq!(passage.vectors.dim, self.dim);
        self.tokens.push(&passage.vectors.data, self.dim);
        self.passages.push(StagedPassage {
            range: passage.range,
            range_utf16: passage.range_utf16,
            tokens: passage.vectors.n_tokens(),
            terms: passage.terms,
            sentence: passage.sentence.map(Vec::into_boxed_slice),
        });
    }

    pub fn passage_count(&self) -> usize {
        self.passages.len()
    }

    pub fn token_count(&self) -> usize {
        self.passages.iter().map(|p| p.tokens).sum()
    }
}

/// A single-passage entry covering all of `text`: for tests and callers that never split.
pub fn whole_text_passage(text: &str, vectors: TokenVectors) -> NewPassage {
    NewPassage {
        range: 0..text.len(),
        range_utf16: 0..utf16_len(text),
        vectors,
        terms: Some(PassageTerms::of(text)),
        sentence: None,
    }
}
