//! Are these bytes the bundle the manifest describes? Checks every file's sha256 before anything parses it.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::manifest::{Manifest, MODEL_ROLE, TOKENIZER_ROLE};
use super::onnx_graph::ExternalData;
use crate::error::{Error, Result};

/// A verified model bundle: the manifest plus the exact bytes it names.
pub struct Bundle {
    pub manifest: Manifest,
    pub model: Vec<u8>,
    pub tokenizer: Vec<u8>,
    /// The model's external data files, by the path the manifest (and the graph) names them with.
    pub model_data: ExternalData,
    /// sha256 of the model file: the bundle's identity for anything persisted against it.
    pub model_sha256: String,
}

impl Bundle {
    /// A bundle whose model keeps its weights inline (no external data files).
    pub fn from_parts(manifest_json: &[u8], model: Vec<u8>, tokenizer: Vec<u8>) -> Result<Bundle> {
        Bundle::from_files(manifest_json, model, tokenizer, BTreeMap::new())
    }

    /// `model_data`: the external data files' bytes by manifest role (`model_data`, …).
    pub fn from_files(
        manifest_json: &[u8],
        model: Vec<u8>,
        tokenizer: Vec<u8>,
        mut model_data: BTreeMap<String, Vec<u8>>,
    ) -> Result<Bundle> {
        let manifest = Manifest::from_json(manifest_json)?;
        let model_sha256 = verify(&manifest, MODEL_ROLE, &model)?;
        verify(&manifest, TOKENIZER_ROLE, &tokenizer)?;
        let mut by_path = ExternalData::new();
        for (role, entry) in manifest.model_data_files() {
            let bytes = model_data.remove(role).ok_or_else(|| {
                Error::Manifest(format!(
                    "the bundle's data file '{}' (files.{role}) was not supplied",
                    entry.path
                ))
            })?;
            verify(&manifest, role, &bytes)?;
            by_path.insert(entry.path.clone(), bytes);
        }
        if let Some(role) = model_data.keys().next() {
            return Err(Error::Manifest(format!(
                "a data file was supplied as '{role}', which the manifest does not list"
            )));
        }
        Ok(Bundle {
            manifest,
            model,
            tokenizer,
            model_data: by_path,
            model_sha256,
        })
    }
}

/// Reads a bundle folder (`manifest.json` and the files it names) from disk: for native tools.
#[cfg(not(target_arch = "wasm32"))]
impl Bundle {
    pub fn from_dir(dir: &std::path::Path) -> Result<Bundle> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                Error::Manifest(format!("cannot read {}: {e}", dir.join(name).display()))
            })
        };
        let manifest_json = read("manifest.json")?;
        let manifest = Manifest::from_json(&manifest_json)?;
        let model_data = manifest
            .model_data_files()
            .map(|(role, file)| Ok((role.to_owned(), read(&file.path)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        Bundle::from_files(
            &manifest_json,
            read(&manifest.file(MODEL_ROLE).path)?,
            read(&manifest.file(TOKENIZER_ROLE).path)?,
            model_data,
        )
    }
}

fn verify(manifest: &Manifest, role: &str, bytes: &[u8]) -> Result<String> {
    let entry = &manifest.files[role];
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
