//! The JavaScript face of the crate, and the only file that knows wasm-bindgen. It owns no logic:
//! arguments arrive as core types (plain values, or deserialised by serde: documents are one array
//! of `{ id, text, metadata }`), results leave as core types serialised by serde, and every error
//! crosses through one conversion (`JsFailure`).
//!
//! Trapped instances: a wasm trap ends a call wherever it is, leaving any borrow of the retriever
//! open. The index is changed only under a mutable borrow, taken for the last, allocation-reserved
//! step of a change; `exportIndexForRecovery` reads the index only when no mutable borrow is open
//! (the index is then the last committed one) and otherwise refuses to read it at all.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

mod bench;
mod convert;

use convert::{from_js, to_js, JsFailure, JsResult};

use crate::index::Precision;
use crate::retriever::{Document, MetadataFilter, NewDocument, SearchMode};
use crate::score::{BackendChoice, GpuMaxSim};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn new_documents(docs: &[Document]) -> Vec<NewDocument<'_>> {
    docs.iter().map(Document::as_new).collect()
}

thread_local! {
    static TRAP_NEXT_COMMIT: std::cell::Cell<Option<TrapPoint>> = const { std::cell::Cell::new(None) };
}

/// Where `trapForTesting` makes the next commit trap.
#[derive(Clone, Copy, PartialEq)]
enum TrapPoint {
    /// While the batch is encoded and staged, before the index is borrowed to change it.
    Commit,
    /// While the index is borrowed mutably, as a bug in the change itself would.
    Change,
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

    fn borrow_mut(&self) -> std::cell::RefMut<'_, crate::Retriever> {
        self.inner.borrow_mut()
    }
}

#[wasm_bindgen]
impl Retriever {
    /// Verifies the bundle's files against the manifest's sha256 and loads the model.
    /// `precision`: how document vectors are stored: "int8" (default), "f32", "f16" or "binary".
    /// `modelData`: the model's external data files by manifest role (`{ model_data: bytes }`).
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(
        manifest_json: &[u8],
        model: Vec<u8>,
        tokenizer: Vec<u8>,
        precision: Option<String>,
        model_data: Option<js_sys::Object>,
    ) -> JsResult<Retriever> {
        let precision: Precision = match precision {
            Some(name) => name.parse()?,
            None => Precision::default(),
        };
        let entries = model_data.map_or_else(js_sys::Array::new, |f| js_sys::Object::entries(&f));
        let model_data = entries
            .iter()
            .map(|entry| {
                let pair = js_sys::Array::from(&entry);
                let role = pair.get(0).as_string().unwrap_or_default();
                (role, js_sys::Uint8Array::new(&pair.get(1)).to_vec())
            })
            .collect();
        let bundle = crate::model::Bundle::from_files(manifest_json, model, tokenizer, model_data)?;
        let inner = crate::Retriever::with_precision(bundle, precision)?;
        Ok(Retriever {
            inner: Rc::new(RefCell::new(inner)),
        })
    }

    /// The external data files an ONNX model names (what its manifest must list as `model_data`).
    #[wasm_bindgen(js_name = modelDataLocations)]
    pub fn model_data_locations(model: &[u8]) -> JsResult<Vec<String>> {
        let proto = crate::model::onnx_graph::decode(model)?;
        Ok(crate::model::onnx_graph::external_data_locations(&proto))
    }

    /// A bundle manifest (JSON text) for a real ColBERT export: `configName` is the export's config
    /// file (`config_sentence_transformers.json` or `artifact.metadata`), `files` the manifest's
    /// `files` object (`{ model: { path, sha256, bytes }, tokenizer: …, model_data: [ … ] }`), `dim`
    /// the vector width when the config does not state it.
    #[wasm_bindgen(js_name = manifestFromExport)]
    pub fn manifest_from_export(
        name: &str,
        config_name: &str,
        config: &[u8],
        tokenizer: &[u8],
        files: JsValue,
        dim: Option<usize>,
    ) -> JsResult<String> {
        let files: crate::model::ExportFiles = from_js(files, "files")?;
        Ok(crate::model::manifest_from_export(
            name,
            config_name,
            config,
            tokenizer,
            files,
            dim,
        )?)
    }

    /// Opens a WebGPU device for scoring; resolves to the adapter's name, or rejects with a
    /// `GpuError` (searches then stay on the CPU). Software adapters only when `allowFallback`.
    #[wasm_bindgen(js_name = enableGpu)]
    pub fn enable_gpu(&self, allow_fallback: bool) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let gpu = GpuMaxSim::new(allow_fallback, None)
                .await
                .map_err(JsFailure::from)?;
            let name = gpu.adapter_name.clone();
            inner.borrow_mut().attach_gpu(gpu);
            Ok(JsValue::from_str(&name))
        })
    }

    /// "auto" (default), "webgpu", "simd" or "scalar".
    #[wasm_bindgen(js_name = setBackend)]
    pub fn set_backend(&self, name: &str) -> JsResult<()> {
        let choice: BackendChoice = name.parse()?;
        self.borrow_mut().set_backend(choice);
        Ok(())
    }

    /// Token pooling for documents added from now on: 1 (off), 2 or 3 keep about 1/factor tokens.
    #[wasm_bindgen(js_name = setPoolFactor)]
    pub fn set_pool_factor(&self, factor: usize) {
        self.borrow_mut().set_pool_factor(factor);
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
        self.borrow_mut().remove(id)
    }

    /// Starts adding documents (`[{ id, text, metadata? }]`, metadata as JSON text): checks and
    /// tokenises them; `encodeStep` then encodes a few passages at a time and `commitAdd` stores the
    /// batch (all or nothing). An unchanged text is not re-encoded.
    #[wasm_bindgen(js_name = beginAdd)]
    pub fn begin_add(&self, docs: JsValue) -> JsResult<PendingAdd> {
        let docs: Vec<Document> = from_js(docs, "documents")?;
        let job = self.borrow().begin_add(&new_documents(&docs))?;
        Ok(PendingAdd { job })
    }

    /// Encodes up to `maxPassages` more passages of `job`; returns how many it encoded.
    #[wasm_bindgen(js_name = encodeStep)]
    pub fn encode_step(&self, job: &mut PendingAdd, max_passages: usize) -> JsResult<usize> {
        Ok(self.borrow().encode_step(&mut job.job, max_passages)?)
    }

    /// Stores the batch; resolves to `{ encoded, unchanged }`. What is left to encode is encoded
    /// first with the index only read; the index is borrowed mutably just for the change itself.
    #[wasm_bindgen(js_name = commitAdd)]
    pub fn commit_add(&self, mut job: PendingAdd) -> JsResult<JsValue> {
        self.borrow().encode_step(&mut job.job, usize::MAX)?;
        let trap = TRAP_NEXT_COMMIT.with(|armed| armed.take());
        if trap == Some(TrapPoint::Commit) {
            core::arch::wasm32::unreachable(); // trapForTesting("commit")
        }
        let mut inner = self.borrow_mut();
        if trap == Some(TrapPoint::Change) {
            core::arch::wasm32::unreachable(); // trapForTesting("change")
        }
        to_js(&inner.commit_add(job.job)?)
    }

    /// For each document (`[{ id, text }]`), whether its text is stored exactly as given (an
    /// encoder pool skips those).
    #[wasm_bindgen(js_name = unchangedOf)]
    pub fn unchanged_of(&self, docs: JsValue) -> JsResult<Vec<u8>> {
        let docs: Vec<Document> = from_js(docs, "documents")?;
        let unchanged = self.borrow().unchanged(&new_documents(&docs));
        Ok(unchanged.into_iter().map(u8::from).collect())
    }

    /// Commits documents another retriever of this model encoded (its `exportIndex` of just them),
    /// with the metadata of unchanged documents (`[{ id, text, metadata? }]`), all or nothing;
    /// returns `{ encoded, unchanged }`.
    #[wasm_bindgen(js_name = commitEncoded)]
    pub fn commit_encoded(&self, encoded: &[u8], unchanged: JsValue) -> JsResult<JsValue> {
        let unchanged: Vec<Document> = from_js(unchanged, "documents")?;
        let report = self
            .borrow_mut()
            .commit_encoded(encoded, &new_documents(&unchanged))?;
        to_js(&report)
    }

    /// Why `text` matched `query`: `{ tokens, words }` (see `crate::retriever::Explanation`);
    /// `passageStart` is a hit's `passage.start` (UTF-16), for long documents.
    pub fn explain(
        &self,
        query: &str,
        text: &str,
        passage_start: Option<usize>,
    ) -> JsResult<JsValue> {
        to_js(&self.borrow().explanation(query, text, passage_start)?)
    }

    /// The index as a file after a trap (the engine's recovery), or `undefined` when the trap came
    /// while the index was being changed: a half-changed index is never read (see the module's
    /// header). Whatever it returns is checked again by `importIndex` in the fresh instance.
    #[wasm_bindgen(js_name = exportIndexForRecovery)]
    pub fn export_index_for_recovery(&self) -> Option<Vec<u8>> {
        self.inner
            .try_borrow()
            .ok()
            .map(|inner| inner.export_index())
    }

    /// A deliberate wasm trap, for the engine's recovery tests only (the JS API reaches it through a
    /// `Symbol.for("colbert-wasm.trapForTesting")` method): "now" traps in this call with the
    /// retriever borrowed; "commit" traps in the next `commitAdd` while it encodes and stages;
    /// "change" traps there while the index is borrowed mutably.
    #[wasm_bindgen(js_name = trapForTesting)]
    pub fn trap_for_testing(&self, when: &str) {
        let _held = self.borrow();
        let point = match when {
            "commit" => TrapPoint::Commit,
            "change" => TrapPoint::Change,
            _ => core::arch::wasm32::unreachable(),
        };
        TRAP_NEXT_COMMIT.with(|armed| armed.set(Some(point)));
    }

    /// The whole index as one versioned, checksummed file.
    #[wasm_bindgen(js_name = exportIndex)]
    pub fn export_index(&self) -> Vec<u8> {
        self.borrow().export_index()
    }

    /// Replaces the index with an exported file; rejects altered, truncated or foreign files with an
    /// `IndexError` and then keeps the current index. With `texts` (`{ id: text }`, the caller's
    /// import) every document must end with its words: a version-1 file's are rebuilt from them.
    /// Without (the engine's own recovery and migration), a version-1 file's documents load without.
    #[wasm_bindgen(js_name = importIndex)]
    pub fn import_index(&self, bytes: &[u8], texts: JsValue) -> JsResult<()> {
        if texts.is_undefined() {
            return Ok(self.borrow_mut().import_index(bytes)?);
        }
        let texts: HashMap<String, String> = from_js(texts, "texts")?;
        let pairs: Vec<(&str, &str)> = texts
            .iter()
            .map(|(i, t)| (i.as_str(), t.as_str()))
            .collect();
        Ok(self.borrow_mut().import_index_with_texts(bytes, &pairs)?)
    }

    /// Gives documents read without words (version-1 records) their words from `texts` (`{ id:
    /// text }`, the texts they were encoded from), in one pass; returns the ids left without.
    #[wasm_bindgen(js_name = restoreWords)]
    pub fn restore_words(&self, texts: JsValue) -> JsResult<Vec<String>> {
        let texts: HashMap<String, String> = from_js(texts, "texts")?;
        let texts = texts
            .iter()
            .map(|(i, t)| (i.as_str(), t.as_str()))
            .collect();
        Ok(self.borrow_mut().restore_words(&texts))
    }

    /// Each document's own index file (a `Uint8Array`), or `null` for an id not stored: the records
    /// persistence writes.
    #[wasm_bindgen(js_name = exportDocuments)]
    pub fn export_documents(&self, ids: Vec<String>) -> js_sys::Array {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let as_js = |record: Option<Vec<u8>>| match record {
            Some(bytes) => JsValue::from(js_sys::Uint8Array::from(bytes.as_slice())),
            None => JsValue::NULL,
        };
        let records = self.borrow().export_documents(&ids);
        records.into_iter().map(as_js).collect()
    }

    /// Stores documents from their records (`ids[i]`'s is `records[i]`), replacing earlier versions,
    /// in one change; returns the damaged records left out as `[{ id, message }]` (IndexErrors).
    #[wasm_bindgen(js_name = applyDocuments)]
    pub fn apply_documents(
        &self,
        ids: Vec<String>,
        records: Vec<js_sys::Uint8Array>,
    ) -> JsResult<JsValue> {
        let bytes: Vec<Vec<u8>> = records.iter().map(|r| r.to_vec()).collect();
        let records: Vec<(&str, &[u8])> = ids
            .iter()
            .zip(&bytes)
            .map(|(id, b)| (id.as_str(), b.as_slice()))
            .collect();
        to_js(&self.borrow_mut().apply_documents(&records)?)
    }

    /// Every stored document's id, in store order.
    #[wasm_bindgen(js_name = documentIds)]
    pub fn document_ids(&self) -> Vec<String> {
        self.borrow().document_ids()
    }

    /// A stored document's metadata (null when it has none), or undefined if it is not stored.
    #[wasm_bindgen(js_name = documentMetadata)]
    pub fn document_metadata(&self, id: &str) -> JsResult<JsValue> {
        match self.borrow().document_metadata(id) {
            Some(value) => to_js(value),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Empties the index.
    pub fn clear(&self) {
        self.borrow_mut().clear();
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
        let begun = (|| {
            let filter = filter
                .as_deref()
                .map(MetadataFilter::from_json)
                .transpose()?;
            let mode: SearchMode = mode
                .as_deref()
                .map(str::parse)
                .transpose()?
                .unwrap_or_default();
            self.borrow().begin_search(query, k, filter, mode)
        })();
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let (plan, pending) = begun.map_err(JsFailure::from)?;
            let gpu_scores = match pending {
                Some(pending) => Some(pending.resolve().await),
                None => None,
            };
            let results = inner.borrow().finish_search(plan, gpu_scores);
            Ok(to_js(&results)?)
        })
    }

    /// The query's token vectors, one array per token (what a `max_sim` multivector engine takes).
    #[wasm_bindgen(js_name = encodeQuery)]
    pub fn encode_query(&self, text: &str) -> JsResult<JsValue> {
        to_js(&self.borrow().query_vectors(text)?)
    }

    /// The encoder's rows (row-major, `dim` per token) for exactly these token ids: for parity checks.
    #[wasm_bindgen(js_name = encodeIds)]
    pub fn encode_ids(&self, ids: Vec<u32>) -> JsResult<Vec<f32>> {
        Ok(self.borrow().encode_ids(&ids)?.data)
    }

    /// The tokenizer's ids for `text`, without special tokens or ColBERT markers.
    #[wasm_bindgen(js_name = tokenIds)]
    pub fn token_ids(&self, text: &str) -> JsResult<Vec<u32>> {
        Ok(self.borrow().tokenizer().raw_ids(text)?)
    }

    /// Records why no GPU could be opened (e.g. no `navigator.gpu`): `gpuError` reports it.
    #[wasm_bindgen(js_name = gpuUnavailable)]
    pub fn gpu_unavailable(&self, why: &str) {
        self.borrow().backends().gpu_unavailable(why);
    }

    /// What the JS API's getters report, in one read: `{ size, passageCount, tokenCount, backend,
    /// backendMeasurement, precision, modelSha256, gpuAdapter, gpuError }`.
    pub fn stats(&self) -> JsResult<JsValue> {
        to_js(&self.borrow().stats())
    }
}
