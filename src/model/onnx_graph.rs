//! What is in an ONNX file before tract sees it? Decodes the protobuf, fills tensors stored as
//! external data (torch's `model.onnx` + `model.onnx.data`) from bytes — a browser has no file system,
//! so tract's own path-based resolver cannot be used — and reads the facts the loader checks against
//! the tokenizer: how many rows the token embedding table has.

use std::collections::{BTreeMap, HashSet};

use prost::Message;
use tract_onnx::pb::{tensor_proto::DataLocation, GraphProto, ModelProto, NodeProto, TensorProto};

use crate::error::{Error, Result};

/// External data files by the `location` the graph names them with (e.g. "model.onnx.data").
pub type ExternalData = BTreeMap<String, Vec<u8>>;

/// Decodes an ONNX file; a file that is not ONNX protobuf is a `ModelError`.
pub fn decode(onnx_bytes: &[u8]) -> Result<ModelProto> {
    // Straight from the caller's bytes: tract's `proto_model_for_read` first copies the whole file
    // into a buffer of its own, a transient third copy at the load's peak.
    ModelProto::decode(onnx_bytes)
        .map_err(|e| Error::Model(format!("not a readable ONNX file: {e}")))
}

/// The external data files a model names, in first-use order (what a manifest must list).
pub fn external_data_locations(model: &ModelProto) -> Vec<String> {
    let mut seen = Vec::<String>::new();
    if let Some(graph) = &model.graph {
        visit_tensors(graph, &mut |t: &TensorProto| {
            if let Some(location) = external_location(t) {
                if !seen.iter().any(|s| s == location) {
                    seen.push(location.to_owned());
                }
            }
        });
    }
    seen
}

/// Moves every externally stored tensor's bytes into the tensor itself, so the model parses from
/// memory. A location missing from `external` is a `ManifestError` naming it; a range past the end
/// of its file is a `ModelError` naming the tensor.
pub fn inline_external_data(model: &mut ModelProto, external: &ExternalData) -> Result<()> {
    let mut failure = None;
    if let Some(graph) = model.graph.as_mut() {
        visit_tensors_mut(graph, &mut |t: &mut TensorProto| {
            if failure.is_none() {
                if let Err(e) = inline_one(t, external) {
                    failure = Some(e);
                }
            }
        });
    }
    failure.map_or(Ok(()), Err)
}

fn external_location(t: &TensorProto) -> Option<&str> {
    if t.data_location != Some(DataLocation::External as i32) {
        return None;
    }
    entry(t, "location")
}

fn entry<'a>(t: &'a TensorProto, key: &str) -> Option<&'a str> {
    t.external_data
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.value.as_str())
}

fn inline_one(t: &mut TensorProto, external: &ExternalData) -> Result<()> {
    let Some(location) = external_location(t) else {
        return Ok(());
    };
    let file = external.get(location).ok_or_else(|| {
        Error::Manifest(format!(
            "the model keeps tensor '{}' in external data file '{location}', which the bundle does not \
             include (list it in the manifest's files as model_data)",
            t.name
        ))
    })?;
    let number = |key: &str| -> Result<Option<usize>> {
        entry(t, key)
            .map(|v| {
                v.parse::<usize>().map_err(|_| {
                    Error::Model(format!("tensor '{}' has external {key} '{v}'", t.name))
                })
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let length = number("length")?.unwrap_or(file.len().saturating_sub(offset));
    let range = offset
        .checked_add(length)
        .filter(|end| *end <= file.len())
        .map(|end| offset..end)
        .ok_or_else(|| {
            Error::Model(format!(
                "tensor '{}' reads bytes {offset}..{offset}+{length} of '{location}', which has {} bytes",
                t.name,
                file.len()
            ))
        })?;
    t.raw_data = file[range].to_vec();
    t.data_location = Some(DataLocation::Default as i32);
    t.external_data.clear();
    Ok(())
}

/// Every tensor of the graph and its subgraphs: initializers and constant attributes.
fn visit_tensors(graph: &GraphProto, f: &mut dyn FnMut(&TensorProto)) {
    graph.initializer.iter().for_each(&mut *f);
    for node in &graph.node {
        for attr in &node.attribute {
            attr.t.iter().chain(&attr.tensors).for_each(&mut *f);
            attr.g
                .iter()
                .chain(&attr.graphs)
                .for_each(|g| visit_tensors(g, f));
        }
    }
}

fn visit_tensors_mut(graph: &mut GraphProto, f: &mut dyn FnMut(&mut TensorProto)) {
    graph.initializer.iter_mut().for_each(&mut *f);
    for node in &mut graph.node {
        for attr in &mut node.attribute {
            attr.t.iter_mut().chain(&mut attr.tensors).for_each(&mut *f);
            for g in attr.g.iter_mut().chain(&mut attr.graphs) {
                visit_tensors_mut(g, f);
            }
        }
    }
}

/// Ops that carry token ids through unchanged (types and shapes only), between the `input_ids`
/// input and the embedding lookup.
const ID_PASS_THROUGH: &[&str] = &[
    "Cast",
    "Unsqueeze",
    "Squeeze",
    "Reshape",
    "Identity",
    "Flatten",
];
/// Ops between a stored weight and the Gather that reads it (int8 exports dequantise first).
const WEIGHT_PASS_THROUGH: &[&str] = &["DequantizeLinear", "Cast", "Identity"];

/// Rows of the token embedding table: the first dimension of the weight a `Gather` reads with the
/// graph input `ids_input` as indices (through casts and reshapes only, so position tables indexed
/// by values computed from the ids do not count). `None` when no such lookup is found.
pub fn embedding_rows(model: &ModelProto, ids_input: &str) -> Option<usize> {
    let graph = model.graph.as_ref()?;
    let producers: BTreeMap<&str, &NodeProto> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
        .collect();
    let mut ids_like: HashSet<&str> = HashSet::from([ids_input]);
    // Nodes are topologically sorted in ONNX, so one pass follows the ids forward.
    for node in &graph.node {
        let reads_ids = node
            .input
            .first()
            .is_some_and(|i| ids_like.contains(i.as_str()));
        if ID_PASS_THROUGH.contains(&node.op_type.as_str()) && reads_ids {
            ids_like.extend(node.output.iter().map(String::as_str));
        }
        let is_lookup = node.op_type == "Gather"
            && node
                .input
                .get(1)
                .is_some_and(|i| ids_like.contains(i.as_str()))
            && gather_axis(node) == 0;
        if is_lookup {
            if let Some(rows) = weight_rows(graph, &producers, &node.input[0]) {
                return Some(rows);
            }
        }
    }
    None
}

fn gather_axis(node: &NodeProto) -> i64 {
    node.attribute
        .iter()
        .find(|a| a.name == "axis")
        .map_or(0, |a| a.i)
}

fn weight_rows(
    graph: &GraphProto,
    producers: &BTreeMap<&str, &NodeProto>,
    name: &str,
) -> Option<usize> {
    let rows_of = |t: &TensorProto| {
        (t.dims.len() == 2)
            .then(|| usize::try_from(t.dims[0]).ok())
            .flatten()
    };
    if let Some(t) = graph.initializer.iter().find(|t| t.name == name) {
        return rows_of(t);
    }
    let node = producers.get(name)?;
    match node.op_type.as_str() {
        "Constant" => node
            .attribute
            .iter()
            .find(|a| a.name == "value")
            .and_then(|a| a.t.as_ref())
            .and_then(rows_of),
        op if WEIGHT_PASS_THROUGH.contains(&op) => {
            weight_rows(graph, producers, node.input.first()?)
        }
        _ => None,
    }
}
