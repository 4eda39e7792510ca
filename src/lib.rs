//! colbert-wasm: ColBERT late-interaction retrieval, platform-neutral core plus a thin wasm layer.
//!
//! `model` turns text into per-token vectors, `index` keeps them, `score` ranks them with MaxSim and
//! `retriever` ties the three together; `qdrant` moves an index to a Qdrant collection. Only `wasm` knows about JavaScript.

pub mod error;
pub mod index;
pub mod model;
pub mod offsets;
pub mod qdrant;
pub mod retriever;
pub mod score;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use error::{Error, Result};
pub use retriever::{Hit, Retriever};
