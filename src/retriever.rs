//! What does a caller do? Load a bundle, add documents by id, search with a query. Everything the wasm
//! layer exposes is here, in plain Rust, so it is tested natively.

use crate::error::{Error, Result};
use crate::index::TokenStore;
use crate::model::{Bundle, ColbertTokenizer, Encoder, TextKind, TokenVectors};
use crate::score::{top_k, MaxSim, ScalarMaxSim};

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub score: f32,
}

pub struct Retriever {
    tokenizer: ColbertTokenizer,
    encoder: Encoder,
    store: TokenStore,
    scorer: Box<dyn MaxSim>,
    model_sha256: String,
}

impl Retriever {
    pub fn from_bundle(bundle: Bundle) -> Result<Retriever> {
        Ok(Retriever {
            tokenizer: ColbertTokenizer::new(&bundle.tokenizer, &bundle.manifest)?,
            encoder: Encoder::new(&bundle.model, &bundle.manifest)?,
            store: TokenStore::new(),
            scorer: Box::new(ScalarMaxSim),
            model_sha256: bundle.model_sha256,
        })
    }

    /// Verifies and loads a bundle from its three files' bytes.
    pub fn from_bytes(manifest_json: &[u8], model: Vec<u8>, tokenizer: Vec<u8>) -> Result<Retriever> {
        Retriever::from_bundle(Bundle::from_parts(manifest_json, model, tokenizer)?)
    }

    pub fn tokenizer(&self) -> &ColbertTokenizer {
        &self.tokenizer
    }

    pub fn model_sha256(&self) -> &str {
        &self.model_sha256
    }

    pub fn backend(&self) -> &'static str {
        self.scorer.name()
    }

    pub fn encode(&self, text: &str, kind: TextKind) -> Result<TokenVectors> {
        self.encoder.encode(&self.tokenizer.encode(text, kind)?)
    }

    /// Encodes and stores documents. All-or-nothing: if any document fails, none is stored.
    pub fn add_documents<S: AsRef<str>>(&mut self, docs: &[(S, S)]) -> Result<()> {
        let mut encoded = Vec::with_capacity(docs.len());
        for (id, text) in docs {
            let id = id.as_ref();
            if id.is_empty() {
                return Err(Error::InvalidInput("document id is empty".into()));
            }
            encoded.push((id.to_owned(), self.encode(text.as_ref(), TextKind::Document)?));
        }
        for (id, vectors) in encoded {
            self.store.upsert(id, vectors);
        }
        Ok(())
    }

    /// The `k` best documents for `query`, best first. A blank query matches nothing.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
        if query.trim().is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let query = self.encode(query, TextKind::Query)?;
        let scores = self.scorer.score_all(&query, &self.store);
        let docs = self.store.docs();
        Ok(top_k(&scores, k).into_iter().map(|(slot, score)| Hit { id: docs[slot].id.clone(), score }).collect())
    }

    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    pub fn token_count(&self) -> usize {
        self.store.token_count()
    }
}
