//! What vectors does the model give a tokenised text? Runs the ONNX graph with tract and
//! L2-normalises each kept token. Real exporters write graphs tract cannot always plan for a symbolic
//! length, so planning falls back from one plan for every length to one plan per length (cached).

use std::sync::Arc;

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use super::manifest::Manifest;
use super::onnx_graph::{self, ExternalData};
pub use super::plan::Planning;
use super::plan::{
    graph_inputs, input_name, model_err, plan, select_outputs, GraphInput, InputRole, Plans,
};
use super::tokenize::Encoding;
use crate::error::{Error, Result};

/// Time spent in one kind of op per encode, and its node count (`Encoder::profile_ops`).
#[derive(Debug, Clone, PartialEq)]
pub struct OpTime {
    pub op: String,
    pub nodes: usize,
    pub seconds: f64,
}

/// Per-token vectors of one text: `n_tokens` rows of `dim` floats, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenVectors {
    pub dim: usize,
    pub data: Vec<f32>,
    /// Byte range in the source text of each row; `None` for special tokens.
    pub offsets: Vec<Option<(usize, usize)>>,
}

impl TokenVectors {
    pub fn n_tokens(&self) -> usize {
        self.offsets.len()
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

pub struct Encoder {
    plans: Plans,
    inputs: Vec<GraphInput>,
    dim: usize,
    normalize: bool,
    /// Ids must be below this: the embedding table's rows (or the tokenizer's size, when the table
    /// cannot be found in the graph). An id past the table would panic inside tract's Gather.
    id_limit: Option<usize>,
    embedding_rows: Option<usize>,
    /// Longest sequence the manifest allows (positions past the model's tables would panic too).
    max_length: usize,
    /// Whether the plan's second output is the text's sentence vector.
    has_sentence: bool,
}

impl Encoder {
    pub fn new(onnx_bytes: &[u8], manifest: &Manifest) -> Result<Encoder> {
        Encoder::with_external_data(onnx_bytes, &ExternalData::new(), manifest)
    }

    /// Loads a graph whose weights may sit in external data files (`external`: by location).
    pub fn with_external_data(
        onnx_bytes: &[u8],
        external: &ExternalData,
        manifest: &Manifest,
    ) -> Result<Encoder> {
        Encoder::with_planning(onnx_bytes, external, manifest, Planning::Auto)
    }

    pub fn with_planning(
        onnx_bytes: &[u8],
        external: &ExternalData,
        manifest: &Manifest,
        planning: Planning,
    ) -> Result<Encoder> {
        Encoder::from_proto(
            onnx_graph::decode(onnx_bytes)?,
            external,
            manifest,
            planning,
        )
    }

    /// Like `with_external_data`, but frees the file's bytes as soon as they are decoded: the load's
    /// peak is what a wasm instance keeps (linear memory never shrinks), and holding the file, its
    /// decoded copy and tract's copy at once was a third of that peak.
    pub fn from_owned_bytes(
        onnx_bytes: Vec<u8>,
        external: &ExternalData,
        manifest: &Manifest,
    ) -> Result<Encoder> {
        let proto = onnx_graph::decode(&onnx_bytes)?;
        drop(onnx_bytes);
        Encoder::from_proto(proto, external, manifest, Planning::Auto)
    }

    fn from_proto(
        mut proto: ModelProto,
        external: &ExternalData,
        manifest: &Manifest,
        planning: Planning,
    ) -> Result<Encoder> {
        onnx_graph::inline_external_data(&mut proto, external)?;
        // Exporters annotate intermediate shapes with their own symbols (batch_size, and for
        // Flatten products of them) that tract cannot always unify with its own inference: tract
        // infers every shape itself instead.
        let mut model = tract_onnx::onnx()
            .with_ignore_output_shapes(true)
            .with_ignore_value_info(true)
            .model_for_proto_model(&proto)
            .map_err(model_err)?;
        let inputs = graph_inputs(&model)?;
        let ids_name = input_name(&model, &inputs, InputRole::Ids)?;
        let embedding_rows = onnx_graph::embedding_rows(&proto, &ids_name);
        drop(proto);
        let has_sentence = select_outputs(
            &mut model,
            manifest.output.as_deref(),
            manifest.sentence_output.as_deref(),
        )?;
        let plans = plan(model, &inputs, planning)?;
        Ok(Encoder {
            plans,
            inputs,
            dim: manifest.dim,
            normalize: manifest.normalize,
            id_limit: embedding_rows,
            embedding_rows,
            max_length: manifest.query_length.max(manifest.document_length),
            has_sentence,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows of the graph's token embedding table, when the loader could find it.
    pub fn embedding_rows(&self) -> Option<usize> {
        self.embedding_rows
    }

    /// Bounds ids by the tokenizer's vocabulary when the graph's own table was not found.
    pub fn limit_ids_to(&mut self, vocabulary: usize) {
        self.id_limit.get_or_insert(vocabulary);
    }

    /// Whether the graph runs with one plan for every length (false: planned per length).
    pub fn has_symbolic_plan(&self) -> bool {
        matches!(self.plans, Plans::Symbolic(_))
    }

    /// Encodes one text and keeps the rows its encoding marks `keep`.
    pub fn encode(&self, encoding: &Encoding) -> Result<TokenVectors> {
        Ok(self.encode_with_sentence(encoding)?.0)
    }

    /// `encode`, plus the text's sentence vector (L2-normalised) when the manifest names the graph
    /// output holding it.
    pub fn encode_with_sentence(
        &self,
        encoding: &Encoding,
    ) -> Result<(TokenVectors, Option<Vec<f32>>)> {
        let feeds = self.feeds(encoding)?;
        let outputs = self
            .plan_for(encoding.len())?
            .run(feeds)
            .map_err(model_err)?;
        let rows = self.rows(&outputs[0], encoding)?;
        let sentence = match outputs.get(1).filter(|_| self.has_sentence) {
            Some(output) => Some(sentence_vector(output)?),
            None => None,
        };
        Ok((rows, sentence))
    }

    /// Whether `encode_with_sentence` gives sentence vectors.
    pub fn has_sentence(&self) -> bool {
        self.has_sentence
    }

    /// Where an encode of `encoding` spends its time: every node timed over `runs` runs (after one
    /// untimed), summed by op and input type (tract's optimised op names, e.g. whether GELU was
    /// fused), as seconds per encode, slowest first.
    pub fn profile_ops(&self, encoding: &Encoding, runs: usize) -> Result<Vec<OpTime>> {
        let plan = self.plan_for(encoding.len())?;
        let mut state = TypedSimpleState::new(&plan).map_err(model_err)?;
        let mut by_op: std::collections::BTreeMap<String, OpTime> = Default::default();
        state.run(self.feeds(encoding)?).map_err(model_err)?;
        for _ in 0..runs {
            Self::timed_run(&mut state, self.feeds(encoding)?, &mut by_op)?;
        }
        let mut times: Vec<OpTime> = by_op.into_values().collect();
        for t in &mut times {
            t.seconds /= runs.max(1) as f64;
            t.nodes /= runs.max(1);
        }
        times.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        Ok(times)
    }

    fn timed_run(
        state: &mut TypedSimpleState,
        feeds: TVec<TValue>,
        by_op: &mut std::collections::BTreeMap<String, OpTime>,
    ) -> Result<()> {
        state
            .run_plan_with_eval(feeds, |session, op_state, node, inputs| {
                // By op and input type: an int8 matmul and an f32 one are different costs.
                let op = match inputs.first() {
                    Some(input) => format!("{} {:?}", node.op().name(), input.datum_type()),
                    None => node.op().name().into_owned(),
                };
                let started = web_time::Instant::now();
                let outputs = tract_onnx::tract_core::plan::eval(session, op_state, node, inputs);
                let entry = by_op.entry(op.clone()).or_insert_with(|| OpTime {
                    op,
                    nodes: 0,
                    seconds: 0.0,
                });
                entry.nodes += 1;
                entry.seconds += started.elapsed().as_secs_f64();
                outputs
            })
            .map_err(model_err)?;
        Ok(())
    }

    /// The graph's inputs for one text, by role (token types all 0).
    fn feeds(&self, encoding: &Encoding) -> Result<TVec<TValue>> {
        self.check(encoding)?;
        let len = encoding.len();
        let token_types = vec![0; len];
        self.inputs
            .iter()
            .map(|input| {
                let values = match input.role {
                    InputRole::Ids => &encoding.ids,
                    InputRole::AttentionMask => &encoding.attention_mask,
                    InputRole::TokenTypes => &token_types,
                };
                let tensor = Tensor::from_shape(&[1, len], values).map_err(model_err)?;
                Ok(tensor
                    .cast_to_dt(input.datum_type)
                    .map_err(model_err)?
                    .into_owned()
                    .into_tvalue())
            })
            .collect::<Result<TVec<TValue>>>()
    }

    /// Refuses what would make tract panic: no tokens, too many, or ids past the embedding table.
    fn check(&self, encoding: &Encoding) -> Result<()> {
        let len = encoding.len();
        if len == 0 || len > self.max_length {
            return Err(Error::InvalidInput(format!(
                "{len} token ids: the model takes 1 to {} per text",
                self.max_length
            )));
        }
        let limit = self.id_limit.map_or(i64::MAX, |n| n as i64);
        if let Some(bad) = encoding.ids.iter().find(|id| !(0..limit).contains(*id)) {
            return Err(Error::InvalidInput(format!(
                "token id {bad} is outside the model's vocabulary (0..{limit})"
            )));
        }
        Ok(())
    }

    fn plan_for(&self, len: usize) -> Result<Arc<TypedRunnableModel>> {
        self.plans.for_length(len, &self.inputs)
    }

    fn rows(&self, output: &TValue, encoding: &Encoding) -> Result<TokenVectors> {
        let len = encoding.len();
        let view = output.to_plain_array_view::<f32>().map_err(model_err)?;
        if view.shape() != [1, len, self.dim] {
            return Err(Error::Model(format!(
                "model output has shape {:?}, expected [1, {len}, {}] (check the manifest's dim)",
                view.shape(),
                self.dim
            )));
        }
        let mut vectors = TokenVectors {
            dim: self.dim,
            data: Vec::with_capacity(len * self.dim),
            offsets: Vec::with_capacity(len),
        };
        let rows = view.index_axis(tract_ndarray::Axis(0), 0);
        for (pos, row) in rows.outer_iter().enumerate() {
            if !encoding.keep[pos] {
                continue;
            }
            let start = vectors.data.len();
            vectors.data.extend(row.iter());
            if self.normalize {
                l2_normalize(&mut vectors.data[start..]);
            }
            vectors.offsets.push(encoding.offsets[pos]);
        }
        Ok(vectors)
    }
}

/// A `[1, width]` sentence output as one L2-normalised vector.
fn sentence_vector(output: &TValue) -> Result<Vec<f32>> {
    let view = output.to_plain_array_view::<f32>().map_err(model_err)?;
    if view.ndim() != 2 || view.shape()[0] != 1 {
        return Err(Error::Model(format!(
            "the sentence output has shape {:?}, expected [1, width]",
            view.shape()
        )));
    }
    let mut v: Vec<f32> = view.iter().copied().collect();
    if v.iter().any(|x| !x.is_finite()) {
        return Err(Error::Model("the sentence output is not finite".into()));
    }
    l2_normalize(&mut v);
    Ok(v)
}

pub(crate) fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
