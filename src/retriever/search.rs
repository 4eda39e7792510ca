//! How is a search answered? Per the mode, the query is encoded and every passage scored by MaxSim
//! on the chosen backend (the GPU in two halves around its asynchronous read-back, the CPU otherwise
//! or when the GPU fails), and/or by BM25 over its words; a filter applied, a binary index's
//! candidates re-scored, each document scored by its best passage, and the signals fused (`fusion`).

use super::fusion::{self, DocumentScores};
use super::{Hit, MetadataFilter, Retriever};
use crate::error::{Error, Result};
use crate::model::TextKind;
use crate::score::{finish_first_pass, GpuError, PendingScores, QueryTokens, WEBGPU};

/// Which signals rank a search's documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Late interaction and BM25 fused (see `fusion`): the default.
    #[default]
    Hybrid,
    /// MaxSim over token vectors alone.
    Late,
    /// BM25 over the passages' words alone (the query is not encoded).
    Lexical,
}

impl std::str::FromStr for SearchMode {
    type Err = Error;
    fn from_str(name: &str) -> Result<SearchMode> {
        match name {
            "hybrid" => Ok(SearchMode::Hybrid),
            "late" => Ok(SearchMode::Late),
            "lexical" => Ok(SearchMode::Lexical),
            other => Err(Error::InvalidInput(format!(
                "mode must be \"hybrid\", \"late\" or \"lexical\", not \"{other}\""
            ))),
        }
    }
}

impl SearchMode {
    pub fn name(self) -> &'static str {
        match self {
            SearchMode::Hybrid => "hybrid",
            SearchMode::Late => "late",
            SearchMode::Lexical => "lexical",
        }
    }

    fn uses_late(self) -> bool {
        self != SearchMode::Lexical
    }

    fn uses_lexical(self) -> bool {
        self != SearchMode::Late
    }
}

/// Hits plus the backend that scored them.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
    pub backend: &'static str,
}

/// A search between encoding its query and ranking: carried across the GPU's asynchronous read-back.
pub struct SearchPlan {
    /// The query's text; `None` for a blank query (nothing matches).
    text: Option<String>,
    mode: SearchMode,
    /// Its encoding, when the mode uses late interaction.
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
        self.search_with(query, k, None, SearchMode::default())
    }

    /// `search` in `mode` over the documents whose metadata passes `filter`.
    pub fn search_with(
        &self,
        query: &str,
        k: usize,
        filter: Option<MetadataFilter>,
        mode: SearchMode,
    ) -> Result<SearchResults> {
        let (plan, pending) = self.begin_search(query, k, filter, mode)?;
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
        text: &str,
        k: usize,
        filter: Option<MetadataFilter>,
        mode: SearchMode,
    ) -> Result<(SearchPlan, Option<PendingScores>)> {
        let generation = self.store.generation();
        let mut plan = SearchPlan {
            text: None,
            mode,
            query: None,
            k,
            generation,
            filter,
            measuring_since: None,
        };
        if text.trim().is_empty() || k == 0 {
            return Ok((plan, None));
        }
        plan.text = Some(text.to_owned());
        if !mode.uses_late() {
            return Ok((plan, None));
        }
        let query = QueryTokens::new(&self.encode(text, TextKind::Query)?);
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
        plan.measuring_since = pending
            .as_ref()
            .filter(|_| self.backends.needs_measurement(index_values))
            .map(PendingScores::submitted);
        plan.query = Some(query);
        Ok((plan, pending))
    }

    /// Second half of a search: ranks the GPU's scores, or scores on the CPU when there are none, the
    /// GPU failed (it is not used again), or the index changed meanwhile; adds BM25 and fuses, per
    /// the plan's mode.
    pub fn finish_search(
        &self,
        plan: SearchPlan,
        gpu_scores: Option<std::result::Result<Vec<f32>, GpuError>>,
    ) -> SearchResults {
        let cpu_name = self.backends.cpu().name();
        let Some(text) = &plan.text else {
            return SearchResults {
                hits: Vec::new(),
                backend: cpu_name,
            };
        };
        let (late, backend) = match &plan.query {
            Some(query) => {
                let (scores, backend) = self.late_scores(query, &plan, gpu_scores);
                (Some(self.by_document(scores)), backend)
            }
            None => (None, cpu_name),
        };
        let lexical = plan
            .mode
            .uses_lexical()
            .then(|| self.by_document(self.filtered(self.lexical_scores(text), &plan)));
        let ranked = fusion::rank(plan.mode, late.as_ref(), lexical.as_ref(), plan.k);
        SearchResults {
            hits: ranked
                .into_iter()
                .map(|(slot, score)| self.hit(slot, score))
                .collect(),
            backend,
        }
    }

    /// MaxSim of every passage (filtered out: NaN; a binary index re-ranked), and the backend that
    /// scored it.
    fn late_scores(
        &self,
        query: &QueryTokens,
        plan: &SearchPlan,
        gpu_scores: Option<std::result::Result<Vec<f32>, GpuError>>,
    ) -> (Vec<f32>, &'static str) {
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
            self.measure_cpu_against_gpu(query, since);
        }
        let (first_pass, backend) = match gpu_scores {
            Some(first_pass) => (first_pass, WEBGPU),
            None => {
                let cpu = self.backends.cpu();
                (cpu.score_all(query, &self.store), cpu.name())
            }
        };
        let first_pass = self.filtered(first_pass, plan);
        // A binary index's first pass only picks candidates; fusion looks deeper than k.
        let depth = match plan.mode {
            SearchMode::Late => plan.k,
            _ => plan.k.max(fusion::CANDIDATES),
        };
        (
            finish_first_pass(query, &self.store, first_pass, depth),
            backend,
        )
    }

    /// BM25 of every passage for the query's words (0 for a passage without any, or without words).
    fn lexical_scores(&self, text: &str) -> Vec<f32> {
        let lexicon = self.store.lexicon();
        let terms = lexicon.query_terms(text);
        self.store
            .passages()
            .iter()
            .map(|p| p.words.as_ref().map_or(0.0, |w| lexicon.score(&terms, w)))
            .collect()
    }

    fn filtered(&self, scores: Vec<f32>, plan: &SearchPlan) -> Vec<f32> {
        match &plan.filter {
            Some(filter) => filter.apply(scores, &self.store),
            None => scores,
        }
    }

    /// Passage scores to document scores: a document scores as its best passage.
    fn by_document(&self, scores: Vec<f32>) -> DocumentScores {
        DocumentScores::best_passages(self.store.passages(), &scores)
    }

    fn hit(&self, slot: usize, score: f32) -> Hit {
        let p = &self.store.passages()[slot];
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
}
