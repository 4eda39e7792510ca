//! The loader against what real exporters write: every graph of `../shared/fixtures/exports`
//! (BERT and ModernBERT, torch's dynamo and TorchScript exporters, sdpa and eager attention, fp32
//! with external data and int8) and of this repository's `tests/fixtures/exports` (RoBERTa, made by
//! `scripts/make_roberta_exports.py`) runs and gives onnxruntime's rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use colbert_wasm::model::onnx_graph::{self, ExternalData};
use colbert_wasm::model::{Encoder, Encoding, Manifest, Planning};
use colbert_wasm::Error;

/// The fixtures folder; COLBERT_EXPORTS_DIR overrides it.
fn exports_dir() -> PathBuf {
    let dir = std::env::var("COLBERT_EXPORTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/exports")
        });
    assert!(dir.is_dir(), "no export fixtures at {}", dir.display());
    dir
}

/// The RoBERTa graphs kept in this repository.
fn repo_exports_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exports")
}

/// Every fixture folder of both roots.
fn fixture_folders() -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = [exports_dir(), repo_exports_dir()]
        .iter()
        .flat_map(|root| std::fs::read_dir(root).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("reference.json").exists())
        .collect();
    folders.sort();
    assert!(
        folders.len() >= 12,
        "expected the 8 shared and 4 RoBERTa export fixtures, found {}",
        folders.len()
    );
    folders
}

fn manifest(dim: usize) -> Manifest {
    let json = serde_json::json!({
        "format": "colbert-wasm-bundle", "format_version": 1, "name": "fixture",
        "files": {
            "model": { "path": "model.onnx", "sha256": "0".repeat(64) },
            "tokenizer": { "path": "tokenizer.json", "sha256": "0".repeat(64) },
        },
        "dim": dim, "query_length": 32, "document_length": 256,
    });
    Manifest::from_json(json.to_string().as_bytes()).unwrap()
}

/// The external data files a graph names, read from beside it.
fn external_data(folder: &Path, model: &[u8]) -> ExternalData {
    let proto = onnx_graph::decode(model).unwrap();
    onnx_graph::external_data_locations(&proto)
        .into_iter()
        .map(|location| {
            let bytes = std::fs::read(folder.join(&location)).unwrap();
            (location, bytes)
        })
        .collect()
}

fn ids_encoding(ids: &[i64]) -> Encoding {
    let n = ids.len();
    Encoding {
        ids: ids.to_vec(),
        attention_mask: vec![1; n],
        keep: vec![true; n],
        offsets: vec![None; n],
    }
}

struct Difference {
    max_abs: f32,
    worst_cosine: f32,
}

fn compare(ours: &[f32], reference: &[f32], dim: usize) -> Difference {
    assert_eq!(ours.len(), reference.len());
    let max_abs = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    let worst_cosine = ours
        .chunks(dim)
        .zip(reference.chunks(dim))
        .map(|(a, b)| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            dot / (norm(a) * norm(b))
        })
        .fold(1.0, f32::min);
    Difference {
        max_abs,
        worst_cosine,
    }
}

/// Runs one graph on the reference ids; returns the largest difference over all sequences.
fn check_graph(folder: &Path, file: &str, precision: &str) -> Difference {
    check_graph_planned(folder, file, precision, Planning::Auto)
}

fn check_graph_planned(
    folder: &Path,
    file: &str,
    precision: &str,
    planning: Planning,
) -> Difference {
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("reference.json")).unwrap()).unwrap();
    let ids: Vec<Vec<i64>> = serde_json::from_value(reference["ids"].clone()).unwrap();
    let rows: Vec<Vec<Vec<f32>>> = serde_json::from_value(reference[precision].clone()).unwrap();
    let dim = rows[0][0].len();
    let model = std::fs::read(folder.join(file)).unwrap();
    let external = external_data(folder, &model);
    let encoder = Encoder::with_planning(&model, &external, &manifest(dim), planning)
        .unwrap_or_else(|e| panic!("{}/{file} does not load: {e}", folder.display()));
    let mut worst = Difference {
        max_abs: 0.0,
        worst_cosine: 1.0,
    };
    for (ids, expected) in ids.iter().zip(&rows) {
        let ours = encoder.encode(&ids_encoding(ids)).unwrap();
        let expected: Vec<f32> = expected.iter().flatten().copied().collect();
        let d = compare(&ours.data, &expected, dim);
        worst.max_abs = worst.max_abs.max(d.max_abs);
        worst.worst_cosine = worst.worst_cosine.min(d.worst_cosine);
    }
    eprintln!(
        "{:<30} {file:<16} max abs {:.2e}, worst token cosine {:.6}, {}",
        folder.file_name().unwrap().to_string_lossy(),
        worst.max_abs,
        worst.worst_cosine,
        if encoder.has_symbolic_plan() {
            "one plan"
        } else {
            "per-length plans"
        }
    );
    worst
}

#[test]
fn every_fp32_export_matches_onnxruntime_within_1e_4() {
    for folder in fixture_folders() {
        let d = check_graph(&folder, "model.onnx", "fp32");
        assert!(
            d.max_abs <= 1e-4,
            "{}: max abs {}",
            folder.display(),
            d.max_abs
        );
    }
}

#[test]
fn every_int8_export_matches_onnxruntime() {
    for folder in fixture_folders() {
        let d = check_graph(&folder, "model_int8.onnx", "int8");
        // One quantisation step may round the other way in tract: then rows differ by more than
        // 1e-3 but still point the same way.
        assert!(
            d.max_abs <= 1e-3 || d.worst_cosine >= 0.999,
            "{}: max abs {}, worst cosine {}",
            folder.display(),
            d.max_abs,
            d.worst_cosine
        );
    }
}

#[test]
fn the_per_length_fallback_gives_the_same_rows() {
    // The fallback for graphs tract cannot plan with a symbolic length, forced on graphs of both
    // architectures and exporters (one plan per sequence length, cached).
    for folder in [
        exports_dir().join("bert-sdpa-default"),
        exports_dir().join("modernbert-eager-torchscript"),
        repo_exports_dir().join("roberta-sdpa-default"),
    ] {
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        for (file, precision) in [("model.onnx", "fp32"), ("model_int8.onnx", "int8")] {
            let d = check_graph_planned(&folder, file, precision, Planning::PerLength);
            let bound = if precision == "fp32" { 1e-4 } else { 1e-3 };
            assert!(d.max_abs <= bound, "{name}/{file}: max abs {}", d.max_abs);
        }
    }
}

#[test]
fn embedding_table_is_found_in_every_export() {
    let expected = BTreeMap::from([("bert", 30522), ("modernbert", 2048), ("roberta", 2048)]);
    for folder in fixture_folders() {
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let rows = expected[name.split('-').next().unwrap()];
        for file in ["model.onnx", "model_int8.onnx"] {
            let proto = onnx_graph::decode(&std::fs::read(folder.join(file)).unwrap()).unwrap();
            assert_eq!(
                onnx_graph::embedding_rows(&proto, "input_ids"),
                Some(rows),
                "{name}/{file}"
            );
        }
    }
}

#[test]
fn ids_past_the_embedding_table_and_bad_lengths_are_refused_not_run() {
    let folder = exports_dir().join("bert-sdpa-torchscript");
    let model = std::fs::read(folder.join("model.onnx")).unwrap();
    let encoder = Encoder::new(&model, &manifest(16)).unwrap();
    for ids in [
        vec![101, 30522, 102],
        vec![101, -1, 102],
        vec![101, 99_999_999, 102],
        vec![],
        vec![101; 257],
    ] {
        match encoder.encode(&ids_encoding(&ids)) {
            Err(Error::InvalidInput(msg)) => eprintln!("refused: {msg}"),
            other => panic!("{} ids: expected InvalidInput, got {other:?}", ids.len()),
        }
    }
    assert!(encoder.encode(&ids_encoding(&[101, 30521, 102])).is_ok());
}

#[test]
fn a_missing_or_short_external_data_file_is_a_typed_error_naming_it() {
    let folder = exports_dir().join("bert-sdpa-default");
    let model = std::fs::read(folder.join("model.onnx")).unwrap();
    match Encoder::new(&model, &manifest(16)) {
        Err(Error::Manifest(msg)) => assert!(msg.contains("model.onnx.data"), "{msg}"),
        other => panic!("expected a ManifestError, got {:?}", other.err()),
    }
    let mut short = external_data(&folder, &model);
    short
        .values_mut()
        .for_each(|bytes| bytes.truncate(bytes.len() / 2));
    match Encoder::with_external_data(&model, &short, &manifest(16)) {
        Err(Error::Model(msg)) => assert!(msg.contains("model.onnx.data"), "{msg}"),
        other => panic!("expected a ModelError, got {:?}", other.err()),
    }
}

#[test]
fn bytes_that_are_not_onnx_are_a_model_error() {
    for bytes in [&b""[..], b"not a model", &[0xff; 64]] {
        assert!(matches!(
            Encoder::new(bytes, &manifest(16)),
            Err(Error::Model(_))
        ));
    }
}
