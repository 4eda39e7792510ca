//! How do the signals of a hybrid search make one ranking? Each document scores per signal as its
//! best passage; each signal's document scores are min-max normalised over the documents it scored
//! (MaxSim, BM25 and cosines live on scales that differ per query and per collection) and summed,
//! MaxSim's with weight `LATE_WEIGHT`, the others with 1. Chosen by measurement on SciFact and CISI
//! (README, Quality; `training/fusion_probe.py`): the normalised mix beat reciprocal rank on both
//! with three signals (it keeps how far apart the scores are, which ranks discard), and late
//! interaction weighted as much as the other two together was as good or better on both
//! collections with either head, trained or untrained.

use super::SearchMode;
use crate::index::StoredPassage;
use crate::score::top_k;

/// MaxSim's weight in the mix; BM25's and the sentence vectors' are 1.
pub const LATE_WEIGHT: f32 = 2.0;

/// How deep a binary index re-ranks for a hybrid search (past it, MaxSim counts as the lowest).
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

    /// Adds each document's score, min-max normalised over the scored documents and times
    /// `weight`, to `mixed` (NaN: not scored by any signal yet). An unscored document adds nothing.
    fn add_normalised(&self, mixed: &mut [f32], weight: f32) {
        let scored = self.best.iter().map(|b| b.0).filter(|s| !s.is_nan());
        let (low, high) = scored.fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), s| {
            (l.min(s), h.max(s))
        });
        let range = high - low;
        for (mix, (score, _)) in mixed.iter_mut().zip(&self.best) {
            if score.is_nan() {
                continue;
            }
            let normalised = if range > 0.0 {
                (score - low) / range
            } else {
                0.0
            };
            let add = weight * normalised;
            *mix = if mix.is_nan() { add } else { *mix + add };
        }
    }
}

/// A search's signals, each per document (`None`: not computed for this mode or model).
pub struct Signals<'a> {
    /// MaxSim.
    pub late: Option<&'a DocumentScores>,
    /// BM25.
    pub lexical: Option<&'a DocumentScores>,
    /// The encoder's sentence vectors' cosine (models with a sentence output, hybrid mode).
    pub sentence: Option<&'a DocumentScores>,
}

/// The `k` best documents for the mode, best first: (the slot of the passage a hit shows, score).
/// Late and lexical rank by their own score; hybrid by the weighted normalised mix (0 to 4 with
/// three signals), showing the passage MaxSim picked (BM25's when MaxSim ranked nothing).
pub fn rank(mode: SearchMode, signals: Signals, k: usize) -> Vec<(usize, f32)> {
    match (mode, signals.late, signals.lexical) {
        (SearchMode::Late, Some(late), _) => late.top(k),
        (SearchMode::Lexical, _, Some(lexical)) => lexical.positive_only().top(k),
        (SearchMode::Hybrid, Some(late), Some(lexical)) => {
            let mut fused = vec![f32::NAN; late.best.len()];
            late.add_normalised(&mut fused, LATE_WEIGHT);
            lexical.add_normalised(&mut fused, 1.0);
            if let Some(sentence) = signals.sentence {
                sentence.add_normalised(&mut fused, 1.0);
            }
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
