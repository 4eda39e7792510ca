//! How does text become per-token vectors? A bundle (manifest + ONNX graph + tokenizer) is verified,
//! the tokenizer applies the model's ColBERT conventions, and the tract encoder runs the graph.

mod bundle;
mod encoder;
mod export_config;
mod manifest;
pub mod onnx_graph;
mod passages;
mod plan;
mod tokenize;

pub use bundle::{sha256_digest, sha256_hex, Bundle};
pub use encoder::{Encoder, OpTime, Planning, TokenVectors};
pub use export_config::{manifest_from_export, ExportFiles, PYLATE_CONFIG, STANFORD_CONFIG};
pub use manifest::{
    FileEntry, Manifest, Marker, BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, MODEL_DATA_ROLE, MODEL_ROLE,
    TOKENIZER_ROLE,
};
pub use tokenize::{ColbertTokenizer, Encoding, TextKind};
