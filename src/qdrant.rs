//! How does an index move to a Qdrant collection? The requests that create (or check) a collection
//! for this model, and upsert an index's passages into it as multivector points scored with
//! `max_sim`, resuming by content hash and retrying transient failures. HTTP itself is behind the
//! small [`Transport`] trait (the native CLI gives it `ureq`; tests give it a recording fake), so
//! this file decides what is sent and never how.
//!
//! One point per passage: its token vectors (as this index scores them: int8, f16 and binary
//! decoded to floats) and a payload of `doc_id`, `path`, `passage`, `text` (the passage's),
//! `metadata` and `content_hash`. The collection's `metadata.colbert_wasm` records the model's
//! sha256, the precision and the dimension, so a collection of another model is refused.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::index::{Precision, StoredPassage, TokenStore};
use crate::model::sha256_hex;
use crate::Retriever;

/// What a transport says of a request it could not complete.
#[derive(Debug)]
pub enum TransportError {
    /// Worth trying again (connection refused or reset, a timeout).
    Transient(String),
    /// Not worth trying again (a malformed URL, no TLS support for https).
    Fatal(String),
}

/// One HTTP request to the Qdrant REST API: `path` starts with `/`; JSON in, status and JSON out.
pub trait Transport {
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> std::result::Result<(u16, Value), TransportError>;
}

/// The longest pause between two tries of a request.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// How often and how patiently a request is tried again (waits double, up to [`MAX_WAIT`]).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_wait: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 6,
            first_wait: Duration::from_millis(500),
        }
    }
}

/// What an upload did (documents skipped before encoding are not counted: the caller knows them).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UploadReport {
    pub created: bool,
    pub documents_uploaded: usize,
    pub documents_unchanged: usize,
    pub points_uploaded: usize,
}

/// Progress of an upload: points sent so far and in all.
#[derive(Debug, Clone, Copy)]
pub struct UploadProgress {
    pub done: usize,
    pub total: usize,
}

/// The collection's record of what made its vectors (in `metadata.colbert_wasm`).
pub fn collection_metadata(retriever: &Retriever) -> Value {
    json!({
        "model_sha256": retriever.model_sha256(),
        "precision": retriever.precision().name(),
        "dim": retriever.encoder().dim(),
    })
}

/// The body of `PUT /collections/{name}`: the model's dimension, dot product (the vectors are
/// L2-normalised: cosine) summed as ColBERT's MaxSim, stored as float16 when the index is (its
/// values lose nothing), float32 otherwise.
pub fn create_collection_body(retriever: &Retriever) -> Value {
    let datatype = match retriever.precision() {
        Precision::F16 => "float16",
        _ => "float32",
    };
    json!({
        "vectors": {
            "size": retriever.encoder().dim(),
            "distance": "Dot",
            "datatype": datatype,
            "multivector_config": { "comparator": "max_sim" },
        },
        "metadata": { "colbert_wasm": collection_metadata(retriever) },
    })
}

/// A passage's point id: a UUID made from the document id and the passage's number, so a document
/// uploaded again replaces its own points and no other's.
pub fn point_id(doc_id: &str, passage: usize) -> String {
    let hex = sha256_hex(format!("{doc_id}\u{0}{passage}").as_bytes());
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// One passage's point: its token vectors (decoded to floats) and its payload. `n` is the passage's
/// number within its document; `text` the document's whole text when the caller has it (the
/// passage's part of it goes into the payload).
fn passage_point(store: &TokenStore, passage: &StoredPassage, n: usize, text: Option<&str>) -> Value {
    let dim = store.dim();
    let vectors: Vec<Vec<f32>> = passage
        .tokens
        .clone()
        .map(|t| store.tokens().decode(dim, t))
        .collect();
    let info = store.doc_info(&passage.doc_id);
    json!({
        "id": point_id(&passage.doc_id, n),
        "vector": vectors,
        "payload": payload(&passage.doc_id, n, passage, text, info),
    })
}

/// The passages of the documents in `docs`, each with its number within its document, in one pass
/// over the store.
fn passages_of<'s>(store: &'s TokenStore, docs: &HashSet<String>) -> Vec<(usize, &'s StoredPassage)> {
    let mut numbers: HashMap<&str, usize> = HashMap::new();
    store
        .passages()
        .iter()
        .filter(|p| docs.contains(&p.doc_id))
        .map(|p| {
            let n = numbers.entry(&p.doc_id).or_insert(0);
            *n += 1;
            (*n - 1, p)
        })
        .collect()
}

fn payload(
    doc_id: &str,
    n: usize,
    passage: &StoredPassage,
    text: Option<&str>,
    info: Option<&crate::index::DocInfo>,
) -> Value {
    let mut payload = json!({
        "doc_id": doc_id,
        "path": doc_id,
        "passage": n,
        "content_hash": info.map(|i| i.content_hash.as_str()),
        "metadata": info.map_or(&Value::Null, |i| i.metadata_value()),
    });
    if let Some(passage_text) = text.and_then(|t| t.get(passage.range.clone())) {
        payload["text"] = json!(passage_text);
    }
    payload
}

/// Sends the index's documents to collection `name`: creates it for this model if it does not
/// exist, refuses it if another model's vectors are in it, skips documents whose content hash it
/// already holds, replaces those that changed, and upserts `batch` points at a time.
pub struct Upload<'a, T: Transport> {
    pub transport: &'a T,
    pub collection: &'a str,
    pub batch: usize,
    pub retry: Retry,
    /// Called between attempts with how long to wait (the CLI sleeps; tests do not).
    pub wait: &'a dyn Fn(Duration),
}

/// What the collection holds before an upload: each document's content hash.
#[derive(Debug, Default)]
pub struct Held {
    pub created: bool,
    pub hashes: HashMap<String, String>,
}

impl Held {
    /// Whether the collection already holds this text for `doc_id` (it need not be encoded again).
    pub fn holds(&self, doc_id: &str, text: &str) -> bool {
        self.hashes.get(doc_id).is_some_and(|h| *h == sha256_hex(text.as_bytes()))
    }
}

impl<T: Transport> Upload<'_, T> {
    /// Creates the collection for this model, or checks the existing one and reads what it holds.
    pub fn prepare(&self, retriever: &Retriever) -> Result<Held> {
        check_collection_name(self.collection)?;
        if self.ensure_collection(retriever)? {
            return Ok(Held {
                created: true,
                hashes: HashMap::new(),
            });
        }
        Ok(Held {
            created: false,
            hashes: self.held_hashes()?,
        })
    }

    /// Upserts every document of `retriever` the collection does not hold with the same content
    /// hash (a changed one's old points are deleted first); `texts` gives the payload's text.
    pub fn run(
        &self,
        retriever: &Retriever,
        texts: &HashMap<&str, &str>,
        held: &Held,
        progress: &dyn Fn(UploadProgress),
    ) -> Result<UploadReport> {
        let mut report = UploadReport {
            created: held.created,
            ..UploadReport::default()
        };
        let mut uploading = HashSet::new();
        let store = retriever.store();
        for doc_id in retriever.document_ids() {
            let hash = store.doc_info(&doc_id).map(|i| i.content_hash.clone());
            match held.hashes.get(&doc_id) {
                Some(held_hash) if Some(held_hash) == hash.as_ref() => {
                    report.documents_unchanged += 1;
                    continue;
                }
                // Changed: its old points go first (it may now have fewer passages).
                Some(_) => self.delete_document(&doc_id)?,
                None => {}
            }
            report.documents_uploaded += 1;
            uploading.insert(doc_id);
        }
        // Points are made a batch at a time: a large index's decoded vectors never sit whole in memory.
        let passages = passages_of(store, &uploading);
        for chunk in passages.chunks(self.batch.max(1)) {
            let points: Vec<Value> = chunk
                .iter()
                .map(|&(n, p)| passage_point(store, p, n, texts.get(p.doc_id.as_str()).copied()))
                .collect();
            self.call(
                "PUT",
                &format!("/collections/{}/points?wait=true", self.collection),
                Some(&json!({ "points": points })),
            )?;
            report.points_uploaded += chunk.len();
            progress(UploadProgress {
                done: report.points_uploaded,
                total: passages.len(),
            });
        }
        Ok(report)
    }

    /// Creates the collection (true) or checks that the existing one holds this model's vectors.
    fn ensure_collection(&self, retriever: &Retriever) -> Result<bool> {
        let path = format!("/collections/{}", self.collection);
        match self.call_allowing("GET", &path, None, &[404])? {
            (404, _) => {
                self.call("PUT", &path, Some(&create_collection_body(retriever)))?;
                // A keyword index on doc_id: replacing a changed document deletes by it.
                let index = json!({ "field_name": "doc_id", "field_schema": "keyword" });
                self.call("PUT", &format!("{path}/index?wait=true"), Some(&index))?;
                Ok(true)
            }
            (_, info) => {
                check_collection(self.collection, &info, retriever)?;
                Ok(false)
            }
        }
    }

    /// Every document's content hash in the collection (one scroll over its payloads).
    fn held_hashes(&self) -> Result<HashMap<String, String>> {
        let mut held = HashMap::new();
        let mut offset = Value::Null;
        loop {
            let mut body = json!({
                "limit": 1000,
                "with_payload": ["doc_id", "content_hash"],
                "with_vector": false,
            });
            if !offset.is_null() {
                body["offset"] = offset.clone();
            }
            let (_, page) = self.call(
                "POST",
                &format!("/collections/{}/points/scroll", self.collection),
                Some(&body),
            )?;
            let result = &page["result"];
            for point in result["points"].as_array().into_iter().flatten() {
                let payload = &point["payload"];
                if let (Some(id), Some(hash)) =
                    (payload["doc_id"].as_str(), payload["content_hash"].as_str())
                {
                    held.insert(id.to_string(), hash.to_string());
                }
            }
            offset = result["next_page_offset"].clone();
            if offset.is_null() {
                return Ok(held);
            }
        }
    }

    fn delete_document(&self, doc_id: &str) -> Result<()> {
        let body = json!({ "filter": { "must": [{ "key": "doc_id", "match": { "value": doc_id } }] } });
        self.call(
            "POST",
            &format!("/collections/{}/points/delete?wait=true", self.collection),
            Some(&body),
        )?;
        Ok(())
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        self.call_allowing(method, path, body, &[])
    }

    /// Sends a request, trying again on transient failures (no connection, 429, 5xx) with waits that
    /// double; a 2xx or a status in `allowed` is the answer, any other status an error naming it.
    fn call_allowing(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        allowed: &[u16],
    ) -> Result<(u16, Value)> {
        let mut wait = self.retry.first_wait;
        let mut attempt = 1;
        loop {
            let failure = match self.transport.send(method, path, body) {
                Ok((status, reply)) if (200..300).contains(&status) || allowed.contains(&status) => {
                    return Ok((status, reply))
                }
                Ok((status, reply)) if status == 429 || status >= 500 => {
                    format!("HTTP {status}: {}", reason(&reply))
                }
                Ok((status, reply)) => {
                    return Err(remote(method, path, format!("HTTP {status}: {}", reason(&reply))))
                }
                Err(TransportError::Transient(why)) => why,
                Err(TransportError::Fatal(why)) => return Err(remote(method, path, why)),
            };
            if attempt >= self.retry.attempts {
                return Err(remote(
                    method,
                    path,
                    format!("{failure} (after {attempt} attempts; run again to resume)"),
                ));
            }
            (self.wait)(wait);
            wait = (wait * 2).min(MAX_WAIT);
            attempt += 1;
        }
    }
}

/// Refuses a collection made for another model, precision or dimension (its vectors would not be
/// comparable with this model's queries).
pub fn check_collection(name: &str, info: &Value, retriever: &Retriever) -> Result<()> {
    let recorded = &info["result"]["config"]["metadata"]["colbert_wasm"];
    let expected = collection_metadata(retriever);
    if recorded.is_null() {
        return Err(Error::InvalidInput(format!(
            "Qdrant collection '{name}' was not made by colbert-wasm (no metadata.colbert_wasm): choose another name"
        )));
    }
    for field in ["model_sha256", "precision", "dim"] {
        if recorded[field] != expected[field] {
            return Err(Error::InvalidInput(format!(
                "Qdrant collection '{name}' holds vectors of another {field} ({} there, {} here): upload to another collection",
                recorded[field], expected[field]
            )));
        }
    }
    Ok(())
}

/// Qdrant's collection names go into the URL path: refuse what would change the path rather than
/// percent-encode a name the user probably did not mean.
pub fn check_collection_name(name: &str) -> Result<()> {
    let fits = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 255 || !name.chars().all(fits) || name.starts_with('.') {
        return Err(Error::InvalidInput(format!(
            "collection name '{name}': use letters, digits, '-', '_' and '.' (at most 255)"
        )));
    }
    Ok(())
}

fn reason(reply: &Value) -> String {
    reply["status"]["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| reply.to_string())
}

fn remote(method: &str, path: &str, why: String) -> Error {
    Error::Remote(format!("{method} {path}: {why}"))
}
