//! The model stage against the default bundle: tokenizer ids, ColBERT conventions, vector shapes,
//! norms and parity with onnxruntime, and rejection of corrupt or mismatched bundles.

mod common;

use std::sync::OnceLock;

use colbert_wasm::index::Precision;
use colbert_wasm::model::Bundle;
use colbert_wasm::model::{sha256_hex, Encoder, Encoding, Manifest, TextKind, TokenVectors};
use colbert_wasm::retriever::{BackendChoice, SearchResults};
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

    let long = tok.encode(&"word ".repeat(100), TextKind::Query).unwrap();
    assert_eq!(long.len(), 32);
    assert_eq!((long.ids[0], long.ids[31]), (101, 102));
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

#[test]
fn search_finds_the_matching_note_and_ignores_blank_queries() {
    let mut r = load_default();
    r.add_documents(&notes()[..3]).unwrap();
    let hits = r
        .search("how often do I feed my sourdough starter?", 3)
        .unwrap()
        .hits;
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].id, "bread");
    assert!(hits[0].score > hits[1].score);
    assert!(r.search("   ", 3).unwrap().hits.is_empty());
    assert_eq!(r.search("chain", 1).unwrap().hits[0].id, "bike");
}

#[test]
fn long_note_is_split_and_a_fact_near_its_end_is_found_with_its_passage() {
    let mut r = load_default();
    let filler: Vec<String> = (0..40)
        .map(|i| format!("Paragraph {i} of the meeting notes covers budgets, hiring and the roadmap for quarter {i}."))
        .collect();
    let fact = "The kayak needs a new rudder cable before the summer trip.";
    let note = format!(
        "{}\n\n{fact}\n\n{}",
        filler.join("\n\n"),
        filler[..3].join("\n\n")
    );
    r.add_documents(&[
        ("long", note.as_str()),
        ("other", "Kayak trips are fun in summer."),
    ])
    .unwrap();
    assert!(r.passage_count() >= 4, "{} passages", r.passage_count());

    let hit = &r.search("kayak rudder cable", 1).unwrap().hits[0];
    assert_eq!(hit.id, "long");
    let passage = &note[hit.passage.clone()];
    assert!(passage.contains(fact), "best passage {passage:?}");
    assert!(
        hit.passage.start > 0,
        "a later passage, not the note's start"
    );
}

#[test]
fn passages_fit_the_budget_and_cover_the_note() {
    let tok = retriever().tokenizer();
    let text = "Sentence number one is here. ".repeat(200);
    let passages = tok.document_passages(&text).unwrap();
    assert!(passages.len() > 1);
    assert_eq!(passages[0].1.start, 0);
    assert_eq!(passages.last().unwrap().1.end, text.trim_end().len());
    for pair in passages.windows(2) {
        assert!(pair[1].1.start < pair[0].1.end, "overlap");
    }
    assert!(passages.iter().all(|(enc, _)| enc.len() <= 256));
    // Cuts fall on sentence ends: every passage but the first starts a sentence.
    assert!(passages[1..]
        .iter()
        .all(|(_, range)| text[range.clone()].starts_with("Sentence")));
}

#[test]
fn an_id_twice_in_one_batch_is_refused() {
    let mut r = load_default();
    let err = r
        .add_documents(&[("a", "one"), ("a", "two")])
        .err()
        .unwrap();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

#[test]
fn failed_batch_stores_nothing() {
    let mut r = load_default();
    r.add_documents(&[("a", "first note")]).unwrap();
    let err = r
        .add_documents(&[("b", "fine"), ("", "empty id")])
        .err()
        .unwrap();
    assert!(matches!(err, Error::InvalidInput(_)));
    assert_eq!(r.len(), 1);
}

fn notes() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "bread",
            "Sourdough needs a starter fed with flour and water every day.",
        ),
        (
            "bike",
            "Replace the bicycle chain when it stretches past 0.5 percent.",
        ),
        (
            "tax",
            "File the quarterly tax return before the end of April.",
        ),
        (
            "plants",
            "Water the fern twice a week and keep it out of direct sun.",
        ),
        (
            "car",
            "The car needs new winter tyres and an oil change in November.",
        ),
    ]
}

const QUERIES: [&str; 4] = [
    "feeding a sourdough starter",
    "bicycle chain wear",
    "tax deadline",
    "how often to water ferns",
];

#[test]
fn every_storage_precision_ranks_the_notes_like_f32() {
    let f32_order = |r: &Retriever, q: &str| -> Vec<String> {
        r.search(q, 5)
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.id)
            .collect()
    };
    let mut reference = None;
    for precision in Precision::ALL {
        let b = read_bundle();
        let bundle = Bundle::from_parts(&b.manifest, b.model, b.tokenizer).unwrap();
        let mut r = Retriever::with_precision(bundle, precision).unwrap();
        r.add_documents(&notes()).unwrap();
        assert_eq!(r.precision(), precision);
        let orders: Vec<Vec<String>> = QUERIES.iter().map(|q| f32_order(&r, q)).collect();
        for (q, order) in QUERIES.iter().zip(&orders) {
            assert_eq!(order.len(), 5, "{}: {q}", precision.name());
        }
        let reference = reference.get_or_insert_with(|| orders.clone());
        // The top hit must agree everywhere; binary is re-ranked exactly, so it agrees too.
        for ((q, got), want) in QUERIES.iter().zip(&orders).zip(reference.iter()) {
            assert_eq!(got[0], want[0], "{} top hit for {q:?}", precision.name());
        }
    }
}

#[test]
fn gpu_search_matches_the_cpu_and_falls_back_when_the_device_is_lost() {
    let Some(gpu) = common::open_gpu(None) else {
        return;
    };
    let mut r = load_default();
    r.add_documents(&notes()).unwrap();
    let cpu: Vec<_> = QUERIES.iter().map(|q| r.search(q, 5).unwrap()).collect();
    assert!(cpu.iter().all(|s| s.backend == "simd"));
    r.attach_gpu(gpu);
    assert_eq!(
        r.backend(),
        "simd",
        "Auto keeps a software adapter off tiny searches"
    );
    r.set_backend(BackendChoice::Webgpu);
    for (q, on_cpu) in QUERIES.iter().zip(&cpu) {
        let on_gpu = r.search(q, 5).unwrap();
        assert_eq!(on_gpu.backend, "webgpu");
        let ids = |s: &SearchResults| s.hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&on_gpu), ids(on_cpu), "{q}");
        for (g, c) in on_gpu.hits.iter().zip(&on_cpu.hits) {
            assert!(
                (g.score - c.score).abs() < 1e-4 * (1.0 + c.score.abs()),
                "{q}: {} vs {}",
                g.score,
                c.score
            );
        }
    }
    r.gpu().unwrap().destroy_device();
    let after = r.search(QUERIES[0], 5).unwrap();
    assert_eq!(after.backend, "simd", "a lost device falls back to the CPU");
    assert_eq!(after, cpu[0], "with the same ranking");
    assert_eq!(r.backend(), "simd");
}

#[test]
fn unchanged_text_is_not_encoded_again_and_metadata_filters_and_comes_back() {
    use colbert_wasm::retriever::{MetadataFilter, NewDocument};
    let mut r = load_default();
    let doc = |id: &'static str, text: &'static str, meta: &str| NewDocument {
        id,
        text,
        metadata: Some(meta.to_owned()),
    };
    let first = r
        .add_documents_with(&[
            doc(
                "a",
                "Buy flour and yeast for the sourdough.",
                r#"{"folder":"home","tags":["food"]}"#,
            ),
            doc(
                "b",
                "Sourdough workshop at the office on Friday.",
                r#"{"folder":"work","tags":["food","events"]}"#,
            ),
        ])
        .unwrap();
    assert_eq!((first.encoded, first.unchanged), (2, 0));
    let again = r
        .add_documents_with(&[doc(
            "a",
            "Buy flour and yeast for the sourdough.",
            r#"{"folder":"kitchen"}"#,
        )])
        .unwrap();
    assert_eq!((again.encoded, again.unchanged), (0, 1));
    let all = r.search("sourdough", 5).unwrap().hits;
    assert_eq!(all.len(), 2);
    let work = MetadataFilter::from_json(r#"{"folder":"work"}"#).unwrap();
    let hits = r.search_with("sourdough", 5, Some(work)).unwrap().hits;
    assert_eq!(
        hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        vec!["b"]
    );
    assert_eq!(
        hits[0].metadata.as_deref(),
        Some(r#"{"folder":"work","tags":["food","events"]}"#)
    );
    let events = MetadataFilter::from_json(r#"{"tags":"events"}"#).unwrap();
    assert_eq!(
        r.search_with("flour", 5, Some(events)).unwrap().hits.len(),
        1
    );
    let kitchen = MetadataFilter::from_json(r#"{"folder":"kitchen"}"#).unwrap();
    assert_eq!(
        r.search_with("flour", 5, Some(kitchen)).unwrap().hits[0].id,
        "a",
        "metadata was updated"
    );
    assert!(MetadataFilter::from_json("[1]").is_err());
    let bad = r.add_documents_with(&[NewDocument {
        id: "c",
        text: "x",
        metadata: Some("{oops".into()),
    }]);
    assert!(matches!(bad, Err(Error::InvalidInput(_))));
}

#[test]
fn an_exported_index_imports_to_identical_results_and_bad_files_change_nothing() {
    let mut r = load_default();
    r.add_documents(&notes()).unwrap();
    let bytes = r.export_index();
    let mut fresh = load_default();
    fresh.import_index(&bytes).unwrap();
    for q in QUERIES {
        assert_eq!(fresh.search(q, 5).unwrap(), r.search(q, 5).unwrap(), "{q}");
    }
    let before = fresh.search(QUERIES[0], 5).unwrap();
    assert!(matches!(
        fresh.import_index(&bytes[..bytes.len() / 2]),
        Err(Error::Index(_))
    ));
    assert_eq!(
        fresh.search(QUERIES[0], 5).unwrap(),
        before,
        "a failed import keeps the index"
    );
}

#[test]
fn explanations_point_at_the_matched_words_and_sum_to_the_f32_score() {
    let b = read_bundle();
    let bundle = Bundle::from_parts(&b.manifest, b.model, b.tokenizer).unwrap();
    let mut r = Retriever::with_precision(bundle, Precision::F32).unwrap();
    let text =
        "Shopping: 🙂 milk.\n\nSourdough needs a starter fed with flour and water every day.";
    r.add_documents(&[("bread", text)]).unwrap();
    let hit = r
        .search("feeding the sourdough starter", 1)
        .unwrap()
        .hits
        .remove(0);
    let matches = r
        .explain(
            "feeding the sourdough starter",
            text,
            Some(hit.passage.start),
        )
        .unwrap();
    let total: f32 = matches.iter().map(|m| m.score).sum();
    assert!((total - hit.score).abs() < 1e-3, "{total} vs {}", hit.score);
    let starter = matches
        .iter()
        .find(|m| m.query_token == "starter")
        .expect("a 'starter' query token");
    let range = starter.doc_range.clone().expect("matched a word");
    assert_eq!(&text[range], "starter");
    let utf16: Vec<u16> = text.encode_utf16().collect();
    let r16 = starter.doc_range_utf16.clone().unwrap();
    assert_eq!(
        String::from_utf16(&utf16[r16]).unwrap(),
        "starter",
        "UTF-16 range past an emoji"
    );
    assert_eq!(
        starter
            .query_range
            .clone()
            .map(|q| &"feeding the sourdough starter"[q]),
        Some("starter")
    );
    assert_eq!(
        (
            matches[0].query_token.as_str(),
            matches[0].query_range.clone()
        ),
        ("[CLS]", None),
        "special tokens are explained too"
    );
}
