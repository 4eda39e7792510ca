//! What does a caller do? Load a bundle, add documents by id, search with a query. Everything the wasm
//! layer exposes is here, in plain Rust, so it is tested natively.

use std::ops::Range;

mod add;
mod documents;
mod explain;
mod filter;
mod fusion;
mod search;

pub use add::{AddJob, PassageProgress};
pub use documents::DamagedRecord;
pub use explain::{Explanation, WordExplanation};
pub use filter::MetadataFilter;
pub use search::{Ranking, SearchMode, SearchPlan, SearchResults};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::index::{DocInfo, Precision, TokenStore};
use crate::model::{Bundle, ColbertTokenizer, Encoder, TextKind, TokenVectors};
use crate::score::{BackendChoice, Backends, GpuMaxSim};

/// One search result. Serialised for JavaScript as `{ id, score, passage: { start, end }, metadata }`
/// with the passage in UTF-16 code units (`text.slice(start, end)`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub id: String,
    /// The document's score in the search's mode (see `SearchMode`).
    pub score: f32,
    /// That passage's byte range in the document's text.
    #[serde(skip)]
    pub passage: Range<usize>,
    /// The same range in UTF-16 code units (JavaScript string indices).
    #[serde(rename = "passage")]
    pub passage_utf16: Range<usize>,
    /// The document's metadata (parsed JSON), if it was given.
    pub metadata: Option<serde_json::Value>,
}

/// A document to add: its text and, optionally, metadata JSON returned with hits and used by filters.
#[derive(Debug, Clone)]
pub struct NewDocument<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub metadata: Option<String>,
}

/// A document as JavaScript hands it over (`{ id, text, metadata? }`, metadata as JSON text), owned.
#[derive(Debug, Clone, Deserialize)]
pub struct Document {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub metadata: Option<String>,
}

impl Document {
    pub fn as_new(&self) -> NewDocument<'_> {
        NewDocument {
            id: &self.id,
            text: &self.text,
            metadata: self.metadata.clone().filter(|m| !m.is_empty()),
        }
    }
}

/// The retriever's state as JavaScript's getters report it (see `index.d.ts`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub size: usize,
    pub passage_count: usize,
    pub token_count: usize,
    pub backend: &'static str,
    pub backend_measurement: Option<crate::score::Measurement>,
    pub precision: &'static str,
    pub model_sha256: String,
    pub gpu_adapter: Option<String>,
    pub gpu_error: Option<String>,
}

/// What an `add_documents_with` call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct AddReport {
    /// Documents (re-)encoded because they were new or their text changed.
    pub encoded: usize,
    /// Documents whose text was unchanged: only their metadata was updated.
    pub unchanged: usize,
}

/// Why a document matched, one entry per query token: the document token with the best similarity
/// (MaxSim's argmax) and that similarity, the token's share of the score.
/// Serialised for JavaScript with the UTF-16 ranges only: `{ queryToken, queryRange, docRange, score }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenMatch {
    /// The query token as the tokenizer wrote it ("[CLS]", "[MASK]", "sour", "##dough"…).
    pub query_token: String,
    /// Its byte range in the query; `None` for special and [MASK] tokens.
    #[serde(skip)]
    pub query_range: Option<Range<usize>>,
    /// The same in UTF-16 code units (JavaScript string indices).
    #[serde(rename = "queryRange")]
    pub query_range_utf16: Option<Range<usize>>,
    /// The matched document token's byte range in the text; `None` for a special token.
    #[serde(skip)]
    pub doc_range: Option<Range<usize>>,
    /// The same in UTF-16 code units (JavaScript string indices).
    #[serde(rename = "docRange")]
    pub doc_range_utf16: Option<Range<usize>>,
    pub score: f32,
}

pub struct Retriever {
    tokenizer: ColbertTokenizer,
    encoder: Encoder,
    store: TokenStore,
    backends: Backends,
    model_sha256: String,
    /// Token pooling for documents added from now on (1: off; default `DEFAULT_POOL_FACTOR`).
    pool_factor: usize,
}

impl Retriever {
    /// A retriever whose index stores vectors in the default precision (int8).
    pub fn from_bundle(bundle: Bundle) -> Result<Retriever> {
        Retriever::with_precision(bundle, Precision::default())
    }

    pub fn with_precision(bundle: Bundle, precision: Precision) -> Result<Retriever> {
        let Bundle {
            manifest,
            model,
            tokenizer,
            model_data,
            model_sha256,
        } = bundle;
        let tokenizer = ColbertTokenizer::new(&tokenizer, &manifest)?;
        let mut encoder = Encoder::from_owned_bytes(model, &model_data, &manifest)?;
        drop(model_data);
        check_vocabulary(&tokenizer, &mut encoder)?;
        Ok(Retriever {
            tokenizer,
            encoder,
            store: TokenStore::new(precision, manifest.dim),
            backends: Backends::default(),
            model_sha256,
            pool_factor: crate::index::pooling::DEFAULT_POOL_FACTOR,
        })
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
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

    /// Gives searches a GPU backend (see [`BackendChoice`]).
    pub fn attach_gpu(&mut self, gpu: GpuMaxSim) {
        self.backends.attach_gpu(gpu);
    }

    /// The scoring backends: the GPU, the choice among them, and why the GPU is not used.
    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    pub fn gpu(&self) -> Option<&GpuMaxSim> {
        self.backends.gpu()
    }

    pub fn set_backend(&mut self, choice: BackendChoice) {
        self.backends.set_choice(choice);
    }

    /// Stored token values (tokens x dim): what a search scans, and what `auto`'s size classes count.
    pub fn index_values(&self) -> usize {
        self.store.token_count() * self.store.dim()
    }

    /// The backend the next search would use.
    pub fn backend(&self) -> &'static str {
        self.backends.name_for(self.index_values())
    }

    /// What `auto` measured (GPU against CPU) at the index's current size, if it has.
    pub fn backend_measurement(&self) -> Option<crate::score::Measurement> {
        self.backends.measurement(self.index_values())
    }

    /// The encoder's rows for exactly these token ids (no markers, every position kept): isolates the
    /// encoder from the tokenizer, for parity checks against other runtimes.
    pub fn encode_ids(&self, ids: &[u32]) -> Result<TokenVectors> {
        self.encoder.encode(&crate::model::Encoding::of_ids(ids))
    }

    /// Vectors of a query, or of a document's first passage.
    pub fn encode(&self, text: &str, kind: TextKind) -> Result<TokenVectors> {
        self.encoder.encode(&self.tokenizer.encode(text, kind)?)
    }

    /// The query's token vectors, one row each: what MaxSim scores documents with, in the shape a
    /// multivector engine takes (Qdrant's `query` for a `max_sim` collection).
    pub fn query_vectors(&self, text: &str) -> Result<Vec<Vec<f32>>> {
        let vectors = self.encode(text, TextKind::Query)?;
        Ok(vectors
            .data
            .chunks_exact(vectors.dim.max(1))
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// The index itself, read-only (an export reads passages and vectors from it).
    pub fn store(&self) -> &TokenStore {
        &self.store
    }

    /// Encodes and stores documents; a long one is split into overlapping passages. All-or-nothing:
    /// if any document fails, none is stored.
    pub fn add_documents<S: AsRef<str>>(&mut self, docs: &[(S, S)]) -> Result<()> {
        let docs: Vec<NewDocument> = docs
            .iter()
            .map(|(id, text)| NewDocument {
                id: id.as_ref(),
                text: text.as_ref(),
                metadata: None,
            })
            .collect();
        self.add_documents_with(&docs).map(|_| ())
    }

    /// Adds or updates documents with metadata. A document whose text is unchanged (same sha256) is
    /// not encoded again; only its metadata is replaced. All-or-nothing, like `add_documents`.
    pub fn add_documents_with(&mut self, docs: &[NewDocument]) -> Result<AddReport> {
        let job = self.begin_add(docs)?;
        self.commit_add(job)
    }

    /// Every stored document's id, in store order.
    pub fn document_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for p in self.store.passages() {
            if ids.last() != Some(&p.doc_id) {
                ids.push(p.doc_id.clone());
            }
        }
        ids
    }

    /// A stored document's metadata (JSON null when it has none); `None` if it is not stored.
    pub fn document_metadata(&self, id: &str) -> Option<&serde_json::Value> {
        self.store.doc_info(id).map(DocInfo::metadata_value)
    }

    /// Empties the index (its precision stays).
    pub fn clear(&mut self) {
        self.store = TokenStore::new(self.store.precision(), self.store.dim());
    }

    /// What JavaScript's getters report, read in one call.
    pub fn stats(&self) -> Stats {
        Stats {
            size: self.len(),
            passage_count: self.passage_count(),
            token_count: self.token_count(),
            backend: self.backend(),
            backend_measurement: self.backend_measurement(),
            precision: self.precision().name(),
            model_sha256: self.model_sha256.clone(),
            gpu_adapter: self.gpu().map(|gpu| gpu.adapter_name.clone()),
            gpu_error: self.gpu_error(),
        }
    }

    /// Why the GPU is not used (it could not be opened, or it failed), if it is not.
    pub fn gpu_error(&self) -> Option<String> {
        self.backends.error()
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

    /// Re-stores the index in another precision (see [`TokenStore::converted`]).
    pub fn set_precision(&mut self, precision: Precision) {
        if precision != self.store.precision() {
            self.store = self.store.converted(precision);
        }
    }

    /// Pools the token vectors of documents added from now on (PyLate's hierarchical pooling, 1: off):
    /// about `factor` times fewer tokens to store and scan. Documents already stored keep theirs.
    pub fn set_pool_factor(&mut self, factor: usize) {
        self.pool_factor = factor.max(1);
    }

    /// Pools every stored passage by `factor` as if it had been added with that pool factor (for
    /// measuring pooling on an index encoded once).
    pub fn pool_stored(&mut self, factor: usize) {
        self.store = self.store.pooled(factor);
    }

    /// Removes a document; returns whether it was stored.
    pub fn remove(&mut self, id: &str) -> bool {
        self.store.remove(id)
    }
}

/// Every id the tokenizer can produce (added tokens such as PyLate's `[Q] ` included) must index the
/// graph's embedding table: past it, tract's Gather would panic on the first text that uses it.
fn check_vocabulary(tokenizer: &ColbertTokenizer, encoder: &mut Encoder) -> Result<()> {
    let ids = tokenizer.vocabulary_size();
    match encoder.embedding_rows() {
        Some(rows) if ids > rows => Err(Error::Model(format!(
            "the tokenizer has ids up to {} but the model's token embedding table has {rows} rows: \
             this tokenizer.json does not belong to this model",
            ids - 1
        ))),
        Some(_) => Ok(()),
        None => {
            encoder.limit_ids_to(ids);
            Ok(())
        }
    }
}
