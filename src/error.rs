//! The one error type of the crate. Every fallible path returns it; the wasm layer turns it into a JS
//! `Error` whose `name` is [`Error::kind`], so callers can branch on the kind without parsing text.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The manifest is not valid JSON, has the wrong format/version, or names impossible settings.
    #[error("invalid bundle manifest: {0}")]
    Manifest(String),
    /// A bundle file's bytes do not match the sha256 the manifest records.
    #[error("bundle file '{file}' failed its checksum: expected sha256 {expected}, got {actual}")]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    /// The tokenizer file could not be parsed or used.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// The ONNX model could not be loaded, optimised or run.
    #[error("model error: {0}")]
    Model(String),
    /// A saved index that cannot be used: altered, truncated, another format version or another model.
    #[error("index error: {0}")]
    Index(String),
    /// No usable GPU (none, a software one not allowed, or the device was lost).
    #[error("GPU unavailable: {0}")]
    Gpu(String),
    /// Memory for the index ran out: nothing was changed (remove documents or use a smaller precision).
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// Caller input that cannot be served (empty id, mismatched lengths, k = 0...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A remote engine (a Qdrant server) refused a request or could not be reached.
    #[error("remote engine: {0}")]
    Remote(String),
}

impl Error {
    /// A stable, machine-readable name for the error's kind (used as the JS `Error.name`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Manifest(_) => "ManifestError",
            Error::Checksum { .. } => "ChecksumError",
            Error::Tokenizer(_) => "TokenizerError",
            Error::Model(_) => "ModelError",
            Error::Index(_) => "IndexError",
            Error::Gpu(_) => "GpuError",
            Error::InvalidInput(_) => "InvalidInputError",
            Error::OutOfMemory(_) => "OutOfMemoryError",
            Error::Remote(_) => "RemoteError",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Why the GPU could not score; the caller falls back to the CPU. Declared here, not beside the GPU
/// code, so that this module depends on no other (no import circle through `From`).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GpuError {
    #[error("no usable GPU adapter: {0}")]
    NoAdapter(String),
    #[error("GPU device lost: {0}")]
    DeviceLost(String),
    /// The query or a single passage does not fit what the kernel or a binding takes.
    #[error("too large for the GPU kernel: {0}")]
    TooLarge(String),
}

impl From<GpuError> for Error {
    fn from(e: GpuError) -> Error {
        Error::Gpu(e.to_string())
    }
}
