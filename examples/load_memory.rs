//! Where does an engine's memory go? Loads the default bundle natively under a counting allocator and
//! prints live and peak heap after each stage. In wasm, linear memory never shrinks, so the load's
//! *peak* is what each engine (each worker of the encoder pool) keeps:
//! `cargo run --profile native-test --example load_memory [bundle-dir]`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use colbert_wasm::model::Bundle;
use colbert_wasm::Retriever;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn report(stage: &str) {
    let mb = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "{stage:<44} live {:7.1} MB   peak since last line {:7.1} MB",
        mb(LIVE.load(Relaxed)),
        mb(PEAK.swap(LIVE.load(Relaxed), Relaxed))
    );
}

/// The same load as the encoder's, one tract stage at a time (probe only; fixed length 64).
fn stages_of_tract(bytes: &[u8]) {
    use tract_onnx::prelude::*;
    let proto = colbert_wasm::model::onnx_graph::decode(bytes).unwrap();
    report("  probe: protobuf decoded");
    let mut model = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true)
        .model_for_proto_model(&proto)
        .unwrap();
    report("  probe: tract InferenceModel built");
    drop(proto);
    report("  probe: protobuf dropped");
    for ix in 0..model.input_outlets().unwrap().len() {
        model.set_input_fact(ix, i64::fact([1, 64]).into()).unwrap();
    }
    let typed = model.into_typed().unwrap();
    report("  probe: typed");
    let decluttered = typed.into_decluttered().unwrap();
    report("  probe: decluttered");
    let optimized = decluttered.into_optimized().unwrap();
    report("  probe: optimised");
    let runnable = optimized.into_runnable().unwrap();
    report("  probe: runnable");
    drop(runnable);
    report("  probe: dropped");
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"));
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let (manifest, model, tokenizer) = (
        read("manifest.json"),
        read("model.onnx"),
        read("tokenizer.json"),
    );
    report("bundle files read");
    if std::env::var_os("TRACT_STAGES").is_some() {
        stages_of_tract(&model);
    }
    let bundle = Bundle::from_parts(&manifest, model, tokenizer).unwrap();
    report("bundle checked (sha256)");
    let retriever = Retriever::from_bundle(bundle).unwrap();
    report("retriever loaded (bundle bytes dropped)");
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(18);
    let mut retriever = retriever;
    retriever.add_documents(&[("doc", text.as_str())]).unwrap();
    report("one 180-token document encoded and added");
    retriever.search(&text[..120], 1).unwrap();
    report("one query");
}
