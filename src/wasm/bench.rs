//! `npm run bench:maxsim`'s glue: MaxSim over a synthetic index, timed from JavaScript. A benchmark
//! harness, kept out of the API binding (`super`); it owns no logic either.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::convert::{to_js, JsFailure, JsResult};
use crate::error::Error;
use crate::index::Precision;
use crate::score::GpuMaxSim;

/// `npm run bench:maxsim`: MaxSim over a synthetic index, timed from JavaScript.
#[wasm_bindgen]
pub struct MaxSimBench {
    store: Rc<crate::index::TokenStore>,
    query: Rc<crate::score::QueryTokens>,
    /// The query as text, for the lexical half of `rank`, and its sentence vector.
    query_text: String,
    query_sentence: Vec<f32>,
    gpu: Rc<RefCell<Option<GpuMaxSim>>>,
}

#[wasm_bindgen]
impl MaxSimBench {
    /// `docs` documents x `tokens` tokens x `dim` dims in `precision`; a `query_tokens`-token query.
    #[wasm_bindgen(constructor)]
    pub fn new(
        docs: usize,
        tokens: usize,
        dim: usize,
        query_tokens: usize,
        precision: &str,
    ) -> JsResult<MaxSimBench> {
        use crate::score::bench::{synthetic_store, synthetic_vectors};
        let precision: Precision = precision.parse()?;
        let query = synthetic_vectors(query_tokens, dim, &mut 99);
        Ok(MaxSimBench {
            store: Rc::new(synthetic_store(docs, tokens, dim, precision, 7)?),
            query: Rc::new(crate::score::QueryTokens::new(&query)),
            query_text: crate::score::bench::synthetic_text(5, &mut 99),
            query_sentence: synthetic_vectors(1, crate::score::bench::SENTENCE_DIM, &mut 98).data,
            gpu: Rc::new(RefCell::new(None)),
        })
    }

    /// Scores every document with a CPU backend ("simd" or "scalar"); returns the scores' sum.
    #[wasm_bindgen(js_name = scoreCpu)]
    pub fn score_cpu(&self, backend: &str) -> JsResult<f32> {
        Ok(self.scores_cpu(backend)?.iter().sum())
    }

    /// Every document's score with a CPU backend: for the wasm conformance test.
    #[wasm_bindgen(js_name = scoresCpu)]
    pub fn scores_cpu(&self, backend: &str) -> JsResult<Vec<f32>> {
        use crate::score::{LanesMaxSim, MaxSim, ScalarMaxSim};
        let kernel: &dyn MaxSim = match backend {
            "scalar" => &ScalarMaxSim,
            "simd" => &LanesMaxSim,
            other => {
                let msg = format!("no CPU backend '{other}'");
                return Err(Error::InvalidInput(msg).into());
            }
        };
        Ok(kernel.score_all(&self.query, &self.store))
    }

    /// A whole CPU search after encoding in `mode` ("late", "hybrid", "lexical"): the SIMD first
    /// pass, BM25, sentence cosines, best passages, fusion, exactly as `Retriever::search`; returns
    /// the hits' count.
    pub fn rank(&self, mode: &str, k: usize) -> JsResult<usize> {
        use crate::retriever::{Ranking, SearchMode};
        use crate::score::{LanesMaxSim, MaxSim};
        let mode: SearchMode = mode.parse()?;
        let ranking = Ranking {
            text: &self.query_text,
            sentence: (mode == SearchMode::Hybrid).then_some(self.query_sentence.as_slice()),
            mode,
            filter: None,
            k,
        };
        let late = (mode != SearchMode::Lexical).then(|| {
            (
                &*self.query,
                LanesMaxSim.score_all(&self.query, &self.store),
            )
        });
        Ok(ranking.rank(&self.store, late).len())
    }

    /// `{ vectorBytes, lexicalBytes, fileWordBytes, sentenceBytes }`: the token vectors' bytes in
    /// memory, the lexical index's (dictionary + every passage's terms), what the words add to the
    /// index file, and the sentence vectors' (memory and file alike).
    #[wasm_bindgen(js_name = indexBytes)]
    pub fn index_bytes(&self) -> Result<JsValue, JsValue> {
        let bytes = self.store.byte_sizes();
        let obj = js_sys::Object::new();
        for (key, value) in [
            ("vectorBytes", bytes.vectors),
            ("lexicalBytes", bytes.lexical),
            ("fileWordBytes", bytes.file_words),
            ("sentenceBytes", bytes.sentences),
        ] {
            js_sys::Reflect::set(&obj, &key.into(), &(value as f64).into())?;
        }
        Ok(obj.into())
    }

    /// Opens a WebGPU device (software adapters accepted) for `scoreGpu`.
    #[wasm_bindgen(js_name = openGpu)]
    pub fn open_gpu(&self) -> js_sys::Promise {
        let slot = self.gpu.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let gpu = GpuMaxSim::new(true, None).await.map_err(JsFailure::from)?;
            let name = gpu.adapter_name.clone();
            *slot.borrow_mut() = Some(gpu);
            Ok(JsValue::from_str(&name))
        })
    }

    /// Scores every document on the GPU; resolves to the scores' sum.
    #[wasm_bindgen(js_name = scoreGpu)]
    pub fn score_gpu(&self) -> js_sys::Promise {
        let pending = match self.gpu.borrow().as_ref() {
            Some(gpu) => gpu.dispatch(&self.query, &self.store),
            None => Err(crate::score::GpuError::NoAdapter(
                "call openGpu first".into(),
            )),
        };
        wasm_bindgen_futures::future_to_promise(async move {
            let gpu_err = |e: crate::score::GpuError| JsValue::from(JsFailure::from(e));
            let scores = pending.map_err(gpu_err)?.resolve().await.map_err(gpu_err)?;
            Ok(JsValue::from_f64(f64::from(scores.iter().sum::<f32>())))
        })
    }

    /// The query and the documents' vectors as f32 rows, for the plain-JavaScript peer loop.
    #[wasm_bindgen(js_name = queryRows)]
    pub fn query_rows(&self) -> Vec<f32> {
        self.query.data.clone()
    }

    #[wasm_bindgen(js_name = documentRows)]
    pub fn document_rows(&self) -> Vec<f32> {
        let dim = self.store.dim();
        (0..self.store.token_count())
            .flat_map(|t| self.store.tokens().decode(dim, t))
            .collect()
    }

    /// `iterations` x 32 multiply-adds in wasm SIMD: the peak the kernels are measured against.
    #[wasm_bindgen(js_name = mulAddPeak)]
    pub fn mul_add_peak(iterations: u32) -> f32 {
        crate::score::bench::mul_add_peak(iterations)
    }
}

/// `npm run bench:persist`: an index file of `docs` synthetic documents (`tokens` unit vectors of
/// `dim` values each, int8) for the model `model_sha256`, so a stored index of any size can be made
/// without encoding.
#[wasm_bindgen(js_name = syntheticIndex)]
pub fn synthetic_index(docs: usize, tokens: usize, dim: usize, model_sha256: &str) -> JsResult<Vec<u8>> {
    Ok(crate::score::bench::synthetic_store(docs, tokens, dim, Precision::Int8, 3)?
        .to_bytes(model_sha256))
}

/// One op's time per encode, for `profileEncoder`.
#[derive(serde::Serialize)]
struct JsOpTime {
    op: String,
    nodes: usize,
    ms: f64,
}

/// `npm run bench:encode`: where an encode of exactly `ids` spends its time in this wasm build, by
/// op (`Encoder::profile_ops` over `runs` runs), slowest first.
#[wasm_bindgen(js_name = profileEncoder)]
pub fn profile_encoder(
    retriever: &super::Retriever,
    ids: Vec<u32>,
    runs: usize,
) -> JsResult<JsValue> {
    let encoding = crate::model::Encoding::of_ids(&ids);
    let profile = retriever.borrow().encoder().profile_ops(&encoding, runs)?;
    let rows: Vec<JsOpTime> = profile
        .into_iter()
        .map(|t| JsOpTime {
            op: t.op,
            nodes: t.nodes,
            ms: t.seconds * 1e3,
        })
        .collect();
    to_js(&rows)
}
