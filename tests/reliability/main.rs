//! Reliability suites in one test binary (one link of the whole crate instead of three): staged adds
//! (`add`), no input panics (`hostile`) and the build-time indexer (`indexer`).

#[path = "../common/mod.rs"]
mod common;

mod add;
mod hostile;
mod indexer;
