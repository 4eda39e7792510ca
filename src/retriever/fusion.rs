//! How do the two halves of a hybrid search make one ranking? Each document scores per signal as
//! its best passage; the signals' rankings are fused by reciprocal rank (Cormack et al., 2009):
//! a document's score is the sum over signals of 1 / (RRF_K + its rank there). Ranks, not scores,
//! because MaxSim and BM25 live on scales that differ per query and per collection; the choice was
//! measured (README, Quality).

use super::SearchMode;
use crate::index::StoredPassage;
use crate::score::top_k;

/// Reciprocal-rank fusion's damping constant: the value of the original paper, used unchanged by
/// Elasticsearch, Qdrant and Vespa (not tuned here, so it cannot be tuned to one collection).
pub const RRF_K: f32 = 60.0;
/// How deep each signal's ranking counts: past it a document adds at most 1 / (60 + 1000), and a
/// binary index re-ranks this many candidates for a hybrid search.
pub const CANDIDATES: usize = 1000;

/// Per document (in store order): the score of its best passage and that passage's slot. NaN: the
/// document is not ranked by this signal (filtered out, not re-ranked, or no word matched).
pub struct DocumentScores {
    best: Vec<(f32, usize)>,
}

impl DocumentScores {
    /// A document scores as its best passage; passages of one document are contiguous in the store.
    /// NaN passages (filtered out, not re-ranked) are left out.
    pub fn best_passages(passages: &[StoredPassage], scores: &[f32]) -> DocumentScores {
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
        DocumentScores { best }
    }

    /// The same with documents scoring 0 unranked: BM25's 0 means no query word matched.
    fn positive_only(&self) -> DocumentScores {
        let best = self
            .best
            .iter()
            .map(|&(s, slot)| (if s > 0.0 { s } else { f32::NAN }, slot));
        DocumentScores {
            best: best.collect(),
        }
    }

    fn scores(&self) -> Vec<f32> {
        self.best.iter().map(|b| b.0).collect()
    }

    /// The `k` best documents as (best passage slot, score), ranked documents only.
    fn top(&self, k: usize) -> Vec<(usize, f32)> {
        top_k(&self.scores(), k)
            .into_iter()
            .filter(|(_, s)| !s.is_nan())
            .map(|(doc, s)| (self.best[doc].1, s))
            .collect()
    }

    /// Adds 1 / (RRF_K + rank) to `fused` for each of the `CANDIDATES` best ranked documents.
    fn add_reciprocal_ranks(&self, fused: &mut [f32]) {
        let ranked = top_k(&self.scores(), CANDIDATES);
        for (rank, (doc, score)) in ranked.into_iter().enumerate() {
            if !score.is_nan() {
                let add = 1.0 / (RRF_K + rank as f32 + 1.0);
                fused[doc] = if fused[doc].is_nan() {
                    add
                } else {
                    fused[doc] + add
                };
            }
        }
    }
}

/// The `k` best documents for the mode, best first: (the slot of the passage a hit shows, score).
/// Late and lexical rank by their own score; hybrid by the fused one, showing the passage MaxSim
/// picked (BM25's when MaxSim ranked nothing).
pub fn rank(
    mode: SearchMode,
    late: Option<&DocumentScores>,
    lexical: Option<&DocumentScores>,
    k: usize,
) -> Vec<(usize, f32)> {
    match (mode, late, lexical) {
        (SearchMode::Late, Some(late), _) => late.top(k),
        (SearchMode::Lexical, _, Some(lexical)) => lexical.positive_only().top(k),
        (SearchMode::Hybrid, Some(late), Some(lexical)) => {
            let lexical = lexical.positive_only();
            let mut fused = vec![f32::NAN; late.best.len()];
            late.add_reciprocal_ranks(&mut fused);
            lexical.add_reciprocal_ranks(&mut fused);
            let slots =
                late.best.iter().zip(&lexical.best).map(
                    |(l, x)| {
                        if l.0.is_nan() {
                            x.1
                        } else {
                            l.1
                        }
                    },
                );
            let best = fused.into_iter().zip(slots).collect();
            DocumentScores { best }.top(k)
        }
        _ => Vec::new(),
    }
}
