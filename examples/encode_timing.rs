//! Native encoder timing for one bundle's model file: `cargo run --release --example encode_timing -- DIR [model.onnx]`.
use std::time::Instant;

use colbert_wasm::model::{Encoder, Encoding, Manifest};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).map(String::as_str).unwrap_or("models/default"));
    let model_file = args.get(2).map(String::as_str).unwrap_or("model.onnx");
    let manifest = Manifest::from_json(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let model = std::fs::read(dir.join(model_file)).unwrap();
    let started = Instant::now();
    let encoder = Encoder::new(&model, &manifest).unwrap();
    println!(
        "{model_file}: load + optimise {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    for n in [32usize, 180] {
        let encoding = Encoding {
            ids: vec![2000; n],
            attention_mask: vec![1; n],
            keep: vec![true; n],
            offsets: vec![None; n],
        };
        encoder.encode(&encoding).unwrap();
        let runs = 20;
        let started = Instant::now();
        for _ in 0..runs {
            encoder.encode(&encoding).unwrap();
        }
        println!(
            "  {n} tokens: {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3 / runs as f64
        );
    }
}
