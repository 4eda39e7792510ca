//! What does a model bundle promise? The manifest names the files (with sha256) and carries the
//! per-model ColBERT conventions as data, so a different checkpoint needs a new manifest, not new code.

use serde::Deserialize;
use std::collections::BTreeMap;

use crate::error::{Error, Result};

pub const BUNDLE_FORMAT: &str = "colbert-wasm-bundle";
pub const BUNDLE_FORMAT_VERSION: u32 = 1;
/// Roles of the files every bundle has.
pub const MODEL_ROLE: &str = "model";
pub const TOKENIZER_ROLE: &str = "tokenizer";
/// Roles starting with this name the model's external data files (`model_data`, `model_data_1`…):
/// torch writes the weights of a graph over 2 GB, and by default of every dynamo export, beside it.
pub const MODEL_DATA_ROLE: &str = "model_data";
/// BERT-family encoders cannot see past this many positions.
const MAX_SEQUENCE: usize = 512;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub sha256: String,
    #[serde(default)]
    pub bytes: Option<u64>,
}

/// A query/document marker inserted right after [CLS]: a vocabulary token (e.g. `[unused0]`) or an id.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Marker {
    Token { token: String },
    Id { id: u32 },
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub license: String,
    pub files: BTreeMap<String, FileEntry>,
    /// Width of each output token vector.
    pub dim: usize,
    pub query_length: usize,
    pub document_length: usize,
    #[serde(default)]
    pub query_marker: Option<Marker>,
    #[serde(default)]
    pub document_marker: Option<Marker>,
    /// Pad queries to `query_length` with the mask token (ColBERT's query augmentation).
    #[serde(default)]
    pub query_mask_expansion: bool,
    #[serde(default = "default_mask_token")]
    pub mask_token: String,
    #[serde(default)]
    pub attend_to_expansion_tokens: bool,
    #[serde(default = "default_cls")]
    pub cls_token: String,
    #[serde(default = "default_sep")]
    pub sep_token: String,
    #[serde(default = "default_pad")]
    pub pad_token: String,
    /// Informational: lower-casing is done by the tokenizer's own normaliser.
    #[serde(default)]
    pub lowercase: bool,
    #[serde(default = "default_true")]
    pub normalize: bool,
    /// Tokens (usually punctuation) whose vectors are dropped from documents.
    #[serde(default)]
    pub skiplist: Vec<String>,
    /// Name of the graph output holding the token vectors; the first output when absent.
    #[serde(default)]
    pub output: Option<String>,
    /// Name of a graph output holding one vector per text (the encoder's mean-pooled sentence
    /// vector), hybrid search's third signal; absent for most ColBERT exports, which have none.
    #[serde(default)]
    pub sentence_output: Option<String>,
}

fn default_mask_token() -> String {
    "[MASK]".into()
}
fn default_cls() -> String {
    "[CLS]".into()
}
fn default_sep() -> String {
    "[SEP]".into()
}
fn default_pad() -> String {
    "[PAD]".into()
}
fn default_true() -> bool {
    true
}

impl Manifest {
    pub fn from_json(bytes: &[u8]) -> Result<Manifest> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| Error::Manifest(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::Manifest(msg));
        if self.format != BUNDLE_FORMAT {
            return fail(format!(
                "format is '{}', expected '{BUNDLE_FORMAT}'",
                self.format
            ));
        }
        if self.format_version != BUNDLE_FORMAT_VERSION {
            return fail(format!(
                "format_version {} is not supported (this build reads version {BUNDLE_FORMAT_VERSION})",
                self.format_version
            ));
        }
        for role in [MODEL_ROLE, TOKENIZER_ROLE] {
            if !self.files.contains_key(role) {
                return fail(format!("files.{role} is missing"));
            }
        }
        for (role, file) in &self.files {
            if !is_sha256_hex(&file.sha256) {
                return fail(format!("files.{role}.sha256 is not 64 hex digits"));
            }
        }
        if self.dim == 0 {
            return fail("dim must be positive".into());
        }
        // Room for [CLS], an optional marker, [SEP] and at least one text token.
        for (name, len) in [
            ("query_length", self.query_length),
            ("document_length", self.document_length),
        ] {
            if !(4..=MAX_SEQUENCE).contains(&len) {
                return fail(format!("{name} {len} is outside 4..={MAX_SEQUENCE}"));
            }
        }
        Ok(())
    }

    /// The model or tokenizer file's entry (validate() guarantees both).
    pub fn file(&self, role: &str) -> &FileEntry {
        &self.files[role]
    }

    /// The model's external data files: (role, entry), in role order.
    pub fn model_data_files(&self) -> impl Iterator<Item = (&str, &FileEntry)> {
        self.files
            .iter()
            .filter(|(role, _)| role.starts_with(MODEL_DATA_ROLE))
            .map(|(role, file)| (role.as_str(), file))
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
