//! How is a search answered? Per the mode, the query is encoded and every passage scored by MaxSim
//! on the chosen backend (the GPU in two halves around its asynchronous read-back, the CPU otherwise
//! or when the GPU fails), and/or by BM25 over its words; a filter applied, a binary index's
//! candidates re-scored, each document scored by its best passage, and the signals fused (`fusion`).

use super::fusion::{self, DocumentScores, Signals};
use super::{Hit, MetadataFilter, Retriever};
use crate::error::{Error, Result};
use crate::index::TokenStore;
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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
    /// Its sentence vector, when the model has one and the mode is hybrid.
    sentence: Option<Vec<f32>>,
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
            sentence: None,
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
        let encoding = self.tokenizer.encode(text, TextKind::Query)?;
        let (vectors, sentence) = self.encoder.encode_with_sentence(&encoding)?;
        let query = QueryTokens::new(&vectors);
        plan.sentence = sentence.filter(|_| mode == SearchMode::Hybrid);
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
                let (first_pass, backend) = self.first_pass(query, &plan, gpu_scores);
                (Some((query, first_pass)), backend)
            }
            None => (None, cpu_name),
        };
        let ranking = Ranking {
            text,
            sentence: plan.sentence.as_deref(),
            mode: plan.mode,
            filter: plan.filter.as_ref(),
            k: plan.k,
        };
        SearchResults {
            hits: ranking
                .rank(&self.store, late)
                .into_iter()
                .map(|(slot, score)| self.hit(slot, score))
                .collect(),
            backend,
        }
    }

    /// MaxSim's first pass over every passage and the backend that scored it: the GPU's scores when
    /// they are current, else the CPU's.
    fn first_pass(
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
        match gpu_scores {
            Some(first_pass) => (first_pass, WEBGPU),
            None => {
                let cpu = self.backends.cpu();
                (cpu.score_all(query, &self.store), cpu.name())
            }
        }
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

/// What a search does once MaxSim's first pass is known: the filter, a binary index's re-rank, BM25
/// per the mode, each document's best passage, fusion. Apart from the retriever so the hybrid cost
/// benchmark runs exactly this on a synthetic index.
pub struct Ranking<'a> {
    pub text: &'a str,
    /// The query's sentence vector (hybrid mode, a model with one): the third signal.
    pub sentence: Option<&'a [f32]>,
    pub mode: SearchMode,
    pub filter: Option<&'a MetadataFilter>,
    pub k: usize,
}

impl Ranking<'_> {
    /// The `k` best documents as (the slot of the passage a hit shows, score); `late` is the query's
    /// encoding and its first pass over every passage (`None` in lexical mode).
    pub fn rank(
        &self,
        store: &TokenStore,
        late: Option<(&QueryTokens, Vec<f32>)>,
    ) -> Vec<(usize, f32)> {
        let late = late.map(|(query, first_pass)| {
            let first_pass = self.filtered(first_pass, store);
            // A binary index's first pass only picks candidates; fusion looks deeper than k.
            let depth = match self.mode {
                SearchMode::Late => self.k,
                _ => self.k.max(fusion::CANDIDATES),
            };
            let scores = finish_first_pass(query, store, first_pass, depth);
            DocumentScores::best_passages(store.passages(), &scores)
        });
        let lexical = self.mode.uses_lexical().then(|| {
            let scores = self.filtered(lexical_scores(store, self.text), store);
            DocumentScores::best_passages(store.passages(), &scores)
        });
        let sentence = self.sentence.map(|query| {
            let scores = self.filtered(sentence_scores(store, query), store);
            DocumentScores::best_passages(store.passages(), &scores)
        });
        let signals = Signals {
            late: late.as_ref(),
            lexical: lexical.as_ref(),
            sentence: sentence.as_ref(),
        };
        fusion::rank(self.mode, signals, self.k)
    }

    fn filtered(&self, scores: Vec<f32>, store: &TokenStore) -> Vec<f32> {
        match self.filter {
            Some(filter) => filter.apply(scores, store),
            None => scores,
        }
    }
}

/// Cosine of the query's sentence vector with every passage's (NaN: the passage has none).
fn sentence_scores(store: &TokenStore, query: &[f32]) -> Vec<f32> {
    let dot = |s: &[f32]| s.iter().zip(query).map(|(a, b)| a * b).sum::<f32>();
    store
        .passages()
        .iter()
        .map(|p| match &p.sentence {
            Some(s) if s.len() == query.len() => dot(s),
            _ => f32::NAN,
        })
        .collect()
}

/// BM25 of every passage for the query's words (0 for a passage without any, or without words).
fn lexical_scores(store: &TokenStore, text: &str) -> Vec<f32> {
    let lexicon = store.lexicon();
    let terms = lexicon.query_terms(text);
    store
        .passages()
        .iter()
        .map(|p| p.words.as_ref().map_or(0.0, |w| lexicon.score(&terms, w)))
        .collect()
}
