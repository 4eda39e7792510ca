//! How does tract get a runnable graph? Finds the graph's inputs by role, plans it for the graph's
//! own length symbol, and falls back to one plan per length (cached) when tract cannot plan a
//! symbolic length; picks the outputs the manifest names.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::error::{Error, Result};

/// A tract error as this crate's `Model` error, with tract's whole cause chain.
pub(super) fn model_err(e: impl std::fmt::Display) -> Error {
    Error::Model(format!("{e:#}"))
}

/// Which tensor a graph input wants, recognised by its ONNX name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum InputRole {
    Ids,
    AttentionMask,
    TokenTypes,
}

/// A graph input: its role and the integer type the graph declares for it.
#[derive(Debug, Clone, Copy)]
pub(super) struct GraphInput {
    pub role: InputRole,
    pub datum_type: DatumType,
}

/// How the loader plans the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Planning {
    /// One plan for every length, or per-length plans when tract cannot plan a symbolic length.
    #[default]
    Auto,
    /// Per-length plans only: lets tests run the fallback on graphs that would not need it.
    PerLength,
}

/// How many per-length plans are kept when the graph has no plan for every length.
const PER_LENGTH_PLANS: usize = 24;

pub(super) enum Plans {
    /// One plan for any sequence length (the graph's own length symbol).
    Symbolic(Arc<TypedRunnableModel>),
    /// The analysed graph, planned for each length met (most recent first).
    PerLength {
        model: Box<InferenceModel>,
        cache: Mutex<VecDeque<(usize, Arc<TypedRunnableModel>)>>,
    },
}

impl Plans {
    /// The plan for a sequence of `len` tokens: the symbolic one, or the cached per-length one.
    pub fn for_length(&self, len: usize, inputs: &[GraphInput]) -> Result<Arc<TypedRunnableModel>> {
        match self {
            Plans::Symbolic(plan) => Ok(plan.clone()),
            Plans::PerLength { model, cache } => {
                let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(at) = cache.iter().position(|(l, _)| *l == len) {
                    let entry = cache.remove(at).expect("position is in range");
                    cache.push_front(entry);
                } else {
                    let plan = plan_fixed(model, inputs, len)?;
                    cache.push_front((len, plan));
                    cache.truncate(PER_LENGTH_PLANS);
                }
                Ok(cache[0].1.clone())
            }
        }
    }
}

/// One plan for every length when tract can plan the graph with a symbolic length; else the
/// analysed graph for per-length plans, checked now on a short length so a graph that cannot run
/// at all is refused at load with tract's reason (which names the node and op).
pub(super) fn plan(
    model: InferenceModel,
    inputs: &[GraphInput],
    planning: Planning,
) -> Result<Plans> {
    let mut symbolic = model.clone();
    let sequence = sequence_dim(&symbolic, inputs);
    let symbolic_plan = match planning {
        Planning::Auto => {
            set_inputs(&mut symbolic, inputs, sequence).and_then(|_| optimise(symbolic))
        }
        Planning::PerLength => Err(Error::Model("per-length planning was asked for".into())),
    };
    match symbolic_plan {
        Ok(plan) => Ok(Plans::Symbolic(plan)),
        Err(symbolic_err) => {
            let first = plan_fixed(&model, inputs, 8).map_err(|e| {
                Error::Model(format!(
                    "the graph cannot be planned: {e} (with a symbolic length: {symbolic_err})"
                ))
            })?;
            Ok(Plans::PerLength {
                model: Box::new(model),
                cache: Mutex::new(VecDeque::from([(8, first)])),
            })
        }
    }
}

fn plan_fixed(
    model: &InferenceModel,
    inputs: &[GraphInput],
    len: usize,
) -> Result<Arc<TypedRunnableModel>> {
    let mut model = model.clone();
    set_inputs(&mut model, inputs, len.to_dim())?;
    optimise(model)
}

fn optimise(model: InferenceModel) -> Result<Arc<TypedRunnableModel>> {
    let mut typed = model.into_typed().map_err(model_err)?;
    cumsum_over_integers(&mut typed).map_err(model_err)?;
    typed
        .into_optimized()
        .map_err(model_err)?
        .into_runnable()
        .map_err(model_err)
}

/// tract-onnx reads every ONNX `Cast` to int64 as a cast to its symbolic-dimension type (`TDim`), so
/// shape arithmetic stays symbolic; but tract's `CumSum` sums numbers only. RoBERTa-family graphs
/// (XLM-R ColBERTs) from torch's default exporter compute position ids as a cumulative sum of an
/// int64-cast padding mask, and failed with "CumSum: TDim is not a number". Such a sum runs on i64
/// and its result goes back to `TDim`, so the rest of the graph sees the types it was typed with.
fn cumsum_over_integers(model: &mut TypedModel) -> TractResult<()> {
    use tract_onnx::tract_core::internal::TypedModelPatch;
    use tract_onnx::tract_core::ops::array::CumSum;
    use tract_onnx::tract_core::ops::cast::cast;
    let over_dims: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|node| node.op_is::<CumSum>())
        .filter(|node| {
            model
                .outlet_fact(node.inputs[0])
                .is_ok_and(|fact| fact.datum_type == TDim::datum_type())
        })
        .map(|node| node.id)
        .collect();
    for id in over_dims {
        let node = model.node(id).clone();
        let mut patch = TypedModelPatch::default();
        let dims = patch.tap_model(model, node.inputs[0])?;
        let ints = patch.wire_node(
            format!("{}.to_i64", node.name),
            cast(i64::datum_type()),
            &[dims],
        )?;
        let sums = patch.wire_node(format!("{}.on_i64", node.name), node.op.clone(), &ints)?;
        let back = patch.wire_node(
            format!("{}.to_dim", node.name),
            cast(TDim::datum_type()),
            &sums,
        )?;
        patch.shunt_outside(model, OutletId::new(id, 0), back[0])?;
        patch.apply(model)?;
    }
    Ok(())
}

/// The graph's own symbol for the sequence axis (so its internal shape expressions unify with the
/// inputs), or a fresh one when the export declares none.
fn sequence_dim(model: &InferenceModel, inputs: &[GraphInput]) -> TDim {
    let declared = inputs
        .iter()
        .position(|i| i.role == InputRole::Ids)
        .and_then(|ix| model.input_fact(ix).ok())
        .and_then(|fact| fact.shape.dim(1))
        .and_then(|d| d.concretize());
    match declared {
        Some(d @ TDim::Sym(_)) => d,
        _ => model.sym("sequence").to_dim(),
    }
}

/// Batch 1 (we encode one text at a time: ColBERT vectors of a padded batch differ under int8) and
/// the given sequence length, in the integer type each input declares.
fn set_inputs(model: &mut InferenceModel, inputs: &[GraphInput], sequence: TDim) -> Result<()> {
    for (ix, input) in inputs.iter().enumerate() {
        let fact = InferenceFact::dt_shape(input.datum_type, tvec![1.to_dim(), sequence.clone()]);
        model.set_input_fact(ix, fact).map_err(model_err)?;
    }
    Ok(())
}

pub(super) fn graph_inputs(model: &InferenceModel) -> Result<Vec<GraphInput>> {
    let outlets = model.input_outlets().map_err(model_err)?.to_vec();
    let inputs = outlets
        .iter()
        .enumerate()
        .map(|(ix, outlet)| {
            let name = &model.node(outlet.node).name;
            let role = if name.contains("input_ids") {
                InputRole::Ids
            } else if name.contains("attention_mask") {
                InputRole::AttentionMask
            } else if name.contains("token_type_ids") {
                InputRole::TokenTypes
            } else {
                return Err(Error::Model(format!(
                    "graph input '{name}' is not one of input_ids, attention_mask, token_type_ids"
                )));
            };
            let declared = model
                .input_fact(ix)
                .ok()
                .and_then(|f| f.datum_type.concretize());
            let datum_type = match declared {
                Some(DatumType::I32) => DatumType::I32,
                _ => DatumType::I64,
            };
            Ok(GraphInput { role, datum_type })
        })
        .collect::<Result<Vec<_>>>()?;
    if !inputs.iter().any(|i| i.role == InputRole::Ids) {
        return Err(Error::Model("graph has no input_ids input".into()));
    }
    Ok(inputs)
}

pub(super) fn input_name(
    model: &InferenceModel,
    inputs: &[GraphInput],
    role: InputRole,
) -> Result<String> {
    let ix = inputs
        .iter()
        .position(|i| i.role == role)
        .ok_or_else(|| Error::Model(format!("graph has no {role:?} input")))?;
    let outlet = model.input_outlets().map_err(model_err)?[ix];
    Ok(model.node(outlet.node).name.clone())
}

/// Keeps only the output holding the token vectors and, if the manifest names one, the sentence
/// vector's, so unused heads are pruned; returns whether the sentence vector is kept.
pub(super) fn select_outputs(
    model: &mut InferenceModel,
    tokens: Option<&str>,
    sentence: Option<&str>,
) -> Result<bool> {
    let outlets = model.output_outlets().map_err(model_err)?.to_vec();
    let named = |name: &str| {
        outlets
            .iter()
            .find(|o| model.outlet_label(**o) == Some(name) || model.node(o.node).name == name)
            .copied()
            .ok_or_else(|| Error::Model(format!("graph has no output named '{name}'")))
    };
    let mut chosen = vec![match tokens {
        None => *outlets
            .first()
            .ok_or_else(|| Error::Model("graph has no outputs".into()))?,
        Some(name) => named(name)?,
    }];
    if let Some(name) = sentence {
        chosen.push(named(name)?);
    }
    model.select_output_outlets(&chosen).map_err(model_err)?;
    Ok(chosen.len() == 2)
}
