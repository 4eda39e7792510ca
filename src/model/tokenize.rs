//! Which token ids does the encoder see? Applies the manifest's ColBERT conventions (markers, [MASK]
//! expansion, lengths, skiplist) around the HF tokenizer, ignoring any padding/truncation the
//! tokenizer file carries (all-MiniLM's pads to 128 on its own).

use std::collections::HashSet;
use std::ops::Range;

use tokenizers::Tokenizer;

use super::manifest::{Manifest, Marker};
use super::passages;
use crate::error::{Error, Result};

/// Texts beyond this are refused rather than tokenised: they would stall the page for no benefit,
/// since only the first `document_length` tokens are encoded.
pub const MAX_TEXT_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Query,
    Document,
}

/// One text, ready for the encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    pub ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    /// Whether the vector at each position takes part in scoring (false: skiplist tokens).
    pub keep: Vec<bool>,
    /// Byte range of the source text each position came from; `None` for special tokens.
    pub offsets: Vec<Option<(usize, usize)>>,
}

impl Encoding {
    /// Exactly these ids, every position attended and kept, no source text: isolates the encoder
    /// from the tokenizer (parity checks, profiles).
    pub fn of_ids(ids: &[u32]) -> Encoding {
        let n = ids.len();
        Encoding {
            ids: ids.iter().map(|&id| i64::from(id)).collect(),
            attention_mask: vec![1; n],
            keep: vec![true; n],
            offsets: vec![None; n],
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn push(&mut self, id: u32, attend: bool, keep: bool, offset: Option<(usize, usize)>) {
        self.ids.push(i64::from(id));
        self.attention_mask.push(i64::from(attend));
        self.keep.push(keep);
        self.offsets.push(offset);
    }
}

pub struct ColbertTokenizer {
    inner: Tokenizer,
    cls: u32,
    sep: u32,
    mask: u32,
    query_marker: Option<u32>,
    document_marker: Option<u32>,
    skiplist: HashSet<u32>,
    query_length: usize,
    document_length: usize,
    query_mask_expansion: bool,
    attend_to_expansion_tokens: bool,
}

impl ColbertTokenizer {
    pub fn new(tokenizer_json: &[u8], manifest: &Manifest) -> Result<ColbertTokenizer> {
        let mut inner =
            Tokenizer::from_bytes(tokenizer_json).map_err(|e| Error::Tokenizer(e.to_string()))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let vocab_id = |token: &str| {
            inner.token_to_id(token).ok_or_else(|| {
                Error::Manifest(format!(
                    "token '{token}' is not in the tokenizer's vocabulary"
                ))
            })
        };
        let marker_id = |marker: &Option<Marker>| -> Result<Option<u32>> {
            match marker {
                None => Ok(None),
                Some(Marker::Id { id }) => Ok(Some(*id)),
                Some(Marker::Token { token }) => vocab_id(token).map(Some),
            }
        };
        let skiplist = manifest
            .skiplist
            .iter()
            .map(|t| vocab_id(t))
            .collect::<Result<HashSet<u32>>>()?;
        Ok(ColbertTokenizer {
            cls: vocab_id(&manifest.cls_token)?,
            sep: vocab_id(&manifest.sep_token)?,
            mask: vocab_id(&manifest.mask_token)?,
            query_marker: marker_id(&manifest.query_marker)?,
            document_marker: marker_id(&manifest.document_marker)?,
            skiplist,
            query_length: manifest.query_length,
            document_length: manifest.document_length,
            query_mask_expansion: manifest.query_mask_expansion,
            attend_to_expansion_tokens: manifest.attend_to_expansion_tokens,
            inner,
        })
    }

    /// Plain tokenizer ids with no special tokens (what Python `tokenizers` gives with
    /// `add_special_tokens=False`).
    pub fn raw_ids(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenize(text)?.get_ids().to_vec())
    }

    /// The vocabulary entry of token `id` ("[CLS]", "##ing"…), or "" for an unknown id.
    pub fn token_text(&self, id: i64) -> String {
        u32::try_from(id)
            .ok()
            .and_then(|id| self.inner.id_to_token(id))
            .unwrap_or_default()
    }

    /// One past the largest id the tokenizer can produce, added tokens included.
    pub fn vocabulary_size(&self) -> usize {
        let added = self.inner.get_added_tokens_decoder();
        let largest_added = added.keys().max().map_or(0, |id| *id as usize + 1);
        self.inner.get_vocab_size(false).max(largest_added)
    }

    /// Tokens in an encoded query (queries are padded or cut to this length).
    pub fn query_length(&self) -> usize {
        self.query_length
    }

    /// The encoding of a query, or of a document's first `document_length` tokens.
    pub fn encode(&self, text: &str, kind: TextKind) -> Result<Encoding> {
        let tokens = self.tokenize(text)?;
        let room = self.room(kind);
        let n = tokens.get_ids().len().min(room);
        Ok(self.wrap(&tokens.get_ids()[..n], &tokens.get_offsets()[..n], kind))
    }

    /// A document as passages that each fit `document_length`, with each passage's byte range in
    /// `text`. Short documents are one passage covering the whole text.
    pub fn document_passages(&self, text: &str) -> Result<Vec<(Encoding, Range<usize>)>> {
        let tokens = self.tokenize(text)?;
        let (ids, offsets) = (tokens.get_ids(), tokens.get_offsets());
        if ids.is_empty() {
            return Ok(vec![(
                self.wrap(&[], &[], TextKind::Document),
                0..text.len(),
            )]);
        }
        let windows = passages::split(text, offsets, self.room(TextKind::Document));
        let whole = windows.len() == 1;
        Ok(windows
            .into_iter()
            .map(|w| {
                let range = if whole {
                    0..text.len()
                } else {
                    offsets[w.start].0..offsets[w.end - 1].1
                };
                (
                    self.wrap(&ids[w.clone()], &offsets[w], TextKind::Document),
                    range,
                )
            })
            .collect())
    }

    /// Text tokens that fit beside [CLS], the marker and [SEP].
    fn room(&self, kind: TextKind) -> usize {
        let (marker, max_len) = self.conventions(kind);
        max_len - 2 - usize::from(marker.is_some())
    }

    fn conventions(&self, kind: TextKind) -> (Option<u32>, usize) {
        match kind {
            TextKind::Query => (self.query_marker, self.query_length),
            TextKind::Document => (self.document_marker, self.document_length),
        }
    }

    /// `[CLS] marker? tokens [SEP]`, plus [MASK] expansion for queries when the model wants it.
    fn wrap(&self, ids: &[u32], offsets: &[(usize, usize)], kind: TextKind) -> Encoding {
        let (marker, max_len) = self.conventions(kind);
        let mut enc = Encoding {
            ids: vec![],
            attention_mask: vec![],
            keep: vec![],
            offsets: vec![],
        };
        enc.push(self.cls, true, true, None);
        if let Some(m) = marker {
            enc.push(m, true, true, None);
        }
        for (&id, &offset) in ids.iter().zip(offsets) {
            let skipped = kind == TextKind::Document && self.skiplist.contains(&id);
            enc.push(id, true, !skipped, Some(offset));
        }
        enc.push(self.sep, true, true, None);
        if kind == TextKind::Query && self.query_mask_expansion {
            while enc.len() < max_len {
                enc.push(self.mask, self.attend_to_expansion_tokens, true, None);
            }
        }
        enc
    }

    fn tokenize(&self, text: &str) -> Result<tokenizers::Encoding> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(Error::InvalidInput(format!(
                "text is {} bytes; the limit is {MAX_TEXT_BYTES}",
                text.len()
            )));
        }
        self.inner
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }
}
