//! Why did a document match? Per query token, the document token MaxSim picked (the argmax of its
//! similarities) and that similarity, with both tokens' ranges in the texts; and per query word the
//! passage holds, its words there and its share of BM25.

use std::ops::Range;

use super::{Retriever, TokenMatch};
use crate::error::{Error, Result};
use crate::index::lexical::WordMatch;
use crate::model::TextKind;
use crate::offsets::utf16_range;

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
        let query_encoding = self.tokenizer.encode(query, TextKind::Query)?;
        let query_vectors = self.encoder.encode(&query_encoding)?;
        let passages = self.tokenizer.document_passages(text)?;
        let (encoding, _) = pick_passage(&passages, passage_start)?;
        let doc = self.encoder.encode(encoding)?;
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
        let shift = |r: Range<usize>| r.start + range.start..r.end + range.start;
        let mut matches = self.store.lexicon().explain(query, &text[range.clone()]);
        for m in &mut matches {
            m.passage_ranges = m.passage_ranges.drain(..).map(shift).collect();
        }
        Ok(matches)
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
