//! How is a search answered? The query is encoded, every passage scored on the chosen backend (the
//! GPU in two halves around its asynchronous read-back, the CPU otherwise or when the GPU fails), a
//! filter applied, a binary index's candidates re-scored, and each document ranked by its best
//! passage.

use super::{Hit, MetadataFilter, Retriever};
use crate::error::Result;
use crate::model::TextKind;
use crate::score::{finish_first_pass, top_k, GpuError, PendingScores, QueryTokens, WEBGPU};

/// Hits plus the backend that scored them.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
    pub backend: &'static str,
}

/// A search between encoding its query and ranking: carried across the GPU's asynchronous read-back.
pub struct SearchPlan {
    query: Option<QueryTokens>,
    k: usize,
    generation: u64,
    filter: Option<MetadataFilter>,
    /// When the GPU's work was submitted, if this search is `auto`'s measurement of its size class.
    measuring_since: Option<web_time::Instant>,
}

impl Retriever {
    /// The `k` best documents for `query`, best first, each with its best passage. A blank query
    /// matches nothing. Natively a GPU search blocks until its scores are back.
    pub fn search(&self, query: &str, k: usize) -> Result<SearchResults> {
        self.search_with(query, k, None)
    }

    /// `search` over the documents whose metadata passes `filter`.
    pub fn search_with(
        &self,
        query: &str,
        k: usize,
        filter: Option<MetadataFilter>,
    ) -> Result<SearchResults> {
        let (plan, pending) = self.begin_search(query, k, filter)?;
        #[cfg(not(target_arch = "wasm32"))]
        let gpu_scores = pending.map(PendingScores::wait);
        #[cfg(target_arch = "wasm32")]
        let gpu_scores: Option<std::result::Result<Vec<f32>, GpuError>> = {
            drop(pending);
            None
        };
        Ok(self.finish_search(plan, gpu_scores))
    }

    /// First half of a search: encodes the query and, when the GPU is chosen, submits its scoring.
    /// Await the pending scores (if any), then call [`Retriever::finish_search`].
    pub fn begin_search(
        &self,
        query: &str,
        k: usize,
        filter: Option<MetadataFilter>,
    ) -> Result<(SearchPlan, Option<PendingScores>)> {
        let generation = self.store.generation();
        if query.trim().is_empty() || k == 0 {
            let plan = SearchPlan {
                query: None,
                k,
                generation,
                filter,
                measuring_since: None,
            };
            return Ok((plan, None));
        }
        let query = QueryTokens::new(&self.encode(query, TextKind::Query)?);
        let index_values = self.index_values();
        let pending = match self.backends.gpu_for(index_values) {
            Some(gpu) => match gpu.dispatch(&query, &self.store) {
                Ok(pending) => Some(pending),
                Err(e) => {
                    self.backends.gpu_failed(&e);
                    None
                }
            },
            None => None,
        };
        let measuring_since = pending
            .as_ref()
            .filter(|_| self.backends.needs_measurement(index_values))
            .map(PendingScores::submitted);
        Ok((
            SearchPlan {
                query: Some(query),
                k,
                generation,
                filter,
                measuring_since,
            },
            pending,
        ))
    }

    /// Second half of a search: ranks the GPU's scores, or scores on the CPU when there are none, the
    /// GPU failed (it is not used again), or the index changed meanwhile.
    pub fn finish_search(
        &self,
        plan: SearchPlan,
        gpu_scores: Option<std::result::Result<Vec<f32>, GpuError>>,
    ) -> SearchResults {
        let Some(query) = plan.query else {
            return SearchResults {
                hits: Vec::new(),
                backend: self.backends.cpu().name(),
            };
        };
        let current = plan.generation == self.store.generation();
        let gpu_scores = match gpu_scores {
            Some(Ok(scores)) if current && scores.len() == self.store.passages().len() => {
                Some(scores)
            }
            Some(Err(e)) => {
                self.backends.gpu_failed(&e);
                None
            }
            _ => None,
        };
        if let (Some(since), Some(_)) = (plan.measuring_since, &gpu_scores) {
            self.measure_cpu_against_gpu(&query, since);
        }
        let (first_pass, backend) = match gpu_scores {
            Some(first_pass) => (first_pass, WEBGPU),
            None => {
                let cpu = self.backends.cpu();
                (cpu.score_all(&query, &self.store), cpu.name())
            }
        };
        let first_pass = match &plan.filter {
            Some(filter) => filter.apply(first_pass, &self.store),
            None => first_pass,
        };
        let scores = finish_first_pass(&query, &self.store, first_pass, plan.k);
        SearchResults {
            hits: self.best_passage_per_document(&scores, plan.k),
            backend,
        }
    }

    /// `auto`'s measurement: the GPU's time (submitted at `gpu_since`, its scores just back) against
    /// the CPU kernel on the same query, recorded for this search's size class.
    fn measure_cpu_against_gpu(&self, query: &QueryTokens, gpu_since: web_time::Instant) {
        let gpu_ms = gpu_since.elapsed().as_secs_f64() * 1e3;
        let started = web_time::Instant::now();
        std::hint::black_box(self.backends.cpu().score_all(query, &self.store));
        let cpu_ms = started.elapsed().as_secs_f64() * 1e3;
        self.backends
            .record_measurement(self.index_values(), gpu_ms, cpu_ms);
    }

    /// A document scores as its best passage; passages of one document are contiguous in the store.
    /// Passages a binary index did not re-rank (NaN) are left out.
    fn best_passage_per_document(&self, scores: &[f32], k: usize) -> Vec<Hit> {
        let passages = self.store.passages();
        // (best score, its passage slot) per document, in store order.
        let mut best: Vec<(f32, usize)> = Vec::new();
        for (slot, passage) in passages.iter().enumerate() {
            let same_doc = slot > 0 && passages[slot - 1].doc_id == passage.doc_id;
            match best.last_mut() {
                Some(last) if same_doc => {
                    if scores[slot] > last.0 || last.0.is_nan() {
                        *last = (scores[slot], slot);
                    }
                }
                _ => best.push((scores[slot], slot)),
            }
        }
        let doc_scores: Vec<f32> = best.iter().map(|b| b.0).collect();
        top_k(&doc_scores, k)
            .into_iter()
            .filter(|(_, score)| !score.is_nan())
            .map(|(doc, score)| {
                let p = &passages[best[doc].1];
                Hit {
                    id: p.doc_id.clone(),
                    score,
                    passage: p.range.clone(),
                    passage_utf16: p.range_utf16.clone(),
                    metadata: self
                        .store
                        .doc_info(&p.doc_id)
                        .filter(|i| i.metadata().is_some())
                        .map(|i| i.metadata_value().clone()),
                }
            })
            .collect()
    }
}
