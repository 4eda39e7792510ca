//! Which manifest does a real ColBERT export imply? Reads the config file an export ships with —
//! PyLate's `config_sentence_transformers.json` (also written by `pylate-onnx-export`) or Stanford
//! ColBERT's `artifact.metadata` — and writes the same conventions as a bundle manifest, checked
//! against the export's own tokenizer so every named token resolves.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};
use tokenizers::Tokenizer;

use super::manifest::{
    FileEntry, Manifest, BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, MODEL_DATA_ROLE, MODEL_ROLE,
    TOKENIZER_ROLE,
};
#[allow(unused_imports)] // named in docs
use super::onnx_graph;
use super::tokenize::ColbertTokenizer;
use crate::error::{Error, Result};

pub const PYLATE_CONFIG: &str = "config_sentence_transformers.json";
pub const STANFORD_CONFIG: &str = "artifact.metadata";

/// Python's `string.punctuation`: the skiplist both PyLate (by default) and Stanford ColBERT
/// (`mask_punctuation`) use.
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// The bundle's files as the manifest records them (JavaScript's `files` object deserialises into it).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFiles {
    pub model: FileEntry,
    pub tokenizer: FileEntry,
    /// The model's external data files (see [`onnx_graph::external_data_locations`]).
    #[serde(default)]
    pub model_data: Vec<FileEntry>,
}

impl ExportFiles {
    /// The manifest's `files` object: model, tokenizer, then `model_data`, `model_data_1`, ….
    fn by_role(&self) -> BTreeMap<String, &FileEntry> {
        let data = self.model_data.iter().enumerate().map(|(i, file)| {
            let role = match i {
                0 => MODEL_DATA_ROLE.to_owned(),
                i => format!("{MODEL_DATA_ROLE}_{i}"),
            };
            (role, file)
        });
        [
            (MODEL_ROLE.to_owned(), &self.model),
            (TOKENIZER_ROLE.to_owned(), &self.tokenizer),
        ]
        .into_iter()
        .chain(data)
        .collect()
    }
}

/// PyLate's fields (defaults are PyLate's own when a field is absent).
#[derive(Deserialize)]
struct PyLateConfig {
    #[serde(default = "pylate_query_prefix")]
    query_prefix: String,
    #[serde(default = "pylate_document_prefix")]
    document_prefix: String,
    /// `pylate-onnx-export` resolves the prefixes to ids too; an id wins over the text.
    query_prefix_id: Option<u32>,
    document_prefix_id: Option<u32>,
    #[serde(default = "pylate_query_length")]
    query_length: usize,
    #[serde(default = "pylate_document_length")]
    document_length: usize,
    #[serde(default = "yes")]
    do_query_expansion: bool,
    #[serde(default)]
    attend_to_expansion_tokens: bool,
    skiplist_words: Option<Vec<String>>,
    embedding_dim: Option<usize>,
    mask_token_id: Option<u32>,
}

fn pylate_query_prefix() -> String {
    "[Q] ".into()
}
fn pylate_document_prefix() -> String {
    "[D] ".into()
}
fn pylate_query_length() -> usize {
    32
}
fn pylate_document_length() -> usize {
    180
}
fn yes() -> bool {
    true
}

/// Stanford ColBERT's `ColBERTConfig` fields, as saved in `artifact.metadata`.
#[derive(Deserialize)]
struct StanfordConfig {
    #[serde(default = "stanford_query_token")]
    query_token_id: String,
    #[serde(default = "stanford_doc_token")]
    doc_token_id: String,
    #[serde(default = "stanford_query_maxlen")]
    query_maxlen: usize,
    #[serde(default = "stanford_doc_maxlen")]
    doc_maxlen: usize,
    #[serde(default = "yes")]
    mask_punctuation: bool,
    #[serde(default)]
    attend_to_mask_tokens: bool,
    #[serde(default = "stanford_dim")]
    dim: usize,
}

fn stanford_query_token() -> String {
    "[unused0]".into()
}
fn stanford_doc_token() -> String {
    "[unused1]".into()
}
fn stanford_query_maxlen() -> usize {
    32
}
fn stanford_doc_maxlen() -> usize {
    180
}
fn stanford_dim() -> usize {
    128
}

/// The conventions part of a manifest, before the tokenizer fills in token names.
struct Conventions {
    query_marker: Value,
    document_marker: Value,
    query_length: usize,
    document_length: usize,
    query_mask_expansion: bool,
    attend_to_expansion_tokens: bool,
    skiplist: Vec<String>,
    dim: Option<usize>,
    mask_token_id: Option<u32>,
}

fn punctuation() -> Vec<String> {
    PUNCTUATION.chars().map(String::from).collect()
}

fn parse<T: for<'de> Deserialize<'de>>(config_name: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Manifest(format!("{config_name}: {e}")))
}

fn conventions(config_name: &str, config: &[u8]) -> Result<Conventions> {
    let file_name = config_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(config_name);
    match file_name {
        PYLATE_CONFIG => {
            let c: PyLateConfig = parse(config_name, config)?;
            let marker = |id: Option<u32>, text: String| match id {
                Some(id) => json!({ "id": id }),
                None => json!({ "token": text }),
            };
            Ok(Conventions {
                query_marker: marker(c.query_prefix_id, c.query_prefix),
                document_marker: marker(c.document_prefix_id, c.document_prefix),
                query_length: c.query_length,
                document_length: c.document_length,
                query_mask_expansion: c.do_query_expansion,
                attend_to_expansion_tokens: c.attend_to_expansion_tokens,
                skiplist: c.skiplist_words.unwrap_or_else(punctuation),
                dim: c.embedding_dim,
                mask_token_id: c.mask_token_id,
            })
        }
        STANFORD_CONFIG => {
            let c: StanfordConfig = parse(config_name, config)?;
            Ok(Conventions {
                query_marker: json!({ "token": c.query_token_id }),
                document_marker: json!({ "token": c.doc_token_id }),
                query_length: c.query_maxlen,
                document_length: c.doc_maxlen,
                query_mask_expansion: true,
                attend_to_expansion_tokens: c.attend_to_mask_tokens,
                skiplist: if c.mask_punctuation { punctuation() } else { vec![] },
                dim: Some(c.dim),
                mask_token_id: None,
            })
        }
        other => Err(Error::Manifest(format!(
            "'{other}' is not a config this reads: expected {PYLATE_CONFIG} (PyLate) or {STANFORD_CONFIG} (Stanford ColBERT)"
        ))),
    }
}

/// The first of `names` the tokenizer knows: special tokens are spelt differently across families.
fn known_token(tokenizer: &Tokenizer, names: &[&str]) -> Result<String> {
    names
        .iter()
        .find(|name| tokenizer.token_to_id(name).is_some())
        .map(|name| name.to_string())
        .ok_or_else(|| Error::Manifest(format!("the tokenizer has none of the tokens {names:?}")))
}

/// PyLate writes prefixes with a trailing space ("[Q] "); tokenizers store the added token either way.
fn resolve_marker(tokenizer: &Tokenizer, marker: Value) -> Value {
    match marker.get("token").and_then(Value::as_str) {
        Some(text) if tokenizer.token_to_id(text).is_none() => {
            let trimmed = text.trim();
            match tokenizer.token_to_id(trimmed) {
                Some(_) => json!({ "token": trimmed }),
                None => marker,
            }
        }
        _ => marker,
    }
}

/// A manifest (pretty JSON) for an export folder: `config_name` says which convention `config`
/// follows; `dim` is needed when the config does not state it (older PyLate configs).
pub fn manifest_from_export(
    name: &str,
    config_name: &str,
    config: &[u8],
    tokenizer_json: &[u8],
    files: ExportFiles,
    dim: Option<usize>,
) -> Result<String> {
    let c = conventions(config_name, config)?;
    let tokenizer =
        Tokenizer::from_bytes(tokenizer_json).map_err(|e| Error::Tokenizer(e.to_string()))?;
    let dim = dim.or(c.dim).ok_or_else(|| {
        Error::Manifest(format!(
            "{config_name} does not state the vector width: pass it (the ONNX output's last dimension)"
        ))
    })?;
    let mask_token = match c.mask_token_id {
        Some(id) => tokenizer.id_to_token(id).ok_or_else(|| {
            Error::Manifest(format!(
                "mask_token_id {id} is not in the tokenizer's vocabulary"
            ))
        })?,
        None => known_token(&tokenizer, &["[MASK]", "<mask>"])?,
    };
    let file = |f: &FileEntry| json!({ "path": f.path, "sha256": f.sha256, "bytes": f.bytes });
    let manifest = json!({
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "name": name,
        "description": format!("converted from {config_name}"),
        "files": files.by_role().into_iter().map(|(role, f)| (role, file(f))).collect::<BTreeMap<_, _>>(),
        "dim": dim,
        "query_length": c.query_length,
        "document_length": c.document_length,
        "query_marker": resolve_marker(&tokenizer, c.query_marker),
        "document_marker": resolve_marker(&tokenizer, c.document_marker),
        "query_mask_expansion": c.query_mask_expansion,
        "mask_token": mask_token,
        "attend_to_expansion_tokens": c.attend_to_expansion_tokens,
        "cls_token": known_token(&tokenizer, &["[CLS]", "<s>"])?,
        "sep_token": known_token(&tokenizer, &["[SEP]", "</s>"])?,
        "pad_token": known_token(&tokenizer, &["[PAD]", "<pad>"])?,
        // Skiplist words the vocabulary lacks cannot occur as single tokens: nothing to drop.
        "skiplist": c.skiplist.into_iter().filter(|w| tokenizer.token_to_id(w).is_some()).collect::<Vec<_>>(),
        "normalize": true,
    });
    let text = serde_json::to_string_pretty(&manifest).expect("a JSON value always serialises");
    // The same checks a bundle load makes, so a manifest that would not load is never written.
    let parsed = Manifest::from_json(text.as_bytes())?;
    ColbertTokenizer::new(tokenizer_json, &parsed)?;
    Ok(text)
}
