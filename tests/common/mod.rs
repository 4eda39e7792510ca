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

/// The files of a bundle around the tiny BERT export fixture (fast: 16-dim vectors, two layers) with
/// the default bundle's tokenizer; 64-token documents, so short texts already make several passages.
pub fn tiny_bundle() -> BundleFiles {
    use colbert_wasm::model::sha256_hex;
    let model_path = std::env::var("COLBERT_EXPORTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/exports")
        })
        .join("bert-sdpa-torchscript/model.onnx");
    let model = std::fs::read(model_path).unwrap();
    let tokenizer = std::fs::read(bundle_dir().join("tokenizer.json")).unwrap();
    let manifest = serde_json::json!({
        "format": "colbert-wasm-bundle", "format_version": 1, "name": "tiny",
        "files": {
            "model": { "path": "model.onnx", "sha256": sha256_hex(&model) },
            "tokenizer": { "path": "tokenizer.json", "sha256": sha256_hex(&tokenizer) },
        },
        "dim": 16, "query_length": 32, "document_length": 64,
        "query_marker": { "token": "[unused0]" }, "document_marker": { "token": "[unused1]" },
        "query_mask_expansion": true, "skiplist": [".", ","],
    });
    BundleFiles {
        manifest: manifest.to_string().into_bytes(),
        model,
        tokenizer,
    }
}

/// A retriever over `tiny_bundle()`.
pub fn tiny_retriever() -> Retriever {
    let b = tiny_bundle();
    Retriever::from_bytes(&b.manifest, b.model, b.tokenizer).unwrap()
}
