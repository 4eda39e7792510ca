//! Which documents may a search return? A metadata filter: for every key, the document's metadata
//! has that value (or an array containing it). Metadata is parsed once per stored document.

use crate::error::{Error, Result};
use crate::index::{DocInfo, TokenStore};

/// Keeps documents whose metadata has, for every key, that value (or an array containing it).
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataFilter(serde_json::Map<String, serde_json::Value>);

impl MetadataFilter {
    /// From a JSON object such as `{"folder": "work", "tags": "urgent"}`.
    pub fn from_json(json: &str) -> Result<MetadataFilter> {
        match serde_json::from_str(json) {
            Ok(serde_json::Value::Object(map)) => Ok(MetadataFilter(map)),
            _ => Err(Error::InvalidInput(format!(
                "a filter is a JSON object, not {json:?}"
            ))),
        }
    }

    /// Whether a document's metadata (parsed once, when first needed: [`DocInfo::metadata_value`])
    /// passes.
    pub fn matches(&self, meta: &serde_json::Value) -> bool {
        self.0.iter().all(|(key, want)| match &meta[key] {
            serde_json::Value::Array(items) => items.contains(want) || &meta[key] == want,
            got => got == want,
        })
    }

    /// `scores` with NaN (dropped) for passages of documents the filter excludes.
    pub fn apply(&self, mut scores: Vec<f32>, store: &TokenStore) -> Vec<f32> {
        let mut verdicts: std::collections::HashMap<&str, bool> = Default::default();
        for (score, p) in scores.iter_mut().zip(store.passages()) {
            let keep = *verdicts.entry(p.doc_id.as_str()).or_insert_with(|| {
                let null = serde_json::Value::Null;
                let meta = store
                    .doc_info(&p.doc_id)
                    .map_or(&null, DocInfo::metadata_value);
                self.matches(meta)
            });
            if !keep {
                *score = f32::NAN;
            }
        }
        scores
    }
}
