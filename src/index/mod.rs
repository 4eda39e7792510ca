//! Where are the documents' token vectors kept? In memory: passage metadata (the unit MaxSim scores),
//! grouped by document id in insertion order so ties resolve the same way on every run, over one flat
//! arena of packed token vectors (`packed`).

mod format;
pub mod lexical;
mod packed;
pub mod pooling;
mod staging;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

pub use format::{FORMAT_MAGIC, FORMAT_VERSION};
pub use lexical::{InternedTerms, Lexicon, PassageTerms};
pub use packed::{pack_signs, words_per_token, Int8Tokens, PackedTokens, Precision};
use staging::StagedPassage;
pub use staging::{whole_text_passage, NewPassage, StagedDocument};

/// Bytes of an index's parts (see [`TokenStore::byte_sizes`]).
#[derive(Debug, Clone, Copy)]
pub struct ByteSizes {
    /// The packed token vectors (the arena).
    pub vectors: usize,
    /// The lexical index in memory: dictionary, frequencies, every passage's interned terms.
    pub lexical: usize,
    /// What the passages' words add to the index file.
    pub file_words: usize,
    /// The passages' sentence vectors (in memory and in the file alike).
    pub sentences: usize,
}

/// A stored passage: where it came from and which arena tokens are its vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPassage {
    pub doc_id: String,
    pub range: Range<usize>,
    pub range_utf16: Range<usize>,
    pub tokens: Range<usize>,
    /// Its words, interned in the store's [`Lexicon`] (`None`: not known).
    pub words: Option<InternedTerms>,
    /// The encoder's sentence vector of the passage (`None`: the model has none).
    pub sentence: Option<Box<[f32]>>,
}

/// What the store knows of a document besides its vectors.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DocInfo {
    /// sha256 (hex) of the text it was encoded from: an unchanged text is not encoded again.
    pub content_hash: String,
    /// The caller's JSON metadata, kept verbatim (that is what the index file stores).
    metadata: Option<String>,
    /// `metadata` parsed, once, when a filter or a hit first needs it.
    #[serde(skip)]
    parsed: std::sync::OnceLock<serde_json::Value>,
}

impl DocInfo {
    pub fn new(content_hash: String, metadata: Option<String>) -> DocInfo {
        DocInfo {
            content_hash,
            metadata,
            parsed: Default::default(),
        }
    }

    /// The metadata JSON as given.
    pub fn metadata(&self) -> Option<&str> {
        self.metadata.as_deref()
    }

    /// The metadata as a JSON value (null when there is none).
    pub fn metadata_value(&self) -> &serde_json::Value {
        self.parsed.get_or_init(|| {
            self.metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or(serde_json::Value::Null)
        })
    }
}

impl PartialEq for DocInfo {
    fn eq(&self, other: &DocInfo) -> bool {
        (&self.content_hash, &self.metadata) == (&other.content_hash, &other.metadata)
    }
}

pub struct TokenStore {
    dim: usize,
    passages: Vec<StoredPassage>,
    tokens: PackedTokens,
    /// Document id -> what is known of it (its passages are contiguous in `passages`).
    docs: HashMap<String, DocInfo>,
    /// Renewed by every change, and unique across stores, so copies elsewhere (the GPU's) know
    /// whether they still mirror this store.
    generation: u64,
    /// One id per passage, in `passages` order, never reused (across stores too): a copy elsewhere
    /// (the GPU's) matches its passages to these, so a change costs it only what was added.
    passage_ids: Vec<u64>,
    /// The passages' vocabulary and BM25 statistics.
    lexicon: Lexicon,
}

impl TokenStore {
    pub fn new(precision: Precision, dim: usize) -> TokenStore {
        TokenStore {
            dim,
            passages: Vec::new(),
            tokens: PackedTokens::new(precision),
            docs: HashMap::new(),
            generation: next_generation(),
            passage_ids: Vec::new(),
            lexicon: Lexicon::default(),
        }
    }

    /// Stores a document's passages, replacing any earlier version of the document.
    pub fn upsert(&mut self, doc_id: &str, passages: Vec<NewPassage>) {
        self.upsert_with(doc_id, DocInfo::default(), passages)
    }

    /// `upsert` with the document's hash and metadata.
    pub fn upsert_with(&mut self, doc_id: &str, info: DocInfo, passages: Vec<NewPassage>) {
        let mut staged = StagedDocument::new(self.precision(), self.dim);
        passages.into_iter().for_each(|p| staged.push(p));
        self.upsert_staged(doc_id, info, staged);
    }

    /// Makes room for staged documents before any of them is stored, so a commit that would run out
    /// of memory fails whole, leaving the store as it was (an allocation failure would abort).
    pub fn try_reserve(&mut self, staged: &[&StagedDocument]) -> crate::Result<()> {
        let tokens: usize = staged.iter().map(|s| s.token_count()).sum();
        let passages: usize = staged.iter().map(|s| s.passage_count()).sum();
        let fail = |e: std::collections::TryReserveError| {
            crate::Error::OutOfMemory(format!("no room for {tokens} more token vectors ({e})"))
        };
        self.tokens.try_reserve(tokens, self.dim).map_err(fail)?;
        self.passages.try_reserve(passages).map_err(fail)
    }

    /// Stores a staged document, replacing any earlier version of it.
    pub fn upsert_staged(&mut self, doc_id: &str, info: DocInfo, staged: StagedDocument) {
        self.remove(doc_id);
        self.generation = next_generation();
        let mut next_token = self.token_count();
        self.tokens.append(&staged.tokens, self.dim);
        for p in staged.passages {
            self.passage_ids.push(next_generation());
            self.passages.push(StoredPassage {
                doc_id: doc_id.to_owned(),
                range: p.range,
                range_utf16: p.range_utf16,
                tokens: next_token..next_token + p.tokens,
                words: p.terms.map(|t| self.lexicon.add(&t)),
                sentence: p.sentence,
            });
            next_token += p.tokens;
        }
        self.docs.insert(doc_id.to_owned(), info);
    }

    /// Removes a document; returns whether it was there. Compacts the arena (linear in its size).
    pub fn remove(&mut self, doc_id: &str) -> bool {
        if self.docs.remove(doc_id).is_none() {
            return false;
        }
        self.generation = next_generation();
        let (kept, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.passages)
            .into_iter()
            .zip(std::mem::take(&mut self.passage_ids))
            .partition(|(p, _)| p.doc_id != doc_id);
        for words in gone.iter().filter_map(|(p, _)| p.words.as_ref()) {
            self.lexicon.forget(words);
        }
        let (kept, ids): (Vec<StoredPassage>, Vec<u64>) = kept.into_iter().unzip();
        self.passage_ids = ids;
        let keep: Vec<Range<usize>> = kept.iter().map(|p| p.tokens.clone()).collect();
        self.tokens.keep(self.dim, &keep);
        let mut next_token = 0;
        self.passages = kept
            .into_iter()
            .map(|mut p| {
                let n = p.tokens.len();
                p.tokens = next_token..next_token + n;
                next_token += n;
                p
            })
            .collect();
        true
    }

    /// The same store in another precision, re-encoded from this one's decoded vectors (exact from
    /// f32; from a lossy precision the losses add up).
    pub fn converted(&self, precision: Precision) -> TokenStore {
        let mut tokens = PackedTokens::new(precision);
        for t in 0..self.token_count() {
            tokens.push(&self.tokens.decode(self.dim, t), self.dim);
        }
        TokenStore {
            dim: self.dim,
            passages: self.passages.clone(),
            tokens,
            docs: self.docs.clone(),
            generation: next_generation(),
            passage_ids: fresh_passage_ids(self.passages.len()),
            lexicon: self.lexicon.clone(),
        }
    }

    pub fn passages(&self) -> &[StoredPassage] {
        &self.passages
    }

    pub fn tokens(&self) -> &PackedTokens {
        &self.tokens
    }

    /// A store holding a copy of each of these documents alone (`None` for an id not stored), made in
    /// one pass over the passages: each document's own index file is the unit persistence writes.
    pub fn split_documents(&self, ids: &[&str]) -> Vec<Option<TokenStore>> {
        let slot: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut out: Vec<Option<TokenStore>> = ids.iter().map(|_| None).collect();
        for p in &self.passages {
            let Some(&i) = slot.get(p.doc_id.as_str()) else {
                continue;
            };
            let one = out[i].get_or_insert_with(|| {
                let mut one = TokenStore::new(self.precision(), self.dim);
                if let Some(info) = self.docs.get(&p.doc_id) {
                    one.docs.insert(p.doc_id.clone(), info.clone());
                }
                one
            });
            let start = one.token_count();
            let tokens = self
                .tokens
                .gathered(self.dim, std::slice::from_ref(&p.tokens));
            one.tokens.append(&tokens, self.dim);
            let words = self.terms_of(p).map(|t| one.lexicon.add(&t));
            one.passages.push(StoredPassage {
                tokens: start..start + p.tokens.len(),
                words,
                ..p.clone()
            });
            one.passage_ids.push(next_generation());
        }
        out
    }

    /// A stored passage's words as strings (`None`: not known).
    pub fn terms_of(&self, passage: &StoredPassage) -> Option<PassageTerms> {
        passage.words.as_ref().map(|w| self.lexicon.terms_of(w))
    }

    /// The passages' vocabulary and BM25 statistics.
    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    /// Gives the passages of the documents in `texts` (id -> the text each was encoded from) their
    /// words, in one pass over the passages; other documents are left as they are.
    pub fn set_words_from_texts(&mut self, texts: &std::collections::HashMap<&str, &str>) {
        for p in self.passages.iter_mut() {
            let Some(text) = texts.get(p.doc_id.as_str()) else {
                continue;
            };
            if let Some(old) = p.words.take() {
                self.lexicon.forget(&old);
            }
            let terms = text.get(p.range.clone()).map(PassageTerms::of);
            p.words = terms.map(|t| self.lexicon.add(&t));
        }
        self.generation = next_generation();
    }

    /// What the index holds, in bytes (for the cost benchmark).
    pub fn byte_sizes(&self) -> ByteSizes {
        let per_passage = std::mem::size_of::<Option<InternedTerms>>();
        let sentences: usize = self
            .passages
            .iter()
            .filter_map(|p| p.sentence.as_ref())
            .map(|s| 4 * s.len())
            .sum();
        let passages: usize = self
            .passages
            .iter()
            .map(|p| per_passage + p.words.as_ref().map_or(0, InternedTerms::heap_bytes))
            .sum();
        ByteSizes {
            vectors: self.tokens.byte_len(),
            lexical: self.lexicon.heap_bytes() + passages,
            file_words: self.word_bytes_in_file(),
            sentences,
        }
    }

    /// Ids of stored documents some passage of which has no words (read from a version-1 file).
    pub fn documents_without_words(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for p in self.passages.iter().filter(|p| p.words.is_none()) {
            if ids.last() != Some(&p.doc_id) {
                ids.push(p.doc_id.clone());
            }
        }
        ids
    }

    /// Every document as staged for another store's commit, in store order (what a pool of encoders
    /// hands the store that keeps the index).
    pub fn into_staged(self) -> Vec<(String, DocInfo, StagedDocument)> {
        let mut out: Vec<(String, DocInfo, StagedDocument)> = Vec::new();
        for p in &self.passages {
            if out.last().is_none_or(|(id, _, _)| *id != p.doc_id) {
                let info = self.docs.get(&p.doc_id).cloned().unwrap_or_default();
                let staged = StagedDocument::new(self.precision(), self.dim);
                out.push((p.doc_id.clone(), info, staged));
            }
            let staged = &mut out.last_mut().expect("pushed above").2;
            let tokens = self
                .tokens
                .gathered(self.dim, std::slice::from_ref(&p.tokens));
            staged.tokens.append(&tokens, self.dim);
            staged.passages.push(StagedPassage {
                range: p.range.clone(),
                range_utf16: p.range_utf16.clone(),
                tokens: p.tokens.len(),
                terms: self.terms_of(p),
                sentence: p.sentence.clone(),
            });
        }
        out
    }

    /// Each passage's unique id, in `passages` order.
    pub fn passage_ids(&self) -> &[u64] {
        &self.passage_ids
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn precision(&self) -> Precision {
        self.tokens.precision()
    }

    pub fn doc_info(&self, doc_id: &str) -> Option<&DocInfo> {
        self.docs.get(doc_id)
    }

    /// Replaces a stored document's metadata (its vectors stay); returns whether it is stored.
    pub fn set_metadata(&mut self, doc_id: &str, metadata: Option<String>) -> bool {
        match self.docs.get_mut(doc_id) {
            Some(info) => {
                *info = DocInfo::new(std::mem::take(&mut info.content_hash), metadata);
                self.generation = next_generation();
                true
            }
            None => false,
        }
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
        self.passages.last().map_or(0, |p| p.tokens.end)
    }
}

fn fresh_passage_ids(n: usize) -> Vec<u64> {
    (0..n).map(|_| next_generation()).collect()
}

/// Generations and passage ids, from one counter: unique across every store of the process.
pub(super) fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TokenVectors;

    fn doc(n_tokens: usize, value: f32) -> Vec<NewPassage> {
        let vectors = TokenVectors {
            dim: 2,
            data: vec![value; 2 * n_tokens],
            offsets: vec![None; n_tokens],
        };
        vec![whole_text_passage("x", vectors)]
    }

    #[test]
    fn replacing_and_removing_documents_keeps_token_ranges_consistent() {
        let mut store = TokenStore::new(Precision::F32, 2);
        store.upsert("a", doc(2, 1.0));
        store.upsert("b", doc(3, 2.0));
        store.upsert("a", doc(1, 3.0)); // replaced: moves to the end
        assert_eq!(store.len(), 2);
        let ids: Vec<_> = store
            .passages()
            .iter()
            .map(|p| (p.doc_id.as_str(), p.tokens.clone()))
            .collect();
        assert_eq!(ids, vec![("b", 0..3), ("a", 3..4)]);
        assert_eq!(store.tokens().decode(2, 3), vec![3.0, 3.0]);
        let a_id = store.passage_ids()[1];
        assert!(store.remove("b"));
        assert!(!store.remove("b"));
        assert_eq!(store.token_count(), 1);
        assert_eq!(store.tokens().decode(2, 0), vec![3.0, 3.0]);
        assert_eq!(store.passage_ids(), [a_id], "ids follow their passages");
        store.upsert("c", doc(1, 4.0));
        assert_eq!(store.passage_ids().len(), 2);
        assert!(store.passage_ids()[1] > a_id, "a new passage gets a new id");
    }
}
