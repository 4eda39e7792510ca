//! How do documents move in and out whole? The index as one file (`export_index`/`import_index`),
//! each document as its own record (`export_documents`/`apply_documents`: what persistence stores),
//! and the words of documents read from version-1 files, rebuilt from their texts.

use std::collections::HashMap;

use serde::Serialize;

use super::Retriever;
use crate::error::{Error, Result};
use crate::index::{DocInfo, StagedDocument, TokenStore};

/// A stored record that did not read back (see [`Retriever::apply_documents`]); serialised as
/// `{ id, message }`.
#[derive(Debug)]
pub struct DamagedRecord {
    pub id: String,
    pub error: Error,
}

impl Serialize for DamagedRecord {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut record = serializer.serialize_struct("DamagedRecord", 2)?;
        record.serialize_field("id", &self.id)?;
        record.serialize_field("message", &self.error.to_string())?;
        record.end()
    }
}

impl Retriever {
    /// The index as one versioned, checksummed file, tagged with this model's sha256.
    pub fn export_index(&self) -> Vec<u8> {
        self.store.to_bytes(&self.model_sha256)
    }

    /// Each document's own index file (the export format holding just it), or `None` for an id not
    /// stored: the records persistence writes, one per document.
    pub fn export_documents(&self, ids: &[&str]) -> Vec<Option<Vec<u8>>> {
        self.store
            .split_documents(ids)
            .into_iter()
            .map(|one| one.map(|one| one.to_bytes(&self.model_sha256)))
            .collect()
    }

    /// Stores documents from their own index files (`export_documents`), replacing earlier versions,
    /// in one change. A record that does not read back whole (checksum, model, precision, not exactly
    /// the document it is filed under) is left out and returned with its error; the others are stored.
    pub fn apply_documents(&mut self, records: &[(&str, &[u8])]) -> Result<Vec<DamagedRecord>> {
        let mut damaged = Vec::new();
        let mut staged = Vec::new();
        for (id, bytes) in records {
            match self.read_document(id, bytes) {
                Ok(doc) => staged.push(doc),
                Err(error) => damaged.push(DamagedRecord {
                    id: id.to_string(),
                    error,
                }),
            }
        }
        self.store
            .try_reserve(&staged.iter().map(|(_, _, s)| s).collect::<Vec<_>>())?;
        for (id, info, doc) in staged {
            self.store.upsert_staged(&id, info, doc);
        }
        Ok(damaged)
    }

    /// An index file of this model (`what` names it in errors) whose precision and dim are this
    /// index's, so its documents can be stored here as they are.
    pub(super) fn read_same_layout(&self, bytes: &[u8], what: &str) -> Result<TokenStore> {
        let other = TokenStore::from_bytes(bytes, &self.model_sha256)?;
        if other.precision() != self.store.precision() || other.dim() != self.store.dim() {
            return Err(Error::Index(format!(
                "{what} is {} at dim {}; this index is {} at dim {}",
                other.precision().name(),
                other.dim(),
                self.store.precision().name(),
                self.store.dim()
            )));
        }
        Ok(other)
    }

    fn read_document(&self, id: &str, bytes: &[u8]) -> Result<(String, DocInfo, StagedDocument)> {
        let mut docs = self.read_same_layout(bytes, "the record")?.into_staged();
        match (docs.pop(), docs.is_empty()) {
            (Some(doc), true) if doc.0 == id => Ok(doc),
            _ => Err(Error::Index(format!(
                "the record filed under '{id}' does not hold exactly that document"
            ))),
        }
    }

    /// Replaces the index with a file from `export_index`. On any error the current index stays. A
    /// version-1 file's documents come without words (see [`Retriever::documents_without_words`]).
    pub fn import_index(&mut self, bytes: &[u8]) -> Result<()> {
        self.store = TokenStore::from_bytes(bytes, &self.model_sha256)?;
        Ok(())
    }

    /// `import_index` that must end with every document's words: a version-1 file's are rebuilt
    /// from `texts` (id, text: each the text the document was encoded from); a document whose text
    /// is missing or changed is an `Index` error naming it, and the current index stays.
    pub fn import_index_with_texts(&mut self, bytes: &[u8], texts: &[(&str, &str)]) -> Result<()> {
        let mut store = TokenStore::from_bytes(bytes, &self.model_sha256)?;
        let texts: HashMap<&str, &str> = texts.iter().copied().collect();
        let (restorable, unrestorable) = words_restorable(&store, &texts);
        if let Some(first) = unrestorable.first() {
            return Err(Error::Index(format!(
                "this index file (format version 1) has no words for lexical search, and {} of its \
                 documents (first '{first}') come without the text they were encoded from: pass \
                 their texts to importIndex ({{ texts: {{ id: text }} }}) or add them again",
                unrestorable.len()
            )));
        }
        store.set_words_from_texts(&restorable);
        self.store = store;
        Ok(())
    }

    /// Documents some passage of which has no words for the lexical half (read from a version-1
    /// index file): BM25 does not see them until [`Retriever::restore_words`] is given their text.
    pub fn documents_without_words(&self) -> Vec<String> {
        self.store.documents_without_words()
    }

    /// Gives stored documents without words their words from `texts` (id -> the text each was
    /// encoded from), in one pass; returns the ids left without words (no text given, or not the
    /// text that was encoded: its sha256 differs), which BM25 does not see until added again.
    pub fn restore_words(&mut self, texts: &HashMap<&str, &str>) -> Vec<String> {
        let (restorable, left) = words_restorable(&self.store, texts);
        self.store.set_words_from_texts(&restorable);
        left
    }
}

/// Of the documents `store` holds without words, those whose text in `texts` is the one they were
/// encoded from (same sha256), by id, and the ids of the others.
fn words_restorable<'t>(
    store: &TokenStore,
    texts: &HashMap<&'t str, &'t str>,
) -> (HashMap<&'t str, &'t str>, Vec<String>) {
    let mut restorable = HashMap::new();
    let mut left = Vec::new();
    for id in store.documents_without_words() {
        let encoded_from = |text: &&str| {
            let hash = crate::model::sha256_hex(text.as_bytes());
            store.doc_info(&id).is_some_and(|i| i.content_hash == hash)
        };
        match texts
            .get_key_value(id.as_str())
            .filter(|(_, t)| encoded_from(t))
        {
            Some((id, text)) => {
                restorable.insert(*id, *text);
            }
            None => left.push(id),
        }
    }
    (restorable, left)
}
