//! The JavaScript face of the crate, and the only file that knows wasm-bindgen. It owns no logic:
//! each method converts arguments, calls the core `Retriever`, and funnels errors through `into_error`.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::error::Error;

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
}

#[derive(Serialize)]
struct JsRange {
    start: usize,
    end: usize,
}

#[wasm_bindgen]
pub struct Retriever {
    inner: crate::Retriever,
}

#[wasm_bindgen]
impl Retriever {
    /// Verifies the bundle's files against the manifest's sha256 and loads the model.
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(
        manifest_json: &[u8],
        model: Vec<u8>,
        tokenizer: Vec<u8>,
    ) -> Result<Retriever, JsValue> {
        let inner =
            crate::Retriever::from_bytes(manifest_json, model, tokenizer).map_err(into_error)?;
        Ok(Retriever { inner })
    }

    /// Encodes and stores documents; ids and texts are parallel arrays. All-or-nothing.
    #[wasm_bindgen(js_name = addDocuments)]
    pub fn add_documents(&mut self, ids: Vec<String>, texts: Vec<String>) -> Result<(), JsValue> {
        if ids.len() != texts.len() {
            let msg = format!("{} ids but {} texts", ids.len(), texts.len());
            return Err(into_error(Error::InvalidInput(msg)));
        }
        let docs: Vec<(String, String)> = ids.into_iter().zip(texts).collect();
        self.inner.add_documents(&docs).map_err(into_error)
    }

    /// The `k` best documents for `query` as `[{ id, score, passage: { start, end } }]`, best first.
    pub fn search(&self, query: &str, k: usize) -> Result<JsValue, JsValue> {
        let hits = self.inner.search(query, k).map_err(into_error)?;
        let hits: Vec<JsHit> = hits
            .iter()
            .map(|h| JsHit {
                id: &h.id,
                score: h.score,
                passage: JsRange {
                    start: h.passage_utf16.start,
                    end: h.passage_utf16.end,
                },
            })
            .collect();
        serde_wasm_bindgen::to_value(&hits)
            .map_err(|e| into_error(Error::InvalidInput(e.to_string())))
    }

    /// The tokenizer's ids for `text`, without special tokens or ColBERT markers.
    #[wasm_bindgen(js_name = tokenIds)]
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, JsValue> {
        self.inner.tokenizer().raw_ids(text).map_err(into_error)
    }

    /// Number of stored documents.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.inner.len()
    }

    /// Number of stored passages (long documents are split to fit the model).
    #[wasm_bindgen(getter, js_name = passageCount)]
    pub fn passage_count(&self) -> usize {
        self.inner.passage_count()
    }

    /// Number of stored token vectors over all documents.
    #[wasm_bindgen(getter, js_name = tokenCount)]
    pub fn token_count(&self) -> usize {
        self.inner.token_count()
    }

    /// sha256 of the loaded model file.
    #[wasm_bindgen(getter, js_name = modelSha256)]
    pub fn model_sha256(&self) -> String {
        self.inner.model_sha256().to_owned()
    }

    /// MaxSim backend in use ("simd": the CPU lanes kernel).
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.inner.backend().to_owned()
    }
}
