//! Where does an encode spend its time? Per-op times of a 180-token text (20 runs), natively:
//! `cargo run --profile native-test --example op_profile -- models/default [tokens]`.
//! The same profile in wasm: `npm run bench:encode` prints it for Node and Chromium.
use colbert_wasm::model::{Encoder, Encoding, Manifest};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).map(String::as_str).unwrap_or("models/default"));
    let n: usize = args.get(2).map_or(180, |a| a.parse().expect("tokens"));
    let manifest = Manifest::from_json(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let encoder = Encoder::new(&std::fs::read(dir.join("model.onnx")).unwrap(), &manifest).unwrap();
    let profile = encoder
        .profile_ops(&Encoding::of_ids(&vec![2000; n]), 20)
        .unwrap();
    let total: f64 = profile.iter().map(|t| t.seconds).sum();
    println!("{n} tokens: {:.1} ms per encode", total * 1e3);
    for t in &profile {
        let share = 100.0 * t.seconds / total;
        println!(
            "{share:>6.1}% {:>8.2} ms {:>4} nodes  {}",
            t.seconds * 1e3,
            t.nodes,
            t.op
        );
    }
}
