//! What does a caller do? Load a bundle, add documents by id, search with a query. Everything the wasm
//! layer exposes is here, in plain Rust, so it is tested natively.

use std::collections::HashSet;
use std::ops::Range;

use crate::error::{Error, Result};
use crate::index::{utf16_len, NewPassage, Precision, TokenStore};
use crate::model::{Bundle, ColbertTokenizer, Encoder, TextKind, TokenVectors};
use crate::score::{score_passages, top_k, LanesMaxSim, MaxSim, QueryTokens};

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    /// MaxSim score of the document's best passage.
    pub score: f32,
    /// That passage's byte range in the document's text.
    pub passage: Range<usize>,
    /// The same range in UTF-16 code units (JavaScript string indices).
    pub passage_utf16: Range<usize>,
}

pub struct Retriever {
    tokenizer: ColbertTokenizer,
    encoder: Encoder,
    store: TokenStore,
    scorer: Box<dyn MaxSim>,
    model_sha256: String,
}

impl Retriever {
    /// A retriever whose index stores vectors in the default precision (int8).
    pub fn from_bundle(bundle: Bundle) -> Result<Retriever> {
        Retriever::with_precision(bundle, Precision::default())
    }

    pub fn with_precision(bundle: Bundle, precision: Precision) -> Result<Retriever> {
        Ok(Retriever {
            tokenizer: ColbertTokenizer::new(&bundle.tokenizer, &bundle.manifest)?,
            encoder: Encoder::new(&bundle.model, &bundle.manifest)?,
            store: TokenStore::new(precision, bundle.manifest.dim),
            scorer: Box::new(LanesMaxSim),
            model_sha256: bundle.model_sha256,
        })
    }

    /// Verifies and loads a bundle from its three files' bytes.
    pub fn from_bytes(
        manifest_json: &[u8],
        model: Vec<u8>,
        tokenizer: Vec<u8>,
    ) -> Result<Retriever> {
        Retriever::from_bundle(Bundle::from_parts(manifest_json, model, tokenizer)?)
    }

    pub fn tokenizer(&self) -> &ColbertTokenizer {
        &self.tokenizer
    }

    pub fn model_sha256(&self) -> &str {
        &self.model_sha256
    }

    pub fn backend(&self) -> &'static str {
        self.scorer.name()
    }

    /// Vectors of a query, or of a document's first passage.
    pub fn encode(&self, text: &str, kind: TextKind) -> Result<TokenVectors> {
        self.encoder.encode(&self.tokenizer.encode(text, kind)?)
    }

    /// Encodes and stores documents; a long one is split into overlapping passages. All-or-nothing:
    /// if any document fails, none is stored.
    pub fn add_documents<S: AsRef<str>>(&mut self, docs: &[(S, S)]) -> Result<()> {
        let mut seen = HashSet::new();
        for (id, _) in docs {
            let id = id.as_ref();
            if id.is_empty() {
                return Err(Error::InvalidInput("document id is empty".into()));
            }
            if !seen.insert(id) {
                return Err(Error::InvalidInput(format!(
                    "document id '{id}' appears twice in one batch"
                )));
            }
        }
        let mut encoded = Vec::with_capacity(docs.len());
        for (id, text) in docs {
            encoded.push((id.as_ref(), self.encode_passages(text.as_ref())?));
        }
        for (id, passages) in encoded {
            self.store.upsert(id, passages);
        }
        Ok(())
    }

    fn encode_passages(&self, text: &str) -> Result<Vec<NewPassage>> {
        self.tokenizer
            .document_passages(text)?
            .into_iter()
            .map(|(encoding, range)| {
                let range_utf16 = utf16_len(&text[..range.start])..utf16_len(&text[..range.end]);
                let vectors = self.encoder.encode(&encoding)?;
                Ok(NewPassage {
                    range,
                    range_utf16,
                    vectors,
                })
            })
            .collect()
    }

    /// The `k` best documents for `query`, best first, each with its best passage. A blank query
    /// matches nothing.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
        if query.trim().is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let query = QueryTokens::new(&self.encode(query, TextKind::Query)?);
        let scores = score_passages(self.scorer.as_ref(), &query, &self.store, k);
        Ok(self.best_passage_per_document(&scores, k))
    }

    /// A document scores as its best passage; passages of one document are contiguous in the store.
    /// Passages a binary index did not re-rank (NaN) are left out.
    fn best_passage_per_document(&self, scores: &[f32], k: usize) -> Vec<Hit> {
        let passages = self.store.passages();
        // (best score, its passage slot) per document, in store order.
        let mut best: Vec<(f32, usize)> = Vec::new();
        for (slot, passage) in passages.iter().enumerate() {
            let same_doc = slot > 0 && passages[slot - 1].doc_id == passage.doc_id;
            match best.last_mut() {
                Some(last) if same_doc => {
                    if scores[slot] > last.0 || last.0.is_nan() {
                        *last = (scores[slot], slot);
                    }
                }
                _ => best.push((scores[slot], slot)),
            }
        }
        let doc_scores: Vec<f32> = best.iter().map(|b| b.0).collect();
        top_k(&doc_scores, k)
            .into_iter()
            .filter(|(_, score)| !score.is_nan())
            .map(|(doc, score)| {
                let p = &passages[best[doc].1];
                Hit {
                    id: p.doc_id.clone(),
                    score,
                    passage: p.range.clone(),
                    passage_utf16: p.range_utf16.clone(),
                }
            })
            .collect()
    }

    /// Number of stored documents.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// Number of stored passages (a long document has several).
    pub fn passage_count(&self) -> usize {
        self.store.passages().len()
    }

    pub fn token_count(&self) -> usize {
        self.store.token_count()
    }

    pub fn precision(&self) -> Precision {
        self.store.precision()
    }

    /// Removes a document; returns whether it was stored.
    pub fn remove(&mut self, id: &str) -> bool {
        self.store.remove(id)
    }
}
