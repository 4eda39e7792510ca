//! Real exports in one test binary (one link instead of three): what exporters write runs and matches
//! onnxruntime (`graphs`), their configs become manifests (`export_config`), and the tokenizer
//! families of real checkpoints tokenise like Python (`tokenizer_families`).

#[path = "../common/mod.rs"]
mod common;

mod export_config;
mod graphs;
mod tokenizer_families;
