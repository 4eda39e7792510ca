//! Shared helpers for the native tests: where the default bundle lives and how to read it.
#![allow(dead_code)]

use std::path::PathBuf;

use colbert_wasm::Retriever;

/// The default bundle built by `scripts/build-model.sh`; override with COLBERT_BUNDLE_DIR.
pub fn bundle_dir() -> PathBuf {
    let dir = std::env::var("COLBERT_BUNDLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"));
    assert!(
        dir.join("manifest.json").exists(),
        "no model bundle at {} (run `bash scripts/build-model.sh` or `npm test`)",
        dir.display()
    );
    dir
}

pub struct BundleFiles {
    pub manifest: Vec<u8>,
    pub model: Vec<u8>,
    pub tokenizer: Vec<u8>,
}

pub fn read_bundle() -> BundleFiles {
    let dir = bundle_dir();
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    BundleFiles {
        manifest: read("manifest.json"),
        model: read("model.onnx"),
        tokenizer: read("tokenizer.json"),
    }
}

pub fn load_default() -> Retriever {
    let b = read_bundle();
    Retriever::from_bytes(&b.manifest, b.model, b.tokenizer).expect("default bundle loads")
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A GPU backend on this machine's adapter (Mesa lavapipe here), software adapters accepted.
/// `None` when there is none, unless COLBERT_REQUIRE_GPU=1 (set by `npm test`, whose set-up installs
/// lavapipe): then a missing adapter fails the test instead of leaving the GPU unchecked.
pub fn open_gpu(binding_limit: Option<u64>) -> Option<colbert_wasm::score::GpuMaxSim> {
    match colbert_wasm::score::GpuMaxSim::new_blocking(true, binding_limit) {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var("COLBERT_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("COLBERT_REQUIRE_GPU=1 but {e}")
        }
        Err(e) => {
            eprintln!("GPU backend not checked: {e}");
            None
        }
    }
}
