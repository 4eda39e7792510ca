//! Why did a document match? Per query token, the document token MaxSim picked (the argmax of its
//! similarities) and that similarity, with both tokens' ranges in the texts; and per query word the
//! passage holds, its words there and its share of BM25.

use std::ops::Range;

use serde::Serialize;

use super::{Retriever, TokenMatch};
use crate::error::{Error, Result};
use crate::index::lexical::WordMatch;
use crate::model::TextKind;
use crate::offsets::utf16_range;

/// Why a text matched a query, as JavaScript's `explain` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub tokens: Vec<TokenMatch>,
    pub words: Vec<WordExplanation>,
}

/// A query word the passage holds: its ranges in the query and the text (UTF-16), its BM25 share.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WordExplanation {
    pub term: String,
    pub query_ranges: Vec<Range<usize>>,
    pub doc_ranges: Vec<Range<usize>>,
    pub score: f32,
}

impl Retriever {
    /// Which document token each query token matched in `text` (the passage of it starting at byte
    /// `passage_start`, as a hit reports; the first passage if `None`), with each token's
    /// contribution. Re-encodes that passage in full precision, so contributions sum to its f32
    /// MaxSim score.
    pub fn explain(
        &self,
        query: &str,
        text: &str,
        passage_start: Option<usize>,
    ) -> Result<Vec<TokenMatch>> {
        let passages = self.tokenizer.document_passages(text)?;
        let (encoding, _) = pick_passage(&passages, passage_start)?;
        self.token_matches(query, text, encoding)
    }

    /// Both halves of an explanation for JavaScript: token matches and word matches, every range in
    /// UTF-16 code units; `passage_start_utf16` is a hit's `passage.start`.
    pub fn explanation(
        &self,
        query: &str,
        text: &str,
        passage_start_utf16: Option<usize>,
    ) -> Result<Explanation> {
        let start = passage_start_utf16.and_then(|s| crate::offsets::utf16_to_byte(text, s));
        let passages = self.tokenizer.document_passages(text)?;
        let (encoding, range) = pick_passage(&passages, start)?;
        let utf16 = |within: &str, ranges: Vec<Range<usize>>| -> Vec<Range<usize>> {
            ranges.into_iter().map(|r| utf16_range(within, r)).collect()
        };
        let words = self.word_matches(query, text, range.clone());
        Ok(Explanation {
            tokens: self.token_matches(query, text, encoding)?,
            words: words
                .into_iter()
                .map(|m| WordExplanation {
                    query_ranges: utf16(query, m.query_ranges),
                    doc_ranges: utf16(text, m.passage_ranges),
                    term: m.term,
                    score: m.score,
                })
                .collect(),
        })
    }

    fn token_matches(
        &self,
        query: &str,
        text: &str,
        passage: &crate::model::Encoding,
    ) -> Result<Vec<TokenMatch>> {
        let query_encoding = self.tokenizer.encode(query, TextKind::Query)?;
        let query_vectors = self.encoder.encode(&query_encoding)?;
        let doc = self.encoder.encode(passage)?;
        let kept_query = query_encoding
            .ids
            .iter()
            .zip(&query_encoding.keep)
            .zip(&query_encoding.offsets);
        let query_tokens = kept_query
            .filter(|((_, keep), _)| **keep)
            .map(|((id, _), offsets)| (*id, *offsets));
        Ok(query_tokens
            .enumerate()
            .map(|(qi, (id, query_offsets))| {
                let q = query_vectors.row(qi);
                let matched = crate::score::best_match(q, &doc);
                let (best, score) = (matched.map(|(t, _)| t), matched.map_or(0.0, |(_, s)| s));
                let doc_range = best.and_then(|t| doc.offsets[t]).map(|(a, b)| a..b);
                TokenMatch {
                    query_token: self.tokenizer.token_text(id),
                    query_range: query_offsets.map(|(a, b)| a..b),
                    query_range_utf16: query_offsets.map(|(a, b)| utf16_range(query, a..b)),
                    doc_range_utf16: doc_range.clone().map(|r| utf16_range(text, r)),
                    doc_range,
                    score,
                }
            })
            .collect())
    }
}

impl Retriever {
    /// The lexical half of an explanation: the query words the passage of `text` (as `explain` picks
    /// it) holds, with byte ranges in the query and in `text`, and each one's share of BM25.
    pub fn explain_words(
        &self,
        query: &str,
        text: &str,
        passage_start: Option<usize>,
    ) -> Result<Vec<WordMatch>> {
        let passages = self.tokenizer.document_passages(text)?;
        let (_, range) = pick_passage(&passages, passage_start)?;
        Ok(self.word_matches(query, text, range.clone()))
    }

    fn word_matches(&self, query: &str, text: &str, passage: Range<usize>) -> Vec<WordMatch> {
        let shift = |r: Range<usize>| r.start + passage.start..r.end + passage.start;
        let mut matches = self.store.lexicon().explain(query, &text[passage.clone()]);
        for m in &mut matches {
            m.passage_ranges = m.passage_ranges.drain(..).map(shift).collect();
        }
        matches
    }
}

/// The passage starting at byte `start` (a hit's), else the first.
fn pick_passage<T>(
    passages: &[(T, Range<usize>)],
    start: Option<usize>,
) -> Result<&(T, Range<usize>)> {
    passages
        .iter()
        .find(|(_, range)| Some(range.start) == start)
        .or(passages.first())
        .ok_or_else(|| Error::InvalidInput("the text has no passage".into()))
}
