//! Real exports' conventions: a manifest made from PyLate's or Stanford ColBERT's config file (and the
//! fastembed convention of marker ids) produces exactly the token id sequences those libraries feed
//! their models. Pinned on the default bundle's BERT vocabulary: [CLS] 101, [SEP] 102, [MASK] 103,
//! [unused0] 1, [unused1] 2, "hello" 7592, "world" 2088, "," 1010, "." 1012.

use crate::common::bundle_dir;
use colbert_wasm::model::{
    manifest_from_export, ColbertTokenizer, ExportFiles, FileEntry, Manifest, TextKind,
};
use colbert_wasm::Error;

fn tokenizer_json() -> Vec<u8> {
    std::fs::read(bundle_dir().join("tokenizer.json")).unwrap()
}

fn files() -> ExportFiles {
    let entry = |path: &str| FileEntry {
        path: path.into(),
        sha256: "0".repeat(64),
        bytes: Some(1),
    };
    ExportFiles {
        model: entry("model_int8.onnx"),
        tokenizer: entry("tokenizer.json"),
        model_data: vec![],
    }
}

fn manifest(config_name: &str, config: &str, dim: Option<usize>) -> Result<Manifest, Error> {
    let text = manifest_from_export(
        "export",
        config_name,
        config.as_bytes(),
        &tokenizer_json(),
        files(),
        dim,
    )?;
    Manifest::from_json(text.as_bytes())
}

fn tokenizer(manifest: &Manifest) -> ColbertTokenizer {
    ColbertTokenizer::new(&tokenizer_json(), manifest).unwrap()
}

const MASK: i64 = 103;

/// `[CLS] [unused0] hello world [SEP]` then [MASK] to 32, the expansion not attended.
fn assert_expanded_query(tok: &ColbertTokenizer) {
    let q = tok.encode("hello world", TextKind::Query).unwrap();
    let mut ids = vec![101, 1, 7592, 2088, 102];
    ids.resize(32, MASK);
    assert_eq!(q.ids, ids);
    let mut attention = vec![1; 5];
    attention.resize(32, 0);
    assert_eq!(q.attention_mask, attention);
    assert!(
        q.keep.iter().all(|&k| k),
        "[MASK] vectors take part in scoring"
    );
}

/// `[CLS] [unused1] hello , world . [SEP]`, punctuation kept out of scoring.
fn assert_marked_document(tok: &ColbertTokenizer) {
    let d = tok.encode("hello, world.", TextKind::Document).unwrap();
    assert_eq!(d.ids, vec![101, 2, 7592, 1010, 2088, 1012, 102]);
    assert_eq!(d.keep, vec![true, true, true, false, true, false, true]);
}

#[test]
fn pylate_config_gives_pylate_sequences() {
    let config = r#"{
        "query_prefix": "[unused0]", "document_prefix": "[unused1]",
        "query_length": 32, "document_length": 180,
        "do_query_expansion": true, "attend_to_expansion_tokens": false,
        "skiplist_words": ["!", ",", ".", "not-a-single-token"],
        "embedding_dim": 96, "similarity_fn_name": "MaxSim"
    }"#;
    let m = manifest("some/dir/config_sentence_transformers.json", config, None).unwrap();
    assert_eq!((m.dim, m.query_length, m.document_length), (96, 32, 180));
    assert_eq!(m.skiplist, vec!["!", ",", "."]);
    let tok = tokenizer(&m);
    assert_expanded_query(&tok);
    assert_marked_document(&tok);
    let long = tok
        .encode(&"word ".repeat(500), TextKind::Document)
        .unwrap();
    assert_eq!(long.len(), 180);
}

#[test]
fn pylate_onnx_export_ids_win_over_prefix_text() {
    // pylate-onnx-export writes resolved ids beside the text; "[Q] " is not in this vocabulary.
    let config = r#"{ "query_prefix": "[Q] ", "document_prefix": "[D] ",
        "query_prefix_id": 1, "document_prefix_id": 2, "embedding_dim": 128, "mask_token_id": 103 }"#;
    let m = manifest("config_sentence_transformers.json", config, None).unwrap();
    assert_eq!(m.document_length, 180, "PyLate's default");
    let tok = tokenizer(&m);
    assert_expanded_query(&tok);
    assert_marked_document(&tok);
}

#[test]
fn stanford_artifact_metadata_gives_colbert_sequences() {
    let config = r#"{ "query_token_id": "[unused0]", "doc_token_id": "[unused1]",
        "query_token": "[Q]", "doc_token": "[D]", "query_maxlen": 32, "doc_maxlen": 300,
        "mask_punctuation": true, "dim": 128, "attend_to_mask_tokens": false, "similarity": "cosine" }"#;
    let m = manifest("artifact.metadata", config, None).unwrap();
    assert_eq!((m.dim, m.document_length), (128, 300));
    assert_eq!(m.skiplist.len(), 32, "all of string.punctuation");
    let tok = tokenizer(&m);
    assert_expanded_query(&tok);
    assert_marked_document(&tok);
}

#[test]
fn fastembed_style_marker_ids_give_the_same_sequences() {
    let mut m = manifest("artifact.metadata", "{}", None).unwrap();
    m.query_marker = serde_json::from_str(r#"{ "id": 1 }"#).unwrap();
    m.document_marker = serde_json::from_str(r#"{ "id": 2 }"#).unwrap();
    let tok = tokenizer(&m);
    assert_expanded_query(&tok);
    assert_marked_document(&tok);
}

#[test]
fn exports_that_cannot_load_are_refused_with_the_reason() {
    let kind = |r: Result<Manifest, Error>| r.map(|_| ()).unwrap_err().kind();
    let missing_prefix = r#"{ "query_prefix": "[Q] ", "embedding_dim": 128 }"#;
    let err = manifest("config_sentence_transformers.json", missing_prefix, None).unwrap_err();
    assert!(err.to_string().contains("[Q]"), "{err}");
    assert_eq!(
        kind(manifest(
            "config_sentence_transformers.json",
            r#"{ "query_prefix": "[unused0]", "document_prefix": "[unused1]" }"#,
            None
        )),
        "ManifestError",
        "no dim stated and none passed"
    );
    assert_eq!(kind(manifest("config.json", "{}", None)), "ManifestError");
    assert_eq!(
        kind(manifest("artifact.metadata", "not json", None)),
        "ManifestError"
    );
    assert_eq!(
        kind(manifest(
            "artifact.metadata",
            r#"{ "doc_maxlen": 4096 }"#,
            None
        )),
        "ManifestError"
    );
}
