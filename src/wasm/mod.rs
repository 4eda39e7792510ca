//! The JavaScript face of the crate, and the only file that knows wasm-bindgen. It owns no logic:
//! each method converts arguments, calls the core `Retriever`, and funnels errors through `into_error`.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::prelude::*;

mod bench;

use crate::error::Error;
use crate::index::Precision;
use crate::retriever::SearchResults;
use crate::score::BackendChoice;
use crate::score::GpuMaxSim;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// A JS `Error` whose `name` is the error's kind (e.g. "ChecksumError") and whose message says why.
fn into_error(err: Error) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    js.set_name(err.kind());
    js.into()
}

#[derive(Serialize)]
struct JsHit<'a> {
    id: &'a str,
    score: f32,
    /// The best passage as a JS string range: `text.slice(start, end)`.
    passage: JsRange,
    /// The metadata given with the document (parsed JSON), or null.
    metadata: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsTokenMatch {
    query_token: String,
    /// UTF-16 range in the query, or null for special tokens.
    query_range: Option<JsRange>,
    /// UTF-16 range in the document text, or null for a special token.
    doc_range: Option<JsRange>,
    score: f32,
}

/// A query word the passage holds: its ranges in the query and the text (UTF-16), its BM25 share.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsWordMatch {
    term: String,
    query_ranges: Vec<JsRange>,
    doc_ranges: Vec<JsRange>,
    score: f32,
}

#[derive(Serialize)]
struct JsExplanation {
    tokens: Vec<JsTokenMatch>,
    words: Vec<JsWordMatch>,
}

#[derive(Serialize)]
struct JsAddReport {
    encoded: usize,
    unchanged: usize,
}

#[derive(Serialize)]
struct JsRange {
    start: usize,
    end: usize,
}

impl From<std::ops::Range<usize>> for JsRange {
    fn from(r: std::ops::Range<usize>) -> JsRange {
        JsRange {
            start: r.start,
            end: r.end,
        }
    }
}

#[derive(Serialize)]
struct JsSearchResults<'a> {
    hits: Vec<JsHit<'a>>,
    backend: &'static str,
}

impl<'a> From<&'a SearchResults> for JsSearchResults<'a> {
    fn from(results: &'a SearchResults) -> Self {
        let hits = results
            .hits
            .iter()
            .map(|h| JsHit {
                id: &h.id,
                score: h.score,
                passage: JsRange::from(h.passage_utf16.clone()),
                metadata: h.metadata.as_ref(),
            })
            .collect();
        JsSearchResults {
            hits,
            backend: results.backend,
        }
    }
}

#[derive(Serialize)]
struct JsDamagedRecord {
    id: String,
    message: String,
}

/// A batch's metadata strings ("" for none), one per id, after checking the lengths agree.
fn batch_metadata(
    ids: &[String],
    texts: &[String],
    metadata: Option<Vec<String>>,
) -> Result<Vec<String>, JsValue> {
    let metadata = metadata.unwrap_or_else(|| vec![String::new(); ids.len()]);
    if ids.len() != texts.len() || ids.len() != metadata.len() {
        let msg = format!(
            "{} ids, {} texts, {} metadata",
            ids.len(),
            texts.len(),
            metadata.len()
        );
        return Err(into_error(Error::InvalidInput(msg)));
    }
    Ok(metadata)
}

fn new_documents<'a>(
    ids: &'a [String],
    texts: &'a [String],
    metadata: &[String],
) -> Vec<crate::retriever::NewDocument<'a>> {
    ids.iter()
        .zip(texts)
        .zip(metadata)
        .map(|((id, text), meta)| crate::retriever::NewDocument {
            id,
            text,
            metadata: Some(meta.clone()).filter(|m| !m.is_empty()),
        })
        .collect()
}

/// Plain JS objects and arrays (not `Map`s) for JSON metadata.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| into_error(Error::InvalidInput(e.to_string())))
}

thread_local! {
    static TRAP_NEXT_COMMIT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// An add between `beginAdd` and `commitAdd` (see those).
#[wasm_bindgen]
pub struct PendingAdd {
    job: crate::retriever::AddJob,
}

#[wasm_bindgen]
impl PendingAdd {
    #[wasm_bindgen(getter, js_name = passagesTotal)]
    pub fn passages_total(&self) -> usize {
        self.job.passages_total()
    }

    #[wasm_bindgen(getter, js_name = passagesDone)]
    pub fn passages_done(&self) -> usize {
        self.job.passages_done()
    }
}

/// Shared with the futures of GPU searches, which borrow it only between awaits.
#[wasm_bindgen]
pub struct Retriever {
    inner: Rc<RefCell<crate::Retriever>>,
}

impl Retriever {
    fn borrow(&self) -> std::cell::Ref<'_, crate::Retriever> {
        self.inner.borrow()
    }
}

#[wasm_bindgen]
impl Retriever {
    /// Verifies the bundle's files against the manifest's sha256 and loads the model.
    /// `precision`: how document vectors are stored: "int8" (default), "f32", "f16" or "binary".
    /// `dataRoles`/`dataFiles`: the model's external data files by manifest role (`model_data`…).
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(
        manifest_json: &[u8],
        model: Vec<u8>,
        tokenizer: Vec<u8>,
        precision: Option<String>,
        data_roles: Option<Vec<String>>,
        data_files: Option<js_sys::Array>,
    ) -> Result<Retriever, JsValue> {
        let precision: Precision = match precision {
            Some(name) => name.parse().map_err(into_error)?,
            None => Precision::default(),
        };
        let data_files: Vec<Vec<u8>> = data_files
            .map(|files| {
                files
                    .iter()
                    .map(|f| js_sys::Uint8Array::new(&f).to_vec())
                    .collect()
            })
            .unwrap_or_default();
        let model_data = data_roles
            .unwrap_or_default()
            .into_iter()
            .zip(data_files)
            .collect();
        let bundle = crate::model::Bundle::from_files(manifest_json, model, tokenizer, model_data)
            .map_err(into_error)?;
        let inner = crate::Retriever::with_precision(bundle, precision).map_err(into_error)?;
        Ok(Retriever {
            inner: Rc::new(RefCell::new(inner)),
        })
    }

    /// The external data files an ONNX model names (what its manifest must list as `model_data`).
    #[wasm_bindgen(js_name = modelDataLocations)]
    pub fn model_data_locations(model: &[u8]) -> Result<Vec<String>, JsValue> {
        let proto = crate::model::onnx_graph::decode(model).map_err(into_error)?;
        Ok(crate::model::onnx_graph::external_data_locations(&proto))
    }

    /// A bundle manifest (JSON text) for a real ColBERT export: `configName` is the export's config
    /// file (`config_sentence_transformers.json` or `artifact.metadata`), `filesJson` the manifest's
    /// `files` object (`{ model: { path, sha256, bytes }, tokenizer: …, model_data: [ … ] }`), `dim`
    /// the vector width when the config does not state it.
    #[wasm_bindgen(js_name = manifestFromExport)]
    pub fn manifest_from_export(
        name: &str,
        config_name: &str,
        config: &[u8],
        tokenizer: &[u8],
        files_json: &str,
        dim: Option<usize>,
    ) -> Result<String, JsValue> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Files {
            model: crate::model::FileEntry,
            tokenizer: crate::model::FileEntry,
            #[serde(default)]
            model_data: Vec<crate::model::FileEntry>,
        }
        let files: Files = serde_json::from_str(files_json)
            .map_err(|e| into_error(Error::InvalidInput(format!("files: {e}"))))?;
        let files = crate::model::ExportFiles {
            model: files.model,
            tokenizer: files.tokenizer,
            model_data: files.model_data,
        };
        crate::model::manifest_from_export(name, config_name, config, tokenizer, files, dim)
            .map_err(into_error)
    }

    /// Opens a WebGPU device for scoring; resolves to the adapter's name, or rejects with a
    /// `GpuError` (searches then stay on the CPU). Software adapters only when `allowFallback`.
    #[wasm_bindgen(js_name = enableGpu)]
    pub fn enable_gpu(&self, allow_fallback: bool) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let gpu = GpuMaxSim::new(allow_fallback, None)
                .await
                .map_err(|e| into_error(e.into()))?;
            let name = gpu.adapter_name.clone();
            inner.borrow_mut().attach_gpu(gpu);
            Ok(JsValue::from_str(&name))
        })
    }

    /// "auto" (default), "webgpu", "simd" or "scalar".
    #[wasm_bindgen(js_name = setBackend)]
    pub fn set_backend(&self, name: &str) -> Result<(), JsValue> {
        let choice: BackendChoice = name.parse().map_err(into_error)?;
        self.inner.borrow_mut().set_backend(choice);
        Ok(())
    }

    /// Token pooling for documents added from now on: 1 (off), 2 or 3 keep about 1/factor tokens.
    #[wasm_bindgen(js_name = setPoolFactor)]
    pub fn set_pool_factor(&self, factor: usize) {
        self.inner.borrow_mut().set_pool_factor(factor);
    }

    /// Destroys the GPU device, as a driver reset would: lets tests check the CPU fallback.
    #[wasm_bindgen(js_name = destroyGpuForTesting)]
    pub fn destroy_gpu_for_testing(&self) {
        if let Some(gpu) = self.borrow().gpu() {
            gpu.destroy_device();
        }
    }

    /// Removes a document; returns whether it was stored.
    pub fn remove(&self, id: &str) -> bool {
        self.inner.borrow_mut().remove(id)
    }

    /// Starts adding documents: ids, texts and (optional) metadata JSON strings are parallel arrays
    /// ("" for none). Checks and tokenises them; `encodeStep` then encodes a few passages at a time
    /// and `commitAdd` stores the batch (all or nothing). An unchanged text is not re-encoded.
    #[wasm_bindgen(js_name = beginAdd)]
    pub fn begin_add(
        &self,
        ids: Vec<String>,
        texts: Vec<String>,
        metadata: Option<Vec<String>>,
    ) -> Result<PendingAdd, JsValue> {
        let metadata = batch_metadata(&ids, &texts, metadata)?;
        let docs = new_documents(&ids, &texts, &metadata);
        let job = self.borrow().begin_add(&docs).map_err(into_error)?;
        Ok(PendingAdd { job })
    }

    /// Encodes up to `maxPassages` more passages of `job`; returns how many it encoded.
    #[wasm_bindgen(js_name = encodeStep)]
    pub fn encode_step(&self, job: &mut PendingAdd, max_passages: usize) -> Result<usize, JsValue> {
        self.borrow()
            .encode_step(&mut job.job, max_passages)
            .map_err(into_error)
    }

    /// For each document, whether its text is stored exactly as given (an encoder pool skips those).
    #[wasm_bindgen(js_name = unchangedOf)]
    pub fn unchanged_of(&self, ids: Vec<String>, texts: Vec<String>) -> Result<Vec<u8>, JsValue> {
        let metadata = batch_metadata(&ids, &texts, None)?;
        let docs = new_documents(&ids, &texts, &metadata);
        Ok(self
            .borrow()
            .unchanged(&docs)
            .into_iter()
            .map(u8::from)
            .collect())
    }

    /// Commits documents another retriever of this model encoded (its `exportIndex` of just them),
    /// with the metadata of unchanged documents (`ids`, `texts`, `metadata`), all or nothing; returns
    /// `{ encoded, unchanged }`.
    #[wasm_bindgen(js_name = commitEncoded)]
    pub fn commit_encoded(
        &self,
        encoded: &[u8],
        ids: Vec<String>,
        texts: Vec<String>,
        metadata: Option<Vec<String>>,
    ) -> Result<JsValue, JsValue> {
        let metadata = batch_metadata(&ids, &texts, metadata)?;
        let unchanged = new_documents(&ids, &texts, &metadata);
        let report = self
            .inner
            .borrow_mut()
            .commit_encoded(encoded, &unchanged)
            .map_err(into_error)?;
        to_js(&JsAddReport {
            encoded: report.encoded,
            unchanged: report.unchanged,
        })
    }

    /// Stores the batch (encoding what is left); resolves to `{ encoded, unchanged }`.
    #[wasm_bindgen(js_name = commitAdd)]
    pub fn commit_add(&self, job: PendingAdd) -> Result<JsValue, JsValue> {
        let mut inner = self.inner.borrow_mut();
        if TRAP_NEXT_COMMIT.with(|armed| armed.replace(false)) {
            core::arch::wasm32::unreachable(); // trapForTesting("commit"): a trap mid-change
        }
        let report = inner.commit_add(job.job).map_err(into_error)?;
        to_js(&JsAddReport {
            encoded: report.encoded,
            unchanged: report.unchanged,
        })
    }

    /// Why `text` matched `query`: `{ tokens, words }`: per query token, the matched document token's
    /// range and its contribution (late interaction); per query word the passage holds, its ranges
    /// and BM25 share (lexical). `passageStart` is a hit's `passage.start` (UTF-16), for long
    /// documents.
    pub fn explain(
        &self,
        query: &str,
        text: &str,
        passage_start: Option<usize>,
    ) -> Result<JsValue, JsValue> {
        let start = passage_start.and_then(|s| crate::offsets::utf16_to_byte(text, s));
        let retriever = self.borrow();
        let tokens = retriever.explain(query, text, start).map_err(into_error)?;
        let words = retriever
            .explain_words(query, text, start)
            .map_err(into_error)?;
        let utf16 = |within: &str, ranges: Vec<std::ops::Range<usize>>| -> Vec<JsRange> {
            let to_utf16 = |r| JsRange::from(crate::offsets::utf16_range(within, r));
            ranges.into_iter().map(to_utf16).collect()
        };
        let tokens = tokens
            .into_iter()
            .map(|m| JsTokenMatch {
                query_token: m.query_token,
                query_range: m.query_range_utf16.map(JsRange::from),
                doc_range: m.doc_range_utf16.map(JsRange::from),
                score: m.score,
            })
            .collect();
        let words = words
            .into_iter()
            .map(|m| JsWordMatch {
                query_ranges: utf16(query, m.query_ranges),
                doc_ranges: utf16(text, m.passage_ranges),
                term: m.term,
                score: m.score,
            })
            .collect();
        to_js(&JsExplanation { tokens, words })
    }

    /// The index as a file even after a trap left the retriever borrowed (the engine's recovery after
    /// a wasm trap): a shared borrow if possible, else the state as the trap left it. Whatever it
    /// returns is checked again by `importIndex` in the fresh instance.
    #[wasm_bindgen(js_name = exportIndexForRecovery)]
    pub fn export_index_for_recovery(&self) -> Vec<u8> {
        match self.inner.try_borrow() {
            Ok(inner) => inner.export_index(),
            // SAFETY: the borrow that is still open belongs to a call a trap ended: nothing runs it
            // any more, and this instance is discarded right after this read.
            Err(_) => unsafe { &*self.inner.as_ptr() }.export_index(),
        }
    }

    /// A deliberate wasm trap, for the engine's recovery tests only (the JS API reaches it through a
    /// `Symbol.for("colbert-wasm.trapForTesting")` method): "now" traps in this call with the
    /// retriever borrowed, "commit" traps in the next `commitAdd` while it holds the index mutably.
    #[wasm_bindgen(js_name = trapForTesting)]
    pub fn trap_for_testing(&self, when: &str) {
        let _held = self.inner.borrow();
        match when {
            "commit" => TRAP_NEXT_COMMIT.with(|armed| armed.set(true)),
            _ => core::arch::wasm32::unreachable(),
        }
    }

    /// The whole index as one versioned, checksummed file.
    #[wasm_bindgen(js_name = exportIndex)]
    pub fn export_index(&self) -> Vec<u8> {
        self.borrow().export_index()
    }

    /// Replaces the index with an exported file; rejects altered, truncated or foreign files with an
    /// `IndexError` and then keeps the current index.
    /// With `ids` and `texts` (the caller's import), every document must end with its words: a
    /// version-1 file's are rebuilt from these texts. Without (the engine's own recovery and
    /// migration), a version-1 file's documents load without words.
    #[wasm_bindgen(js_name = importIndex)]
    pub fn import_index(
        &self,
        bytes: &[u8],
        ids: Option<Vec<String>>,
        texts: Option<Vec<String>>,
    ) -> Result<(), JsValue> {
        let mut inner = self.inner.borrow_mut();
        match (ids, texts) {
            (Some(ids), Some(texts)) if ids.len() == texts.len() => {
                let pairs: Vec<(&str, &str)> = ids
                    .iter()
                    .map(String::as_str)
                    .zip(texts.iter().map(String::as_str))
                    .collect();
                inner.import_index_with_texts(bytes, &pairs)
            }
            (None, None) => inner.import_index(bytes),
            _ => Err(Error::InvalidInput(
                "importIndex: as many texts as ids".into(),
            )),
        }
        .map_err(into_error)
    }

    /// Documents read without words (version-1 records) that BM25 does not see yet.
    #[wasm_bindgen(js_name = documentsWithoutWords)]
    pub fn documents_without_words(&self) -> Vec<String> {
        self.borrow().documents_without_words()
    }

    /// Rebuilds a document's words from the text it was encoded from (`IndexError` for another).
    #[wasm_bindgen(js_name = restoreWords)]
    pub fn restore_words(&self, id: &str, text: &str) -> Result<(), JsValue> {
        self.inner
            .borrow_mut()
            .restore_words(id, text)
            .map_err(into_error)
    }

    /// Each document's own index file (a `Uint8Array`), or `null` for an id not stored: the records
    /// persistence writes.
    #[wasm_bindgen(js_name = exportDocuments)]
    pub fn export_documents(&self, ids: Vec<String>) -> js_sys::Array {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.borrow()
            .export_documents(&ids)
            .into_iter()
            .map(|record| match record {
                Some(bytes) => JsValue::from(js_sys::Uint8Array::from(bytes.as_slice())),
                None => JsValue::NULL,
            })
            .collect()
    }

    /// Stores documents from their records (`ids[i]`'s is `records[i]`), replacing earlier versions,
    /// in one change; returns the damaged records left out as `[{ id, message }]` (IndexErrors).
    #[wasm_bindgen(js_name = applyDocuments)]
    pub fn apply_documents(
        &self,
        ids: Vec<String>,
        records: Vec<js_sys::Uint8Array>,
    ) -> Result<JsValue, JsValue> {
        let bytes: Vec<Vec<u8>> = records.iter().map(|r| r.to_vec()).collect();
        let records: Vec<(&str, &[u8])> = ids
            .iter()
            .zip(&bytes)
            .map(|(id, b)| (id.as_str(), b.as_slice()))
            .collect();
        let damaged = self
            .inner
            .borrow_mut()
            .apply_documents(&records)
            .map_err(into_error)?;
        let damaged: Vec<JsDamagedRecord> = damaged
            .into_iter()
            .map(|(id, e)| JsDamagedRecord {
                id,
                message: e.to_string(),
            })
            .collect();
        to_js(&damaged)
    }

    /// Every stored document's id, in store order.
    #[wasm_bindgen(js_name = documentIds)]
    pub fn document_ids(&self) -> Vec<String> {
        self.borrow().document_ids()
    }

    /// A stored document's metadata (null when it has none), or undefined if it is not stored.
    #[wasm_bindgen(js_name = documentMetadata)]
    pub fn document_metadata(&self, id: &str) -> Result<JsValue, JsValue> {
        match self.borrow().document_metadata(id) {
            Some(value) => to_js(value),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Empties the index.
    pub fn clear(&self) {
        self.inner.borrow_mut().clear();
    }

    /// Resolves to `{ hits: [{ id, score, passage: { start, end }, metadata }], backend }`, best first.
    /// Rejects with a typed error for bad input; a GPU failure falls back to the CPU instead.
    /// `filter`: a JSON object; only documents whose metadata has each key's value (or an array
    /// containing it) are ranked. `mode`: "hybrid" (default), "late" or "lexical".
    pub fn search(
        &self,
        query: &str,
        k: usize,
        filter: Option<String>,
        mode: Option<String>,
    ) -> js_sys::Promise {
        let mode = mode.as_deref().map(str::parse).transpose();
        let begun = filter
            .as_deref()
            .map(crate::retriever::MetadataFilter::from_json)
            .transpose()
            .and_then(|filter| Ok((filter, mode?.unwrap_or_default())))
            .and_then(|(filter, mode)| self.borrow().begin_search(query, k, filter, mode));
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let (plan, pending) = begun.map_err(into_error)?;
            let gpu_scores = match pending {
                Some(pending) => Some(pending.resolve().await),
                None => None,
            };
            let results = inner.borrow().finish_search(plan, gpu_scores);
            to_js(&JsSearchResults::from(&results))
        })
    }

    /// The encoder's rows (row-major, `dim` per token) for exactly these token ids: for parity checks.
    #[wasm_bindgen(js_name = encodeIds)]
    pub fn encode_ids(&self, ids: Vec<u32>) -> Result<Vec<f32>, JsValue> {
        Ok(self.borrow().encode_ids(&ids).map_err(into_error)?.data)
    }

    /// The tokenizer's ids for `text`, without special tokens or ColBERT markers.
    #[wasm_bindgen(js_name = tokenIds)]
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, JsValue> {
        self.borrow().tokenizer().raw_ids(text).map_err(into_error)
    }

    /// Number of stored documents.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.borrow().len()
    }

    /// Number of stored passages (long documents are split to fit the model).
    #[wasm_bindgen(getter, js_name = passageCount)]
    pub fn passage_count(&self) -> usize {
        self.borrow().passage_count()
    }

    /// Number of stored token vectors over all documents.
    #[wasm_bindgen(getter, js_name = tokenCount)]
    pub fn token_count(&self) -> usize {
        self.borrow().token_count()
    }

    /// sha256 of the loaded model file.
    #[wasm_bindgen(getter, js_name = modelSha256)]
    pub fn model_sha256(&self) -> String {
        self.borrow().model_sha256().to_owned()
    }

    /// Records why no GPU could be opened (e.g. no `navigator.gpu`): `gpuError` reports it.
    #[wasm_bindgen(js_name = gpuUnavailable)]
    pub fn gpu_unavailable(&self, why: &str) {
        self.borrow().backends().gpu_unavailable(why);
    }

    /// The GPU adapter searches may use, or null.
    #[wasm_bindgen(getter, js_name = gpuAdapter)]
    pub fn gpu_adapter(&self) -> Option<String> {
        self.borrow().gpu().map(|gpu| gpu.adapter_name.clone())
    }

    /// Why the GPU is not used (it could not be opened, or it failed and searches fell back to the
    /// CPU), if it is not.
    #[wasm_bindgen(getter, js_name = gpuError)]
    pub fn gpu_error(&self) -> Option<String> {
        self.borrow().gpu_error()
    }

    /// How document vectors are stored: "int8", "f32", "f16" or "binary".
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> String {
        self.borrow().precision().name().to_owned()
    }

    /// The MaxSim backend a full-length query would use now: "webgpu", "simd" or "scalar".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.borrow().backend().to_owned()
    }

    /// What `auto` measured for the index's current size: `{ sizeClass, gpuMs, cpuMs }`, or undefined.
    #[wasm_bindgen(getter, js_name = backendMeasurement)]
    pub fn backend_measurement(&self) -> Result<JsValue, JsValue> {
        match self.borrow().backend_measurement() {
            Some(m) => to_js(&m),
            None => Ok(JsValue::UNDEFINED),
        }
    }
}
