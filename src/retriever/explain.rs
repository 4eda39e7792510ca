//! Why did a document match? Per query token, the document token MaxSim picked (the argmax of its
//! similarities) and that similarity, with both tokens' ranges in the texts.

use super::{Retriever, TokenMatch};
use crate::error::{Error, Result};
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
        let (encoding, _) = passages
            .iter()
            .find(|(_, range)| Some(range.start) == passage_start)
            .or(passages.first())
            .ok_or_else(|| Error::InvalidInput("the text has no passage".into()))?;
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
