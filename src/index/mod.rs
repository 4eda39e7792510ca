//! Where are the documents' token vectors kept? An in-memory store keyed by document id, in insertion
//! order (so ties in score resolve the same way on every run).

use std::collections::HashMap;

use crate::model::TokenVectors;

pub struct StoredDoc {
    pub id: String,
    pub vectors: TokenVectors,
}

#[derive(Default)]
pub struct TokenStore {
    docs: Vec<StoredDoc>,
    by_id: HashMap<String, usize>,
}

impl TokenStore {
    pub fn new() -> TokenStore {
        TokenStore::default()
    }

    /// Adds a document, replacing any earlier one with the same id.
    pub fn upsert(&mut self, id: String, vectors: TokenVectors) {
        match self.by_id.get(&id) {
            Some(&slot) => self.docs[slot].vectors = vectors,
            None => {
                self.by_id.insert(id.clone(), self.docs.len());
                self.docs.push(StoredDoc { id, vectors });
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&StoredDoc> {
        self.by_id.get(id).map(|&slot| &self.docs[slot])
    }

    pub fn docs(&self) -> &[StoredDoc] {
        &self.docs
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Number of token vectors held, over all documents.
    pub fn token_count(&self) -> usize {
        self.docs.iter().map(|d| d.vectors.n_tokens()).sum()
    }
}
