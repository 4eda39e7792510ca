//! What vectors does the model give a tokenised text? Runs the ONNX graph with tract (optimised once,
//! symbolic batch and sequence length, so no re-planning per length) and L2-normalises each kept token.

use std::sync::Arc;

use tract_onnx::prelude::*;

use super::manifest::Manifest;
use super::tokenize::Encoding;
use crate::error::{Error, Result};

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

/// Which tensor a graph input wants, recognised by its ONNX name.
#[derive(Debug, Clone, Copy)]
enum InputRole {
    Ids,
    AttentionMask,
    TokenTypes,
}

pub struct Encoder {
    plan: Arc<TypedRunnableModel>,
    inputs: Vec<InputRole>,
    dim: usize,
    normalize: bool,
}

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::Model(format!("{e:#}"))
}

impl Encoder {
    pub fn new(onnx_bytes: &[u8], manifest: &Manifest) -> Result<Encoder> {
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut &onnx_bytes[..])
            .map_err(model_err)?;
        let inputs = input_roles(&model)?;
        let batch = model.sym("batch");
        let sequence = model.sym("sequence");
        for ix in 0..inputs.len() {
            let fact = InferenceFact::dt_shape(
                i64::datum_type(),
                tvec![batch.to_dim(), sequence.to_dim()],
            );
            model.set_input_fact(ix, fact).map_err(model_err)?;
        }
        select_output(&mut model, manifest.output.as_deref())?;
        let plan = model
            .into_optimized()
            .map_err(model_err)?
            .into_runnable()
            .map_err(model_err)?;
        Ok(Encoder {
            plan,
            inputs,
            dim: manifest.dim,
            normalize: manifest.normalize,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Encodes one text and keeps the rows its encoding marks `keep`.
    pub fn encode(&self, encoding: &Encoding) -> Result<TokenVectors> {
        let len = encoding.len();
        let tensor = |values: Vec<i64>| -> Result<TValue> {
            Ok(Tensor::from_shape(&[1, len], &values)
                .map_err(model_err)?
                .into_tvalue())
        };
        let feeds = self
            .inputs
            .iter()
            .map(|role| match role {
                InputRole::Ids => tensor(encoding.ids.clone()),
                InputRole::AttentionMask => tensor(encoding.attention_mask.clone()),
                InputRole::TokenTypes => tensor(vec![0; len]),
            })
            .collect::<Result<TVec<TValue>>>()?;
        let outputs = self.plan.run(feeds).map_err(model_err)?;
        let view = outputs[0].to_plain_array_view::<f32>().map_err(model_err)?;
        if view.shape() != [1, len, self.dim] {
            return Err(Error::Model(format!(
                "model output has shape {:?}, expected [1, {len}, {}] (check the manifest's dim)",
                view.shape(),
                self.dim
            )));
        }
        let mut vectors = TokenVectors {
            dim: self.dim,
            data: Vec::new(),
            offsets: Vec::new(),
        };
        for (pos, row) in view
            .index_axis(tract_ndarray::Axis(0), 0)
            .outer_iter()
            .enumerate()
        {
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

fn input_roles(model: &InferenceModel) -> Result<Vec<InputRole>> {
    model
        .input_outlets()
        .map_err(model_err)?
        .iter()
        .map(|outlet| {
            let name = &model.node(outlet.node).name;
            if name.contains("input_ids") {
                Ok(InputRole::Ids)
            } else if name.contains("attention_mask") {
                Ok(InputRole::AttentionMask)
            } else if name.contains("token_type_ids") {
                Ok(InputRole::TokenTypes)
            } else {
                Err(Error::Model(format!(
                    "graph input '{name}' is not one of input_ids, attention_mask, token_type_ids"
                )))
            }
        })
        .collect()
}

/// Keeps only the output holding the token vectors, so unused heads (pooled outputs) are pruned.
fn select_output(model: &mut InferenceModel, wanted: Option<&str>) -> Result<()> {
    let outlets = model.output_outlets().map_err(model_err)?.to_vec();
    let chosen = match wanted {
        None => *outlets
            .first()
            .ok_or_else(|| Error::Model("graph has no outputs".into()))?,
        Some(name) => *outlets
            .iter()
            .find(|o| model.outlet_label(**o) == Some(name) || model.node(o.node).name == name)
            .ok_or_else(|| Error::Model(format!("graph has no output named '{name}'")))?,
    };
    model.select_output_outlets(&[chosen]).map_err(model_err)
}

pub(crate) fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
