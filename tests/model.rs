//! The model stage against the default bundle: tokenizer ids, ColBERT conventions, vector shapes,
//! norms and parity with onnxruntime, and rejection of corrupt or mismatched bundles.

mod common;

use std::sync::OnceLock;

use colbert_wasm::model::{sha256_hex, Encoder, Encoding, Manifest, TextKind, TokenVectors};
use colbert_wasm::{Error, Retriever};
use common::{fixture, load_default, read_bundle};

fn retriever() -> &'static Retriever {
    static R: OnceLock<Retriever> = OnceLock::new();
    R.get_or_init(load_default)
}

#[test]
fn tokenizer_ids_match_python_tokenizers() {
    let cases = fixture("tokenizer_ids.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 300);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        assert_eq!(
            retriever().tokenizer().raw_ids(text).unwrap(),
            expected,
            "text {text:?}"
        );
    }
}

#[test]
fn query_is_cls_text_sep_and_capped_at_query_length() {
    let tok = retriever().tokenizer();
    let short = tok.encode("hello world", TextKind::Query).unwrap();
    assert_eq!(short.ids, vec![101, 7592, 2088, 102]);
    assert_eq!(short.attention_mask, vec![1; 4]);

    let cap = tok.query_length();
    assert_eq!(cap, 128, "the default bundle's query budget");
    let long = tok.encode(&"word ".repeat(200), TextKind::Query).unwrap();
    assert_eq!(long.len(), cap);
    assert_eq!((long.ids[0], long.ids[cap - 1]), (101, 102));
}

#[test]
fn document_keeps_punctuation_positions_out_of_scoring() {
    let enc = retriever()
        .tokenizer()
        .encode("Hello, World!", TextKind::Document)
        .unwrap();
    assert_eq!(enc.ids, vec![101, 7592, 1010, 2088, 999, 102]);
    assert_eq!(enc.keep, vec![true, true, false, true, false, true]);
    assert_eq!(enc.offsets[1], Some((0, 5)));
}

#[test]
fn document_is_capped_at_document_length() {
    let enc = retriever()
        .tokenizer()
        .encode(&"note ".repeat(1000), TextKind::Document)
        .unwrap();
    assert_eq!(enc.len(), 256);
}

#[test]
fn vectors_have_one_unit_row_per_kept_token() {
    let v = retriever()
        .encode("Hello, World! ColBERT in the browser.", TextKind::Document)
        .unwrap();
    let kept = retriever()
        .tokenizer()
        .encode("Hello, World! ColBERT in the browser.", TextKind::Document)
        .unwrap();
    assert_eq!(v.dim, 128);
    assert_eq!(v.n_tokens(), kept.keep.iter().filter(|k| **k).count());
    assert_eq!(v.data.len(), v.n_tokens() * 128);
    for i in 0..v.n_tokens() {
        let norm: f32 = v.row(i).iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "row {i} norm {norm}");
    }
}

/// Raw (unnormalised) vectors from `model` for fixed ids: isolates the encoder from the tokenizer.
fn raw_vectors(encoder: &Encoder, ids: &[i64]) -> TokenVectors {
    let n = ids.len();
    let encoding = Encoding {
        ids: ids.to_vec(),
        attention_mask: vec![1; n],
        keep: vec![true; n],
        offsets: vec![None; n],
    };
    encoder.encode(&encoding).unwrap()
}

fn encoder_for(model: &[u8]) -> Encoder {
    let manifest = manifest_for(model, |m| m["normalize"] = false.into());
    Encoder::new(model, &Manifest::from_json(&manifest).unwrap()).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

struct ReferenceCase {
    ids: Vec<i64>,
    rows: Vec<Vec<f32>>,
}

fn reference_cases(name: &str, model: &[u8]) -> Vec<ReferenceCase> {
    let reference = fixture(name);
    let digest = sha256_hex(model);
    assert_eq!(
        reference["model_sha256"].as_str().unwrap(),
        digest,
        "{name} was made from another model"
    );
    let cases: Vec<ReferenceCase> = reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| ReferenceCase {
            ids: serde_json::from_value(c["ids"].clone()).unwrap(),
            rows: serde_json::from_value(c["vectors"].clone()).unwrap(),
        })
        .collect();
    assert!(cases.len() >= 20, "{name} has only {} cases", cases.len());
    cases
}

#[test]
fn fp32_vectors_match_onnxruntime_within_1e_4() {
    let model = std::fs::read(common::bundle_dir().join("model.fp32.onnx"))
        .expect("bundle keeps model.fp32.onnx");
    let encoder = encoder_for(&model);
    let mut worst = 0f32;
    for case in reference_cases("reference_vectors_fp32.json", &model) {
        let v = raw_vectors(&encoder, &case.ids);
        assert_eq!(v.n_tokens(), case.rows.len());
        for (i, row) in case.rows.iter().enumerate() {
            worst = v
                .row(i)
                .iter()
                .zip(row)
                .map(|(a, b)| (a - b).abs())
                .fold(worst, f32::max);
        }
    }
    assert!(
        worst < 1e-4,
        "max abs difference to onnxruntime fp32: {worst}"
    );
}

#[test]
fn int8_vectors_track_fp32_and_onnxruntime_int8() {
    let fp32 = encoder_for(&std::fs::read(common::bundle_dir().join("model.fp32.onnx")).unwrap());
    let int8_model = read_bundle().model;
    let int8 = encoder_for(&int8_model);
    let (mut to_fp32, mut to_ort, mut worst_to_ort, mut n) = (0f32, 0f32, 1f32, 0);
    for case in reference_cases("reference_vectors.json", &int8_model) {
        let (a, b) = (raw_vectors(&int8, &case.ids), raw_vectors(&fp32, &case.ids));
        for (i, ort_row) in case.rows.iter().enumerate() {
            to_fp32 += cosine(a.row(i), b.row(i));
            let c = cosine(a.row(i), ort_row);
            to_ort += c;
            worst_to_ort = worst_to_ort.min(c);
            n += 1;
        }
    }
    let (to_fp32, to_ort) = (to_fp32 / n as f32, to_ort / n as f32);
    assert!(to_fp32 >= 0.99, "mean token cosine int8 vs fp32: {to_fp32}");
    // Runtimes round int8 activations differently; the vectors must still agree closely.
    assert!(
        to_ort >= 0.99 && worst_to_ort >= 0.95,
        "int8 vs onnxruntime int8: mean {to_ort}, worst {worst_to_ort}"
    );
}

#[test]
fn tampered_model_fails_its_checksum() {
    let mut b = read_bundle();
    b.model[1000] ^= 0xff;
    let err = Retriever::from_bytes(&b.manifest, b.model, b.tokenizer)
        .err()
        .unwrap();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
}

/// Rewrites the manifest so that `model` bytes pass the checksum: isolates the loader's own checks.
fn manifest_for(model: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut m: serde_json::Value = serde_json::from_slice(&read_bundle().manifest).unwrap();
    let digest = sha256_hex(model);
    m["files"]["model"]["sha256"] = digest.into();
    edit(&mut m);
    serde_json::to_vec(&m).unwrap()
}

#[test]
fn corrupt_model_bytes_are_a_model_error() {
    let b = read_bundle();
    for model in [
        b"not an onnx graph at all".to_vec(),
        b.model[..b.model.len() / 2].to_vec(),
        vec![],
    ] {
        let manifest = manifest_for(&model, |_| {});
        let err = Retriever::from_bytes(&manifest, model, b.tokenizer.clone())
            .err()
            .unwrap();
        assert!(matches!(err, Error::Model(_)), "{err}");
    }
}

#[test]
fn wrong_manifests_are_rejected() {
    let b = read_bundle();
    let broken: Vec<(&str, Box<dyn Fn(&mut serde_json::Value)>)> = vec![
        (
            "format_version",
            Box::new(|m| m["format_version"] = 99.into()),
        ),
        (
            "format",
            Box::new(|m| m["format"] = "something-else".into()),
        ),
        (
            "files.tokenizer",
            Box::new(|m| {
                m["files"]
                    .as_object_mut()
                    .unwrap()
                    .remove("tokenizer")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
        ("query_length", Box::new(|m| m["query_length"] = 2.into())),
        (
            "mask_token",
            Box::new(|m| m["mask_token"] = "[NOT-A-TOKEN]".into()),
        ),
    ];
    for (what, edit) in broken {
        let manifest = manifest_for(&b.model, edit);
        let err = Retriever::from_bytes(&manifest, b.model.clone(), b.tokenizer.clone())
            .err()
            .unwrap();
        assert!(matches!(err, Error::Manifest(_)), "{what}: {err}");
    }
    let err = Retriever::from_bytes(b"{ not json", b.model.clone(), b.tokenizer.clone())
        .err()
        .unwrap();
    assert!(matches!(err, Error::Manifest(_)), "{err}");
}

#[test]
fn manifest_dim_that_disagrees_with_the_graph_fails_at_encode() {
    let b = read_bundle();
    let manifest = manifest_for(&b.model, |m| m["dim"] = 64.into());
    let r = Retriever::from_bytes(&manifest, b.model, b.tokenizer).unwrap();
    let err = r.encode("hello", TextKind::Query).err().unwrap();
    assert!(matches!(err, Error::Model(_)), "{err}");
}

/// The op profile covers every node of the default graph once per run: the per-token int8 matmuls
/// (36), the fp32 ones (attention and head) and GELU fused, as ARCHITECTURE.md's profile says.
#[test]
fn op_profile_times_every_node_by_op() {
    let encoder = retriever().encoder();
    let profile = encoder
        .profile_ops(&Encoding::of_ids(&[101, 2023, 2003, 102]), 2)
        .unwrap();
    let nodes = |op: &str| profile.iter().find(|t| t.op == op).map_or(0, |t| t.nodes);
    assert_eq!(nodes("OptMatMul I8"), 36, "{profile:?}");
    assert!(
        nodes("OptMatMul F32") > 0 && nodes("GeluExact F32") == 6,
        "{profile:?}"
    );
    assert!(profile.windows(2).all(|w| w[0].seconds >= w[1].seconds));
    assert!(profile.iter().all(|t| t.seconds >= 0.0 && t.nodes > 0));
}

/// The bundled tract-onnx registers no signal-processing, classical-ML, random, detection or image
/// operators (vendor/tract-onnx, patches/README.md): a graph that uses one is refused at load with a
/// ModelError naming it, never a panic or a wrong answer.
#[test]
fn a_graph_with_an_operator_this_build_leaves_out_is_refused_naming_it() {
    use prost::Message;
    use tract_onnx::pb::ModelProto;
    let b = read_bundle();
    for left_out in ["DFT", "Resize", "RandomNormalLike", "NonMaxSuppression"] {
        let mut graph = ModelProto::decode(b.model.as_slice()).unwrap();
        let nodes = &mut graph.graph.as_mut().unwrap().node;
        let softmax = nodes.iter_mut().find(|n| n.op_type == "Softmax").unwrap();
        softmax.op_type = left_out.into();
        let model = graph.encode_to_vec();
        let manifest = manifest_for(&model, |_| {});
        let err = Retriever::from_bytes(&manifest, model, b.tokenizer.clone()).err().unwrap();
        assert!(matches!(err, Error::Model(_)), "{left_out}: {err}");
        assert!(err.to_string().contains(left_out), "{left_out}: {err}");
    }
}
