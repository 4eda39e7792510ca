//! What does a caller do? Load a bundle, add documents by id, search with a query. Everything the wasm
//! layer exposes is here, in plain Rust, so it is tested natively.

use std::ops::Range;

mod add;
pub use add::AddJob;

use crate::error::{Error, Result};
use crate::index::{utf16_len, Precision, TokenStore};
use crate::model::{Bundle, ColbertTokenizer, Encoder, TextKind, TokenVectors};
use crate::score::{
    finish_first_pass, top_k, GpuError, GpuMaxSim, LanesMaxSim, MaxSim, PendingScores, QueryTokens,
    ScalarMaxSim,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    /// MaxSim score of the document's best passage.
    pub score: f32,
    /// That passage's byte range in the document's text.
    pub passage: Range<usize>,
    /// The same range in UTF-16 code units (JavaScript string indices).
    pub passage_utf16: Range<usize>,
    /// The document's metadata JSON, as given when it was added.
    pub metadata: Option<String>,
}

/// A document to add: its text and, optionally, metadata JSON returned with hits and used by filters.
#[derive(Debug, Clone)]
pub struct NewDocument<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub metadata: Option<String>,
}

/// What an `add_documents_with` call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddReport {
    /// Documents (re-)encoded because they were new or their text changed.
    pub encoded: usize,
    /// Documents whose text was unchanged: only their metadata was updated.
    pub unchanged: usize,
}

/// Why a document matched, one entry per query token: the document token with the best similarity
/// (MaxSim's argmax) and that similarity, the token's share of the score.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenMatch {
    /// The query token as the tokenizer wrote it ("[CLS]", "[MASK]", "sour", "##dough"…).
    pub query_token: String,
    /// Its byte range in the query; `None` for special and [MASK] tokens.
    pub query_range: Option<Range<usize>>,
    /// The matched document token's byte range in the text; `None` for a special token.
    pub doc_range: Option<Range<usize>>,
    /// The same in UTF-16 code units (JavaScript string indices).
    pub doc_range_utf16: Option<Range<usize>>,
    pub score: f32,
}

/// Keeps documents whose metadata has, for every key, that value (or an array containing it).
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataFilter(serde_json::Map<String, serde_json::Value>);

impl MetadataFilter {
    /// From a JSON object such as `{"folder": "work", "tags": "urgent"}`.
    pub fn from_json(json: &str) -> Result<MetadataFilter> {
        match serde_json::from_str(json) {
            Ok(serde_json::Value::Object(map)) => Ok(MetadataFilter(map)),
            _ => Err(Error::InvalidInput(format!(
                "a filter is a JSON object, not {json:?}"
            ))),
        }
    }

    pub fn matches(&self, metadata: Option<&str>) -> bool {
        let meta: serde_json::Value = metadata
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or(serde_json::Value::Null);
        self.0.iter().all(|(key, want)| match &meta[key] {
            serde_json::Value::Array(items) => items.contains(want) || &meta[key] == want,
            got => got == want,
        })
    }
}

/// Which MaxSim backend searches use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The GPU when one is attached, is a hardware adapter, and the search is big enough to repay its
    /// fixed cost (`GPU_MIN_WORK`); the SIMD CPU kernel otherwise.
    #[default]
    Auto,
    Webgpu,
    Simd,
    Scalar,
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<BackendChoice> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "webgpu" => Ok(BackendChoice::Webgpu),
            "simd" => Ok(BackendChoice::Simd),
            "scalar" => Ok(BackendChoice::Scalar),
            _ => Err(Error::InvalidInput(format!(
                "unknown backend '{s}' (expected auto, webgpu, simd or scalar)"
            ))),
        }
    }
}

/// Multiply-adds (stored tokens x query tokens x dim) from which `Auto` prefers a hardware GPU:
/// below it the dispatch and read-back round trip (~1 ms on the event loop) outweighs the scan. Set
/// from the wasm SIMD kernel's measured ~3.5 G multiply-adds/s (bench:maxsim): 3.5 M take ~1 ms.
pub const GPU_MIN_WORK: usize = 4_000_000;

/// Hits plus the backend that scored them.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
    pub backend: &'static str,
}

/// A search between encoding its query and ranking: carried across the GPU's asynchronous read-back.
pub struct SearchPlan {
    query: Option<QueryTokens>,
    k: usize,
    generation: u64,
    filter: Option<MetadataFilter>,
}

pub struct Retriever {
    tokenizer: ColbertTokenizer,
    encoder: Encoder,
    store: TokenStore,
    gpu: Option<GpuMaxSim>,
    /// Set once the GPU fails (lost device, error): later searches stay on the CPU.
    gpu_failed: std::sync::atomic::AtomicBool,
    gpu_error: std::sync::Mutex<Option<String>>,
    choice: BackendChoice,
    model_sha256: String,
}

impl Retriever {
    /// A retriever whose index stores vectors in the default precision (int8).
    pub fn from_bundle(bundle: Bundle) -> Result<Retriever> {
        Retriever::with_precision(bundle, Precision::default())
    }

    pub fn with_precision(bundle: Bundle, precision: Precision) -> Result<Retriever> {
        let tokenizer = ColbertTokenizer::new(&bundle.tokenizer, &bundle.manifest)?;
        let mut encoder =
            Encoder::with_external_data(&bundle.model, &bundle.model_data, &bundle.manifest)?;
        check_vocabulary(&tokenizer, &mut encoder)?;
        Ok(Retriever {
            tokenizer,
            encoder,
            store: TokenStore::new(precision, bundle.manifest.dim),
            gpu: None,
            gpu_failed: Default::default(),
            gpu_error: Default::default(),
            choice: BackendChoice::Auto,
            model_sha256: bundle.model_sha256,
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
        self.gpu = Some(gpu);
        self.gpu_failed
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn gpu(&self) -> Option<&GpuMaxSim> {
        self.gpu.as_ref()
    }

    pub fn set_backend(&mut self, choice: BackendChoice) {
        self.choice = choice;
    }

    /// The backend the next search of a `query_tokens`-token query would use.
    pub fn backend_for(&self, query_tokens: usize) -> &'static str {
        if self.use_gpu(query_tokens) {
            return "webgpu";
        }
        self.cpu_scorer().name()
    }

    /// The backend a typical (full-length) query would use now.
    pub fn backend(&self) -> &'static str {
        self.backend_for(self.tokenizer.query_length())
    }

    fn gpu_usable(&self) -> Option<&GpuMaxSim> {
        let failed = self.gpu_failed.load(std::sync::atomic::Ordering::Relaxed);
        self.gpu.as_ref().filter(|_| !failed)
    }

    fn use_gpu(&self, query_tokens: usize) -> bool {
        let Some(gpu) = self.gpu_usable() else {
            return false;
        };
        match self.choice {
            BackendChoice::Webgpu => true,
            BackendChoice::Auto => {
                !gpu.is_fallback_adapter
                    && self.store.token_count() * query_tokens * self.store.dim() >= GPU_MIN_WORK
            }
            BackendChoice::Simd | BackendChoice::Scalar => false,
        }
    }

    fn cpu_scorer(&self) -> &'static dyn MaxSim {
        match self.choice {
            BackendChoice::Scalar => &ScalarMaxSim,
            _ => &LanesMaxSim,
        }
    }

    /// The encoder's rows for exactly these token ids (no markers, every position kept): isolates the
    /// encoder from the tokenizer, for parity checks against other runtimes.
    pub fn encode_ids(&self, ids: &[u32]) -> Result<TokenVectors> {
        let n = ids.len();
        self.encoder.encode(&crate::model::Encoding {
            ids: ids.iter().map(|&id| i64::from(id)).collect(),
            attention_mask: vec![1; n],
            keep: vec![true; n],
            offsets: vec![None; n],
        })
    }

    /// Vectors of a query, or of a document's first passage.
    pub fn encode(&self, text: &str, kind: TextKind) -> Result<TokenVectors> {
        self.encoder.encode(&self.tokenizer.encode(text, kind)?)
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

    /// Which document token each query token matched in `text` (the passage of it starting at byte
    /// `passage_start`, as a hit reports; the first passage if `None`), with each token's
    /// contribution. Re-encodes that passage in full precision, so contributions sum to its f32
    /// MaxSim score.
    pub fn explain(
        &self,
        query: &str,
        text: &str,
        passage_start: Option<usize>,
    ) -> Result<Vec<TokenMatch>> {
        let query_encoding = self.tokenizer.encode(query, TextKind::Query)?;
        let query_vectors = self.encoder.encode(&query_encoding)?;
        let passages = self.tokenizer.document_passages(text)?;
        let (encoding, _) = passages
            .iter()
            .find(|(_, range)| Some(range.start) == passage_start)
            .or(passages.first())
            .ok_or_else(|| Error::InvalidInput("the text has no passage".into()))?;
        let doc = self.encoder.encode(encoding)?;
        let kept_query = query_encoding
            .ids
            .iter()
            .zip(&query_encoding.keep)
            .zip(&query_encoding.offsets);
        let query_tokens = kept_query
            .filter(|((_, keep), _)| **keep)
            .map(|((id, _), offsets)| (*id, *offsets));
        Ok(query_tokens
            .enumerate()
            .map(|(qi, (id, query_offsets))| {
                let q = query_vectors.row(qi);
                let (best, score) = (0..doc.n_tokens())
                    .map(|t| (t, q.iter().zip(doc.row(t)).map(|(a, b)| a * b).sum::<f32>()))
                    .fold((None, f32::NEG_INFINITY), |acc, (t, s)| {
                        if s > acc.1 {
                            (Some(t), s)
                        } else {
                            acc
                        }
                    });
                let doc_range = best.and_then(|t| doc.offsets[t]).map(|(a, b)| a..b);
                TokenMatch {
                    query_token: self.tokenizer.token_text(id),
                    query_range: query_offsets.map(|(a, b)| a..b),
                    doc_range_utf16: doc_range
                        .clone()
                        .map(|r| utf16_len(&text[..r.start])..utf16_len(&text[..r.end])),
                    doc_range,
                    score: if best.is_some() { score } else { 0.0 },
                }
            })
            .collect())
    }

    /// The index as one versioned, checksummed file, tagged with this model's sha256.
    pub fn export_index(&self) -> Vec<u8> {
        self.store.to_bytes(&self.model_sha256)
    }

    /// Replaces the index with a file from `export_index`. On any error the current index stays.
    pub fn import_index(&mut self, bytes: &[u8]) -> Result<()> {
        self.store = TokenStore::from_bytes(bytes, &self.model_sha256)?;
        Ok(())
    }

    /// The `k` best documents for `query`, best first, each with its best passage. A blank query
    /// matches nothing. Natively a GPU search blocks until its scores are back.
    pub fn search(&self, query: &str, k: usize) -> Result<SearchResults> {
        self.search_with(query, k, None)
    }

    /// `search` over the documents whose metadata passes `filter`.
    pub fn search_with(
        &self,
        query: &str,
        k: usize,
        filter: Option<MetadataFilter>,
    ) -> Result<SearchResults> {
        let (plan, pending) = self.begin_search(query, k, filter)?;
        #[cfg(not(target_arch = "wasm32"))]
        let gpu_scores = pending.map(PendingScores::wait);
        #[cfg(target_arch = "wasm32")]
        let gpu_scores: Option<std::result::Result<Vec<f32>, GpuError>> = {
            drop(pending);
            None
        };
        Ok(self.finish_search(plan, gpu_scores))
    }

    /// First half of a search: encodes the query and, when the GPU is chosen, submits its scoring.
    /// Await the pending scores (if any), then call [`Retriever::finish_search`].
    pub fn begin_search(
        &self,
        query: &str,
        k: usize,
        filter: Option<MetadataFilter>,
    ) -> Result<(SearchPlan, Option<PendingScores>)> {
        let generation = self.store.generation();
        if query.trim().is_empty() || k == 0 {
            let plan = SearchPlan {
                query: None,
                k,
                generation,
                filter,
            };
            return Ok((plan, None));
        }
        let query = QueryTokens::new(&self.encode(query, TextKind::Query)?);
        let pending = match self.gpu_usable() {
            Some(gpu) if self.use_gpu(query.n_tokens()) => {
                match gpu.dispatch(&query, &self.store) {
                    Ok(pending) => Some(pending),
                    Err(e) => {
                        self.gpu_fell_back(&e);
                        None
                    }
                }
            }
            _ => None,
        };
        Ok((
            SearchPlan {
                query: Some(query),
                k,
                generation,
                filter,
            },
            pending,
        ))
    }

    /// Second half of a search: ranks the GPU's scores, or scores on the CPU when there are none, the
    /// GPU failed (it is not used again), or the index changed meanwhile.
    pub fn finish_search(
        &self,
        plan: SearchPlan,
        gpu_scores: Option<std::result::Result<Vec<f32>, GpuError>>,
    ) -> SearchResults {
        let Some(query) = plan.query else {
            return SearchResults {
                hits: Vec::new(),
                backend: self.cpu_scorer().name(),
            };
        };
        let current = plan.generation == self.store.generation();
        let gpu_scores = match gpu_scores {
            Some(Ok(scores)) if current && scores.len() == self.store.passages().len() => {
                Some(scores)
            }
            Some(Err(e)) => {
                self.gpu_fell_back(&e);
                None
            }
            _ => None,
        };
        let (first_pass, backend) = match gpu_scores {
            Some(first_pass) => (first_pass, "webgpu"),
            None => {
                let cpu = self.cpu_scorer();
                (cpu.score_all(&query, &self.store), cpu.name())
            }
        };
        let first_pass = self.apply_filter(first_pass, plan.filter.as_ref());
        let scores = finish_first_pass(&query, &self.store, first_pass, plan.k);
        SearchResults {
            hits: self.best_passage_per_document(&scores, plan.k),
            backend,
        }
    }

    /// NaN (dropped) for passages of documents the filter excludes.
    fn apply_filter(&self, mut scores: Vec<f32>, filter: Option<&MetadataFilter>) -> Vec<f32> {
        let Some(filter) = filter else { return scores };
        let mut verdicts: std::collections::HashMap<&str, bool> = Default::default();
        for (score, p) in scores.iter_mut().zip(self.store.passages()) {
            let keep = *verdicts.entry(p.doc_id.as_str()).or_insert_with(|| {
                let meta = self
                    .store
                    .doc_info(&p.doc_id)
                    .and_then(|i| i.metadata.as_deref());
                filter.matches(meta)
            });
            if !keep {
                *score = f32::NAN;
            }
        }
        scores
    }

    fn gpu_fell_back(&self, why: &GpuError) {
        self.gpu_failed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        *self.gpu_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.to_string());
    }

    /// Why the GPU stopped being used, if it failed.
    pub fn gpu_error(&self) -> Option<String> {
        self.gpu_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
                    metadata: self
                        .store
                        .doc_info(&p.doc_id)
                        .and_then(|i| i.metadata.clone()),
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

    /// Re-stores the index in another precision (see [`TokenStore::converted`]).
    pub fn set_precision(&mut self, precision: Precision) {
        if precision != self.store.precision() {
            self.store = self.store.converted(precision);
        }
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
