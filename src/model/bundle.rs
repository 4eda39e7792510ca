//! Are these bytes the bundle the manifest describes? Checks every file's sha256 before anything parses it.

use sha2::{Digest, Sha256};

use super::manifest::Manifest;
use crate::error::{Error, Result};

/// A verified model bundle: the manifest plus the exact bytes it names.
pub struct Bundle {
    pub manifest: Manifest,
    pub model: Vec<u8>,
    pub tokenizer: Vec<u8>,
    /// sha256 of the model file: the bundle's identity for anything persisted against it.
    pub model_sha256: String,
}

impl Bundle {
    pub fn from_parts(manifest_json: &[u8], model: Vec<u8>, tokenizer: Vec<u8>) -> Result<Bundle> {
        let manifest = Manifest::from_json(manifest_json)?;
        let model_sha256 = verify(&manifest, "model", &model)?;
        verify(&manifest, "tokenizer", &tokenizer)?;
        Ok(Bundle {
            manifest,
            model,
            tokenizer,
            model_sha256,
        })
    }
}

fn verify(manifest: &Manifest, role: &str, bytes: &[u8]) -> Result<String> {
    let entry = manifest.file(role);
    let actual = sha256_hex(bytes);
    if !actual.eq_ignore_ascii_case(&entry.sha256) {
        return Err(Error::Checksum {
            file: entry.path.clone(),
            expected: entry.sha256.clone(),
            actual,
        });
    }
    Ok(actual)
}

/// Lower-case hex sha256 of `bytes`, as manifests record it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn sha256_digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
