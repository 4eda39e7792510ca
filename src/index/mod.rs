//! Where are the documents' token vectors kept? In memory, one entry per passage (the unit MaxSim
//! scores), grouped by document id, in insertion order so ties resolve the same way on every run.

use std::collections::HashMap;
use std::ops::Range;

use crate::model::TokenVectors;

pub struct StoredPassage {
    pub doc_id: String,
    /// Byte range of the passage in the document's text.
    pub range: Range<usize>,
    /// The same range in UTF-16 code units, as JavaScript strings index.
    pub range_utf16: Range<usize>,
    pub vectors: TokenVectors,
}

#[derive(Default)]
pub struct TokenStore {
    passages: Vec<StoredPassage>,
    /// Document id -> number of its passages (they are contiguous in `passages`).
    docs: HashMap<String, usize>,
}

impl TokenStore {
    pub fn new() -> TokenStore {
        TokenStore::default()
    }

    /// Stores a document's passages, replacing any earlier version of the document.
    pub fn upsert(&mut self, doc_id: &str, passages: Vec<StoredPassage>) {
        if self.docs.contains_key(doc_id) {
            // Linear, but notes-sized stores are small; tombstones + compaction come with persistence.
            self.passages.retain(|p| p.doc_id != doc_id);
        }
        self.docs.insert(doc_id.to_owned(), passages.len());
        self.passages.extend(passages);
    }

    pub fn passages(&self) -> &[StoredPassage] {
        &self.passages
    }

    pub fn contains(&self, doc_id: &str) -> bool {
        self.docs.contains_key(doc_id)
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Number of token vectors held, over all passages.
    pub fn token_count(&self) -> usize {
        self.passages.iter().map(|p| p.vectors.n_tokens()).sum()
    }
}

/// A single-passage entry covering all of `text`: for tests and callers that never split.
pub fn whole_text_passage(doc_id: &str, text: &str, vectors: TokenVectors) -> StoredPassage {
    StoredPassage {
        doc_id: doc_id.to_owned(),
        range: 0..text.len(),
        range_utf16: 0..utf16_len(text),
        vectors,
    }
}

/// Length in UTF-16 code units of `text`.
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}
