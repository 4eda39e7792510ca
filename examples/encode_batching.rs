//! Does batching help tract? Encodes 8 documents of mixed lengths one at a time and as one
//! length-sorted, padded batch, and prints the time per document and how far the batched vectors
//! drift from the one-at-a-time ones:
//! `cargo run --profile native-test --example encode_batching -- models/default/model.onnx`.
use std::time::Instant;

use tract_onnx::prelude::*;

const LENGTHS: [usize; 8] = [60, 75, 90, 110, 130, 150, 165, 180];

fn plan(bytes: &[u8]) -> Arc<TypedRunnableModel> {
    let mut model = tract_onnx::onnx().model_for_read(&mut &bytes[..]).unwrap();
    let (batch, sequence) = (model.sym("batch"), model.sym("sequence"));
    for ix in 0..model.input_outlets().unwrap().len() {
        let fact =
            InferenceFact::dt_shape(i64::datum_type(), tvec![batch.to_dim(), sequence.to_dim()]);
        model.set_input_fact(ix, fact).unwrap();
    }
    let first = model.output_outlets().unwrap()[0];
    model.select_output_outlets(&[first]).unwrap();
    model.into_optimized().unwrap().into_runnable().unwrap()
}

/// Inputs for documents padded to the longest: ids, attention mask, token types (by input name).
fn feeds(model: &TypedRunnableModel, docs: &[Vec<i64>]) -> TVec<TValue> {
    let width = docs.iter().map(Vec::len).max().unwrap();
    let rows = |f: &dyn Fn(&[i64], usize) -> i64| -> TValue {
        let values: Vec<i64> = docs
            .iter()
            .flat_map(|d| (0..width).map(move |i| (d, i)))
            .map(|(d, i)| f(d, i))
            .collect();
        Tensor::from_shape(&[docs.len(), width], &values)
            .unwrap()
            .into_tvalue()
    };
    model
        .model()
        .input_outlets()
        .unwrap()
        .iter()
        .map(|o| {
            let name = &model.model().node(o.node).name;
            if name.contains("attention_mask") {
                rows(&|d, i| (i < d.len()) as i64)
            } else if name.contains("token_type") {
                rows(&|_, _| 0)
            } else {
                rows(&|d, i| d.get(i).copied().unwrap_or(0))
            }
        })
        .collect()
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "models/default/model.onnx".into());
    let plan = plan(&std::fs::read(&path).unwrap());
    let docs: Vec<Vec<i64>> = LENGTHS
        .iter()
        .map(|&n| (0..n as i64).map(|i| 1000 + (i * 37) % 20000).collect())
        .collect();
    let run = |batch: &[Vec<i64>]| plan.run(feeds(&plan, batch)).unwrap().remove(0);
    run(&docs[..1]);
    run(&docs);

    let started = Instant::now();
    let singles: Vec<_> = docs.iter().map(|d| run(std::slice::from_ref(d))).collect();
    let single_ms = started.elapsed().as_secs_f64() * 1e3 / docs.len() as f64;
    let started = Instant::now();
    let batched = run(&docs);
    let batched_ms = started.elapsed().as_secs_f64() * 1e3 / docs.len() as f64;

    let batched = batched.to_plain_array_view::<f32>().unwrap();
    let mut drift = 0f32;
    for (b, (doc, single)) in docs.iter().zip(&singles).enumerate() {
        let single = single.to_plain_array_view::<f32>().unwrap();
        for t in 0..doc.len() {
            for (x, y) in single
                .slice(tract_ndarray::s![0, t, ..])
                .iter()
                .zip(batched.slice(tract_ndarray::s![b, t, ..]))
            {
                drift = drift.max((x - y).abs());
            }
        }
    }
    println!("{path}: one at a time {single_ms:.1} ms/doc, one padded batch of {} {batched_ms:.1} ms/doc ({:.2}x), max |batched - single| {drift:.2e}",
        docs.len(), single_ms / batched_ms);
}
