//! The three tokenizer families real ColBERT checkpoints ship (WordPiece: BERT; byte-level BPE:
//! ModernBERT; Unigram/SentencePiece: XLM-R), made by `scripts/gen_tokenizers.py`: ids equal to
//! Python `tokenizers`, and PyLate's conventions (added `[Q] `/`[D] ` markers, [MASK] expansion left
//! unattended, punctuation skiplist) resolved from a PyLate config for each.

use std::path::PathBuf;

use colbert_wasm::model::{
    manifest_from_export, ColbertTokenizer, ExportFiles, FileEntry, Manifest, TextKind,
};

const FAMILIES: [&str; 3] = ["wordpiece", "bpe", "unigram"];

fn fixture(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizers");
    std::fs::read(dir.join(name)).unwrap()
}

fn pylate_manifest(tokenizer_json: &[u8]) -> Manifest {
    let entry = |path: &str| FileEntry {
        path: path.into(),
        sha256: "0".repeat(64),
        bytes: None,
    };
    let files = ExportFiles {
        model: entry("model.onnx"),
        tokenizer: entry("tokenizer.json"),
        model_data: vec![],
    };
    // PyLate's defaults: "[Q] "/"[D] " prefixes, expansion on and not attended, string.punctuation.
    let config = br#"{ "query_length": 32, "document_length": 180, "embedding_dim": 16 }"#;
    let text = manifest_from_export(
        "family",
        "config_sentence_transformers.json",
        config,
        tokenizer_json,
        files,
        None,
    )
    .unwrap();
    Manifest::from_json(text.as_bytes()).unwrap()
}

struct Family {
    name: &'static str,
    tokenizer: ColbertTokenizer,
    cases: Vec<(String, Vec<u32>)>,
}

fn families() -> Vec<Family> {
    FAMILIES
        .iter()
        .map(|&name| {
            let json = fixture(&format!("{name}.json"));
            let manifest = pylate_manifest(&json);
            let cases: Vec<serde_json::Value> =
                serde_json::from_slice(&fixture(&format!("{name}.ids.json"))).unwrap();
            let cases = cases
                .iter()
                .map(|c| {
                    (
                        c["text"].as_str().unwrap().to_owned(),
                        serde_json::from_value(c["ids"].clone()).unwrap(),
                    )
                })
                .collect();
            Family {
                name,
                tokenizer: ColbertTokenizer::new(&json, &manifest).unwrap(),
                cases,
            }
        })
        .collect()
}

#[test]
fn ids_match_python_tokenizers_in_every_family() {
    for family in families() {
        assert!(family.cases.len() >= 150);
        for (text, expected) in &family.cases {
            assert_eq!(
                &family.tokenizer.raw_ids(text).unwrap(),
                expected,
                "{}: {text:?}",
                family.name
            );
        }
    }
}

#[test]
fn pylate_markers_resolve_to_the_added_tokens_in_every_family() {
    for family in families() {
        let tok = &family.tokenizer;
        let python = |text: &str| {
            family
                .cases
                .iter()
                .find(|(t, _)| t == text)
                .unwrap()
                .1
                .clone()
        };
        // Python tokenises "[Q] hello world" as the added marker, then the text alone.
        let marked = python("[Q] hello world");
        let (marker, text_ids) = (i64::from(marked[0]), &marked[1..]);
        // A lower-casing normaliser stores a normalised added token as "[q] ".
        assert!(
            tok.token_text(marker).eq_ignore_ascii_case("[Q] "),
            "{}",
            family.name
        );
        assert_eq!(
            tok.raw_ids("hello world").unwrap(),
            text_ids,
            "{}",
            family.name
        );

        let q = tok.encode("hello world", TextKind::Query).unwrap();
        let n = text_ids.len() + 3; // [CLS] [Q] … [SEP]
        assert_eq!(
            q.len(),
            32,
            "{}: queries are expanded to query_length",
            family.name
        );
        assert_eq!(q.ids[1], marker, "{}", family.name);
        assert_eq!(
            &q.ids[2..n - 1],
            &text_ids.iter().map(|&i| i64::from(i)).collect::<Vec<_>>()[..]
        );
        let mask = q.ids[n];
        assert!(
            tok.token_text(mask).contains("mask") || tok.token_text(mask).contains("MASK"),
            "{}",
            family.name
        );
        assert!(q.ids[n..].iter().all(|&id| id == mask), "{}", family.name);
        assert!(
            q.attention_mask[..n].iter().all(|&a| a == 1)
                && q.attention_mask[n..].iter().all(|&a| a == 0)
        );

        let d = tok.encode("hello, world.", TextKind::Document).unwrap();
        assert!(
            tok.token_text(d.ids[1]).eq_ignore_ascii_case("[D] "),
            "{}",
            family.name
        );
        let dropped: Vec<String> = d
            .ids
            .iter()
            .zip(&d.keep)
            .filter(|(_, k)| !**k)
            .map(|(id, _)| tok.token_text(*id))
            .collect();
        assert!(
            !dropped.is_empty(),
            "{}: punctuation is skipped",
            family.name
        );
        assert!(
            dropped.iter().all(|t| t
                .trim_start_matches(['▁', 'Ġ'])
                .chars()
                .all(|c| c.is_ascii_punctuation())),
            "{}: only punctuation is skipped: {dropped:?}",
            family.name
        );
    }
}
