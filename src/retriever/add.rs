//! How do documents get into the index? In three steps, so a caller can report progress per passage
//! and stop between passages: [`Retriever::begin_add`] checks and tokenises a batch, [`Retriever::encode_step`]
//! encodes a few passages (packed at once into the store's precision, so a long document never
//! holds all its f32 vectors), and [`Retriever::commit_add`] stores the whole batch or nothing.
//! Encoding borrows the retriever immutably: only the commit changes it.

use std::collections::HashSet;
use std::ops::Range;

use super::{AddReport, NewDocument, Retriever};
use crate::error::{Error, Result};
use crate::index::pooling::pool_tokens;
use crate::index::{DocInfo, NewPassage, PassageTerms, StagedDocument};
use crate::model::Encoding;
use crate::offsets::utf16_range;

/// One document of an add in progress.
struct PendingDocument {
    id: String,
    info: DocInfo,
    text: String,
    /// Tokenised passages still to encode (front first); `None` for an unchanged text.
    todo: Option<std::collections::VecDeque<(Encoding, Range<usize>)>>,
    staged: StagedDocument,
}

/// An add between `begin_add` and `commit_add`.
pub struct AddJob {
    docs: Vec<PendingDocument>,
    /// The store generation the job was checked against: a commit after another change is refused.
    generation: u64,
    passages_total: usize,
    passages_done: usize,
}

impl AddJob {
    /// Passages to encode in the whole batch.
    pub fn passages_total(&self) -> usize {
        self.passages_total
    }

    pub fn passages_done(&self) -> usize {
        self.passages_done
    }

    pub fn is_encoded(&self) -> bool {
        self.passages_done == self.passages_total
    }
}

impl Retriever {
    /// Checks a batch (ids non-empty and unique, metadata JSON) and tokenises the documents whose
    /// text changed. Nothing is encoded or stored yet.
    pub fn begin_add(&self, docs: &[NewDocument]) -> Result<AddJob> {
        check_batch(docs)?;
        let precision = self.store.precision();
        let dim = self.store.dim();
        let mut pending = Vec::with_capacity(docs.len());
        let mut passages_total = 0;
        for doc in docs {
            let content_hash = crate::model::sha256_hex(doc.text.as_bytes());
            let todo = if self.stored_hash_is(doc.id, &content_hash) {
                None
            } else {
                Some(self.tokenizer.document_passages(doc.text)?.into())
            };
            passages_total += todo
                .as_ref()
                .map_or(0, |t: &std::collections::VecDeque<_>| t.len());
            pending.push(PendingDocument {
                id: doc.id.to_owned(),
                info: DocInfo::new(content_hash, doc.metadata.clone()),
                text: doc.text.to_owned(),
                todo,
                staged: StagedDocument::new(precision, dim),
            });
        }
        Ok(AddJob {
            docs: pending,
            generation: self.store.generation(),
            passages_total,
            passages_done: 0,
        })
    }

    /// Encodes up to `max_passages` more passages of the job; returns how many it encoded.
    pub fn encode_step(&self, job: &mut AddJob, max_passages: usize) -> Result<usize> {
        let mut encoded = 0;
        for doc in &mut job.docs {
            let Some(todo) = doc.todo.as_mut() else {
                continue;
            };
            while encoded < max_passages {
                let Some((encoding, range)) = todo.pop_front() else {
                    break;
                };
                let range_utf16 = utf16_range(&doc.text, range.clone());
                let (vectors, sentence) = self.encoder.encode_with_sentence(&encoding)?;
                let vectors = pool_tokens(vectors, self.pool_factor);
                let terms = Some(PassageTerms::of(&doc.text[range.clone()]));
                doc.staged.push(NewPassage {
                    range,
                    range_utf16,
                    vectors,
                    terms,
                    sentence,
                });
                encoded += 1;
            }
        }
        job.passages_done += encoded;
        Ok(encoded)
    }

    /// Stores every document of a fully encoded job (a changed text replaces the old passages, an
    /// unchanged one only gets its metadata). All or nothing.
    pub fn commit_add(&mut self, job: AddJob) -> Result<AddReport> {
        self.commit_adds(vec![job])
    }

    /// Stores several jobs begun on the same index state (e.g. encoded on several threads) as one
    /// all-or-nothing commit. Their documents must not overlap.
    pub fn commit_adds(&mut self, mut jobs: Vec<AddJob>) -> Result<AddReport> {
        for job in &mut jobs {
            self.encode_step(job, usize::MAX)?;
            if job.generation != self.store.generation() {
                return Err(Error::InvalidInput(
                    "the index changed while these documents were being encoded: add them again"
                        .into(),
                ));
            }
        }
        let mut ids = HashSet::new();
        if let Some(twice) = jobs
            .iter()
            .flat_map(|j| &j.docs)
            .find(|d| !ids.insert(d.id.as_str()))
        {
            return Err(Error::InvalidInput(format!(
                "document id '{}' appears twice in one batch",
                twice.id
            )));
        }
        let staged: Vec<&StagedDocument> = jobs
            .iter()
            .flat_map(|j| &j.docs)
            .map(|d| &d.staged)
            .collect();
        self.store.try_reserve(&staged)?;
        let mut report = AddReport::default();
        for doc in jobs.into_iter().flat_map(|j| j.docs) {
            match doc.todo {
                Some(_) => {
                    self.store.upsert_staged(&doc.id, doc.info, doc.staged);
                    report.encoded += 1;
                }
                None => {
                    self.store
                        .set_metadata(&doc.id, doc.info.metadata().map(str::to_owned));
                    report.unchanged += 1;
                }
            }
        }
        Ok(report)
    }

    /// For each document, whether its text is stored exactly as given (so it needs no encoding).
    pub fn unchanged(&self, docs: &[NewDocument]) -> Vec<bool> {
        docs.iter()
            .map(|doc| self.stored_hash_is(doc.id, &crate::model::sha256_hex(doc.text.as_bytes())))
            .collect()
    }

    /// Whether document `id` is stored with this content hash (sha256 hex of its text).
    pub(super) fn stored_hash_is(&self, id: &str, content_hash: &str) -> bool {
        self.store
            .doc_info(id)
            .is_some_and(|info| info.content_hash == content_hash)
    }

    /// Commits documents encoded by another retriever of the same model and precision (its
    /// `export_index` holding just them: a pool of encoders), together with the metadata of
    /// `unchanged` documents (texts checked by [`Retriever::unchanged`]), as one all-or-nothing commit.
    pub fn commit_encoded(
        &mut self,
        encoded: &[u8],
        unchanged: &[NewDocument],
    ) -> Result<AddReport> {
        let other = self.read_same_layout(encoded, "encoded documents")?;
        let mut docs = Vec::new();
        for (id, info, staged) in other.into_staged() {
            let todo = Some(Default::default()); // encoded: nothing left to do
            let text = String::new(); // only needed while encoding
            docs.push(PendingDocument {
                id,
                info,
                text,
                todo,
                staged,
            });
        }
        for doc in unchanged {
            let content_hash = crate::model::sha256_hex(doc.text.as_bytes());
            if !self.stored_hash_is(doc.id, &content_hash) {
                return Err(Error::InvalidInput(format!(
                    "document '{}' changed after it was checked: add it again",
                    doc.id
                )));
            }
            docs.push(PendingDocument {
                id: doc.id.to_owned(),
                info: DocInfo::new(content_hash, doc.metadata.clone()),
                text: String::new(),
                todo: None,
                staged: StagedDocument::new(self.store.precision(), self.store.dim()),
            });
        }
        let job = AddJob {
            docs,
            generation: self.store.generation(),
            passages_total: 0,
            passages_done: 0,
        };
        self.commit_add(job)
    }

    /// Adds a batch with its encoding spread over `threads` threads (natively: the build-time
    /// indexer), committed as one.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn add_documents_parallel(
        &mut self,
        docs: &[NewDocument],
        threads: usize,
    ) -> Result<AddReport> {
        self.add_documents_parallel_with(docs, threads, &|_| {})
    }

    /// `add_documents_parallel`, calling `progress` after every encoded passage (from the encoding
    /// threads) with the passages encoded and known so far (the total grows while threads tokenise).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn add_documents_parallel_with(
        &mut self,
        docs: &[NewDocument],
        threads: usize,
        progress: &(dyn Fn(PassageProgress) + Sync),
    ) -> Result<AddReport> {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        check_batch(docs)?;
        let per_thread = docs.len().div_ceil(threads.max(1)).max(1);
        let (done, total) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let this = &*self;
        let encode_chunk = |chunk: &[NewDocument]| -> Result<AddJob> {
            let mut job = this.begin_add(chunk)?;
            total.fetch_add(job.passages_total(), Relaxed);
            while this.encode_step(&mut job, 1)? > 0 {
                let done = done.fetch_add(1, Relaxed) + 1;
                progress(PassageProgress {
                    done,
                    total: total.load(Relaxed),
                });
            }
            Ok(job)
        };
        let jobs = std::thread::scope(|scope| {
            let workers: Vec<_> = docs
                .chunks(per_thread)
                .map(|chunk| scope.spawn(|| encode_chunk(chunk)))
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err(Error::Model("an encoding thread panicked".into())))
                })
                .collect::<Result<Vec<AddJob>>>()
        })?;
        self.commit_adds(jobs)
    }
}

/// Passages encoded so far in a parallel add, of those known (see `add_documents_parallel_with`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassageProgress {
    pub done: usize,
    pub total: usize,
}

fn check_batch(docs: &[NewDocument]) -> Result<()> {
    let mut seen = HashSet::new();
    for doc in docs {
        if doc.id.is_empty() {
            return Err(Error::InvalidInput("document id is empty".into()));
        }
        if !seen.insert(doc.id) {
            return Err(Error::InvalidInput(format!(
                "document id '{}' appears twice in one batch",
                doc.id
            )));
        }
        if let Some(meta) = &doc.metadata {
            serde_json::from_str::<serde_json::Value>(meta).map_err(|e| {
                Error::InvalidInput(format!("metadata of '{}' is not JSON: {e}", doc.id))
            })?;
        }
    }
    Ok(())
}
