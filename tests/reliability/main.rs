//! Reliability suites in one test binary (one link of the whole crate instead of four): staged adds
//! (`add`), no input panics (`hostile`), the build-time indexer (`indexer`) and per-document
//! records for persistence (`records`).

#[path = "../common/mod.rs"]
mod common;

mod add;
mod hostile;
mod indexer;
mod memory;
mod records;
